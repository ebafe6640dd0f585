//! The example C kernel (`examples/kernel/main.c`): built with the system C compiler
//! against the staticlib, run, its output checked; and run under valgrind memcheck. The
//! same for the 32-bit build: `cc -m32` against the i686 soft-float staticlib.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use support::{
    Check, Need, build_c, cc_m32, crate_dir, harness, host_library, i686_library, run, tool,
    workspace_dir,
};

/// Builds the example kernel for the host once per test process.
fn kernel() -> PathBuf {
    static KERNEL: OnceLock<PathBuf> = OnceLock::new();
    KERNEL
        .get_or_init(|| {
            let cc = tool("cc", &[]);
            let kernel = workspace_dir().join("target/capi-host/capi-example-kernel");
            let source = crate_dir().join("examples/kernel/main.c");
            build_c(&cc, &[], &[source], &host_library(), &kernel);
            kernel
        })
        .clone()
}

/// The same kernel, 32-bit: `cc -m32 -static` with the i686 staticlib.
fn kernel_i686() -> PathBuf {
    static KERNEL: OnceLock<PathBuf> = OnceLock::new();
    KERNEL
        .get_or_init(|| {
            let cc = cc_m32();
            let library = i686_library();
            let kernel = workspace_dir().join("target/capi-i686/capi-example-kernel");
            let source = crate_dir().join("examples/kernel/main.c");
            build_c(&cc, &["-m32", "-static", "-no-pie"], &[source], &library, &kernel);
            kernel
        })
        .clone()
}

fn check_output(kernel: &PathBuf) {
    let output = run(&mut Command::new(kernel));
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

fn capi_example_kernel_runs() {
    let kernel = kernel();
    check_output(&kernel);
}

fn capi_example_kernel_is_clean_under_valgrind() {
    let valgrind = tool("valgrind", &[]);
    let kernel = kernel();
    let output = run(Command::new(valgrind)
        .args(["--error-exitcode=1", "--leak-check=full", "--errors-for-leak-kinds=all"])
        .arg(&kernel));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "valgrind:\n{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).lines().any(|l| l == "ok"));
}

fn capi_example_kernel_runs_as_i686() {
    let kernel = kernel_i686();
    let file = run(Command::new("file").arg(&kernel));
    assert!(String::from_utf8_lossy(&file.stdout).contains("ELF 32-bit"), "{file:?}");
    check_output(&kernel);
}

/// Under valgrind memcheck, no error is in the library's or the example's code (the
/// top frame of its stack). (The program is static: a 32-bit dynamic one needs the i386 C library's debug
/// symbols, which this machine's package sources do not offer; the static C library's
/// own start-up reports errors of its own, on stacks that are the C library's alone.)
fn capi_example_kernel_i686_is_clean_under_valgrind() {
    let valgrind = tool("valgrind", &[]);
    let kernel = kernel_i686();
    let output = Command::new(valgrind)
        .args(["--leak-check=no", "--num-callers=50"])
        .arg(&kernel)
        .output()
        .expect("valgrind runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(String::from_utf8_lossy(&output.stdout).lines().any(|l| l == "ok"), "{stderr}");
    assert!(stderr.contains("ERROR SUMMARY"), "valgrind ran:\n{stderr}");
    // Error blocks: the lines between two empty ones, without the `==pid== ` prefix.
    let text: Vec<&str> =
        stderr.lines().map(|l| l.split_once("== ").map_or(l, |(_, rest)| rest)).collect();
    let ours: Vec<String> = text
        .split(|l| l.trim().is_empty() || l.starts_with("=="))
        .filter(|block| {
            block.first().is_some_and(|l| !l.starts_with("HEAP") && !l.contains("SUMMARY"))
        })
        .map(|block| block.join("\n"))
        // Ours: the library's or the example's code at the top of the stack (the static
        // C library's `printf`, called from them, reports errors of its own inside).
        .filter(|block| {
            let top = block.lines().find(|l| l.trim_start().starts_with("at "));
            top.is_some_and(|l| l.contains("main.c:") || l.contains(".rs:"))
        })
        .collect();
    assert!(ours.is_empty(), "errors in the library or the example:\n{}", ours.join("\n"));
}

fn main() -> std::process::ExitCode {
    harness(vec![
        Check {
            name: "capi_example_kernel_runs",
            needs: &[Need::Cc],
            release_only: false,
            test: capi_example_kernel_runs,
        },
        Check {
            name: "capi_example_kernel_is_clean_under_valgrind",
            needs: &[Need::Cc, Need::Valgrind],
            release_only: false,
            test: capi_example_kernel_is_clean_under_valgrind,
        },
        Check {
            name: "capi_example_kernel_runs_as_i686",
            needs: &[Need::CcM32, Need::NightlySrc],
            release_only: false,
            test: capi_example_kernel_runs_as_i686,
        },
        Check {
            name: "capi_example_kernel_i686_is_clean_under_valgrind",
            needs: &[Need::CcM32, Need::NightlySrc, Need::Valgrind],
            release_only: false,
            test: capi_example_kernel_i686_is_clean_under_valgrind,
        },
    ])
}
