//! The storage story: one walk through every `Store` method, told on SQLite always and on
//! PostgreSQL when `HARBINGER_TEST_PG_URL` names an admin URL (each run gets its own
//! throw-away database). Plus SQLite durability across close and reopen.
//!
//! The story goes through the public trait only, except where it must reach under it: to
//! read the inventory history (no trait method yet) and to damage rows on purpose.

use harbinger_collector::store::{
    self, AppendOutcome, BatchFilter, DbError, IncidentChange, IncidentRow, IncidentStatus,
    NewIncident, NewOutbox, OutboxRow, Store,
};
use harbinger_shared::{
    AgentIdentity, Batch, ComponentId, ComponentKind, Event, EventKind, InventoryItem, Point,
    Series, Severity, PROTOCOL_VERSION,
};
use serde_json::json;
use sqlx::Connection;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Event time of the story's first sample.
const T: i64 = 1_700_000_000_000;
/// Wall-clock receive time of the first batch.
const R: i64 = 1_800_000_000_000;

/// Raw SQL access to the database under the store, for what the trait cannot do.
enum Backdoor {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Backdoor {
    async fn execute(&self, sqlite_sql: &str, pg_sql: &str) {
        match self {
            Backdoor::Sqlite(path) => {
                let url = format!("sqlite://{}", path.display());
                let mut conn = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("backdoor connects to SQLite");
                sqlx::raw_sql(sqlite_sql)
                    .execute(&mut conn)
                    .await
                    .expect("backdoor SQL runs on SQLite");
                conn.close().await.expect("backdoor closes");
            }
            Backdoor::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url)
                    .await
                    .expect("backdoor connects to PostgreSQL");
                sqlx::raw_sql(pg_sql)
                    .execute(&mut conn)
                    .await
                    .expect("backdoor SQL runs on PostgreSQL");
                conn.close().await.expect("backdoor closes");
            }
        }
    }

    /// `(attrs as a map, at_ms)` of every history row of one item, oldest first.
    async fn inventory_history(
        &self,
        host_id: &str,
        component: &str,
    ) -> Vec<(BTreeMap<String, String>, i64)> {
        let rows: Vec<(String, i64)> = match self {
            Backdoor::Sqlite(path) => {
                let url = format!("sqlite://{}", path.display());
                let mut conn = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("backdoor connects to SQLite");
                sqlx::query_as(
                    "SELECT attrs, at_ms FROM inventory_history \
                     WHERE host_id = ? AND component = ? ORDER BY id",
                )
                .bind(host_id)
                .bind(component)
                .fetch_all(&mut conn)
                .await
                .expect("history query on SQLite")
            }
            Backdoor::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url)
                    .await
                    .expect("backdoor connects to PostgreSQL");
                sqlx::query_as(
                    "SELECT attrs::text, at_ms FROM inventory_history \
                     WHERE host_id = $1 AND component = $2 ORDER BY id",
                )
                .bind(host_id)
                .bind(component)
                .fetch_all(&mut conn)
                .await
                .expect("history query on PostgreSQL")
            }
        };
        rows.into_iter()
            .map(|(attrs, at)| {
                (
                    serde_json::from_str(&attrs).expect("history attrs are JSON"),
                    at,
                )
            })
            .collect()
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A batch of `host` with three `node_load1` points from `first_ts`, 10 ms apart.
fn batch(host: &str, seq: u64, hostname: &str, first_ts: i64) -> Batch {
    Batch {
        protocol_version: PROTOCOL_VERSION,
        agent: AgentIdentity {
            host_id: host.into(),
            hostname: hostname.into(),
            labels: map(&[("rack", "r1")]),
            agent_version: "0.1.0".into(),
        },
        seq,
        interval_ms: 10_000,
        series: vec![Series {
            metric: "node_load1".into(),
            labels: BTreeMap::new(),
            points: (0..3)
                .map(|i| Point {
                    ts: first_ts + i * 10,
                    value: 0.5 + i as f64,
                })
                .collect(),
        }],
        events: vec![],
        inventory: None,
    }
}

fn event(ts: i64, kind: &str, message: &str) -> Event {
    Event {
        ts,
        kind: EventKind::new(kind),
        severity: Severity::Warning,
        component: Some(ComponentId::new(ComponentKind::Dimm, "CPU0_A1")),
        message: message.into(),
        attrs: map(&[("count", "3")]),
    }
}

fn item(kind: ComponentKind, id: &str, attrs: &[(&str, &str)]) -> InventoryItem {
    InventoryItem {
        component: ComponentId::new(kind, id),
        attrs: map(attrs),
    }
}

