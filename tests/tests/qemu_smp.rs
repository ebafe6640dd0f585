//! The SMP QEMU end-to-end: builds `tests/qemu-smp-kernel` for `x86_64-unknown-none`,
//! boots it on `-machine q35 -smp 4 -cpu max` (PVH entry, TCG) with a watchdog, and
//! checks from its serial output that the kernel found the CPUs and the IO-APIC in the
//! MADT, started the application processors (INIT-SIPI-SIPI), ran the engine on two
//! CPUs at once (each its own schedule of two ring-3 partitions, each tick from its own
//! local APIC timer, the time from the TSC), with zero drift for replay and warp
//! partitions on both CPUs and nothing lost; that a device interrupt taken on CPU 0 for
//! a partition running on CPU 1 reached it through the engine's kick, an IPI, inside
//! its window; that QEMU's `edu` device's INTx, level-triggered through the IO-APIC and
//! shared by partitions on both CPUs, is unmasked once both acknowledged (and by force,
//! with a health-monitor event, when one withholds), and another edu's MSI is an edge
//! line of a third partition; that 16 lines raised at once (self-IPIs) to one partition
//! with its virtual interrupts closed reach it in priority order, 50 rounds of 50 (the
//! burst test of the RTAS 2023 study of partitioning hypervisors); that each
//! partition's FPU/SSE registers and FS/GS selectors and bases are its own; that
//! hypercalls through `syscall` get the answers of `int 0x80` (some with an NMI in the
//! middle), the entry leaving with `sysretq` or `iretq`; and that QEMU exited through
//! `isa-debug-exit` with the success code.
//!
//! Without `qemu-system-x86_64` on `PATH` when the tests are built, the test is ignored
//! (and says why); with `--include-ignored` (as in CI) a missing QEMU is a failure. Run it
//! alone with `cargo test --release -p system-tests --test qemu_smp -- --include-ignored`.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::qemu::{Boot, build_kernel, build_kernel_profile, qemu};
use common::serial::{fields, get, number, position};

/// QEMU's exit status for `isa-debug-exit` value 0x10 (`0x10 << 1 | 1`).
const SUCCESS_STATUS: i32 = 33;
/// The watchdog: QEMU is killed after this long.
const WATCHDOG: Duration = Duration::from_secs(120);
/// The kernel's last tick (`END_TICK` in `tests/qemu-smp-kernel/src/kernel/config.rs`).
const END_TICK: u64 = 320;
/// CPUs of the machine, and those running the engine (`CPUS` in the kernel's config).
const MACHINE_CPUS: u64 = 4;
const ENGINE_CPUS: u64 = 2;
/// NMIs injected through QEMU's monitor during the run.
const NMIS: u64 = 20;
/// The burst's lines and rounds (`BURST_LINES`, `BURST_ROUNDS` in the kernel's config).
const BURST_LINES: u64 = 16;
const BURST_ROUNDS: u64 = 50;
/// Partitions, and their CPUs and catch-up policies (the kernel's `SYSTEM`).
const PARTITIONS: [(u64, &str); 4] = [(0, "Replay"), (0, "Warp"), (1, "Replay"), (1, "Warp")];

/// QEMU's exit status for `isa-debug-exit` value 0x11: the kernel's "a check failed".
const FAILURE_STATUS: i32 = 35;
/// The line after which every CPU runs with its interrupt tables (NMIs are safe).
const READY: &str = "CPUs run the engine";

