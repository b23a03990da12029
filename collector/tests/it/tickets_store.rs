//! The store's ticket references, audit log, outcomes and silences, as one story on
//! SQLite (always) and on PostgreSQL (when `HARBINGER_TEST_PG_URL` is set), plus the
//! per-notifier uniqueness of outbox keys that lets two notifiers share one change.

use harbinger_collector::store::{
    self, AuditEntry, IncidentChange, NewIncident, NewOutbox, OutcomeRow, SilenceRow, Store,
    TicketRow,
};
use serde_json::json;
use sqlx::Connection;

async fn story(store: &dyn Store) {
    let incident = store
        .apply_incident_change(
            IncidentChange::Open(NewIncident {
                dedup_key: "h/filesystem_full//var".into(),
                host_id: "h".into(),
                kind: "filesystem_full".into(),
                component: Some("filesystem:/var".into()),
                severity: "warning".into(),
                title: "t".into(),
                details: json!({}),
                at_ms: 1_000,
            }),
            ["desk", "pager"]
                .iter()
                .map(|n| NewOutbox {
                    notifier: (*n).into(),
                    action: "open".into(),
                    idempotency_key: "k#1000/open/{revision}".into(),
                    payload: json!({}),
                })
                .collect(),
        )
        .await
        .expect("open");
    let rows = store.outbox_for_incident(incident.id).await.expect("rows");
    let notifiers: Vec<&str> = rows.iter().map(|r| r.notifier.as_str()).collect();
    assert_eq!(
        notifiers,
        ["desk", "pager"],
        "one row per notifier, same key"
    );
    assert_eq!(
        store
            .incident(incident.id)
            .await
            .expect("by id")
            .map(|i| i.id),
        Some(incident.id)
    );
    assert_eq!(
        store.incident(incident.id + 100).await.expect("by id"),
        None
    );

    let mut ticket = TicketRow {
        notifier: "rt".into(),
        fingerprint: "hb-1".into(),
        incident_id: incident.id,
        ticket_id: "12".into(),
        status: "open".into(),
        created_ms: 5,
        updated_ms: 5,
    };
    store.save_ticket(&ticket).await.expect("save");
    assert_eq!(
        store.ticket("rt", "hb-1").await.expect("get"),
        Some(ticket.clone())
    );
    assert_eq!(store.ticket("other", "hb-1").await.expect("get"), None);
    assert_eq!(store.active_tickets("rt").await.expect("active").len(), 1);
    ticket.status = "resolved".into();
    ticket.updated_ms = 9;
    store.save_ticket(&ticket).await.expect("update");
    assert!(store.active_tickets("rt").await.expect("active").is_empty());
    assert_eq!(
        store
            .tickets_for_incident(incident.id)
            .await
            .expect("of incident"),
        [ticket.clone()]
    );

    let entry = AuditEntry {
        id: 0,
        at_ms: 10,
        actor: "root".into(),
        source: "rt".into(),
        action: "resolve".into(),
        incident_id: Some(incident.id),
        ticket_id: Some("12".into()),
        detail: "disk replaced".into(),
    };
    let id = store.record_audit(&entry).await.expect("audit");
    let log = store.audit_log(Some(incident.id), 10).await.expect("log");
    assert_eq!(
        log,
        [AuditEntry {
            id,
            ..entry.clone()
        }]
    );
    assert_eq!(store.audit_log(None, 10).await.expect("all").len(), 1);

    let outcome = OutcomeRow {
        id: 0,
        incident_id: incident.id,
        source: "rt".into(),
        code: "disk replaced".into(),
        note: "by root".into(),
        at_ms: 10,
    };
    let id = store.record_outcome(&outcome).await.expect("outcome");
    assert_eq!(
        store.outcomes(incident.id).await.expect("outcomes"),
        [OutcomeRow { id, ..outcome }]
    );

    let silence = SilenceRow {
        id: 0,
        host_id: "h".into(),
        component: Some("filesystem:/var".into()),
        until_ms: 100,
        reason: "won't fix".into(),
        created_ms: 10,
    };
    store.add_silence(&silence).await.expect("silence");
    assert_eq!(
        store
            .active_silences(Some("h"), 99)
            .await
            .expect("active")
            .len(),
        1
    );
    assert!(store
        .active_silences(Some("h"), 100)
        .await
        .expect("ended")
        .is_empty());
    assert!(store
        .active_silences(Some("x"), 0)
        .await
        .expect("other host")
        .is_empty());
    assert_eq!(store.active_silences(None, 0).await.expect("all").len(), 1);
}

#[tokio::test]
async fn ticket_tables_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(&dir.path().join("h.db").to_string_lossy())
        .await
        .expect("open");
    story(store.as_ref()).await;
}

#[tokio::test]
async fn ticket_tables_on_postgres() {
    let Ok(admin_url) = std::env::var("HARBINGER_TEST_PG_URL") else {
        eprintln!("SKIPPED: ticket tables on PostgreSQL (set HARBINGER_TEST_PG_URL)");
        return;
    };
    let name = format!("harbinger_tickets_{:016x}", fastrand::u64(..));
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to HARBINGER_TEST_PG_URL");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    let mut url = reqwest::Url::parse(&admin_url).expect("a URL");
    url.set_path(&name);
    let store = store::open(url.as_str()).await.expect("open");
    story(store.as_ref()).await;
    drop(store);
    // The pool may still hold connections; FORCE ends them.
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
}
