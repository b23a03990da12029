//! The external-tool backends: one BMC polled by running `ipmitool` or FreeIPMI through
//! `crate::exec` (allow-list, timeout, output cap) and reading their text with `text/`,
//! for BMCs the native RMCP+ session cannot talk to (cipher suite 17 only, odd
//! firmware) or hosts that already standardise on those tools, as telegraf's
//! `ipmi_sensor` and the Linuxfabrik checks do. A poll yields the same [`PollResult`]
//! as the native poller, so the series and events are the same.
//!
//! Per poll, ipmitool: `mc info` (liveness, inventory), `sensor` (values, status,
//! thresholds and discrete state bits) read against an `sdr dump` kept for an hour
//! (`-S`: no SDR walk per poll; its records give types and reading types through the
//! native record parser), `sel info` and, when its stamps moved, `sel elist`, and
//! `dcmi power reading`. FreeIPMI: `bmc-info --get-device-id`, `ipmi-sensors`,
//! `ipmi-sel --info`/`ipmi-sel`, `ipmi-dcmi --get-system-power-statistics`, with its
//! SDR cache in our work directory.
//!
//! Secrets stay out of argument lists (visible in `ps`): the password is written to a
//! private work directory (mode 0700, file 0600, removed when the poller is dropped)
//! and passed as `ipmitool -f` or a FreeIPMI `--config-file`.

use super::bmc::PollResult;
use super::commands::SelStamp;
use super::config::{Backend, IpmiConfig, LanTarget, PrivilegeName};
use super::sdr::SensorDef;
use super::sel::BACKFILL;
use super::text::{self, convert, TextError, TextSelEntry};
use super::BmcPoll;
use crate::collectors::StateDir;
use crate::exec::{self, CommandError, Limits};
use harbinger_shared::{ComponentId, ComponentKind, InventoryItem};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The most output one command may print: a large BMC's `sel elist` is a few 100 KiB.
const MAX_OUTPUT: usize = 4 * 1024 * 1024;
/// How long an `sdr dump` is trusted: sensors added by hot-plug show within an hour.
const SDR_REFRESH: Duration = Duration::from_secs(3600);

/// Why a poll through a tool failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("{program} {command}: exit status {code}{}", stderr_suffix(stderr))]
    Failed {
        program: &'static str,
        command: String,
        code: i32,
        stderr: String,
    },
    #[error("{program} {command}: {source}")]
    Parse {
        program: &'static str,
        command: String,
        #[source]
        source: TextError,
    },
    #[error("cannot prepare the tool work directory {path}: {source}")]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_default();
    if line.is_empty() {
        String::new()
    } else {
        format!(" ({line})")
    }
}

/// Where the BMC is, as the tools need to know it.
#[derive(Debug, Clone)]
pub enum ToolTarget {
    Local { device: PathBuf },
    Lan(LanTarget),
}

/// The SEL position of a text backend, persisted like the native cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSelCursor {
    /// `sel info`'s count and change stamps when the SEL was last listed.
    pub entries: Option<u32>,
    pub stamp: String,
    /// The last entry listed: id, fingerprint and timestamp.
    pub last_id: Option<u32>,
    pub last_fingerprint: Option<String>,
    pub last_ts: Option<i64>,
}

/// The entries of `listing` that are new since `cursor`, oldest first: those after
/// the last entry read; if that entry is gone (cleared, wrapped, ids reused), those not
/// older than it and those without a comparable clock (pre-init), as `sel::read_new`
/// does; on first contact, the most recent [`BACKFILL`].
pub fn select_new<'a>(
    listing: &'a [TextSelEntry],
    cursor: Option<&TextSelCursor>,
) -> Vec<&'a TextSelEntry> {
    let Some(cursor) = cursor else {
        return listing[listing.len().saturating_sub(BACKFILL)..]
            .iter()
            .collect();
    };
    let (Some(id), Some(fingerprint)) = (cursor.last_id, cursor.last_fingerprint.as_ref()) else {
        // The SEL was empty when we last looked.
        return listing.iter().collect();
    };
    if let Some(at) = listing
        .iter()
        .position(|e| e.id == id && e.fingerprint() == *fingerprint)
    {
        return listing[at + 1..].iter().collect();
    }
    listing
        .iter()
        .filter(|e| e.fingerprint() != *fingerprint)
        .filter(|e| match (e.ts, cursor.last_ts) {
            (Some(ts), Some(last)) => ts >= last,
            _ => true,
        })
        .collect()
}

