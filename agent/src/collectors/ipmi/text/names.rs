//! The words the tools print, mapped back to IPMI codes: sensor type names, unit words,
//! status words, and the state texts of discrete sensors (matched against the same
//! ipmi-rs descriptions the native path emits), so that a reading parsed from text gets
//! the labels a reading over the wire would get.

use crate::collectors::ipmi::sdr::unit_label;
use crate::collectors::ipmi::sensors::describe;
use ipmi_rs::storage::sdr::{SensorType, Unit};

/// Spellings of sensor types that differ from ipmi-rs's (which the native path uses):
/// ipmitool's `sensor_type_desc` and FreeIPMI's sensor type strings.
const TYPE_ALIASES: &[(&str, u8)] = &[
    ("Platform Security Violation Attempt", 0x06),
    ("Other", 0x0B),
    ("Other Units Based Sensor", 0x0B),
    ("Drive Slot / Bay", 0x0D),
    ("Drive Bay", 0x0D),
    ("System Firmwares", 0x0F),
    ("Watchdog1", 0x11),
    ("Button", 0x14),
    ("Microcontroller/Coprocessor", 0x16),
    ("Add In Card", 0x17),
    ("System Boot Initiated", 0x1D),
    ("System Boot/Restart Initiated", 0x1D),
    ("Base OS Boot/Installation Status", 0x1F),
    ("OS Critical Stop", 0x20),
    ("OS Critical Stop/Shutdown", 0x20),
    ("Watchdog2", 0x23),
    ("Monitor ASIC", 0x26),
    ("Management Subsys Health", 0x28),
];

/// Lowercase letters and digits only: "Drive Slot / Bay" and "drive slot/bay" compare equal.
pub fn fold(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The type code for a type name in any tool's spelling.
pub fn sensor_type_code(name: &str) -> Option<u8> {
    let folded = fold(name);
    if folded.is_empty() {
        return None;
    }
    (0x01..=0x2Cu8)
        .find(|&code| fold(&SensorType::from(code).to_string()) == folded)
        .or_else(|| {
            TYPE_ALIASES
                .iter()
                .find(|(alias, _)| fold(alias) == folded)
                .map(|(_, code)| *code)
        })
}

/// The type name the native path uses (ipmi-rs's), e.g. "OS Stop/Shutdown" for 0x20.
pub fn type_name(code: u8) -> String {
    SensorType::from(code).to_string()
}

/// Splits ipmitool's SEL sensor column, "<type> <name>" ("Power Supply PS1 Status"),
/// at the longest known type name; `None` when it starts with no known type.
pub fn split_type_prefix(column: &str) -> Option<(u8, &str, &str)> {
    let mut best: Option<(u8, usize)> = None;
    let names = (0x01..=0x2Cu8)
        .map(|code| (SensorType::from(code).to_string(), code))
        .chain(TYPE_ALIASES.iter().map(|(a, c)| ((*a).to_owned(), *c)));
    for (name, code) in names {
        let Some(rest) = column.get(..name.len()) else {
            continue;
        };
        let boundary = column[name.len()..].chars().next().is_none_or(|c| c == ' ');
        if rest.eq_ignore_ascii_case(&name)
            && boundary
            && best.is_none_or(|(_, len)| name.len() > len)
        {
            best = Some((code, name.len()));
        }
    }
    best.map(|(code, len)| (code, &column[..len], column[len..].trim()))
}

/// ipmitool's unit words, indexed by the IPMI unit code (its `unit_desc` table).
const IPMITOOL_UNITS: &[&str] = &[
    "unspecified",
    "degrees C",
    "degrees F",
    "degrees K",
    "Volts",
    "Amps",
    "Watts",
    "Joules",
    "Coulombs",
    "VA",
    "Nits",
    "lumen",
    "lux",
    "Candela",
    "kPa",
    "PSI",
    "Newton",
    "CFM",
    "RPM",
    "Hz",
    "microsecond",
    "millisecond",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "mil",
    "inches",
    "feet",
    "cu in",
    "cu feet",
    "mm",
    "cm",
    "m",
    "cu cm",
    "cu m",
    "liters",
    "fluid ounce",
    "radians",
    "steradians",
    "revolutions",
    "cycles",
    "gravities",
    "ounce",
    "pound",
    "ft-lb",
    "oz-in",
    "gauss",
    "gilberts",
    "henry",
    "millihenry",
    "farad",
    "microfarad",
    "ohms",
    "siemens",
    "mole",
    "becquerel",
    "PPM",
    "reserved",
    "Decibels",
    "DbA",
    "DbC",
    "gray",
    "sievert",
    "color temp deg K",
    "bit",
    "kilobit",
    "megabit",
    "gigabit",
    "byte",
    "kilobyte",
    "megabyte",
    "gigabyte",
    "word",
    "dword",
    "qword",
    "line",
    "hit",
    "miss",
    "retry",
    "reset",
    "overflow",
    "underrun",
    "collision",
    "packets",
    "messages",
    "characters",
    "error",
    "correctable error",
    "uncorrectable error",
];

/// FreeIPMI's abbreviated units (its default output) that differ from ipmitool's words.
const FREEIPMI_ABBREVIATED: &[(&str, u8)] = &[
    ("C", 1),
    ("F", 2),
    ("K", 3),
    ("V", 4),
    ("A", 5),
    ("W", 6),
    ("J", 7),
    ("ft", 29),
];

/// Our unit label (`celsius`, `volts`, `rpm`…) for a unit as a tool prints it; `None`
/// for a word no tool prints.
pub fn unit_from_word(word: &str) -> Option<String> {
    let word = word.trim();
    if word == "%" || word.eq_ignore_ascii_case("percent") {
        return Some("percent".into());
    }
    let code = IPMITOOL_UNITS
        .iter()
        .position(|u| u.eq_ignore_ascii_case(word))
        .and_then(|i| u8::try_from(i).ok())
        .or_else(|| {
            FREEIPMI_ABBREVIATED
                .iter()
                .find(|(abbr, _)| *abbr == word)
                .map(|(_, code)| *code)
        })?;
    Some(unit_label(Unit::from(code), false))
}

/// What type a threshold sensor most likely has when the listing does not say
/// (`ipmitool sensor` prints no type): the one its unit implies.
pub fn type_from_unit(unit: &str) -> Option<u8> {
    Some(match unit {
        "celsius" | "fahrenheit" | "kelvin" => 0x01,
        "volts" => 0x02,
        "amperes" => 0x03,
        "rpm" => 0x04,
        _ => return None,
    })
}

/// A status word of any listing → 0 ok, 1 non-critical, 2 critical, 3 non-recoverable;
/// `None` for words that are not a threshold state.
pub fn state_from_word(word: &str) -> Option<u8> {
    Some(match fold(word).as_str() {
        "ok" | "nominal" => 0,
        "nc" | "lnc" | "unc" | "warning" | "lowernoncritical" | "uppernoncritical" => 1,
        "cr" | "lcr" | "ucr" | "critical" | "lowercritical" | "uppercritical" => 2,
        "nr" | "lnr" | "unr" | "lowernonrecoverable" | "uppernonrecoverable" => 3,
        _ => return None,
    })
}

/// The threshold label the native path uses for a threshold name in any spelling
/// ("Upper critical", "Upper Non-Critical", "ucr", "Lower NR").
pub fn threshold_label(name: &str) -> Option<&'static str> {
    Some(match fold(name).as_str() {
        "lnr" | "lowernonrecoverable" | "lowernr" => "lnr",
        "lcr" | "lc" | "lowercritical" | "lowerc" => "lc",
        "lnc" | "lowernoncritical" | "lowernc" => "lnc",
        "unc" | "uppernoncritical" | "uppernc" => "unc",
        "ucr" | "uc" | "uppercritical" | "upperc" => "uc",
        "unr" | "uppernonrecoverable" | "uppernr" => "unr",
        _ => return None,
    })
}

