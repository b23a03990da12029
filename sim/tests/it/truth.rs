//! Ground truth agrees with the data: precursors before failures, nothing before sudden ones.

use crate::common::{all_failures, small_spec, Index};
use harbinger_shared::catalogue::names as sys;
use harbinger_shared::{ComponentKind, EventKind};
use harbinger_sim::names::{self, attr};
use harbinger_sim::{Fleet, OutcomeKind, Pace};

fn build() -> (harbinger_sim::GroundTruth, Index) {
    let spec = all_failures(small_spec(4, 6.0, 21));
    let fleet = Fleet::new(&spec).expect("spec");
    let truth = fleet.truth().clone();
    let index = Index::build(fleet, |m| {
        m.starts_with("smartctl_")
            || m == names::FAN_RPM
            || m == names::IPMI_VALUE
            || m == names::IPMI_STATE
            || m == names::EDAC_CORRECTABLE
            || m == sys::UPTIME
    });
    (truth, index)
}

#[test]
fn every_outcome_kind_is_injected_and_visible_in_the_data() {
    let (truth, index) = build();
    let kinds: std::collections::BTreeSet<_> = truth.outcomes.iter().map(|o| o.kind).collect();
    for kind in [
        OutcomeKind::DiskFailure,
        OutcomeKind::DimmUncorrectable,
        OutcomeKind::FanFailure,
        OutcomeKind::PsuFailure,
        OutcomeKind::CoolingLoss,
        OutcomeKind::NvmeWearout,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
    }
    for o in &truth.outcomes {
        assert!(
            o.failure_ts >= truth.start_ms && o.failure_ts < truth.end_ms,
            "{o:?}"
        );
        if let Some(first) = o.first_precursor_ts {
            assert!(first < o.failure_ts && o.predictable, "{o:?}");
        }
        let Some(host) = o.host_id.as_deref() else {
            // Cooling: every host in the rack runs hotter at the failure than at the start.
            for h in truth.hosts.iter().filter(|h| h.rack == o.rack) {
                let inlet = index.one(&h.host_id, names::IPMI_VALUE, &[("name", "Inlet Temp")]);
                let at = |t: i64| {
                    inlet
                        .iter()
                        .find(|p| p.ts >= t)
                        .expect("inlet sample")
                        .value
                };
                assert!(
                    at(o.failure_ts) >= at(truth.start_ms) + 8.0,
                    "{} not heating in {}",
                    h.hostname,
                    o.rack
                );
            }
            continue;
        };
        let component = o
            .component
            .as_ref()
            .expect("host outcomes name a component");
        match o.kind {
            OutcomeKind::DimmUncorrectable => {
                let ce = index.events_of(host, EventKind::EDAC_CORRECTABLE);
                let ours: Vec<_> = ce
                    .iter()
                    .filter(|e| e.component.as_ref() == Some(component))
                    .collect();
                assert!(
                    ours.len() >= 2 && ours.iter().all(|e| e.ts < o.failure_ts),
                    "{o:?}"
                );
                assert_eq!(o.first_precursor_ts, ours.iter().map(|e| e.ts).min());
                let ue = index.events_of(host, EventKind::EDAC_UNCORRECTABLE);
                assert!(ue
                    .iter()
                    .any(|e| e.ts == o.failure_ts && e.component.as_ref() == Some(component)));
                let reboots = index.events_of(host, EventKind::REBOOT);
                assert!(reboots.iter().any(|e| e.ts > o.failure_ts
                    && e.attrs.get(attr::CAUSE).map(String::as_str)
                        == Some(attr::CAUSE_UNEXPECTED)));
            }
            OutcomeKind::FanFailure => {
                let label = component.id.as_str();
                let rpm = index.one(host, names::FAN_RPM, &[("label", label)]);
                let first = o
                    .first_precursor_ts
                    .expect("slow fan failure is predictable");
                assert!(
                    rpm.iter()
                        .filter(|p| p.ts >= o.failure_ts)
                        .take(3)
                        .all(|p| p.value == 0.0),
                    "fan stops"
                );
                // Before the failure the worn fan is slower than the mean of its peers.
                let peers = index.find(host, names::FAN_RPM, &[]);
                let at = |points: &Vec<harbinger_shared::Point>, t: i64| {
                    points
                        .iter()
                        .rev()
                        .find(|p| p.ts < t)
                        .expect("sample")
                        .value
                };
                let peer_mean =
                    peers.iter().map(|p| at(p, o.failure_ts)).sum::<f64>() / peers.len() as f64;
                assert!(at(rpm, o.failure_ts) < 0.8 * peer_mean, "{o:?}");
                assert!(first > truth.start_ms);
            }
            OutcomeKind::PsuFailure => {
                let sel = index.events_of(host, EventKind::IPMI_SEL);
                assert!(sel
                    .iter()
                    .any(|e| e.ts == o.failure_ts && e.component.as_ref() == Some(component)));
                let redundancy = index.one(host, names::IPMI_STATE, &[("name", "PS Redundancy")]);
                assert!(redundancy
                    .iter()
                    .filter(|p| p.ts < o.failure_ts)
                    .all(|p| p.value == 0.0));
                assert!(redundancy
                    .iter()
                    .any(|p| p.ts > o.failure_ts && p.value == 2.0));
            }
            OutcomeKind::NvmeWearout => {
                let id = [("device_id", component.id.as_str())];
                let spare = index.one(host, names::NVME_AVAILABLE_SPARE, &id);
                let first = o.first_precursor_ts.expect("wear-out is predictable");
                assert!(spare
                    .iter()
                    .filter(|p| p.ts < first)
                    .all(|p| p.value == 1.0));
                assert!(spare.iter().any(|p| p.ts == first && p.value < 1.0));
                let warning = index.one(host, names::NVME_CRITICAL_WARNING, &id);
                assert!(warning
                    .iter()
                    .filter(|p| p.ts < o.failure_ts)
                    .all(|p| p.value == 0.0));
                assert!(warning
                    .iter()
                    .any(|p| p.ts > o.failure_ts && p.value == 1.0));
            }
            OutcomeKind::DiskFailure => check_disk(&index, host, o),
            OutcomeKind::CoolingLoss | OutcomeKind::HostLost => {}
        }
    }
}