async fn append(store: &dyn Store, b: &Batch, received: i64) -> AppendOutcome {
    let body = b.encode_zstd().expect("encode batch");
    store
        .append_batch(b, &body, received)
        .await
        .expect("append_batch")
}

fn filter(
    host: Option<&str>,
    from: i64,
    to: i64,
    after: Option<(&str, i64)>,
    limit: i64,
) -> BatchFilter {
    BatchFilter {
        host_id: host.map(str::to_owned),
        from_ms: from,
        to_ms: to,
        after: after.map(|(h, s)| (h.to_owned(), s)),
        limit,
    }
}

async fn keys(store: &dyn Store, f: BatchFilter) -> Vec<(String, u64)> {
    store
        .load_batches(&f)
        .await
        .expect("load_batches")
        .into_iter()
        .map(|b| (b.agent.host_id, b.seq))
        .collect()
}

fn key(host: &str, seq: u64) -> (String, u64) {
    (host.to_owned(), seq)
}

fn note(notifier: &str, action: &str, key: &str) -> NewOutbox {
    NewOutbox {
        notifier: notifier.into(),
        action: action.into(),
        idempotency_key: key.into(),
        payload: json!({"incident": "{incident_id}", "revision": "{revision}", "n": 1}),
    }
}

fn open_change(dedup_key: &str, host: &str, at_ms: i64) -> IncidentChange {
    IncidentChange::Open(NewIncident {
        dedup_key: dedup_key.into(),
        host_id: host.into(),
        kind: "filesystem_full".into(),
        component: Some("filesystem:/var".into()),
        severity: "warning".into(),
        title: format!("/var almost full on {host}"),
        details: json!({"used_ratio": 0.93}),
        at_ms,
    })
}

async fn outbox_row(store: &dyn Store, incident_id: i64, key: &str) -> OutboxRow {
    store
        .outbox_for_incident(incident_id)
        .await
        .expect("outbox_for_incident")
        .into_iter()
        .find(|r| r.idempotency_key == key)
        .unwrap_or_else(|| panic!("outbox row {key} of incident {incident_id}"))
}

async fn due_keys(store: &dyn Store, now_ms: i64) -> Vec<String> {
    store
        .due_outbox(now_ms, 100)
        .await
        .expect("due_outbox")
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect()
}

