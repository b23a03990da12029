//! The Sensor Data Record repository: a chunked walk (header first, then the body in
//! 16-byte pieces under a reservation, as ipmitool and freeipmi do), records parsed by
//! ipmi-rs's public `Record::parse`, and each sensor's conversion from raw byte to units.
//!
//! The walk trusts the record's length byte, not the answer size: some BMCs pad
//! records (OpenIPMI 2.0.33 appends 6 bytes).

use super::commands::{GetSdrChunk, ReserveSdr, SdrRepoInfo, SdrStamp};
use super::exec::{exec, BmcError};
use ipmi_rs::connection::{CompletionErrorCode, IpmiConnection};
use ipmi_rs::storage::sdr::record::RecordContents;
use ipmi_rs::storage::sdr::{Record, SensorType, Unit};
use ipmi_rs::Ipmi;

/// Bytes per Get SDR request; small enough for every BMC buffer seen in the wild.
const CHUNK: u8 = 16;
/// A repository larger than this is a BMC answering in circles.
const MAX_RECORDS: usize = 4096;

/// How raw readings become values (IPMI v2.0 §36.3): `y = L((M·x + B·10^Bexp)·10^Rexp)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversion {
    pub m: i16,
    pub b: i16,
    pub b_exp: i8,
    pub r_exp: i8,
    /// 0 unsigned, 1 one's complement, 2 two's complement.
    pub format: u8,
    pub linearization: u8,
}

fn sign_extend(value: u16, bits: u32) -> i16 {
    let shift = 16 - bits;
    ((value << shift) as i16) >> shift
}

impl Conversion {
    /// Reads the factors from a full sensor record (header included); `None` when the
    /// sensor has no analog reading.
    pub fn from_full_record(bytes: &[u8]) -> Option<Self> {
        // Byte numbers below are the spec's (1-based, header included).
        let at = |n: usize| bytes.get(n - 1).copied();
        let units1 = at(21)?;
        let format = units1 >> 6;
        if format == 3 {
            return None;
        }
        let m = u16::from(at(25)?) | (u16::from(at(26)? >> 6) << 8);
        let b = u16::from(at(27)?) | (u16::from(at(28)? >> 6) << 8);
        let exps = at(30)?;
        Some(Self {
            m: sign_extend(m, 10),
            b: sign_extend(b, 10),
            r_exp: sign_extend(u16::from(exps >> 4), 4) as i8,
            b_exp: sign_extend(u16::from(exps & 0x0F), 4) as i8,
            format,
            linearization: at(24)? & 0x7F,
        })
    }

    /// The value in the sensor's units, `None` for a non-linear formula we cannot
    /// apply (OEM) or a result that is not a number.
    pub fn convert(&self, raw: u8) -> Option<f64> {
        let x = match self.format {
            1 => f64::from(if raw & 0x80 != 0 {
                -i16::from(!raw)
            } else {
                i16::from(raw)
            }),
            2 => f64::from(raw as i8),
            _ => f64::from(raw),
        };
        let y = (f64::from(self.m) * x + f64::from(self.b) * 10f64.powi(i32::from(self.b_exp)))
            * 10f64.powi(i32::from(self.r_exp));
        let y = match self.linearization {
            0 => y,
            1 => y.ln(),
            2 => y.log10(),
            3 => y.log2(),
            4 => y.exp(),
            5 => 10f64.powf(y),
            6 => 2f64.powf(y),
            7 => 1.0 / y,
            8 => y * y,
            9 => y * y * y,
            10 => y.sqrt(),
            11 => y.cbrt(),
            _ => return None,
        };
        // Round away binary noise (0.06 × 200 = 12.000000000000002).
        let y = (y * 1e6).round() / 1e6;
        y.is_finite().then_some(y)
    }
}

/// What the agent needs to know about one sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorDef {
    pub owner: u8,
    pub lun: u8,
    pub number: u8,
    pub name: String,
    pub sensor_type: u8,
    /// ipmitool's name for the type ("Temperature", "Power Supply"…).
    pub type_name: String,
    /// Event/reading type code: 0x01 threshold, 0x02–0x0C generic discrete, 0x6F
    /// sensor-specific.
    pub reading_type: u8,
    /// `None` for discrete sensors and compact threshold records.
    pub conversion: Option<Conversion>,
    /// Prometheus-style unit label (`celsius`, `volts`, `rpm`, `watts`…).
    pub unit: String,
}

impl SensorDef {
    pub fn is_threshold(&self) -> bool {
        self.reading_type == 0x01
    }
}

/// The unit label of a base unit; `percent` wins when the percentage bit is set.
pub fn unit_label(unit: Unit, percentage: bool) -> String {
    if percentage {
        return "percent".into();
    }
    match u8::from(unit) {
        0 => "unspecified".into(),
        1 => "celsius".into(),
        2 => "fahrenheit".into(),
        3 => "kelvin".into(),
        4 => "volts".into(),
        5 => "amperes".into(),
        6 => "watts".into(),
        7 => "joules".into(),
        17 => "cfm".into(),
        18 => "rpm".into(),
        19 => "hertz".into(),
        22 => "seconds".into(),
        _ => snake(&format!("{unit:?}")),
    }
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c == '(' || c == ')' {
            continue;
        }
    }
    out
}

