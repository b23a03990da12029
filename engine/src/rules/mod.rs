//! The rule pack: every threshold, window, prior and per-model override the engine uses,
//! as data. The default pack (`engine/rules/default.toml`) is embedded; users extend or
//! override it with their own TOML, and every override is reported as an [`AuditEntry`].

mod merge;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

pub use merge::AuditEntry;

/// Rule ids of detectors that are not listed in the pack's rule arrays.
pub const BUILTIN_RULES: &[&str] = &["multivariate", "host_silent"];

/// The default rule pack shipped with Harbinger.
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.toml");

/// Why a rule pack could not be used. Messages name the offending key.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RuleError {
    #[error("rule pack {source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("rule pack {source_name}: {key}: {message}")]
    Invalid {
        source_name: String,
        key: String,
        message: String,
    },
}

/// The whole rule pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    /// Format version of the pack; this build understands 1.
    pub format: u32,
    /// The pack's own version, recorded in snapshots and explanations.
    pub version: String,
    #[serde(default)]
    pub scoring: Scoring,
    #[serde(default)]
    pub liveness: Liveness,
    #[serde(default)]
    pub hard: Vec<HardRule>,
    #[serde(default)]
    pub events: Vec<EventRule>,
    #[serde(default)]
    pub counters: Vec<CounterRule>,
    #[serde(default)]
    pub rates: Vec<RateRule>,
    #[serde(default)]
    pub baseline: BaselineSettings,
    #[serde(default)]
    pub baselines: Vec<BaselineRule>,
    #[serde(default)]
    pub peers: Vec<PeerRule>,
    #[serde(default)]
    pub multivariate: Multivariate,
    #[serde(default)]
    pub trends: Vec<TrendRule>,
    #[serde(default)]
    pub topology: Topology,
    #[serde(default)]
    pub learning: Learning,
    /// Recommended actions per component kind, used when a rule has none.
    #[serde(default)]
    pub actions: BTreeMap<String, String>,
}

/// How evidence becomes risk and risk becomes incidents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scoring {
    /// The horizon the risk is about ("fails within N days").
    pub horizon_days: f64,
    /// Annualised failure rate per component kind without evidence (the prior).
    pub prior_afr: BTreeMap<String, f64>,
    /// Prior for kinds not listed.
    pub default_prior_afr: f64,
    /// Risk at which an incident opens.
    pub open_risk: f64,
    /// Risk under which an open incident starts to resolve (hysteresis band).
    pub resolve_risk: f64,
    /// How long risk must stay under `resolve_risk` before the incident resolves.
    pub resolve_after_minutes: f64,
    pub error_risk: f64,
    pub critical_risk: f64,
    /// Smallest change of risk that is worth an update.
    pub update_min_delta: f64,
}

impl Default for Scoring {
    fn default() -> Self {
        Self {
            horizon_days: 60.0,
            prior_afr: BTreeMap::new(),
            default_prior_afr: 0.02,
            open_risk: 0.2,
            resolve_risk: 0.1,
            resolve_after_minutes: 60.0,
            error_risk: 0.5,
            critical_risk: 0.8,
            update_min_delta: 0.05,
        }
    }
}

/// Host silence, judged on event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Liveness {
    /// A host is silent after this many of its own intervals without data...
    pub silent_after_intervals: f64,
    /// ...and never sooner than this.
    pub min_silent_seconds: f64,
    /// Silent this long outside maintenance: the host is recorded as lost (an outcome).
    pub lost_after_minutes: f64,
    pub lr: f64,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            silent_after_intervals: 3.0,
            min_silent_seconds: 60.0,
            lost_after_minutes: 60.0,
            lr: 1000.0,
        }
    }
}

/// How a rule finds the component a series belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSel {
    /// `disk`, `dimm`, `fan`, `psu`, `host`, `cpu`, `filesystem`, `sensor`, ...
    pub kind: String,
    /// Labels whose values, joined by `/`, form the component id (empty for `host`).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Comparison of a gauge with a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Any of the bits of `value` set.
    Bits,
}

