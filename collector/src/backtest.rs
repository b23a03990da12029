//! `harbinger-collector backtest`: replays stored history through a fresh analysis
//! engine and reports, per detector and per rule, the incidents it would have opened,
//! precision and recall against recorded outcomes, and the median lead time.
//!
//! Outcomes are the operators' resolution codes stored by ticket sync plus those the
//! engine records itself while replaying (unexpected reboots, uncorrectable errors,
//! replaced disks, lost hosts). An incident is a true positive when a failure of its
//! host (and component, when the outcome names one) follows its opening within the rule
//! pack's horizon; a failure is recalled by a rule when such an incident carried it.

use crate::analysis::health;
use crate::store::{BatchFilter, DbError, Store};
use harbinger_engine::{Action, Engine, Outcome, RulePack, Transition};
use harbinger_shared::Batch;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Batches per store round trip.
const PAGE: i64 = 512;
/// Event time between two `advance` calls: windows close and silence is judged.
const ADVANCE_EVERY_MS: i64 = 60_000;

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BacktestError {
    #[error("cannot read stored history: {0}")]
    Store(#[from] DbError),
    #[error("{what}: {text:?} is neither RFC 3339 nor milliseconds since the epoch")]
    Time { what: &'static str, text: String },
    #[error("--from must be before --to")]
    Range,
}

/// One incident the engine would have opened.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WouldOpen {
    pub dedup_key: String,
    pub host_id: Option<String>,
    pub at_ms: i64,
    pub risk: f64,
    pub title: String,
    pub rules: Vec<String>,
    /// Lead time to the failure it preceded, when it did.
    pub lead_ms: Option<i64>,
}

/// Figures of one rule or detector.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Score {
    pub incidents: usize,
    pub true_positives: usize,
    pub precision: Option<f64>,
    pub failures_recalled: usize,
    pub recall: Option<f64>,
    pub median_lead_ms: Option<i64>,
}

/// The backtest's report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub from_ms: i64,
    pub to_ms: i64,
    pub rules_version: String,
    pub batches: usize,
    pub failures: usize,
    pub overall: Score,
    pub by_rule: BTreeMap<String, Score>,
    pub by_detector: BTreeMap<String, Score>,
    pub incidents: Vec<WouldOpen>,
}

/// Parses `--from`/`--to`: RFC 3339 (`2025-01-02T03:04:05Z`, offsets allowed) or ms.
pub fn parse_time(what: &'static str, text: &str) -> Result<i64, BacktestError> {
    let bad = || BacktestError::Time {
        what,
        text: text.to_owned(),
    };
    if let Ok(ms) = text.trim().parse::<i64>() {
        return Ok(ms);
    }
    let t = text.trim();
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    if t.len() < 20 || !t.is_char_boundary(19) {
        return Err(bad());
    }
    let (date, rest) = t.split_at(10);
    let d: Vec<&str> = date.split('-').collect();
    if d.len() != 3 || !matches!(&rest[..1], "T" | "t" | " ") {
        return Err(bad());
    }
    let (y, m, day) = (num(d[0])?, num(d[1])?, num(d[2])?);
    let time = &rest[1..9];
    let tp: Vec<&str> = time.split(':').collect();
    if tp.len() != 3 || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let (hh, mm, ss) = (num(tp[0])?, num(tp[1])?, num(tp[2])?);
    let mut zone = &rest[9..];
    let mut millis = 0;
    if let Some(frac) = zone.strip_prefix('.') {
        let digits = frac.chars().take_while(char::is_ascii_digit).count();
        let f = &frac[..digits];
        if f.is_empty() {
            return Err(bad());
        }
        let padded = format!("{:0<3}", &f[..f.len().min(3)]);
        millis = num(&padded)?;
        zone = &frac[digits..];
    }
    let offset_min = match zone {
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (num(&z[1..3])? * 60 + num(&z[4..6])?)
        }
        _ => return Err(bad()),
    };
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3_600 + mm * 60 + ss - offset_min * 60;
    Ok(secs * 1_000 + millis)
}

