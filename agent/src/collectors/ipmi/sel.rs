//! The System Event Log: only entries added since the last read, found from a cursor
//! persisted in the state directory, and kept correct across a cleared or wrapped SEL.
//!
//! The cursor remembers the SEL info stamps and the last entry read (id and 16 raw
//! bytes). Unchanged stamps mean nothing new (one request). Otherwise, if the last
//! entry is still there byte for byte, we follow the chain from it; if it is gone
//! (cleared, wrapped, ids reused) we walk the whole SEL and take what is newer than it.

use super::commands::{RawSelEntry, SelEntryRaw, SelInfo, SelStamp};
use super::exec::{exec, BmcError};
use super::sdr::SdrCache;
use super::sensors::{describe, offset_state, severity};
use harbinger_shared::{ComponentId, ComponentKind, Event, EventKind};
use ipmi_rs::connection::IpmiConnection;
use ipmi_rs::storage::sdr::SensorType;
use ipmi_rs::Ipmi;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Entries read on first contact with a BMC, newest first kept: history without a flood.
pub const BACKFILL: usize = 256;
const MAX_ENTRIES: usize = 8192;
/// SEL timestamps below this count seconds since BMC start, not since 1970.
const PRE_INIT_MAX: u32 = 0x2000_0000;

/// Where we stopped reading, persisted between agent runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelCursor {
    pub entries: u16,
    pub last_add: u32,
    pub last_erase: u32,
    pub last_id: Option<u16>,
    /// Hex of the last entry's 16 bytes.
    pub last_raw: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn timestamp(raw: &[u8; 16]) -> u32 {
    u32::from_le_bytes([raw[3], raw[4], raw[5], raw[6]])
}

/// Reads the entries added since `cursor`; returns them oldest first, the new cursor
/// and the SEL info.
pub fn read_new<CON: IpmiConnection>(
    ipmi: &mut Ipmi<CON>,
    bmc: &str,
    cursor: Option<&SelCursor>,
) -> Result<(Vec<[u8; 16]>, SelCursor, SelStamp), BmcError> {
    let info: SelStamp = exec(ipmi, bmc, "Get SEL Info", SelInfo)?;
    let stamp = |c: &SelCursor| (c.entries, c.last_add, c.last_erase);
    let mut next = SelCursor {
        entries: info.entries,
        last_add: info.last_add,
        last_erase: info.last_erase,
        ..SelCursor::default()
    };
    if let Some(c) = cursor {
        if stamp(c) == stamp(&next) {
            next.last_id = c.last_id;
            next.last_raw = c.last_raw.clone();
            return Ok((Vec::new(), next, info));
        }
    }
    if info.entries == 0 {
        return Ok((Vec::new(), next, info));
    }
    let mut fresh = Vec::new();
    let anchor = cursor.and_then(|c| Some((c.last_id?, c.last_raw.clone()?)));
    let mut followed = false;
    if let Some((id, raw)) = &anchor {
        match exec(ipmi, bmc, "Get SEL Entry", SelEntryRaw(*id)) {
            Ok(entry) if hex(&entry.bytes) == *raw => {
                follow(ipmi, bmc, entry.next_id, &mut fresh)?;
                followed = true;
            }
            Ok(_) => {}
            Err(err) if err.is_transport() => return Err(err),
            Err(_) => {}
        }
    }
    if !followed {
        let mut all = Vec::new();
        follow(ipmi, bmc, 0x0000, &mut all)?;
        fresh = match (&anchor, cursor) {
            (Some((_, raw)), Some(_)) => {
                let anchor_ts = raw_ts(raw);
                // The anchor is gone: keep what is newer than it, and pre-init entries
                // (no comparable clock) that were logged after a clear.
                all.into_iter()
                    .filter(|e| hex(e) != *raw)
                    .filter(|e| {
                        let ts = timestamp(e);
                        ts >= anchor_ts || ts < PRE_INIT_MAX
                    })
                    .collect()
            }
            // First contact: the most recent history.
            (None, None) => {
                let skip = all.len().saturating_sub(BACKFILL);
                all.into_iter().skip(skip).collect()
            }
            // A cursor without an anchor: the SEL was empty when we last looked.
            _ => all,
        };
    }
    match (fresh.last(), cursor) {
        (Some(last), _) => {
            next.last_id = Some(u16::from_le_bytes([last[0], last[1]]));
            next.last_raw = Some(hex(last));
        }
        (None, Some(c)) if followed => {
            next.last_id = c.last_id;
            next.last_raw = c.last_raw.clone();
        }
        _ => {}
    }
    Ok((fresh, next, info))
}

