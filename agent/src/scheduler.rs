//! Runs every collector once per interval at aligned timestamps, records each source's
//! duration and success, and hands each cycle's payload to the queue.
//!
//! One source's failure never stops the others. An unavailable source is reported once
//! (a `source_unavailable` event), re-probed now and then, and otherwise left alone.

use crate::collectors::{Availability, Collector};
use crate::identity::Identity;
use crate::output::Output;
use crate::queue::BatchQueue;
use harbinger_shared::catalogue::names;
use harbinger_shared::{ComponentId, Event, EventKind, Severity};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How many cycles an unavailable source waits before it is probed again (10 min at 10 s).
const REPROBE_CYCLES: u64 = 60;

/// The collectors and the clock that drives them.
pub struct Scheduler {
    slots: Vec<Slot>,
    interval_ms: i64,
    phase_ms: i64,
    host: ComponentId,
    last_ts: Option<i64>,
    cycles: u64,
    /// Events produced outside a cycle (probe results), sent with the next cycle.
    pending_events: Vec<Event>,
}

struct Slot {
    collector: Box<dyn Collector>,
    unavailable: Option<String>,
    failing: bool,
}

impl Scheduler {
    /// Probes every collector; unavailable ones are reported in the first cycle.
    pub fn new(
        collectors: Vec<Box<dyn Collector>>,
        interval: Duration,
        identity: &Identity,
    ) -> Self {
        let interval_ms = i64::try_from(interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let phase_ms = i64::try_from(identity.phase_ms(interval_ms as u64)).unwrap_or(0);
        let mut scheduler = Self {
            slots: Vec::with_capacity(collectors.len()),
            interval_ms,
            phase_ms,
            host: identity.host_component(),
            last_ts: None,
            cycles: 0,
            pending_events: Vec::new(),
        };
        let now = now_ms();
        for collector in collectors {
            let mut slot = Slot {
                collector,
                unavailable: None,
                failing: false,
            };
            if let Availability::Unavailable(reason) = slot.collector.probe() {
                scheduler.report_unavailable(now, slot.collector.name(), &reason);
                slot.unavailable = Some(reason);
            }
            scheduler.slots.push(slot);
        }
        scheduler
    }

    /// The latest aligned timestamp at or before `now_ms`.
    pub fn current_tick(&self, now_ms: i64) -> i64 {
        (now_ms - self.phase_ms).div_euclid(self.interval_ms) * self.interval_ms + self.phase_ms
    }

    /// The first aligned timestamp strictly after `now_ms`.
    pub fn next_tick(&self, now_ms: i64) -> i64 {
        self.current_tick(now_ms) + self.interval_ms
    }

    /// Emits `agent_started` into the next cycle.
    pub fn announce_start(&mut self, now_ms: i64) {
        let attrs = BTreeMap::from([
            ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
            ("interval_ms".to_owned(), self.interval_ms.to_string()),
        ]);
        self.pending_events.push(Event {
            ts: now_ms,
            kind: EventKind::new(EventKind::AGENT_STARTED),
            severity: Severity::Info,
            component: Some(self.host.clone()),
            message: format!("harbinger-agent {} started", env!("CARGO_PKG_VERSION")),
            attrs,
        });
    }

    /// Runs every available collector once at timestamp `ts`.
    pub fn cycle(&mut self, ts: i64) -> Output {
        let mut out = Output::new();
        for event in self.pending_events.drain(..) {
            out.event(event);
        }
        let reprobe = self.cycles > 0 && self.cycles % REPROBE_CYCLES == 0;
        self.cycles += 1;
        for slot in &mut self.slots {
            let name = slot.collector.name();
            if slot.unavailable.is_some() {
                if !reprobe {
                    continue;
                }
                match slot.collector.probe() {
                    Availability::Available => {
                        tracing::info!(source = name, "source became available");
                        slot.unavailable = None;
                    }
                    Availability::Unavailable(_) => continue,
                }
            }
            let started = Instant::now();
            let result = slot.collector.collect(ts, &mut out);
            let elapsed = started.elapsed();
            let source = [("source", name)];
            out.push(ts, names::SOURCE_DURATION, &source, elapsed.as_secs_f64());
            out.push(
                ts,
                names::SOURCE_SUCCESS,
                &source,
                if result.is_ok() { 1.0 } else { 0.0 },
            );
            match result {
                Ok(()) if slot.failing => {
                    tracing::info!(source = name, "source recovered");
                    slot.failing = false;
                }
                Ok(()) => {}
                // Warn on the transition only; the success metric carries the ongoing state.
                Err(err) if !slot.failing => {
                    tracing::warn!(source = name, error = %err, "collection failed");
                    slot.failing = true;
                }
                Err(err) => {
                    tracing::debug!(source = name, error = %err, "collection still failing")
                }
            }
        }
        self.last_ts = Some(ts);
        out
    }

    /// Cycles until `stop` turns true, pushing each payload into `queue`.
    pub async fn run(mut self, queue: &BatchQueue, mut stop: watch::Receiver<bool>) {
        loop {
            let now = now_ms();
            let mut tick = self.next_tick(now);
            // A wall clock stepped backwards must not produce a repeated timestamp.
            if let Some(last) = self.last_ts {
                if tick <= last {
                    tick = last + self.interval_ms;
                }
            }
            let delay = Duration::from_millis(u64::try_from(tick - now).unwrap_or(0));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            let payload = self.cycle(tick).finish();
            tracing::debug!(ts = tick, series = payload.series.len(), "cycle collected");
            queue.push(payload);
        }
    }

    fn report_unavailable(&mut self, now_ms: i64, source: &str, reason: &str) {
        tracing::info!(source, reason, "source unavailable on this host");
        self.pending_events.push(Event {
            ts: now_ms,
            kind: EventKind::new(EventKind::SOURCE_UNAVAILABLE),
            severity: Severity::Info,
            component: Some(self.host.clone()),
            message: format!("source {source} is unavailable: {reason}"),
            attrs: BTreeMap::from([
                ("source".to_owned(), source.to_owned()),
                ("reason".to_owned(), reason.to_owned()),
            ]),
        });
    }
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::CollectError;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    struct Fake {
        name: &'static str,
        available: Arc<AtomicU32>,
        fail: bool,
        runs: Arc<AtomicU32>,
    }

    impl Collector for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        fn probe(&self) -> Availability {
            if self.available.load(Ordering::SeqCst) == 1 {
                Availability::Available
            } else {
                Availability::Unavailable("no such hardware".into())
            }
        }
        fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            out.push(ts_ms, "fake_value", &[("source", self.name)], 1.0);
            if self.fail {
                Err(CollectError::Malformed {
                    path: "/fake".into(),
                    message: "broken".into(),
                })
            } else {
                Ok(())
            }
        }
    }

    fn identity() -> Identity {
        Identity {
            host_id: "h1".into(),
            hostname: "h".into(),
            labels: BTreeMap::new(),
        }
    }

    fn fake(
        name: &'static str,
        available: bool,
        fail: bool,
    ) -> (Box<dyn Collector>, Arc<AtomicU32>, Arc<AtomicU32>) {
        let avail = Arc::new(AtomicU32::new(u32::from(available)));
        let runs = Arc::new(AtomicU32::new(0));
        let collector = Fake {
            name,
            available: avail.clone(),
            fail,
            runs: runs.clone(),
        };
        (Box::new(collector), avail, runs)
    }

    #[test]
    fn ticks_are_aligned_with_the_host_phase() {
        let scheduler = Scheduler::new(Vec::new(), Duration::from_secs(10), &identity());
        let phase = identity().phase_ms(10_000) as i64;
        let now = 1_700_000_003_217;
        let next = scheduler.next_tick(now);
        assert!(next > now && next - now <= 10_000);
        assert_eq!((next - phase).rem_euclid(10_000), 0);
        assert_eq!(scheduler.current_tick(next), next);
        assert_eq!(scheduler.next_tick(next), next + 10_000);
    }

    #[test]
    fn a_failing_source_does_not_stop_the_others() {
        let (bad, _, bad_runs) = fake("bad", true, true);
        let (good, _, good_runs) = fake("good", true, false);
        let mut scheduler = Scheduler::new(vec![bad, good], Duration::from_secs(10), &identity());
        let out = scheduler.cycle(10_000);
        assert_eq!(bad_runs.load(Ordering::SeqCst), 1);
        assert_eq!(good_runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            out.value(names::SOURCE_SUCCESS, &[("source", "bad")]),
            Some(0.0)
        );
        assert_eq!(
            out.value(names::SOURCE_SUCCESS, &[("source", "good")]),
            Some(1.0)
        );
        assert!(out
            .value(names::SOURCE_DURATION, &[("source", "good")])
            .is_some());
        assert_eq!(
            out.value("fake_value", &[("source", "bad")]),
            Some(1.0),
            "partial data kept"
        );
    }

    #[test]
    fn unavailable_source_is_reported_once_and_reprobed() {
        let (absent, avail, runs) = fake("ipmi", false, false);
        let mut scheduler = Scheduler::new(vec![absent], Duration::from_secs(10), &identity());
        let first = scheduler.cycle(10_000);
        let kinds: Vec<_> = first.events().iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, [EventKind::SOURCE_UNAVAILABLE]);
        assert_eq!(first.events()[0].attrs["reason"], "no such hardware");
        assert_eq!(
            first.value(names::SOURCE_SUCCESS, &[("source", "ipmi")]),
            None
        );

        avail.store(1, Ordering::SeqCst);
        for i in 1..REPROBE_CYCLES {
            let out = scheduler.cycle(10_000 + i as i64 * 10_000);
            assert!(out.events().is_empty(), "reported only once");
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "not run before the re-probe"
        );
        let out = scheduler.cycle(10_000 + REPROBE_CYCLES as i64 * 10_000);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "runs once available again");
        assert_eq!(
            out.value(names::SOURCE_SUCCESS, &[("source", "ipmi")]),
            Some(1.0)
        );
    }

    #[test]
    fn start_event_goes_into_the_next_cycle_only() {
        let mut scheduler = Scheduler::new(Vec::new(), Duration::from_secs(10), &identity());
        scheduler.announce_start(5);
        let out = scheduler.cycle(10_000);
        assert_eq!(out.events().len(), 1);
        assert_eq!(out.events()[0].kind.as_str(), EventKind::AGENT_STARTED);
        assert_eq!(
            out.events()[0]
                .component
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("host:h1")
        );
        assert!(scheduler.cycle(20_000).events().is_empty());
    }

    #[tokio::test]
    async fn run_stops_when_told() {
        let (good, _, _) = fake("good", true, false);
        let scheduler = Scheduler::new(vec![good], Duration::from_secs(3600), &identity());
        let queue = BatchQueue::new(4);
        let (tx, rx) = watch::channel(false);
        tx.send(true).expect("receiver alive");
        // With an hour-long interval, returning at all proves the stop was honoured.
        tokio::time::timeout(Duration::from_secs(5), scheduler.run(&queue, rx))
            .await
            .expect("scheduler stopped");
        assert!(queue.is_empty());
    }
}
