//! The collector's configuration: a TOML file, environment overrides, defaults, and a
//! `validate()` step whose errors name the offending key.
//!
//! Every section denies unknown keys, so a typo is an error at start-up rather than a
//! silently ignored setting. Notifier header values may hold credentials and are
//! redacted from `Debug` output (and therefore from logs).

use crate::duration::HumanDuration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why a configuration could not be loaded or is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A key holds a value the collector cannot run with.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The whole collector configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Address the HTTP API and dashboard listen on.
    pub listen: String,
    /// Directory for the embedded SQLite database and other local state.
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL; `sqlite://path` or a path selects SQLite.
    /// Defaults to `<data_dir>/harbinger.db`.
    pub database_url: Option<Secret>,
    /// Base URL of the dashboard as people reach it, used for links in notifications.
    /// Defaults to `http://<listen>/`.
    pub public_url: Option<String>,
    pub ingest: IngestConfig,
    pub detectors: DetectorsConfig,
    /// The analysis engine: its rule pack and how often its state is snapshotted.
    pub analysis: AnalysisConfig,
    pub notifiers: Vec<NotifierConfig>,
    /// Which incidents go to which notifiers (see `crate::routing`); empty sends every
    /// incident to every notifier.
    pub routes: Vec<RouteConfig>,
    pub outbox: OutboxConfig,
    /// Compaction, rollups and retention per tier.
    pub storage: StorageConfig,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            data_dir: PathBuf::from("./harbinger-data"),
            database_url: None,
            public_url: None,
            ingest: IngestConfig::default(),
            detectors: DetectorsConfig::default(),
            analysis: AnalysisConfig::default(),
            notifiers: Vec::new(),
            routes: Vec::new(),
            outbox: OutboxConfig::default(),
            storage: StorageConfig::default(),
        }
    }
}

/// Compaction of the batch log into chunks and rollups, and retention per tier.
///
/// Windows are compacted once they are older than `ingest.hot_window` (the batch log
/// is what rebuilds the hot cache at start-up, so it must still hold that window).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// How long raw samples (the chunk tier) are kept.
    pub raw_retention: HumanDuration,
    /// How long 5-minute rollups are kept.
    pub rollup_5m_retention: HumanDuration,
    /// How long hourly rollups are kept.
    pub rollup_1h_retention: HumanDuration,
    /// How often the compactor looks for closed windows (and applies retention).
    pub compact_interval: HumanDuration,
    /// Batches per compaction transaction: bounds how long one holds the writer.
    pub compact_batches: i64,
    /// How long a compacted batch's key is kept to recognise a replay as a duplicate.
    pub dedup_window: HumanDuration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            raw_retention: HumanDuration::from_secs(30 * 86_400),
            rollup_5m_retention: HumanDuration::from_secs(365 * 86_400),
            rollup_1h_retention: HumanDuration::from_secs(5 * 365 * 86_400),
            compact_interval: HumanDuration::from_secs(60),
            compact_batches: 512,
            dedup_window: HumanDuration::from_secs(7 * 86_400),
        }
    }
}

impl StorageConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let day = std::time::Duration::from_secs(86_400);
        if self.raw_retention.as_duration() < day {
            return Err(invalid("storage.raw_retention", "must be at least 1d"));
        }
        if self.rollup_5m_retention < self.raw_retention {
            return Err(invalid(
                "storage.rollup_5m_retention",
                "must be at least storage.raw_retention",
            ));
        }
        if self.rollup_1h_retention < self.rollup_5m_retention {
            return Err(invalid(
                "storage.rollup_1h_retention",
                "must be at least storage.rollup_5m_retention",
            ));
        }
        if self.compact_interval.as_duration() < std::time::Duration::from_millis(10) {
            return Err(invalid("storage.compact_interval", "must be at least 10ms"));
        }
        if !(1..=100_000).contains(&self.compact_batches) {
            return Err(invalid(
                "storage.compact_batches",
                "must be between 1 and 100000",
            ));
        }
        if self.dedup_window.as_duration().is_zero() {
            return Err(invalid("storage.dedup_window", "must be more than 0s"));
        }
        Ok(())
    }
}

/// Limits and time policy for `POST /api/v1/ingest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest request body as received (compressed), in bytes.
    pub max_body_bytes: usize,
    /// Largest body after zstd decompression, in bytes.
    pub max_decompressed_bytes: usize,
    /// Samples or events further than this ahead of the collector's clock are refused.
    pub max_future_skew: HumanDuration,
    /// Samples or events older than this are refused; anything younger is valid history.
    pub history_horizon: HumanDuration,
    /// How much recent data is kept in memory for fast queries.
    pub hot_window: HumanDuration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 << 20,
            max_decompressed_bytes: 64 << 20,
            max_future_skew: HumanDuration::from_secs(5 * 60),
            history_horizon: HumanDuration::from_secs(400 * 86_400),
            hot_window: HumanDuration::from_secs(6 * 3_600),
        }
    }
}

