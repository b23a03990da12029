//! `/proc/loadavg`: the 1, 5 and 15 minute load averages.

/// The three load averages, or `None` when the first three fields are not numbers.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<f64>);
    let mut next = || fields.next()?.ok().filter(|v| v.is_finite());
    Some([next()?, next()?, next()?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_three_averages() {
        assert_eq!(
            parse_loadavg("0.21 0.37 0.39 1/719 19737\n"),
            Some([0.21, 0.37, 0.39])
        );
        assert_eq!(parse_loadavg("0.21 0.37\n"), None);
        assert_eq!(parse_loadavg("a b c"), None);
    }
}
