//! Read-only hardware views for the dashboard: the latest value of every series under a
//! metric prefix (SMART, EDAC, hwmon, IPMI tables), a host's inventory change history,
//! and firmware drift among identical models across the fleet.
//!
//! These answer "what is the state now" questions that a range query answers badly:
//! a SMART table needs one value per attribute, not a series of buckets.

use super::hosts::known_host;
use super::{limit_param, str_param, Params};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{FleetItem, InventoryStateRow};
use axum::extract::{Path, Query, State};
use axum::Json;
use harbinger_shared::catalogue::is_valid_metric_name;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Attribute keys that hold a firmware, BIOS or microcode version: a change of one of
/// these is what an operator looks for after a fleet-wide update (or a silent one).
pub const FIRMWARE_KEYS: &[&str] = &["firmware", "bios_version", "bmc_version", "cpu_microcode"];

/// `GET /api/v1/hosts/{id}/latest?prefix=…`.
#[derive(Debug, Serialize)]
pub struct LatestAnswer {
    pub prefix: String,
    /// Series whose last point is older than this are not listed: the answer comes from
    /// the hot window, so "latest" means "reported within the window".
    pub complete_from_ms: i64,
    pub series: Vec<LatestValue>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct LatestValue {
    pub metric: String,
    pub labels: BTreeMap<String, String>,
    pub ts: i64,
    pub value: f64,
}

pub async fn latest(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<LatestAnswer>, ApiError> {
    let prefix = str_param(&params, "prefix").unwrap_or("");
    if prefix.is_empty() {
        return Err(ApiError::BadRequest(
            "prefix: required, a metric-name prefix such as smartctl_".into(),
        ));
    }
    if !is_valid_metric_name(prefix) {
        return Err(ApiError::BadRequest(format!(
            "prefix: {prefix:?} is not a metric-name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)"
        )));
    }
    known_host(&state, &host_id).await?;
    let series = state
        .hot
        .latest(&host_id, prefix)
        .into_iter()
        .map(|(key, point)| LatestValue {
            metric: key.metric,
            labels: key.labels,
            ts: point.ts,
            value: point.value,
        })
        .collect();
    Ok(Json(LatestAnswer {
        prefix: prefix.to_owned(),
        complete_from_ms: state.hot.complete_from_ms(),
        series,
    }))
}

/// One attribute that differs between two states of a component.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AttrChange {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// One entry of `GET /api/v1/hosts/{id}/inventory/history`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InventoryChange {
    pub component: String,
    pub at_ms: i64,
    pub seq: i64,
    /// `added` for the first state the collector saw, else `modified`.
    pub change: &'static str,
    /// True when a key of [`FIRMWARE_KEYS`] changed (never for `added`).
    pub firmware: bool,
    /// What differs from the previous state; empty for `added`.
    pub changes: Vec<AttrChange>,
    /// The full state from this point on.
    pub attrs: BTreeMap<String, String>,
}

/// Attributes that differ between `before` and `after`, by key.
pub fn diff(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<AttrChange> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|key| AttrChange {
            key: key.clone(),
            old: before.get(key).cloned(),
            new: after.get(key).cloned(),
        })
        .collect()
}

/// Turns stored states (oldest first) into changes, newest first.
pub fn changes(states: Vec<InventoryStateRow>) -> Vec<InventoryChange> {
    let mut previous: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut out: Vec<InventoryChange> = states
        .into_iter()
        .map(|state| {
            let (change, changes) = match previous.get(&state.component) {
                None => ("added", Vec::new()),
                Some(before) => ("modified", diff(before, &state.attrs)),
            };
            let firmware = changes
                .iter()
                .any(|c| FIRMWARE_KEYS.contains(&c.key.as_str()));
            previous.insert(state.component.clone(), state.attrs.clone());
            InventoryChange {
                component: state.component,
                at_ms: state.at_ms,
                seq: state.seq,
                change,
                firmware,
                changes,
                attrs: state.attrs,
            }
        })
        .collect();
    out.reverse();
    out
}

