//! For the `hosted_` tests that read the runner's JSON summary.

use std::process::Command;

use serde_json::Value;

/// Runs the runner binary with `--json --quiet` and `args`; its summary. A run that fails,
/// or that does not end within a minute (a hang), fails the test.
pub(crate) fn run(args: &[&str]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_irq-hosted"));
    command.args(["--json", "--quiet"]).args(args);
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(command.output()));
    let out = outcome
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the run ends within a minute")
        .expect("the runner starts");
    assert!(out.status.success(), "runner failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the summary is JSON")
}

/// Partition `name`'s part of `summary`.
pub(crate) fn partition<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["partitions"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no partition {name} in {summary}"))
}

/// The integer `field` of `v`.
pub(crate) fn num(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}
