//! Stack use: every entry point, `irq_router_create` included, runs on a 16 KiB thread
//! stack, and its high-water mark, measured by stack painting (`tests/c/stack_probe.c`),
//! is at most `IRQ_STACK_NEEDED` for the host build and the i686 (`cc -m32`) build.

mod support;

use core::ptr;
use std::path::Path;
use std::process::Command;

use irq_capi::{
    IRQ_CATCH_UP_REPLAY, IRQ_HM_KIND_COUNT, IRQ_HM_LOG_LEN, IRQ_MAX_PARTITIONS, IRQ_NO_PORT,
    IRQ_NO_VECTOR, IRQ_PORT_COUNTING, IRQ_SOURCE_TIMER, IRQ_STACK_NEEDED, IRQ_STATUS_OK,
    IrqConfigError, IrqHmRecord, IrqPartitionConfig, IrqPortConfig, IrqSwitch, IrqSystemConfig,
    IrqWindow,
};
use support::quiet::QUIET_OPS;
use support::{
    Check, Need, build_c, cc_m32, crate_dir, harness, host_library, i686_library, run, tool,
    workspace_dir,
};

static PORTS: [IrqPortConfig; 1] = [IrqPortConfig {
    port: 0,
    source: IRQ_SOURCE_TIMER,
    mode: IRQ_PORT_COUNTING,
    source_id: 0,
    masked: 0,
    no_context: 0,
    max: 0,
}];
static WINDOWS: [IrqWindow; 1] = [IrqWindow { partition: 0, start: 0, length: 10 }];

/// Creates a router of `IRQ_MAX_PARTITIONS` partitions, drives it through a window and
/// destroys it: every status.
fn exercise() -> Vec<irq_capi::IrqStatus> {
    let part = IrqPartitionConfig {
        name: c"p".as_ptr(),
        ports: PORTS.as_ptr(),
        port_count: 1,
        timer_port: 0,
        error_port: IRQ_NO_PORT,
        catch_up: IRQ_CATCH_UP_REPLAY,
        catch_up_max: 0,
        vectors: [0; 4],
        channels: 0,
        ping: ptr::null(),
        health: [0; IRQ_HM_KIND_COUNT],
        shared_page: ptr::null_mut(),
        restart_limit: 0,
        restart_window: 0,
        levels: ptr::null(),
        level_count: 0,
    };
    let parts = [part; IRQ_MAX_PARTITIONS];
    let config = IrqSystemConfig {
        partitions: parts.as_ptr(),
        partition_count: IRQ_MAX_PARTITIONS as u32,
        major_frame: 10,
        windows: WINDOWS.as_ptr(),
        window_count: 1,
        routes: ptr::null(),
        route_count: 0,
        clock_vector: IRQ_NO_VECTOR,
        channels: ptr::null(),
        channel_count: 0,
        channel_budgets: ptr::null(),
        channel_budget_count: 0,
    };
    let mut router = ptr::null_mut();
    let mut error = IrqConfigError { kind: 0, table: 0, partition: 0, entry: 0, index: 0 };
    let (mut sw, mut st, mut value) = (IrqSwitch::default(), 0u64, 0u64);
    let mut records = [IrqHmRecord::default(); IRQ_HM_LOG_LEN];
    let mut count = 0u32;
    let null = ptr::null_mut();
    // SAFETY: every pointer is a local that outlives the calls.
    unsafe {
        vec![
            irq_capi::irq_router_create(&config, &QUIET_OPS, &mut router, &mut error),
            irq_capi::irq_router_start(router),
            irq_capi::irq_router_tick_switch(router, 0, &mut sw, null),
            irq_capi::irq_router_partition_entry(router, 0, 0, 10, null),
            irq_capi::irq_router_tick(router, 1, null),
            irq_capi::irq_router_hypercall(router, 0, 99, 0, 0, 0, 0, &mut st, &mut value, null),
            irq_capi::irq_router_health_log(router, 0, records.as_mut_ptr(), 32, &mut count),
            irq_capi::irq_router_partition_exit(router, 0, 2),
            irq_capi::irq_router_destroy(router),
        ]
    }
}

/// Every entry point on a thread with a 16 KiB stack (a guard page below it: an overflow
/// would kill the test process). Release builds only: the bound is for the optimized
/// library a kernel links.
fn capi_every_entry_point_runs_on_a_16_kib_stack() {
    let statuses = std::thread::Builder::new()
        .stack_size(16 * 1024)
        .spawn(exercise)
        .expect("a thread")
        .join()
        .expect("no overflow");
    assert!(statuses.iter().all(|s| *s == IRQ_STATUS_OK), "{statuses:?}");
}

/// Runs the stack probe `probe`; its lines, each mark checked against the bound.
fn check_probe(probe: &Path) -> String {
    let output = run(&mut Command::new(probe));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.lines().any(|l| l == "ok"), "{stdout}");
    let marks: Vec<(&str, usize)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("stack "))
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(name, bytes)| (name, bytes.parse().expect("a number")))
        .collect();
    assert!(marks.len() >= 18, "{stdout}");
    for (name, bytes) in &marks {
        assert!(*bytes <= IRQ_STACK_NEEDED, "{name} uses {bytes} bytes of stack:\n{stdout}");
    }
    let create = marks.iter().find(|(n, _)| *n == "irq_router_create").expect("measured");
    assert!(create.1 > 0, "the probe measured something:\n{stdout}");
    eprintln!("{stdout}");
    stdout
}

fn capi_stack_high_water_marks_host() {
    let cc = tool("cc", &[]);
    let probe = workspace_dir().join("target/capi-host/capi-stack-probe");
    let source = crate_dir().join("tests/c/stack_probe.c");
    build_c(&cc, &[], &[source], &host_library(), &probe);
    check_probe(&probe);
}

fn capi_stack_high_water_marks_i686() {
    let cc = cc_m32();
    let library = i686_library();
    let probe = workspace_dir().join("target/capi-i686/capi-stack-probe");
    let source = crate_dir().join("tests/c/stack_probe.c");
    build_c(&cc, &["-m32", "-static", "-no-pie"], &[source], &library, &probe);
    check_probe(&probe);
}

fn main() -> std::process::ExitCode {
    harness(vec![
        Check {
            name: "capi_every_entry_point_runs_on_a_16_kib_stack",
            needs: &[],
            release_only: true,
            test: capi_every_entry_point_runs_on_a_16_kib_stack,
        },
        Check {
            name: "capi_stack_high_water_marks_host",
            needs: &[Need::Cc],
            release_only: false,
            test: capi_stack_high_water_marks_host,
        },
        Check {
            name: "capi_stack_high_water_marks_i686",
            needs: &[Need::CcM32, Need::NightlySrc],
            release_only: false,
            test: capi_stack_high_water_marks_i686,
        },
    ])
}