pub async fn inventory_history(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Vec<InventoryChange>>, ApiError> {
    let limit = limit_param(&params, 200, 10_000)?;
    let component = str_param(&params, "component").filter(|c| !c.is_empty());
    if let Some(component) = component {
        if !component.contains(':') {
            return Err(ApiError::BadRequest(format!(
                "component: {component:?} is not of the form kind:id"
            )));
        }
    }
    known_host(&state, &host_id).await?;
    let states = state.store.inventory_history(&host_id, component).await?;
    let mut out = changes(states);
    out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(Json(out))
}

/// `GET /api/v1/fleet/firmware?kind=…`.
#[derive(Debug, Serialize, PartialEq)]
pub struct FirmwareAnswer {
    pub kind: String,
    /// The attribute compared, e.g. `firmware` or `bios_version`.
    pub field: String,
    /// Models with more than one version first, then by name.
    pub models: Vec<ModelFirmware>,
    /// Components of this kind without a model or without the field.
    pub skipped: usize,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ModelFirmware {
    pub model: String,
    /// True when identical models run different versions.
    pub drift: bool,
    pub components: usize,
    pub hosts: usize,
    /// Most common version first.
    pub versions: Vec<VersionUse>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct VersionUse {
    pub version: String,
    /// How many components run it; `components` lists at most `limit` of them.
    pub count: usize,
    pub components: Vec<ComponentRef>,
}

#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct ComponentRef {
    pub hostname: String,
    pub host_id: String,
    /// `kind:id` form.
    pub component: String,
}

/// The attribute compared for a kind when the request names none.
fn default_field(kind: &str) -> &'static str {
    match kind {
        "host" => "bios_version",
        _ => "firmware",
    }
}

/// What makes two components "identical models" for drift purposes.
fn model_of(kind: &str, attrs: &BTreeMap<String, String>) -> Option<String> {
    let get = |key: &str| attrs.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
    match kind {
        // The same board from two vendors is not the same model.
        "host" => match (get("vendor"), get("model")) {
            (Some(vendor), Some(model)) => Some(format!("{vendor} {model}")),
            (None, Some(model)) => Some(model.to_owned()),
            _ => None,
        },
        // BMCs identify themselves by IPMI manufacturer and product ids, not by name.
        "bmc" => get("model").map(str::to_owned).or_else(|| {
            match (get("manufacturer_id"), get("product_id")) {
                (Some(m), Some(p)) => Some(format!("manufacturer {m} product {p}")),
                _ => None,
            }
        }),
        _ => get("model").map(str::to_owned),
    }
}

/// Groups the fleet's components of one kind by model and version of `field`.
pub fn firmware_drift(
    kind: &str,
    field: &str,
    items: &[FleetItem],
    hostnames: &HashMap<String, String>,
    limit: usize,
) -> FirmwareAnswer {
    // model -> version -> components
    let mut models: BTreeMap<String, BTreeMap<String, Vec<ComponentRef>>> = BTreeMap::new();
    let mut skipped = 0;
    for FleetItem { host_id, item } in items {
        let version = item
            .attrs
            .get(field)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty());
        let (Some(model), Some(version)) = (model_of(kind, &item.attrs), version) else {
            skipped += 1;
            continue;
        };
        models
            .entry(model)
            .or_default()
            .entry(version.to_owned())
            .or_default()
            .push(ComponentRef {
                hostname: hostnames
                    .get(host_id)
                    .cloned()
                    .unwrap_or_else(|| host_id.clone()),
                host_id: host_id.clone(),
                component: item.component.to_string(),
            });
    }
    let mut out: Vec<ModelFirmware> = models
        .into_iter()
        .map(|(model, versions)| {
            let mut hosts: Vec<&str> = versions
                .values()
                .flatten()
                .map(|c| c.host_id.as_str())
                .collect();
            hosts.sort_unstable();
            hosts.dedup();
            let hosts = hosts.len();
            let mut versions: Vec<VersionUse> = versions
                .into_iter()
                .map(|(version, mut components)| {
                    components.sort();
                    let count = components.len();
                    components.truncate(limit);
                    VersionUse {
                        version,
                        count,
                        components,
                    }
                })
                .collect();
            versions.sort_by(|a, b| b.count.cmp(&a.count).then(a.version.cmp(&b.version)));
            ModelFirmware {
                drift: versions.len() > 1,
                components: versions.iter().map(|v| v.count).sum(),
                hosts,
                model,
                versions,
            }
        })
        .collect();
    out.sort_by(|a, b| b.drift.cmp(&a.drift).then(a.model.cmp(&b.model)));
    FirmwareAnswer {
        kind: kind.to_owned(),
        field: field.to_owned(),
        models: out,
        skipped,
    }
}