/// A private directory for the password file and the tools' SDR caches.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create(bmc: &str) -> std::io::Result<Self> {
        let safe: String = bmc
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        // Unique per poller in this process, so two pollers never share or remove each
        // other's directory.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("harbinger-ipmi-{}-{n}-{safe}", std::process::id()));
        if path.exists() {
            // Left by an earlier process with our pid: nothing in it is ours to trust.
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Self { path })
    }

    fn write_private(&self, name: &str, contents: &str) -> std::io::Result<PathBuf> {
        use std::io::Write as _;
        let path = self.path.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(contents.as_bytes())?;
        Ok(path)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            tracing::debug!(path = %self.path.display(), %err, "cannot remove the IPMI tool work directory");
        }
    }
}

/// The SDR as `ipmitool sdr dump` wrote it.
struct SdrDump {
    file: PathBuf,
    read_at: Instant,
    defs: Vec<SensorDef>,
}

/// The programs a backend runs, for `check` to look for.
pub fn programs(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Native => &[],
        Backend::Ipmitool => &["ipmitool"],
        Backend::Freeipmi => &["bmc-info", "ipmi-sensors", "ipmi-sel", "ipmi-dcmi"],
    }
}

/// The path to run for `program`: in `tool_dir` when configured, else looked up.
pub fn program_path(tool_dir: Option<&Path>, program: &str) -> PathBuf {
    tool_dir.map_or_else(|| PathBuf::from(program), |dir| dir.join(program))
}

/// One BMC polled through an external tool.
pub struct ToolPoller {
    name: String,
    backend: Backend,
    target: ToolTarget,
    tool_dir: Option<PathBuf>,
    limits: Limits,
    timeout: Duration,
    retries: u32,
    dcmi: bool,
    work: Option<WorkDir>,
    secret: Option<PathBuf>,
    sdr: Option<SdrDump>,
    cursor: Option<TextSelCursor>,
    state: StateDir,
}

/// The state file holding a text backend's SEL cursor (not the native one's: the two
/// cursors mean different things).
pub fn cursor_file(bmc: &str, backend: Backend) -> String {
    let safe: String = bmc
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("ipmi-sel-{safe}-{}.json", backend.name())
}

impl ToolPoller {
    pub fn new(name: String, target: ToolTarget, config: &IpmiConfig, state: StateDir) -> Self {
        let cursor = state.load(&cursor_file(&name, config.backend));
        Self {
            name,
            backend: config.backend,
            target,
            tool_dir: config.tool_dir.clone(),
            limits: Limits {
                timeout: config.command_timeout,
                max_stdout: MAX_OUTPUT,
            },
            timeout: config.timeout,
            retries: config.retries,
            dcmi: config.dcmi,
            work: None,
            secret: None,
            sdr: None,
            cursor,
            state,
        }
    }

    fn work_dir(&mut self) -> Result<&WorkDir, ToolError> {
        if self.work.is_none() {
            let work = WorkDir::create(&self.name).map_err(|source| ToolError::WorkDir {
                path: std::env::temp_dir(),
                source,
            })?;
            if let ToolTarget::Lan(lan) = &self.target {
                let (file, contents) = match self.backend {
                    Backend::Freeipmi => ("freeipmi.conf", format!("password {}\n", lan.password)),
                    _ => ("password", lan.password.clone()),
                };
                let written =
                    work.write_private(file, &contents)
                        .map_err(|source| ToolError::WorkDir {
                            path: work.path.clone(),
                            source,
                        })?;
                self.secret = Some(written);
            }
            self.work = Some(work);
        }
        self.work.as_ref().ok_or_else(|| ToolError::WorkDir {
            path: std::env::temp_dir(),
            source: std::io::Error::other("work directory vanished"),
        })
    }

