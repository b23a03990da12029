//! Kernel log lines → hardware event kinds, with the device or component they name.
//!
//! Patterns are substrings of the messages the kernel has printed for years (mce,
//! EDAC, AER, the block layer, ext4/XFS/btrfs, the NVMe and SCSI error handlers, the
//! lockup watchdogs, the OOM killer). Lines that match nothing are ignored: this is a
//! hardware-precursor source, not a log shipper.

use harbinger_shared::{EventKind, Severity};

/// What a kernel line reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: &'static str,
    pub severity: Severity,
    /// The attribute naming the subject: `device`, `cpu`, `dimm` or `process`.
    pub subject_attr: &'static str,
    /// The device (`sdb`, `nvme0`, `0000:03:00.0`), CPU number, DIMM label or process
    /// name, when the line names one. Part of the rate-limit key.
    pub subject: Option<String>,
    /// Extra detail, e.g. `soft`/`hard` for lockups.
    pub detail: Option<&'static str>,
}

fn found(
    kind: &'static str,
    severity: Severity,
    subject_attr: &'static str,
    subject: Option<String>,
) -> Option<Classified> {
    Some(Classified {
        kind,
        severity,
        subject_attr,
        subject,
        detail: None,
    })
}

/// Classifies one kernel message (the text after the record header).
pub fn classify(message: &str) -> Option<Classified> {
    let m = message;
    // Thermal first: its lines carry the `mce:` prefix too.
    if m.contains("temperature above threshold") {
        return found(
            EventKind::THERMAL_THROTTLE,
            Severity::Warning,
            "cpu",
            cpu_after(m, "CPU"),
        );
    }
    if m.contains("[Hardware Error]")
        || m.contains("Machine check events logged")
        || m.contains("Machine Check Exception")
    {
        let severity = if m.contains("Machine Check Exception") || m.contains("Fatal") {
            Severity::Critical
        } else {
            Severity::Error
        };
        return found(
            EventKind::MACHINE_CHECK,
            severity,
            "cpu",
            cpu_after(m, "CPU"),
        );
    }
    if m.starts_with("EDAC ") && (m.contains(" CE ") || m.contains(" UE ")) {
        let severity = if m.contains(" UE ") {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let dimm = m
            .split_once(" error on ")
            .map(|(_, rest)| rest.split(" (").next().unwrap_or(rest).trim().to_owned());
        return found(
            EventKind::EDAC_MESSAGE,
            severity,
            "dimm",
            dimm.filter(|d| !d.is_empty()),
        );
    }
    if let Some((_, rest)) = m.split_once("PCIe Bus Error: severity=") {
        let severity = if rest.starts_with("Corrected") {
            Severity::Warning
        } else if rest.contains("Fatal)") && !rest.contains("Non-Fatal") {
            Severity::Critical
        } else {
            Severity::Error
        };
        return found(EventKind::PCIE_AER, severity, "device", pci_address(m));
    }
    if let Some(device) = filesystem_error(m) {
        return found(
            EventKind::FILESYSTEM_ERROR,
            Severity::Error,
            "device",
            device,
        );
    }
    if let Some(classified) = storage_reset_or_timeout(m) {
        return Some(classified);
    }
    if let Some(device) = block_io_error(m) {
        return found(EventKind::DISK_IO_ERROR, Severity::Error, "device", device);
    }
    if let Some((_, rest)) = m.split_once("soft lockup - CPU#") {
        return Some(Classified {
            detail: Some("soft"),
            ..found(
                EventKind::CPU_LOCKUP,
                Severity::Error,
                "cpu",
                leading_digits(rest),
            )?
        });
    }
    if let Some((_, rest)) = m.split_once("hard LOCKUP on cpu ") {
        return Some(Classified {
            detail: Some("hard"),
            ..found(
                EventKind::CPU_LOCKUP,
                Severity::Critical,
                "cpu",
                leading_digits(rest),
            )?
        });
    }
    if m.contains("detected stalls on CPUs") || m.contains("self-detected stall on CPU") {
        return Some(Classified {
            detail: Some("rcu_stall"),
            ..found(EventKind::CPU_LOCKUP, Severity::Warning, "cpu", None)?
        });
    }
    if m.contains("out of memory: Kill") || m.contains("Out of memory: Kill") {
        let process = m
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(name, _)| name.to_owned());
        return found(EventKind::OOM_KILL, Severity::Warning, "process", process);
    }
    None
}

/// The number after `prefix` (`CPU 3:`, `CPU3:`), if any.
fn cpu_after(m: &str, prefix: &str) -> Option<String> {
    m.match_indices(prefix)
        .find_map(|(i, _)| leading_digits(m[i + prefix.len()..].trim_start_matches([' ', '#'])))
}

fn leading_digits(text: &str) -> Option<String> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// The first PCI address (`0000:03:00.0`) in the line.
fn pci_address(m: &str) -> Option<String> {
    m.split(|c: char| c.is_whitespace() || c == ',')
        .map(|t| t.trim_end_matches(':'))
        .find(|t| {
            let b = t.as_bytes();
            b.len() == 12
                && b[4] == b':'
                && b[7] == b':'
                && b[10] == b'.'
                && t.chars().filter(|c| c.is_ascii_hexdigit()).count() == 9
        })
        .map(str::to_owned)
}

