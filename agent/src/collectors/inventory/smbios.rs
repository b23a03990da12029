//! SMBIOS type 17 (Memory Device) records from `<sysfs>/firmware/dmi/entries/17-*/raw`:
//! the DIMM slot, size, manufacturer, serial and part number the firmware knows.
//!
//! The raw files are readable by root only; without them DIMMs come from EDAC alone.
//! Offsets follow the SMBIOS specification (DSP0134), section 7.18.

/// One populated memory slot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryDevice {
    pub locator: String,
    pub bank: Option<String>,
    pub size_bytes: Option<u64>,
    pub speed_mts: Option<u16>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub part_number: Option<String>,
}

fn u16_at(raw: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*raw.get(at)?, *raw.get(at + 1)?]))
}

fn u32_at(raw: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *raw.get(at)?,
        *raw.get(at + 1)?,
        *raw.get(at + 2)?,
        *raw.get(at + 3)?,
    ]))
}

/// Parses one type 17 structure. `None` when it is not type 17, is truncated, or
/// describes an empty slot (size 0).
pub fn parse_memory_device(raw: &[u8]) -> Option<MemoryDevice> {
    if *raw.first()? != 17 {
        return None;
    }
    let len = usize::from(*raw.get(1)?);
    if len < 0x15 || raw.len() < len {
        return None;
    }
    let strings: Vec<String> = raw[len..]
        .split(|b| *b == 0)
        .take_while(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).trim().to_owned())
        .collect();
    // String fields hold a 1-based index into the strings after the structure.
    let string = |at: usize| -> Option<String> {
        let index = usize::from(*raw.get(at).filter(|_| at < len)?);
        let text = strings.get(index.checked_sub(1)?)?;
        let placeholder = text.is_empty()
            || ["unknown", "not specified", "no dimm", "none"]
                .iter()
                .any(|p| text.eq_ignore_ascii_case(p));
        (!placeholder).then(|| text.clone())
    };
    let size = u16_at(raw, 0x0C)?;
    let size_bytes = match size {
        0 => return None,
        0xFFFF => None,
        // Extended size (MiB) in a later field.
        0x7FFF if len >= 0x20 => u32_at(raw, 0x1C).map(|mb| u64::from(mb & 0x7FFF_FFFF) << 20),
        0x7FFF => None,
        // Bit 15 set: the unit is KiB, else MiB.
        s if s & 0x8000 != 0 => Some(u64::from(s & 0x7FFF) << 10),
        s => Some(u64::from(s) << 20),
    };
    Some(MemoryDevice {
        locator: string(0x10)?,
        bank: string(0x11),
        size_bytes,
        speed_mts: if len > 0x16 {
            u16_at(raw, 0x15).filter(|s| *s != 0)
        } else {
            None
        },
        manufacturer: string(0x17),
        serial: string(0x18),
        part_number: string(0x1A),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A type 17 structure of `len` 0x28 with the given strings.
    pub(crate) fn type17(size_mb: u16, strings: &[&str]) -> Vec<u8> {
        let mut raw = vec![0u8; 0x28];
        raw[0] = 17;
        raw[1] = 0x28;
        raw[0x0C..0x0E].copy_from_slice(&size_mb.to_le_bytes());
        raw[0x10] = 1; // locator
        raw[0x11] = 2; // bank
        raw[0x15..0x17].copy_from_slice(&3200u16.to_le_bytes());
        raw[0x17] = 3; // manufacturer
        raw[0x18] = 4; // serial
        raw[0x1A] = 5; // part number
        for s in strings {
            raw.extend_from_slice(s.as_bytes());
            raw.push(0);
        }
        raw.push(0);
        raw
    }

    #[test]
    fn parses_a_populated_slot() {
        let raw = type17(
            16384,
            &[
                "DIMM_A1",
                "P0_Node0_Channel0_Dimm0",
                "Samsung",
                "0x1234ABCD",
                "M393A4K40DB3-CWE    ",
            ],
        );
        let dev = parse_memory_device(&raw).expect("device");
        assert_eq!(dev.locator, "DIMM_A1");
        assert_eq!(dev.bank.as_deref(), Some("P0_Node0_Channel0_Dimm0"));
        assert_eq!(dev.size_bytes, Some(16 << 30));
        // 32 GiB and more: 0x7FFF and the extended size in MiB.
        let mut big = raw.clone();
        big[0x0C..0x0E].copy_from_slice(&0x7FFFu16.to_le_bytes());
        big[0x1C..0x20].copy_from_slice(&65536u32.to_le_bytes());
        let big = parse_memory_device(&big).expect("device");
        assert_eq!(big.size_bytes, Some(64 << 30));
        let mut kib = raw.clone();
        kib[0x0C..0x0E].copy_from_slice(&(0x8000u16 | 512).to_le_bytes());
        assert_eq!(
            parse_memory_device(&kib).expect("device").size_bytes,
            Some(512 << 10)
        );
        assert_eq!(dev.speed_mts, Some(3200));
        assert_eq!(dev.manufacturer.as_deref(), Some("Samsung"));
        assert_eq!(dev.serial.as_deref(), Some("0x1234ABCD"));
        assert_eq!(dev.part_number.as_deref(), Some("M393A4K40DB3-CWE"));
    }

    #[test]
    fn empty_slots_and_other_types_are_skipped() {
        assert_eq!(
            parse_memory_device(&type17(0, &["DIMM_B1", "x", "", "", ""])),
            None
        );
        let mut other = type17(1024, &["A", "B", "C", "D", "E"]);
        other[0] = 16;
        assert_eq!(parse_memory_device(&other), None);
        assert_eq!(parse_memory_device(&[17, 0x28, 0]), None, "truncated");
        let unknown = type17(
            1024,
            &["DIMM_C1", "b", "Unknown", "Not Specified", "NO DIMM"],
        );
        let dev = parse_memory_device(&unknown).expect("device");
        assert_eq!(
            (dev.manufacturer, dev.serial, dev.part_number),
            (None, None, None)
        );
    }
}