    /// The connection options every command of this backend needs.
    fn connection(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |a: &str| args.push(a.into());
        let secs = self.timeout.as_secs_f64().ceil().max(1.0) as u64;
        match (&self.target, self.backend) {
            (ToolTarget::Local { device }, Backend::Ipmitool) => {
                push("-I");
                push("open");
                // `/dev/ipmi0` → `-d 0`.
                let digits: String = device
                    .to_string_lossy()
                    .chars()
                    .rev()
                    .take_while(char::is_ascii_digit)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                if !digits.is_empty() {
                    push("-d");
                    push(&digits);
                }
            }
            (ToolTarget::Lan(lan), Backend::Ipmitool) => {
                for a in [
                    "-I",
                    "lanplus",
                    "-H",
                    &lan.host,
                    "-p",
                    &lan.port.to_string(),
                    "-U",
                    &lan.username,
                ] {
                    push(a);
                }
                push("-L");
                push(match lan.privilege {
                    PrivilegeName::User => "USER",
                    PrivilegeName::Operator => "OPERATOR",
                    PrivilegeName::Administrator => "ADMINISTRATOR",
                });
                push("-C");
                push(&lan.cipher_suite.unwrap_or(3).to_string());
                push("-N");
                push(&secs.to_string());
                push("-R");
                push(&self.retries.to_string());
                if let Some(secret) = &self.secret {
                    args.push("-f".into());
                    args.push(secret.clone().into_os_string());
                }
            }
            (ToolTarget::Local { device }, _) => {
                push("--driver-type=OPENIPMI");
                args.push(format!("--driver-device={}", device.display()).into());
            }
            (ToolTarget::Lan(lan), _) => {
                let host = if lan.port == 623 {
                    lan.host.clone()
                } else {
                    lan.name()
                };
                for a in ["--driver-type=LAN_2_0", "-h", &host, "-u", &lan.username] {
                    push(a);
                }
                push("-l");
                push(match lan.privilege {
                    PrivilegeName::User => "USER",
                    PrivilegeName::Operator => "OPERATOR",
                    PrivilegeName::Administrator => "ADMIN",
                });
                push("-I");
                push(&lan.cipher_suite.unwrap_or(3).to_string());
                let ms = self.timeout.as_millis().max(1);
                push(&format!("--retransmission-timeout={ms}"));
                push(&format!(
                    "--session-timeout={}",
                    ms * u128::from(self.retries + 1)
                ));
                if !lan.workarounds.is_empty() {
                    push("-W");
                    push(&lan.workarounds.join(","));
                }
                if let Some(secret) = &self.secret {
                    let mut a = OsString::from("--config-file=");
                    a.push(secret);
                    args.push(a);
                }
            }
        }
        args
    }

