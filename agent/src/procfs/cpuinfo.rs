//! `/proc/cpuinfo`: the CPU model and the number of logical CPUs, for the host inventory.

/// What the inventory needs from cpuinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuInfo {
    pub model: Option<String>,
    pub logical_cpus: usize,
}

/// The first model line and the count of `processor` lines. The model key differs per
/// architecture: `model name` (x86, newer arm64 kernels), `Processor` (old ARM),
/// `cpu model` (MIPS), `cpu` (POWER, e.g. `POWER9`).
pub fn parse_cpuinfo(text: &str) -> CpuInfo {
    const MODEL_KEYS: [&str; 4] = ["model name", "Processor", "cpu model", "cpu"];
    let mut info = CpuInfo::default();
    let mut best_rank = MODEL_KEYS.len();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if key == "processor" {
            info.logical_cpus += 1;
        } else if let Some(rank) = MODEL_KEYS.iter().position(|k| *k == key) {
            if rank < best_rank && !value.is_empty() {
                best_rank = rank;
                info.model = Some(value.to_owned());
            }
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_model_and_count() {
        let info = parse_cpuinfo(
            "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7302\n\n\
             processor\t: 1\nmodel name\t: AMD EPYC 7302\n",
        );
        assert_eq!(info.model.as_deref(), Some("AMD EPYC 7302"));
        assert_eq!(info.logical_cpus, 2);
    }

    #[test]
    fn power_uses_the_cpu_key() {
        let info = parse_cpuinfo("processor\t: 0\ncpu\t\t: POWER9 (raw), altivec supported\n");
        assert_eq!(
            info.model.as_deref(),
            Some("POWER9 (raw), altivec supported")
        );
        assert_eq!(parse_cpuinfo("").model, None);
    }
}
