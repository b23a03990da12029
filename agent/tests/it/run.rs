//! `harbinger_agent::run` end to end on the fixture tree against a real HTTP server:
//! aligned timestamps, the start event, inventory, and sequence numbers that survive a
//! restart.

use crate::common::host_a_config;
use crate::http_stub::{Reply, Stub};
use harbinger_agent::{run, Identity};
use harbinger_shared::catalogue::names;
use harbinger_shared::{Batch, EventKind};
use std::time::Duration;

async fn run_until_first_batch(stub: &Stub, state_dir: &std::path::Path, already: usize) -> Batch {
    let mut config = host_a_config(state_dir);
    config.collector_urls = vec![stub.url.clone()];
    config.interval = Duration::from_secs(1);
    config.shipper.flush_timeout = Duration::from_secs(2);
    let shutdown = async {
        stub.wait_for(already + 1).await;
    };
    tokio::time::timeout(Duration::from_secs(20), run(config, shutdown))
        .await
        .expect("agent stopped in time")
        .expect("agent ran");
    stub.received()[already].batch.clone()
}

#[tokio::test]
async fn batches_flow_and_sequence_numbers_survive_a_restart() {
    let stub = Stub::start(|_, batch| Reply::ack(batch)).await;
    let state = tempfile::tempdir().expect("tempdir");

    let first = run_until_first_batch(&stub, state.path(), 0).await;
    let persisted: u64 = std::fs::read_to_string(state.path().join("seq"))
        .expect("seq file written")
        .trim()
        .parse()
        .expect("a number");
    assert!(persisted >= first.seq);

    let after_restart_at = stub.received().len();
    let second = run_until_first_batch(&stub, state.path(), after_restart_at).await;
    assert!(
        second.seq > persisted,
        "restarted agent continues after {persisted}, sent {}",
        second.seq
    );

    for batch in [&first, &second] {
        batch.validate().expect("valid batch");
        assert_eq!(batch.agent.host_id, "0123456789abcdef0123456789abcdef");
        assert_eq!(batch.interval_ms, 1_000);
        let kinds: Vec<_> = batch.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [EventKind::AGENT_STARTED],
            "start announced once per run"
        );
        let inventory = batch
            .inventory
            .as_ref()
            .expect("inventory in the first batch");
        assert_eq!(inventory[0].attrs["hostname"], "fixture-host");
        assert!(batch.series.iter().any(|s| s.metric == names::CPU_SECONDS));

        let identity = Identity {
            host_id: batch.agent.host_id.clone(),
            hostname: String::new(),
            labels: Default::default(),
        };
        let phase = identity.phase_ms(1_000) as i64;
        for series in &batch.series {
            for point in &series.points {
                assert_eq!(
                    (point.ts - phase).rem_euclid(1_000),
                    0,
                    "{} at {}",
                    series.metric,
                    point.ts
                );
            }
        }
    }
}