/// The text between `open` and the next `close` after it.
fn between<'a>(m: &'a str, open: &str, close: char) -> Option<&'a str> {
    let (_, rest) = m.split_once(open)?;
    rest.split(close).next().filter(|s| !s.is_empty())
}

fn filesystem_error(m: &str) -> Option<Option<String>> {
    let ext = ["EXT4-fs error", "EXT3-fs error", "EXT2-fs error"]
        .iter()
        .any(|p| m.starts_with(p));
    if ext || m.starts_with("BTRFS error") || m.starts_with("BTRFS critical") {
        return Some(between(m, "(device ", ')').map(str::to_owned));
    }
    if m.starts_with("XFS (")
        && (m.contains("Corruption") || m.contains("error") || m.contains("Shutting down"))
    {
        return Some(between(m, "XFS (", ')').map(str::to_owned));
    }
    None
}

fn block_io_error(m: &str) -> Option<Option<String>> {
    // blk_update_request / print_req_error: "I/O error, dev sdb, sector 2048 ..."
    // and the "critical medium error, dev sdb" family.
    for marker in [
        "I/O error, dev ",
        "medium error, dev ",
        "target error, dev ",
    ] {
        if let Some((_, rest)) = m.split_once(marker) {
            return Some(rest.split([',', ' ']).next().map(str::to_owned));
        }
    }
    if let Some(dev) = between(m, "Buffer I/O error on dev ", ',') {
        return Some(Some(dev.to_owned()));
    }
    // SCSI sense data: "sd 2:0:0:0: [sdc] tag#0 Sense Key : Medium Error [current]".
    if m.contains("Sense Key : Medium Error") || m.contains("Sense Key : Hardware Error") {
        return Some(between(m, "[", ']').map(str::to_owned));
    }
    // NVMe: "nvme0n1: I/O Cmd(0x2) @ LBA 2048, 8 blocks, I/O Error (sct 0x2 / sc 0x81)".
    if m.contains("I/O Error (sct") {
        return Some(m.split(':').next().map(str::to_owned));
    }
    // libata: "ata3.00: error: { UNC }".
    if m.starts_with("ata") && m.contains("error: {") && m.contains("UNC") {
        return Some(m.split(':').next().map(str::to_owned));
    }
    None
}

