//! The outbox's per-notifier rate limit, through a real collector and receiver: rows
//! beyond the allowance stay pending (not failed, not attempted) and other notifiers
//! are not held back by a limited one.

use crate::{batch, eventually, now_ms, series, test_config, webhook, Receiver, Server};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_notifier_delivers_its_allowance_and_keeps_the_rest() {
    let limited = Receiver::start("127.0.0.1:0", 200).await;
    let free = Receiver::start("127.0.0.1:0", 200).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    let mut pager = webhook("pager", &limited.url);
    pager.rate_limit_per_minute = Some(2);
    config.notifiers.push(pager);
    config.notifiers.push(webhook("desk", &free.url));
    let server = Server::start(config).await;

    let mut b = batch("limited", 1, 10_000);
    for mount in ["/a", "/b", "/c", "/d"] {
        b.series.push(series(
            "node_filesystem_used_ratio",
            &[
                ("device", "/dev/sda1"),
                ("mountpoint", mount),
                ("fstype", "ext4"),
            ],
            &[(now_ms() - 1_000, 0.95)],
        ));
    }
    let (status, ack) = server.ingest(&b).await;
    assert_eq!(status, 200, "{ack}");

    free.wait_for(4).await;
    limited.wait_for(2).await;
    // Several poll intervals later the limited notifier still has sent only two.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        limited.received().len(),
        2,
        "the allowance is two per minute"
    );
    assert_eq!(
        free.received().len(),
        4,
        "the other notifier is not held back"
    );

    let pending = eventually("the held-back rows are listed", || async {
        let list = server.get_json("/api/v1/incidents?host_id=limited").await;
        let mut pending = 0;
        for incident in list.as_array()? {
            let detail = server
                .get_json(&format!("/api/v1/incidents/{}", incident["id"]))
                .await;
            for row in detail["notifications"].as_array()? {
                if row["notifier"] == "pager" && row["delivered_ms"].is_null() {
                    assert_eq!(row["failed"], false, "{row}");
                    assert_eq!(row["attempts"], 0, "held back, not attempted: {row}");
                    pending += 1;
                }
            }
        }
        Some(pending)
    })
    .await;
    assert_eq!(pending, 2);
    server.stop().await;
}