fn raw_ts(hex_raw: &str) -> u32 {
    let byte = |i: usize| {
        hex_raw
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0)
    };
    u32::from_le_bytes([byte(3), byte(4), byte(5), byte(6)])
}

fn follow<CON: IpmiConnection>(
    ipmi: &mut Ipmi<CON>,
    bmc: &str,
    mut id: u16,
    out: &mut Vec<[u8; 16]>,
) -> Result<(), BmcError> {
    let mut seen = 0;
    while id != 0xFFFF && seen < MAX_ENTRIES {
        let RawSelEntry { next_id, bytes } = exec(ipmi, bmc, "Get SEL Entry", SelEntryRaw(id))?;
        out.push(bytes);
        if next_id == id {
            break;
        }
        id = next_id;
        seen += 1;
    }
    Ok(())
}

/// One SEL record as an `ipmi_sel` event; `now_ms` stands in for pre-init timestamps.
pub fn to_event(raw: &[u8; 16], sdr: &SdrCache, bmc: &str, now_ms: i64) -> Event {
    let record_id = u16::from_le_bytes([raw[0], raw[1]]);
    let ts = timestamp(raw);
    let mut attrs = BTreeMap::from([
        ("bmc".to_owned(), bmc.to_owned()),
        ("record_id".to_owned(), format!("{record_id:#06x}")),
        ("record_type".to_owned(), format!("{:#04x}", raw[2])),
        ("raw".to_owned(), hex(raw)),
    ]);
    let event_ts = if (PRE_INIT_MAX..u32::MAX).contains(&ts) {
        i64::from(ts) * 1000
    } else {
        attrs.insert("pre_init".to_owned(), "true".to_owned());
        now_ms
    };
    if raw[2] != 0x02 {
        return Event {
            ts: event_ts,
            kind: EventKind::new(EventKind::IPMI_SEL),
            severity: severity(0),
            component: None,
            message: format!("OEM SEL record type {:#04x}", raw[2]),
            attrs,
        };
    }
    let generator = raw[7];
    let sensor_type = raw[10];
    let sensor_number = raw[11];
    let deassert = raw[12] & 0x80 != 0;
    let reading_type = raw[12] & 0x7F;
    let offset = raw[13] & 0x0F;
    let type_name = SensorType::from(sensor_type).to_string();
    let sensor = sdr
        .find(generator, sensor_number)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| format!("{type_name} #{sensor_number:#04x}"));
    let mut description = describe(sensor_type, reading_type, offset);
    if description.is_empty() {
        description = format!("offset {offset:#x}");
    }
    let state = if deassert {
        0
    } else {
        offset_state(sensor_type, reading_type, offset)
    };
    let direction = if deassert { "deasserted" } else { "asserted" };
    if reading_type == 0x01 && raw[13] & 0x50 == 0x50 {
        // Threshold events carry the trigger reading and threshold (raw) in data 2/3.
        if let Some(conv) = sdr
            .find(generator, sensor_number)
            .and_then(|s| s.conversion)
        {
            if let Some(v) = conv.convert(raw[14]) {
                attrs.insert("reading".to_owned(), v.to_string());
            }
            if let Some(v) = conv.convert(raw[15]) {
                attrs.insert("threshold".to_owned(), v.to_string());
            }
        }
    }
    attrs.insert("sensor".to_owned(), sensor.clone());
    attrs.insert("sensor_type".to_owned(), type_name.clone());
    attrs.insert("sensor_number".to_owned(), format!("{sensor_number:#04x}"));
    attrs.insert("event_type".to_owned(), format!("{reading_type:#04x}"));
    attrs.insert("description".to_owned(), description.clone());
    attrs.insert("direction".to_owned(), direction.to_owned());
    attrs.insert("generator".to_owned(), format!("{generator:#04x}"));
    let kind = match sensor_type {
        0x04 => ComponentKind::Fan,
        0x07 => ComponentKind::Cpu,
        0x08 => ComponentKind::Psu,
        0x0C => ComponentKind::Dimm,
        _ => ComponentKind::Sensor,
    };
    Event {
        ts: event_ts,
        kind: EventKind::new(EventKind::IPMI_SEL),
        severity: severity(state),
        component: Some(ComponentId::new(kind, sensor.clone())),
        message: format!("{sensor} ({type_name}): {description} {direction}"),
        attrs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::Severity;

    fn entry(id: u16, ts: u32, sensor_type: u8, num: u8, dir_type: u8, d1: u8) -> [u8; 16] {
        let mut e = [0u8; 16];
        e[..2].copy_from_slice(&id.to_le_bytes());
        e[2] = 0x02;
        e[3..7].copy_from_slice(&ts.to_le_bytes());
        e[7] = 0x20;
        e[9] = 0x04;
        e[10] = sensor_type;
        e[11] = num;
        e[12] = dir_type;
        e[13] = d1;
        e[14] = 0xFF;
        e[15] = 0xFF;
        e
    }

    #[test]
    fn uncorrectable_ecc_is_an_error_event() {
        let e = entry(7, 1_700_000_000, 0x0C, 0x60, 0x6F, 0x01);
        let ev = to_event(&e, &SdrCache::default(), "local", 5);
        assert_eq!(ev.kind.as_str(), EventKind::IPMI_SEL);
        assert_eq!(ev.severity, Severity::Error);
        assert_eq!(ev.ts, 1_700_000_000_000);
        assert!(
            ev.attrs["description"].starts_with("Uncorrectable ECC"),
            "{:?}",
            ev.attrs
        );
        assert_eq!(ev.attrs["sensor_type"], "Memory");
        assert_eq!(ev.attrs["record_id"], "0x0007");
        assert_eq!(
            ev.component.as_ref().map(|c| c.kind),
            Some(ComponentKind::Dimm)
        );
    }

    #[test]
    fn deassertions_are_info_and_pre_init_uses_now() {
        let e = entry(8, 85, 0x08, 0x41, 0x80 | 0x6F, 0x01);
        let ev = to_event(&e, &SdrCache::default(), "local", 42);
        assert_eq!(ev.severity, Severity::Info);
        assert_eq!(ev.ts, 42);
        assert_eq!(ev.attrs["pre_init"], "true");
        assert_eq!(ev.attrs["direction"], "deasserted");
        let fail = entry(9, 1_700_000_000, 0x08, 0x41, 0x6F, 0x01);
        assert_eq!(
            to_event(&fail, &SdrCache::default(), "l", 0).severity,
            Severity::Error
        );
        let oem = {
            let mut e = fail;
            e[2] = 0xC1;
            e
        };
        assert!(to_event(&oem, &SdrCache::default(), "l", 0)
            .message
            .contains("OEM"));
    }

    #[test]
    fn cursor_round_trips_through_the_state_dir() {
        use crate::collectors::StateDir;
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::persistent(dir.path());
        let name = crate::collectors::ipmi::bmc::cursor_file("127.0.0.1:9623");
        assert_eq!(name, "ipmi-sel-127_0_0_1_9623.json");
        assert_eq!(state.load::<SelCursor>(&name), None);
        let cursor = SelCursor {
            entries: 3,
            last_add: 10,
            last_erase: 2,
            last_id: Some(3),
            last_raw: Some(hex(&[1, 2, 3])),
        };
        state.store(&name, &cursor).expect("saved");
        assert_eq!(state.load(&name), Some(cursor));
        std::fs::write(dir.path().join(&name), "{not json").expect("write");
        assert_eq!(
            state.load::<SelCursor>(&name),
            None,
            "a corrupt cursor means first contact"
        );
        assert_eq!(
            raw_ts(&hex(&entry(1, 0x6543_2100, 1, 1, 1, 1))),
            0x6543_2100
        );
    }
}
