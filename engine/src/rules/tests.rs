//! Tests of the rule pack: the default parses and validates, overrides merge and are
//! audited, bad values are named, and the failure-rate buckets match the research table.

use super::*;

#[test]
fn default_pack_is_valid_and_names_known_metrics() {
    let pack = RulePack::default_pack().expect("default pack");
    assert_eq!(pack.format, 1);
    let metrics = pack
        .hard
        .iter()
        .map(|r| &r.metric)
        .chain(pack.counters.iter().map(|r| &r.metric))
        .chain(pack.baselines.iter().map(|r| &r.metric))
        .chain(pack.peers.iter().map(|r| &r.metric))
        .chain(pack.trends.iter().map(|r| &r.metric))
        .chain(pack.rates.iter().filter_map(|r| r.source.metric.as_ref()))
        .chain(pack.multivariate.features.iter().map(|f| &f.metric));
    for m in metrics {
        assert!(
            crate::names::is_known_metric(m),
            "{m} is neither in names.rs nor the catalogue"
        );
    }
}

#[test]
fn overrides_merge_by_id_and_are_audited() {
    let user = r#"
        [scoring]
        open_risk = 0.25

        [[counters]]
        id = "smart_pending"
        growth_lr = 3.0

        [[hard]]
        id = "psu_state"
        metric = "ipmi_sensor_state"
        match_labels = { type = "Power Supply" }
        component = { kind = "psu", labels = ["name"] }
        op = "ge"
        value = 1.0
        lr = 100.0
        title = "PSU sensor not ok"
    "#;
    let (pack, audit) =
        RulePack::with_overrides(DEFAULT_RULES, user, "site.toml").expect("overrides apply");
    assert_eq!(pack.scoring.open_risk, 0.25);
    let pending = pack
        .counters
        .iter()
        .find(|r| r.id == "smart_pending")
        .expect("kept");
    assert_eq!(pending.growth_lr, 3.0);
    assert!(
        !pending.buckets.is_empty(),
        "a partial override keeps the other keys"
    );
    assert!(pack.hard.iter().any(|r| r.id == "psu_state"));
    let keys: Vec<&str> = audit.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "counters[id=smart_pending].growth_lr",
            "hard[id=psu_state]",
            "scoring.open_risk"
        ]
    );
    assert_eq!(audit[2].old.as_deref(), Some("0.1"));
    assert!(audit[1].old.is_none());
}

#[test]
fn validation_names_the_bad_key() {
    let err = RulePack::with_overrides(DEFAULT_RULES, "[scoring]\nresolve_risk = 0.5\n", "u.toml")
        .expect_err("hysteresis inverted");
    assert!(err.to_string().contains("scoring.resolve_risk"), "{err}");
    let err = RulePack::with_overrides(
        DEFAULT_RULES,
        "[[rates]]\nid = \"ecc_correctable\"\nlevels = []\n",
        "u.toml",
    )
    .expect_err("no levels");
    assert!(err.to_string().contains("rates[0].levels"), "{err}");
    let err = RulePack::with_overrides(DEFAULT_RULES, "[baseline]\nwindow_minute = 5\n", "u.toml")
        .expect_err("unknown key");
    assert!(err.to_string().contains("window_minute"), "{err}");
    let err = RulePack::with_overrides(DEFAULT_RULES, "[topology]\nrules = [\"nope\"]\n", "u.toml")
        .expect_err("unknown rule");
    assert!(err.to_string().contains("topology.rules[0]"), "{err}");
}

#[test]
fn prior_follows_the_annual_failure_rate() {
    let pack = RulePack::default_pack().expect("pack");
    // 2.5 % a year over 60 days is about 0.41 %.
    let p = pack.prior("disk");
    assert!((p - 0.0041).abs() < 0.0002, "{p}");
    assert!(pack.prior("unknown-kind") > 0.0);
}

/// The buckets in default.toml are the research table's numbers (read from the shared
/// fixtures when HARBINGER_FIXTURES is set).
#[test]
#[allow(clippy::print_stdout)] // the SKIPPED line is the point
fn buckets_match_smart_failure_rates_csv() {
    let Ok(dir) = std::env::var("HARBINGER_FIXTURES") else {
        println!("SKIPPED: engine smart-failure-rates (set HARBINGER_FIXTURES)");
        return;
    };
    let path = std::path::Path::new(&dir).join("smart-failure-rates.csv");
    let text = std::fs::read_to_string(&path).expect("read smart-failure-rates.csv");
    let pack = RulePack::default_pack().expect("pack");
    let mut checked = 0;
    for line in text.lines().skip(1) {
        // attribute_id,attribute_name,"value_range",afr,...
        let mut parts = line.splitn(3, ',');
        let attr = parts.next().expect("attribute id");
        let rest = parts.nth(1).expect("rest");
        let (range, tail) = if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').expect("closing quote");
            (&r[..end], &r[end + 2..])
        } else {
            let end = rest.find(',').expect("comma");
            (&rest[..end], &rest[end + 1..])
        };
        let afr: f64 = tail
            .split(',')
            .next()
            .expect("afr")
            .parse()
            .expect("afr number");
        let Some(rule) = pack.counters.iter().find(|r| {
            r.metric == crate::names::SMART_ATTRIBUTE_RAW
                && r.match_labels.get("attribute_id").map(String::as_str) == Some(attr)
        }) else {
            continue;
        };
        let (lo, hi) = if let Some(v) = range.strip_prefix('=') {
            let v: f64 = v.parse().expect("value");
            (v, v)
        } else {
            let inner = range.trim_start_matches('(').trim_end_matches(']');
            let (a, b) = inner.split_once(',').expect("lo,hi");
            (a.parse().expect("lo"), b.parse().expect("hi"))
        };
        let found = rule
            .buckets
            .iter()
            .any(|b| b.lo == lo && b.hi == hi && (b.afr - afr).abs() < 1e-12);
        assert!(
            found,
            "attribute {attr} bucket {range} afr {afr} missing from {}",
            rule.id
        );
        checked += 1;
    }
    assert_eq!(checked, 9 * 4 + 9, "5, 187, 197, 198 and 188 rows");
}
