//! Who this agent is: host id, hostname and labels, and the per-host timestamp phase.

use crate::config::AgentConfig;
use harbinger_shared::{AgentIdentity, ComponentId, ComponentKind};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The agent's resolved identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub host_id: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
}

/// Why the identity could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("hostname: cannot read {path}: {source}; set `hostname` in the agent config")]
    Hostname {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("hostname: {path} is empty; set `hostname` in the agent config")]
    EmptyHostname { path: PathBuf },
}

impl Identity {
    /// Resolves the identity: configured values win; otherwise the hostname comes from
    /// `<procfs>/sys/kernel/hostname` and the host id from `<rootfs>/etc/machine-id`
    /// (or the D-Bus copy), falling back to the hostname.
    pub fn resolve(config: &AgentConfig) -> Result<Self, IdentityError> {
        let hostname = match &config.hostname {
            Some(name) => name.trim().to_owned(),
            None => read_hostname(config)?,
        };
        let host_id = match &config.host_id {
            Some(id) => id.trim().to_owned(),
            None => read_machine_id(config).unwrap_or_else(|| {
                tracing::warn!(
                    %hostname,
                    "no machine-id found; using the hostname as host id, so renaming this host will make it a new host"
                );
                hostname.clone()
            }),
        };
        Ok(Self {
            host_id,
            hostname,
            labels: config.labels.clone(),
        })
    }

    /// The identity as sent in every batch.
    pub fn wire(&self) -> AgentIdentity {
        AgentIdentity {
            host_id: self.host_id.clone(),
            hostname: self.hostname.clone(),
            labels: self.labels.clone(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// The host as a component (events and inventory about the whole machine).
    pub fn host_component(&self) -> ComponentId {
        ComponentId::new(ComponentKind::Host, self.host_id.clone())
    }

    /// This host's fixed offset inside each interval, in `0..interval_ms`.
    ///
    /// Every host samples at `k × interval + phase`: exact multiples compress far better
    /// in the collector (delta-of-delta timestamps become zero), and a per-host phase
    /// spreads a fleet's batches over the interval instead of all arriving at :00.
    /// FNV-1a is used because it is stable across Rust versions, unlike `DefaultHasher`.
    pub fn phase_ms(&self, interval_ms: u64) -> u64 {
        if interval_ms == 0 {
            return 0;
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.host_id.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash % interval_ms
    }
}

fn read_hostname(config: &AgentConfig) -> Result<String, IdentityError> {
    let path = config.paths.proc("sys/kernel/hostname");
    let text = std::fs::read_to_string(&path).map_err(|source| IdentityError::Hostname {
        path: path.clone(),
        source,
    })?;
    let name = text.trim();
    if name.is_empty() {
        return Err(IdentityError::EmptyHostname { path });
    }
    Ok(name.to_owned())
}

fn read_machine_id(config: &AgentConfig) -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .into_iter()
        .find_map(|file| {
            let path = config.paths.root(file);
            match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
                Ok(_) => {
                    tracing::debug!(path = %path.display(), "machine-id file is empty");
                    None
                }
                Err(err) => {
                    tracing::debug!(path = %path.display(), %err, "cannot read machine-id");
                    None
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree() -> (tempfile::TempDir, AgentConfig) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = AgentConfig::default();
        config.paths.procfs = dir.path().join("proc");
        config.paths.rootfs = dir.path().join("root");
        fs::create_dir_all(dir.path().join("proc/sys/kernel")).expect("mkdir");
        fs::create_dir_all(dir.path().join("root/etc")).expect("mkdir");
        fs::write(dir.path().join("proc/sys/kernel/hostname"), "db-17\n").expect("write");
        (dir, config)
    }

    #[test]
    fn machine_id_then_hostname_then_overrides() {
        let (dir, mut config) = tree();
        let id = Identity::resolve(&config).expect("hostname readable");
        assert_eq!(id.hostname, "db-17");
        assert_eq!(id.host_id, "db-17", "falls back to the hostname");

        fs::write(dir.path().join("root/etc/machine-id"), "3d1219c7\n").expect("write");
        let id = Identity::resolve(&config).expect("resolve");
        assert_eq!(id.host_id, "3d1219c7");

        config.host_id = Some("custom".into());
        config.hostname = Some("alias".into());
        let id = Identity::resolve(&config).expect("resolve");
        assert_eq!(
            (id.host_id.as_str(), id.hostname.as_str()),
            ("custom", "alias")
        );
    }

    #[test]
    fn missing_hostname_names_the_file() {
        let (dir, config) = tree();
        fs::remove_file(dir.path().join("proc/sys/kernel/hostname")).expect("rm");
        let err = Identity::resolve(&config).expect_err("no hostname");
        assert!(err.to_string().contains("sys/kernel/hostname"), "{err}");
    }

    #[test]
    fn phase_is_stable_and_inside_the_interval() {
        let id = Identity {
            host_id: "3d1219c7c4c5404aaa1f6d2a48adfda4".into(),
            hostname: "h".into(),
            labels: BTreeMap::new(),
        };
        let phase = id.phase_ms(10_000);
        assert!(phase < 10_000);
        assert_eq!(phase, id.phase_ms(10_000), "deterministic");
        let other = Identity {
            host_id: "another-host".into(),
            ..id.clone()
        };
        assert_ne!(phase, other.phase_ms(10_000), "different hosts spread out");
    }
}
