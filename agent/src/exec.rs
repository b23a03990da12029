//! The only way the agent runs another program (`smartctl`, and ipmitool or FreeIPMI
//! for the IPMI source's external-tool backends).
//!
//! A collector must never be stalled or swamped by a tool it runs, so every command
//! goes through [`run`]: the binary must be on [`ALLOWED_PROGRAMS`], stdout and stderr
//! are read concurrently on their own threads (a child blocked on a full stderr pipe
//! cannot deadlock us), each stream is capped, and a command that outlives its
//! timeout is killed together with its process group (a shell wrapper's children
//! included). A non-zero exit status is not an error here: tools such as `smartctl`
//! encode findings in it, so callers decode it (see `collectors::smart::exit`).
//! Modelled on ripgrep's `CommandReader`/`CommandError`.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// File names of the programs the agent may run. A configured path must end in one of
/// them, so a typo or a hostile config cannot make the agent run an arbitrary binary.
pub const ALLOWED_PROGRAMS: &[&str] = &[
    "smartctl",
    "ipmitool",
    "ipmi-sensors",
    "ipmimonitoring",
    "ipmi-sel",
    "ipmi-dcmi",
    "bmc-info",
];

/// Where a bare program name is looked up when `PATH` does not have it: agents often
/// run under service managers whose `PATH` lacks the `sbin` directories.
const SBIN_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// How much of stderr is kept for error messages.
const STDERR_CAP: usize = 64 * 1024;

/// How often the exit of a child whose stdout already closed is polled.
const WAIT_POLL: Duration = Duration::from_millis(5);

/// How long we wait for the reader threads after the child was killed. The pipes
/// close when the whole process group dies, so this is only a safety net.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Limits for one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time the command may take, from spawn to exit.
    pub timeout: Duration,
    /// The most stdout bytes accepted; more kills the command.
    pub max_stdout: usize,
}

/// What a finished command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit code (0..=255).
    pub code: i32,
    pub stdout: Vec<u8>,
    /// At most 64 KiB of stderr.
    pub stderr: Vec<u8>,
}

/// Why a command gave no usable output. Each variant names the program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    #[error("{program}: not an allowed program (allowed: {allowed})", allowed = ALLOWED_PROGRAMS.join(", "))]
    NotAllowed { program: PathBuf },
    #[error("{program}: not found (searched PATH and {dirs})", dirs = SBIN_DIRS.join(", "))]
    NotFound { program: PathBuf },
    #[error("{program}: permission denied")]
    PermissionDenied { program: PathBuf },
    #[error("{program}: cannot start: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{program} {args}: no exit within {timeout:?}, killed{}",
        stderr_suffix(stderr)
    )]
    Timeout {
        program: PathBuf,
        args: String,
        timeout: Duration,
        stderr: String,
    },
    #[error("{program} {args}: output larger than {limit} bytes, killed")]
    OutputTooLarge {
        program: PathBuf,
        args: String,
        limit: usize,
    },
    #[error("{program} {args}: killed by signal {signal}{}", stderr_suffix(stderr))]
    Signal {
        program: PathBuf,
        args: String,
        signal: i32,
        stderr: String,
    },
    #[error("{program}: reading its output failed: {source}")]
    Io {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(" (stderr: {trimmed})")
    }
}

/// Finds `program` the way a shell would (a path is taken as is, a bare name is looked
/// up in `PATH` and then the `sbin` directories) and checks it against the allow-list.
pub fn resolve(program: &Path) -> Result<PathBuf, CommandError> {
    let allowed = program
        .file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|name| ALLOWED_PROGRAMS.contains(&name));
    if !allowed {
        return Err(CommandError::NotAllowed {
            program: program.to_owned(),
        });
    }
    if program.components().count() > 1 {
        return if program.is_file() {
            Ok(program.to_owned())
        } else {
            Err(CommandError::NotFound {
                program: program.to_owned(),
            })
        };
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| CommandError::NotFound {
            program: program.to_owned(),
        })
}

