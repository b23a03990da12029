//! IPMI commands ipmi-rs 0.6 lacks or gets wrong, built on its public `IpmiCommand`
//! trait: chunked Get SDR under a reservation, Get Sensor Reading with the discrete
//! state bits, Get Sensor Thresholds, a length-checked Get SDR Repository Info, and a
//! raw Get SEL Entry (we keep the 16 bytes as the SEL cursor's anchor).
//!
//! Why ours: ipmi-rs reads whole SDRs (count 0xFF), which BMCs with small buffers refuse
//! (completion code 0xCA), keeps the discrete bits private, has no thresholds command,
//! and indexes past the end of a short SDR Repository Info answer (a panic).

use ipmi_rs::connection::{CompletionErrorCode, IpmiCommand, Message, NetFn};

/// What went wrong decoding an answer; the completion code is handled by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadAnswer(pub String);

fn need(data: &[u8], n: usize, what: &str) -> Result<(), BadAnswer> {
    if data.len() < n {
        Err(BadAnswer(format!(
            "{what}: answer of {} bytes, expected at least {n}",
            data.len()
        )))
    } else {
        Ok(())
    }
}

/// Reserve SDR Repository (Storage 0x22).
pub struct ReserveSdr;

impl From<ReserveSdr> for Message {
    fn from(_: ReserveSdr) -> Self {
        Message::new_request(NetFn::Storage, 0x22, Vec::new())
    }
}

impl IpmiCommand for ReserveSdr {
    type Output = u16;
    type Error = BadAnswer;
    fn parse_success_response(data: &[u8]) -> Result<u16, BadAnswer> {
        need(data, 2, "Reserve SDR Repository")?;
        Ok(u16::from_le_bytes([data[0], data[1]]))
    }
}

/// Get SDR (Storage 0x23): `count` bytes of record `record_id` from `offset`.
pub struct GetSdrChunk {
    pub reservation: u16,
    pub record_id: u16,
    pub offset: u8,
    pub count: u8,
}

/// One chunk: the next record's id and the bytes read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdrChunk {
    pub next_id: u16,
    pub bytes: Vec<u8>,
}

impl From<GetSdrChunk> for Message {
    fn from(c: GetSdrChunk) -> Self {
        let mut data = Vec::with_capacity(6);
        data.extend_from_slice(&c.reservation.to_le_bytes());
        data.extend_from_slice(&c.record_id.to_le_bytes());
        data.push(c.offset);
        data.push(c.count);
        Message::new_request(NetFn::Storage, 0x23, data)
    }
}

impl IpmiCommand for GetSdrChunk {
    type Output = SdrChunk;
    type Error = BadAnswer;
    fn parse_success_response(data: &[u8]) -> Result<SdrChunk, BadAnswer> {
        need(data, 2, "Get SDR")?;
        Ok(SdrChunk {
            next_id: u16::from_le_bytes([data[0], data[1]]),
            bytes: data[2..].to_vec(),
        })
    }
}

/// Get SDR Repository Info (Storage 0x20), only what the cache needs.
pub struct SdrRepoInfo;

/// The repository's change stamps: the cache is valid while both stay put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdrStamp {
    pub record_count: u16,
    pub last_addition: u32,
    pub last_erase: u32,
}

impl From<SdrRepoInfo> for Message {
    fn from(_: SdrRepoInfo) -> Self {
        Message::new_request(NetFn::Storage, 0x20, Vec::new())
    }
}

impl IpmiCommand for SdrRepoInfo {
    type Output = SdrStamp;
    type Error = BadAnswer;
    fn parse_success_response(data: &[u8]) -> Result<SdrStamp, BadAnswer> {
        need(data, 13, "Get SDR Repository Info")?;
        Ok(SdrStamp {
            record_count: u16::from_le_bytes([data[1], data[2]]),
            last_addition: u32::from_le_bytes([data[5], data[6], data[7], data[8]]),
            last_erase: u32::from_le_bytes([data[9], data[10], data[11], data[12]]),
        })
    }
}

/// Get Sensor Reading (Sensor/Event 0x2D).
pub struct SensorReading(pub u8);