    /// Runs one command; stdout as text. A non-zero exit with nothing on stdout fails;
    /// with output, the output is read (ipmitool exits 1 when one sensor of many fails).
    fn run(&mut self, program: &'static str, command: &[OsString]) -> Result<String, ToolError> {
        self.work_dir()?;
        let mut args = self.connection();
        args.extend_from_slice(command);
        let path = program_path(self.tool_dir.as_deref(), program);
        let out = exec::run(&path, &args, self.limits)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let shown = || {
            command
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        if out.code != 0 && stdout.trim().is_empty() {
            return Err(ToolError::Failed {
                program,
                command: shown(),
                code: out.code,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        if out.code != 0 {
            tracing::debug!(bmc = %self.name, program, command = %shown(), code = out.code, "tool exited non-zero; reading its output");
        }
        Ok(stdout)
    }

    fn parse_error(
        program: &'static str,
        command: &'static str,
    ) -> impl FnOnce(TextError) -> ToolError {
        move |source| ToolError::Parse {
            program,
            command: command.to_owned(),
            source,
        }
    }

    fn poll_ipmitool(&mut self, now_ms: i64, result: &mut PollResult) -> Result<(), ToolError> {
        const P: &str = "ipmitool";
        let info = self.run(P, &args(&["mc", "info"]))?;
        result.inventory = Some(self.inventory(&info));

        if self
            .sdr
            .as_ref()
            .is_none_or(|d| d.read_at.elapsed() >= SDR_REFRESH)
        {
            self.refresh_sdr_dump();
        }
        let mut sensor_cmd = Vec::new();
        if let Some(dump) = &self.sdr {
            sensor_cmd.push(OsString::from("-S"));
            sensor_cmd.push(dump.file.clone().into_os_string());
        }
        sensor_cmd.push("sensor".into());
        let listing = text::ipmitool_sensor::parse(&self.run(P, &sensor_cmd)?)
            .map_err(Self::parse_error(P, "sensor"))?;
        log_skipped(&self.name, "ipmitool sensor", &listing.skipped);
        let defs = self
            .sdr
            .as_ref()
            .map(|d| d.defs.as_slice())
            .unwrap_or_default();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for s in &listing.sensors {
            // `sensor` and the dump list the SDR in the same order, so the n-th sensor
            // of a name (duplicates happen) is the n-th record of that name.
            let n = seen.entry(s.name.as_str()).or_default();
            let meta = defs.iter().filter(|d| d.name == s.name).nth(*n);
            *n += 1;
            result.readings.push(convert::reading(s, meta));
        }

        let mut sel_cmd = sensor_cmd;
        sel_cmd.pop();
        let info = self.run(P, &args(&["sel", "info"]))?;
        let mut list_cmd = sel_cmd;
        list_cmd.extend(args(&["sel", "elist"]));
        self.read_sel(now_ms, &info, P, &list_cmd, result)?;

        if self.dcmi {
            let out = self.run(P, &args(&["dcmi", "power", "reading"]));
            self.read_dcmi(out, result);
        }
        Ok(())
    }

    fn refresh_sdr_dump(&mut self) {
        let file = match self.work_dir() {
            Ok(work) => work.path.join("sdr.dump"),
            Err(err) => {
                tracing::debug!(bmc = %self.name, error = %err, "no SDR dump");
                return;
            }
        };
        let _ = std::fs::remove_file(&file);
        let mut cmd = args(&["sdr", "dump"]);
        cmd.push(file.clone().into_os_string());
        let dumped = self.run("ipmitool", &cmd).and_then(|_| {
            std::fs::read(&file).map_err(|source| ToolError::WorkDir {
                path: file.clone(),
                source,
            })
        });
        match dumped {
            Ok(bytes) => {
                let defs = text::ipmitool_sdr::parse_dump(&bytes);
                tracing::info!(bmc = %self.name, sensors = defs.len(), "SDR dumped by ipmitool");
                self.sdr = Some(SdrDump {
                    file,
                    read_at: Instant::now(),
                    defs,
                });
            }
            // Without the dump the listing is still read; types then follow from units.
            Err(err) => {
                tracing::warn!(bmc = %self.name, error = %err, "ipmitool sdr dump failed; sensor types will be inferred");
                self.sdr = None;
            }
        }
    }

    fn poll_freeipmi(&mut self, now_ms: i64, result: &mut PollResult) -> Result<(), ToolError> {
        let info = self.run("bmc-info", &args(&["--get-device-id"]))?;
        result.inventory = Some(self.inventory(&info));
        let cache = self.work_dir()?.path.clone();
        let mut cache_args = args(&["--quiet-cache", "--sdr-cache-recreate"]);
        let mut dir = OsString::from("--sdr-cache-directory=");
        dir.push(&cache);
        cache_args.push(dir);

        let mut cmd = args(&[
            "--output-sensor-state",
            "--output-sensor-thresholds",
            "--comma-separated-output",
            "--non-abbreviated-units",
        ]);
        cmd.extend(cache_args.iter().cloned());
        let listing = text::freeipmi::parse_sensors(&self.run("ipmi-sensors", &cmd)?)
            .map_err(Self::parse_error("ipmi-sensors", "--output-sensor-state"))?;
        log_skipped(&self.name, "ipmi-sensors", &listing.skipped);
        for s in &listing.sensors {
            result.readings.push(convert::reading(s, None));
        }

        let info = self.run("ipmi-sel", &args(&["--info"]))?;
        let mut list_cmd = args(&[
            "-v",
            "--output-event-state",
            "--comma-separated-output",
            "--non-abbreviated-units",
        ]);
        list_cmd.extend(cache_args);
        self.read_sel(now_ms, &info, "ipmi-sel", &list_cmd, result)?;

        if self.dcmi {
            let out = self.run("ipmi-dcmi", &args(&["--get-system-power-statistics"]));
            self.read_dcmi(out, result);
        }
        Ok(())
    }

    fn inventory(&self, text: &str) -> InventoryItem {
        let mut attrs = text::info::device_attrs(text);
        attrs.insert("bmc".to_owned(), self.name.clone());
        InventoryItem {
            component: ComponentId::new(ComponentKind::Bmc, self.name.clone()),
            attrs,
        }
    }

    fn read_sel(
        &mut self,
        now_ms: i64,
        info_text: &str,
        program: &'static str,
        list_cmd: &[OsString],
        result: &mut PollResult,
    ) -> Result<(), ToolError> {
        let info = text::info::sel_info(info_text);
        if let Some(i) = &info {
            result.sel = Some(SelStamp {
                entries: u16::try_from(i.entries.unwrap_or(0)).unwrap_or(u16::MAX),
                free_bytes: u16::try_from(i.free_bytes.unwrap_or(0)).unwrap_or(u16::MAX),
                last_add: 0,
                last_erase: 0,
                overflow: false,
            });
        }
        let unchanged = match (&self.cursor, &info) {
            (Some(c), Some(i)) => {
                c.entries == i.entries && c.stamp == i.stamp && !i.stamp.is_empty()
            }
            _ => false,
        };
        if unchanged {
            return Ok(());
        }
        let out = self.run(program, list_cmd)?;
        let listing = match program {
            "ipmitool" => text::ipmitool_sel::parse(&out),
            _ => text::freeipmi::parse_sel(&out),
        }
        .map_err(Self::parse_error(program, "SEL listing"))?;
        log_skipped(&self.name, program, &listing.skipped);
        for entry in select_new(&listing.entries, self.cursor.as_ref()) {
            result
                .events
                .push(convert::sel_event(entry, &self.name, now_ms));
        }
        let last = listing.entries.last();
        let next = TextSelCursor {
            entries: info.as_ref().and_then(|i| i.entries),
            stamp: info.map(|i| i.stamp).unwrap_or_default(),
            last_id: last.map(|e| e.id),
            last_fingerprint: last.map(TextSelEntry::fingerprint),
            last_ts: last.and_then(|e| e.ts),
        };
        if self.cursor.as_ref() != Some(&next) {
            if let Err(err) = self
                .state
                .store(&cursor_file(&self.name, self.backend), &next)
            {
                // The events are still sent; a restart may repeat them, never lose them.
                tracing::warn!(bmc = %self.name, error = %err, "cannot persist the SEL cursor");
            }
            self.cursor = Some(next);
        }
        Ok(())
    }

    /// A BMC without DCMI (or without the privilege for it) says so once; it is then
    /// not asked again until the agent restarts, and the poll does not fail for it. A
    /// command that could not run or timed out says nothing about DCMI: asked again.
    fn read_dcmi(&mut self, out: Result<String, ToolError>, result: &mut PollResult) {
        let power = out.and_then(|text| {
            text::dcmi::parse(&text).map_err(Self::parse_error("dcmi", "power reading"))
        });
        match power {
            Ok(power) => {
                if power.active == Some(false) {
                    tracing::debug!(bmc = %self.name, "DCMI says power measurement is not active");
                }
                result.dcmi_watts = Some(power.current);
            }
            Err(err @ ToolError::Command(_)) => {
                tracing::debug!(bmc = %self.name, error = %err, "DCMI power reading not read this time");
            }
            Err(err) => {
                tracing::info!(bmc = %self.name, error = %err, "no DCMI power reading; not asking again");
                self.dcmi = false;
            }
        }
    }
}

fn args(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

fn log_skipped(bmc: &str, what: &str, skipped: &text::Skipped) {
    if skipped.unreadable() > 0 {
        tracing::debug!(bmc, what, ?skipped, "lines without a reading skipped");
    }
}

impl BmcPoll for ToolPoller {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll(&mut self, now_ms: i64) -> PollResult {
        let started = Instant::now();
        let mut result = PollResult::empty(&self.name);
        let outcome = match self.backend {
            Backend::Freeipmi => self.poll_freeipmi(now_ms, &mut result),
            _ => self.poll_ipmitool(now_ms, &mut result),
        };
        if let Err(err) = outcome {
            tracing::debug!(bmc = %self.name, error = %err, "IPMI tool poll failed");
            result.error = Some(err.to_string());
        }
        result.duration = started.elapsed();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u32, ts: Option<i64>, description: &str) -> TextSelEntry {
        TextSelEntry {
            id,
            ts,
            sensor: "PS1 Status".into(),
            sensor_type: Some(0x08),
            type_text: "Power Supply".into(),
            description: description.into(),
            asserted: Some(true),
            state: None,
            reading: None,
            threshold: None,
            oem: None,
        }
    }

    fn cursor_at(e: &TextSelEntry) -> TextSelCursor {
        TextSelCursor {
            entries: None,
            stamp: String::new(),
            last_id: Some(e.id),
            last_fingerprint: Some(e.fingerprint()),
            last_ts: e.ts,
        }
    }

    #[test]
    fn only_entries_after_the_cursor_are_new() {
        let sel: Vec<_> = (1..=5)
            .map(|i| entry(i, Some(1_700_000_000 + i64::from(i)), "Failure detected"))
            .collect();
        assert_eq!(
            select_new(&sel, None).len(),
            5,
            "first contact: the backlog"
        );
        assert_eq!(
            select_new(&sel, Some(&cursor_at(&sel[2]))),
            sel[3..].iter().collect::<Vec<_>>()
        );
        assert!(select_new(&sel, Some(&cursor_at(&sel[4]))).is_empty());
        let empty_before = TextSelCursor::default();
        assert_eq!(
            select_new(&sel, Some(&empty_before)).len(),
            5,
            "the SEL was empty"
        );
        let many: Vec<_> = (0..600)
            .map(|i| entry(i, Some(1_700_000_000), "x"))
            .collect();
        assert_eq!(select_new(&many, None).len(), BACKFILL);
    }

    #[test]
    fn a_cleared_sel_reusing_ids_is_read_by_time() {
        let old = entry(7, Some(1_700_000_100), "Failure detected");
        // Cleared; ids start at 1 again; the clear itself and a new failure follow.
        let sel = vec![
            entry(1, Some(1_700_000_200), "Log Area Reset/Cleared"),
            entry(2, Some(1_700_000_300), "Failure detected"),
        ];
        assert_eq!(
            select_new(&sel, Some(&cursor_at(&old))),
            sel.iter().collect::<Vec<_>>()
        );
        // Wrapped: the oldest entries were overwritten, ours among them.
        let wrapped = vec![
            entry(3, Some(1_700_000_050), "older"),
            entry(9, Some(1_700_000_150), "newer"),
        ];
        assert_eq!(
            select_new(&wrapped, Some(&cursor_at(&old))),
            vec![&wrapped[1]]
        );
        // An entry with the same id but other contents is not our anchor.
        let reused = vec![entry(7, Some(1_700_000_400), "Presence detected")];
        assert_eq!(
            select_new(&reused, Some(&cursor_at(&old))),
            vec![&reused[0]]
        );
    }

    #[test]
    fn secrets_stay_out_of_the_argument_list() {
        let lan = LanTarget {
            host: "127.0.0.1".into(),
            port: 9623,
            username: "monitor".into(),
            password: "pw-secret".into(),
            privilege: PrivilegeName::User,
            cipher_suite: Some(17),
            workarounds: vec!["opensesspriv".into()],
        };
        for backend in [Backend::Ipmitool, Backend::Freeipmi] {
            let config = IpmiConfig {
                backend,
                ..IpmiConfig::default()
            };
            let mut p = ToolPoller::new(
                "bmc".into(),
                ToolTarget::Lan(lan.clone()),
                &config,
                StateDir::none(),
            );
            let work = p.work_dir().expect("work dir").path.clone();
            let args: Vec<String> = p
                .connection()
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert!(!args.iter().any(|a| a.contains("pw-secret")), "{args:?}");
            assert!(
                args.iter().any(|a| a == "17"),
                "cipher suite passed: {args:?}"
            );
            let secret = p.secret.clone().expect("secret file");
            let meta = std::fs::metadata(&secret).expect("written");
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            assert!(std::fs::read_to_string(&secret)
                .expect("read")
                .contains("pw-secret"));
            drop(p);
            assert!(!work.exists(), "the work directory goes with the poller");
        }
        let local = IpmiConfig {
            backend: Backend::Ipmitool,
            ..IpmiConfig::default()
        };
        let p = ToolPoller::new(
            "local".into(),
            ToolTarget::Local {
                device: "/dev/ipmi1".into(),
            },
            &local,
            StateDir::none(),
        );
        let args: Vec<String> = p
            .connection()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, ["-I", "open", "-d", "1"]);
    }
}
