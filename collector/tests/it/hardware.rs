//! Hardware views: the latest value per series under a metric prefix, a host's inventory
//! history with a firmware change, and firmware drift among identical disk models, over
//! HTTP against a collector fed with SMART, EDAC, hwmon and IPMI series, events and
//! inventory. The same story runs on PostgreSQL when `HARBINGER_TEST_PG_URL` is set.

use crate::{batch, event, now_ms, series, test_config, Server};
use harbinger_shared::{ComponentId, ComponentKind, InventoryItem, Severity};
use serde_json::{json, Value};
use sqlx::Connection;

const DISK: &str = "0x5000c500a1b2c3d4";

fn item(kind: ComponentKind, id: &str, attrs: &[(&str, &str)]) -> InventoryItem {
    InventoryItem {
        component: ComponentId::new(kind, id),
        attrs: attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn disk(firmware: &str) -> InventoryItem {
    item(
        ComponentKind::Disk,
        DISK,
        &[
            ("model", "ST4000DM000"),
            ("serial", "Z305ABCD"),
            ("firmware", firmware),
        ],
    )
}

fn attribute(
    metric: &str,
    id: &str,
    name: &str,
    points: &[(i64, f64)],
) -> harbinger_shared::Series {
    series(
        metric,
        &[
            ("device_id", DISK),
            ("attribute_id", id),
            ("attribute_name", name),
        ],
        points,
    )
}

/// Two batches from `hw1` (the second flashes the disk's firmware) and one from `hw2`,
/// which runs the same disk model on the old firmware.
async fn ingest_story(server: &Server, t0: i64) {
    let mut first = batch("hw1", 1, 10_000);
    first.series.extend([
        attribute(
            "smartctl_device_attribute_raw",
            "197",
            "Current_Pending_Sector",
            &[(t0, 0.0), (t0 + 10_000, 8.0)],
        ),
        attribute(
            "smartctl_device_attribute_threshold",
            "5",
            "Reallocated_Sector_Ct",
            &[(t0, 10.0)],
        ),
        series(
            "smartctl_device_smart_status",
            &[("device_id", DISK)],
            &[(t0, 1.0)],
        ),
        series(
            "node_edac_dimm_correctable_errors_total",
            &[
                ("controller", "0"),
                ("dimm", "0"),
                ("label", "CPU0_DIMM_A1"),
            ],
            &[(t0, 3.0), (t0 + 10_000, 5.0)],
        ),
        series(
            "node_edac_dimm_uncorrectable_errors_total",
            &[
                ("controller", "0"),
                ("dimm", "0"),
                ("label", "CPU0_DIMM_A1"),
            ],
            &[(t0, 0.0)],
        ),
        series(
            "node_hwmon_fan_rpm",
            &[
                ("chip", "nct6775"),
                ("sensor", "fan1"),
                ("label", "CPU fan"),
            ],
            &[(t0, 1200.0)],
        ),
        series(
            "ipmi_sensor_state",
            &[("name", "FAN1"), ("type", "Fan")],
            &[(t0, 2.0)],
        ),
        series("node_load1", &[], &[(t0, 0.5)]),
    ]);
    let mut sel = event(t0 + 5_000, "ipmi_sel", "FAN1 lower critical going low");
    sel.severity = Severity::Critical;
    first.events.push(sel);
    first.inventory = Some(vec![
        item(ComponentKind::Host, "hw1", &[("bios_version", "2.1")]),
        disk("CC52"),
    ]);
    let (status, ack) = server.ingest(&first).await;
    assert_eq!(status, 200, "{ack}");

    let mut second = batch("hw1", 2, 10_000);
    second.series.push(attribute(
        "smartctl_device_attribute_raw",
        "197",
        "Current_Pending_Sector",
        &[(t0 + 20_000, 24.0)],
    ));
    second.inventory = Some(vec![disk("CC54")]);
    let (status, ack) = server.ingest(&second).await;
    assert_eq!(status, 200, "{ack}");

    let mut other = batch("hw2", 1, 10_000);
    other.series.push(series("node_load1", &[], &[(t0, 0.1)]));
    other.inventory = Some(vec![
        disk("CC52"),
        item(
            ComponentKind::Disk,
            "S3Z9NB0K",
            &[("model", "SAMSUNG MZ7LH960"), ("firmware", "HXT7404Q")],
        ),
        // No model: counted as skipped, not guessed.
        item(ComponentKind::Disk, "NOMODEL", &[("firmware", "1.0")]),
    ]);
    let (status, ack) = server.ingest(&other).await;
    assert_eq!(status, 200, "{ack}");
}

/// Removes `at_ms` from every entry after checking it is a plausible receive time.
fn without_receive_times(mut history: Value, from_ms: i64, to_ms: i64) -> Value {
    for entry in history.as_array_mut().expect("history is an array") {
        let at = entry["at_ms"].as_i64().expect("at_ms is an integer");
        assert!(
            (from_ms..=to_ms).contains(&at),
            "at_ms {at} not in [{from_ms}, {to_ms}]"
        );
        entry
            .as_object_mut()
            .expect("entry is an object")
            .remove("at_ms");
    }
    history
}

async fn check_story(server: &Server, t0: i64, received_from: i64) {
    let smart = server
        .get_json("/api/v1/hosts/hw1/latest?prefix=smartctl_")
        .await;
    assert_eq!(smart["prefix"], "smartctl_");
    assert!(
        smart["complete_from_ms"]
            .as_i64()
            .expect("complete_from_ms")
            <= t0
    );
    assert_eq!(
        smart["series"],
        json!([
            {"metric": "smartctl_device_attribute_raw",
             "labels": {"attribute_id": "197", "attribute_name": "Current_Pending_Sector", "device_id": DISK},
             "ts": t0 + 20_000, "value": 24.0},
            {"metric": "smartctl_device_attribute_threshold",
             "labels": {"attribute_id": "5", "attribute_name": "Reallocated_Sector_Ct", "device_id": DISK},
             "ts": t0, "value": 10.0},
            {"metric": "smartctl_device_smart_status", "labels": {"device_id": DISK}, "ts": t0, "value": 1.0},
        ]),
        "newest value of each SMART series, nothing else"
    );

    let edac = server
        .get_json("/api/v1/hosts/hw1/latest?prefix=node_edac_")
        .await;
    assert_eq!(
        edac["series"],
        json!([
            {"metric": "node_edac_dimm_correctable_errors_total",
             "labels": {"controller": "0", "dimm": "0", "label": "CPU0_DIMM_A1"}, "ts": t0 + 10_000, "value": 5.0},
            {"metric": "node_edac_dimm_uncorrectable_errors_total",
             "labels": {"controller": "0", "dimm": "0", "label": "CPU0_DIMM_A1"}, "ts": t0, "value": 0.0},
        ])
    );
    let ipmi = server
        .get_json("/api/v1/hosts/hw1/latest?prefix=ipmi_")
        .await;
    assert_eq!(ipmi["series"][0]["value"], 2.0);
    assert_eq!(ipmi["series"].as_array().map(Vec::len), Some(1));
    let none = server
        .get_json("/api/v1/hosts/hw2/latest?prefix=smartctl_")
        .await;
    assert_eq!(none["series"], json!([]), "hw2 has no SMART series");

    for (path, status, needle) in [
        ("/api/v1/hosts/hw1/latest", 400, "prefix: required"),
        (
            "/api/v1/hosts/hw1/latest?prefix=9bad",
            400,
            "prefix: \\\"9bad\\\"",
        ),
        ("/api/v1/hosts/nobody/latest?prefix=ipmi_", 404, "nobody"),
        ("/api/v1/hosts/nobody/inventory/history", 404, "nobody"),
        (
            "/api/v1/hosts/hw1/inventory/history?component=disk",
            400,
            "component:",
        ),
        ("/api/v1/hosts/hw1/inventory/history?limit=0", 400, "limit:"),
        ("/api/v1/fleet/firmware", 400, "kind:"),
        ("/api/v1/fleet/firmware?kind=Disk%3B", 400, "kind:"),
        ("/api/v1/fleet/firmware?kind=disk&field=a-b", 400, "field:"),
    ] {
        let (got, body) = server.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            body.contains(needle),
            "{path}: {body} should contain {needle}"
        );
    }

    let received_to = now_ms();
    let history = server.get_json("/api/v1/hosts/hw1/inventory/history").await;
    let disk_before = json!({"model": "ST4000DM000", "serial": "Z305ABCD", "firmware": "CC52"});
    let disk_after = json!({"model": "ST4000DM000", "serial": "Z305ABCD", "firmware": "CC54"});
    assert_eq!(
        without_receive_times(history, received_from, received_to),
        json!([
            {"component": format!("disk:{DISK}"), "seq": 2, "change": "modified", "firmware": true,
             "changes": [{"key": "firmware", "old": "CC52", "new": "CC54"}], "attrs": disk_after},
            // Same batch: the order of insertion decides, and the disk came second.
            {"component": format!("disk:{DISK}"), "seq": 1, "change": "added", "firmware": false,
             "changes": [], "attrs": disk_before},
            {"component": "host:hw1", "seq": 1, "change": "added", "firmware": false,
             "changes": [], "attrs": {"bios_version": "2.1"}},
        ]),
        "newest first, the firmware change spelled out"
    );
    let only_host = server
        .get_json("/api/v1/hosts/hw1/inventory/history?component=host:hw1")
        .await;
    assert_eq!(only_host.as_array().map(Vec::len), Some(1));
    assert_eq!(only_host[0]["component"], "host:hw1");
    let newest = server
        .get_json("/api/v1/hosts/hw1/inventory/history?limit=1")
        .await;
    assert_eq!(newest.as_array().map(Vec::len), Some(1));
    assert_eq!(newest[0]["seq"], 2);

    let drift = server.get_json("/api/v1/fleet/firmware?kind=disk").await;
    assert_eq!(
        drift,
        json!({
            "kind": "disk",
            "field": "firmware",
            "skipped": 1,
            "models": [
                {"model": "ST4000DM000", "drift": true, "components": 2, "hosts": 2, "versions": [
                    {"version": "CC52", "count": 1, "components": [
                        {"hostname": "hw2.example", "host_id": "hw2", "component": format!("disk:{DISK}")}]},
                    {"version": "CC54", "count": 1, "components": [
                        {"hostname": "hw1.example", "host_id": "hw1", "component": format!("disk:{DISK}")}]},
                ]},
                {"model": "SAMSUNG MZ7LH960", "drift": false, "components": 1, "hosts": 1, "versions": [
                    {"version": "HXT7404Q", "count": 1, "components": [
                        {"hostname": "hw2.example", "host_id": "hw2", "component": "disk:S3Z9NB0K"}]},
                ]},
            ],
        })
    );
    let hosts = server.get_json("/api/v1/fleet/firmware?kind=host").await;
    assert_eq!(hosts["field"], "bios_version");
    assert_eq!(hosts["models"], json!([]), "hw1's host item has no model");
    assert_eq!(hosts["skipped"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardware_views_answer_exactly_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(test_config(dir.path())).await;
    let t0 = (now_ms() - 600_000) / 1_000 * 1_000;
    let received_from = now_ms();
    ingest_story(&server, t0).await;
    check_story(&server, t0, received_from).await;
    server.stop().await;
}

/// A throw-away PostgreSQL database, dropped however the test ends (a panic included).
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> PgDatabase {
        let name = format!("harbinger_hw_{:016x}", fastrand::u64(..));
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to HARBINGER_TEST_PG_URL");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.expect("close the admin connection");
        PgDatabase {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    fn url(&self) -> String {
        let mut url = reqwest::Url::parse(&self.admin_url).expect("HARBINGER_TEST_PG_URL is a URL");
        url.set_path(&self.name);
        url.to_string()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop cannot await and the test's runtime may be gone: use a runtime of our own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&url).await.ok()?;
                sqlx::raw_sql(&sql).execute(&mut admin).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardware_views_answer_exactly_on_postgres() {
    let Ok(admin_url) = std::env::var("HARBINGER_TEST_PG_URL") else {
        eprintln!("SKIPPED: hardware views on PostgreSQL (set HARBINGER_TEST_PG_URL)");
        return;
    };
    let database = PgDatabase::create(&admin_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.database_url = Some(harbinger_collector::config::Secret::new(database.url()));
    let server = Server::start(config).await;
    let t0 = (now_ms() - 600_000) / 1_000 * 1_000;
    let received_from = now_ms();
    ingest_story(&server, t0).await;
    check_story(&server, t0, received_from).await;
    server.stop().await;
}
