//! The `key : value` reports: `ipmitool mc info` and FreeIPMI `bmc-info` (the BMC's
//! identity, for inventory), `ipmitool sel info` and `ipmi-sel --info` (the SEL's size
//! and change stamps, which tell whether the SEL needs listing at all).

use super::names::fold;
use std::collections::BTreeMap;

fn pairs(text: &str) -> impl Iterator<Item = (String, &str)> {
    text.lines().filter_map(|line| {
        let (key, value) = line.split_once(':')?;
        let key = fold(key);
        (!key.is_empty()).then(|| (key, value.trim()))
    })
}

/// The inventory attributes the native path records from Get Device ID, under the
/// same names and in the same notation (`product_id` as `0x0042`).
pub fn device_attrs(text: &str) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    for (key, value) in pairs(text) {
        let first = value.split_whitespace().next().unwrap_or_default();
        match key.as_str() {
            "deviceid" if first.parse::<u8>().is_ok() => {
                attrs.insert("device_id".into(), first.into());
            }
            "devicerevision" => {
                attrs.insert("device_revision".into(), first.into());
            }
            "firmwarerevision" => {
                attrs.insert("firmware".into(), first.into());
            }
            "ipmiversion" => {
                attrs.insert("ipmi_version".into(), first.into());
            }
            // ipmitool: "45232"; FreeIPMI: "Hellenic Ministry … (45232)".
            "manufacturerid" => {
                let id = value
                    .rsplit_once('(')
                    .map_or(value, |(_, rest)| rest.trim_end_matches(')'));
                if let Ok(id) = id.trim().parse::<u32>() {
                    attrs.insert("manufacturer_id".into(), id.to_string());
                }
            }
            // ipmitool: "66 (0x0042)"; FreeIPMI: "66".
            "productid" => {
                if let Ok(id) = first.parse::<u16>() {
                    attrs.insert("product_id".into(), format!("{id:#06x}"));
                }
            }
            _ => {}
        }
    }
    attrs
}

/// The SEL's size and change stamps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelInfo {
    pub entries: Option<u32>,
    pub free_bytes: Option<u32>,
    /// The last-addition and last-erase stamps as printed: only compared.
    pub stamp: String,
}

/// Parses `ipmitool sel info` or `ipmi-sel --info`; `None` without an entry count.
pub fn sel_info(text: &str) -> Option<SelInfo> {
    let mut info = SelInfo::default();
    let mut stamp = Vec::new();
    for (key, value) in pairs(text) {
        let first = value.split_whitespace().next().unwrap_or_default();
        match key.as_str() {
            "entries" | "numberoflogentries" => info.entries = first.parse().ok(),
            "freespace" | "freespaceremaining" => info.free_bytes = first.parse().ok(),
            "lastaddtime" | "lastdeltime" | "recentadditiontimestamp" | "recenterasetimestamp" => {
                stamp.push(format!("{key}={value}"));
            }
            _ => {}
        }
    }
    info.stamp = stamp.join(";");
    info.entries.map(|_| info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_identity_from_both_tools() {
        let ipmitool = "Device ID                 : 33\nDevice Revision           : 3\nFirmware Revision         : 4.17\nIPMI Version              : 2.0\nManufacturer ID           : 45232\nManufacturer Name         : Hellenic Ministry of Foreign Affairs\nProduct ID                : 66 (0x0042)\n";
        let freeipmi = "Device ID             : 33\nDevice Revision       : 3\nDevice SDRs           : unsupported\nFirmware Revision     : 4.17\nIPMI Version          : 2.0\nManufacturer ID       : Hellenic Ministry of Foreign Affairs (45232)\nProduct ID            : 66\n";
        let a = device_attrs(ipmitool);
        assert_eq!(a, device_attrs(freeipmi));
        assert_eq!(a["product_id"], "0x0042");
        assert_eq!(a["manufacturer_id"], "45232");
        assert_eq!(a["firmware"], "4.17");
        assert_eq!(a.len(), 6);
    }

    #[test]
    fn sel_stamps() {
        let ipmitool = "SEL Information\nVersion          : 1.5 (v1.5, v2 compliant)\nEntries          : 2\nFree Space       : 4064 bytes \nLast Add Time    : 11/22/26 08:06:03 UTC\nLast Del Time    : Not Available\n";
        let i = sel_info(ipmitool).expect("info");
        assert_eq!((i.entries, i.free_bytes), (Some(2), Some(4064)));
        assert!(i.stamp.contains("08:06:03"));
        let freeipmi = "Number of log entries                  : 2\nFree space remaining                   : 4064 bytes\nRecent addition timestamp              : 11/22/2026 - 08:06:03\n";
        assert_eq!(sel_info(freeipmi).and_then(|i| i.free_bytes), Some(4064));
        assert_eq!(sel_info("garbage"), None);
    }
}
