//! Stories through the public API: a degrading disk, a stable one, replacement,
//! maintenance, topology grouping, silence, memory errors and learning.

use crate::fleet::*;
use harbinger_engine::names;
use harbinger_engine::{Action, MaintenanceWindow, Outcome, OutcomeKind, Transition};
use harbinger_shared::{ComponentId, ComponentKind, Severity};

fn opened<'a>(out: &'a [Transition], key: &str) -> Vec<&'a Transition> {
    out.iter().filter(|t| t.dedup_key == key).collect()
}

/// Feeds a disk whose pending and reallocated counts climb over days 2-5.
fn degrading_disk(
    e: &mut harbinger_engine::Engine,
    host: &str,
    disk: &str,
    out: &mut Vec<Transition>,
) {
    let inv = B::new(host, &[], 0).inventory(vec![(
        ComponentKind::Disk,
        disk,
        &[
            ("device", "sdb"),
            ("serial", disk),
            ("model", "WDC WD40EFRX"),
        ],
    )]);
    feed(e, inv, out);
    for h in 0..5 * 24 {
        let ts = T0 + h * HOUR;
        let day = h as f64 / 24.0;
        let pending = if day < 2.0 {
            0.0
        } else {
            ((day - 2.0) * 3.0).floor().min(8.0)
        };
        let realloc = if day < 3.0 {
            0.0
        } else {
            ((day - 3.0) * 12.0).floor().min(24.0)
        };
        let offline = if day < 4.5 { 0.0 } else { 2.0 };
        let mut b = B::new(host, &[], h as u64 + 1);
        b = with_smart(b, disk, "5", ts, realloc);
        b = with_smart(b, disk, "197", ts, pending);
        b = with_smart(b, disk, "198", ts, offline);
        b = b.sample(names::SMART_STATUS, &[("device_id", disk)], ts, 1.0);
        feed(e, b, out);
    }
}

#[test]
fn degrading_disk_opens_grows_and_explains_itself() {
    let mut e = engine();
    let mut out = Vec::new();
    degrading_disk(&mut e, "h1", "WD-1", &mut out);
    let key = "h1/disk:WD-1";
    let ts = opened(&out, key);
    assert!(!ts.is_empty(), "{out:#?}");
    assert_eq!(ts[0].action, Action::Open);
    assert!(ts[0].risk >= 0.10);
    assert!(
        ts.iter().skip(1).all(|t| t.action == Action::Update),
        "{ts:#?}"
    );
    let last = ts.last().expect("last");
    assert_eq!(last.severity, Severity::Critical, "{last:#?}");
    let rules: Vec<&str> = last
        .explanation
        .signals
        .iter()
        .map(|c| c.rule.as_str())
        .collect();
    for r in [
        "smart_pending",
        "smart_reallocated",
        "smart_offline_uncorrectable",
    ] {
        assert!(rules.contains(&r), "{rules:?}");
    }
    assert!(
        last.title.contains("disk:WD-1 on h1.example"),
        "{}",
        last.title
    );
    assert!(last.explanation.recommended_action.contains("Back up"));
    assert!(last.explanation.prior < 0.01);
    // Revisions count up by one per transition.
    for (i, t) in ts.iter().enumerate() {
        assert_eq!(t.revision as usize, i);
        assert_eq!(t.opened_ms, ts[0].opened_ms);
    }
}

#[test]
fn one_stable_reallocated_sector_stays_quiet_for_a_month() {
    let mut e = engine();
    let mut out = Vec::new();
    for h in 0..30 * 24 {
        let ts = T0 + h * HOUR;
        let mut b = B::new("h2", &[], h as u64);
        b.batch.interval_ms = HOUR as u64;
        b = with_smart(b, "ST-9", "5", ts, 1.0);
        b = with_smart(b, "ST-9", "197", ts, 0.0);
        b = b.sample(names::SMART_STATUS, &[("device_id", "ST-9")], ts, 1.0);
        feed(&mut e, b, &mut out);
        out.extend(e.advance(ts + 30 * MIN));
    }
    assert!(out.is_empty(), "{out:#?}");
}

