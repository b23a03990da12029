//! Helpers shared by the integration tests: fixture paths, configs and the binary.

use harbinger_agent::AgentConfig;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The in-repo fixture host tree (`tests/fixtures/host-a`).
pub fn host_a() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/host-a")
}

/// A config reading the `host-a` fixture tree, keeping state in `state_dir`.
pub fn host_a_config(state_dir: &Path) -> AgentConfig {
    let root = host_a();
    let mut config = AgentConfig::default();
    config.paths.procfs = root.join("proc");
    config.paths.sysfs = root.join("sys");
    config.paths.rootfs = root.join("root");
    config.state_dir = state_dir.to_owned();
    // host-a has no disks: the real smartctl of the test machine must not leak in.
    config.smart.enabled = false;
    // host-a is a fixture for the system source; each hardware source has its own
    // suite, and here it would only add `source_unavailable` noise.
    config.edac.enabled = false;
    config.hwmon.enabled = false;
    config.kernel.enabled = false;
    config.reboot.enabled = false;
    config.inventory.enabled = false;
    config.ipmi.enabled = false;
    config
}

/// The hardware sources host-a does not have, switched off for the binary's config.
pub const HARDWARE_OFF: &str = "[edac]\nenabled = false\n[hwmon]\nenabled = false\n[kernel]\nenabled = false\n[reboot]\nenabled = false\n[inventory]\nenabled = false\n[ipmi]\nenabled = false\n";

/// host-a has no disks: the real smartctl of the test machine must not leak in.
pub const SMART_OFF: &str = "[smart]\nenabled = false\n";

/// The same as TOML, for the binary.
pub fn host_a_toml(state_dir: &Path, extra: &str) -> String {
    let root = host_a();
    format!(
        "state_dir = {state:?}\n{extra}\n[paths]\nprocfs = {proc:?}\nsysfs = {sys:?}\nrootfs = {rootfs:?}\n{SMART_OFF}{HARDWARE_OFF}",
        state = state_dir.display().to_string(),
        proc = root.join("proc").display().to_string(),
        sys = root.join("sys").display().to_string(),
        rootfs = root.join("root").display().to_string(),
    )
}

/// The agent binary with a clean environment for its own variables.
pub fn agent() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_harbinger-agent"));
    for var in [
        "HARBINGER_AGENT_COLLECTOR_URL",
        "HARBINGER_AGENT_INTERVAL",
        "HARBINGER_AGENT_STATE_DIR",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command
}

/// Runs the command and returns its output, failing the test if it cannot start.
pub fn output(command: &mut Command) -> Output {
    command.output().expect("the agent binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
