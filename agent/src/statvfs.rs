//! `statvfs(2)` for filesystem sizes, which `std` does not expose.
//!
//! This is the agent's only `unsafe` code, kept to one small function.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Sizes of one filesystem, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    pub size_bytes: u64,
    pub free_bytes: u64,
    /// Free bytes an unprivileged user may use (excludes the root reserve).
    pub avail_bytes: u64,
    pub files: u64,
    pub files_free: u64,
}

impl FsStats {
    /// `1 - avail / (size - free + avail)`: what `df` prints as Use%, so the numbers agree
    /// with what an operator sees on the box (the root reserve counts as used).
    pub fn used_ratio(&self) -> Option<f64> {
        let denominator = self
            .size_bytes
            .checked_sub(self.free_bytes)?
            .checked_add(self.avail_bytes)?;
        if denominator == 0 {
            return None;
        }
        Some(1.0 - self.avail_bytes as f64 / denominator as f64)
    }
}

/// Calls `statvfs` on `path`.
#[allow(unsafe_code)]
pub fn statvfs(path: &Path) -> io::Result<FsStats> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut buf = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call, and
    // `buf` points to writable memory of the right size and alignment for the struct.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised every field of `buf`.
    let st = unsafe { buf.assume_init() };
    // The field types differ between libc targets (u32 on some 32-bit ones), hence the
    // widening casts; `f_frsize` is the unit of the block counts (not `f_bsize`).
    #[allow(clippy::unnecessary_cast)]
    let (frsize, blocks, bfree, bavail, files, ffree) = (
        st.f_frsize as u64,
        st.f_blocks as u64,
        st.f_bfree as u64,
        st.f_bavail as u64,
        st.f_files as u64,
        st.f_ffree as u64,
    );
    Ok(FsStats {
        size_bytes: blocks.saturating_mul(frsize),
        free_bytes: bfree.saturating_mul(frsize),
        avail_bytes: bavail.saturating_mul(frsize),
        files,
        files_free: ffree,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_the_temp_dir_are_plausible() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stats = statvfs(dir.path()).expect("statvfs on a directory that exists");
        assert!(stats.size_bytes > 0);
        assert!(stats.avail_bytes <= stats.size_bytes);
        assert!(stats.free_bytes <= stats.size_bytes);
        let err = statvfs(&dir.path().join("missing")).expect_err("missing path");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn used_ratio_matches_df() {
        let stats = FsStats {
            size_bytes: 100,
            free_bytes: 30,
            avail_bytes: 25,
            files: 0,
            files_free: 0,
        };
        // used = 70, usable = 70 + 25.
        let ratio = stats.used_ratio().expect("non-zero");
        assert!((ratio - 70.0 / 95.0).abs() < 1e-12, "{ratio}");
        let empty = FsStats {
            size_bytes: 0,
            free_bytes: 0,
            avail_bytes: 0,
            ..stats
        };
        assert_eq!(empty.used_ratio(), None);
    }
}
