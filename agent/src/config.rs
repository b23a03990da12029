//! Agent configuration: a TOML file with defaults for every key, environment overrides
//! and a `validate()` step whose errors name the offending key.

use crate::duration::{self, format_duration, parse_duration};
use crate::host_paths::HostPaths;
use harbinger_shared::catalogue::is_valid_label_name;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable overriding `collector_urls` (comma-separated for several).
pub const ENV_COLLECTOR_URL: &str = "HARBINGER_AGENT_COLLECTOR_URL";
/// Environment variable overriding `interval`.
pub const ENV_INTERVAL: &str = "HARBINGER_AGENT_INTERVAL";
/// Environment variable overriding `state_dir`.
pub const ENV_STATE_DIR: &str = "HARBINGER_AGENT_STATE_DIR";

/// The whole agent configuration (`agent.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Collector base URLs, tried in order; on failure the shipper moves to the next.
    pub collector_urls: Vec<String>,
    /// Base collection interval. Timestamps are aligned to it.
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
    /// Where the agent keeps its state (the persisted sequence number).
    pub state_dir: PathBuf,
    /// Overrides the host id derived from `/etc/machine-id`.
    pub host_id: Option<String>,
    /// Overrides the hostname read from the kernel.
    pub hostname: Option<String>,
    /// Operator labels (`site`, `rack`, `role`, `chassis`, `pdu`…) sent with every batch.
    pub labels: BTreeMap<String, String>,
    /// Roots of the host filesystems (tests and containers change them).
    pub paths: HostPaths,
    pub shipper: ShipperConfig,
    /// The disk spool that holds data until a collector acknowledges it (`[spool]`).
    pub spool: crate::spool::SpoolConfig,
    /// The optional local Prometheus endpoint (`[metrics]`).
    pub metrics: crate::self_metrics::MetricsConfig,
    /// ECC memory error counts from EDAC (`[edac]`).
    pub edac: crate::collectors::edac::EdacConfig,
    /// Fans, temperatures, voltages from hwmon (`[hwmon]`).
    pub hwmon: crate::collectors::hwmon::HwmonConfig,
    /// Kernel hardware-error messages from /dev/kmsg (`[kernel]`).
    pub kernel: crate::collectors::kernel::KernelConfig,
    /// Reboot detection and classification (`[reboot]`).
    pub reboot: crate::collectors::reboot::RebootConfig,
    /// Hardware inventory: DMI, CPU, DIMMs, NICs (`[inventory]`).
    pub inventory: crate::collectors::inventory::InventoryConfig,
    /// Disk health from smartctl (`[smart]`).
    pub smart: crate::collectors::smart::config::SmartConfig,
    /// BMC sensors and SEL, in-band and over RMCP+ (`[ipmi]`).
    pub ipmi: crate::collectors::ipmi::config::IpmiConfig,
}

/// How batches are delivered.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShipperConfig {
    /// Timeout of one HTTP request, connection included.
    #[serde(deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// How many cycles may wait in memory for the disk spool (only while it cannot be
    /// written); beyond that the oldest is dropped and counted.
    pub max_queue_batches: usize,
    /// Most spool records (cycles) merged into one batch, e.g. when replaying a backlog.
    pub max_batch_records: usize,
    /// Most decoded JSON bytes in one batch (the collector refuses bodies above its
    /// `ingest.max_decompressed_bytes`).
    pub max_batch_bytes: usize,
    /// How long a partial batch may wait for more records; 0 sends each as it comes.
    #[serde(deserialize_with = "duration::deserialize")]
    pub max_batch_age: Duration,
    /// While shipping to a fallback collector, how often the first one is tried again.
    #[serde(deserialize_with = "duration::deserialize")]
    pub failback_interval: Duration,
    /// First retry delay; doubles per attempt up to `backoff_max`, with full jitter.
    #[serde(deserialize_with = "duration::deserialize")]
    pub backoff_initial: Duration,
    #[serde(deserialize_with = "duration::deserialize")]
    pub backoff_max: Duration,
    /// How long the agent keeps trying to deliver queued batches after being told to stop.
    #[serde(deserialize_with = "duration::deserialize")]
    pub flush_timeout: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            collector_urls: vec!["http://127.0.0.1:8080".to_owned()],
            interval: Duration::from_secs(10),
            state_dir: PathBuf::from("/var/lib/harbinger-agent"),
            host_id: None,
            hostname: None,
            labels: BTreeMap::new(),
            paths: HostPaths::default(),
            shipper: ShipperConfig::default(),
            spool: Default::default(),
            metrics: Default::default(),
            edac: Default::default(),
            hwmon: Default::default(),
            kernel: Default::default(),
            reboot: Default::default(),
            inventory: Default::default(),
            smart: Default::default(),
            ipmi: Default::default(),
        }
    }
}