/// Everything the collector asks of its store, in the order a day of operation would.
async fn story(store: Arc<dyn Store>, door: Backdoor, backend: &str) {
    let s = store.as_ref();
    assert_eq!(s.backend(), backend);
    s.ping().await.expect("ping");
    assert!(s.hosts().await.expect("hosts").is_empty());
    assert_eq!(s.host("h1").await.expect("host"), None);

    // --- ingest --------------------------------------------------------------------
    let mut b1 = batch("h1", 1, "db-17", T);
    b1.events = vec![event(
        T + 5,
        EventKind::EDAC_CORRECTABLE,
        "3 corrected errors",
    )];
    b1.inventory = Some(vec![
        item(
            ComponentKind::Disk,
            "SER1",
            &[("model", "ST4000"), ("firmware", "1")],
        ),
        item(ComponentKind::Dimm, "CPU0_A1", &[("size", "16G")]),
    ]);
    assert_eq!(append(s, &b1, R).await, AppendOutcome::Stored);

    // A replay of (h1, 1), even with a different body, stores and changes nothing.
    let mut replay = b1.clone();
    replay.agent.hostname = "impostor".into();
    replay
        .events
        .push(event(T + 6, EventKind::REBOOT, "must not be stored"));
    replay.inventory = Some(vec![item(ComponentKind::Disk, "SER1", &[("model", "X")])]);
    assert_eq!(append(s, &replay, R + 999).await, AppendOutcome::Duplicate);
    let h1 = s.host("h1").await.expect("host").expect("h1 known");
    assert_eq!(
        (h1.hostname.as_str(), h1.last_seen_ms, h1.last_seq),
        ("db-17", R, 1)
    );
    assert_eq!(
        s.events("h1", 0, i64::MAX, 100)
            .await
            .expect("events")
            .len(),
        1
    );
    assert_eq!(
        s.load_batches(&filter(Some("h1"), 0, i64::MAX, None, 10))
            .await
            .expect("load"),
        vec![b1.clone()],
        "the first body is the one kept"
    );

    let mut b2 = batch("h1", 2, "db-17", T + 1000);
    b2.events = vec![event(T + 1010, EventKind::REBOOT, "unexpected reboot")];
    b2.inventory = Some(vec![
        item(
            ComponentKind::Disk,
            "SER1",
            &[("model", "ST4000"), ("firmware", "2")],
        ),
        item(ComponentKind::Dimm, "CPU0_A1", &[("size", "16G")]),
    ]);
    assert_eq!(append(s, &b2, R + 10_000).await, AppendOutcome::Stored);

    let mut b4 = batch("h1", 4, "db-17-new", T + 3000);
    b4.agent.labels = map(&[("rack", "r2")]);
    b4.agent.agent_version = "0.2.0".into();
    b4.interval_ms = 5_000;
    b4.inventory = Some(vec![item(
        ComponentKind::Disk,
        "SER1",
        &[("model", "ST4000"), ("firmware", "3")],
    )]);
    assert_eq!(append(s, &b4, R + 30_000).await, AppendOutcome::Stored);

    // Seq 3 arrives late (fail-over replay): its samples and events are stored, but its
    // older identity and disk inventory must not roll back what seq 4 said.
    let mut b3 = batch("h1", 3, "db-17-old", T + 2000);
    b3.events = vec![
        event(T + 2001, EventKind::MACHINE_CHECK, "first"),
        event(T + 2001, EventKind::MACHINE_CHECK, "second, same ts"),
    ];
    b3.inventory = Some(vec![item(
        ComponentKind::Disk,
        "SER1",
        &[("model", "ST4000"), ("firmware", "stale")],
    )]);
    assert_eq!(append(s, &b3, R + 40_000).await, AppendOutcome::Stored);

    // An inventory-only batch (no samples, no events) sits at its receive time.
    let mut h2b = batch("h2", 1, "web-1", T + 500);
    h2b.series.clear();
    h2b.inventory = Some(vec![item(
        ComponentKind::Fan,
        "FAN1",
        &[("rpm_max", "9000")],
    )]);
    assert_eq!(append(s, &h2b, R + 5_000).await, AppendOutcome::Stored);

    // --- hosts ---------------------------------------------------------------------
    let hosts = s.hosts().await.expect("hosts");
    assert_eq!(
        hosts.iter().map(|h| h.host_id.as_str()).collect::<Vec<_>>(),
        ["h1", "h2"]
    );
    let h1 = &hosts[0];
    assert_eq!(h1.hostname, "db-17-new");
    assert_eq!(h1.labels, map(&[("rack", "r2")]));
    assert_eq!(h1.agent_version, "0.2.0");
    assert_eq!(h1.interval_ms, 5_000);
    assert_eq!(h1.first_seen_ms, R);
    assert_eq!(h1.last_seen_ms, R + 40_000);
    assert_eq!(h1.last_seq, 4);
    assert_eq!(s.host("h2").await.expect("host").as_ref(), Some(&hosts[1]));
    assert_eq!(s.host("nope").await.expect("host"), None);

    // --- batches: range overlap and pagination --------------------------------------
    let h1_batches = s
        .load_batches(&filter(Some("h1"), T + 5, T + 1000, None, 10))
        .await
        .expect("load");
    assert_eq!(
        h1_batches,
        vec![b1.clone(), b2.clone()],
        "decoded as appended"
    );
    // Inclusive ends: b1 covers [T, T+20], b2 [T+1000, T+1020].
    assert_eq!(
        keys(s, filter(Some("h1"), T + 20, T + 20, None, 10)).await,
        [key("h1", 1)]
    );
    assert_eq!(
        keys(s, filter(Some("h1"), T + 21, T + 999, None, 10)).await,
        Vec::<(String, u64)>::new(),
        "a range between batches overlaps none"
    );
    assert_eq!(
        keys(s, filter(Some("h2"), R + 5_000, R + 5_000, None, 10)).await,
        [key("h2", 1)],
        "an inventory-only batch is found at its receive time"
    );
    let all = filter(None, T, T + 10_000, None, 2);
    assert_eq!(keys(s, all.clone()).await, [key("h1", 1), key("h1", 2)]);
    let page = |after: (&str, i64)| BatchFilter {
        after: Some((after.0.to_owned(), after.1)),
        ..all.clone()
    };
    assert_eq!(keys(s, page(("h1", 2))).await, [key("h1", 3), key("h1", 4)]);
    assert_eq!(
        keys(s, page(("h1", 4))).await,
        Vec::<(String, u64)>::new(),
        "h2's only batch lies outside [T, T+10000]"
    );
    let wide =
        |host: Option<&str>, after: Option<(&str, i64)>| filter(host, 0, i64::MAX, after, 10);
    assert_eq!(keys(s, wide(None, Some(("h1", 4)))).await, [key("h2", 1)]);
    assert_eq!(keys(s, wide(Some("h1"), Some(("h0", 99)))).await.len(), 4);
    assert_eq!(
        keys(s, wide(Some("h1"), Some(("h1", 3)))).await,
        [key("h1", 4)]
    );
    assert!(keys(s, wide(Some("h1"), Some(("h2", 0)))).await.is_empty());
    assert!(keys(s, filter(None, 0, i64::MAX, None, 0)).await.is_empty());
    assert!(keys(s, filter(None, 0, i64::MAX, None, -1))
        .await
        .is_empty());

    // --- events: range, limit, newest first -----------------------------------------
    let events = s.events("h1", 0, i64::MAX, 100).await.expect("events");
    assert_eq!(
        events
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>(),
        [
            "second, same ts",
            "first",
            "unexpected reboot",
            "3 corrected errors"
        ]
    );
    let reboot = &events[2];
    assert_eq!(
        (
            reboot.host_id.as_str(),
            reboot.ts,
            reboot.kind.as_str(),
            reboot.severity.as_str()
        ),
        ("h1", T + 1010, "reboot", "warning")
    );
    assert_eq!(reboot.component.as_deref(), Some("dimm:CPU0_A1"));
    assert_eq!(reboot.attrs, map(&[("count", "3")]));
    let window = s.events("h1", T + 5, T + 1010, 100).await.expect("events");
    assert_eq!(
        window.iter().map(|e| e.ts).collect::<Vec<_>>(),
        [T + 1010, T + 5]
    );
    let newest = s.events("h1", 0, i64::MAX, 1).await.expect("events");
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].message, "second, same ts");
    assert!(s
        .events("h2", 0, i64::MAX, 100)
        .await
        .expect("events")
        .is_empty());

    // --- inventory: latest and history ---------------------------------------------
    let inventory = s.inventory("h1").await.expect("inventory");
    assert_eq!(
        inventory,
        vec![
            item(ComponentKind::Dimm, "CPU0_A1", &[("size", "16G")]),
            item(
                ComponentKind::Disk,
                "SER1",
                &[("model", "ST4000"), ("firmware", "3")]
            ),
        ]
    );
    assert_eq!(
        door.inventory_history("h1", "disk:SER1").await,
        vec![
            (map(&[("model", "ST4000"), ("firmware", "1")]), R),
            (map(&[("model", "ST4000"), ("firmware", "2")]), R + 10_000),
            (map(&[("model", "ST4000"), ("firmware", "3")]), R + 30_000),
        ],
        "one history row per change; the stale replay left none"
    );
    assert_eq!(door.inventory_history("h1", "dimm:CPU0_A1").await.len(), 1);
    assert_eq!(
        s.inventory("h2").await.expect("inventory"),
        vec![item(ComponentKind::Fan, "FAN1", &[("rpm_max", "9000")])]
    );

    // --- incidents -----------------------------------------------------------------
    assert_eq!(
        s.open_incident("fs:h1:/var").await.expect("open_incident"),
        None
    );
    let at = T + 60_000;
    let opened = s
        .apply_incident_change(
            open_change("fs:h1:/var", "h1", at),
            vec![
                note("ops-webhook", "open", "fs:h1:/var:open:{revision}"),
                note(
                    "pagerduty",
                    "open",
                    "pd:fs:h1:/var:{incident_id}:{revision}",
                ),
            ],
        )
        .await
        .expect("open");
    assert!(opened.id > 0);
    assert_eq!(opened.status, IncidentStatus::Open);
    assert_eq!(opened.revision, 1);
    assert_eq!(
        (
            opened.opened_at_ms,
            opened.updated_at_ms,
            opened.resolved_at_ms
        ),
        (at, at, None)
    );
    assert_eq!(opened.details, json!({"used_ratio": 0.93}));
    assert_eq!(opened.component.as_deref(), Some("filesystem:/var"));
    assert_eq!(
        s.open_incident("fs:h1:/var")
            .await
            .expect("open_incident")
            .as_ref(),
        Some(&opened)
    );

    let queued = s.outbox_for_incident(opened.id).await.expect("outbox");
    assert_eq!(queued.len(), 2);
    let webhook_open = &queued[0];
    assert_eq!(webhook_open.idempotency_key, "fs:h1:/var:open:1");
    assert_eq!(
        queued[1].idempotency_key,
        format!("pd:fs:h1:/var:{}:1", opened.id)
    );
    assert_eq!(
        webhook_open.payload,
        json!({"incident": opened.id.to_string(), "revision": "1", "n": 1})
    );
    assert_eq!(webhook_open.incident_id, opened.id);
    assert_eq!(
        (webhook_open.notifier.as_str(), webhook_open.action.as_str()),
        ("ops-webhook", "open")
    );
    assert_eq!(
        (
            webhook_open.attempts,
            webhook_open.next_attempt_ms,
            webhook_open.created_ms
        ),
        (0, at, at)
    );
    assert_eq!(
        (
            webhook_open.delivered_ms,
            webhook_open.failed,
            webhook_open.last_error.as_deref()
        ),
        (None, false, None)
    );
    assert!(queued[0].id < queued[1].id);

    // A second open of the same problem is refused, and queues nothing.
    let second = s
        .apply_incident_change(
            open_change("fs:h1:/var", "h1", at + 1),
            vec![note("ops-webhook", "open", "must-not-exist")],
        )
        .await;
    assert!(matches!(second, Err(DbError::Conflict(_))), "{second:?}");
    assert_eq!(
        s.incidents(None, false, 100)
            .await
            .expect("incidents")
            .len(),
        1
    );
    assert!(due_keys(s, i64::MAX)
        .await
        .iter()
        .all(|k| k != "must-not-exist"));

    let other = s
        .apply_incident_change(open_change("fs:h2:/var", "h2", at + 10), vec![])
        .await
        .expect("open on h2");

    let updated = s
        .apply_incident_change(
            IncidentChange::Update {
                id: opened.id,
                severity: "critical".into(),
                title: "/var full".into(),
                details: json!({"used_ratio": 0.99}),
                at_ms: at + 100,
            },
            vec![
                note("ops-webhook", "update", "fs:h1:/var:update:{revision}"),
                // Already queued: skipped, not an error.
                note("ops-webhook", "open", "fs:h1:/var:open:1"),
            ],
        )
        .await
        .expect("update");
    assert_eq!(updated.id, opened.id);
    assert_eq!(updated.revision, 2);
    assert_eq!(
        (updated.severity.as_str(), updated.title.as_str()),
        ("critical", "/var full")
    );
    assert_eq!(
        (updated.opened_at_ms, updated.updated_at_ms),
        (at, at + 100)
    );
    assert_eq!(updated.details, json!({"used_ratio": 0.99}));
    let queued = s.outbox_for_incident(opened.id).await.expect("outbox");
    assert_eq!(
        queued
            .iter()
            .map(|r| r.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        [
            "fs:h1:/var:open:1".to_owned(),
            format!("pd:fs:h1:/var:{}:1", opened.id),
            "fs:h1:/var:update:2".to_owned()
        ]
    );
    assert_eq!(queued[2].next_attempt_ms, at + 100);

    let missing = s
        .apply_incident_change(
            IncidentChange::Update {
                id: opened.id + 1000,
                severity: "info".into(),
                title: "x".into(),
                details: json!({}),
                at_ms: at,
            },
            vec![],
        )
        .await;
    assert!(matches!(missing, Err(DbError::NotFound)), "{missing:?}");

    let resolved = s
        .apply_incident_change(
            IncidentChange::Resolve {
                id: opened.id,
                details: json!({"used_ratio": 0.5}),
                at_ms: at + 200,
            },
            vec![
                note("ops-webhook", "resolve", "fs:h1:/var:resolve:{revision}"),
                note(
                    "pagerduty",
                    "resolve",
                    "pd:fs:h1:/var:{incident_id}:{revision}",
                ),
            ],
        )
        .await
        .expect("resolve");
    assert_eq!(resolved.status, IncidentStatus::Resolved);
    assert_eq!(resolved.revision, 3);
    assert_eq!(
        (resolved.updated_at_ms, resolved.resolved_at_ms),
        (at + 200, Some(at + 200))
    );
    assert_eq!(
        resolved.severity, "critical",
        "resolve keeps the last severity"
    );
    assert_eq!(
        s.open_incident("fs:h1:/var").await.expect("open_incident"),
        None
    );

    let again = s
        .apply_incident_change(
            IncidentChange::Resolve {
                id: opened.id,
                details: json!({}),
                at_ms: at + 300,
            },
            vec![],
        )
        .await;
    assert!(matches!(again, Err(DbError::Conflict(_))), "{again:?}");
    let late_update = s
        .apply_incident_change(
            IncidentChange::Update {
                id: opened.id,
                severity: "info".into(),
                title: "x".into(),
                details: json!({}),
                at_ms: at + 300,
            },
            vec![],
        )
        .await;
    assert!(
        matches!(late_update, Err(DbError::Conflict(_))),
        "{late_update:?}"
    );

    // The same problem coming back is a new incident.
    let reopened = s
        .apply_incident_change(
            open_change("fs:h1:/var", "h1", at + 1000),
            vec![note(
                "ops-webhook",
                "open",
                "fs:h1:/var:{incident_id}:open:{revision}",
            )],
        )
        .await
        .expect("reopen after resolve");
    assert_ne!(reopened.id, opened.id);
    assert_eq!(
        (reopened.status, reopened.revision),
        (IncidentStatus::Open, 1)
    );
    assert_eq!(
        s.open_incident("fs:h1:/var")
            .await
            .expect("open_incident")
            .map(|i| i.id),
        Some(reopened.id)
    );

    let ids = |rows: Vec<IncidentRow>| rows.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.incidents(None, false, 100).await.expect("incidents")),
        [reopened.id, other.id, opened.id]
    );
    assert_eq!(
        ids(s
            .incidents(Some("h1"), false, 100)
            .await
            .expect("incidents")),
        [reopened.id, opened.id]
    );
    assert_eq!(
        ids(s.incidents(None, true, 100).await.expect("incidents")),
        [reopened.id, other.id]
    );
    assert_eq!(
        ids(s.incidents(Some("h2"), true, 100).await.expect("incidents")),
        [other.id]
    );
    assert_eq!(
        ids(s.incidents(None, false, 1).await.expect("incidents")),
        [reopened.id]
    );
    let stored = s
        .incidents(Some("h1"), false, 100)
        .await
        .expect("incidents");
    assert_eq!(
        stored[1], resolved,
        "incidents() returns rows as apply_incident_change did"
    );

    // --- outbox: due order, retry, delivered, failed, blocked -----------------------
    let w_open = "fs:h1:/var:open:1".to_owned();
    let pd_open = format!("pd:fs:h1:/var:{}:1", opened.id);
    let w_update = "fs:h1:/var:update:2".to_owned();
    let w_resolve = "fs:h1:/var:resolve:3".to_owned();
    let pd_resolve = format!("pd:fs:h1:/var:{}:3", opened.id);
    let w_reopen = format!("fs:h1:/var:{}:open:1", reopened.id);
    assert!(
        due_keys(s, at - 1).await.is_empty(),
        "nothing is due before its change"
    );
    assert_eq!(due_keys(s, at).await, [w_open.clone(), pd_open.clone()]);
    let everything = [
        w_open.clone(),
        pd_open.clone(),
        w_update.clone(),
        w_resolve.clone(),
        pd_resolve.clone(),
        w_reopen.clone(),
    ];
    assert_eq!(
        due_keys(s, i64::MAX).await,
        everything,
        "due rows come in id order"
    );
    assert_eq!(s.due_outbox(i64::MAX, 2).await.expect("due").len(), 2);

    let r_open = outbox_row(s, opened.id, &w_open).await;
    let r_update = outbox_row(s, opened.id, &w_update).await;
    let r_resolve = outbox_row(s, opened.id, &w_resolve).await;
    let r_pd_open = outbox_row(s, opened.id, &pd_open).await;
    let r_pd_resolve = outbox_row(s, opened.id, &pd_resolve).await;
    let r_reopen = outbox_row(s, reopened.id, &w_reopen).await;
    assert!(!s.outbox_blocked(&r_open).await.expect("blocked"));
    assert!(
        s.outbox_blocked(&r_update).await.expect("blocked"),
        "update waits for open"
    );
    assert!(
        s.outbox_blocked(&r_pd_resolve).await.expect("blocked"),
        "pd resolve waits for pd open"
    );
    assert!(
        !s.outbox_blocked(&r_reopen).await.expect("blocked"),
        "another incident's rows do not block"
    );

    s.outbox_retry(r_open.id, at + 5_000, "HTTP 503")
        .await
        .expect("retry");
    let after_retry = outbox_row(s, opened.id, &w_open).await;
    assert_eq!(
        (after_retry.attempts, after_retry.next_attempt_ms),
        (1, at + 5_000)
    );
    assert_eq!(after_retry.last_error.as_deref(), Some("HTTP 503"));
    assert!(!due_keys(s, at + 4_999).await.contains(&w_open));
    assert!(due_keys(s, at + 5_000).await.contains(&w_open));
    assert!(
        s.outbox_blocked(&r_update).await.expect("blocked"),
        "a retrying row still blocks"
    );

    s.outbox_delivered(r_open.id, at + 5_001)
        .await
        .expect("delivered");
    let delivered = outbox_row(s, opened.id, &w_open).await;
    assert_eq!(
        (delivered.delivered_ms, delivered.attempts, delivered.failed),
        (Some(at + 5_001), 2, false)
    );
    assert!(!due_keys(s, i64::MAX).await.contains(&w_open));
    assert!(!s.outbox_blocked(&r_update).await.expect("blocked"));
    assert!(
        s.outbox_blocked(&r_resolve).await.expect("blocked"),
        "resolve still waits for update"
    );

    s.outbox_failed(r_pd_open.id, "HTTP 400: bad routing key")
        .await
        .expect("failed");
    let failed = outbox_row(s, opened.id, &pd_open).await;
    assert_eq!(
        (failed.failed, failed.attempts, failed.delivered_ms),
        (true, 1, None)
    );
    assert_eq!(
        failed.last_error.as_deref(),
        Some("HTTP 400: bad routing key")
    );
    assert!(!due_keys(s, i64::MAX).await.contains(&pd_open));
    assert!(
        !s.outbox_blocked(&r_pd_resolve).await.expect("blocked"),
        "a failed row does not block"
    );

    assert_eq!(
        due_keys(s, i64::MAX).await,
        [w_update, w_resolve, pd_resolve, w_reopen]
    );
    for result in [
        s.outbox_delivered(i64::MAX, at).await,
        s.outbox_retry(i64::MAX, at, "x").await,
        s.outbox_failed(i64::MAX, "x").await,
    ] {
        assert!(matches!(result, Err(DbError::NotFound)), "{result:?}");
    }
    assert!(s
        .outbox_for_incident(i64::MAX)
        .await
        .expect("outbox")
        .is_empty());

    // --- damaged rows are reported, never trusted ------------------------------------
    door.execute(
        "INSERT INTO batches (host_id, seq, received_ms, min_ts, max_ts, sample_count, body) \
         VALUES ('zz-damaged', 7, 0, 0, 10, 0, X'DEADBEEF')",
        "INSERT INTO batches (host_id, seq, received_ms, min_ts, max_ts, sample_count, body) \
         VALUES ('zz-damaged', 7, 0, 0, 10, 0, '\\xDEADBEEF'::bytea)",
    )
    .await;
    let err = s
        .load_batches(&filter(Some("zz-damaged"), 0, 10, None, 10))
        .await
        .expect_err("a damaged body must not load");
    assert!(matches!(err, DbError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("\"zz-damaged\" seq 7"), "{err}");
    // A valid body filed under the wrong key is damage too.
    door.execute(
        "UPDATE batches SET host_id = 'zz-moved' WHERE host_id = 'h2' AND seq = 1",
        "UPDATE batches SET host_id = 'zz-moved' WHERE host_id = 'h2' AND seq = 1",
    )
    .await;
    let err = s
        .load_batches(&filter(Some("zz-moved"), 0, i64::MAX, None, 10))
        .await
        .expect_err("a body under the wrong key must not load");
    assert!(
        err.to_string().contains("body is batch 1 of host \"h2\""),
        "{err}"
    );

    door.execute(
        "UPDATE hosts SET labels = '[1]' WHERE host_id = 'h2'",
        "UPDATE hosts SET labels = '[1]'::jsonb WHERE host_id = 'h2'",
    )
    .await;
    let err = s.host("h2").await.expect_err("bad labels must not load");
    assert!(matches!(err, DbError::Corrupt(_)), "{err:?}");
    assert!(
        err.to_string().contains("hosts.labels of host \"h2\""),
        "{err}"
    );
    assert!(matches!(s.hosts().await, Err(DbError::Corrupt(_))));
    assert!(s.host("h1").await.expect("h1 is intact").is_some());

    door.execute(
        "UPDATE inventory SET component = 'nocolon' WHERE host_id = 'h2'",
        "UPDATE inventory SET component = 'nocolon' WHERE host_id = 'h2'",
    )
    .await;
    let err = s
        .inventory("h2")
        .await
        .expect_err("bad component must not load");
    assert!(err.to_string().contains("inventory.component"), "{err}");

    door.execute(
        &format!(
            "UPDATE incidents SET status = 'haunted' WHERE id = {}",
            other.id
        ),
        &format!(
            "UPDATE incidents SET status = 'haunted' WHERE id = {}",
            other.id
        ),
    )
    .await;
    let err = s
        .incidents(Some("h2"), false, 10)
        .await
        .expect_err("bad status must not load");
    assert!(
        err.to_string()
            .contains(&format!("incidents.status of id {}", other.id)),
        "{err}"
    );
}

