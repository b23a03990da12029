//! Every path the agent reads on the host goes through [`HostPaths`].
//!
//! Collectors never spell `/proc` or `/sys` themselves: tests point the three roots at
//! fixture trees, and an agent running in a container points them at the host's
//! filesystems mounted elsewhere (node_exporter's `--path.procfs` idea).

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The roots of the host's `/proc`, `/sys` and `/`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostPaths {
    /// Where the host's procfs is mounted (default `/proc`).
    pub procfs: PathBuf,
    /// Where the host's sysfs is mounted (default `/sys`).
    pub sysfs: PathBuf,
    /// Where the host's root filesystem is visible (default `/`); used for files such as
    /// `/etc/machine-id` and as the prefix for `statvfs` of mount points.
    pub rootfs: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
        }
    }
}

impl HostPaths {
    /// A file under procfs, e.g. `proc("net/dev")`.
    pub fn proc(&self, relative: &str) -> PathBuf {
        self.procfs.join(relative)
    }

    /// A file under sysfs, e.g. `sys("class/hwmon")`.
    pub fn sys(&self, relative: &str) -> PathBuf {
        self.sysfs.join(relative)
    }

    /// A host path such as `/etc/machine-id` or a mount point, re-rooted under `rootfs`.
    /// `Path::join` with an absolute path would *replace* the root, hence the stripping.
    pub fn root(&self, absolute: impl AsRef<Path>) -> PathBuf {
        let absolute = absolute.as_ref();
        let relative = absolute.strip_prefix("/").unwrap_or(absolute);
        if relative.as_os_str().is_empty() {
            self.rootfs.clone()
        } else {
            self.rootfs.join(relative)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_roots_absolute_paths() {
        let paths = HostPaths {
            procfs: "/host/proc".into(),
            sysfs: "/host/sys".into(),
            rootfs: "/host/root".into(),
        };
        assert_eq!(paths.proc("net/dev"), PathBuf::from("/host/proc/net/dev"));
        assert_eq!(
            paths.sys("class/hwmon"),
            PathBuf::from("/host/sys/class/hwmon")
        );
        assert_eq!(
            paths.root("/etc/machine-id"),
            PathBuf::from("/host/root/etc/machine-id")
        );
        assert_eq!(paths.root("/"), PathBuf::from("/host/root"));
        assert_eq!(
            HostPaths::default().root("/var/log"),
            PathBuf::from("/var/log")
        );
    }
}
