//! The QEMU end-to-end: builds `tests/qemu-kernel` for `x86_64-unknown-none`, boots it
//! under QEMU (PVH entry, TCG) with a watchdog, and checks from its serial output that
//! real PIT interrupts reached two ring-3 partitions through the 8259, the adapter and
//! the engine: zero drift for both catch-up policies, the trap delivered to the fault
//! handler with the right vector and RIP, the warm restart and its start reason, the
//! channel event, and QEMU's exit through `isa-debug-exit` with the success code. The
//! kernel is booted twice: its release build, and its debug build (overflow checks on,
//! little inlined), whose partitions run as well since their program
//! (`tests/qemu-guest`) is built on its own and embedded as one read-only user image.
//!
//! Without `qemu-system-x86_64` on `PATH` when the tests are built, the tests are ignored
//! (and say why); `.ci/run` runs them with `--include-ignored`, where a missing QEMU is a
//! failure. Run them alone with
//! `cargo test --release -p system-tests --test qemu_end_to_end -- --include-ignored`.

use std::path::Path;
use std::time::Duration;

mod common;

use common::qemu::{Boot, build_kernel, build_kernel_profile, qemu};
use common::serial::{fields, get, number, position};

/// QEMU's exit status for `isa-debug-exit` value 0x10 (`0x10 << 1 | 1`): the kernel's
/// "every check passed".
const SUCCESS_STATUS: i32 = 33;
/// The watchdog: QEMU is killed after this long.
const WATCHDOG: Duration = Duration::from_secs(60);
/// The kernel's last tick (`END_TICK` in `tests/qemu-kernel/src/kernel/config.rs`).
const END_TICK: u64 = 320;

/// NMIs injected through QEMU's monitor while the kernel runs.
const NMIS: u64 = 40;

/// Boots the kernel on QEMU's default PC, injecting [`NMIS`] NMIs once it has its
/// interrupt table: the exit status, the serial output and the NMIs sent.
fn boot(qemu: &Path, kernel: &Path) -> (Option<i32>, String, u64) {
    let how = Boot {
        machine: &[],
        extra: &[],
        ready: "[kernel] schedule:",
        nmis: NMIS,
        watchdog: WATCHDOG,
    };
    common::qemu::boot(qemu, kernel, &how)
}

#[test]
#[cfg_attr(
    qemu_absent,
    ignore = "qemu-system-x86_64 was not on PATH when the tests were built \
              (apt-get install -y qemu-system-x86, then rebuild)"
)]
fn qemu_end_to_end_partitions_get_every_tick_trap_restart_and_channel() {
    let Some(qemu) = qemu() else {
        panic!(
            "qemu-system-x86_64 not found: the QEMU end-to-end test needs it \
             (install it with `apt-get install -y qemu-system-x86`)"
        );
    };
    let kernel = build_kernel("qemu-kernel");
    let (status, output, nmis_sent) = boot(&qemu, &kernel);
    println!("{output}");
    check_run(status, &output, nmis_sent);
}