/// Runs `program` with `args` (no shell, stdin closed, C locale so output is not
/// translated, UTC so printed times are the raw clock values) within `limits`.
pub fn run<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    limits: Limits,
) -> Result<CommandOutput, CommandError> {
    let resolved = resolve(program)?;
    let shown_args = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let started = Instant::now();
    let mut child = Command::new(&resolved)
        .args(args)
        .env("LC_ALL", "C")
        // ipmitool and FreeIPMI print SEL times in the local zone; in UTC they are
        // the BMC's raw stamps, as the native SEL reader sees them.
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that a timeout kills a wrapper script's children too.
        .process_group(0)
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => CommandError::NotFound {
                program: resolved.clone(),
            },
            std::io::ErrorKind::PermissionDenied => CommandError::PermissionDenied {
                program: resolved.clone(),
            },
            _ => CommandError::Spawn {
                program: resolved.clone(),
                source,
            },
        })?;
    let (out_tx, out_rx) = mpsc::channel();
    let (err_tx, err_rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        let cap = limits.max_stdout;
        spawn_reader("exec-stdout", stdout, cap, false, out_tx)?;
    }
    if let Some(stderr) = child.stderr.take() {
        spawn_reader("exec-stderr", stderr, STDERR_CAP, true, err_tx)?;
    }
    let pid = child.id();
    let fail = |child: &mut std::process::Child, err: CommandError| {
        kill_process_group(pid);
        // Reap it so no zombie is left behind; SIGKILL makes this prompt.
        let _ = child.wait();
        Err(err)
    };
    let timeout_error = |stderr: String| CommandError::Timeout {
        program: resolved.clone(),
        args: shown_args.clone(),
        timeout: limits.timeout,
        stderr,
    };
    let stderr_text = |wait: Duration| -> String {
        match err_rx.recv_timeout(wait) {
            Ok(Ok(read)) => String::from_utf8_lossy(&read.bytes).into_owned(),
            _ => String::new(),
        }
    };

    let stdout = match out_rx.recv_timeout(limits.timeout) {
        Ok(Ok(read)) if read.overflowed => {
            let err = CommandError::OutputTooLarge {
                program: resolved.clone(),
                args: shown_args.clone(),
                limit: limits.max_stdout,
            };
            return fail(&mut child, err);
        }
        Ok(Ok(read)) => read.bytes,
        Ok(Err(source)) => {
            let err = CommandError::Io {
                program: resolved.clone(),
                source,
            };
            return fail(&mut child, err);
        }
        Err(_) => {
            kill_process_group(pid);
            let _ = child.wait();
            return Err(timeout_error(stderr_text(DRAIN_GRACE)));
        }
    };
    // Stdout is closed, so the child is exiting (or closed it early and keeps running).
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= limits.timeout => {
                kill_process_group(pid);
                let _ = child.wait();
                return Err(timeout_error(stderr_text(DRAIN_GRACE)));
            }
            Ok(None) => std::thread::sleep(WAIT_POLL),
            Err(source) => {
                let err = CommandError::Io {
                    program: resolved.clone(),
                    source,
                };
                return fail(&mut child, err);
            }
        }
    };
    let remaining = limits.timeout.saturating_sub(started.elapsed());
    let stderr = match err_rx.recv_timeout(remaining.max(DRAIN_GRACE)) {
        Ok(Ok(read)) => read.bytes,
        _ => Vec::new(),
    };
    match status.code() {
        Some(code) => Ok(CommandOutput {
            code,
            stdout,
            stderr,
        }),
        None => Err(CommandError::Signal {
            program: resolved,
            args: shown_args,
            signal: status.signal().unwrap_or(0),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }),
    }
}

/// What a reader thread collected.
struct Captured {
    bytes: Vec<u8>,
    overflowed: bool,
}

/// Reads `stream` to its end on a thread, keeping at most `cap` bytes. With `drain`,
/// the rest is read and dropped (stderr: the child must not block on it); without, the
/// thread stops at the cap and reports the overflow (stdout: the caller kills).
fn spawn_reader<R: Read + Send + 'static>(
    name: &str,
    mut stream: R,
    cap: usize,
    drain: bool,
    tx: mpsc::Sender<std::io::Result<Captured>>,
) -> Result<(), CommandError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut bytes = Vec::new();
            let mut chunk = [0u8; 8192];
            let result = loop {
                match stream.read(&mut chunk) {
                    Ok(0) => {
                        break Ok(Captured {
                            bytes,
                            overflowed: false,
                        })
                    }
                    Ok(n) => {
                        let room = cap.saturating_sub(bytes.len());
                        if n > room {
                            bytes.extend_from_slice(&chunk[..room]);
                            if !drain {
                                break Ok(Captured {
                                    bytes,
                                    overflowed: true,
                                });
                            }
                        } else {
                            bytes.extend_from_slice(&chunk[..n]);
                        }
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(err) => break Err(err),
                }
            };
            // The receiver is gone when the command already timed out; nothing to tell.
            let _ = tx.send(result);
        })
        .map(drop)
        .map_err(|source| CommandError::Spawn {
            program: PathBuf::from(name),
            source,
        })
}

/// Sends SIGKILL to the child's whole process group (its pid, since it was spawned
/// with `process_group(0)`).
#[allow(unsafe_code)]
fn kill_process_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours. The group id
    // is our own child's pid, which stays reserved until we reap it, so the signal
    // cannot reach an unrelated process group.
    let rc = unsafe { libc::kill(-pgid, libc::SIGKILL) };
    if rc != 0 {
        tracing::debug!(pid, error = %std::io::Error::last_os_error(), "killing the process group failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_outside_the_allow_list_are_refused() {
        let err = run(
            Path::new("/bin/sh"),
            &["-c", "true"],
            Limits {
                timeout: Duration::from_secs(1),
                max_stdout: 10,
            },
        )
        .expect_err("sh is not allowed");
        assert!(matches!(err, CommandError::NotAllowed { .. }), "{err}");
        assert!(err.to_string().contains("/bin/sh"), "{err}");
    }

    #[test]
    fn a_missing_allowed_program_is_not_found() {
        let err = resolve(Path::new("/nonexistent/dir/smartctl")).expect_err("missing");
        assert!(matches!(err, CommandError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/dir/smartctl"));
    }
}
