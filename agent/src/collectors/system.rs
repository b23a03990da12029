//! The `system` source: CPU, load, memory, disk I/O, filesystems, network, uptime and
//! the host inventory, read straight from procfs (cheaper and more complete than a
//! library, and every path goes through `HostPaths` so fixture trees can stand in).
//!
//! Rates (CPU usage, disk utilisation and latency) are computed from the previous
//! cycle's counters over the difference of the aligned cycle timestamps, so they are
//! deterministic for a given pair of snapshots.

use super::{read_into, Availability, CollectError, Collector};
use crate::host_paths::HostPaths;
use crate::identity::Identity;
use crate::output::Output;
use crate::procfs::cpuinfo::{parse_cpuinfo, CpuInfo};
use crate::procfs::diskstats::{parse_diskstats, SECTOR_BYTES};
use crate::procfs::loadavg::parse_loadavg;
use crate::procfs::meminfo::parse_meminfo;
use crate::procfs::mounts::{is_ignored_fstype, parse_mounts};
use crate::procfs::net_dev::parse_net_dev;
use crate::procfs::os_release::parse_os_release;
use crate::procfs::stat::{parse_stat, CpuTimes, StatLine, USER_HZ};
use crate::procfs::uptime::parse_uptime;
use crate::statvfs::statvfs;
use harbinger_shared::catalogue::names;
use harbinger_shared::{ComponentId, InventoryItem};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

/// The source name, as in `harbinger_agent_source_success{source="system"}`.
pub const NAME: &str = "system";

/// Reads procfs every cycle, keeping the previous counters for rates.
pub struct SystemCollector {
    paths: HostPaths,
    files: Files,
    host: ComponentId,
    hostname: String,
    /// Reused for every file read, so a steady-state cycle does not reallocate it.
    buf: String,
    prev_cpu: Option<CpuTimes>,
    prev_disks: HashMap<String, DiskCounters>,
    prev_disk_ts: Option<i64>,
    mem_total: Option<u64>,
    boot_info: Option<BootInfo>,
    last_inventory: Option<BTreeMap<String, String>>,
}

/// Paths resolved once at construction instead of joined every cycle.
struct Files {
    stat: PathBuf,
    meminfo: PathBuf,
    loadavg: PathBuf,
    diskstats: PathBuf,
    net_dev: PathBuf,
    uptime: PathBuf,
    mounts: [PathBuf; 2],
    boot_id: PathBuf,
}

#[derive(Debug, Clone, Copy)]
struct DiskCounters {
    ops: u64,
    rw_time_ms: u64,
    io_time_ms: u64,
    seen_ts: i64,
}

/// Inventory facts that only change across a reboot, re-read when the boot id changes.
struct BootInfo {
    boot_id: Option<String>,
    kernel: Option<String>,
    os: Option<String>,
    cpu: CpuInfo,
}

impl SystemCollector {
    pub fn new(paths: HostPaths, identity: &Identity) -> Self {
        let files = Files {
            stat: paths.proc("stat"),
            meminfo: paths.proc("meminfo"),
            loadavg: paths.proc("loadavg"),
            diskstats: paths.proc("diskstats"),
            net_dev: paths.proc("net/dev"),
            uptime: paths.proc("uptime"),
            // The agent's own mount namespace first; `<procfs>/mounts` is the same file on
            // most systems and the fallback where `self` is absent (a copied fixture tree).
            mounts: [paths.proc("self/mounts"), paths.proc("mounts")],
            boot_id: paths.proc("sys/kernel/random/boot_id"),
        };
        Self {
            paths,
            files,
            host: identity.host_component(),
            hostname: identity.hostname.clone(),
            buf: String::with_capacity(16 * 1024),
            prev_cpu: None,
            prev_disks: HashMap::new(),
            prev_disk_ts: None,
            mem_total: None,
            boot_info: None,
            last_inventory: None,
        }
    }