/// Every check of a run of the kernel, from its exit status, its serial output and the
/// NMIs sent.
fn check_run(status: Option<i32>, output: &str, nmis_sent: u64) {
    assert!(status.is_some(), "watchdog: QEMU still running after {WATCHDOG:?}");

    // Boot and schedule.
    position(output, "[kernel] hello from the irq-x86 end-to-end kernel");
    position(output, "p0: started (reason: fresh)");
    position(output, "p1: started (reason: fresh)");

    // Zero drift, no lost tick: each partition's own clock (built from the events it
    // handled) equals the kernel's ticks since it (re)started, for replay and for warp.
    let p0 = fields(output, "RESULT time partition=0");
    assert_eq!(get(&p0, "policy"), "Replay");
    assert_eq!(number(&p0, "epoch"), 0);
    assert_eq!(number(&p0, "kernel_ticks"), END_TICK, "partition 0 ran from tick 0 to the end");
    assert_eq!(number(&p0, "guest_time"), number(&p0, "kernel_ticks"), "partition 0 drifted");
    assert_eq!(number(&p0, "given"), END_TICK);
    assert_eq!(number(&p0, "dropped"), 0);
    let p1 = fields(output, "RESULT time partition=1");
    assert_eq!(get(&p1, "policy"), "Warp");
    let epoch = number(&p1, "epoch");
    assert!(epoch > 0 && epoch < END_TICK, "partition 1 restarted during the run");
    assert_eq!(number(&p1, "kernel_ticks"), END_TICK - epoch);
    assert_eq!(number(&p1, "guest_time"), number(&p1, "kernel_ticks"), "partition 1 drifted");
    assert_eq!(number(&p1, "given"), END_TICK - epoch);
    assert_eq!(number(&p1, "dropped"), 0);

    // The trap: ud2 (#UD, vector 6) delivered to the fault handler at the ud2's RIP...
    let trap = fields(output, "RESULT trap partition=1");
    assert_eq!(number(&trap, "faults"), 1);
    assert_eq!(number(&trap, "vector"), 6);
    let expected = number(&trap, "expected_rip");
    assert_ne!(expected, 0);
    assert_eq!(number(&trap, "address"), expected, "the trap's context names the faulting RIP");
    assert_eq!(number(&trap, "saved_rip"), expected, "the frame's saved RIP is the faulting one");
    let ud2 = position(output, "p1: executing ud2");
    let delivered = position(output, "kind=Trap action=Deliver detail=0x6");
    let handler = position(output, "p1: fault handler: vector 6 (#UD) at the ud2's RIP");
    // ... then a second fault, inside the handler, warm-starts it as its table says.
    let second = position(output, "kind=TrapInTrap action=WarmStart detail=0x0");
    let restarted = position(output, "partition 1 restarted (Warm)");
    let reason =
        position(output, "p1: started (reason: warm restart, cause: trap in the fault handler)");
    assert!(
        ud2 < delivered
            && delivered < handler
            && handler < second
            && second < restarted
            && restarted < reason
    );
    let restart = fields(output, "RESULT restart partition=1");
    assert_eq!(number(&restart, "starts"), 2);
    assert_eq!(number(&restart, "kernel_restarts"), 1);
    // Warm restart (3) caused by health-monitor event TrapInTrap (kind 1, cause 1 + 1).
    assert_eq!(number(&restart, "start_reason"), (3 << 32) | 2);

    // Paging: partition 1 (restarted) reads kernel memory: a page fault (present page,
    // user access: error code bits 0 and 2) delivered to its fault handler at the load's
    // RIP; the handler moves the saved RIP past the load and upcall return resumes there.
    let isolation = fields(output, "RESULT isolation partition=1");
    assert_eq!(number(&isolation, "vector"), 14);
    assert_eq!(number(&isolation, "error_code") & 5, 5);
    assert_ne!(number(&isolation, "expected_rip"), 0);
    assert_eq!(number(&isolation, "saved_rip"), number(&isolation, "expected_rip"));
    assert_eq!(number(&isolation, "resumed"), 1);
    assert!(reason < position(output, "p1: fault handler: page fault (#PF) reading kernel memory"));
    position(output, "p1: resumed after the faulting load");

    // The channel: every notify of partition 0 arrived at partition 1.
    position(output, "p0: notified p1 through the channel");
    position(output, "p1: channel event from p0 received");
    let channel = fields(output, "RESULT channel");
    assert_eq!(number(&channel, "sent"), 3);
    assert_eq!(number(&channel, "received"), 3);

    // cli/sti: no upcall inside a critical section, and ticks that came during one were
    // delivered after the sti.
    let cli = fields(output, "RESULT cli partition=0");
    assert_eq!(number(&cli, "sections"), 5);
    assert!(number(&cli, "deferred_until_sti") > 0);
    assert_eq!(number(&cli, "upcalls_inside"), 0);

    // An upcall stack outside the partition's memory (partition 0 runs a while with RSP
    // in kernel memory): a health-monitor event for that partition, not a kernel fault,
    // and its ticks were still all delivered (its zero drift above).
    let bad = position(output, "[hm] tick=");
    let refused = position(output, "partition=0 kind=UpcallFault action=Ignore detail=0x0");
    let survived = position(output, "p0: ran with its stack pointer in kernel memory");
    assert!(bad <= refused && refused < survived);
    let adapter = fields(output, "RESULT adapter");
    assert!(number(&adapter, "upcall_faults") > 0);
    assert!(number(&adapter, "upcalls") >= END_TICK / 2);
    assert_eq!(
        number(&adapter, "upcalls"),
        number(&adapter, "upcall_returns") + 1,
        "every upcall returned but the one the warm start ended"
    );

    // FPU/SSE isolation: each partition filled its x87 and SSE registers with its own
    // values (SSE in ring 3 works) and found them intact at every check, across the
    // switches to the other partition and back (and partition 1 across its restart,
    // after which it filled them again).
    for p in 0..2 {
        let fpu = fields(output, &format!("RESULT fpu partition={p}"));
        assert!(number(&fpu, "checks") >= 10, "partition {p} checked its registers: {fpu:?}");
        assert_eq!(number(&fpu, "mismatches"), 0, "partition {p} saw only its own values");
    }

    // FS and GS: partition 1 loads the user data selector into both and finds it at every
    // check, and found both null at each of its two starts (its warm restart reset them);
    // partition 0, which never loads them, never sees partition 1's.
    for p in 0..2 {
        let f = fields(output, &format!("RESULT segments partition={p} "));
        assert!(number(&f, "checks") >= 10, "partition {p} checked its selectors: {f:?}");
        assert_eq!(number(&f, "mismatches"), 0, "partition {p} saw only its own: {f:?}");
    }
    let f = fields(output, "RESULT segments partition=1 ");
    assert_eq!((number(&f, "starts"), number(&f, "starts_null")), (2, 2), "{f:?}");

    // The serial output went through the kernel's bounded buffer, drained at window
    // switches: all of it arrived (the lines checked above), none dropped.
    let console = fields(output, "RESULT console");
    assert_eq!(number(&console, "dropped"), 0);

    // NMIs injected during the run: taken on their own stack, counted, never blamed on
    // a partition (no health-monitor record names one), and the run is otherwise
    // exactly as without them (every check above).
    let nmi = fields(output, "RESULT nmi");
    assert!(nmis_sent > 0, "the monitor took the NMIs");
    assert!(number(&nmi, "taken") > 0, "NMIs were taken: {nmi:?} of {nmis_sent} sent");
    assert!(number(&nmi, "taken") <= nmis_sent);
    assert!(!output.contains("vector 2 "), "no NMI reported as a trap");

    position(output, "END OK");
    assert!(!output.contains("FAIL"), "a check of the kernel failed");
    assert_eq!(status, Some(SUCCESS_STATUS), "QEMU's exit status is the kernel's success code");
}

