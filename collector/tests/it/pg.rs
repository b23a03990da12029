//! The collector service on PostgreSQL: ingest, query, an incident delivered through the
//! webhook, and a restart, against a throw-away database. Runs only when
//! `HARBINGER_TEST_PG_URL` names an admin URL.

use crate::{batch, now_ms, series, test_config, webhook, Receiver, Server};
use sqlx::Connection;

/// Drops the throw-away database however the test ends.
pub struct Database {
    admin_url: String,
    name: String,
}

impl Database {
    pub async fn create(admin_url: &str) -> Database {
        let name = format!("harbinger_it_{:016x}", fastrand::u64(..));
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to HARBINGER_TEST_PG_URL");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.expect("close the admin connection");
        Database {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    pub fn url(&self) -> String {
        let mut url = reqwest::Url::parse(&self.admin_url).expect("HARBINGER_TEST_PG_URL is a URL");
        url.set_path(&self.name);
        url.to_string()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (url, sql) = (
            self.admin_url.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        // Drop cannot await, and the test's runtime may be gone: use a runtime of our own.
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
async fn service_story_on_postgres() {
    let Ok(admin_url) = std::env::var("HARBINGER_TEST_PG_URL") else {
        eprintln!("SKIPPED: collector service on PostgreSQL (set HARBINGER_TEST_PG_URL)");
        return;
    };
    let database = Database::create(&admin_url).await;
    let receiver = Receiver::start("127.0.0.1:0", 200).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || {
        let mut config = test_config(dir.path());
        config.database_url = Some(harbinger_collector::config::Secret::new(database.url()));
        config.notifiers.push(webhook("desk", &receiver.url));
        config
    };
    let server = Server::start(config()).await;
    let t = (now_ms() - 60_000) / 1_000 * 1_000;
    let mut first = batch("pg-host", 1, 10_000);
    first.series.push(series(
        "node_filesystem_used_ratio",
        &[
            ("device", "/dev/sda1"),
            ("mountpoint", "/"),
            ("fstype", "ext4"),
        ],
        &[(t, 0.95)],
    ));
    first
        .series
        .push(series("node_load1", &[], &[(t, 1.0), (t + 1_000, 3.0)]));
    let (status, ack) = server.ingest(&first).await;
    assert_eq!(status, 200, "{ack}");
    let (status, ack) = server.ingest(&first).await;
    assert_eq!(
        (status, &ack["duplicate"]),
        (200, &serde_json::Value::Bool(true)),
        "{ack}"
    );
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].body["action"], "open");
    server.stop().await;

    // Restarted on the same database: the hot window is rebuilt from PostgreSQL.
    let server = Server::start(config()).await;
    let query = server
        .get_json(&format!(
            "/api/v1/hosts/pg-host/query?metric=node_load1&start={t}&end={}&step=2000",
            t + 2_000
        ))
        .await;
    assert_eq!(
        query["series"][0]["points"],
        serde_json::json!([[t, 1.0, 3.0, 2.0]]),
        "{query}"
    );
    let mut second = batch("pg-host", 2, 10_000);
    second.series.push(series(
        "node_filesystem_used_ratio",
        &[
            ("device", "/dev/sda1"),
            ("mountpoint", "/"),
            ("fstype", "ext4"),
        ],
        &[(t + 10_000, 0.5)],
    ));
    let (status, ack) = server.ingest(&second).await;
    assert_eq!(status, 200, "{ack}");
    let got = receiver.wait_for(2).await;
    let actions: Vec<&str> = got
        .iter()
        .filter_map(|d| d.body["action"].as_str())
        .collect();
    assert_eq!(actions, ["open", "resolve"]);
    let listed = server.get_json("/api/v1/incidents?host_id=pg-host").await;
    assert_eq!(listed[0]["status"], "resolved", "{listed}");
    server.stop().await;
}
