//! The final report, made by the last CPU to finish: every count on COM1 as a `RESULT`
//! line the host test checks, and the exit.

use core::fmt::Write;
use core::sync::atomic::Ordering::Relaxed;

use irq_router::CpuId;

use irq_router::config::{HmAction, HmKind};
use irq_router::health::{HM_LOG_LEN, HmRecord};

use super::config::{
    CPUS, DEVICE_VECTOR, EDU_INTX_VECTOR, EDU_MSI_VECTOR, END_TICK, PARTITIONS, SYSTEM, WITHHOLD,
    port_of, router,
};
use super::machine::memory;
use super::sched::{CpuKernel, CpuStats, KERNELS, pid};
use super::{CONSOLE, EXIT_FAILURE, EXIT_SUCCESS, burst, devices, exit, machine, time};

macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(&CONSOLE, $($arg)*);
    }};
}

/// One CPU's figures, read under its lock (`me` is the reporting CPU's, already held).
struct Figures {
    stats: CpuStats,
    line_masks: (u64, u64),
    counters: irq_x86::Counters,
    machine: irq_x86::smp::machine::MachineCounters,
    spurious: u64,
}

fn figures(k: &mut CpuKernel) -> Figures {
    let counters = k.adapter.counters();
    let machine = k.adapter.hardware().counters();
    let spurious = k.adapter.hardware().apic_controller().spurious();
    let line_masks = k.adapter.hardware().apic_controller().line_masks();
    Figures { stats: k.stats, line_masks, counters, machine, spurious }
}

/// Partition `p`'s acknowledgement timeouts, from its health-monitor ring.
fn ack_timeouts(p: usize) -> u64 {
    let empty = HmRecord {
        tick: 0,
        partition: None,
        kind: HmKind::AckTimeout,
        action: HmAction::Ignore,
        detail: 0,
        extra: 0,
        discarded: 0,
    };
    let mut records = [empty; HM_LOG_LEN];
    let n = router().health_log(Some(pid(p)), &mut records);
    records[..n].iter().filter(|r| r.kind == HmKind::AckTimeout).count() as u64
}

