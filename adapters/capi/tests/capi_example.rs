//! The example C kernel (`examples/kernel/main.c`): built with the system C compiler
//! against the staticlib, run, its output checked; and run under valgrind memcheck.
//!
//! The staticlib is built here as a freestanding kernel would link it: `no_std`, this
//! crate's own panic handler (the `freestanding` feature) and `-C panic=abort`, for the
//! host, in its own target directory (`target/capi-host`) so that it neither fights the
//! outer cargo for its lock nor changes its flags.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use support::{crate_dir, run, tool, workspace_dir};

/// Builds the staticlib and the example kernel once per test process.
fn kernel() -> Option<PathBuf> {
    static KERNEL: OnceLock<Option<PathBuf>> = OnceLock::new();
    KERNEL
        .get_or_init(|| {
            let cc = tool("cc", &[], "apt-get install -y gcc")?;
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let target = workspace_dir().join("target/capi-host");
            run(Command::new(cargo)
                .current_dir(workspace_dir())
                .args(["build", "-p", "irq-capi", "--release", "--features", "freestanding"])
                .env("CARGO_TARGET_DIR", &target)
                .env("RUSTFLAGS", "-C panic=abort")
                .env_remove("CARGO_ENCODED_RUSTFLAGS"));
            let library = target.join("release/libirq_capi.a");
            let kernel = target.join("capi-example-kernel");
            run(Command::new(cc)
                .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-I"])
                .arg(crate_dir().join("include"))
                .arg(crate_dir().join("examples/kernel/main.c"))
                .arg(&library)
                .arg("-o")
                .arg(&kernel));
            Some(kernel)
        })
        .clone()
}

#[test]
fn capi_example_kernel_runs() {
    let Some(kernel) = kernel() else { return };
    let output = run(&mut Command::new(&kernel));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in [
        // An invalid configuration, rejected with the entry named: route 0, target 1.
        "config rejected: IRQ_STATUS_INVALID_CONFIG IRQ_CONFIG_ERROR_KIND_ROUTE_PORT_NOT_BOUND \
         table 4 entry 0 index 1",
        "p0 start reason 1",
        "p1 start reason 1",
        "console p0: hello from p0",
        // The health-monitor record of a bad hypercall, and its answer (UnknownCall).
        "hm: tick 4 partition 0 kind 6 action 0 detail 99",
        "p0 bad hypercall: status 1",
        // One interrupt of the shared line, delivered to both partitions: p0 at once,
        // p1 in its own window.
        "p0 irq 0x23 delivered (raised at tick 5)",
        "p1 irq 0x23 delivered (raised at tick 5)",
        "p1 channel notification from p0",
        // The trap goes to p1's fault handler (its table says deliver) and is logged.
        "hm: tick 13 partition 1 kind 0 action 1 detail 14",
        "p1 trap 14 error 2 at 0xdead000 delivered to its fault handler",
        // Each partition's ticks: every kernel tick, zero drift.
        "p0 ticks 80 clock 80 kernel 80 drift 0",
        "p1 ticks 90 clock 90 kernel 90 drift 0",
        "p0 health log: 1 record(s), kind 6 detail 99",
        "destroyed; later call: IRQ_STATUS_BAD_HANDLE",
        "ok",
    ] {
        assert!(lines.contains(&expected), "missing line {expected:?} in:\n{stdout}");
    }
    // p0 gets the shared interrupt before p1 runs at all.
    let position = |line: &str| lines.iter().position(|l| *l == line);
    assert!(
        position("p0 irq 0x23 delivered (raised at tick 5)")
            < position("p1 irq 0x23 delivered (raised at tick 5)")
    );
}

#[test]
fn capi_example_kernel_is_clean_under_valgrind() {
    let Some(valgrind) = tool("valgrind", &[], "apt-get install -y valgrind") else { return };
    let Some(kernel) = kernel() else { return };
    let output = run(Command::new(valgrind)
        .args(["--error-exitcode=1", "--leak-check=full", "--errors-for-leak-kinds=all"])
        .arg(&kernel));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "valgrind:\n{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).lines().any(|l| l == "ok"));
}
