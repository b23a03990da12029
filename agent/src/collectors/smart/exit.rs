//! smartctl's exit status, a bitmask (man smartctl, "EXIT STATUS"), as typed flags.
//!
//! The bits mix three different things that must not be confused: smartctl could not
//! read the device (bits 0-2), the disk says it is failing (bits 3-5), and the disk's
//! logs hold errors (bits 6-7). Only the first means "no data"; the others are findings
//! that come with a complete JSON document.

use std::fmt;

/// One decoded exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExitStatus(pub u8);

/// Bit 0: the command line did not parse.
pub const COMMAND_LINE: u8 = 1 << 0;
/// Bit 1: the device could not be opened or identified, or it is asleep (with `-n`).
pub const OPEN_FAILED: u8 = 1 << 1;
/// Bit 2: a SMART or other command failed, or a SMART structure had a bad checksum.
pub const COMMAND_FAILED: u8 = 1 << 2;
/// Bit 3: SMART status says "DISK FAILING".
pub const DISK_FAILING: u8 = 1 << 3;
/// Bit 4: prefail attributes at or below their threshold now.
pub const PREFAIL_BELOW_THRESHOLD: u8 = 1 << 4;
/// Bit 5: attributes were at or below their threshold in the past.
pub const PAST_BELOW_THRESHOLD: u8 = 1 << 5;
/// Bit 6: the device error log has entries.
pub const ERROR_LOG: u8 = 1 << 6;
/// Bit 7: the self-test log has errors.
pub const SELF_TEST_ERRORS: u8 = 1 << 7;

const NAMES: [&str; 8] = [
    "command line did not parse",
    "device open failed or device asleep",
    "a SMART command failed",
    "SMART status: disk failing",
    "prefail attribute at or below threshold",
    "attribute below threshold in the past",
    "error log has entries",
    "self-test log has errors",
];

impl ExitStatus {
    /// From a process exit code; smartctl's codes fit in 8 bits, anything else (a
    /// wrapper's odd code) keeps only the low byte, as a shell would.
    pub fn from_code(code: i32) -> Self {
        Self((code & 0xff) as u8)
    }

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// smartctl could not read the device at all (bits 0 and 1): there is no data.
    pub fn could_not_read(self) -> bool {
        self.has(COMMAND_LINE) || self.has(OPEN_FAILED)
    }

    /// Some command failed (bit 2): the JSON is partial but usable.
    pub fn partial(self) -> bool {
        self.has(COMMAND_FAILED)
    }

    /// The disk reports it is failing, now (bits 3 and 4).
    pub fn disk_failing(self) -> bool {
        self.has(DISK_FAILING) || self.has(PREFAIL_BELOW_THRESHOLD)
    }

    /// The disk's error or self-test logs hold entries (bits 6 and 7).
    pub fn logged_errors(self) -> bool {
        self.has(ERROR_LOG) || self.has(SELF_TEST_ERRORS)
    }

    /// The names of the set bits, lowest first.
    pub fn reasons(self) -> Vec<&'static str> {
        (0..8)
            .filter(|bit| self.0 & (1 << bit) != 0)
            .map(|bit| NAMES[bit])
            .collect()
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return write!(f, "0 (ok)");
        }
        write!(f, "{} ({})", self.0, self.reasons().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_distinguished() {
        let failing = ExitStatus(216); // usbjmicron fixture: 128+64+16+8
        assert!(!failing.could_not_read());
        assert!(failing.disk_failing());
        assert!(failing.logged_errors());
        assert_eq!(
            failing.reasons(),
            [
                "SMART status: disk failing",
                "prefail attribute at or below threshold",
                "error log has entries",
                "self-test log has errors"
            ]
        );

        let open = ExitStatus::from_code(2);
        assert!(open.could_not_read() && !open.disk_failing() && !open.logged_errors());
        let logs = ExitStatus::from_code(64);
        assert!(!logs.could_not_read() && !logs.disk_failing() && logs.logged_errors());
        let partial = ExitStatus::from_code(4);
        assert!(partial.partial() && !partial.could_not_read());
        assert_eq!(ExitStatus::from_code(0).to_string(), "0 (ok)");
        assert_eq!(
            ExitStatus::from_code(8).to_string(),
            "8 (SMART status: disk failing)"
        );
        assert_eq!(ExitStatus::from_code(256 + 1), ExitStatus(1));
    }
}
