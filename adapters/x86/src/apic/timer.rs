//! Time on an APIC machine: the kernel's tick read from the TSC ([`TscClock`]), the TSC
//! and the local APIC timer calibrated against the PIT, the timer mode chosen from CPUID,
//! and [`TickWatch`], which tells a clock that stopped ticking from one that ticks.
//!
//! The kernel's time is `(rdtsc - origin) / tsc_per_tick`, the same on every CPU (the
//! TSCs of a machine run together: invariant TSC, synchronized at reset). A timer period
//! that is lost (an emulator that falls behind, an interrupt held back too long) then
//! costs no tick: the next interrupt reads the time and the engine gives every tick since
//! the last one. The local APIC timer only says when to look: in TSC-deadline mode it is
//! armed at the TSC value of the next tick; otherwise it runs periodically at the
//! calibrated count of one tick.

use super::local::TimerMode;
use crate::pit::PIT_HZ;

/// The kernel's tick, from the TSC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TscClock {
    origin: u64,
    per_tick: u64,
}

impl TscClock {
    /// A clock at tick 0 when the TSC reads `origin`, with `tsc_hz` TSC counts a second
    /// and `tick_hz` ticks a second; `None` if a tick would be shorter than one count.
    #[must_use]
    pub const fn new(origin: u64, tsc_hz: u64, tick_hz: u32) -> Option<Self> {
        if tick_hz == 0 {
            return None;
        }
        let per_tick = tsc_hz / tick_hz as u64;
        if per_tick == 0 { None } else { Some(Self { origin, per_tick }) }
    }

    /// TSC counts a tick.
    #[must_use]
    pub const fn per_tick(&self) -> u64 {
        self.per_tick
    }

    /// The TSC at tick 0.
    #[must_use]
    pub const fn origin(&self) -> u64 {
        self.origin
    }

    /// The tick at TSC value `tsc` (0 before the origin).
    #[must_use]
    pub const fn tick_at(&self, tsc: u64) -> u64 {
        tsc.saturating_sub(self.origin) / self.per_tick
    }

    /// The TSC value at which tick `tick` starts (saturating).
    #[must_use]
    pub const fn start_of(&self, tick: u64) -> u64 {
        self.origin.saturating_add(tick.saturating_mul(self.per_tick))
    }

    /// `counts` TSC counts in microseconds.
    #[must_use]
    pub const fn micros(&self, counts: u64, tick_hz: u32) -> u64 {
        // counts / per_tick ticks, each 1e6 / tick_hz microseconds.
        (counts as u128 * 1_000_000 / (self.per_tick as u128 * tick_hz as u128)) as u64
    }
}

/// TSC counts a second, from `tsc_counts` counted while the PIT counted `pit_counts`.
#[must_use]
pub const fn tsc_hz(tsc_counts: u64, pit_counts: u32) -> u64 {
    if pit_counts == 0 {
        return 0;
    }
    (tsc_counts as u128 * PIT_HZ as u128 / pit_counts as u128) as u64
}

/// The local APIC timer's initial count for one tick, from `apic_counts` counted while the
/// TSC counted `tsc_counts`, for `tsc_per_tick` TSC counts a tick (rounded to the
/// nearest; at least 1, at most `u32::MAX`).
#[must_use]
pub const fn apic_counts_per_tick(apic_counts: u64, tsc_counts: u64, tsc_per_tick: u64) -> u32 {
    if tsc_counts == 0 {
        return 1;
    }
    let n =
        (apic_counts as u128 * tsc_per_tick as u128 + tsc_counts as u128 / 2) / tsc_counts as u128;
    if n == 0 {
        1
    } else if n > u32::MAX as u128 {
        u32::MAX
    } else {
        n as u32
    }
}

/// The local APIC timer mode to use: TSC-deadline where CPUID offers it (and the kernel
/// allows it), else periodic.
#[must_use]
pub const fn choose_mode(tsc_deadline: bool, allowed: bool) -> TimerMode {
    if tsc_deadline && allowed { TimerMode::TscDeadline } else { TimerMode::Periodic }
}

/// What [`TickWatch::check`] says of a CPU's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockHealth {
    /// It ticked recently.
    Ticking,
    /// It never ticked, and `waited` TSC counts passed since it was started (more than
    /// the limit).
    NeverTicked {
        /// TSC counts since the start.
        waited: u64,
    },
    /// Its last tick was `silent` TSC counts ago (more than the limit).
    Stopped {
        /// TSC counts since its last tick.
        silent: u64,
    },
}

/// The last tick of a clock, as TSC values, and how long a silence is tolerated: a clock
/// that stops ticking is reported, not waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickWatch {
    started: u64,
    last: Option<u64>,
    limit: u64,
}

impl TickWatch {
    /// A clock started at TSC `started` that must tick at least every `limit` TSC counts.
    #[must_use]
    pub const fn new(started: u64, limit: u64) -> Self {
        Self { started, last: None, limit }
    }

    /// It ticked at TSC `tsc`.
    pub const fn ticked(&mut self, tsc: u64) {
        self.last = Some(tsc);
    }

