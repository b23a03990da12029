//! Vendor raw-value decoding for ATA SMART attributes.
//!
//! The raw value is 48 bits whose meaning the vendor chooses. smartctl applies its
//! drive database when it renders `raw.string`, so where that rendering has a primary
//! number followed by detail (`25 (Min/Max 19/39)`, `2725 (151 234 0)`,
//! `12523h+17m+08.635s`) we take the primary number. Two common packings smartctl
//! renders as one plain 48-bit number, and which would otherwise look like billions of
//! errors, are decoded here:
//! - Seagate 1 / 7 / 195 (read error rate, seek error rate, ECC recovered): the top 16
//!   bits count errors, the low 32 bits count operations. We keep the errors.
//! - 188 Command_Timeout: three 16-bit counters (all, > 5 s, > 7.5 s). We keep the
//!   first, the total number of timed-out commands.

use super::json::AtaAttribute;

/// An attribute's decoded raw value, and the temperature range packed in it if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decoded {
    pub value: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Whether the drive is a Seagate, whose packed error-rate counters need decoding.
pub fn is_seagate(model_family: Option<&str>, model_name: Option<&str>) -> bool {
    let family = model_family.unwrap_or_default().to_ascii_lowercase();
    let model = model_name.unwrap_or_default();
    family.contains("seagate")
        || model.to_ascii_lowercase().starts_with("seagate")
        || (model.starts_with("ST") && model.chars().nth(2).is_some_and(|c| c.is_ascii_digit()))
}

/// Decodes one attribute's raw value; `None` when the attribute has no raw value.
pub fn decode(attr: &AtaAttribute, seagate: bool) -> Option<Decoded> {
    let raw = attr.raw.value;
    let string = attr.raw.string.as_deref().unwrap_or_default().trim();
    let plain = |value: f64| Decoded {
        value,
        min: None,
        max: None,
    };
    match attr.id {
        1 | 7 | 195 if seagate => return raw.map(|r| plain(((r >> 32) & 0xffff) as f64)),
        // A timeout count above 65535 means the three packed counters.
        188 => {
            return raw.map(|r| {
                plain(if r > 0xffff {
                    (r & 0xffff) as f64
                } else {
                    r as f64
                })
            })
        }
        _ => {}
    }
    if let Some((value, min, max)) = min_max(string) {
        return Some(Decoded {
            value,
            min: Some(min),
            max: Some(max),
        });
    }
    if let Some(value) = primary_number(string) {
        return Some(plain(value));
    }
    // Temperatures without smartctl's rendering: the current value is the low byte.
    if matches!(attr.id, 190 | 194) {
        return raw.map(|r| plain((r & 0xff) as f64));
    }
    raw.map(|r| plain(r as f64))
}

/// `36 (Min/Max 20/45)` → (36, 20, 45).
fn min_max(string: &str) -> Option<(f64, f64, f64)> {
    let (current, rest) = string.split_once(" (Min/Max ")?;
    let (min, max) = rest.strip_suffix(')')?.split_once('/')?;
    Some((
        current.trim().parse().ok()?,
        min.trim().parse().ok()?,
        max.trim().parse().ok()?,
    ))
}

/// The number smartctl put first when it rendered more than one: `2725 (151 234 0)`,
/// `396 (Average 445)`, `12523h+17m+08.635s` (hours), and the sum for `early/later`
/// pairs such as Phison's `Bad_Blk_Ct_Erl/Lat` `1/1162`. A plain number is left to the
/// caller, which uses the exact integer.
fn primary_number(string: &str) -> Option<f64> {
    if let Some((head, _)) = string.split_once(" (") {
        return head.trim().parse().ok();
    }
    if let Some((hours, _)) = string.split_once("h+") {
        return hours.trim().parse().ok();
    }
    if let Some((a, b)) = string.split_once('/') {
        return Some(a.trim().parse::<f64>().ok()? + b.trim().parse::<f64>().ok()?);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::smart::json::Raw;

    fn attr(id: u32, value: u64, string: &str) -> AtaAttribute {
        AtaAttribute {
            id,
            raw: Raw {
                value: Some(value),
                string: Some(string.to_owned()),
            },
            ..AtaAttribute::default()
        }
    }

    fn check(
        id: u32,
        raw: u64,
        string: &str,
        seagate: bool,
        expect: (f64, Option<f64>, Option<f64>),
    ) {
        let d = decode(&attr(id, raw, string), seagate).expect("decodes");
        assert_eq!((d.value, d.min, d.max), expect, "{id} {raw} {string:?}");
    }

    #[test]
    fn seagate_error_rates_keep_the_error_count() {
        // 0x0005_0a1b_2c3d: 5 errors in 0x0a1b2c3d operations.
        check(1, 0x0005_0a1b_2c3d, "21617307709", true, (5.0, None, None));
        check(7, 0x0000_0a1b_2c3d, "169553981", true, (0.0, None, None));
        check(195, 0x0002_0000_0001, "8589934593", true, (2.0, None, None));
        // Not a Seagate: the raw value is what it says.
        check(1, 12, "12", false, (12.0, None, None));
    }

    #[test]
    fn command_timeout_keeps_the_total_of_the_packed_counters() {
        check(188, 17_180_131_332, "17180131332", true, (4.0, None, None));
        check(188, 51_540_393_996, "51540393996", true, (12.0, None, None));
        check(188, 29, "29", false, (29.0, None, None));
    }

    #[test]
    fn temperatures_and_rendered_forms() {
        check(
            194,
            3_145_764,
            "36 (Min/Max 0/48)",
            false,
            (36.0, Some(0.0), Some(48.0)),
        );
        check(
            194,
            77_309_411_350,
            "22 (0 18 0 0 0)",
            true,
            (22.0, None, None),
        );
        check(194, 77_309_411_350, "", true, (22.0, None, None));
        check(
            9,
            167_031_278_144_165,
            "2725 (151 234 0)",
            false,
            (2725.0, None, None),
        );
        check(
            240,
            4_417_953_684_533_483,
            "12523h+17m+08.635s",
            true,
            (12523.0, None, None),
        );
        check(170, 16_778_378, "1/1162", false, (1163.0, None, None));
        check(5, 1975, "1975", false, (1975.0, None, None));
    }

    #[test]
    fn seagate_is_recognised_by_family_or_model() {
        assert!(is_seagate(
            Some("Seagate Barracuda 7200.12"),
            Some("ST3500418AS")
        ));
        assert!(is_seagate(None, Some("ST16000NM001G-2KK103")));
        assert!(!is_seagate(
            Some("Western Digital Red"),
            Some("WDC WD20EFRX-68EUZN0")
        ));
        assert!(!is_seagate(None, Some("STEC ZeusIOPS")));
    }
}