/// Turns one raw record (header included, already trimmed) into a sensor, or `None`
/// for records that are not sensors (locators, OEM).
pub fn sensor_from_record(bytes: &[u8]) -> Result<Option<SensorDef>, String> {
    let record = Record::parse(bytes).map_err(|err| format!("{err:?}"))?;
    let conversion = match &record.contents {
        RecordContents::FullSensor(_) => Conversion::from_full_record(bytes),
        RecordContents::CompactSensor(_) => None,
        _ => return Ok(None),
    };
    let Some(common) = record.common_data() else {
        return Ok(None);
    };
    let sensor_type = u8::from(common.ty);
    let reading_type = bytes.get(13).copied().unwrap_or(0);
    Ok(Some(SensorDef {
        owner: bytes.get(5).copied().unwrap_or(0x20),
        lun: bytes.get(6).copied().unwrap_or(0) & 0x03,
        number: common.key.sensor_number.get(),
        name: common.sensor_id.to_string().trim().to_owned(),
        sensor_type,
        type_name: SensorType::from(sensor_type).to_string(),
        reading_type,
        conversion,
        unit: if reading_type == 0x01 {
            unit_label(
                common.sensor_units.base_unit,
                common.sensor_units.is_percentage,
            )
        } else {
            "discrete".into()
        },
    }))
}

/// The SDR repository as last read, and the stamp it was read at.
#[derive(Debug, Clone, Default)]
pub struct SdrCache {
    pub stamp: Option<SdrStamp>,
    pub sensors: Vec<SensorDef>,
    /// How many times the repository was walked (the cache's tests count on it).
    pub walks: u64,
}

impl SdrCache {
    /// Re-reads the repository only when its change stamp moved.
    pub fn refresh<CON: IpmiConnection>(
        &mut self,
        ipmi: &mut Ipmi<CON>,
        bmc: &str,
    ) -> Result<(), BmcError> {
        let stamp = exec(ipmi, bmc, "Get SDR Repository Info", SdrRepoInfo)?;
        if self.stamp == Some(stamp) {
            return Ok(());
        }
        let records = walk(ipmi, bmc)?;
        let mut sensors = Vec::new();
        for (id, bytes) in records {
            match sensor_from_record(&bytes) {
                Ok(Some(sensor)) => sensors.push(sensor),
                Ok(None) => {}
                Err(err) => tracing::debug!(bmc, record = id, error = %err, "skipping SDR"),
            }
        }
        tracing::info!(bmc, sensors = sensors.len(), "SDR repository read");
        self.sensors = sensors;
        self.stamp = Some(stamp);
        self.walks += 1;
        Ok(())
    }

    /// The sensor a SEL entry names.
    pub fn find(&self, owner: u8, number: u8) -> Option<&SensorDef> {
        self.sensors
            .iter()
            .find(|s| s.number == number && (s.owner == owner || owner == 0))
    }
}

/// Every record as `(record id, bytes)`, header included and trimmed to its length.
pub fn walk<CON: IpmiConnection>(
    ipmi: &mut Ipmi<CON>,
    bmc: &str,
) -> Result<Vec<(u16, Vec<u8>)>, BmcError> {
    let mut reservation = exec(ipmi, bmc, "Reserve SDR Repository", ReserveSdr)?;
    let mut records = Vec::new();
    let mut id = 0u16;
    while id != 0xFFFF {
        if records.len() >= MAX_RECORDS {
            return Err(BmcError::Command {
                bmc: bmc.to_owned(),
                command: "Get SDR",
                message: format!("more than {MAX_RECORDS} records; the chain loops"),
                completion_code: None,
            });
        }
        let (next, bytes) = match read_record(ipmi, bmc, reservation, id) {
            Err(err)
                if err.completion_code()
                    == Some(CompletionErrorCode::ReservationCancelledOrInvalidId) =>
            {
                // Someone changed the repository mid-walk: reserve again and retry once.
                reservation = exec(ipmi, bmc, "Reserve SDR Repository", ReserveSdr)?;
                read_record(ipmi, bmc, reservation, id)?
            }
            other => other?,
        };
        if next == id {
            break;
        }
        records.push((id, bytes));
        id = next;
    }
    Ok(records)
}