/// Settings of the built-in detectors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorsConfig {
    /// A filesystem fuller than this ratio opens a `filesystem_full` incident.
    pub filesystem_full_ratio: f64,
    /// A host is silent after this many of its own intervals without a batch.
    pub silent_intervals: u32,
    /// How often hosts are checked for silence (wall clock).
    pub silence_check_interval: HumanDuration,
}

impl Default for DetectorsConfig {
    fn default() -> Self {
        Self {
            filesystem_full_ratio: 0.9,
            silent_intervals: 3,
            silence_check_interval: HumanDuration::from_secs(1),
        }
    }
}

/// One notification target: the fields every notifier has, plus the type-specific
/// part selected by the `type` key. Unknown keys are refused by the typed part (serde
/// cannot deny unknown fields on a struct that flattens another).
#[derive(Debug, Clone, Deserialize)]
pub struct NotifierConfig {
    /// Unique name; outbox rows and ticket references refer to their notifier by it.
    pub name: String,
    /// Timeout of each HTTP request to the service desk.
    #[serde(default = "default_notifier_timeout")]
    pub timeout: HumanDuration,
    /// Most deliveries per minute through this notifier; further rows wait in the
    /// outbox. PagerDuty documents about 120 events per minute per routing key.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    #[serde(flatten)]
    pub kind: NotifierKind,
}

/// The type-specific part of a notifier.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotifierKind {
    Webhook(WebhookConfig),
    /// Request Tracker 5 through its REST2 API.
    #[serde(alias = "rt")]
    RequestTracker(RtConfig),
    /// PagerDuty Events API v2.
    #[serde(rename = "pagerduty")]
    PagerDuty(PagerDutyConfig),
    /// ServiceNow incidents through the Table API.
    #[serde(rename = "servicenow")]
    ServiceNow(ServiceNowConfig),
    /// Jira Cloud REST v3 (also Jira Service Management projects).
    Jira(JiraConfig),
}

impl NotifierConfig {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `type` as written in the configuration.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NotifierKind::Webhook(_) => "webhook",
            NotifierKind::RequestTracker(_) => "request_tracker",
            NotifierKind::PagerDuty(_) => "pagerduty",
            NotifierKind::ServiceNow(_) => "servicenow",
            NotifierKind::Jira(_) => "jira",
        }
    }

    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.timeout.as_duration().is_zero() {
            return Err(invalid(format!("{key}.timeout"), "must be more than 0s"));
        }
        if self.rate_limit_per_minute == Some(0) {
            return Err(invalid(
                format!("{key}.rate_limit_per_minute"),
                "must be at least 1 when set",
            ));
        }
        match &self.kind {
            NotifierKind::Webhook(w) => w.validate(key),
            NotifierKind::RequestTracker(rt) => rt.validate(key),
            NotifierKind::PagerDuty(pd) => pd.validate(key),
            NotifierKind::ServiceNow(sn) => sn.validate(key),
            NotifierKind::Jira(jira) => jira.validate(key),
        }
    }
}

/// A generic JSON webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Extra request headers, typically `Authorization`. Values are secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// The body: Harbinger's own notification JSON, Alertmanager's v4 webhook JSON (so
    /// existing Alertmanager bridges work unchanged), or a minijinja template.
    #[serde(default)]
    pub format: WebhookFormat,
    /// The minijinja template of the body when `format = "template"`.
    #[serde(default)]
    pub template: Option<String>,
    /// `Content-Type` of a templated body.
    #[serde(default = "default_template_content_type")]
    pub content_type: String,
    /// When set, every request carries `X-Harbinger-Timestamp` and
    /// `X-Harbinger-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
    #[serde(default)]
    pub hmac_secret: Option<Secret>,
}

/// The body format of a generic webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    #[default]
    Harbinger,
    Alertmanager,
    Template,
}

fn default_template_content_type() -> String {
    "application/json".to_owned()
}

/// PagerDuty Events API v2: one alert per incident occurrence, keyed by `dedup_key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The enqueue endpoint; the EU service region is `https://events.eu.pagerduty.com/v2/enqueue`.
    #[serde(default = "default_pagerduty_url")]
    pub url: String,
    /// The integration key of an "Events API v2" integration (the only credential).
    pub routing_key: Secret,
    /// Host label whose value becomes `payload.group` (e.g. the rack).
    #[serde(default = "default_group_label")]
    pub group_label: String,
}

