//! Partition programs of one's own, written on the guest library and given to the runner
//! with `program = [...]`: the Rust example (`adapters/guest/examples/hosted_partition.rs`)
//! and the C example (`adapters/guest/c/examples/partition.c`, linked with the C guest
//! library). Each is built here, in its own target directory (`target/guest-programs`),
//! then run as two partitions of the default system (io-a and io-b, which share the
//! device line), and the summary checked: every tick taken, zero drift, nothing lost,
//! the device's interrupts acknowledged, and the other partitions unaffected.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target() -> PathBuf {
    workspace().join("target/guest-programs")
}

/// Runs `command`, failing the test with its output if it fails.
fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// `cargo build --release` of `args` in the test's own target directory.
fn cargo_build(args: &[&str]) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .current_dir(workspace())
        .args(["build", "--release"])
        .args(args)
        .env("CARGO_TARGET_DIR", target())
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS"));
}

/// The Rust example partition, built once.
fn rust_example() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            cargo_build(&["-p", "irq-guest", "--features", "hosted", "--example", "hosted_partition"]);
            target().join("release/examples/hosted_partition")
        })
        .clone()
}

/// The default system with io-a and io-b running `program`.
fn system_with(name: &str, program: &Path) -> PathBuf {
    let default = include_str!("../config/default.toml");
    let mut text = default.to_owned();
    for (partition, policy) in [("io-a", "replay"), ("io-b", "warp")] {
        let from = format!("name = \"{partition}\"\ncatch_up = \"{policy}\"\n");
        assert!(text.contains(&from), "the default configuration has {from:?}");
        let to = format!("{from}program = [\"{}\"]\n", program.display());
        text = text.replacen(&from, &to, 1);
    }
    let dir = std::env::temp_dir().join(format!("irq-hosted-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("system.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn num(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} missing in {v}"))
}

/// Runs the system of `config` for 10 frames; checks every partition is clean and the
/// programs' partitions handled the device line.
fn check_run(config: &Path, greeting: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_irq-hosted"))
        .args(["--json", "--frames", "10", "--config"])
        .arg(config)
        .output()
        .expect("the runner starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "runner failed: {stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("the summary is JSON");
    for name in ["io-a", "io-b"] {
        assert!(stderr.contains(&format!("{name}: {greeting}")), "{name} greeted: {stderr}");
    }
    for p in summary["partitions"].as_array().expect("partitions") {
        assert_eq!(num(p, "drift"), num(p, "dropped"), "{p}");
        assert_eq!(num(p, "lost"), 0, "{p}");
        assert!(num(p, "guest_time") > 0, "{p}");
        assert!(num(p, "in_flight") <= 40, "the guest keeps up: {p}");
        assert_eq!(num(p, "restarts"), 0, "{p}");
        assert!(p["hm_events"].as_array().is_some_and(Vec::is_empty), "{p}");
        assert_eq!(p["start_reason"], "fresh", "{p}");
        if p["name"] == "io-a" || p["name"] == "io-b" {
            assert_eq!(num(p, "drift"), 0, "{p}");
            assert!(num(p, "line_events") > 0, "the device line was handled: {p}");
        }
    }
    let device = &summary["device"];
    assert_eq!(num(device, "packets_lost"), 0, "{device}");
}

#[test]
fn hosted_rust_example_partition_runs_from_program() {
    let config = system_with("rust-example", &rust_example());
    check_run(&config, "the Rust example partition");
    let _ = std::fs::remove_dir_all(config.parent().expect("dir"));
}