fn is_attr_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub async fn fleet_firmware(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<FirmwareAnswer>, ApiError> {
    let kind = str_param(&params, "kind").unwrap_or("");
    if !is_attr_name(kind) {
        return Err(ApiError::BadRequest(format!(
            "kind: {kind:?} is not a component kind such as disk, bmc or host"
        )));
    }
    let field = str_param(&params, "field").unwrap_or_else(|| default_field(kind));
    if !is_attr_name(field) {
        return Err(ApiError::BadRequest(format!(
            "field: {field:?} is not an inventory attribute name such as firmware"
        )));
    }
    let limit = limit_param(&params, 100, 10_000)?;
    let items = state.store.fleet_inventory(Some(kind)).await?;
    let hostnames: HashMap<String, String> = state
        .store
        .hosts()
        .await?
        .into_iter()
        .map(|h| (h.host_id, h.hostname))
        .collect();
    Ok(Json(firmware_drift(
        kind,
        field,
        &items,
        &hostnames,
        usize::try_from(limit).unwrap_or(usize::MAX),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::{ComponentId, ComponentKind, InventoryItem};

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn state(component: &str, at_ms: i64, pairs: &[(&str, &str)]) -> InventoryStateRow {
        InventoryStateRow {
            component: component.into(),
            attrs: attrs(pairs),
            at_ms,
            seq: at_ms,
        }
    }

    #[test]
    fn changes_diff_each_component_against_its_own_previous_state() {
        let out = changes(vec![
            state("disk:a", 1, &[("model", "M"), ("firmware", "1")]),
            state("host:h", 2, &[("kernel", "6.1")]),
            state("disk:a", 3, &[("model", "M"), ("firmware", "2")]),
            state("host:h", 4, &[("kernel", "6.2"), ("extra", "x")]),
        ]);
        let summary: Vec<(&str, i64, &str, bool, usize)> = out
            .iter()
            .map(|c| {
                (
                    c.component.as_str(),
                    c.at_ms,
                    c.change,
                    c.firmware,
                    c.changes.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("host:h", 4, "modified", false, 2),
                ("disk:a", 3, "modified", true, 1),
                ("host:h", 2, "added", false, 0),
                ("disk:a", 1, "added", false, 0),
            ]
        );
        assert_eq!(
            out[1].changes,
            vec![AttrChange {
                key: "firmware".into(),
                old: Some("1".into()),
                new: Some("2".into())
            }]
        );
        assert_eq!(out[0].changes[0].key, "extra");
        assert_eq!(out[0].changes[0].old, None);
    }

    fn fleet(host: &str, kind: ComponentKind, id: &str, pairs: &[(&str, &str)]) -> FleetItem {
        FleetItem {
            host_id: host.into(),
            item: InventoryItem {
                component: ComponentId::new(kind, id),
                attrs: attrs(pairs),
            },
        }
    }

    #[test]
    fn drift_groups_identical_models_and_lists_who_runs_each_version() {
        let items = vec![
            fleet(
                "h1",
                ComponentKind::Disk,
                "d1",
                &[("model", "ST4000"), ("firmware", "CC52")],
            ),
            fleet(
                "h1",
                ComponentKind::Disk,
                "d2",
                &[("model", "ST4000"), ("firmware", "CC54")],
            ),
            fleet(
                "h2",
                ComponentKind::Disk,
                "d3",
                &[("model", "ST4000"), ("firmware", "CC52")],
            ),
            fleet(
                "h2",
                ComponentKind::Disk,
                "d4",
                &[("model", "PM883"), ("firmware", "HXT7")],
            ),
            fleet("h2", ComponentKind::Disk, "d5", &[("firmware", "X")]),
        ];
        let names = HashMap::from([("h1".to_owned(), "one".to_owned())]);
        let answer = firmware_drift("disk", "firmware", &items, &names, 1);
        assert_eq!(answer.skipped, 1);
        let models: Vec<(&str, bool, usize, usize)> = answer
            .models
            .iter()
            .map(|m| (m.model.as_str(), m.drift, m.components, m.hosts))
            .collect();
        assert_eq!(models, vec![("ST4000", true, 3, 2), ("PM883", false, 1, 1)]);
        let st = &answer.models[0];
        assert_eq!(st.versions[0].version, "CC52");
        assert_eq!(st.versions[0].count, 2);
        // Capped at `limit`, sorted by hostname (an unknown host shows its id).
        assert_eq!(
            st.versions[0].components,
            vec![ComponentRef {
                hostname: "h2".into(),
                host_id: "h2".into(),
                component: "disk:d3".into()
            }]
        );
        assert_eq!(st.versions[1].components[0].hostname, "one");
    }

    #[test]
    fn hosts_compare_bios_by_vendor_and_model_and_bmcs_by_ipmi_ids() {
        assert_eq!(default_field("host"), "bios_version");
        assert_eq!(default_field("disk"), "firmware");
        assert_eq!(
            model_of("host", &attrs(&[("vendor", "Dell"), ("model", "R640")])).as_deref(),
            Some("Dell R640")
        );
        assert_eq!(
            model_of(
                "bmc",
                &attrs(&[("manufacturer_id", "674"), ("product_id", "0x0100")])
            )
            .as_deref(),
            Some("manufacturer 674 product 0x0100")
        );
        assert_eq!(model_of("disk", &attrs(&[("model", " ")])), None);
    }
}