fn default_pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".to_owned()
}

fn default_group_label() -> String {
    "rack".to_owned()
}

/// ServiceNow incidents through the Table API, with optional two-way sync by polling.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowConfig {
    /// The instance base, e.g. `https://acme.service-now.com`.
    pub url: String,
    /// Basic auth user (an integration user with the `itil` role); or use `token`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// An OAuth bearer token, instead of `username`/`password`.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The table incidents are written to.
    #[serde(default = "default_servicenow_table")]
    pub table: String,
    /// `assignment_group` (a group name or sys_id).
    #[serde(default)]
    pub assignment_group: Option<String>,
    /// `caller_id` (a user name or sys_id); often mandatory by instance policy.
    #[serde(default)]
    pub caller: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// The `state` value that means resolved (6 in the Helsinki+ state model).
    #[serde(default = "default_servicenow_resolve_state")]
    pub resolve_state: String,
    /// `close_code` on resolve; choices vary by release and customisation.
    #[serde(default = "default_servicenow_close_code")]
    pub close_code: String,
    /// Text before the resolution reason in `close_notes`.
    #[serde(default = "default_servicenow_close_notes")]
    pub close_notes: String,
    /// Close codes a person uses for "won't fix": the component is silenced.
    #[serde(default = "default_servicenow_wont_fix_codes")]
    pub wont_fix_close_codes: Vec<String>,
    /// How often open incidents are polled for changes made by people; unset disables
    /// the two-way sync.
    #[serde(default)]
    pub sync_interval: Option<HumanDuration>,
    /// How long a component stays silenced after "won't fix" or a canceled incident.
    #[serde(default = "default_wont_fix_silence")]
    pub wont_fix_silence: HumanDuration,
}

fn default_servicenow_table() -> String {
    "incident".to_owned()
}

fn default_servicenow_resolve_state() -> String {
    "6".to_owned()
}

fn default_servicenow_close_code() -> String {
    "Solution provided".to_owned()
}

fn default_servicenow_close_notes() -> String {
    "Resolved by Harbinger:".to_owned()
}

fn default_servicenow_wont_fix_codes() -> Vec<String> {
    vec![
        "Not Solved (Not Reproducible)".to_owned(),
        "No resolution provided".to_owned(),
    ]
}

/// Jira Cloud REST v3 issues (also Jira Service Management projects).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// The site, e.g. `https://acme.atlassian.net`.
    pub url: String,
    /// Basic auth e-mail with `api_token`; or `bearer_token` alone.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub api_token: Option<Secret>,
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// The project key, e.g. `OPS`.
    pub project: String,
    #[serde(default = "default_jira_issue_type")]
    pub issue_type: String,
    /// Labels put on every issue besides the fingerprint.
    #[serde(default = "default_jira_labels")]
    pub labels: Vec<String>,
    /// Severity → priority name; unset severities leave the project default.
    #[serde(default)]
    pub priorities: BTreeMap<String, String>,
    /// Comments are internal (agent-only) in a Jira Service Management project.
    #[serde(default)]
    pub internal_comments: bool,
    /// A resolution to set with the done transition (only if its screen has the field).
    #[serde(default)]
    pub resolution: Option<String>,
}

fn default_jira_issue_type() -> String {
    "Task".to_owned()
}

fn default_jira_labels() -> Vec<String> {
    vec!["harbinger".to_owned()]
}

/// One node of the routing tree (see `crate::routing`). Matchers are ANDed; each lists
/// accepted values (ORed). A route without matchers matches everything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    /// Shown in logs and used by `notify-test <route>`; defaults to its position.
    pub name: Option<String>,
    /// Incident severities this route takes (`info`, `warning`, `error`, `critical`).
    pub severity: Vec<String>,
    /// Component kinds (`disk`, `memory`, `filesystem`, …); `host` for incidents without one.
    pub component_kind: Vec<String>,
    /// Host labels that must have one of the listed values.
    pub labels: BTreeMap<String, Vec<String>>,
    /// Notifiers of this route; empty inherits the parent's.
    pub notifiers: Vec<String>,
    /// Keep evaluating the following sibling routes after this one matched.
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    /// Host labels whose equal values make incidents share one ticket (e.g. `rack`).
    pub group_by: Option<Vec<String>>,
    /// Re-notify an open incident when nothing changed for this long (event time).
    pub repeat_interval: Option<HumanDuration>,
    /// Raise the severity of an incident open longer than this (event time).
    pub escalate_after: Option<HumanDuration>,
    /// Raise the severity when the incident's group reaches this many open incidents.
    pub escalate_group_size: Option<usize>,
    /// The severity escalation raises to.
    pub escalate_to: Option<String>,
    /// Child routes; the deepest match decides, the parent applies when none matches.
    pub routes: Vec<RouteConfig>,
}

