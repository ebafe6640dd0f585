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
            cargo_build(&[
                "-p",
                "irq-guest",
                "--features",
                "hosted",
                "--example",
                "hosted_partition",
            ]);
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
        assert_eq!(num(p, "hm_events"), 0, "{p}");
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

/// A tool the test needs (the CI gate installs it): its path, or the test fails saying
/// how to install it.
fn tool(name: &str, candidates: &[PathBuf], install: &str) -> PathBuf {
    std::iter::once(PathBuf::from(name))
        .chain(candidates.iter().cloned())
        .find(|path| Command::new(path).arg("--version").output().is_ok_and(|o| o.status.success()))
        .unwrap_or_else(|| panic!("`{name}` is not installed (install it with: {install})"))
}

fn c_library_dir() -> PathBuf {
    workspace().join("adapters/guest/c")
}

/// The C example partition, compiled against the checked-in header and linked with the
/// C guest library, built once.
fn c_example() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cc = tool("cc", &[], "apt-get install -y gcc");
            cargo_build(&["-p", "irq-guest-c"]);
            let program = target().join("c-partition");
            run(Command::new(cc)
                .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
                .arg(c_library_dir().join("include"))
                .arg(c_library_dir().join("examples/partition.c"))
                .arg(target().join("release/libirq_guest_c.a"))
                .args(["-lpthread", "-ldl", "-lm", "-o"])
                .arg(&program));
            program
        })
        .clone()
}

#[test]
fn hosted_c_example_partition_runs_from_program() {
    let config = system_with("c-example", &c_example());
    check_run(&config, "the C example partition");
    let _ = std::fs::remove_dir_all(config.parent().expect("dir"));
}

#[test]
fn hosted_guest_c_header_is_up_to_date() {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let candidates: Vec<PathBuf> = home.map(|h| h.join("bin/cbindgen")).into_iter().collect();
    let cbindgen = tool("cbindgen", &candidates, "cargo install cbindgen --locked");
    let dir = std::env::temp_dir().join(format!("irq-guest-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let fresh = dir.join("irq_guest.h");
    run(Command::new(cbindgen)
        .current_dir(c_library_dir())
        .args(["--config", "cbindgen.toml", "--quiet", "--output"])
        .arg(&fresh));
    let generated = std::fs::read_to_string(&fresh).expect("generated header");
    let checked_in =
        std::fs::read_to_string(c_library_dir().join("include/irq_guest.h")).expect("header");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        generated == checked_in,
        "adapters/guest/c/include/irq_guest.h is out of date: regenerate it with \
         `cd adapters/guest/c && cbindgen --config cbindgen.toml --output include/irq_guest.h`"
    );
}