/// Loads `[from_ms, to_ms]` from the store in event-time order across hosts.
pub async fn load_history(
    store: &dyn Store,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Batch>, BacktestError> {
    let mut batches = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .load_batches(&BatchFilter {
                host_id: None,
                from_ms,
                to_ms,
                after: after.take(),
                limit: PAGE,
            })
            .await?;
        let full = page.len() as i64 >= PAGE;
        if let Some(last) = page.last() {
            after = Some((
                last.agent.host_id.clone(),
                i64::try_from(last.seq).unwrap_or(i64::MAX),
            ));
        }
        batches.extend(page);
        if !full {
            break;
        }
    }
    batches.sort_by_key(|b| {
        let (lo, hi) = b.time_range().unwrap_or((i64::MIN, i64::MIN));
        (hi, lo, b.agent.host_id.clone(), b.seq)
    });
    Ok(batches)
}

/// Stored operators' outcomes in the range, as engine outcomes.
pub async fn load_outcomes(
    store: &dyn Store,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Outcome>, BacktestError> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let rows = store.outcomes_after(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        for row in &rows {
            if row.at_ms < from_ms || row.at_ms > to_ms {
                continue;
            }
            if let Some(incident) = store.incident(row.incident_id).await? {
                out.push(health::outcome(row, &incident));
            }
        }
    }
    out.sort_by_key(|o| o.at_ms);
    Ok(out)
}

/// Replays `batches` (event-time order) and `outcomes` through a fresh engine.
pub fn run(
    rules: RulePack,
    batches: &[Batch],
    outcomes: Vec<Outcome>,
    from_ms: i64,
    to_ms: i64,
) -> Report {
    let horizon_ms = (rules.scoring.horizon_days * 86_400_000.0) as i64;
    let rules_version = rules.version.clone();
    let mut engine = Engine::new(rules);
    let mut opened: Vec<Transition> = Vec::new();
    let mut pending = outcomes.into_iter().peekable();
    let mut next_advance = i64::MIN;
    let keep = |ts: Vec<Transition>, opened: &mut Vec<Transition>| {
        opened.extend(ts.into_iter().filter(|t| t.action == Action::Open));
    };
    for batch in batches {
        let hi = batch.time_range().map_or(i64::MIN, |(_, hi)| hi);
        while let Some(o) = pending.next_if(|o| o.at_ms <= hi) {
            engine.record_outcome(o);
        }
        keep(engine.feed(batch), &mut opened);
        if next_advance == i64::MIN {
            next_advance = hi + ADVANCE_EVERY_MS;
        }
        if hi >= next_advance {
            keep(engine.advance(hi), &mut opened);
            next_advance = hi + ADVANCE_EVERY_MS;
        }
    }
    for o in pending {
        engine.record_outcome(o);
    }
    keep(engine.advance(to_ms), &mut opened);

    let failures: Vec<&Outcome> = engine
        .outcomes()
        .iter()
        .map(|r| &r.outcome)
        .filter(|o| o.kind.is_failure() && !o.planned && o.at_ms >= from_ms && o.at_ms <= to_ms)
        .collect();
    let precedes = |t: &Transition, o: &Outcome| -> bool {
        let same_host = t.host_id.as_deref() == Some(o.host_id.as_str())
            || t.place
                .as_ref()
                .is_some_and(|p| p.hosts.contains(&o.host_id));
        let same_component = match (&o.component, &t.component) {
            (Some(oc), Some(tc)) => oc == tc,
            _ => true,
        };
        same_host && same_component && o.at_ms >= t.at_ms && o.at_ms - t.at_ms <= horizon_ms
    };
    let mut incidents = Vec::new();
    for t in &opened {
        let lead = failures
            .iter()
            .filter(|o| precedes(t, o))
            .map(|o| o.at_ms - t.at_ms)
            .max();
        incidents.push(WouldOpen {
            dedup_key: t.dedup_key.clone(),
            host_id: t.host_id.clone(),
            at_ms: t.at_ms,
            risk: t.risk,
            title: t.title.clone(),
            rules: t
                .explanation
                .signals
                .iter()
                .map(|c| c.rule.clone())
                .collect(),
            lead_ms: lead,
        });
    }
    let detectors_of = |t: &Transition| -> Vec<String> {
        let mut d: Vec<String> = t
            .explanation
            .signals
            .iter()
            .map(|c| {
                serde_json::to_value(c.detector)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("{:?}", c.detector))
            })
            .collect();
        d.sort();
        d.dedup();
        d
    };
    let rules_of = |t: &Transition| -> Vec<String> {
        let mut r: Vec<String> = t
            .explanation
            .signals
            .iter()
            .map(|c| c.rule.clone())
            .collect();
        r.sort();
        r.dedup();
        r
    };
    let score = |pick: &dyn Fn(&Transition) -> bool| -> Score {
        let chosen: Vec<&Transition> = opened.iter().filter(|t| pick(t)).collect();
        let tp = chosen
            .iter()
            .filter(|t| failures.iter().any(|o| precedes(t, o)))
            .count();
        let mut leads = Vec::new();
        let mut recalled = 0;
        for o in &failures {
            let lead = chosen
                .iter()
                .filter(|t| precedes(t, o))
                .map(|t| o.at_ms - t.at_ms)
                .max();
            if let Some(l) = lead {
                recalled += 1;
                leads.push(l);
            }
        }
        leads.sort_unstable();
        Score {
            incidents: chosen.len(),
            true_positives: tp,
            precision: (!chosen.is_empty()).then(|| tp as f64 / chosen.len() as f64),
            failures_recalled: recalled,
            recall: (!failures.is_empty()).then(|| recalled as f64 / failures.len() as f64),
            median_lead_ms: median(&leads),
        }
    };
    let mut by_rule = BTreeMap::new();
    let mut by_detector = BTreeMap::new();
    for t in &opened {
        for r in rules_of(t) {
            by_rule.entry(r).or_insert_with(Score::default);
        }
        for d in detectors_of(t) {
            by_detector.entry(d).or_insert_with(Score::default);
        }
    }
    for (rule, s) in by_rule.iter_mut() {
        *s = score(&|t| rules_of(t).contains(rule));
    }
    for (det, s) in by_detector.iter_mut() {
        *s = score(&|t| detectors_of(t).contains(det));
    }
    Report {
        from_ms,
        to_ms,
        rules_version,
        batches: batches.len(),
        failures: failures.len(),
        overall: score(&|_| true),
        by_rule,
        by_detector,
        incidents,
    }
}