/// A debug build of the kernel (overflow checks on, helpers not inlined) runs its
/// partitions: their program is built on its own and embedded as one image, so nothing
/// they execute is in the kernel's supervisor pages (before, partition 0's first call
/// into a helper the compiler left out of line, `AtomicU64::store`, was a page fault at
/// a kernel address, again and again, and neither partition ever started). Both start,
/// the only traps are partition 1's three on purpose (the `ud2`, the division by zero in
/// its fault handler, the kernel-memory read), and then every check of the release run
/// holds: time kept with zero drift, the warm restart, the channel, the critical
/// sections, the bad stack, FPU and FS/GS checks, the NMIs.
#[test]
#[cfg_attr(
    qemu_absent,
    ignore = "qemu-system-x86_64 was not on PATH when the tests were built \
              (apt-get install -y qemu-system-x86, then rebuild)"
)]
fn qemu_a_debug_kernel_runs_its_partitions() {
    let Some(qemu) = qemu() else {
        panic!(
            "qemu-system-x86_64 not found: the QEMU end-to-end test needs it \
             (install it with `apt-get install -y qemu-system-x86`)"
        );
    };
    let kernel = build_kernel_profile("qemu-kernel", false);
    let (status, output, nmis_sent) = boot(&qemu, &kernel);
    println!("{output}");
    assert!(status.is_some(), "watchdog: QEMU still running after {WATCHDOG:?}");
    assert_eq!(output.matches("p0: started (reason: fresh)").count(), 1);
    assert_eq!(output.matches("p1: started (reason: fresh)").count(), 1);
    let traps: Vec<&str> =
        output.lines().filter(|line| line.contains("trap in partition")).collect();
    assert_eq!(traps.len(), 3, "partition 1's three traps only: {traps:?}");
    let expected = ["partition 1: vector 6 ", "partition 1: vector 0 ", "partition 1: vector 14 "];
    for (trap, want) in traps.iter().zip(expected) {
        assert!(trap.contains(want), "{trap:?}: expected {want:?}");
    }
    assert!(!output.contains("FAIL: kernel fault"), "the kernel faulted");
    for p in 0..2 {
        let t = fields(&output, &format!("RESULT time partition={p} "));
        assert_eq!(number(&t, "drift"), 0, "partition {p}: {t:?}");
        let f = fields(&output, &format!("RESULT fpu partition={p} "));
        assert!(number(&f, "checks") > 0, "partition {p}: {f:?}");
        assert_eq!(number(&f, "mismatches"), 0, "partition {p}: {f:?}");
    }
    check_run(status, &output, nmis_sent);
}