impl Op {
    pub fn holds(self, x: f64, v: f64) -> bool {
        match self {
            Op::Eq => x == v,
            Op::Ne => x != v,
            Op::Lt => x < v,
            Op::Le => x <= v,
            Op::Gt => x > v,
            Op::Ge => x >= v,
            Op::Bits => {
                // Bit fields arrive as floats; they are small non-negative integers.
                x >= 0.0 && v >= 0.0 && ((x as u64) & (v as u64)) != 0
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Bits => "has bits",
        }
    }
}

/// A hard condition on a gauge: holds → strong evidence; stops holding → cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardRule {
    pub id: String,
    pub metric: String,
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    pub component: ComponentSel,
    pub op: Op,
    pub value: f64,
    pub lr: f64,
    pub title: String,
    #[serde(default)]
    pub action: String,
}

/// A discrete event that is evidence by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRule {
    pub id: String,
    /// Event kind, e.g. `machine_check`.
    pub kind: String,
    /// When non-empty, the message (lower-cased) must contain one of these.
    #[serde(default)]
    pub message_contains: Vec<String>,
    /// Kind of component to blame when the event carries none.
    pub component_kind: String,
    pub lr: f64,
    /// How long the evidence counts.
    pub hold_days: f64,
    pub title: String,
    #[serde(default)]
    pub action: String,
    /// Whether this event is itself a failure (an outcome to learn from).
    #[serde(default)]
    pub is_failure: bool,
}

/// One bucket `(lo, hi]` of a counter's value with its annualised failure rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfrBucket {
    pub lo: f64,
    pub hi: f64,
    pub afr: f64,
}

/// How a raw counter is decoded (vendors pack several counters into one raw value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Decode {
    #[default]
    Raw,
    /// The lowest 16 bits (Seagate packs three 16-bit counters into 188's raw value).
    Low16,
    /// The lowest 32 bits.
    Low32,
}

impl Decode {
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Decode::Raw => v,
            Decode::Low16 if v >= 0.0 => ((v as u64) & 0xffff) as f64,
            Decode::Low32 if v >= 0.0 => ((v as u64) & 0xffff_ffff) as f64,
            _ => v,
        }
    }
}

/// A per-model override of a counter rule, matched on the component's model prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOverride {
    pub model_prefix: String,
    #[serde(default)]
    pub decode: Option<Decode>,
    #[serde(default)]
    pub disabled: bool,
}

/// A counter whose level and growth are evidence (SMART 5/187/188/197/198, NVMe media
/// errors, SCSI grown defects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterRule {
    pub id: String,
    pub metric: String,
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    pub component: ComponentSel,
    /// Failure rates by value; the likelihood ratio of a value is its bucket's AFR over
    /// the zero bucket's.
    #[serde(default)]
    pub buckets: Vec<AfrBucket>,
    /// Likelihood ratio of any value above zero when there are no buckets.
    #[serde(default)]
    pub level_lr: Option<f64>,
    /// Growth of at least `growth_min` within `growth_window_hours` is further evidence.
    pub growth_window_hours: f64,
    pub growth_min: f64,
    pub growth_lr: f64,
    #[serde(default)]
    pub decode: Decode,
    #[serde(default)]
    pub model_overrides: Vec<ModelOverride>,
    pub title: String,
    #[serde(default)]
    pub action: String,
}

/// Where a rate rule counts from: increments of a counter or occurrences of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSource {
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub event: Option<String>,
}

/// One level of a rate rule: at least `count` within `window_hours`, spread over at
/// least `min_distinct_hours` separate hours (errors that recur, not one burst).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLevel {
    pub name: String,
    pub count: f64,
    pub window_hours: f64,
    pub lr: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_distinct_hours: Option<u32>,
}

/// Bursts and storms of errors per component over sliding windows (ECC, kernel I/O).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateRule {
    pub id: String,
    pub source: RateSource,
    pub component: ComponentSel,
    /// Levels in increasing severity; the highest reached is the evidence.
    pub levels: Vec<RateLevel>,
    /// How long evidence from a level counts after the errors stop.
    pub hold_days: f64,
    pub title: String,
    #[serde(default)]
    pub action: String,
}

/// Shared settings of the seasonal baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineSettings {
    /// Samples are averaged over windows of this length before they meet the baseline.
    pub window_minutes: f64,
    /// Weight of one visit of a slot (a day for an hour-of-day slot, a week for an
    /// hour-of-week one) in its centre and spread: 0.2 remembers about five visits. It
    /// is spread over the visit's windows, so the window length does not change how
    /// many days a baseline remembers.
    pub forgetting: f64,
    /// Visits a slot must have seen before it may alarm: a seasonal baseline cannot know
    /// last night's batch job until it has seen a few nights.
    pub warmup_visits: u32,
    /// Robust z-score beyond which a window deviates.
    pub deviation: f64,
    /// Consecutive deviating windows before a signal.
    pub persistence: u32,
    /// Residuals are clipped at this many spreads when learning (robustness).
    pub clip: f64,
}