#[test]
fn replacement_resolves_the_old_case_and_is_an_outcome() {
    let mut e = engine();
    let mut out = Vec::new();
    degrading_disk(&mut e, "h1", "WD-1", &mut out);
    assert!(e.open_incidents().iter().any(|(k, _)| k == "h1/disk:WD-1"));
    let at = T0 + 6 * DAY;
    let b = B::new("h1", &[], 1000)
        .inventory(vec![(
            ComponentKind::Disk,
            "WD-2",
            &[
                ("device", "sdb"),
                ("serial", "WD-2"),
                ("model", "WDC WD40EFRX"),
            ],
        )])
        .sample(harbinger_shared::catalogue::names::LOAD1, &[], at, 0.1);
    let t = e.feed(&b.batch);
    let resolve = t
        .iter()
        .find(|t| t.dedup_key == "h1/disk:WD-1")
        .expect("old disk's incident resolves");
    assert_eq!(resolve.action, Action::Resolve);
    assert_eq!(resolve.reason.as_deref(), Some("component replaced"));
    assert!(e.open_incidents().is_empty(), "{:?}", e.open_incidents());
    let rec = e
        .outcomes()
        .iter()
        .find(|o| o.outcome.kind == OutcomeKind::Replaced)
        .expect("replacement recorded");
    assert!(!rec.outcome.planned);
    let pending = rec
        .precursors
        .iter()
        .find(|p| p.rule == "smart_pending")
        .expect("pending preceded the replacement");
    // Pending sectors first appeared on day 2 (+1 h); the replacement came on day 6.
    assert!(
        pending.lead_ms > 3 * DAY && pending.lead_ms < 4 * DAY,
        "{pending:?}"
    );
    // The new disk starts clean: a healthy sample opens nothing.
    let b = with_smart(B::new("h1", &[], 1001), "WD-2", "197", at + HOUR, 0.0);
    assert!(e.feed(&b.batch).is_empty());
}

#[test]
fn dimm_serial_change_resets_the_case_and_its_rates() {
    let mut e = engine();
    let dimm = [("controller", "0"), ("dimm", "0"), ("label", "DIMM_A1")];
    let inv = |serial: &str| -> Vec<Item<'static>> {
        let attrs: &[(&str, &str)] = if serial == "S1" {
            &[("serial", "S1")]
        } else {
            &[("serial", "S2")]
        };
        vec![(ComponentKind::Dimm, "DIMM_A1", attrs)]
    };
    let mut out = Vec::new();
    feed(&mut e, B::new("h3", &[], 0).inventory(inv("S1")), &mut out);
    for m in 0..120 {
        let ts = T0 + m * MIN;
        feed(
            &mut e,
            B::new("h3", &[], m as u64 + 1).sample(names::EDAC_CE, &dimm, ts, m as f64),
            &mut out,
        );
    }
    let open = out
        .iter()
        .find(|t| t.dedup_key == "h3/dimm:DIMM_A1")
        .expect("ECC storm opens");
    assert!(
        open.explanation.signals[0].summary.contains("storm"),
        "{open:#?}"
    );
    let at = T0 + 3 * HOUR;
    let t = e.feed(
        &B::new("h3", &[], 500)
            .inventory(inv("S2"))
            .sample(harbinger_shared::catalogue::names::LOAD1, &[], at, 0.1)
            .batch,
    );
    assert!(t
        .iter()
        .any(|t| t.action == Action::Resolve && t.reason.as_deref() == Some("component replaced")));
    // The counter carries on from the old value: the fresh state takes it as a base.
    let t = e.feed(
        &B::new("h3", &[], 501)
            .sample(names::EDAC_CE, &dimm, at + MIN, 119.0)
            .batch,
    );
    assert!(t.is_empty(), "{t:#?}");
}