/// Boots the kernel on q35 with 4 CPUs and the two edu devices, `append` as its command
/// line, injecting `nmis` NMIs once every CPU is up: the exit status, the serial output
/// and the NMIs sent.
fn boot(qemu: &Path, kernel: &Path, append: &str, nmis: u64) -> (Option<i32>, String, u64) {
    let extra = [
        "-append",
        append,
        // Two of QEMU's edu PCI devices: the first's INTx (slot 16, INTA: GSI 20 on q35),
        // the second's MSI.
        "-device",
        "edu,addr=0x10",
        "-device",
        "edu,addr=0x11",
    ];
    let how = Boot {
        machine: &["-machine", "q35", "-smp", "4", "-cpu", "max"],
        extra: &extra,
        ready: READY,
        nmis,
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
fn qemu_smp_two_cpus_run_their_schedules_and_a_kick_crosses_cpus() {
    let Some(qemu) = qemu() else {
        panic!(
            "qemu-system-x86_64 not found: the QEMU end-to-end test needs it \
             (install it with `apt-get install -y qemu-system-x86`)"
        );
    };
    let kernel = build_kernel("qemu-smp-kernel");
    let (status, output, nmis_sent) = boot(&qemu, &kernel, "", NMIS);
    println!("{output}");
    assert!(status.is_some(), "watchdog: QEMU still running after {WATCHDOG:?}");

    // The machine, from the MADT: every CPU, the IO-APIC, the PIT's override.
    position(&output, "[kernel] hello from the irq-x86 SMP end-to-end kernel");
    position(
        &output,
        "[kernel] MADT (RSDP from the PVH start info): 4 CPUs (APIC IDs 0 1 2 3), 1 IO-APIC(s), ISA IRQ 0 -> GSI 2",
    );
    position(&output, "[kernel] IO-APIC 0 at 0xfec00000: version 0x20, 24 pins from GSI 0");
    position(&output, "8259 masked; protections: smep=true smap=true nx=true");
    position(&output, "[kernel] time: TSC at ");

    // Every application processor reached Rust on its own stack and reported; those the
    // engine does not use park.
    for cpu in 1..MACHINE_CPUS {
        let reached = position(&output, &format!("[kernel] cpu {cpu}: in Rust on its own stack"));
        let started = position(&output, &format!("[kernel] cpu {cpu} (APIC ID {cpu}) started"));
        assert!(reached < started, "the CPU reports before the boot CPU goes on");
    }
    position(&output, &format!("[kernel] {MACHINE_CPUS} of {MACHINE_CPUS} CPUs up"));
    for cpu in ENGINE_CPUS..MACHINE_CPUS {
        position(
            &output,
            &format!("[kernel] cpu {cpu}: APIC ID {cpu}, not used by the engine: parked"),
        );
    }
    for cpu in 0..ENGINE_CPUS {
        position(&output, &format!("[kernel] cpu {cpu}: schedule starts at tick "));
    }
    assert_eq!(
        output.matches("guest: started on its CPU, upcall registered").count(),
        PARTITIONS.len(),
        "every partition started once"
    );

    // Both CPUs ran to the end, each on its own clock interrupts (the TSC-measured ticks
    // against the interrupts taken: an emulator that falls behind loses timer periods,
    // never ticks).
    for cpu in 0..ENGINE_CPUS {
        let f = fields(&output, &format!("RESULT cpu cpu={cpu} "));
        assert_eq!(number(&f, "apic_id"), cpu);
        assert_eq!(number(&f, "partitions"), 2);
        // (`device_after_end`: an edge interrupt already on its way when CPU 0 masked the
        // lines at the end, acknowledged only: printed, not checked.)
        assert!(number(&f, "tsc_ticks") >= END_TICK);
        assert!(number(&f, "clock_irqs") > END_TICK / 2, "cpu {cpu} took its clock: {f:?}");
        assert_eq!(number(&f, "upcalls"), number(&f, "upcall_returns"), "cpu {cpu}: {f:?}");
        for key in ["kick_errors", "apic_errors", "unexpected"] {
            assert_eq!(number(&f, key), 0, "cpu {cpu} {key}: {f:?}");
        }
    }

    // Zero drift, no lost tick: each partition's own clock (from the events it handled)
    // equals the kernel's ticks, for replay and warp, on both CPUs.
    for (p, (cpu, policy)) in PARTITIONS.iter().enumerate() {
        let t = fields(&output, &format!("RESULT time partition={p} "));
        assert_eq!(number(&t, "cpu"), *cpu);
        assert_eq!(get(&t, "policy"), *policy);
        assert_eq!(number(&t, "kernel_ticks"), END_TICK);
        assert_eq!(number(&t, "guest_time"), END_TICK, "partition {p} drifted: {t:?}");
        assert_eq!(number(&t, "given"), END_TICK);
        assert_eq!(number(&t, "dropped"), 0);
        assert_eq!(number(&t, "drift"), 0);
        assert!(number(&t, "entries") >= 8, "partition {p} entered every frame: {t:?}");
    }

    // The device line: every interrupt taken on CPU 0 reached partition 2 on CPU 1,
    // nothing lost; those raised while partition 2 ran were brought to it by a kick: the
    // IPIs CPU 0 sent all arrived, each resumed partition 2 with an upcall inside its
    // window, within a tick of the raise.
    let d = fields(&output, "RESULT device partition=2 ");
    let taken = number(&d, "taken");
    assert!(taken > 0, "the device interrupted: {d:?}");
    assert_eq!(number(&d, "received"), taken, "nothing lost: {d:?}");
    let kicks = number(&d, "kicks_sent");
    assert!(kicks > 0, "interrupts on CPU 0 kicked CPU 1: {d:?}");
    assert!(number(&d, "kick_ipis") <= kicks && number(&d, "kick_ipis") > 0, "{d:?}");
    assert!(number(&d, "kick_upcalls") > 0, "a kick entered the handler: {d:?}");
    assert!(number(&d, "within_a_tick") >= 1, "{d:?}");
    let cpu0 = fields(&output, "RESULT cpu cpu=0 ");
    assert_eq!(number(&cpu0, "device_irqs"), taken, "the device is CPU 0's");

    // The edu's INTx: a level line through the IO-APIC, shared by partition 0 (CPU 0)
    // and partition 2 (CPU 1). Every firing reached both (delivered, or merged into one
    // still pending: a coalescing port), nothing pending at the end; the engine masked
    // the line at each firing and unmasked it once, when both had acknowledged, but once:
    // partition 2 withheld its acknowledgement past the timeout, and the forced unmask is
    // its health-monitor event (partition 0 has none).
    position(&output, "GSI 20 (q35 _PRT) -> vector 0x41, level, active low, on CPU 0");
    let line = fields(&output, "RESULT level-line ");
    let firings = number(&line, "firings");
    assert!(firings > 1, "the level line fired: {line:?}");
    assert_eq!(number(&line, "engine_masks"), firings);
    assert_eq!(number(&line, "engine_unmasks"), firings);
    for (p, withheld) in [(0, 0), (2, 1)] {
        let e = fields(&output, &format!("RESULT edu-intx partition={p} "));
        assert_eq!(get(&e, "trigger"), "level");
        assert_eq!(number(&e, "taken"), firings);
        assert_eq!(number(&e, "received") + number(&e, "coalesced"), firings, "{e:?}");
        assert_eq!(number(&e, "pending"), 0, "{e:?}");
        assert_eq!(number(&e, "withheld"), withheld, "{e:?}");
        assert_eq!(number(&e, "ack_timeouts"), withheld, "{e:?}");
        assert!(number(&e, "raises") >= firings, "{e:?}");
    }
    let withholding =
        position(&output, "guest: withholding the acknowledgement of a shared level line");
    let forced = position(&output, "partition=2 kind=AckTimeout action=Ignore detail=0x41");
    let given = position(&output, "guest: acknowledgement given, late");
    assert!(withholding < forced && forced < given);
    assert_eq!(output.matches("kind=AckTimeout").count(), 1);
    // The second edu's MSI: an edge line to partition 3 on CPU 1, every one delivered.
    let m = fields(&output, "RESULT edu-msi partition=3 ");
    assert_eq!(number(&m, "cpu"), 1);
    assert!(number(&m, "raises") > 0);
    assert_eq!(number(&m, "taken"), number(&m, "raises"), "{m:?}");
    assert_eq!(number(&m, "received"), number(&m, "taken"), "{m:?}");

    // The burst: 50 rounds of 16 lines fired at once (self-IPIs of CPU 0, in a shuffled
    // order, with interrupts off) to partition 1, its virtual interrupts closed; the
    // local APIC hands them to the engine the highest vector first, which is not the
    // ports' priority order (the vectors' ports are a permutation); once the partition
    // opens, its upcalls come lowest port first, every round.
    let b = fields(&output, "RESULT burst partition=1 ");
    assert_eq!(number(&b, "cpu"), 0);
    assert_eq!(number(&b, "lines"), BURST_LINES);
    assert_eq!(number(&b, "rounds"), BURST_ROUNDS, "{b:?}");
    assert_eq!(number(&b, "fired"), BURST_ROUNDS, "{b:?}");
    assert_eq!(number(&b, "in_order"), BURST_ROUNDS, "in priority order, 50 of 50: {b:?}");
    assert_eq!(number(&b, "taken"), BURST_ROUNDS * BURST_LINES, "{b:?}");
    assert_eq!(number(&b, "events"), BURST_ROUNDS * BURST_LINES, "every event taken: {b:?}");
    assert_eq!(number(&b, "send_errors"), 0, "{b:?}");
    assert_eq!(number(&b, "timeouts"), 0, "{b:?}");
    assert!(
        number(&b, "arrived_out_of_order") > 0,
        "the engine, not the APIC, put them in order: {b:?}"
    );
    position(&output, "guest: burst rounds done");
    let cpu0 = fields(&output, "RESULT cpu cpu=0 ");
    assert_eq!(number(&cpu0, "burst_irqs"), BURST_ROUNDS * BURST_LINES, "{cpu0:?}");
    assert_eq!(number(&cpu0, "burst_outside"), 0, "{cpu0:?}");

    // Each partition's FPU/SSE registers are its own on every CPU.
    for p in 0..PARTITIONS.len() {
        let f = fields(&output, &format!("RESULT fpu partition={p} "));
        assert!(number(&f, "checks") >= 10, "partition {p}: {f:?}");
        assert_eq!(number(&f, "mismatches"), 0, "partition {p}: {f:?}");
    }
    // FS and GS are each partition's own: partitions 0 and 2 load the user data selector
    // into both and write their bases (FSGSBASE), 1 and 3 leave them null; each finds at
    // every check what it left, never its CPU neighbour's.
    for p in 0..PARTITIONS.len() {
        let f = fields(&output, &format!("RESULT segments partition={p} "));
        assert_eq!(number(&f, "loads"), u64::from(p % 2 == 0), "partition {p}: {f:?}");
        assert_eq!(number(&f, "bases"), 1, "FSGSBASE offered and used: {f:?}");
        assert!(number(&f, "checks") >= 10, "partition {p}: {f:?}");
        assert_eq!(number(&f, "mismatches"), 0, "partition {p}: {f:?}");
    }
    // `syscall` beside `int 0x80`: partitions 0 and 3 (one on each CPU) made their idle
    // and upcall-return calls through it, and compared the answers of the same calls
    // made both ways; every call reached the entry, which left with `sysretq` when the
    // frame allowed it and with `iretq` otherwise (another partition, an upcall, the idle
    // loop).
    let mut calls = 0;
    for p in 0..PARTITIONS.len() {
        let f = fields(&output, &format!("RESULT syscall partition={p} "));
        let uses = number(&f, "uses");
        assert_eq!(uses, u64::from(p == 0 || p == 3), "partition {p}: {f:?}");
        assert_eq!(number(&f, "mismatches"), 0, "partition {p}: {f:?}");
        if uses == 1 {
            assert!(number(&f, "compared") >= 10, "partition {p}: {f:?}");
        } else {
            assert_eq!(number(&f, "calls"), 0, "partition {p}: {f:?}");
        }
        calls += number(&f, "calls");
    }
    let e = fields(&output, "RESULT syscall-entry ");
    assert_eq!(number(&e, "entries"), calls, "every syscall hypercall entered: {e:?}");
    assert_eq!(number(&e, "sysret") + number(&e, "iret"), calls, "{e:?}");
    assert!(number(&e, "sysret") > 0 && number(&e, "iret") > 0, "both ways out: {e:?}");
    // NMIs injected to every CPU during the run (the parked ones too): each CPU takes them
    // on its own NMI stack (IST2 of its own TSS), counts them and returns; the run is
    // otherwise exactly as without them (every check here).
    let nmi = fields(&output, "RESULT nmi");
    assert!(nmis_sent > 0, "the monitor took the NMIs");
    assert!(number(&nmi, "taken") > 0, "NMIs were taken: {nmi:?} of {nmis_sent} sent");
    // And an NMI in the middle of a hypercall on each CPU (every 64th, sent by the CPU to
    // itself): taken on its NMI stack while the hypercall's frame is in use on the
    // common one, which it leaves as it was; the hypercalls' answers are the guests'
    // checks above.
    let (mut in_hypercalls, mut in_syscalls) = (0, 0);
    for cpu in 0..ENGINE_CPUS {
        let h = fields(&output, &format!("RESULT hypercall_nmis cpu={cpu} "));
        in_hypercalls += number(&h, "nmis");
        in_syscalls += number(&h, "syscall_nmis");
        assert!(number(&h, "hypercalls") > 64, "cpu {cpu}: {h:?}");
        assert_eq!(number(&h, "nmis"), number(&h, "hypercalls").div_ceil(64), "cpu {cpu}: {h:?}");
        assert_eq!(number(&h, "frame_intact"), number(&h, "nmis"), "cpu {cpu}: {h:?}");
        assert_eq!(number(&h, "unseen") + number(&h, "send_errors"), 0, "cpu {cpu}: {h:?}");
    }
    assert!(number(&nmi, "taken") <= nmis_sent * MACHINE_CPUS + in_hypercalls, "{nmi:?}");
    // Some of them in the middle of a hypercall made through `syscall` (its frame on the
    // same common stack; its answer is the guest's comparison above).
    assert!(in_syscalls > 0, "an NMI in a syscall hypercall: {in_syscalls} of {in_hypercalls}");
    assert!(!output.contains("vector 2 "), "no NMI reported as a trap");
    assert!(number(&nmi, "in_entry") >= in_hypercalls, "counted as in an entry: {nmi:?}");

    let engine = fields(&output, "RESULT engine");
    assert_eq!(number(&engine, "lines_lost"), 0);
    assert_eq!(number(&fields(&output, "RESULT console"), "dropped"), 0);

    // Besides that timeout, only window overruns (a timer period late: a diagnostic) in
    // the health monitor.
    for line in output.lines().filter(|l| l.starts_with("[hm] ")) {
        assert!(
            line.contains("kind=WindowOverrun action=Ignore")
                || line.contains("partition=2 kind=AckTimeout"),
            "unexpected: {line}"
        );
    }
    position(&output, "END OK");
    assert!(!output.contains("FAIL"), "a check of the kernel failed");
    assert_eq!(status, Some(SUCCESS_STATUS), "QEMU's exit status is the kernel's success code");
}

/// The kernel's probes (its command line) stop one CPU's clock: before its first tick
/// (the timer never started) and in the middle of the run. Either is reported, and the
/// kernel exits with its failure code; neither hangs until the watchdog.
#[test]
#[cfg_attr(
    qemu_absent,
    ignore = "qemu-system-x86_64 was not on PATH when the tests were built \
              (apt-get install -y qemu-system-x86, then rebuild)"
)]
fn qemu_smp_a_clock_that_stops_is_reported_not_waited_for() {
    let Some(qemu) = qemu() else {
        panic!(
            "qemu-system-x86_64 not found: the QEMU end-to-end test needs it \
             (install it with `apt-get install -y qemu-system-x86`)"
        );
    };
    let kernel = build_kernel("qemu-smp-kernel");
    let cases = [
        (
            "probe=no-timer",
            "[kernel] FAIL: clock: cpu 1's local APIC timer (Periodic) gave no interrupt within 500 ms",
        ),
        ("probe=stop-timer", "[kernel] FAIL: clock of cpu 1 is not ticking (Stopped {"),
    ];
    for (append, report) in cases {
        let start = Instant::now();
        let (status, output, _) = boot(&qemu, &kernel, append, 0);
        println!("{output}");
        assert!(status.is_some(), "{append}: watchdog: QEMU still running after {WATCHDOG:?}");
        position(&output, "[kernel] probe: ");
        position(&output, report);
        assert!(!output.contains("END OK"), "{append}");
        assert_eq!(status, Some(FAILURE_STATUS), "{append}: the kernel's failure code");
        assert!(start.elapsed() < Duration::from_secs(30), "{append}: reported promptly");
    }
}