impl Default for BaselineSettings {
    fn default() -> Self {
        Self {
            window_minutes: 5.0,
            forgetting: 0.2,
            warmup_visits: 3,
            deviation: 5.0,
            persistence: 3,
            clip: 3.0,
        }
    }
}

/// Which side of a baseline is a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    Both,
}

/// A series with a dynamic seasonal baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineRule {
    pub id: String,
    pub metric: String,
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    pub component: ComponentSel,
    pub direction: Direction,
    /// Floor of the spread, in the metric's unit, so a flat series does not alarm on noise.
    pub min_spread: f64,
    pub lr: f64,
    pub title: String,
    #[serde(default)]
    pub action: String,
}

/// A comparison of a component with its peers (same model, optionally same rack).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerRule {
    pub id: String,
    pub metric: String,
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    pub component: ComponentSel,
    /// Peers are compared only at the same value of this metric (e.g. PWM duty, load).
    #[serde(default)]
    pub condition_metric: Option<String>,
    /// Label rewrites from the member's labels to the condition series' labels,
    /// `label = ["from_prefix", "to_prefix"]` (e.g. `sensor = ["fan", "pwm"]`).
    #[serde(default)]
    pub condition_label_map: BTreeMap<String, Vec<String>>,
    /// Member labels copied unchanged to the condition series' labels.
    #[serde(default)]
    pub condition_copy_labels: Vec<String>,
    /// Fixed labels of the condition series (e.g. `cpu = "total"`).
    #[serde(default)]
    pub condition_match_labels: BTreeMap<String, String>,
    /// Condition values are grouped into buckets of this width.
    #[serde(default = "one")]
    pub condition_step: f64,
    /// Group also by rack.
    #[serde(default)]
    pub by_rack: bool,
    pub direction: Direction,
    /// Relative deviation from the group median that counts (0.2 = 20 %).
    pub min_deviation: f64,
    pub min_peers: u32,
    pub persistence: u32,
    pub lr: f64,
    pub title: String,
    #[serde(default)]
    pub action: String,
}

fn one() -> f64 {
    1.0
}

/// One input of the multivariate model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSel {
    pub name: String,
    pub metric: String,
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

/// One k-means model: trained on the last `train_windows` windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub train_windows: u32,
}

/// The per-host multivariate anomaly detector (k-means on differenced, lagged features).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Multivariate {
    pub enabled: bool,
    pub window_minutes: f64,
    pub features: Vec<FeatureSel>,
    pub lags: u32,
    pub k: u32,
    pub models: Vec<ModelSpec>,
    pub min_train_windows: u32,
    pub retrain_every_windows: u32,
    /// Quantile of training distances that a score must exceed.
    pub quantile: f64,
    pub persistence: u32,
    pub seed: u64,
    pub lr: f64,
    pub top_features: u32,
}

impl Default for Multivariate {
    fn default() -> Self {
        Self {
            enabled: false,
            window_minutes: 5.0,
            features: Vec::new(),
            lags: 2,
            k: 2,
            models: Vec::new(),
            min_train_windows: 144,
            retrain_every_windows: 36,
            quantile: 0.99,
            persistence: 3,
            seed: 42,
            lr: 3.0,
            top_features: 3,
        }
    }
}

/// A slowly moving series extrapolated to a threshold (Theil–Sen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendRule {
    pub id: String,
    pub metric: String,
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    pub component: ComponentSel,
    pub direction: Direction,
    /// The threshold, unless `threshold_metric` gives one per series.
    pub threshold: f64,
    /// A series with the same labels holding the threshold (e.g. the fan's min RPM).
    #[serde(default)]
    pub threshold_metric: Option<String>,
    /// One point is kept per this many minutes (the last value in the period).
    pub sample_minutes: f64,
    pub points: u32,
    pub min_points: u32,
    /// A time to threshold within this is evidence, stronger the sooner.
    pub horizon_days: f64,
    pub lr: f64,
    pub title: String,
    #[serde(default)]
    pub action: String,
}

