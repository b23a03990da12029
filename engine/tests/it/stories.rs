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
        .expect("ECC burst opens");
    // mcelog's level (10 in 24 h) opens on its own; the storm that follows updates it.
    assert!(
        open.explanation.signals[0].summary.contains("burst"),
        "{open:#?}"
    );
    assert!(
        out.iter()
            .filter(|t| t.dedup_key == "h3/dimm:DIMM_A1")
            .any(|t| t
                .explanation
                .signals
                .iter()
                .any(|s| s.summary.contains("storm"))),
        "{out:#?}"
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
    // After the baselines' three-day warm-up.
    let hot_from = T0 + 3 * DAY + 14 * HOUR;
    let mut noise = Lcg(7);
    for m in 0..(3 * DAY + 15 * HOUR) / MIN {
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
    out.extend(e.advance(T0 + 3 * DAY + 15 * HOUR));
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

/// Six identical hosts whose fan duty jumps between 0.3 and 0.7, each host on its own,
/// shipping ten intervals per batch with the RPM series before
/// the PWM series (as an agent replaying its spool may). Healthy fans must be compared
/// at the duty of the same window; only the fan that really is slower opens.
#[test]
fn peer_fans_in_multi_interval_batches_are_compared_at_the_same_duty() {
    use harbinger_shared::catalogue::names::{HWMON_FAN_RPM, HWMON_PWM_RATIO};
    use harbinger_shared::{Point, Series};
    let mut e = engine();
    let mut out = Vec::new();
    let hosts = ["f1", "f2", "f3", "f4", "f5", "f6"];
    for h in hosts {
        let inv = B::new(h, &[], 0).inventory(vec![(ComponentKind::Host, h, &[("model", "R640")])]);
        feed(&mut e, inv, &mut out);
    }
    let step = 5 * MIN;
    let per_batch = 10;
    let mut noise = Lcg(7);
    for batch in 0..(2 * DAY / step / per_batch) {
        for h in hosts {
            let mut rpm = Vec::new();
            let mut pwm = Vec::new();
            for k in 0..per_batch {
                let n = batch * per_batch + k;
                let ts = T0 + n * step;
                // Each host's duty follows its own load: unrelated to the others'.
                let duty = if noise.next_f64() < 0.5 { 0.3 } else { 0.7 };
                // f6's fan turns 35 % slower than its identical neighbours.
                let health = if h == "f6" { 0.65 } else { 1.0 };
                let speed = 9000.0 * f64::powf(duty, 0.85) * health;
                rpm.push(Point {
                    ts,
                    value: speed * (1.0 + 0.01 * noise.next_f64()),
                });
                pwm.push(Point { ts, value: duty });
            }
            let mut b = B::new(h, &[], batch as u64 + 1);
            b.batch.interval_ms = step as u64;
            let fan = labels(&[("chip", "nct6779"), ("sensor", "fan1"), ("label", "FAN1")]);
            let duty = labels(&[("chip", "nct6779"), ("sensor", "pwm1"), ("label", "FAN1")]);
            b.batch.series.push(Series {
                metric: HWMON_FAN_RPM.into(),
                labels: fan,
                points: rpm,
            });
            b.batch.series.push(Series {
                metric: HWMON_PWM_RATIO.into(),
                labels: duty,
                points: pwm,
            });
            feed(&mut e, b, &mut out);
        }
    }
    let fan_opens: Vec<&str> = out
        .iter()
        .filter(|t| t.action == Action::Open && t.dedup_key.contains("/fan:"))
        .map(|t| t.dedup_key.as_str())
        .collect();
    assert_eq!(fan_opens, ["f6/fan:nct6779/fan1"], "{out:#?}");
}

/// A supply's 12 V rail sags and ripples for a day before it fails, inside the BMC's
/// thresholds; the CPU's core voltage follows the load all along. Only the sag opens,
/// and as a host incident (the rails are shared by every supply).
#[test]
fn sagging_rail_opens_while_a_load_following_rail_stays_quiet() {
    use harbinger_shared::catalogue::names::IPMI_SENSOR_VALUE;
    let mut e = engine();
    let mut out = Vec::new();
    let step = 5 * MIN;
    let sag_from = T0 + 6 * DAY;
    let mut noise = Lcg(11);
    let mut opened_before_sag = Vec::new();
    for k in 0..(7 * DAY / step) {
        let ts = T0 + k * step;
        let hour = ((ts - T0) % DAY) as f64 / HOUR as f64;
        // Busy in the working day, a batch job at night.
        let load = if (9.0..18.0).contains(&hour) || (2.0..3.0).contains(&hour) {
            0.8
        } else {
            0.1
        };
        let progress = ((ts - sag_from) as f64 / DAY as f64).clamp(0.0, 1.0);
        let sag = 0.025 * progress;
        let ripple = 0.002 + 0.012 * progress;
        let twelve = 12.0 * (1.0 - sag + ripple * (2.0 * noise.next_f64() - 1.0));
        let vcore = 0.75 + 0.45 * load + 0.01 * noise.next_f64();
        let b = B::new("p1", &[], k as u64)
            .sample(
                IPMI_SENSOR_VALUE,
                &[("name", "12V"), ("type", "Voltage"), ("unit", "volts")],
                ts,
                (twelve * 1000.0).round() / 1000.0,
            )
            .sample(
                IPMI_SENSOR_VALUE,
                &[
                    ("name", "CPU1 VCORE"),
                    ("type", "Voltage"),
                    ("unit", "volts"),
                ],
                ts,
                vcore,
            );
        let t = e.feed(&b.batch);
        if ts < sag_from {
            opened_before_sag.extend(t.iter().filter(|t| t.action == Action::Open).cloned());
        }
        out.extend(t);
    }
    assert!(opened_before_sag.is_empty(), "{opened_before_sag:#?}");
    let open = out
        .iter()
        .find(|t| t.action == Action::Open)
        .expect("the sagging rail opens an incident");
    assert_eq!(open.dedup_key, "p1/host:p1", "{open:#?}");
    let rules: Vec<&str> = open
        .explanation
        .signals
        .iter()
        .map(|s| s.rule.as_str())
        .collect();
    assert!(rules.contains(&"rail_voltage"), "{rules:?}");
    assert!(
        open.opened_ms > sag_from && open.opened_ms < sag_from + DAY,
        "{open:#?}"
    );
}

/// Correctable errors that come back every other day, never ten in a day, open an
/// incident for the DIMM; one burst of errors within one hour that never recurs does not.
#[test]
fn recurring_correctable_errors_open_below_the_burst_level_a_single_burst_does_not() {
    let mut e = engine();
    let mut out = Vec::new();
    let dimm = [("controller", "0"), ("dimm", "0"), ("label", "DIMM_B1")];
    // (day, errors that day): h7 recurs, h8 has one burst of four errors.
    let recurring: &[(i64, u64)] = &[(1, 2), (3, 1), (5, 3), (7, 2)];
    let once: &[(i64, u64)] = &[(2, 4)];
    for (host, errors) in [("h7", recurring), ("h8", once)] {
        let mut total = 0_u64;
        for hour in 0..10 * 24 {
            let ts = T0 + hour * HOUR;
            if let Some((_, n)) = errors.iter().find(|(d, _)| hour == d * 24 + 10) {
                total += n;
            }
            let b = B::new(host, &[], hour as u64).sample(names::EDAC_CE, &dimm, ts, total as f64);
            feed(&mut e, b, &mut out);
        }
    }
    let opens: Vec<&str> = out
        .iter()
        .filter(|t| t.action == Action::Open)
        .map(|t| t.dedup_key.as_str())
        .collect();
    assert_eq!(opens, ["h7/dimm:DIMM_B1"], "{out:#?}");
    let open = out
        .iter()
        .find(|t| t.action == Action::Open)
        .expect("opened");
    // On the second occasion (day 3), long before any day with ten errors.
    assert_eq!(open.opened_ms, T0 + (3 * 24 + 10) * HOUR, "{open:#?}");
}