/// A sensor's raw reading with its status bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawReading {
    pub raw: u8,
    /// "Reading/state unavailable" (byte 2 bit 5), or scanning disabled.
    pub unavailable: bool,
    /// Threshold sensors: comparison status bits (LNC, LC, LNR, UNC, UC, UNR = bits 0..5).
    pub threshold_bits: u8,
    /// Discrete sensors: asserted state offsets 0..14.
    pub discrete_bits: u16,
}

impl From<SensorReading> for Message {
    fn from(s: SensorReading) -> Self {
        Message::new_request(NetFn::SensorEvent, 0x2D, vec![s.0])
    }
}

impl IpmiCommand for SensorReading {
    type Output = RawReading;
    type Error = BadAnswer;

    fn handle_completion_code(code: CompletionErrorCode, _data: &[u8]) -> Option<BadAnswer> {
        Some(BadAnswer(format!("Get Sensor Reading: {code:?}")))
    }

    fn parse_success_response(data: &[u8]) -> Result<RawReading, BadAnswer> {
        need(data, 2, "Get Sensor Reading")?;
        let flags = data[1];
        let scanning = flags & 0x40 != 0;
        let low = data.get(2).copied().unwrap_or(0);
        let high = data.get(3).copied().unwrap_or(0) & 0x7F;
        Ok(RawReading {
            raw: data[0],
            unavailable: flags & 0x20 != 0 || !scanning,
            threshold_bits: low & 0x3F,
            discrete_bits: u16::from(low) | (u16::from(high) << 8),
        })
    }
}

/// Get Sensor Thresholds (Sensor/Event 0x27).
pub struct SensorThresholds(pub u8);

/// Raw thresholds, `None` where the BMC marks one unreadable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawThresholds {
    pub lnc: Option<u8>,
    pub lc: Option<u8>,
    pub lnr: Option<u8>,
    pub unc: Option<u8>,
    pub uc: Option<u8>,
    pub unr: Option<u8>,
}

impl From<SensorThresholds> for Message {
    fn from(s: SensorThresholds) -> Self {
        Message::new_request(NetFn::SensorEvent, 0x27, vec![s.0])
    }
}

impl IpmiCommand for SensorThresholds {
    type Output = RawThresholds;
    type Error = BadAnswer;

    fn handle_completion_code(code: CompletionErrorCode, _data: &[u8]) -> Option<BadAnswer> {
        Some(BadAnswer(format!("Get Sensor Thresholds: {code:?}")))
    }

    fn parse_success_response(data: &[u8]) -> Result<RawThresholds, BadAnswer> {
        need(data, 7, "Get Sensor Thresholds")?;
        let mask = data[0];
        let get = |bit: u8, i: usize| (mask & (1 << bit) != 0).then_some(data[i]);
        Ok(RawThresholds {
            lnc: get(0, 1),
            lc: get(1, 2),
            lnr: get(2, 3),
            unc: get(3, 4),
            uc: get(4, 5),
            unr: get(5, 6),
        })
    }
}

/// Get SEL Info (Storage 0x40), with the raw stamps (ipmi-rs keeps them private).
pub struct SelInfo;

/// Entry count, free space and the add/erase stamps that reveal a changed SEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelStamp {
    pub entries: u16,
    pub free_bytes: u16,
    pub last_add: u32,
    pub last_erase: u32,
    pub overflow: bool,
}

impl From<SelInfo> for Message {
    fn from(_: SelInfo) -> Self {
        Message::new_request(NetFn::Storage, 0x40, Vec::new())
    }
}

impl IpmiCommand for SelInfo {
    type Output = SelStamp;
    type Error = BadAnswer;
    fn parse_success_response(data: &[u8]) -> Result<SelStamp, BadAnswer> {
        need(data, 14, "Get SEL Info")?;
        Ok(SelStamp {
            entries: u16::from_le_bytes([data[1], data[2]]),
            free_bytes: u16::from_le_bytes([data[3], data[4]]),
            last_add: u32::from_le_bytes([data[5], data[6], data[7], data[8]]),
            last_erase: u32::from_le_bytes([data[9], data[10], data[11], data[12]]),
            overflow: data[13] & 0x80 != 0,
        })
    }
}