/// Grouping of the same signal on many hosts of one place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    /// Place labels, most specific first.
    pub labels: Vec<String>,
    pub min_hosts: u32,
    /// And at least this fraction of the place's hosts: three hosts of a 200-host site
    /// with an odd hour at once are a coincidence (or a shared job), not a site problem.
    pub min_fraction: f64,
    pub window_minutes: f64,
    /// Rule ids whose signals are grouped.
    pub rules: Vec<String>,
    /// A host case whose only evidence is grouped signals waits this long before it
    /// opens on its own, so that a place incident can form first.
    pub hold_minutes: f64,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            labels: vec!["chassis".into(), "pdu".into(), "rack".into(), "site".into()],
            min_hosts: 3,
            min_fraction: 0.0,
            window_minutes: 30.0,
            rules: Vec::new(),
            hold_minutes: 10.0,
        }
    }
}

/// Learning weights from outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Learning {
    /// Failures and non-failures needed before fitted weights replace the priors.
    pub min_failures: u32,
    pub min_non_failures: u32,
    /// L2 regularisation of the logistic regression.
    pub alpha: f64,
    /// How far back before an outcome signals count as its precursors.
    pub lookback_days: f64,
}

impl Default for Learning {
    fn default() -> Self {
        Self {
            min_failures: 10,
            min_non_failures: 10,
            alpha: 1.0,
            lookback_days: 60.0,
        }
    }
}

impl RulePack {
    /// The embedded default pack.
    pub fn default_pack() -> Result<RulePack, RuleError> {
        RulePack::from_toml(DEFAULT_RULES, "default.toml")
    }

    /// Parses and validates one TOML document.
    pub fn from_toml(text: &str, source_name: &str) -> Result<RulePack, RuleError> {
        let pack: RulePack = toml::from_str(text).map_err(|e| RuleError::Parse {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })?;
        pack.validate(source_name)?;
        Ok(pack)
    }

    /// The default pack with a user's overrides applied. Tables merge key by key, and
    /// arrays of rules merge by `id` (same id replaces, new id appends); every change is
    /// returned as an audit entry.
    pub fn with_overrides(
        base: &str,
        overrides: &str,
        source_name: &str,
    ) -> Result<(RulePack, Vec<AuditEntry>), RuleError> {
        let parse = |text: &str, name: &str| -> Result<toml::Table, RuleError> {
            toml::from_str(text).map_err(|e| RuleError::Parse {
                source_name: name.to_string(),
                message: e.to_string(),
            })
        };
        let mut merged = parse(base, "default.toml")?;
        let user = parse(overrides, source_name)?;
        let audit = merge::merge_tables(&mut merged, user, "");
        let text = toml::to_string(&merged).map_err(|e| RuleError::Parse {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })?;
        let pack = RulePack::from_toml(&text, source_name)?;
        Ok((pack, audit))
    }