#[tokio::test]
async fn store_story_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("story.db");
    let store = store::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("open SQLite store");
    story(store, Backdoor::Sqlite(path), "sqlite").await;
}

/// `postgres://…/admin_db?opts` with the database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{database}{query}", &base[..authority_end])
}

#[tokio::test]
async fn store_story_on_postgres() {
    let Ok(admin_url) = std::env::var("HARBINGER_TEST_PG_URL") else {
        eprintln!("SKIPPED: store story on PostgreSQL (set HARBINGER_TEST_PG_URL)");
        return;
    };
    let database = format!("harbinger_test_{:016x}", fastrand::u64(..));
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to HARBINGER_TEST_PG_URL");
    sqlx::raw_sql(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    admin.close().await.expect("close the admin connection");
    let _drop = DropDatabase {
        admin_url: admin_url.clone(),
        database: database.clone(),
    };
    let url = with_database(&admin_url, &database);
    let store = store::open(&url).await.expect("open PostgreSQL store");
    story(store, Backdoor::Postgres(url), "postgres").await;
}

/// Drops the per-run test database when the test ends, passed or panicked. `Drop`
/// cannot await, so the statement runs on a short-lived runtime in its own thread.
struct DropDatabase {
    admin_url: String,
    database: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (url, sql) = (
            self.admin_url.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
        );
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(&sql)
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                admin.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "could not drop test database {}: {dropped:?}",
                self.database
            );
        }
    }
}