impl Default for ShipperConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_queue_batches: 8,
            max_batch_records: 500,
            max_batch_bytes: 4 << 20,
            max_batch_age: Duration::ZERO,
            failback_interval: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            flush_timeout: Duration::from_secs(2),
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl AgentConfig {
    /// Reads the file (or starts from defaults when `path` is `None`), applies the
    /// process environment's overrides and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::from_toml(&text, path)?
            }
            None => Self::default(),
        };
        config.apply_env(|var| std::env::var(var).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text; `origin` only names the source in errors. Does not validate.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: origin.to_owned(),
            message: err.to_string().trim_end().to_owned(),
        })
    }

    /// Applies environment overrides through `lookup`, so tests need not touch the
    /// process environment.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(urls) = lookup(ENV_COLLECTOR_URL) {
            self.collector_urls = urls
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
            if self.collector_urls.is_empty() {
                return Err(ConfigError::Env {
                    var: ENV_COLLECTOR_URL,
                    message: "is set but names no URL".into(),
                });
            }
        }
        if let Some(interval) = lookup(ENV_INTERVAL) {
            self.interval = parse_duration(&interval).map_err(|err| ConfigError::Env {
                var: ENV_INTERVAL,
                message: err.to_string(),
            })?;
        }
        if let Some(dir) = lookup(ENV_STATE_DIR) {
            self.state_dir = PathBuf::from(dir);
        }
        Ok(())
    }

    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.collector_urls.is_empty() {
            return Err(invalid(
                "collector_urls",
                "must name at least one collector",
            ));
        }
        for (i, url) in self.collector_urls.iter().enumerate() {
            let key = || format!("collector_urls[{i}]");
            let parsed = reqwest::Url::parse(url)
                .map_err(|err| invalid(key(), format!("{url:?} is not a URL: {err}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(invalid(
                    key(),
                    format!("{url:?} must be an http:// or https:// URL with a host"),
                ));
            }
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err(invalid(
                    key(),
                    format!("{url:?} must not have a query or fragment"),
                ));
            }
        }
        check_range(
            "interval",
            self.interval,
            // Sub-second intervals are for tests and demos (outage and crash tests run
            // hundreds of cycles); production hosts use seconds.
            Duration::from_millis(10),
            Duration::from_secs(3600),
        )?;
        if self.state_dir.as_os_str().is_empty() {
            return Err(invalid("state_dir", "must not be empty"));
        }
        if let Some(host_id) = &self.host_id {
            if host_id.trim().is_empty() || host_id.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "host_id",
                    "must be non-empty and contain no whitespace",
                ));
            }
        }
        if let Some(hostname) = &self.hostname {
            if hostname.trim().is_empty() {
                return Err(invalid("hostname", "must not be empty"));
            }
        }
        for (name, value) in &self.labels {
            if !is_valid_label_name(name) {
                return Err(invalid(
                    format!("labels.{name}"),
                    "invalid label name (expected [a-zA-Z_][a-zA-Z0-9_]*)",
                ));
            }
            if value.is_empty() {
                return Err(invalid(format!("labels.{name}"), "must not be empty"));
            }
        }
        for (key, path) in [
            ("paths.procfs", &self.paths.procfs),
            ("paths.sysfs", &self.paths.sysfs),
            ("paths.rootfs", &self.paths.rootfs),
        ] {
            if path.as_os_str().is_empty() {
                return Err(invalid(key, "must not be empty"));
            }
        }
        let shipper = &self.shipper;
        check_range(
            "shipper.timeout",
            shipper.timeout,
            Duration::from_millis(100),
            Duration::from_secs(600),
        )?;
        if shipper.max_queue_batches == 0 {
            return Err(invalid("shipper.max_queue_batches", "must be at least 1"));
        }
        check_range(
            "shipper.backoff_initial",
            shipper.backoff_initial,
            Duration::from_millis(10),
            Duration::from_secs(600),
        )?;
        if shipper.backoff_max < shipper.backoff_initial {
            return Err(invalid(
                "shipper.backoff_max",
                format!(
                    "must be at least shipper.backoff_initial ({})",
                    format_duration(shipper.backoff_initial)
                ),
            ));
        }
        check_range(
            "shipper.backoff_max",
            shipper.backoff_max,
            Duration::from_millis(10),
            Duration::from_secs(3600),
        )?;
        check_range(
            "shipper.flush_timeout",
            shipper.flush_timeout,
            Duration::ZERO,
            Duration::from_secs(300),
        )?;
        if shipper.max_batch_records == 0 {
            return Err(invalid("shipper.max_batch_records", "must be at least 1"));
        }
        if shipper.max_batch_bytes < 4096 {
            return Err(invalid("shipper.max_batch_bytes", "must be at least 4096"));
        }
        check_range(
            "shipper.max_batch_age",
            shipper.max_batch_age,
            Duration::ZERO,
            Duration::from_secs(600),
        )?;
        check_range(
            "shipper.failback_interval",
            shipper.failback_interval,
            Duration::from_millis(100),
            Duration::from_secs(86_400),
        )?;
        self.spool
            .validate()
            .and_then(|()| self.metrics.validate())
            .map_err(|(key, message)| invalid(key, message))?;
        self.edac.validate("edac")?;
        self.hwmon.validate("hwmon")?;
        self.kernel.validate("kernel")?;
        self.reboot.validate("reboot")?;
        self.inventory.validate("inventory")?;
        self.smart.validate()?;
        self.ipmi.validate()?;
        Ok(())
    }
}

