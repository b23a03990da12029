//! `harbinger-agent check`: which sources work on this host.

use crate::common::{agent, host_a_toml, output, stderr, stdout};

#[test]
fn system_source_is_available_on_this_machine() {
    // Default config: the real /proc of the machine running the tests.
    let out = output(agent().arg("check"));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("config: ok"), "{text}");
    assert!(
        text.lines().any(|l| l == "source system: available"),
        "{text}"
    );
    let reports = harbinger_agent::check(&harbinger_agent::AgentConfig::default());
    assert!(reports
        .iter()
        .any(|r| r.name == "system" && r.available && r.reason.is_none()));
}

#[test]
fn check_explains_an_unavailable_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent.toml");
    let toml = host_a_toml(dir.path(), "").replace(
        &crate::common::host_a().join("proc").display().to_string(),
        &dir.path().join("no-proc").display().to_string(),
    );
    std::fs::write(&config, toml).expect("write");
    // The hostname lives under procfs too, so name the host explicitly.
    std::fs::write(
        &config,
        format!(
            "hostname = \"h\"\n{}",
            std::fs::read_to_string(&config).expect("read")
        ),
    )
    .expect("write");
    let out = output(agent().arg("check").arg("--config").arg(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("source system:"))
        .expect("a line for the system source");
    assert!(
        line.starts_with("source system: unavailable: cannot read"),
        "{line}"
    );
    assert!(line.contains("no-proc/stat"), "{line}");
}
