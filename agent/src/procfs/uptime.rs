//! `/proc/uptime`: seconds since boot.

/// The first field (seconds since boot), or `None` when it is not a number.
pub fn parse_uptime(text: &str) -> Option<f64> {
    text.split_ascii_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_first_field() {
        assert_eq!(parse_uptime("350735.47 234388.90\n"), Some(350_735.47));
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_uptime("-1 0"), None);
    }
}