    /// Its health at TSC `now`.
    #[must_use]
    pub const fn check(&self, now: u64) -> ClockHealth {
        match self.last {
            None => {
                let waited = now.saturating_sub(self.started);
                if waited > self.limit {
                    ClockHealth::NeverTicked { waited }
                } else {
                    ClockHealth::Ticking
                }
            }
            Some(last) => {
                let silent = now.saturating_sub(last);
                if silent > self.limit {
                    ClockHealth::Stopped { silent }
                } else {
                    ClockHealth::Ticking
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub use measure::{pit_counts_tsc, pit_wait};

#[cfg(target_arch = "x86_64")]
mod measure {
    use crate::cpu::{inb, outb};

    use super::super::msr::rdtsc;

    /// Port B of the PC: bit 0 gates PIT channel 2, bit 1 drives the speaker, bit 5 reads
    /// channel 2's output.
    const PORT_B: u16 = 0x61;
    /// Channel 2 data port.
    const CHANNEL2: u16 = 0x42;
    /// Channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
    const CHANNEL2_ONE_SHOT: u8 = 0xb0;

    /// Counts `pit_counts` periods of the PIT's 1.193182 MHz clock on channel 2 (the
    /// speaker channel, speaker off) and answers the TSC counts they took, or `None` if
    /// channel 2's output never rose within `spin_limit` polls (no PIT: ask the HPET or
    /// CPUID instead).
    ///
    /// # Safety
    /// Ring 0, interrupts disabled, and the kernel owns PIT channel 2 and port 0x61.
    pub unsafe fn pit_counts_tsc(pit_counts: u16, spin_limit: u64) -> Option<u64> {
        let [lo, hi] = pit_counts.to_le_bytes();
        // SAFETY: ring 0 and the kernel owns the channel and the port (contract): gate off
        // and speaker off, program mode 0, then gate on to start counting.
        unsafe {
            let b = inb(PORT_B) & !0b11;
            outb(PORT_B, b);
            outb(crate::pit::COMMAND, CHANNEL2_ONE_SHOT);
            outb(CHANNEL2, lo);
            outb(CHANNEL2, hi);
            let start = rdtsc();
            outb(PORT_B, b | 1);
            let mut spins = 0u64;
            while inb(PORT_B) & 0x20 == 0 {
                spins += 1;
                if spins > spin_limit {
                    outb(PORT_B, b);
                    return None;
                }
            }
            let end = rdtsc();
            outb(PORT_B, b);
            Some(end - start)
        }
    }

    /// Waits until the TSC passes `deadline` (a bounded busy wait of the boot code, for
    /// the delays of the start-up sequence and of calibration).
    pub fn pit_wait(deadline: u64) {
        while rdtsc() < deadline {
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ClockHealth, TickWatch, TscClock, apic_counts_per_tick, choose_mode, tsc_hz};
    use crate::apic::local::TimerMode;

    #[test]
    fn ticks_from_the_tsc() {
        let clock = TscClock::new(1_000, 2_000_000_000, 1000).unwrap();
        assert_eq!(clock.per_tick(), 2_000_000);
        assert_eq!(clock.tick_at(0), 0, "before the origin");
        assert_eq!(clock.tick_at(1_000 + 1_999_999), 0);
        assert_eq!(clock.tick_at(1_000 + 2_000_000), 1);
        assert_eq!(clock.start_of(5), 1_000 + 10_000_000);
        assert_eq!(clock.start_of(u64::MAX), u64::MAX, "saturates");
        assert_eq!(clock.micros(2_000_000, 1000), 1000);
        assert_eq!(TscClock::new(0, 999, 1000), None, "a tick shorter than a count");
        assert_eq!(TscClock::new(0, 1_000_000, 0), None);
    }

    #[test]
    fn calibration_arithmetic() {
        // A second of PIT counts; then 11_932 of them (10.0001 ms) against a 3 GHz TSC.
        assert_eq!(tsc_hz(3_000_000_000, 1_193_182), 3_000_000_000);
        let hz = tsc_hz(30_000_000, 11_932);
        assert!(hz.abs_diff(3_000_000_000) < 100_000, "{hz}");
        assert_eq!(tsc_hz(1, 0), 0);
        // The APIC counted 625_000 while the TSC counted 30_000_000: one tick of 3_000_000
        // TSC counts is 62_500 APIC counts.
        assert_eq!(apic_counts_per_tick(625_000, 30_000_000, 3_000_000), 62_500);
        assert_eq!(apic_counts_per_tick(0, 10, 10), 1, "never a zero count (a stopped timer)");
        assert_eq!(apic_counts_per_tick(u64::MAX, 1, u64::MAX), u32::MAX);
        assert_eq!(apic_counts_per_tick(5, 0, 10), 1);
    }

    #[test]
    fn the_timer_mode_follows_cpuid() {
        assert_eq!(choose_mode(true, true), TimerMode::TscDeadline);
        assert_eq!(choose_mode(true, false), TimerMode::Periodic);
        assert_eq!(choose_mode(false, true), TimerMode::Periodic);
    }

    #[test]
    fn a_silent_clock_is_reported() {
        let mut watch = TickWatch::new(100, 50);
        assert_eq!(watch.check(150), ClockHealth::Ticking);
        assert_eq!(watch.check(151), ClockHealth::NeverTicked { waited: 51 });
        watch.ticked(160);
        assert_eq!(watch.check(210), ClockHealth::Ticking);
        assert_eq!(watch.check(300), ClockHealth::Stopped { silent: 140 });
        assert_eq!(watch.check(0), ClockHealth::Ticking, "a TSC read before the tick");
    }
}