fn read_record<CON: IpmiConnection>(
    ipmi: &mut Ipmi<CON>,
    bmc: &str,
    reservation: u16,
    id: u16,
) -> Result<(u16, Vec<u8>), BmcError> {
    let head = exec(
        ipmi,
        bmc,
        "Get SDR",
        GetSdrChunk {
            reservation,
            record_id: id,
            offset: 0,
            count: 5,
        },
    )?;
    if head.bytes.len() < 5 {
        return Err(BmcError::Command {
            bmc: bmc.to_owned(),
            command: "Get SDR",
            message: format!("record {id:#06x}: header of {} bytes", head.bytes.len()),
            completion_code: None,
        });
    }
    let total = 5 + usize::from(head.bytes[4]);
    let mut bytes = head.bytes[..5].to_vec();
    while bytes.len() < total {
        let offset = bytes.len() as u8;
        let count = CHUNK.min((total - bytes.len()) as u8);
        let chunk = exec(
            ipmi,
            bmc,
            "Get SDR",
            GetSdrChunk {
                reservation,
                record_id: id,
                offset,
                count,
            },
        )?;
        if chunk.bytes.is_empty() {
            return Err(BmcError::Command {
                bmc: bmc.to_owned(),
                command: "Get SDR",
                message: format!("record {id:#06x}: empty chunk at offset {offset}"),
                completion_code: None,
            });
        }
        let take = chunk.bytes.len().min(total - bytes.len());
        bytes.extend_from_slice(&chunk.bytes[..take]);
    }
    Ok((head.next_id, bytes))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A full sensor record like our simulator's 12V (M=60, Rexp=-3, volts,
    /// thresholds LC/LNC/UNC/UC), built byte by byte from the spec's table 43-1.
    pub(crate) fn full_record(
        number: u8,
        name: &str,
        sensor_type: u8,
        base_unit: u8,
        m: u16,
        r_exp: i8,
    ) -> Vec<u8> {
        let mut r = vec![0u8; 48];
        r[0] = number; // record id
        r[2] = 0x51;
        r[3] = 0x01;
        r[5] = 0x20; // owner
        r[6] = 0x00; // lun
        r[7] = number;
        r[8] = 0x07; // entity
        r[9] = 0x01;
        r[10] = 0x7F; // initialisation
        r[11] = 0x68; // capabilities: auto re-arm, readable+settable thresholds
        r[12] = sensor_type;
        r[13] = 0x01; // threshold reading type
        r[20] = 0x00; // units 1: unsigned
        r[21] = base_unit;
        r[23] = 0x00; // linear
        r[24] = (m & 0xFF) as u8;
        r[25] = ((m >> 8) as u8 & 0x03) << 6;
        r[29] = ((r_exp as u8) & 0x0F) << 4;
        r.truncate(47);
        r.push(0xC0 | name.len() as u8);
        r.extend_from_slice(name.as_bytes());
        r[4] = (r.len() - 5) as u8;
        r
    }

    #[test]
    fn conversion_follows_the_formula() {
        let rec = full_record(0x20, "12V", 0x02, 4, 60, -3);
        let conv = Conversion::from_full_record(&rec).expect("analog");
        assert_eq!(conv.m, 60);
        assert_eq!(conv.r_exp, -3);
        assert_eq!(conv.convert(200), Some(12.0));
        assert_eq!(conv.convert(170), Some(10.2));
        let fan = full_record(0x30, "FAN1", 0x04, 18, 100, 0);
        assert_eq!(
            Conversion::from_full_record(&fan).and_then(|c| c.convert(62)),
            Some(6200.0)
        );
        // Ten-bit signed M and four-bit signed exponents.
        let c = Conversion {
            m: sign_extend(0x3FF, 10),
            b: sign_extend(0x200, 10),
            b_exp: sign_extend(0xF, 4) as i8,
            r_exp: 0,
            format: 2,
            linearization: 0,
        };
        assert_eq!((c.m, c.b, c.b_exp), (-1, -512, -1));
        assert_eq!(c.convert(0xFE), Some(2.0 - 51.2));
        let c = Conversion {
            linearization: 0x71,
            ..c
        };
        assert_eq!(c.convert(1), None, "OEM linearisation is not guessed");
    }

    #[test]
    fn records_become_sensors_with_units() {
        let rec = full_record(0x20, "12V", 0x02, 4, 60, -3);
        let s = sensor_from_record(&rec).expect("parses").expect("a sensor");
        assert_eq!(s.name, "12V");
        assert_eq!(s.number, 0x20);
        assert_eq!(s.type_name, "Voltage");
        assert_eq!(s.unit, "volts");
        assert!(s.is_threshold());
        let mut padded = rec.clone();
        padded.extend_from_slice(&[0; 6]);
        assert!(
            sensor_from_record(&padded).is_err(),
            "padding is the walker's job"
        );
        assert!(sensor_from_record(&rec[..10]).is_err());
    }

    #[test]
    fn unit_labels_are_prometheus_style() {
        assert_eq!(unit_label(Unit::from(1), false), "celsius");
        assert_eq!(unit_label(Unit::from(18), false), "rpm");
        assert_eq!(unit_label(Unit::from(6), false), "watts");
        assert_eq!(unit_label(Unit::from(4), true), "percent");
        assert_eq!(unit_label(Unit::from(32), false), "millimeter");
    }
}