    fn cpu(&mut self, ts: i64, out: &mut Output) -> Result<(), CollectError> {
        read_into(&self.files.stat, &mut self.buf)?;
        let mut saw_total = false;
        for line in parse_stat(&self.buf) {
            match line {
                StatLine::Cpu { core, times } => {
                    let cpu = core.unwrap_or("total");
                    for (mode, ticks) in CpuTimes::MODES.iter().zip(times.ticks()) {
                        out.push(
                            ts,
                            names::CPU_SECONDS,
                            &[("cpu", cpu), ("mode", mode)],
                            ticks as f64 / USER_HZ,
                        );
                    }
                    if core.is_none() {
                        saw_total = true;
                        if let Some(ratio) = self.prev_cpu.and_then(|p| times.busy_ratio_since(&p))
                        {
                            out.push(ts, names::CPU_USAGE, &[("cpu", "total")], ratio);
                        }
                        self.prev_cpu = Some(times);
                    }
                }
                StatLine::BootTime(btime) => out.push(ts, names::BOOT_TIME, &[], btime as f64),
            }
        }
        if saw_total {
            Ok(())
        } else {
            Err(malformed(&self.files.stat, "no aggregate `cpu` line"))
        }
    }

    fn load(&mut self, ts: i64, out: &mut Output) -> Result<(), CollectError> {
        read_into(&self.files.loadavg, &mut self.buf)?;
        let [one, five, fifteen] = parse_loadavg(&self.buf)
            .ok_or_else(|| malformed(&self.files.loadavg, "expected three load averages"))?;
        out.push(ts, names::LOAD1, &[], one);
        out.push(ts, names::LOAD5, &[], five);
        out.push(ts, names::LOAD15, &[], fifteen);
        Ok(())
    }

    fn memory(&mut self, ts: i64, out: &mut Output) -> Result<(), CollectError> {
        read_into(&self.files.meminfo, &mut self.buf)?;
        let info = parse_meminfo(&self.buf);
        let total = info
            .total
            .ok_or_else(|| malformed(&self.files.meminfo, "no MemTotal line"))?;
        self.mem_total = Some(total);
        out.push(ts, names::MEM_TOTAL, &[], total as f64);
        let optional = [
            (names::MEM_AVAILABLE, info.available_or_estimate()),
            (names::MEM_CACHED, info.cached),
            (names::SWAP_TOTAL, info.swap_total),
            (names::SWAP_FREE, info.swap_free),
        ];
        for (metric, value) in optional {
            if let Some(value) = value {
                out.push(ts, metric, &[], value as f64);
            }
        }
        if let Some(ratio) = info.used_ratio() {
            out.push(ts, names::MEM_USED_RATIO, &[], ratio);
        }
        Ok(())
    }

    fn disks(&mut self, ts: i64, out: &mut Output) -> Result<(), CollectError> {
        read_into(&self.files.diskstats, &mut self.buf)?;
        let elapsed_ms = self.prev_disk_ts.map(|prev| ts - prev).filter(|ms| *ms > 0);
        for disk in parse_diskstats(&self.buf) {
            if disk.is_virtual() || disk.never_used() {
                continue;
            }
            let device = [("device", disk.name)];
            let counters = [
                (names::DISK_READS, disk.reads as f64),
                (names::DISK_WRITES, disk.writes as f64),
                (
                    names::DISK_READ_BYTES,
                    (disk.sectors_read * SECTOR_BYTES) as f64,
                ),
                (
                    names::DISK_WRITTEN_BYTES,
                    (disk.sectors_written * SECTOR_BYTES) as f64,
                ),
                (names::DISK_IO_TIME, disk.io_time_ms as f64 / 1000.0),
                (
                    names::DISK_IO_TIME_WEIGHTED,
                    disk.weighted_time_ms as f64 / 1000.0,
                ),
            ];
            for (metric, value) in counters {
                out.push(ts, metric, &device, value);
            }
            let now = DiskCounters {
                ops: disk.ops(),
                rw_time_ms: disk.rw_time_ms(),
                io_time_ms: disk.io_time_ms,
                seen_ts: ts,
            };
            match self.prev_disks.get_mut(disk.name) {
                Some(prev) => {
                    if let Some(elapsed_ms) = elapsed_ms {
                        emit_disk_rates(ts, out, &device, prev, &now, elapsed_ms);
                    }
                    *prev = now;
                }
                None => {
                    self.prev_disks.insert(disk.name.to_owned(), now);
                }
            }
        }
        // Forget devices that disappeared, so a re-plugged disk starts fresh.
        self.prev_disks.retain(|_, counters| counters.seen_ts == ts);
        self.prev_disk_ts = Some(ts);
        Ok(())
    }

