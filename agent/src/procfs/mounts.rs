//! `/proc/self/mounts`: mounted filesystems, and which of them are worth a `statvfs`.

use std::borrow::Cow;

/// One mount table entry, with the kernel's octal escapes (`\040` for a space) decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount<'a> {
    pub device: Cow<'a, str>,
    pub mountpoint: Cow<'a, str>,
    pub fstype: &'a str,
}

/// Filesystem types that hold no user data on a disk of this host, so their sizes mean
/// nothing for "is this server about to fill up" (node_exporter's default exclusions,
/// plus tmpfs which is RAM).
///
/// `overlay` is skipped too: it is a container's root, whose size and free space are
/// those of the backing filesystem, which is reported under its own mount point.
///
/// Network filesystems are skipped because `statvfs` on a hung NFS or CIFS server blocks
/// the calling thread for minutes, and the agent's single thread must keep its cadence;
/// monitoring them belongs to a source with its own thread and timeout.
pub fn is_ignored_fstype(fstype: &str) -> bool {
    const IGNORED: &[&str] = &[
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fusectl",
        "hugetlbfs",
        "iso9660",
        "mqueue",
        "nsfs",
        "overlay",
        "proc",
        "procfs",
        "pstore",
        "ramfs",
        "rpc_pipefs",
        "securityfs",
        "selinuxfs",
        "squashfs",
        "sysfs",
        "tracefs",
        "tmpfs",
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ceph",
        "9p",
        "afs",
        "glusterfs",
        "fuse.sshfs",
        "fuse.gvfsd-fuse",
        "fuse.lxcfs",
        "fuse.portal",
    ];
    IGNORED.contains(&fstype)
}

/// Entries of a mounts file; lines with fewer than three fields are skipped.
pub fn parse_mounts(text: &str) -> impl Iterator<Item = Mount<'_>> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        match (fields.next(), fields.next(), fields.next()) {
            (Some(device), Some(mountpoint), Some(fstype)) => Some(Mount {
                device: unescape(device),
                mountpoint: unescape(mountpoint),
                fstype,
            }),
            _ => {
                if !line.trim().is_empty() {
                    tracing::debug!(line, "skipping malformed mounts line");
                }
                None
            }
        }
    })
}

/// Decodes the kernel's `\ooo` octal escapes (space, tab, newline, backslash), without
/// allocating in the common case of no escape.
fn unescape(field: &str) -> Cow<'_, str> {
    if !field.contains('\\') {
        return Cow::Borrowed(field);
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unescapes() {
        let text = "/dev/vda / ext4 rw,relatime 0 0\n\
proc /proc proc rw 0 0\n\
/dev/sdb1 /mnt/my\\040disk xfs rw 0 0\n\
broken\n";
        let mounts: Vec<_> = parse_mounts(text).collect();
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].device, "/dev/vda");
        assert_eq!(mounts[0].mountpoint, "/");
        assert_eq!(mounts[0].fstype, "ext4");
        assert_eq!(mounts[2].mountpoint, "/mnt/my disk");
        assert!(matches!(mounts[0].mountpoint, Cow::Borrowed(_)));
    }

    #[test]
    fn unescape_leaves_bad_escapes_alone() {
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("a\\9xyz"), "a\\9xyz");
        assert_eq!(unescape("end\\04"), "end\\04");
    }

    #[test]
    fn pseudo_and_network_filesystems_are_ignored() {
        for fstype in ["proc", "tmpfs", "cgroup2", "overlay", "nfs4", "squashfs"] {
            assert!(is_ignored_fstype(fstype), "{fstype}");
        }
        for fstype in ["ext4", "xfs", "btrfs", "zfs", "vfat"] {
            assert!(!is_ignored_fstype(fstype), "{fstype}");
        }
    }
}
