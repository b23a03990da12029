//! `/proc/net/dev`: per interface traffic counters.

use super::parse_u64_fields;

/// The counters of one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetDev<'a> {
    pub name: &'a str,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errs: u64,
    pub rx_drop: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errs: u64,
    pub tx_drop: u64,
}

/// Interface lines (the two header lines have a `|` and are skipped). The name ends at
/// the `:`, which the kernel forbids in interface names; old kernels print no space
/// after it when the first counter is wide (`eth0:1234567`).
pub fn parse_net_dev(text: &str) -> impl Iterator<Item = NetDev<'_>> {
    text.lines().filter_map(|line| {
        if line.contains('|') {
            return None;
        }
        let Some((name, counters)) = line.split_once(':') else {
            if !line.trim().is_empty() {
                tracing::debug!(line, "skipping malformed net/dev line");
            }
            return None;
        };
        let mut v = [0u64; 16];
        match parse_u64_fields(counters.split_ascii_whitespace(), &mut v) {
            Some(16) => {}
            _ => {
                tracing::debug!(line, "skipping malformed net/dev line");
                return None;
            }
        }
        Some(NetDev {
            name: name.trim(),
            rx_bytes: v[0],
            rx_packets: v[1],
            rx_errs: v[2],
            rx_drop: v[3],
            tx_bytes: v[8],
            tx_packets: v[9],
            tx_errs: v[10],
            tx_drop: v[11],
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_interfaces_and_skips_headers() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:   60109     775    0    0    0     0          0         0    60109     775    0    0    0     0       0          0\n  \
eth0:1371531824   10908    1    2    0     0          0         0   538257    6028    3    4    0     0       0          0\n  \
bad: 1 2 3\n";
        let devs: Vec<_> = parse_net_dev(text).collect();
        assert_eq!(devs.len(), 2, "{devs:?}");
        assert_eq!(devs[0].name, "lo");
        let eth0 = devs[1];
        assert_eq!(eth0.name, "eth0");
        assert_eq!(
            (eth0.rx_bytes, eth0.rx_packets, eth0.rx_errs, eth0.rx_drop),
            (1_371_531_824, 10_908, 1, 2)
        );
        assert_eq!(
            (eth0.tx_bytes, eth0.tx_packets, eth0.tx_errs, eth0.tx_drop),
            (538_257, 6_028, 3, 4)
        );
    }
}