#[test]
fn maintenance_suppresses_and_marks_reboots_planned() {
    let mut e = engine();
    let start = T0 + DAY;
    e.set_maintenance(vec![MaintenanceWindow {
        id: "mw-1".into(),
        start_ms: start,
        end_ms: start + 2 * HOUR,
        hosts: vec!["h4".into()],
        labels: Default::default(),
    }]);
    let mut out = Vec::new();
    feed(
        &mut e,
        B::new("h4", &[], 0).sample(
            harbinger_shared::catalogue::names::LOAD1,
            &[],
            start - MIN,
            0.1,
        ),
        &mut out,
    );
    // Inside the window: a reboot, an hour of silence, then SMART failing.
    feed(
        &mut e,
        B::new("h4", &[], 1).event(
            names::events::REBOOT,
            start + MIN,
            "boot id changed",
            None,
            &[],
        ),
        &mut out,
    );
    out.extend(e.advance(start + 70 * MIN));
    let b = B::new("h4", &[], 2).sample(
        names::SMART_STATUS,
        &[("device_id", "D1")],
        start + 80 * MIN,
        0.0,
    );
    feed(&mut e, b, &mut out);
    out.extend(e.advance(start + 110 * MIN));
    assert!(
        out.is_empty(),
        "nothing opens during planned work: {out:#?}"
    );
    let reboot = &e.outcomes()[0];
    assert_eq!(reboot.outcome.kind, OutcomeKind::UnexpectedReboot);
    assert!(reboot.outcome.planned);
    // After the window the failing disk is still failing: now it opens.
    let after = e.advance(start + 2 * HOUR + MIN);
    let open = after
        .iter()
        .find(|t| t.dedup_key == "h4/disk:D1")
        .expect("opens after the window");
    assert_eq!(open.action, Action::Open);
    assert_eq!(open.severity, Severity::Critical);
    // A reboot outside maintenance is an unplanned outcome.
    let b = B::new("h4", &[], 3).event(
        names::events::REBOOT,
        start + 3 * HOUR,
        "boot id changed",
        None,
        &[],
    );
    e.feed(&b.batch);
    assert!(!e.outcomes()[1].outcome.planned);
}

#[test]
fn rack_cooling_loss_is_one_incident_for_the_rack() {
    let mut e = engine();
    let hosts = ["a", "b", "c", "d"];
    let temp = [
        ("chip", "coretemp"),
        ("sensor", "temp1"),
        ("label", "Package"),
    ];
    let mut out = Vec::new();
    let hot_from = T0 + DAY + 14 * HOUR;
    let mut noise = Lcg(7);
    for m in 0..(DAY + 15 * HOUR) / MIN {
        let ts = T0 + m * MIN;
        for (i, h) in hosts.iter().enumerate() {
            let mut v = 45.0 + i as f64 + noise.next_f64();
            if ts >= hot_from && *h != "d" {
                v += 25.0;
            }
            let rack: &[(&str, &str)] = &[("rack", "r1"), ("site", "s1")];
            feed(
                &mut e,
                B::new(h, rack, m as u64).sample(names::TEMP_CELSIUS, &temp, ts, v),
                &mut out,
            );
        }
    }
    out.extend(e.advance(T0 + DAY + 15 * HOUR));
    let place: Vec<&Transition> = out.iter().filter(|t| t.place.is_some()).collect();
    assert_eq!(place.len(), 1, "{place:#?}");
    assert_eq!(place[0].dedup_key, "place/rack=r1");
    assert_eq!(place[0].action, Action::Open);
    let p = place[0].place.as_ref().expect("place");
    assert_eq!(p.hosts, ["a", "b", "c"]);
    let host_level: Vec<&Transition> = out.iter().filter(|t| t.host_id.is_some()).collect();
    assert!(
        host_level.is_empty(),
        "no per-host incidents: {host_level:#?}"
    );
}

#[test]
fn silent_host_opens_and_resolves_with_hysteresis() {
    let mut e = engine();
    e.feed(
        &B::new("h5", &[], 0)
            .sample(harbinger_shared::catalogue::names::LOAD1, &[], T0, 0.1)
            .batch,
    );
    assert!(e.advance(T0 + 2 * MIN).is_empty());
    let t = e.advance(T0 + 5 * MIN);
    let open = t
        .iter()
        .find(|t| t.dedup_key == "h5/host:h5")
        .expect("silent host");
    assert_eq!(open.action, Action::Open);
    assert!(open.title.contains("Host silent"));
    let mut resolved = None;
    for m in 10..=75 {
        let ts = T0 + m * MIN;
        let mut t = e.feed(
            &B::new("h5", &[], m as u64)
                .sample(harbinger_shared::catalogue::names::LOAD1, &[], ts, 0.1)
                .batch,
        );
        t.extend(e.advance(ts));
        if let Some(r) = t.iter().find(|t| t.action == Action::Resolve) {
            resolved = Some(r.at_ms);
        }
        assert!(t.iter().all(|t| t.action == Action::Resolve), "{t:#?}");
    }
    // Data is back at +10 min; the incident resolves 60 minutes later, not at once.
    assert_eq!(resolved, Some(T0 + 70 * MIN));
}

