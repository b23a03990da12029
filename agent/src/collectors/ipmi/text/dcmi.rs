//! DCMI power readings: `ipmitool dcmi power reading` ("Instantaneous power reading:
//! 167 Watts", "Power reading state is: activated") and FreeIPMI's
//! `ipmi-dcmi --get-system-power-statistics` ("Current Power : 105 Watts",
//! "Power Measurement : Not Available").

use super::names::fold;
use super::TextError;

/// One power reading, in watts.
#[derive(Debug, Clone, PartialEq)]
pub struct DcmiPower {
    pub current: f64,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub average: Option<f64>,
    /// The statistics' sampling period.
    pub period_seconds: Option<f64>,
    /// Whether the BMC says power measurement is active. iLO reports "Not Available"
    /// here while giving a plausible current reading, so it is recorded, not enforced
    /// (as ipmi_exporter does).
    pub active: Option<bool>,
}

/// "167 Watts" → 167; "00699043 Seconds." → 699043.
fn number(value: &str) -> Option<f64> {
    value.split_whitespace().next()?.parse().ok()
}

/// Parses either tool's output.
pub fn parse(text: &str) -> Result<DcmiPower, TextError> {
    let mut power = DcmiPower {
        current: f64::NAN,
        minimum: None,
        maximum: None,
        average: None,
        period_seconds: None,
        active: None,
    };
    let mut current = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match fold(key).as_str() {
            "instantaneouspowerreading" | "currentpower" => current = number(value),
            "minimumduringsamplingperiod" | "minimumpoweroversamplingduration" => {
                power.minimum = number(value)
            }
            "maximumduringsamplingperiod" | "maximumpoweroversamplingduration" => {
                power.maximum = number(value)
            }
            "averagepowerreadingoversampleperiod" | "averagepoweroversamplingduration" => {
                power.average = number(value)
            }
            "samplingperiod" => power.period_seconds = number(value),
            "statisticsreportingtimeperiod" => {
                let scale = if value.contains("milli") { 1e-3 } else { 1.0 };
                power.period_seconds = number(value).map(|v| v * scale);
            }
            "powerreadingstateis" => power.active = Some(fold(value) == "activated"),
            "powermeasurement" => power.active = Some(fold(value) == "active"),
            _ => {}
        }
    }
    power.current = current.ok_or(TextError::MissingField {
        format: "DCMI power reading",
        field: "current power",
    })?;
    Ok(power)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tools() {
        let ipmitool = "    Instantaneous power reading:                   167 Watts\n    Minimum during sampling period:                124 Watts\n    Sampling period:                          00699043 Seconds.\n    Power reading state is:                   activated\n";
        let p = parse(ipmitool).expect("ipmitool");
        assert_eq!(
            (p.current, p.minimum, p.active),
            (167.0, Some(124.0), Some(true))
        );
        assert_eq!(p.period_seconds, Some(699_043.0));
        let freeipmi = "Current Power                        : 105 Watts\nStatistics reporting time period     : 300000 milliseconds\nPower Measurement                    : Not Available";
        let p = parse(freeipmi).expect("freeipmi");
        assert_eq!(
            (p.current, p.period_seconds, p.active),
            (105.0, Some(300.0), Some(false))
        );
        assert_eq!(
            parse("DCMI request failed because: Insufficient privilege level (d4)\n"),
            Err(TextError::MissingField {
                format: "DCMI power reading",
                field: "current power"
            })
        );
    }
}