/// The address after `marker` in `output` (`0x...`, up to the first non-hex digit).
fn address_after(output: &str, marker: &str) -> u64 {
    let at = position(output, marker) + marker.len();
    let hex = output[at..].trim_start_matches("0x");
    let end = hex.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(hex.len());
    u64::from_str_radix(&hex[..end], 16).unwrap_or_else(|e| panic!("{marker}: {e}"))
}

/// SMAP, SMEP and NX are on (QEMU's `-cpu max` has them) and hold: the kernel's read of a
/// partition's memory through the partition's own mapping and its call into the guest
/// code are page faults of the kernel's (reported, the run ended), and a partition
/// entered in its own writable memory takes a page fault of its own (a trap blamed on
/// it, recorded by its health monitor, the kernel unharmed). Each probe ends its run
/// with the failure code.
#[test]
#[cfg_attr(
    qemu_absent,
    ignore = "qemu-system-x86_64 was not on PATH when the tests were built \
              (apt-get install -y qemu-system-x86, then rebuild)"
)]
fn qemu_smp_smap_smep_and_nx_hold() {
    let Some(qemu) = qemu() else {
        panic!(
            "qemu-system-x86_64 not found: the QEMU end-to-end test needs it \
             (install it with `apt-get install -y qemu-system-x86`)"
        );
    };
    let kernel = build_kernel("qemu-smp-kernel");
    let run = |append: &str| {
        let (status, output, _) = boot(&qemu, &kernel, append, 0);
        println!("{output}");
        assert!(status.is_some(), "{append}: watchdog: QEMU still running after {WATCHDOG:?}");
        assert_eq!(status, Some(FAILURE_STATUS), "{append}: the probe ends the run");
        assert!(!output.contains("END OK"), "{append}");
        position(&output, "protections: smep=true smap=true nx=true");
        output
    };

    // SMAP: a supervisor read (error 0x1: present, read, ring 0) of the partition's page.
    let output = run("probe=smap");
    let memory = address_after(&output, "'s memory at ");
    position(&output, "kernel fault vector 14 at rip=0x");
    position(&output, &format!("error=0x1 cr2={memory:#x}"));
    assert!(!output.contains("the kernel read"), "SMAP let the read through");

    // SMEP: a fetch from ring 0 (error 0x11: present, fetch) at the guest code.
    let output = run("probe=smep");
    let code = address_after(&output, "[kernel] probe: smep: calling the guest code at ");
    position(&output, &format!("kernel fault vector 14 at rip={code:#x} error=0x11 cr2={code:#x}"));
    assert!(!output.contains("ran user code"), "SMEP let the call through");

    // NX: the partition's own fetch (error 0x15: present, ring 3, fetch), blamed on it.
    let output = run("probe=nx");
    let line = &output[position(&output, "[kernel] probe: nx: entering partition ")..];
    let p: u16 = line["[kernel] probe: nx: entering partition ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("the partition");
    let target = address_after(line, " at ");
    position(&output, &format!("trap in partition {p}: vector 14 at rip={target:#x} error=0x15"));
    position(&output, &format!("partition={p} kind=Trap"));
    position(&output, &format!("FAIL: probe: nx: partition {p}'s fetch at {target:#x} trapped"));
    assert!(!output.contains("kernel fault"), "the kernel is unharmed");
}

/// A debug build of the kernel (overflow checks on, helpers not inlined) runs its
/// partitions: their program is built on its own and embedded as one image, so nothing
/// they execute is in the kernel's supervisor pages (before, their first call into a
/// helper the compiler left out of line was a page fault). Each partition starts once,
/// none traps, every one keeps time with the kernel to the end. (The debug kernel is too
/// slow under TCG for the run's timing checks, the burst's waits among them: those are
/// the release kernel's test.)
#[test]
#[cfg_attr(
    qemu_absent,
    ignore = "qemu-system-x86_64 was not on PATH when the tests were built \
              (apt-get install -y qemu-system-x86, then rebuild)"
)]
fn qemu_smp_a_debug_kernel_runs_its_partitions() {
    let Some(qemu) = qemu() else {
        panic!(
            "qemu-system-x86_64 not found: the QEMU end-to-end test needs it \
             (install it with `apt-get install -y qemu-system-x86`)"
        );
    };
    let kernel = build_kernel_profile("qemu-smp-kernel", false);
    let (status, output, _) = boot(&qemu, &kernel, "", 0);
    println!("{output}");
    assert!(status.is_some(), "watchdog: QEMU still running after {WATCHDOG:?}");
    assert_eq!(output.matches("guest: started on its CPU, upcall registered").count(), 4);
    assert!(!output.contains("trap in partition"), "a partition trapped");
    assert!(!output.contains("kernel fault"), "the kernel faulted");
    for p in 0..4 {
        let t = fields(&output, &format!("RESULT time partition={p} "));
        assert_eq!(number(&t, "guest_time"), END_TICK, "partition {p}: {t:?}");
        assert_eq!(number(&t, "drift"), 0, "partition {p}: {t:?}");
    }
    for p in 0..4 {
        let f = fields(&output, &format!("RESULT fpu partition={p} "));
        assert!(number(&f, "checks") > 0, "partition {p}: {f:?}");
        assert_eq!(number(&f, "mismatches"), 0, "partition {p}: {f:?}");
    }
    assert_eq!(number(&fields(&output, "RESULT engine"), "lines_lost"), 0);
}