/// State texts whose ipmitool or FreeIPMI wording shares no prefix or suffix with the
/// ipmi-rs description of the same offset: (sensor type, folded text, offset).
const STATE_ALIASES: &[(u8, &str, u8)] = &[
    (0x05, "systemunpluggedfromlan", 4),
    (0x05, "unauthorizeddock", 5),
    (0x08, "powersupplyaclost", 3),
    (0x08, "aclost", 3),
    (0x08, "aclostoroutofrange", 4),
    (0x08, "acoutofrangebutpresent", 5),
    (0x08, "configerror", 6),
    (0x0C, "correctableecclogginglimitreached", 5),
    (0x0C, "correctablememoryerrorlogginglimitreached", 5),
    (0x09, "aclost", 4),
];

/// The generic event/reading types (IPMI table 42-2) a discrete sensor may use.
const GENERIC_READING_TYPES: std::ops::RangeInclusive<u8> = 0x02..=0x0C;

/// Matches state texts ("Presence detected", "Failure detected ()") to the offsets of
/// one event/reading type: the sensor-specific table of `sensor_type` first, then the
/// threshold and generic ones. Returns the reading type and the offsets, or `None` unless every text
/// matched within one type. Equal wording wins over a prefix, a prefix over a suffix
/// ("Installation started" is the end of "Base OS/Hypervisor Installation started").
pub fn match_states(sensor_type: Option<u8>, texts: &[&str]) -> Option<(u8, Vec<u8>)> {
    let candidates = sensor_type
        .map(|_| 0x6Fu8)
        .into_iter()
        .chain(std::iter::once(0x01))
        .chain(GENERIC_READING_TYPES);
    for reading_type in candidates {
        let offsets: Option<Vec<u8>> = texts
            .iter()
            .map(|t| match_state(sensor_type.unwrap_or(0), reading_type, t))
            .collect();
        if let Some(offsets) = offsets {
            return Some((reading_type, offsets));
        }
    }
    None
}

