//! Time: the TSC calibrated against PIT channel 2, the kernel's tick read from the TSC
//! (one clock for every CPU), each CPU's local APIC timer (TSC-deadline where CPUID
//! offers it, else periodic at the calibrated count), and the watch that reports a CPU
//! whose clock stopped ticking.

use core::sync::atomic::{AtomicU64, Ordering};

use irq_x86::apic::local::{AnyApic, LocalApic, TimerMode};
use irq_x86::apic::msr::rdtsc;
use irq_x86::apic::timer::{
    ClockHealth, TickWatch, TscClock, apic_counts_per_tick, pit_counts_tsc, tsc_hz,
};

use super::config::{CLOCK_VECTOR, MAX_CPUS, TICK_HZ};

/// PIT counts of one calibration run (10 ms).
const CALIBRATION_COUNTS: u16 = 11_932;
/// Runs; the shortest is kept (an emulator that lost the CPU in one run made it long).
const CALIBRATION_RUNS: usize = 5;
/// The local APIC timer's divider.
pub(crate) const APIC_DIVIDE: u32 = 16;
/// Ticks a CPU's clock may stay silent before it is reported as stopped.
pub(crate) const SILENCE_TICKS: u64 = 500;

static ORIGIN: AtomicU64 = AtomicU64::new(0);
static PER_TICK: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// The TSC at each CPU's last clock interrupt (0: none yet), and when it was armed.
static LAST_TICK: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static ARMED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// The TSC's rate, measured against PIT channel 2; `None` if channel 2 never counted.
pub(crate) fn calibrate_tsc() -> Option<u64> {
    let mut best = u64::MAX;
    for _ in 0..CALIBRATION_RUNS {
        // SAFETY: boot CPU, ring 0, interrupts disabled; the kernel owns PIT channel 2
        // and port 0x61 (nothing else uses them).
        let counts = unsafe { pit_counts_tsc(CALIBRATION_COUNTS, 1 << 28) }?;
        best = best.min(counts);
    }
    let hz = tsc_hz(best, u32::from(CALIBRATION_COUNTS));
    TSC_HZ.store(hz, Ordering::Relaxed);
    Some(hz)
}

/// The TSC's rate as calibrated.
pub(crate) fn tsc_rate() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Starts the kernel's clock: tick 0 is now. Answers its TSC counts a tick.
pub(crate) fn start_clock(hz: u64) -> Option<u64> {
    let clock = TscClock::new(rdtsc(), hz, TICK_HZ)?;
    PER_TICK.store(clock.per_tick(), Ordering::Relaxed);
    ORIGIN.store(clock.origin(), Ordering::Release);
    Some(clock.per_tick())
}

/// The kernel's clock.
pub(crate) fn clock() -> TscClock {
    let origin = ORIGIN.load(Ordering::Acquire);
    let per_tick = PER_TICK.load(Ordering::Relaxed).max(1);
    TscClock::new(origin, per_tick * u64::from(TICK_HZ), TICK_HZ)
        .unwrap_or_else(|| panic!("the clock is started"))
}

/// The kernel's tick now.
pub(crate) fn now() -> u64 {
    clock().tick_at(rdtsc())
}

/// Waits `micros` microseconds (a TSC spin: the start-up sequence's delays).
pub(crate) fn wait_micros(micros: u64) {
    let counts = tsc_rate() / 1_000_000 * micros;
    irq_x86::apic::timer::pit_wait(rdtsc() + counts);
}

/// The local APIC timer's counts for one tick, measured against the TSC over 10 ms on
/// this CPU (its timer masked while it counts).
pub(crate) fn calibrate_apic(apic: &mut LocalApic<AnyApic>, per_tick: u64) -> u32 {
    apic.timer_setup(TimerMode::OneShot, CLOCK_VECTOR, APIC_DIVIDE);
    let window = tsc_rate() / 100;
    let start = rdtsc();
    apic.timer_load(u32::MAX);
    irq_x86::apic::timer::pit_wait(start + window);
    let counted = u32::MAX - apic.timer_current();
    let elapsed = rdtsc() - start;
    apic.timer_stop();
    apic_counts_per_tick(u64::from(counted), elapsed, per_tick)
}

/// How a CPU's timer runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timer {
    pub(crate) mode: TimerMode,
    /// Local APIC counts a tick (periodic mode).
    pub(crate) counts: u32,
}

impl Timer {
    /// Starts it on this CPU (CPU `cpu`).
    pub(crate) fn start(&self, cpu: usize, apic: &mut LocalApic<AnyApic>) {
        ARMED[cpu].store(rdtsc(), Ordering::Relaxed);
        apic.timer_setup(self.mode, CLOCK_VECTOR, APIC_DIVIDE);
        let first = match self.mode {
            TimerMode::TscDeadline => clock().start_of(now() + 1),
            _ => u64::from(self.counts),
        };
        apic.timer_start(self.mode, CLOCK_VECTOR, first);
    }

    /// A clock interrupt on CPU `cpu` at TSC `tsc`: recorded for the watch, and in
    /// TSC-deadline mode the next deadline armed (the start of the next tick).
    pub(crate) fn ticked(&self, cpu: usize, apic: &mut LocalApic<AnyApic>, tsc: u64) {
        LAST_TICK[cpu].store(tsc, Ordering::Relaxed);
        if self.mode == TimerMode::TscDeadline {
            let clock = clock();
            apic.timer_deadline(clock.start_of(clock.tick_at(tsc) + 1));
        }
    }

    /// Stops it (the end of the run on this CPU).
    pub(crate) fn stop(&self, apic: &mut LocalApic<AnyApic>) {
        apic.timer_stop();
    }
}

/// The health of CPU `cpu`'s clock at TSC `tsc`.
pub(crate) fn health(cpu: usize, tsc: u64) -> ClockHealth {
    let limit = PER_TICK.load(Ordering::Relaxed) * SILENCE_TICKS;
    let mut watch = TickWatch::new(ARMED[cpu].load(Ordering::Relaxed), limit);
    match LAST_TICK[cpu].load(Ordering::Relaxed) {
        0 => {}
        last => watch.ticked(last),
    }
    watch.check(tsc)
}

/// Whether CPU `cpu`'s clock has ticked.
pub(crate) fn has_ticked(cpu: usize) -> bool {
    LAST_TICK[cpu].load(Ordering::Relaxed) != 0
}

/// `counts` TSC counts in microseconds.
pub(crate) fn micros(counts: u64) -> u64 {
    clock().micros(counts, TICK_HZ)
}