/// Request Tracker 5 (REST2): one ticket per incident in `queue`, found again after a
/// restart by the fingerprint custom field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtConfig {
    /// The REST2 base, e.g. `https://rt.example/REST/2.0`.
    pub url: String,
    /// An RT auth token (`Authorization: token …`).
    pub token: Secret,
    pub queue: String,
    /// Ticket custom field holding the incident fingerprint (must exist in the queue).
    #[serde(default = "default_rt_fingerprint_field")]
    pub fingerprint_field: String,
    /// Ticket custom field holding the host name; empty to not set it.
    #[serde(default = "default_rt_host_field")]
    pub host_field: String,
    /// Optional ticket custom field a person fills with a resolution code ("disk
    /// replaced"); read by the two-way sync as the outcome.
    #[serde(default)]
    pub resolution_field: Option<String>,
    /// How often open tickets are polled for changes made by people; unset disables the
    /// two-way sync.
    #[serde(default)]
    pub sync_interval: Option<HumanDuration>,
    /// How long a component stays silenced after its ticket is rejected ("won't fix").
    #[serde(default = "default_wont_fix_silence")]
    pub wont_fix_silence: HumanDuration,
}

fn default_rt_fingerprint_field() -> String {
    "Fingerprint".to_owned()
}

fn default_rt_host_field() -> String {
    "Host".to_owned()
}

fn default_wont_fix_silence() -> HumanDuration {
    HumanDuration::from_secs(7 * 86_400)
}

fn default_notifier_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

/// Delivery pacing of the notification outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// The worker looks for due rows at least this often, even when not woken.
    pub poll_interval: HumanDuration,
    /// First retry delay; doubles per attempt, with full jitter.
    pub backoff_initial: HumanDuration,
    /// Ceiling of the retry delay.
    pub backoff_max: HumanDuration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            poll_interval: HumanDuration::from_secs(1),
            backoff_initial: HumanDuration::from_secs(1),
            backoff_max: HumanDuration::from_secs(5 * 60),
        }
    }
}

/// A string that must not appear in logs: `Debug` prints `"<redacted>"`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl CollectorConfig {
    /// Reads a TOML file (or starts from defaults when `path` is `None`), then applies
    /// the `HARBINGER_*` environment overrides. Call [`validate`](Self::validate) after.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::from_toml(&text).map_err(|message| ConfigError::Parse {
                    path: path.to_owned(),
                    message,
                })?
            }
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok());
        Ok(config)
    }

    /// Parses TOML text; the error is toml's message, which names the key and line.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `HARBINGER_LISTEN`, `HARBINGER_DATA_DIR` and `HARBINGER_DATABASE_URL`.
    /// The lookup is a parameter so tests need not touch the process environment.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        if let Some(listen) = lookup("HARBINGER_LISTEN") {
            self.listen = listen;
        }
        if let Some(dir) = lookup("HARBINGER_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        if let Some(url) = lookup("HARBINGER_DATABASE_URL") {
            self.database_url = Some(Secret::new(url));
        }
    }

    /// The store URL: the configured one, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => self
                .data_dir
                .join("harbinger.db")
                .to_string_lossy()
                .into_owned(),
        }
    }

    /// Whether the store lives in the data directory (so the directory must exist).
    pub fn uses_embedded_store(&self) -> bool {
        !self
            .database_url()
            .to_ascii_lowercase()
            .starts_with("postgres")
    }

    /// The listen address, parsed. Only valid after [`validate`](Self::validate).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| {
            invalid(
                "listen",
                format!(
                    "{:?} is not an address like 127.0.0.1:8080: {e}",
                    self.listen
                ),
            )
        })
    }

    /// The base URL for dashboard links, always ending in `/`.
    pub fn public_url(&self) -> String {
        let base = match &self.public_url {
            Some(url) => url.clone(),
            None => format!("http://{}/", self.listen),
        };
        if base.ends_with('/') {
            base
        } else {
            format!("{base}/")
        }
    }

    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        if let Some(url) = &self.database_url {
            if url.expose().trim().is_empty() {
                return Err(invalid("database_url", "must not be empty when set"));
            }
        }
        if let Some(url) = &self.public_url {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| invalid("public_url", format!("{url:?} is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid("public_url", "must be an http:// or https:// URL"));
            }
        }
        self.ingest.validate()?;
        self.detectors.validate()?;
        self.analysis.validate()?;
        self.outbox.validate()?;
        self.storage.validate()?;
        let mut names = std::collections::BTreeSet::new();
        for (index, notifier) in self.notifiers.iter().enumerate() {
            let key = format!("notifiers[{index}]");
            if notifier.name().trim().is_empty() {
                return Err(invalid(format!("{key}.name"), "must not be empty"));
            }
            if !names.insert(notifier.name()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("{:?} is used by another notifier", notifier.name()),
                ));
            }
            notifier.validate(&key)?;
        }
        let known: Vec<&str> = self.notifiers.iter().map(NotifierConfig::name).collect();
        let mut route_names = std::collections::BTreeSet::new();
        for (index, route) in self.routes.iter().enumerate() {
            let key = format!("routes[{index}]");
            route.validate(&key, &known)?;
            if let Some(name) = &route.name {
                if !route_names.insert(name.as_str()) {
                    return Err(invalid(
                        format!("{key}.name"),
                        format!("{name:?} is used by another route"),
                    ));
                }
            }
        }
        // Nothing may fall through the tree unnoticed: the last route is the default.
        if let Some(last) = self.routes.last() {
            if last.has_matchers() {
                return Err(invalid(
                    format!("routes[{}]", self.routes.len() - 1),
                    "the last route is the default route and must have no matchers",
                ));
            }
        }
        Ok(())
    }
}