#[test]
fn with_database_replaces_only_the_path() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@127.0.0.1/db?sslmode=disable", "t1"),
        "postgres://u:p@127.0.0.1/t1?sslmode=disable"
    );
    assert_eq!(
        with_database("postgresql://127.0.0.1", "t1"),
        "postgresql://127.0.0.1/t1"
    );
}

#[tokio::test]
async fn sqlite_store_keeps_everything_across_close_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Parent directories that do not exist yet are created.
    let path = dir.path().join("data").join("nested").join("harbinger.db");
    let first = store::sqlite::SqliteStore::open(&format!("sqlite:{}", path.display()))
        .await
        .expect("open SQLite store");
    assert_eq!(first.path(), path.as_path());

    let mut b = batch("h1", 1, "db-17", T);
    b.events = vec![event(T + 1, EventKind::REBOOT, "rebooted")];
    b.inventory = Some(vec![item(
        ComponentKind::Disk,
        "SER1",
        &[("model", "ST4000")],
    )]);
    assert_eq!(append(&first, &b, R).await, AppendOutcome::Stored);
    let incident = first
        .apply_incident_change(
            open_change("k", "h1", T + 10),
            vec![note("ops-webhook", "open", "k:open:{revision}")],
        )
        .await
        .expect("open incident");
    let host_before = first.host("h1").await.expect("host");
    first.close().await;

    // WAL is a property of the file, so any connection reports it.
    let mut probe = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("probe connects");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut probe)
        .await
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    probe.close().await.expect("probe closes");

    // A bare path names the same file.
    let second = store::sqlite::SqliteStore::open(path.to_str().expect("utf-8 temp path"))
        .await
        .expect("reopen SQLite store");
    assert_eq!(second.host("h1").await.expect("host"), host_before);
    assert!(host_before.is_some());
    assert_eq!(
        second
            .load_batches(&filter(Some("h1"), 0, i64::MAX, None, 10))
            .await
            .expect("load"),
        vec![b.clone()]
    );
    assert_eq!(
        second
            .events("h1", 0, i64::MAX, 10)
            .await
            .expect("events")
            .len(),
        1
    );
    assert_eq!(
        second.inventory("h1").await.expect("inventory"),
        b.inventory.clone().expect("set above")
    );
    assert_eq!(
        second.open_incident("k").await.expect("open_incident"),
        Some(incident.clone())
    );
    let outbox = second
        .outbox_for_incident(incident.id)
        .await
        .expect("outbox");
    assert_eq!(
        outbox
            .iter()
            .map(|r| r.idempotency_key.as_str())
            .collect::<Vec<_>>(),
        ["k:open:1"]
    );
    // The idempotency key survives the restart too: a replayed batch is still a duplicate.
    assert_eq!(append(&second, &b, R + 1).await, AppendOutcome::Duplicate);
    second.close().await;
}

#[tokio::test]
async fn sqlite_refuses_an_in_memory_database() {
    let err = store::open("sqlite::memory:")
        .await
        .err()
        .expect("an in-memory database cannot be durable");
    assert!(err.to_string().contains("in-memory"), "{err}");
}