    fn filesystems(&mut self, ts: i64, out: &mut Output) -> Result<(), CollectError> {
        let [primary, fallback] = &self.files.mounts;
        if read_into(primary, &mut self.buf).is_err() {
            read_into(fallback, &mut self.buf)?;
        }
        // The first mount of a device wins: bind mounts and btrfs subvolumes of one
        // filesystem would otherwise report the same space several times.
        let mut seen: HashSet<Cow<'_, str>> = HashSet::new();
        for mount in parse_mounts(&self.buf) {
            if is_ignored_fstype(mount.fstype) || seen.contains(&mount.device) {
                continue;
            }
            let target = self.paths.root(&*mount.mountpoint);
            let stats = match statvfs(&target) {
                Ok(stats) if stats.size_bytes > 0 => stats,
                Ok(_) => continue,
                Err(err) => {
                    tracing::debug!(path = %target.display(), %err, "statvfs failed; skipping mount");
                    continue;
                }
            };
            let labels = [
                ("device", &*mount.device),
                ("mountpoint", &*mount.mountpoint),
                ("fstype", mount.fstype),
            ];
            out.push(ts, names::FS_SIZE, &labels, stats.size_bytes as f64);
            out.push(ts, names::FS_FREE, &labels, stats.free_bytes as f64);
            out.push(ts, names::FS_AVAIL, &labels, stats.avail_bytes as f64);
            out.push(ts, names::FS_FILES, &labels, stats.files as f64);
            out.push(ts, names::FS_FILES_FREE, &labels, stats.files_free as f64);
            if let Some(ratio) = stats.used_ratio() {
                out.push(ts, names::FS_USED_RATIO, &labels, ratio);
            }
            seen.insert(mount.device);
        }
        Ok(())
    }

    fn network(&mut self, ts: i64, out: &mut Output) -> Result<(), CollectError> {
        read_into(&self.files.net_dev, &mut self.buf)?;
        for dev in parse_net_dev(&self.buf) {
            // Loopback traffic says nothing about the host's health and is often the
            // busiest interface; node_exporter dashboards exclude it too.
            if dev.name == "lo" {
                continue;
            }
            let device = [("device", dev.name)];
            let counters = [
                (names::NET_RX_BYTES, dev.rx_bytes),
                (names::NET_TX_BYTES, dev.tx_bytes),
                (names::NET_RX_PACKETS, dev.rx_packets),
                (names::NET_TX_PACKETS, dev.tx_packets),
                (names::NET_RX_ERRS, dev.rx_errs),
                (names::NET_TX_ERRS, dev.tx_errs),
                (names::NET_RX_DROP, dev.rx_drop),
                (names::NET_TX_DROP, dev.tx_drop),
            ];
            for (metric, value) in counters {
                out.push(ts, metric, &device, value as f64);
            }
        }
        Ok(())
    }

    fn uptime(&mut self, ts: i64, out: &mut Output) -> Result<(), CollectError> {
        read_into(&self.files.uptime, &mut self.buf)?;
        let uptime = parse_uptime(&self.buf)
            .ok_or_else(|| malformed(&self.files.uptime, "expected seconds since boot"))?;
        out.push(ts, names::UPTIME, &[], uptime);
        Ok(())
    }

    /// Emits the host inventory item when it differs from the last one emitted (always
    /// on the first cycle). Missing facts are left out rather than failing the source.
    fn inventory(&mut self, out: &mut Output) {
        let boot_id = read_trimmed(&self.files.boot_id);
        if self.boot_info.as_ref().map(|b| &b.boot_id) != Some(&boot_id) {
            self.boot_info = Some(self.read_boot_info(boot_id));
        }
        let Some(boot) = &self.boot_info else {
            return;
        };
        let mut attrs = BTreeMap::new();
        attrs.insert("hostname".to_owned(), self.hostname.clone());
        let facts = [
            ("boot_id", boot.boot_id.clone()),
            ("kernel", boot.kernel.clone()),
            ("os", boot.os.clone()),
            ("cpu_model", boot.cpu.model.clone()),
            (
                "cpu_count",
                (boot.cpu.logical_cpus > 0).then(|| boot.cpu.logical_cpus.to_string()),
            ),
            ("memory_total_bytes", self.mem_total.map(|t| t.to_string())),
        ];
        for (key, value) in facts {
            if let Some(value) = value {
                attrs.insert(key.to_owned(), value);
            }
        }
        if self.last_inventory.as_ref() != Some(&attrs) {
            out.inventory(InventoryItem {
                component: self.host.clone(),
                attrs: attrs.clone(),
            });
            self.last_inventory = Some(attrs);
        }
    }