impl IngestConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes < 1024 {
            return Err(invalid("ingest.max_body_bytes", "must be at least 1024"));
        }
        if self.max_decompressed_bytes < self.max_body_bytes {
            return Err(invalid(
                "ingest.max_decompressed_bytes",
                "must be at least ingest.max_body_bytes",
            ));
        }
        if self.history_horizon.as_duration().is_zero() {
            return Err(invalid("ingest.history_horizon", "must be more than 0s"));
        }
        if self.hot_window.as_duration() < std::time::Duration::from_secs(1) {
            return Err(invalid("ingest.hot_window", "must be at least 1s"));
        }
        if self.hot_window > self.history_horizon {
            return Err(invalid(
                "ingest.hot_window",
                "must not exceed ingest.history_horizon",
            ));
        }
        Ok(())
    }
}

/// The analysis engine (`harbinger-engine`) inside the collector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// A rule-pack override file (same shape as the engine's default pack; rules merge by
    /// `id`). Every key it changes is written to the audit log at start-up.
    pub rules: Option<PathBuf>,
    /// How often the engine's state is snapshotted to the store (also on shutdown).
    pub snapshot_every: HumanDuration,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            rules: None,
            snapshot_every: HumanDuration::from_secs(300),
        }
    }
}

impl AnalysisConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(path) = &self.rules {
            if path.as_os_str().is_empty() {
                return Err(invalid("analysis.rules", "must not be empty when set"));
            }
        }
        if self.snapshot_every.as_duration() < std::time::Duration::from_secs(1) {
            return Err(invalid("analysis.snapshot_every", "must be at least 1s"));
        }
        Ok(())
    }
}

impl DetectorsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let ratio = self.filesystem_full_ratio;
        if !(ratio > 0.0 && ratio <= 1.0) {
            return Err(invalid(
                "detectors.filesystem_full_ratio",
                format!("must be in (0, 1], got {ratio}"),
            ));
        }
        if self.silent_intervals == 0 {
            return Err(invalid("detectors.silent_intervals", "must be at least 1"));
        }
        if self.silence_check_interval.as_duration() < std::time::Duration::from_millis(10) {
            return Err(invalid(
                "detectors.silence_check_interval",
                "must be at least 10ms",
            ));
        }
        Ok(())
    }
}

impl OutboxConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.poll_interval.as_duration() < std::time::Duration::from_millis(10) {
            return Err(invalid("outbox.poll_interval", "must be at least 10ms"));
        }
        if self.backoff_initial.as_duration().is_zero() {
            return Err(invalid("outbox.backoff_initial", "must be more than 0s"));
        }
        if self.backoff_max < self.backoff_initial {
            return Err(invalid(
                "outbox.backoff_max",
                "must be at least outbox.backoff_initial",
            ));
        }
        Ok(())
    }
}