    /// Checks values that parse but make no sense; the error names the key.
    pub fn validate(&self, source_name: &str) -> Result<(), RuleError> {
        let bad = |key: String, message: &str| RuleError::Invalid {
            source_name: source_name.to_string(),
            key,
            message: message.to_string(),
        };
        if self.format != 1 {
            return Err(bad("format".into(), "this build understands format 1"));
        }
        let s = &self.scoring;
        if !positive(s.horizon_days) {
            return Err(bad("scoring.horizon_days".into(), "must be positive"));
        }
        for (key, v) in [
            ("scoring.open_risk", s.open_risk),
            ("scoring.resolve_risk", s.resolve_risk),
            ("scoring.error_risk", s.error_risk),
            ("scoring.critical_risk", s.critical_risk),
            ("scoring.default_prior_afr", s.default_prior_afr),
        ] {
            if !(v > 0.0 && v < 1.0) {
                return Err(bad(key.into(), "must be between 0 and 1 (exclusive)"));
            }
        }
        if s.resolve_risk >= s.open_risk {
            return Err(bad(
                "scoring.resolve_risk".into(),
                "must be below scoring.open_risk (hysteresis)",
            ));
        }
        for (kind, afr) in &s.prior_afr {
            if !(*afr > 0.0 && *afr < 10.0) {
                return Err(bad(format!("scoring.prior_afr.{kind}"), "must be positive"));
            }
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut check_id = |section: &str, i: usize, id: &str| -> Result<(), RuleError> {
            if id.is_empty() || id.contains('/') || id.contains(':') {
                return Err(bad(
                    format!("{section}[{i}].id"),
                    "must be non-empty without '/' or ':'",
                ));
            }
            if !ids.insert(id.to_string()) {
                return Err(bad(format!("{section}[{i}].id"), "duplicate rule id"));
            }
            Ok(())
        };
        let check_lr = |key: String, lr: f64| -> Result<(), RuleError> {
            if !(lr > 0.0 && lr.is_finite()) {
                return Err(bad(key, "likelihood ratio must be positive"));
            }
            Ok(())
        };
        for (i, r) in self.hard.iter().enumerate() {
            check_id("hard", i, &r.id)?;
            check_lr(format!("hard[{i}].lr"), r.lr)?;
            check_metric(&bad, format!("hard[{i}].metric"), &r.metric)?;
        }
        for (i, r) in self.events.iter().enumerate() {
            check_id("events", i, &r.id)?;
            check_lr(format!("events[{i}].lr"), r.lr)?;
            if !positive(r.hold_days) {
                return Err(bad(format!("events[{i}].hold_days"), "must be positive"));
            }
        }
        for (i, r) in self.counters.iter().enumerate() {
            check_id("counters", i, &r.id)?;
            check_metric(&bad, format!("counters[{i}].metric"), &r.metric)?;
            check_lr(format!("counters[{i}].growth_lr"), r.growth_lr)?;
            if r.buckets.is_empty() && r.level_lr.is_none() {
                return Err(bad(
                    format!("counters[{i}].buckets"),
                    "give buckets or level_lr",
                ));
            }
            for (j, b) in r.buckets.iter().enumerate() {
                if !positive(b.afr) || b.hi < b.lo {
                    return Err(bad(
                        format!("counters[{i}].buckets[{j}]"),
                        "needs lo <= hi and a positive afr",
                    ));
                }
            }
            if !positive(r.growth_window_hours) {
                return Err(bad(
                    format!("counters[{i}].growth_window_hours"),
                    "must be positive",
                ));
            }
        }
        for (i, r) in self.rates.iter().enumerate() {
            check_id("rates", i, &r.id)?;
            if r.source.metric.is_some() == r.source.event.is_some() {
                return Err(bad(
                    format!("rates[{i}].source"),
                    "give exactly one of metric or event",
                ));
            }
            if r.levels.is_empty() {
                return Err(bad(
                    format!("rates[{i}].levels"),
                    "needs at least one level",
                ));
            }
            for (j, l) in r.levels.iter().enumerate() {
                check_lr(format!("rates[{i}].levels[{j}].lr"), l.lr)?;
                if !(l.window_hours >= 1.0 && l.window_hours <= 24.0 * 7.0) {
                    return Err(bad(
                        format!("rates[{i}].levels[{j}].window_hours"),
                        "must be between 1 and 168",
                    ));
                }
                if !at_least(l.count, 1.0) {
                    return Err(bad(
                        format!("rates[{i}].levels[{j}].count"),
                        "must be at least 1",
                    ));
                }
                if let Some(h) = l.min_distinct_hours {
                    if h < 1 || f64::from(h) > l.window_hours.ceil() || f64::from(h) > l.count {
                        return Err(bad(
                            format!("rates[{i}].levels[{j}].min_distinct_hours"),
                            "must be at least 1 and at most the window's hours and the count",
                        ));
                    }
                }
            }
        }
        let b = &self.baseline;
        if !at_least(b.window_minutes, 1.0) {
            return Err(bad("baseline.window_minutes".into(), "must be at least 1"));
        }
        if !(b.forgetting > 0.0 && b.forgetting < 1.0) {
            return Err(bad("baseline.forgetting".into(), "must be in (0, 1)"));
        }
        if b.persistence == 0 {
            return Err(bad("baseline.persistence".into(), "must be at least 1"));
        }
        for (i, r) in self.baselines.iter().enumerate() {
            check_id("baselines", i, &r.id)?;
            check_lr(format!("baselines[{i}].lr"), r.lr)?;
            check_metric(&bad, format!("baselines[{i}].metric"), &r.metric)?;
            if !positive(r.min_spread) {
                return Err(bad(
                    format!("baselines[{i}].min_spread"),
                    "must be positive",
                ));
            }
        }
        for (i, r) in self.peers.iter().enumerate() {
            check_id("peers", i, &r.id)?;
            check_lr(format!("peers[{i}].lr"), r.lr)?;
            check_metric(&bad, format!("peers[{i}].metric"), &r.metric)?;
            if r.min_peers < 2 {
                return Err(bad(format!("peers[{i}].min_peers"), "must be at least 2"));
            }
            if !positive(r.condition_step) {
                return Err(bad(
                    format!("peers[{i}].condition_step"),
                    "must be positive",
                ));
            }
            for (label, map) in &r.condition_label_map {
                if map.len() != 2 {
                    return Err(bad(
                        format!("peers[{i}].condition_label_map.{label}"),
                        "must be [from_prefix, to_prefix]",
                    ));
                }
            }
        }
        let m = &self.multivariate;
        if m.enabled {
            if m.features.is_empty() {
                return Err(bad(
                    "multivariate.features".into(),
                    "needs at least one feature",
                ));
            }
            if m.models.is_empty() {
                return Err(bad(
                    "multivariate.models".into(),
                    "needs at least one model",
                ));
            }
            if m.k < 1 {
                return Err(bad("multivariate.k".into(), "must be at least 1"));
            }
            if !(m.quantile > 0.5 && m.quantile < 1.0) {
                return Err(bad("multivariate.quantile".into(), "must be in (0.5, 1)"));
            }
            for (i, spec) in m.models.iter().enumerate() {
                if spec.train_windows < m.min_train_windows {
                    return Err(bad(
                        format!("multivariate.models[{i}].train_windows"),
                        "must be at least multivariate.min_train_windows",
                    ));
                }
            }
            if m.persistence <= m.lags {
                return Err(bad(
                    "multivariate.persistence".into(),
                    "must exceed multivariate.lags (a one-window spike lasts lags+1 rows)",
                ));
            }
            if m.retrain_every_windows == 0 {
                return Err(bad(
                    "multivariate.retrain_every_windows".into(),
                    "must be at least 1",
                ));
            }
        }
        for (i, r) in self.trends.iter().enumerate() {
            check_id("trends", i, &r.id)?;
            check_lr(format!("trends[{i}].lr"), r.lr)?;
            check_metric(&bad, format!("trends[{i}].metric"), &r.metric)?;
            if r.min_points < 3 || r.min_points > r.points {
                return Err(bad(
                    format!("trends[{i}].min_points"),
                    "must be at least 3 and at most points",
                ));
            }
            if r.points > 256 {
                return Err(bad(format!("trends[{i}].points"), "at most 256"));
            }
            if r.direction == Direction::Both {
                return Err(bad(format!("trends[{i}].direction"), "must be up or down"));
            }
        }
        for (i, rule) in self.topology.rules.iter().enumerate() {
            if !ids.contains(rule) && !BUILTIN_RULES.contains(&rule.as_str()) {
                return Err(bad(
                    format!("topology.rules[{i}]"),
                    "names no rule in the pack",
                ));
            }
        }
        if self.topology.min_hosts < 2 {
            return Err(bad("topology.min_hosts".into(), "must be at least 2"));
        }
        if !(0.0..=1.0).contains(&self.topology.min_fraction) {
            return Err(bad(
                "topology.min_fraction".into(),
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }

    /// The prior probability that a component of `kind` fails within the horizon.
    pub fn prior(&self, kind: &str) -> f64 {
        let afr = self
            .scoring
            .prior_afr
            .get(kind)
            .copied()
            .unwrap_or(self.scoring.default_prior_afr);
        1.0 - (-afr * self.scoring.horizon_days / 365.0).exp()
    }
}

/// `x > 0`, false for NaN (validation must reject NaN too).
fn positive(x: f64) -> bool {
    x > 0.0
}

/// `x >= min`, false for NaN.
fn at_least(x: f64, min: f64) -> bool {
    x >= min
}

fn check_metric(
    bad: &impl Fn(String, &str) -> RuleError,
    key: String,
    metric: &str,
) -> Result<(), RuleError> {
    if harbinger_shared::catalogue::is_valid_metric_name(metric) {
        Ok(())
    } else {
        Err(bad(key, "is not a valid metric name"))
    }
}

#[cfg(test)]
mod tests;
