//! Humane durations in configuration: `"500ms"`, `"10s"`, `"1m"`, `"1h30m"`.
//!
//! Parsed here in a few lines rather than through a crate, because the agent keeps
//! its dependency list short (see `Cargo.toml`) and the grammar we accept is tiny.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("{0:?} is not a duration: expected a number followed by a unit (ms, s, m, h, d), e.g. \"10s\"")]
    Syntax(String),
    #[error("{0:?} is too large")]
    Overflow(String),
}

/// Parses `<number><unit>` groups, e.g. `"10s"`, `"500ms"`, `"1h30m"`. Whitespace around
/// the whole string is ignored; a bare number without a unit is refused because
/// `interval = "10"` is ambiguous (seconds? milliseconds?).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let syntax = || DurationError::Syntax(text.to_owned());
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(syntax());
        }
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let factor_ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(syntax()),
        };
        let value: u64 = number
            .parse()
            .map_err(|_| DurationError::Overflow(text.to_owned()))?;
        total_ms = value
            .checked_mul(factor_ms)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| DurationError::Overflow(text.to_owned()))?;
        rest = tail;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way [`parse_duration`] reads it, for messages and `Debug` output.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1_000 != 0 {
        format!("{ms}ms")
    } else if ms % 60_000 != 0 {
        format!("{}s", ms / 1_000)
    } else if ms % 3_600_000 != 0 {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}h", ms / 3_600_000)
    }
}

/// `#[serde(deserialize_with = "…")]` adapter for humane duration strings.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_compound_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 1m "), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
    }

    #[test]
    fn refuses_bare_numbers_unknown_units_and_garbage() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("10"),
            Err(DurationError::Syntax(_))
        ));
        assert!(matches!(
            parse_duration("10 s"),
            Err(DurationError::Syntax(_))
        ));
        assert!(matches!(
            parse_duration("5y"),
            Err(DurationError::Syntax(_))
        ));
        assert!(matches!(parse_duration("s"), Err(DurationError::Syntax(_))));
        assert!(matches!(
            parse_duration("-1s"),
            Err(DurationError::Syntax(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn format_round_trips() {
        for text in ["250ms", "10s", "5m", "2h"] {
            let d = parse_duration(text).expect("valid");
            assert_eq!(format_duration(d), text);
        }
    }
}