/// Prints every count and exits: success if every check passed.
pub(crate) fn report(me: &mut CpuKernel) -> ! {
    let mut ok = true;
    let mut cpus: [Option<Figures>; CPUS] = [const { None }; CPUS];
    for (c, slot) in cpus.iter_mut().enumerate() {
        *slot =
            if c == me.cpu { Some(figures(me)) } else { KERNELS[c].lock().as_mut().map(figures) };
    }
    let mut kicks_sent = 0;
    let mut kick_ipis = 0;
    let mut kick_upcalls = 0;
    let mut device_irqs = 0;
    let mut intx_irqs = 0;
    let mut line_masks = (0, 0);
    let mut msi_irqs = 0;
    let mut latency = 0;
    for (c, f) in cpus.iter().enumerate() {
        let Some(f) = f else {
            ok = false;
            say!("RESULT cpu cpu={c} missing=1");
            continue;
        };
        let s = &f.stats;
        kicks_sent += f.machine.kicks_sent;
        kick_ipis += s.kick_ipis;
        kick_upcalls += s.kick_upcalls;
        device_irqs += s.device_irqs;
        intx_irqs += s.edu_intx_irqs;
        line_masks.0 += f.line_masks.0;
        line_masks.1 += f.line_masks.1;
        msi_irqs += s.edu_msi_irqs;
        latency = latency.max(s.kick_latency_max);
        ok &= f.machine.kick_errors == 0 && s.apic_errors == 0 && s.unexpected == 0;
        ok &= s.hypercall_nmis_unseen == 0
            && s.hypercall_nmi_send_errors == 0
            && s.hypercall_nmis_frame_intact == s.hypercall_nmis;
        say!(
            "RESULT hypercall_nmis cpu={c} hypercalls={} nmis={} frame_intact={} unseen={} send_errors={} syscall_nmis={}",
            f.counters.hypercalls,
            s.hypercall_nmis,
            s.hypercall_nmis_frame_intact,
            s.hypercall_nmis_unseen,
            s.hypercall_nmi_send_errors,
            s.syscall_nmis
        );
        // The TSC said END_TICK ticks passed; the timer gave clock_irqs interrupts (an
        // emulator that falls behind loses periods: a diagnostic, not a check).
        say!(
            "RESULT cpu cpu={c} apic_id={} clock_irqs={} tsc_ticks={} partitions={} upcalls={} upcall_returns={} hypercalls={} kicks_sent={} kick_errors={} kick_ipis={} kick_upcalls={} device_irqs={} edu_intx_irqs={} edu_msi_irqs={} burst_irqs={} burst_outside={} device_before_start={} device_after_end={} spurious={} apic_errors={} unexpected={}",
            machine::APIC_IDS[c].load(Relaxed),
            s.clock_irqs,
            s.end_tick,
            (0..PARTITIONS).filter(|&p| usize::from(SYSTEM.partitions[p].cpu) == c).count(),
            f.counters.upcalls,
            f.counters.returns,
            f.counters.hypercalls,
            f.machine.kicks_sent,
            f.machine.kick_errors,
            s.kick_ipis,
            s.kick_upcalls,
            s.device_irqs,
            s.edu_intx_irqs,
            s.edu_msi_irqs,
            s.burst_irqs,
            s.burst_outside,
            s.device_before_start,
            s.device_after_end,
            f.spurious,
            s.apic_errors,
            s.unexpected,
        );
    }

    for (p, memory) in (0..PARTITIONS).map(|p| (p, memory(p))) {
        let state = &memory.state;
        let guest = state.time.load(Relaxed);
        let cpu = router().partition_cpu(pid(p));
        let t = cpu.time();
        let kernel = END_TICK - t.epoch();
        let good = guest == kernel && t.given() == kernel && t.dropped() == 0;
        ok &= good && state.started.load(Relaxed) == 1;
        say!(
            "RESULT time partition={p} cpu={} policy={:?} guest_time={guest} kernel_ticks={kernel} given={} dropped={} epoch={} entries={} drift={}",
            SYSTEM.partitions[p].cpu,
            t.policy(),
            t.given(),
            t.dropped(),
            t.epoch(),
            t.entries(),
            kernel as i64 - guest as i64
        );
    }

    for p in (0..PARTITIONS).filter(|&p| port_of(p, DEVICE_VECTOR).is_some()) {
        let state = &memory(p).state;
        let received = state.device_events.load(Relaxed);
        let home = usize::from(SYSTEM.partitions[p].cpu);
        let good = received == device_irqs && device_irqs > 0 && kick_upcalls > 0;
        ok &= good;
        say!(
            "RESULT device partition={p} cpu={home} vector={DEVICE_VECTOR:#x} taken={device_irqs} received={received} upcalls={} within_a_tick={} late_max_ticks={} kicks_sent={kicks_sent} kick_ipis={kick_ipis} kick_upcalls={kick_upcalls} kick_latency_max_us={}",
            state.device_upcalls.load(Relaxed),
            state.device_prompt.load(Relaxed),
            state.device_late_max.load(Relaxed),
            time::micros(latency)
        );
    }

    // The shared level line: every interrupt taken reached both partitions; the one
    // that withheld an acknowledgement got its forced unmask (a health-monitor event),
    // the other none.
    let raises = devices::INTX_RAISES.load(Relaxed);
    let gsi = devices::INTX_GSI.load(Relaxed);
    // The engine masked the line at each firing and unmasked it once (when both had
    // acknowledged, or at the timeout): the only line it masks here.
    ok &= line_masks == (intx_irqs, intx_irqs);
    say!(
        "RESULT level-line vector={EDU_INTX_VECTOR:#x} firings={intx_irqs} engine_masks={} engine_unmasks={}",
        line_masks.0,
        line_masks.1
    );
    for p in (0..PARTITIONS).filter(|&p| port_of(p, EDU_INTX_VECTOR).is_some()) {
        let state = &memory(p).state;
        let received = state.edu_events.load(Relaxed);
        let timeouts = ack_timeouts(p);
        let withholds = p == WITHHOLD.0;
        // A coalescing port merges a firing into one still pending (after a forced
        // unmask, while the partition withholds): delivered or coalesced, never lost.
        let stats = router().events().partition(pid(p)).stats();
        let good = received + stats.coalesced == intx_irqs
            && stats.pending == 0
            && intx_irqs > 0
            && timeouts == u64::from(withholds)
            && state.withheld_given.load(Relaxed) == u64::from(withholds);
        ok &= good;
        say!(
            "RESULT edu-intx partition={p} cpu={} gsi={gsi} vector={EDU_INTX_VECTOR:#x} trigger=level raises={raises} taken={intx_irqs} received={received} coalesced={} pending={} upcalls={} withheld={} ack_timeouts={timeouts}",
            SYSTEM.partitions[p].cpu,
            stats.coalesced,
            stats.pending,
            state.edu_upcalls.load(Relaxed),
            state.withheld_given.load(Relaxed),
        );
    }
    let msi_raises = devices::MSI_RAISES.load(Relaxed);
    for p in (0..PARTITIONS).filter(|&p| port_of(p, EDU_MSI_VECTOR).is_some()) {
        let state = &memory(p).state;
        let received = state.msi_events.load(Relaxed);
        ok &= received == msi_irqs && msi_irqs > 0 && msi_irqs == msi_raises;
        say!(
            "RESULT edu-msi partition={p} cpu={} vector={EDU_MSI_VECTOR:#x} trigger=edge raises={msi_raises} taken={msi_irqs} received={received} upcalls={}",
            SYSTEM.partitions[p].cpu,
            state.msi_upcalls.load(Relaxed),
        );
    }

    ok &= burst::report();

    for (p, memory) in (0..PARTITIONS).map(|p| (p, memory(p))) {
        let state = &memory.state;
        let (checks, bad) = (state.fpu_checks.load(Relaxed), state.fpu_bad.load(Relaxed));
        ok &= checks >= 10 && bad == 0;
        say!("RESULT fpu partition={p} checks={checks} mismatches={bad}");
    }
    for (p, memory) in (0..PARTITIONS).map(|p| (p, memory(p))) {
        let state = &memory.state;
        let (checks, bad) = (state.segment_checks.load(Relaxed), state.segment_bad.load(Relaxed));
        ok &= checks >= 10 && bad == 0;
        say!(
            "RESULT segments partition={p} loads={} bases={} checks={checks} mismatches={bad} first_bad_selectors={:#x}",
            state.segments.load(Relaxed),
            state.segment_bases.load(Relaxed),
            state.segment_bad_selectors.load(Relaxed)
        );
    }

    // Hypercalls through `syscall`: partitions 0 and 3 made them (every one counted by
    // the entry), their answers equal to those through `int 0x80`; the entry left with
    // `sysretq` where the frame allowed it, else with `iretq`.
    let mut calls = 0;
    for (p, memory) in (0..PARTITIONS).map(|p| (p, memory(p))) {
        let state = &memory.state;
        let uses = state.syscall.load(Relaxed);
        let (made, compared, bad) = (
            state.syscall_calls.load(Relaxed),
            state.syscall_compared.load(Relaxed),
            state.syscall_mismatches.load(Relaxed),
        );
        calls += made;
        ok &= bad == 0 && if uses == 1 { compared >= 10 } else { made == 0 };
        say!(
            "RESULT syscall partition={p} uses={uses} calls={made} compared={compared} mismatches={bad} first_bad_call={}",
            state.syscall_first_bad.load(Relaxed)
        );
    }
    let entry = irq_x86::syscall::counts();
    ok &= entry.entries == calls && entry.sysret > 0 && entry.iret > 0;
    say!(
        "RESULT syscall-entry entries={} sysret={} iret={} guest_calls={calls}",
        entry.entries,
        entry.sysret,
        entry.iret
    );

    let lost: u64 = (0..=255u8).map(|v| router().line_lost(v)).sum();
    let running: usize = (0..CPUS)
        .filter(|&c| CpuId::new(c as u32).is_ok_and(|id| router().running(id).is_some()))
        .count();
    ok &= lost == 0 && running == 0;
    say!(
        "RESULT engine lines_lost={lost} partitions_running={running} stopped={}",
        router().stopped()
    );
    let dropped = CONSOLE.dropped();
    ok &= dropped == 0;
    say!("RESULT console dropped={dropped}");
    let n = irq_x86::idt::nmi_count();
    say!("RESULT nmi taken={} in_kernel={} in_entry={}", n.taken, n.in_kernel, n.in_entry);
    if ok {
        say!("END OK");
        exit(EXIT_SUCCESS)
    } else {
        say!("END FAIL");
        exit(EXIT_FAILURE)
    }
}