fn median(sorted: &[i64]) -> Option<i64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
}

fn hours(x: Option<i64>) -> String {
    x.map_or("-".into(), |v| format!("{:.1}h", v as f64 / 3_600_000.0))
}

/// The report as text for people.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "backtest {}..{} (rules {}): {} batches, {} incidents, {} failures",
        r.from_ms,
        r.to_ms,
        r.rules_version,
        r.batches,
        r.incidents.len(),
        r.failures
    );
    let line = |s: &mut String, name: &str, x: &Score| {
        let _ = writeln!(
            s,
            "  {name:<32} incidents {:>4}  precision {:>6}  recall {:>6}  median lead {:>8}",
            x.incidents,
            pct(x.precision),
            pct(x.recall),
            hours(x.median_lead_ms)
        );
    };
    line(&mut s, "overall", &r.overall);
    let _ = writeln!(s, "by detector:");
    for (k, v) in &r.by_detector {
        line(&mut s, k, v);
    }
    let _ = writeln!(s, "by rule:");
    for (k, v) in &r.by_rule {
        line(&mut s, k, v);
    }
    let _ = writeln!(s, "incidents it would have opened:");
    for i in &r.incidents {
        let _ = writeln!(
            s,
            "  {} at {} risk {:.3} lead {} [{}] {}",
            i.dedup_key,
            i.at_ms,
            i.risk,
            hours(i.lead_ms),
            i.rules.join(", "),
            i.title
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_ms() {
        assert_eq!(parse_time("from", "0").expect("ms"), 0);
        assert_eq!(
            parse_time("from", "2000-02-29T00:00:00.123Z").expect("rfc3339"),
            951_782_400_123
        );
        assert_eq!(
            parse_time("from", "2000-02-29T01:00:00+01:00").expect("offset"),
            951_782_400_000
        );
        assert!(parse_time("from", "yesterday").is_err());
        assert!(parse_time("from", "2000-13-01T00:00:00Z").is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1, 3, 10]), Some(3));
        assert_eq!(median(&[1, 3]), Some(2));
    }
}