pub(crate) fn check_range(
    key: &str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if value < min {
        return Err(invalid(
            key,
            format!("must be at least {}", format_duration(min)),
        ));
    }
    if value > max {
        return Err(invalid(
            key,
            format!("must be at most {}", format_duration(max)),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AgentConfig, ConfigError> {
        let config = AgentConfig::from_toml(text, Path::new("agent.toml"))?;
        config.validate()?;
        Ok(config)
    }

    fn invalid_key(text: &str) -> String {
        match parse(text) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid-key error, got {other:?}"),
        }
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("").expect("defaults are valid");
        assert_eq!(config, AgentConfig::default());
        assert_eq!(config.interval, Duration::from_secs(10));
        assert_eq!(config.shipper.max_queue_batches, 8);
        assert_eq!(config.collector_urls, ["http://127.0.0.1:8080"]);
    }

    #[test]
    fn full_file_parses() {
        let config = parse(
            r#"
            collector_urls = ["http://c1:8080", "https://c2/base/"]
            interval = "5ms"
            state_dir = "/tmp/agent"
            host_id = "abc"
            hostname = "db-17"
            labels = { site = "ams1", rack = "r12" }
            [paths]
            procfs = "/host/proc"
            [shipper]
            timeout = "3s"
            max_queue_batches = 5
            backoff_initial = "100ms"
            backoff_max = "5s"
            flush_timeout = "1s"
            "#,
        );
        // 5ms is below the 10ms floor: the error names the key.
        match config {
            Err(ConfigError::Invalid { key, message }) => {
                assert_eq!(key, "interval");
                assert_eq!(message, "must be at least 10ms");
            }
            other => panic!("unexpected {other:?}"),
        }
        let config = parse(
            r#"
            collector_urls = ["http://c1:8080", "https://c2/base/"]
            interval = "30s"
            labels = { site = "ams1", rack = "r12" }
            [paths]
            procfs = "/host/proc"
            [shipper]
            max_queue_batches = 5
            "#,
        )
        .expect("valid");
        assert_eq!(config.interval, Duration::from_secs(30));
        assert_eq!(config.labels.get("rack").map(String::as_str), Some("r12"));
        assert_eq!(config.paths.procfs, PathBuf::from("/host/proc"));
        assert_eq!(config.paths.sysfs, PathBuf::from("/sys"));
        assert_eq!(config.shipper.max_queue_batches, 5);
        assert_eq!(config.shipper.timeout, Duration::from_secs(10));
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = parse("colector_urls = []").expect_err("typo must fail");
        assert!(err.to_string().contains("colector_urls"), "{err}");
        let err = parse("[shipper]\nretries = 3").expect_err("unknown nested key");
        assert!(err.to_string().contains("retries"), "{err}");
        let err = parse("interval = \"ten\"").expect_err("bad duration");
        assert!(err.to_string().contains("ten"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_key() {
        assert_eq!(invalid_key("collector_urls = []"), "collector_urls");
        assert_eq!(
            invalid_key(r#"collector_urls = ["http://a", "ftp://b"]"#),
            "collector_urls[1]"
        );
        assert_eq!(
            invalid_key(r#"collector_urls = ["not a url"]"#),
            "collector_urls[0]"
        );
        assert_eq!(invalid_key(r#"interval = "2h""#), "interval");
        assert_eq!(invalid_key(r#"host_id = " ""#), "host_id");
        assert_eq!(
            invalid_key(r#"labels = { "rack-1" = "x" }"#),
            "labels.rack-1"
        );
        assert_eq!(
            invalid_key("[shipper]\nmax_queue_batches = 0"),
            "shipper.max_queue_batches"
        );
        assert_eq!(
            invalid_key("[shipper]\nbackoff_initial = \"10s\"\nbackoff_max = \"1s\""),
            "shipper.backoff_max"
        );
        assert_eq!(invalid_key("[paths]\nprocfs = \"\""), "paths.procfs");
    }

    #[test]
    fn environment_overrides_win_and_name_the_variable() {
        let mut config = AgentConfig::default();
        config
            .apply_env(|var| match var {
                ENV_COLLECTOR_URL => Some("http://a:1, http://b:2".into()),
                ENV_INTERVAL => Some("1m".into()),
                _ => None,
            })
            .expect("valid overrides");
        assert_eq!(config.collector_urls, ["http://a:1", "http://b:2"]);
        assert_eq!(config.interval, Duration::from_secs(60));

        let err = AgentConfig::default()
            .apply_env(|var| (var == ENV_INTERVAL).then(|| "soon".to_owned()))
            .expect_err("bad interval");
        assert!(err.to_string().contains(ENV_INTERVAL), "{err}");
    }

    #[test]
    fn load_names_a_missing_file() {
        let err = AgentConfig::load(Some(Path::new("/nonexistent/agent.toml")))
            .expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/agent.toml"), "{err}");
    }
}