fn check_disk(index: &Index, host: &str, o: &harbinger_sim::Outcome) {
    let component = o.component.as_ref().expect("component");
    assert_eq!(component.kind, ComponentKind::Disk);
    let serial = component.id.as_str();
    let attribute = |id: &str| {
        index.find(
            host,
            names::SMART_ATTRIBUTE_RAW,
            &[("device_id", serial), ("attribute_id", id)],
        )
    };
    let status = index.one(host, names::SMART_STATUS, &[("device_id", serial)]);
    // A dead disk disappears: nothing from its serial at or after the failure.
    assert!(
        status.iter().all(|p| p.ts < o.failure_ts),
        "{serial} still reporting after death"
    );
    let io_errors = index.events_of(host, EventKind::DISK_IO_ERROR);
    assert!(io_errors
        .iter()
        .any(|e| e.ts == o.failure_ts && e.component.as_ref() == Some(component)));
    match o.pace {
        Pace::Slow => {
            let first = o
                .first_precursor_ts
                .expect("degrading disks give a precursor");
            let pending = attribute("197");
            let pending = pending.first().expect("pending sector series");
            assert!(pending
                .iter()
                .filter(|p| p.ts < first)
                .all(|p| p.value == 0.0));
            let at_first = pending
                .iter()
                .find(|p| p.ts == first)
                .expect("a sample at the precursor");
            assert!(at_first.value > 0.0);
            let last = pending.last().expect("samples");
            assert!(
                last.value > at_first.value,
                "pending must grow towards the failure"
            );
            let reallocated = attribute("5");
            assert!(reallocated[0].last().expect("samples").value > 0.0);
            assert!(
                status.iter().any(|p| p.value == 0.0),
                "SMART health flips to FAILED before death"
            );
        }
        Pace::Sudden => {
            assert_eq!((o.first_precursor_ts, o.predictable), (None, false));
            if status.is_empty() {
                return;
            }
            for id in ["5", "187", "197", "198"] {
                for series in attribute(id) {
                    assert!(
                        series.iter().all(|p| p.value == 0.0),
                        "{serial} attribute {id} shows a precursor"
                    );
                }
            }
            assert!(status.iter().all(|p| p.value == 1.0));
        }
        Pace::Fast => panic!("disks fail slowly or suddenly: {o:?}"),
    }
}

#[test]
fn disks_are_replaced_with_a_new_serial() {
    let (truth, index) = build();
    for o in truth
        .outcomes
        .iter()
        .filter(|o| o.kind == OutcomeKind::DiskFailure)
    {
        let host = o.host_id.as_deref().expect("host");
        let old = &o.component.as_ref().expect("disk").id;
        let serials: std::collections::BTreeSet<String> = index
            .series
            .keys()
            .filter(|(h, m, _)| h == host && m == names::SMART_STATUS)
            .filter_map(|(_, _, labels)| {
                labels
                    .iter()
                    .find(|(k, _)| k == "device_id")
                    .map(|(_, v)| v.clone())
            })
            .collect();
        assert!(serials.contains(old));
        let statuses_after: usize = serials
            .iter()
            .filter(|s| *s != old)
            .map(|s| {
                index
                    .one(host, names::SMART_STATUS, &[("device_id", s)])
                    .iter()
                    .filter(|p| p.ts > o.failure_ts)
                    .count()
            })
            .sum();
        assert!(
            statuses_after > 0,
            "the other disks keep reporting after {old} dies"
        );
    }
}
