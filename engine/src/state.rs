//! The engine's serialisable state: hosts, interned series with their detector taps,
//! cases, peer groups, places, maintenance windows and learning.
//!
//! Everything that is iterated is a `Vec` or a `BTreeMap`, so iteration order (and so
//! the order of transitions) never depends on hashing. The hash indexes used to find a
//! series or a host quickly are rebuilt from this state and are not part of it.

use crate::case::{Case, OpenIncident};
use crate::detect::baseline::BaselineState;
use crate::detect::counter::CounterState;
use crate::detect::multivariate::MvState;
use crate::detect::peer::{ConditionWindows, PeerGroup, PeerMemberState};
use crate::detect::rate::RateState;
use crate::detect::trend::TrendState;
use crate::learn::LearnState;
use crate::maintenance::MaintenanceWindow;
use crate::signal::Detector;
use harbinger_shared::ComponentId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A detector attached to one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Tap {
    Hard {
        rule: u16,
        holding: bool,
    },
    Counter {
        rule: u16,
        st: CounterState,
    },
    Rate {
        rule: u16,
        st: RateState,
    },
    Baseline {
        rule: u16,
        st: Box<BaselineState>,
    },
    Peer {
        rule: u16,
        st: PeerMemberState,
    },
    Trend {
        rule: u16,
        st: TrendState,
    },
    Feature {
        feature: u16,
    },
    /// A peer rule's condition (e.g. PWM duty): its recent window means.
    Condition {
        st: ConditionWindows,
    },
}

/// One interned series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesState {
    pub host: u32,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub component: ComponentId,
    pub last_ts: i64,
    pub last_value: f64,
    pub taps: Vec<Tap>,
}

/// One host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    pub id: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub interval_ms: u64,
    pub last_seen: i64,
    /// A liveness signal is out for this host.
    pub silent: bool,
    pub lost_recorded: bool,
    /// Inventory attributes per component.
    #[serde(with = "as_seq")]
    pub inventory: BTreeMap<ComponentId, BTreeMap<String, String>>,
    /// Kernel device name → disk id (from inventory), joining `node_disk_*{device}`.
    pub aliases: BTreeMap<String, String>,
    pub model: Option<String>,
    /// Event-sourced rates: (rule index, component) → state.
    #[serde(with = "as_seq")]
    pub event_rates: BTreeMap<(u16, ComponentId), RateState>,
    pub mv: Option<MvState>,
    pub series: Vec<u32>,
}

/// A place (rack, chassis, ...) tracking grouped signals.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PlaceState {
    pub label: String,
    pub value: String,
    /// Host → (last signal time, rule, detector, summary).
    pub hits: BTreeMap<String, (i64, String, Detector, String)>,
    pub open: Option<OpenIncident>,
    pub hosts_at_open: BTreeSet<String>,
}

/// The whole state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct State {
    pub hosts: Vec<HostState>,
    pub series: Vec<SeriesState>,
    #[serde(with = "as_seq")]
    pub cases: BTreeMap<(String, ComponentId), Case>,
    pub peer_groups: BTreeMap<String, (u16, PeerGroup)>,
    pub places: BTreeMap<String, PlaceState>,
    pub maintenance: Vec<MaintenanceWindow>,
    pub learn: LearnState,
    pub watermark: i64,
}

/// Maps with structured keys are stored as lists of pairs: JSON keys must be strings.
pub mod as_seq {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let pairs: Vec<(K, V)> = Vec::deserialize(d)?;
        Ok(pairs.into_iter().collect())
    }
}