fn storage_reset_or_timeout(m: &str) -> Option<Classified> {
    // "nvme nvme0: I/O 123 QID 4 timeout, reset controller"
    if let Some(rest) = m.strip_prefix("nvme ") {
        let device = rest.split(':').next().map(str::to_owned);
        if m.contains(" timeout") {
            return found(EventKind::DISK_TIMEOUT, Severity::Error, "device", device);
        }
        if m.contains("will reset") || m.contains("resetting controller") {
            return found(EventKind::DISK_RESET, Severity::Error, "device", device);
        }
        return None;
    }
    let scsi_device = || between(m, "[", ']').map(str::to_owned);
    if m.starts_with("sd ") || m.starts_with("scsi ") {
        if m.contains("timing out command") || m.contains("attempting task abort") {
            return found(
                EventKind::DISK_TIMEOUT,
                Severity::Error,
                "device",
                scsi_device(),
            );
        }
        let lower = m.to_ascii_lowercase();
        if lower.contains("device reset")
            || lower.contains("host reset")
            || lower.contains("bus reset")
            || m.contains("Device offlined")
        {
            return found(
                EventKind::DISK_RESET,
                Severity::Error,
                "device",
                scsi_device(),
            );
        }
    }
    // libata: "ata3: hard resetting link", "ata3.00: exception Emask 0x0 ... frozen".
    if m.starts_with("ata") {
        let port = m.split(':').next().map(str::to_owned);
        if m.contains("hard resetting link") {
            return found(EventKind::DISK_RESET, Severity::Warning, "device", port);
        }
        if m.contains("exception Emask") && m.contains("frozen") {
            return found(EventKind::DISK_TIMEOUT, Severity::Error, "device", port);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (line, kind, subject, severity)
    const CASES: &[(&str, &str, Option<&str>, Severity)] = &[
        ("mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 5: be00000000800400", EventKind::MACHINE_CHECK, Some("2"), Severity::Error),
        ("mce: [Hardware Error]: Machine check events logged", EventKind::MACHINE_CHECK, None, Severity::Error),
        ("mce: CPU3: Core temperature above threshold, cpu clock throttled (total events = 1)", EventKind::THERMAL_THROTTLE, Some("3"), Severity::Warning),
        ("EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x12 offset:0x0 grain:32 syndrome:0x0)", EventKind::EDAC_MESSAGE, Some("CPU_SrcID#0_Ha#0_Chan#1_DIMM#0"), Severity::Warning),
        ("EDAC skx MC1: 1 UE memory read error on DIMM_B1 (channel:0 slot:0)", EventKind::EDAC_MESSAGE, Some("DIMM_B1"), Severity::Critical),
        ("nvme 0000:03:00.0: PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)", EventKind::PCIE_AER, Some("0000:03:00.0"), Severity::Warning),
        ("pcieport 0000:00:1c.0: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, (Requester ID)", EventKind::PCIE_AER, Some("0000:00:1c.0"), Severity::Critical),
        ("pcieport 0000:00:1c.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer", EventKind::PCIE_AER, Some("0000:00:1c.0"), Severity::Error),
        ("blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x0", EventKind::DISK_IO_ERROR, Some("sdb"), Severity::Error),
        ("critical medium error, dev sdc, sector 1234 op 0x0:(READ)", EventKind::DISK_IO_ERROR, Some("sdc"), Severity::Error),
        ("Buffer I/O error on dev sdb1, logical block 0, async page read", EventKind::DISK_IO_ERROR, Some("sdb1"), Severity::Error),
        ("sd 2:0:0:0: [sdc] tag#0 Sense Key : Medium Error [current]", EventKind::DISK_IO_ERROR, Some("sdc"), Severity::Error),
        ("nvme0n1: I/O Cmd(0x2) @ LBA 2048, 8 blocks, I/O Error (sct 0x2 / sc 0x81) DNR", EventKind::DISK_IO_ERROR, Some("nvme0n1"), Severity::Error),
        ("ata3.00: error: { UNC }", EventKind::DISK_IO_ERROR, Some("ata3.00"), Severity::Error),
        ("EXT4-fs error (device sda1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0", EventKind::FILESYSTEM_ERROR, Some("sda1"), Severity::Error),
        ("XFS (dm-0): metadata I/O error in \"xfs_imap_to_bp\" at daddr 0x80 len 32 error 5", EventKind::FILESYSTEM_ERROR, Some("dm-0"), Severity::Error),
        ("BTRFS error (device sdb1): bdev /dev/sdb1 errs: wr 0, rd 1, flush 0", EventKind::FILESYSTEM_ERROR, Some("sdb1"), Severity::Error),
        ("nvme nvme0: I/O 123 QID 4 timeout, reset controller", EventKind::DISK_TIMEOUT, Some("nvme0"), Severity::Error),
        ("nvme nvme1: controller is down; will reset: CSTS=0x3, PCI_STATUS=0x10", EventKind::DISK_RESET, Some("nvme1"), Severity::Error),
        ("sd 0:0:0:0: [sda] tag#12 timing out command, waited 180s", EventKind::DISK_TIMEOUT, Some("sda"), Severity::Error),
        ("sd 0:0:1:0: [sdb] Device offlined - not ready after error recovery", EventKind::DISK_RESET, Some("sdb"), Severity::Error),
        ("ata3: hard resetting link", EventKind::DISK_RESET, Some("ata3"), Severity::Warning),
        ("ata1.00: exception Emask 0x0 SAct 0x0 SErr 0x0 action 0x6 frozen", EventKind::DISK_TIMEOUT, Some("ata1.00"), Severity::Error),
        ("watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [kworker/2:1:123]", EventKind::CPU_LOCKUP, Some("2"), Severity::Error),
        ("Watchdog detected hard LOCKUP on cpu 7", EventKind::CPU_LOCKUP, Some("7"), Severity::Critical),
        ("rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", EventKind::CPU_LOCKUP, None, Severity::Warning),
        ("Out of memory: Killed process 1234 (java) total-vm:1000kB, anon-rss:900kB", EventKind::OOM_KILL, Some("java"), Severity::Warning),
        ("Memory cgroup out of memory: Killed process 99 (postgres) total-vm:1kB", EventKind::OOM_KILL, Some("postgres"), Severity::Warning),
    ];

    #[test]
    fn classifies_known_lines() {
        for (line, kind, subject, severity) in CASES {
            let c = classify(line).unwrap_or_else(|| panic!("unclassified: {line}"));
            assert_eq!(c.kind, *kind, "{line}");
            assert_eq!(c.subject.as_deref(), *subject, "{line}");
            assert_eq!(c.severity, *severity, "{line}");
        }
    }

    #[test]
    fn ignores_ordinary_lines() {
        for line in [
            "EDAC MC: Ver: 3.0.0",
            "e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex",
            "pcieport 0000:00:1c.0: AER: enabled with IRQ 122",
            "nvme nvme0: 8/0/0 default/read/poll queues",
            "sd 0:0:0:0: [sda] Attached SCSI disk",
            "ata3: SATA link up 6.0 Gbps (SStatus 133 SControl 300)",
            "XFS (sda1): Mounting V5 Filesystem",
            "EXT4-fs (sda1): mounted filesystem with ordered data mode",
        ] {
            assert_eq!(classify(line), None, "{line}");
        }
    }

    #[test]
    fn lockups_carry_their_type() {
        let soft = classify("watchdog: BUG: soft lockup - CPU#0 stuck for 23s!").expect("lockup");
        assert_eq!(soft.detail, Some("soft"));
        let hard =
            classify("NMI watchdog: Watchdog detected hard LOCKUP on cpu 1").expect("lockup");
        assert_eq!(hard.detail, Some("hard"));
    }
}