    fn read_boot_info(&self, boot_id: Option<String>) -> BootInfo {
        let os = ["/etc/os-release", "/usr/lib/os-release"]
            .into_iter()
            .find_map(|file| read_trimmed(&self.paths.root(file)))
            .and_then(|text| parse_os_release(&text));
        BootInfo {
            boot_id,
            kernel: read_trimmed(&self.paths.proc("sys/kernel/osrelease")),
            os,
            cpu: read_trimmed(&self.paths.proc("cpuinfo"))
                .map(|text| parse_cpuinfo(&text))
                .unwrap_or_default(),
        }
    }
}

impl Collector for SystemCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    fn probe(&self) -> Availability {
        match std::fs::File::open(&self.files.stat) {
            Ok(_) => Availability::Available,
            Err(err) => Availability::Unavailable(format!(
                "cannot read {}: {err}",
                self.files.stat.display()
            )),
        }
    }

    /// Every part runs even if an earlier one failed, so one unreadable file costs only
    /// its own metrics; the first error is returned so the source is marked failed.
    fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError> {
        let results = [
            self.cpu(ts_ms, out),
            self.load(ts_ms, out),
            self.memory(ts_ms, out),
            self.disks(ts_ms, out),
            self.filesystems(ts_ms, out),
            self.network(ts_ms, out),
            self.uptime(ts_ms, out),
        ];
        self.inventory(out);
        let mut first = None;
        for result in results {
            if let Err(err) = result {
                match first {
                    None => first = Some(err),
                    Some(_) => {
                        tracing::debug!(source = NAME, %err, "further failure in the same cycle")
                    }
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn emit_disk_rates(
    ts: i64,
    out: &mut Output,
    device: &[(&str, &str)],
    prev: &DiskCounters,
    now: &DiskCounters,
    elapsed_ms: i64,
) {
    // A counter that went backwards (a 32-bit wrap, a re-created device) gives no rate.
    if let Some(busy_ms) = now.io_time_ms.checked_sub(prev.io_time_ms) {
        let ratio = (busy_ms as f64 / elapsed_ms as f64).min(1.0);
        out.push(ts, names::DISK_UTILISATION, device, ratio);
    }
    if let (Some(ops), Some(time_ms)) = (
        now.ops.checked_sub(prev.ops),
        now.rw_time_ms.checked_sub(prev.rw_time_ms),
    ) {
        // No completed I/O means no latency to report, not a latency of zero.
        if ops > 0 {
            out.push(
                ts,
                names::DISK_LATENCY,
                device,
                time_ms as f64 / ops as f64 / 1000.0,
            );
        }
    }
}

fn malformed(path: &std::path::Path, message: &str) -> CollectError {
    CollectError::Malformed {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn read_trimmed(path: &std::path::Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Ok(_) => None,
        Err(err) => {
            tracing::debug!(path = %path.display(), %err, "inventory fact unavailable");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    const STAT_1: &str =
        "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 100 0 100 700 100 0 0 0 0 0\nbtime 1700000000\n";
    // 1000 more ticks: 300 user, 100 system, 500 idle, 100 iowait -> 40 % busy.
    const STAT_2: &str =
        "cpu  400 0 200 1200 200 0 0 0 0 0\ncpu0 400 0 200 1200 200 0 0 0 0 0\nbtime 1700000000\n";
    const DISK_1: &str = "8 0 sda 100 0 800 50 100 0 1600 150 0 1000 2000\n\
                          8 16 sdb 5 0 40 5 0 0 0 0 0 10 10\n\
                          7 0 loop0 9 0 9 9 9 0 9 9 0 9 9\n\
                          11 0 sr0 0 0 0 0 0 0 0 0 0 0 0\n";
    // sda: +50 reads, +50 writes, +500 ms rw time, +2500 ms busy over 10 s.
    // sdb: no new I/O, so it gets a utilisation of 0 but no latency.
    const DISK_2: &str = "8 0 sda 150 0 1200 300 150 0 2400 400 0 3500 4000\n\
                          8 16 sdb 5 0 40 5 0 0 0 0 0 10 10\n";

    struct Tree {
        dir: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let tree = Self { dir };
            tree.write("proc/stat", STAT_1);
            tree.write("proc/loadavg", "0.50 0.25 0.10 1/100 42\n");
            tree.write("proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 250 kB\nCached: 100 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n");
            tree.write("proc/diskstats", DISK_1);
            tree.write(
                "proc/net/dev",
                "Inter-| Receive | Transmit\n face |bytes packets|bytes\n  lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n eth0: 10 2 0 1 0 0 0 0 20 3 0 0 0 0 0 0\n",
            );
            tree.write("proc/uptime", "123.5 100.0\n");
            tree.write("proc/self/mounts", "/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\n/dev/vda /bind ext4 rw 0 0\n/dev/vdb /missing xfs rw 0 0\n");
            tree.write("proc/sys/kernel/random/boot_id", "boot-1\n");
            tree.write("proc/sys/kernel/osrelease", "6.1.0-test\n");
            tree.write("proc/cpuinfo", "processor : 0\nmodel name : Test CPU\n");
            tree.write("root/etc/os-release", "PRETTY_NAME=\"Test OS 1\"\n");
            fs::create_dir_all(tree.dir.path().join("root/bind")).expect("mkdir");
            tree
        }

        fn write(&self, rel: &str, text: &str) {
            let path = self.dir.path().join(rel);
            fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
            fs::write(path, text).expect("write fixture");
        }

        fn collector(&self) -> SystemCollector {
            let paths = HostPaths {
                procfs: self.dir.path().join("proc"),
                sysfs: self.dir.path().join("sys"),
                rootfs: self.dir.path().join("root"),
            };
            let identity = Identity {
                host_id: "h1".into(),
                hostname: "db-17".into(),
                labels: BTreeMap::new(),
            };
            SystemCollector::new(paths, &identity)
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }
    }

    fn approx(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("value present");
        assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
    }

    #[test]
    fn first_cycle_reports_counters_and_gauges_but_no_rates() {
        let tree = Tree::new();
        let mut collector = tree.collector();
        assert_eq!(collector.probe(), Availability::Available);
        let mut out = Output::new();
        collector.collect(10_000, &mut out).expect("collect");

        approx(
            out.value(names::CPU_SECONDS, &[("cpu", "total"), ("mode", "user")]),
            1.0,
        );
        approx(
            out.value(names::CPU_SECONDS, &[("cpu", "0"), ("mode", "iowait")]),
            1.0,
        );
        assert_eq!(out.value(names::CPU_USAGE, &[("cpu", "total")]), None);
        approx(out.value(names::BOOT_TIME, &[]), 1_700_000_000.0);
        approx(out.value(names::LOAD5, &[]), 0.25);
        approx(out.value(names::MEM_TOTAL, &[]), 1_024_000.0);
        approx(out.value(names::MEM_USED_RATIO, &[]), 0.75);
        approx(
            out.value(names::DISK_READ_BYTES, &[("device", "sda")]),
            800.0 * 512.0,
        );
        approx(out.value(names::DISK_IO_TIME, &[("device", "sda")]), 1.0);
        assert_eq!(out.value(names::DISK_READS, &[("device", "loop0")]), None);
        assert_eq!(out.value(names::DISK_READS, &[("device", "sr0")]), None);
        assert_eq!(
            out.value(names::DISK_UTILISATION, &[("device", "sda")]),
            None
        );
        approx(out.value(names::NET_RX_DROP, &[("device", "eth0")]), 1.0);
        approx(out.value(names::NET_TX_BYTES, &[("device", "eth0")]), 20.0);
        assert!(out
            .label_sets(names::NET_RX_BYTES)
            .iter()
            .all(|l| l["device"] != "lo"));
        approx(out.value(names::UPTIME, &[]), 123.5);

        // One filesystem: proc is ignored, the bind mount of /dev/vda is a duplicate and
        // /missing does not exist under the root.
        let fs = out.label_sets(names::FS_SIZE);
        assert_eq!(fs.len(), 1, "{fs:?}");
        assert_eq!(fs[0]["mountpoint"], "/");
        assert_eq!(fs[0]["device"], "/dev/vda");
        assert_eq!(fs[0]["fstype"], "ext4");
        let labels = [
            ("device", "/dev/vda"),
            ("mountpoint", "/"),
            ("fstype", "ext4"),
        ];
        let size = out.value(names::FS_SIZE, &labels).expect("size");
        let avail = out.value(names::FS_AVAIL, &labels).expect("avail");
        assert!(size > 0.0 && avail <= size);
        let ratio = out.value(names::FS_USED_RATIO, &labels).expect("ratio");
        assert!((0.0..=1.0).contains(&ratio));

        let inventory = out.inventory_items();
        assert_eq!(inventory.len(), 1);
        let attrs = &inventory[0].attrs;
        assert_eq!(inventory[0].component.to_string(), "host:h1");
        assert_eq!(attrs["hostname"], "db-17");
        assert_eq!(attrs["boot_id"], "boot-1");
        assert_eq!(attrs["kernel"], "6.1.0-test");
        assert_eq!(attrs["os"], "Test OS 1");
        assert_eq!(attrs["cpu_model"], "Test CPU");
        assert_eq!(attrs["cpu_count"], "1");
        assert_eq!(attrs["memory_total_bytes"], "1024000");
    }

    #[test]
    fn second_cycle_derives_rates_from_deltas() {
        let tree = Tree::new();
        let mut collector = tree.collector();
        collector
            .collect(10_000, &mut Output::new())
            .expect("first");
        tree.write("proc/stat", STAT_2);
        tree.write("proc/diskstats", DISK_2);
        let mut out = Output::new();
        collector.collect(20_000, &mut out).expect("second");

        approx(out.value(names::CPU_USAGE, &[("cpu", "total")]), 0.4);
        approx(
            out.value(names::DISK_UTILISATION, &[("device", "sda")]),
            0.25,
        );
        // 500 ms of read+write time over 100 completed I/Os.
        approx(out.value(names::DISK_LATENCY, &[("device", "sda")]), 0.005);
        approx(
            out.value(names::DISK_UTILISATION, &[("device", "sdb")]),
            0.0,
        );
        assert_eq!(out.value(names::DISK_LATENCY, &[("device", "sdb")]), None);
        assert!(
            out.inventory_items().is_empty(),
            "inventory unchanged, not resent"
        );
    }

    #[test]
    fn inventory_is_resent_after_a_reboot() {
        let tree = Tree::new();
        let mut collector = tree.collector();
        collector
            .collect(10_000, &mut Output::new())
            .expect("first");
        tree.write("proc/sys/kernel/random/boot_id", "boot-2\n");
        tree.write("proc/sys/kernel/osrelease", "6.2.0-new\n");
        let mut out = Output::new();
        collector.collect(20_000, &mut out).expect("second");
        let attrs = &out.inventory_items()[0].attrs;
        assert_eq!(
            (attrs["boot_id"].as_str(), attrs["kernel"].as_str()),
            ("boot-2", "6.2.0-new")
        );
    }

    #[test]
    fn a_missing_file_fails_the_source_but_not_the_other_parts() {
        let tree = Tree::new();
        fs::remove_file(tree.path("proc/diskstats")).expect("rm");
        let mut collector = tree.collector();
        let mut out = Output::new();
        let err = collector
            .collect(10_000, &mut out)
            .expect_err("diskstats missing");
        assert!(err.to_string().contains("diskstats"), "{err}");
        assert!(
            out.value(names::LOAD1, &[]).is_some(),
            "other parts still collected"
        );
        assert!(out.value(names::UPTIME, &[]).is_some());
    }

    #[test]
    fn probe_names_the_missing_stat_file() {
        let tree = Tree::new();
        fs::remove_file(tree.path("proc/stat")).expect("rm");
        match tree.collector().probe() {
            Availability::Unavailable(reason) => {
                assert!(
                    reason.contains(&*Path::new("proc/stat").to_string_lossy()),
                    "{reason}"
                );
            }
            Availability::Available => panic!("stat is missing"),
        }
    }
}