/// Get SEL Entry (Storage 0x43), whole record, kept raw.
pub struct SelEntryRaw(pub u16);

/// One SEL record: the next record's id and the 16 raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSelEntry {
    pub next_id: u16,
    pub bytes: [u8; 16],
}

impl From<SelEntryRaw> for Message {
    fn from(s: SelEntryRaw) -> Self {
        let mut data = vec![0, 0];
        data.extend_from_slice(&s.0.to_le_bytes());
        data.extend_from_slice(&[0x00, 0xFF]);
        Message::new_request(NetFn::Storage, 0x43, data)
    }
}

impl IpmiCommand for SelEntryRaw {
    type Output = RawSelEntry;
    type Error = BadAnswer;

    fn handle_completion_code(code: CompletionErrorCode, _data: &[u8]) -> Option<BadAnswer> {
        Some(BadAnswer(format!("Get SEL Entry: {code:?}")))
    }

    fn parse_success_response(data: &[u8]) -> Result<RawSelEntry, BadAnswer> {
        need(data, 18, "Get SEL Entry")?;
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&data[2..18]);
        Ok(RawSelEntry {
            next_id: u16::from_le_bytes([data[0], data[1]]),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_framed_as_the_spec_says() {
        let m: Message = GetSdrChunk {
            reservation: 0x1234,
            record_id: 0x0005,
            offset: 5,
            count: 16,
        }
        .into();
        assert_eq!(m.netfn_raw(), 0x0A);
        assert_eq!(m.cmd(), 0x23);
        assert_eq!(m.data(), [0x34, 0x12, 0x05, 0x00, 5, 16]);
        let m: Message = SelEntryRaw(0x0102).into();
        assert_eq!(m.data(), [0, 0, 0x02, 0x01, 0x00, 0xFF]);
        let m: Message = SensorThresholds(0x30).into();
        assert_eq!(
            (m.netfn_raw(), m.cmd(), m.data()),
            (0x04, 0x27, &[0x30u8][..])
        );
    }

    #[test]
    fn readings_decode_threshold_and_discrete_bits() {
        // FAN2 at 0 RPM: LNC, LC and LNR asserted, scanning on.
        let r = SensorReading::parse_success_response(&[0x00, 0xC0, 0x07]).expect("valid");
        assert_eq!(r.raw, 0);
        assert!(!r.unavailable);
        assert_eq!(r.threshold_bits, 0x07);
        // PSU: presence + failure (offsets 0, 1), high byte bit 7 reserved.
        let r = SensorReading::parse_success_response(&[0x00, 0xC0, 0x03, 0x80]).expect("valid");
        assert_eq!(r.discrete_bits, 0x0003);
        let r = SensorReading::parse_success_response(&[0x00, 0xE0, 0x00]).expect("valid");
        assert!(r.unavailable, "bit 5 marks the reading unavailable");
        let r = SensorReading::parse_success_response(&[0x00, 0x80]).expect("valid");
        assert!(r.unavailable, "scanning disabled");
        assert!(SensorReading::parse_success_response(&[0x00]).is_err());
    }

    #[test]
    fn thresholds_honour_the_readable_mask() {
        let t = SensorThresholds::parse_success_response(&[0x07, 8, 5, 3, 0, 0, 0]).expect("valid");
        assert_eq!(
            t,
            RawThresholds {
                lnc: Some(8),
                lc: Some(5),
                lnr: Some(3),
                unc: None,
                uc: None,
                unr: None
            }
        );
        assert!(SensorThresholds::parse_success_response(&[0x07, 8]).is_err());
    }

    #[test]
    fn short_answers_are_errors_not_panics() {
        for n in 0..13 {
            let data = vec![0x51; n];
            assert!(SdrRepoInfo::parse_success_response(&data).is_err());
            assert!(SelEntryRaw::parse_success_response(&data).is_err());
        }
        let info = SdrRepoInfo::parse_success_response(&[
            0x51, 17, 0, 0xFF, 0xFF, 1, 0, 0, 0, 2, 0, 0, 0, 0x0F,
        ])
        .expect("valid");
        assert_eq!(
            info,
            SdrStamp {
                record_count: 17,
                last_addition: 1,
                last_erase: 2
            }
        );
    }
}