/// One text against one reading type's offsets.
pub fn match_state(sensor_type: u8, reading_type: u8, text: &str) -> Option<u8> {
    let text = fold(text.trim().trim_end_matches("()"));
    if text.is_empty() {
        return None;
    }
    if reading_type == 0x6F {
        if let Some((_, _, offset)) = STATE_ALIASES
            .iter()
            .find(|(st, t, _)| *st == sensor_type && *t == text)
        {
            return Some(*offset);
        }
    }
    let descriptions: Vec<(u8, String)> = (0..15u8)
        .map(|offset| (offset, fold(&describe(sensor_type, reading_type, offset))))
        .filter(|(_, d)| !d.is_empty() && !d.starts_with("unknown"))
        .collect();
    let pick = |ok: &dyn Fn(&str) -> bool| {
        descriptions
            .iter()
            .find(|(_, d)| ok(d))
            .map(|(offset, _)| *offset)
    };
    pick(&|d| d == text)
        .or_else(|| pick(&|d| text.len() >= 4 && d.starts_with(&text)))
        .or_else(|| pick(&|d| d.len() >= 4 && text.starts_with(d)))
        .or_else(|| pick(&|d| text.len() >= 8 && d.ends_with(&text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_in_every_spelling() {
        assert_eq!(sensor_type_code("Temperature"), Some(0x01));
        assert_eq!(sensor_type_code("Power Supply"), Some(0x08));
        assert_eq!(sensor_type_code("OS Critical Stop"), Some(0x20));
        assert_eq!(sensor_type_code("Drive Slot / Bay"), Some(0x0D));
        assert_eq!(sensor_type_code("Cable/Interconnect"), Some(0x1B));
        assert_eq!(sensor_type_code("OEM Reserved"), None);
        assert_eq!(type_name(0x20), "OS Stop/Shutdown");
        assert_eq!(
            split_type_prefix("Power Supply PS1 Status"),
            Some((0x08, "Power Supply", "PS1 Status"))
        );
        assert_eq!(
            split_type_prefix("System ACPI Power State ACPI_Stat"),
            Some((0x22, "System ACPI Power State", "ACPI_Stat"))
        );
        assert_eq!(split_type_prefix("OS Boot"), Some((0x1F, "OS Boot", "")));
        assert_eq!(split_type_prefix("Unknown #0xff"), None);
        assert_eq!(
            split_type_prefix("Fanatic"),
            None,
            "a word boundary is needed"
        );
    }

    #[test]
    fn units_and_words() {
        assert_eq!(unit_from_word("degrees C").as_deref(), Some("celsius"));
        assert_eq!(unit_from_word("C").as_deref(), Some("celsius"));
        assert_eq!(unit_from_word("Amps").as_deref(), Some("amperes"));
        assert_eq!(unit_from_word("feet").as_deref(), Some("foot"));
        assert_eq!(unit_from_word("discrete"), None);
        assert_eq!(state_from_word("nr"), Some(3));
        assert_eq!(state_from_word("Lower Critical"), Some(2));
        assert_eq!(state_from_word("ns"), None);
        assert_eq!(threshold_label("Upper non-critical"), Some("unc"));
        assert_eq!(threshold_label("Lower NR"), Some("lnr"));
    }

    #[test]
    fn state_texts_find_their_offsets() {
        assert_eq!(
            match_states(Some(0x08), &["Presence detected"]),
            Some((0x6F, vec![0]))
        );
        assert_eq!(
            match_states(Some(0x08), &["Failure detected ()"]),
            Some((0x6F, vec![1]))
        );
        assert_eq!(
            match_states(Some(0x08), &["Power Supply AC lost"]),
            Some((0x6F, vec![3]))
        );
        assert_eq!(
            match_states(Some(0x08), &["Fully Redundant"]),
            Some((0x0B, vec![0])),
            "a redundancy sensor of type Power Supply reads generic 0x0B"
        );
        assert_eq!(
            match_states(Some(0x05), &["General Chassis intrusion"]),
            Some((0x6F, vec![0]))
        );
        assert_eq!(
            match_states(Some(0x0C), &["Correctable ECC"]),
            Some((0x6F, vec![0]))
        );
        assert_eq!(
            match_states(Some(0x1F), &["Installation started"]),
            Some((0x6F, vec![7]))
        );
        assert_eq!(
            match_states(Some(0x22), &["S4/S5: soft-off"]),
            Some((0x6F, vec![6]))
        );
        assert_eq!(
            match_states(Some(0x01), &["Upper Critical going high"]),
            Some((0x01, vec![9]))
        );
        assert_eq!(
            match_states(None, &["State Asserted"]),
            Some((0x03, vec![1]))
        );
        assert_eq!(match_states(Some(0x1B), &["Nonsense"]), None);
    }
}
