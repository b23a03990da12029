//! The incident as a notifier reads it: the outbox row's body (built by
//! `crate::incident` from the stored incident and its evidence), parsed into one typed
//! view, plus the derived fingerprint and the plain-text evidence service desks show.

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Hex digits of the fingerprint after `hb-`: 128 bits, far from any collision.
const FINGERPRINT_HEX: usize = 32;

/// The parts of a notification body notifiers use.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IncidentView {
    pub action: String,
    pub incident: IncidentPart,
    pub host: HostPart,
    #[serde(default)]
    pub dashboard_url: String,
    /// Set by `notify-test`: the incident is not real.
    #[serde(default)]
    pub test: bool,
    /// Set when a route groups incidents (e.g. by rack): they share one ticket.
    #[serde(default)]
    pub group: Option<GroupPart>,
}

/// The ticket group an incident belongs to (see `crate::routing`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GroupPart {
    /// `<route>/<label>=<value>,…`: the same for every incident of the group.
    pub key: String,
    /// When the group's current occurrence began: its first incident's opening.
    pub since_ms: i64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Open incidents in the group after this change.
    #[serde(default)]
    pub members_open: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IncidentPart {
    pub id: i64,
    pub dedup_key: String,
    pub host_id: String,
    pub kind: String,
    #[serde(default)]
    pub component: Option<String>,
    pub severity: String,
    pub status: String,
    pub title: String,
    #[serde(default)]
    pub details: Value,
    pub opened_at_ms: i64,
    pub updated_at_ms: i64,
    #[serde(default)]
    pub resolved_at_ms: Option<i64>,
    pub revision: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HostPart {
    pub host_id: String,
    pub hostname: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl IncidentView {
    /// Parses a delivery body; the error names the missing or mistyped field.
    pub fn parse(body: &Value) -> Result<Self, String> {
        serde_path_to_error::deserialize(body).map_err(|e| e.to_string())
    }

    /// The ticket fingerprint: `hb-` and hex of SHA-256 over the dedup key and the
    /// opening time. It names one *occurrence* of a problem, because a problem that
    /// clears and comes back is a new ticket everywhere (PagerDuty opens a new incident
    /// for a trigger after a resolve with the same key; RT and ServiceNow only search
    /// active tickets). `[a-z0-9-]`, 35 characters: fits a PagerDuty `dedup_key`, a
    /// Jira label, a ServiceNow `correlation_id` and TicketSQL quoting.
    ///
    /// Grouped incidents share their group's fingerprint, so they share one ticket.
    pub fn fingerprint(&self) -> String {
        match &self.group {
            Some(group) => fingerprint(&group.key, group.since_ms),
            None => fingerprint(&self.incident.dedup_key, self.incident.opened_at_ms),
        }
    }

    /// `hostname: title`, with a marker for test notifications.
    pub fn summary(&self) -> String {
        if !self.test {
            return format!("{}: {}", self.host.hostname, self.incident.title);
        }
        // notify-test titles carry the marker too; the summary says it once, up front.
        let title = self
            .incident
            .title
            .strip_prefix("[TEST] ")
            .unwrap_or(&self.incident.title);
        format!("[TEST] {}: {title}", self.host.hostname)
    }

    /// The evidence as plain text: what, where, since when, the facts, and the link.
    pub fn evidence_text(&self) -> String {
        let i = &self.incident;
        let mut text = String::new();
        if self.test {
            text.push_str("THIS IS A TEST NOTIFICATION from harbinger-collector notify-test; no action is needed.\n\n");
        }
        let _ = writeln!(text, "{}", self.summary());
        let _ = writeln!(text, "host: {} ({})", self.host.hostname, self.host.host_id);
        if let Some(component) = &i.component {
            let _ = writeln!(text, "component: {component}");
        }
        let _ = writeln!(text, "kind: {}", i.kind);
        let _ = writeln!(text, "severity: {}", i.severity);
        let _ = writeln!(text, "status: {}", i.status);
        let _ = writeln!(text, "opened at: {}", rfc3339(i.opened_at_ms));
        let _ = writeln!(text, "evidence at: {}", rfc3339(i.updated_at_ms));
        if !self.host.labels.is_empty() {
            let labels: Vec<String> = self
                .host
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(text, "labels: {}", labels.join(", "));
        }
        if let Value::Object(details) = &i.details {
            if !details.is_empty() {
                text.push_str("\nevidence:\n");
                for (key, value) in details {
                    let shown = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let _ = writeln!(text, "  {key}: {shown}");
                }
            }
        }
        if !self.dashboard_url.is_empty() {
            let _ = writeln!(text, "\ndashboard: {}", self.dashboard_url);
        }
        let _ = writeln!(text, "fingerprint: {}", self.fingerprint());
        text
    }

    /// Why the incident resolved, as the detector or a desk put it.
    pub fn resolution(&self) -> String {
        match self.incident.details.get("resolution") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "condition cleared".to_owned(),
        }
    }
}

/// See [`IncidentView::fingerprint`].
pub fn fingerprint(dedup_key: &str, opened_at_ms: i64) -> String {
    let digest = Sha256::digest(format!("{dedup_key}#{opened_at_ms}").as_bytes());
    let mut hex = String::with_capacity(3 + FINGERPRINT_HEX);
    hex.push_str("hb-");
    for byte in digest.iter().take(FINGERPRINT_HEX / 2) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Milliseconds since the epoch as RFC 3339 UTC (`2026-01-05T10:00:00.000Z`), without
/// a date crate: civil-from-days after Howard Hinnant's algorithm.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1_000);
    let millis = ms.rem_euclid(1_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({
            "version": "1", "action": "open", "idempotency_key": "k",
            "incident": {"id": 7, "dedup_key": "h1/filesystem_full//var", "host_id": "h1",
                "kind": "filesystem_full", "component": "filesystem:/var", "severity": "warning",
                "status": "open", "title": "/var is 95% full", "details": {"used_ratio": 0.95},
                "opened_at_ms": 1_767_607_200_000_i64, "updated_at_ms": 1_767_607_200_000_i64,
                "resolved_at_ms": null, "revision": 1},
            "host": {"host_id": "h1", "hostname": "db-17", "labels": {"rack": "r1"}},
            "dashboard_url": "http://c/host.html?id=h1"
        })
    }

    #[test]
    fn parses_the_outbox_body_and_renders_evidence() {
        let view = IncidentView::parse(&body()).expect("parses");
        assert_eq!(view.summary(), "db-17: /var is 95% full");
        let text = view.evidence_text();
        assert!(text.contains("used_ratio: 0.95"), "{text}");
        assert!(
            text.contains("opened at: 2026-01-05T10:00:00.000Z"),
            "{text}"
        );
        assert!(text.contains("rack=r1") && text.contains("http://c/host.html?id=h1"));
    }

    #[test]
    fn a_missing_field_is_named() {
        let mut b = body();
        b["incident"]
            .as_object_mut()
            .expect("object")
            .remove("dedup_key");
        let err = IncidentView::parse(&b).expect_err("incomplete");
        assert!(err.contains("dedup_key"), "{err}");
    }

    #[test]
    fn fingerprints_are_short_safe_and_per_occurrence() {
        let a = fingerprint("h1/filesystem_full//var", 1_000);
        assert_eq!(a.len(), 35);
        assert!(a.starts_with("hb-"));
        assert!(a[3..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(a, fingerprint("h1/filesystem_full//var", 1_000));
        assert_ne!(a, fingerprint("h1/filesystem_full//var", 2_000));
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }
}
