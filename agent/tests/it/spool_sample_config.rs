//! The packaged sample configuration (`packaging/agent.toml`) parses, validates, equals
//! the defaults, and documents every shipper, spool and metrics key.

use harbinger_agent::AgentConfig;
use std::path::Path;

#[test]
fn the_sample_config_is_valid_and_documents_every_delivery_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/agent.toml");
    let text = std::fs::read_to_string(&path).expect("sample config");
    let config = AgentConfig::from_toml(&text, &path).expect("parses");
    config.validate().expect("valid");
    assert_eq!(
        config,
        AgentConfig::default(),
        "the sample shows the defaults"
    );
    for key in [
        "collector_urls",
        "interval",
        "state_dir",
        "host_id",
        "hostname",
        "[labels]",
        "procfs",
        "sysfs",
        "rootfs",
        "timeout",
        "max_queue_batches",
        "max_batch_records",
        "max_batch_bytes",
        "max_batch_age",
        "backoff_initial",
        "backoff_max",
        "flush_timeout",
        "failback_interval",
        "max_bytes",
        "segment_bytes",
        "when_full",
        "fsync",
        "listen",
    ] {
        assert!(
            text.contains(key),
            "{key} is not documented in {}",
            path.display()
        );
    }
}
