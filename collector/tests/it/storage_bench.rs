//! The storage benchmark binary, end to end at a small scale (`--smoke`), so that the
//! commands recorded in BENCHMARKS.md keep working: simulated fleet data through the
//! codec comparison and through append, compaction and reads on a real SQLite store.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_harbinger-storage-bench"))
        .args(args)
        .output()
        .expect("run harbinger-storage-bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The number before `unit` on the line starting with `prefix`.
fn figure(text: &str, prefix: &str, unit: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{text}"));
    let before = line
        .split(unit)
        .next()
        .expect("split yields at least one part");
    before
        .split_whitespace()
        .last()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number before {unit:?} in {line:?}"))
}

#[test]
fn codec_comparison_runs_and_the_stored_choice_is_the_smallest() {
    let out = run(&["--smoke", "codecs"]);
    let row = |name: &str| -> f64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row {name:?} in:\n{out}"));
        line.trim_end_matches('|')
            .rsplit('|')
            .next()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no figure in {line:?}"))
    };
    let stored = row("best of both + zstd (stored)");
    for other in [
        "decimal only",
        "Gorilla only",
        "Gorilla + zstd",
        "best of both, no zstd",
    ] {
        assert!(stored <= row(other), "stored {stored} > {other}:\n{out}");
    }
    assert!(stored > 0.0 && stored < 2.0, "{out}");
}

#[test]
fn storage_benchmark_runs_end_to_end() {
    let out = run(&["--smoke", "storage"]);
    let raw = figure(&out, "raw chunks:", "bytes/sample");
    assert!(raw > 0.0 && raw < 2.0, "{out}");
    assert!(figure(&out, "ingest", "samples/s") > 0.0, "{out}");
    assert!(figure(&out, "query one series 4 h", "ms") >= 0.0, "{out}");
}