#[test]
fn correctable_storm_then_uncorrectable_is_learnt_as_a_precursor() {
    let mut e = engine();
    let dimm = [("controller", "0"), ("dimm", "1"), ("label", "DIMM_B2")];
    let mut out = Vec::new();
    for m in 0..180 {
        let ts = T0 + m * MIN;
        feed(
            &mut e,
            B::new("h6", &[], m as u64).sample(names::EDAC_CE, &dimm, ts, (m / 2) as f64),
            &mut out,
        );
    }
    let ts = opened(&out, "h6/dimm:DIMM_B2");
    assert_eq!(ts[0].action, Action::Open);
    assert!(ts[0].severity >= Severity::Warning);
    let ue = T0 + 5 * HOUR;
    let comp = ComponentId::new(ComponentKind::Dimm, "DIMM_B2");
    let t = e.feed(
        &B::new("h6", &[], 999)
            .event(
                names::events::EDAC_UNCORRECTABLE,
                ue,
                "UE on DIMM_B2",
                Some(comp),
                &[],
            )
            .batch,
    );
    let up = t
        .iter()
        .find(|t| t.dedup_key == "h6/dimm:DIMM_B2")
        .expect("update");
    assert_eq!(up.severity, Severity::Critical);
    let rec = e
        .outcomes()
        .iter()
        .find(|o| o.outcome.kind == OutcomeKind::Uncorrectable)
        .expect("UE is an outcome");
    assert!(rec
        .precursors
        .iter()
        .any(|p| p.rule == "ecc_correctable" && p.lead_ms > HOUR));
    assert!(e.rule_stats()["ecc_correctable"].median_lead_ms.is_some());
}

#[test]
fn outcomes_teach_weights_that_replace_priors() {
    // Weak regularisation: with a couple of dozen outcomes the fitted weights should
    // still speak clearly.
    let (pack, audit) = harbinger_engine::RulePack::with_overrides(
        harbinger_engine::rules::DEFAULT_RULES,
        "[learning]\nalpha = 0.01\n",
        "test.toml",
    )
    .expect("override");
    assert_eq!(audit.len(), 1);
    let mut e = harbinger_engine::Engine::new(pack);
    for i in 0..12 {
        for (host, attr, value, code) in [
            (format!("f{i}"), "197", 3.0, "hardware_replaced"),
            (format!("n{i}"), "5", 6.0, "no_fault"),
        ] {
            let disk = format!("D-{host}");
            let b = with_smart(B::new(&host, &[], 0), &disk, attr, T0 + i * HOUR, 0.0);
            e.feed(&b.batch);
            let b = with_smart(
                B::new(&host, &[], 1),
                &disk,
                attr,
                T0 + i * HOUR + MIN,
                value,
            );
            e.feed(&b.batch);
            e.record_outcome(Outcome {
                host_id: host.clone(),
                component: Some(ComponentId::new(ComponentKind::Disk, disk)),
                kind: OutcomeKind::Resolution(code.into()),
                at_ms: T0 + i * HOUR + 2 * DAY,
                planned: false,
            });
        }
    }
    let w = e.learned_weights();
    assert!(w.contains_key("smart_pending"), "{w:?}");
    assert!(
        w["smart_pending"] > w.get("smart_reallocated").copied().unwrap_or(0.0),
        "{w:?}"
    );
    let b = with_smart(B::new("new", &[], 0), "D-new", "197", T0 + 30 * DAY, 0.0);
    e.feed(&b.batch);
    let b = with_smart(
        B::new("new", &[], 1),
        "D-new",
        "197",
        T0 + 30 * DAY + MIN,
        3.0,
    );
    let t = e.feed(&b.batch);
    let open = t
        .iter()
        .find(|t| t.dedup_key == "new/disk:D-new")
        .expect("opens");
    assert!(open
        .explanation
        .signals
        .iter()
        .any(|c| c.rule == "smart_pending" && c.weight_source == "learned"));
}

#[test]
fn a_rack_going_dark_is_one_incident() {
    let mut e = engine();
    for h in ["p", "q", "r"] {
        let b = B::new(h, &[("rack", "r9")], 0).sample(
            harbinger_shared::catalogue::names::LOAD1,
            &[],
            T0,
            0.1,
        );
        e.feed(&b.batch);
    }
    let mut out = Vec::new();
    for m in 1..=30 {
        out.extend(e.advance(T0 + m * MIN));
    }
    let keys: Vec<&str> = out.iter().map(|t| t.dedup_key.as_str()).collect();
    assert_eq!(keys, ["place/rack=r9"], "{out:#?}");
}