impl WebhookConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| {
            invalid(
                format!("{key}.url"),
                format!("{:?} is not a URL: {e}", self.url),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(
                format!("{key}.url"),
                "must be an http:// or https:// URL",
            ));
        }
        for (name, value) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(invalid(
                    format!("{key}.headers"),
                    format!("{name:?} is not a valid header name"),
                ));
            }
            // The value is a secret: say which header is wrong, never what it holds.
            if reqwest::header::HeaderValue::from_str(value.expose()).is_err() {
                return Err(invalid(
                    format!("{key}.headers.{name}"),
                    "is not a valid header value",
                ));
            }
        }
        match (self.format, &self.template) {
            (WebhookFormat::Template, None) => {
                return Err(invalid(
                    format!("{key}.template"),
                    "must be set when format = \"template\"",
                ))
            }
            (WebhookFormat::Template, Some(template)) => {
                crate::notify::template::compile(template)
                    .map_err(|e| invalid(format!("{key}.template"), e))?;
            }
            (_, Some(_)) => {
                return Err(invalid(
                    format!("{key}.template"),
                    "is only used with format = \"template\"",
                ))
            }
            (_, None) => {}
        }
        if reqwest::header::HeaderValue::from_str(&self.content_type).is_err() {
            return Err(invalid(
                format!("{key}.content_type"),
                "is not a valid header value",
            ));
        }
        if self
            .hmac_secret
            .as_ref()
            .is_some_and(|s| s.expose().is_empty())
        {
            return Err(invalid(
                format!("{key}.hmac_secret"),
                "must not be empty when set",
            ));
        }
        Ok(())
    }
}

impl RtConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        http_url(key, "url", &self.url)?;
        if self.token.expose().trim().is_empty() {
            return Err(invalid(format!("{key}.token"), "must not be empty"));
        }
        for (field, value) in [
            ("queue", &self.queue),
            ("fingerprint_field", &self.fingerprint_field),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(format!("{key}.{field}"), "must not be empty"));
            }
        }
        if let Some(interval) = self.sync_interval {
            if interval.as_duration() < std::time::Duration::from_millis(100) {
                return Err(invalid(
                    format!("{key}.sync_interval"),
                    "must be at least 100ms",
                ));
            }
        }
        Ok(())
    }
}

impl PagerDutyConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        http_url(key, "url", &self.url)?;
        if self.routing_key.expose().trim().is_empty() {
            return Err(invalid(format!("{key}.routing_key"), "must not be empty"));
        }
        Ok(())
    }
}

impl ServiceNowConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        http_url(key, "url", &self.url)?;
        match (&self.username, &self.password, &self.token) {
            (Some(user), Some(_), None) if !user.trim().is_empty() => {}
            (None, None, Some(token)) if !token.expose().trim().is_empty() => {}
            _ => {
                return Err(invalid(
                    format!("{key}.username"),
                    "set either username and password, or token",
                ))
            }
        }
        for (field, value) in [
            ("table", &self.table),
            ("resolve_state", &self.resolve_state),
            ("close_code", &self.close_code),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(format!("{key}.{field}"), "must not be empty"));
            }
        }
        if !self
            .table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(invalid(
                format!("{key}.table"),
                "must be a table name like incident",
            ));
        }
        if let Some(interval) = self.sync_interval {
            if interval.as_duration() < std::time::Duration::from_millis(100) {
                return Err(invalid(
                    format!("{key}.sync_interval"),
                    "must be at least 100ms",
                ));
            }
        }
        Ok(())
    }
}

impl JiraConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        http_url(key, "url", &self.url)?;
        match (&self.email, &self.api_token, &self.bearer_token) {
            (Some(email), Some(_), None) if !email.trim().is_empty() => {}
            (None, None, Some(token)) if !token.expose().trim().is_empty() => {}
            _ => {
                return Err(invalid(
                    format!("{key}.email"),
                    "set either email and api_token, or bearer_token",
                ))
            }
        }
        if self.project.trim().is_empty() || self.project.contains('"') {
            return Err(invalid(
                format!("{key}.project"),
                "must be a project key like OPS",
            ));
        }
        if self.issue_type.trim().is_empty() {
            return Err(invalid(format!("{key}.issue_type"), "must not be empty"));
        }
        // Jira labels cannot contain spaces.
        if let Some(bad) = self
            .labels
            .iter()
            .find(|l| l.is_empty() || l.contains(char::is_whitespace))
        {
            return Err(invalid(
                format!("{key}.labels"),
                format!("{bad:?} is not a label (no spaces)"),
            ));
        }
        for severity in self.priorities.keys() {
            if !SEVERITIES.contains(&severity.as_str()) {
                return Err(invalid(
                    format!("{key}.priorities.{severity}"),
                    format!("is not a severity ({})", SEVERITIES.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

/// Incident severities, lowest first.
pub const SEVERITIES: &[&str] = &["info", "warning", "error", "critical"];

impl RouteConfig {
    fn has_matchers(&self) -> bool {
        !self.severity.is_empty() || !self.component_kind.is_empty() || !self.labels.is_empty()
    }

    fn validate(&self, key: &str, notifiers: &[&str]) -> Result<(), ConfigError> {
        for severity in self.severity.iter().chain(self.escalate_to.iter()) {
            if !SEVERITIES.contains(&severity.as_str()) {
                let field = if self.escalate_to.as_ref() == Some(severity) {
                    "escalate_to"
                } else {
                    "severity"
                };
                return Err(invalid(
                    format!("{key}.{field}"),
                    format!("{severity:?} is not a severity ({})", SEVERITIES.join(", ")),
                ));
            }
        }
        for name in &self.notifiers {
            if !notifiers.contains(&name.as_str()) {
                return Err(invalid(
                    format!("{key}.notifiers"),
                    format!("{name:?} is not a configured notifier"),
                ));
            }
        }
        if (self.escalate_after.is_some() || self.escalate_group_size.is_some())
            && self.escalate_to.is_none()
        {
            return Err(invalid(
                format!("{key}.escalate_to"),
                "must be set when escalation is",
            ));
        }
        if self.escalate_group_size == Some(0) {
            return Err(invalid(
                format!("{key}.escalate_group_size"),
                "must be at least 1",
            ));
        }
        for (field, value) in [
            ("repeat_interval", self.repeat_interval),
            ("escalate_after", self.escalate_after),
        ] {
            if value.is_some_and(|d| d.as_duration().is_zero()) {
                return Err(invalid(format!("{key}.{field}"), "must be more than 0s"));
            }
        }
        for (index, child) in self.routes.iter().enumerate() {
            child.validate(&format!("{key}.routes[{index}]"), notifiers)?;
        }
        Ok(())
    }
}

/// Checks that `value` is an http(s) URL; the error names `<key>.<field>`.
fn http_url(key: &str, field: &str, value: &str) -> Result<(), ConfigError> {
    let url = reqwest::Url::parse(value).map_err(|e| {
        invalid(
            format!("{key}.{field}"),
            format!("{value:?} is not a URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            format!("{key}.{field}"),
            "must be an http:// or https:// URL",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> CollectorConfig {
        CollectorConfig::from_toml(text).expect("valid TOML")
    }

    #[test]
    fn defaults_are_valid_and_as_documented() {
        let config = parse("");
        config.validate().expect("defaults validate");
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert_eq!(config.ingest.max_body_bytes, 8 << 20);
        assert_eq!(config.ingest.max_future_skew.as_millis_i64(), 300_000);
        assert_eq!(config.database_url(), "./harbinger-data/harbinger.db");
        assert_eq!(config.public_url(), "http://127.0.0.1:8080/");
        assert!(config.uses_embedded_store());
    }

    #[test]
    fn full_file_parses() {
        let config = parse(
            r#"
            listen = "0.0.0.0:9000"
            data_dir = "/var/lib/harbinger"
            database_url = "postgres://h@db/harbinger"
            [ingest]
            history_horizon = "30d"
            hot_window = "1h"
            [detectors]
            filesystem_full_ratio = 0.8
            [[notifiers]]
            name = "desk"
            type = "webhook"
            url = "https://desk.example/hook"
            headers = { Authorization = "Bearer hunter2" }
            timeout = "3s"
            [outbox]
            backoff_max = "1m"
            "#,
        );
        config.validate().expect("validates");
        assert!(!config.uses_embedded_store());
        assert_eq!(config.ingest.hot_window.as_millis_i64(), 3_600_000);
        assert_eq!(config.notifiers[0].timeout.as_millis_i64(), 3_000);
        let NotifierKind::Webhook(hook) = &config.notifiers[0].kind else {
            panic!("a webhook: {:?}", config.notifiers[0]);
        };
        assert_eq!(
            hook.headers.get("Authorization").map(Secret::expose),
            Some("Bearer hunter2")
        );
    }

    #[test]
    fn unknown_keys_are_refused_everywhere() {
        for text in [
            "lissten = \"x\"",
            "[ingest]\nmax_body = 1",
            "[[notifiers]]\nname=\"a\"\ntype=\"webhook\"\nurl=\"http://x/\"\nretries=3",
            "[[notifiers]]\nname=\"a\"\ntype=\"carrier_pigeon\"",
        ] {
            assert!(CollectorConfig::from_toml(text).is_err(), "{text}");
        }
    }

    #[test]
    fn validation_names_the_bad_key() {
        for (text, key) in [
            ("listen = \"nowhere\"", "listen"),
            ("[ingest]\nhot_window = \"0s\"", "ingest.hot_window"),
            ("[ingest]\nmax_body_bytes = 10", "ingest.max_body_bytes"),
            ("[detectors]\nfilesystem_full_ratio = 1.5", "detectors.filesystem_full_ratio"),
            ("[detectors]\nsilent_intervals = 0", "detectors.silent_intervals"),
            ("[outbox]\nbackoff_initial = \"10s\"\nbackoff_max = \"1s\"", "outbox.backoff_max"),
            ("[[notifiers]]\nname=\"a\"\ntype=\"webhook\"\nurl=\"ftp://x/\"", "notifiers[0].url"),
            (
                "[[notifiers]]\nname=\"a\"\ntype=\"webhook\"\nurl=\"http://x/\"\n[[notifiers]]\nname=\"a\"\ntype=\"webhook\"\nurl=\"http://y/\"",
                "notifiers[1].name",
            ),
        ] {
            let err = parse(text).validate().expect_err(text);
            assert!(err.to_string().starts_with(&format!("{key}:")), "{text} -> {err}");
        }
    }

    #[test]
    fn request_tracker_notifier_with_common_fields() {
        let config = parse(
            r#"
            [[notifiers]]
            name = "rt"
            type = "rt"
            timeout = "5s"
            rate_limit_per_minute = 60
            url = "http://127.0.0.1:58080/REST/2.0"
            token = "1-31-abcdef"
            queue = "Hardware"
            sync_interval = "30s"
            "#,
        );
        config.validate().expect("validates");
        let notifier = &config.notifiers[0];
        assert_eq!(notifier.type_name(), "request_tracker");
        assert_eq!(notifier.rate_limit_per_minute, Some(60));
        let NotifierKind::RequestTracker(rt) = &notifier.kind else {
            panic!("an RT notifier: {notifier:?}");
        };
        assert_eq!(rt.fingerprint_field, "Fingerprint");
        assert_eq!(rt.sync_interval.map(|d| d.as_millis_i64()), Some(30_000));
        assert_eq!(rt.wont_fix_silence.as_millis_i64(), 7 * 86_400_000);
        assert!(!format!("{config:?}").contains("abcdef"), "token redacted");

        let rt =
            "[[notifiers]]\nname=\"a\"\ntype=\"request_tracker\"\nurl=\"http://x/\"\nqueue=\"Q\"";
        assert!(
            CollectorConfig::from_toml(&format!("{rt}\ntoken=\"t\"\nqueues=\"Q\"")).is_err(),
            "unknown keys inside a typed notifier are refused"
        );
        for (extra, key) in [
            ("token=\"\"", "notifiers[0].token"),
            (
                "token=\"t\"\nrate_limit_per_minute=0",
                "notifiers[0].rate_limit_per_minute",
            ),
            (
                "token=\"t\"\nsync_interval=\"1ms\"",
                "notifiers[0].sync_interval",
            ),
            ("token=\"t\"\ntimeout=\"0s\"", "notifiers[0].timeout"),
        ] {
            let text = format!("{rt}\n{extra}");
            let err = parse(&text).validate().expect_err(&text);
            assert!(
                err.to_string().starts_with(&format!("{key}:")),
                "{text} -> {err}"
            );
        }
    }

    #[test]
    fn durations_must_be_humane() {
        let err = CollectorConfig::from_toml("[outbox]\npoll_interval = \"10\"")
            .expect_err("bare number");
        assert!(err.contains("poll_interval"), "{err}");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = parse(
            "database_url = \"postgres://u:pw@db/h\"\n[[notifiers]]\nname=\"a\"\ntype=\"webhook\"\nurl=\"http://x/\"\nheaders = { Authorization = \"Bearer hunter2\" }",
        );
        let text = format!("{config:?}");
        assert!(!text.contains("hunter2") && !text.contains("pw@"), "{text}");
        assert!(text.contains("Authorization"), "{text}");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut config = parse("listen = \"127.0.0.1:1\"");
        config.apply_env(|name| match name {
            "HARBINGER_LISTEN" => Some("127.0.0.1:2".into()),
            "HARBINGER_DATABASE_URL" => Some("postgres://x/y".into()),
            _ => None,
        });
        assert_eq!(config.listen, "127.0.0.1:2");
        assert_eq!(config.database_url(), "postgres://x/y");
        assert_eq!(config.data_dir, PathBuf::from("./harbinger-data"));
    }
}
