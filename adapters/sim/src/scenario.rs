//! A scenario: everything a run depends on besides the engine. Made from a seed
//! ([`Scenario::from_seed`]) or decoded from bytes ([`Scenario::from_bytes`], the fuzz
//! target's input); either way the run is a pure function of it.

use core::fmt;
use core::num::NonZeroU32;

use irq_router::CatchUpPolicy;

use crate::rng::{Stream, id};
use crate::system::P;

/// The health-monitor table of a partition (see `system::health`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Health {
    /// Traps go to the fault handler; the rest is delivered or ignored.
    Tolerant,
    /// An error of its own, a trap in a trap: cold start.
    ColdOnError,
    /// Traps and errors of its own: warm start; a missed ping: cold start.
    WarmOnError,
    /// Cold start on traps and errors, at most 2 restarts in 3 major frames (then idle).
    Limited,
    /// An error of its own idles it.
    IdleOnError,
    /// A trap in its fault handler stops the module.
    StopOnTrapInTrap,
}

/// How one partition's guest behaves, and how the health monitor treats it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guest {
    /// Its catch-up policy.
    pub catch_up: CatchUpPolicy,
    /// Its health-monitor table.
    pub health: Health,
    /// It is pinged (and answers in its handler).
    pub ping: bool,
    /// It registers a fault handler.
    pub fault_handler: bool,
    /// It acknowledges the level line (otherwise its acknowledgements time out).
    pub acks_level: bool,
    /// It takes a counting port's whole count (otherwise acknowledges one event).
    pub takes: bool,
    /// Guest steps it gets per tick, at most.
    pub speed: u8,
    /// Per mille of steps (outside a handler) of each kind.
    pub cli: u16,
    /// Notifies through its channel.
    pub notify: u16,
    /// Masks or unmasks its line port.
    pub mask: u16,
    /// Idles.
    pub idle: u16,
    /// Traps (a fault in the partition).
    pub trap: u16,
    /// `exec_stop_error` (in a handler too: a restart in the middle of service).
    pub stop_error: u16,
    /// Hypercalls that do not decode.
    pub bad_call: u16,
    /// Scribbles on its shared page.
    pub scribble: u16,
    /// From this tick on it hangs: never runs again (a crash the kernel does not see).
    pub hang_at: Option<u64>,
}

/// The level line's device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// No level device.
    Off,
    /// Asserts from time to time; deasserted when a partition acknowledges it.
    Pulse,
    /// Stuck asserted: fires again at every unmask.
    Stuck,
}

/// Faults injected by the seed (per mille unless said otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Faults {
    /// A device's interrupt lost at the controller.
    pub lost_irq: u16,
    /// A spurious interrupt (an unrouted vector) per tick.
    pub spurious: u16,
    /// An inter-processor interrupt delayed (by up to 40 scheduler steps).
    pub late_ipi: u16,
    /// A CPU stalls (is not scheduled) for a few ticks, per tick.
    pub stall: u16,
    /// The clock jumps by several ticks at once, per tick.
    pub clock_jump: u16,
    /// An upcall the kernel cannot build (its stack is bad).
    pub upcall_fault: u16,
}

/// Everything a run depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The seed of every random stream of the run.
    pub seed: u64,
    /// CPUs of the machine (1 to 8).
    pub cpus: usize,
    /// Major frames to run (then one frame of drain).
    pub frames: u64,
    /// The guests.
    pub guests: [Guest; P],
    /// The edge line's device fires every `line_period` ticks...
    pub line_period: u64,
    /// ... and in a burst of several interrupts with this per mille.
    pub line_burst: u16,
    /// The level line's device.
    pub level: Level,
    /// The storming line's device is on (bursts past its budget), and the storming
    /// partition floods its channel.
    pub storm: bool,
    /// Injected faults.
    pub faults: Faults,
    /// Per mille of engine callbacks at which the scheduler runs other CPUs' steps before
    /// the calling CPU goes on.
    pub preempt: u16,
}

impl Scenario {
    /// Largest CPU count.
    pub const MAX_CPUS: usize = 8;

    /// The scenario of `seed` on `cpus` CPUs (clamped to 1..=8).
    pub fn from_seed(seed: u64, cpus: usize) -> Self {
        let mut r = Stream::new(seed, id::SCENARIO);
        let guest = |r: &mut Stream| {
            let catch_up = match r.below(5) {
                0 | 1 => CatchUpPolicy::Replay,
                2 => CatchUpPolicy::Warp,
                3 => CatchUpPolicy::Collapse,
                _ => CatchUpPolicy::BoundedReplay { max: NonZeroU32::MIN.saturating_add(2) },
            };
            let health = match r.below(8) {
                0..=2 => Health::Tolerant,
                3 => Health::ColdOnError,
                4 => Health::WarmOnError,
                5 => Health::Limited,
                6 => Health::IdleOnError,
                _ => Health::StopOnTrapInTrap,
            };
            let sometimes = |r: &mut Stream, one_in: u64, permille: u64| {
                if r.below(one_in) == 0 { r.below(permille) as u16 + 1 } else { 0 }
            };
            Guest {
                catch_up,
                health,
                ping: r.below(3) == 0,
                fault_handler: r.below(4) != 0,
                acks_level: r.below(5) != 0,
                takes: r.below(2) == 0,
                speed: 1 + r.below(6) as u8,
                cli: r.below(200) as u16,
                notify: r.below(150) as u16,
                mask: sometimes(r, 3, 60),
                idle: r.below(40) as u16,
                trap: sometimes(r, 3, 20),
                stop_error: sometimes(r, 4, 15),
                bad_call: sometimes(r, 4, 20),
                scribble: sometimes(r, 5, 20),
                hang_at: if r.below(12) == 0 { Some(20 + r.below(60)) } else { None },
            }
        };
        let guests = [guest(&mut r), guest(&mut r), guest(&mut r), guest(&mut r)];
        let fault = |r: &mut Stream, one_in: u64, permille: u64| {
            if r.below(one_in) == 0 { 1 + r.below(permille) as u16 } else { 0 }
        };
        let faults = Faults {
            lost_irq: fault(&mut r, 3, 100),
            spurious: fault(&mut r, 3, 100),
            late_ipi: fault(&mut r, 2, 300),
            stall: fault(&mut r, 3, 40),
            clock_jump: fault(&mut r, 4, 40),
            upcall_fault: fault(&mut r, 4, 20),
        };
        Self {
            seed,
            cpus: cpus.clamp(1, Self::MAX_CPUS),
            frames: 3 + r.below(3),
            guests,
            line_period: 1 + r.below(4),
            line_burst: r.below(300) as u16,
            level: match r.below(4) {
                0 => Level::Off,
                1 | 2 => Level::Pulse,
                _ => Level::Stuck,
            },
            storm: r.below(2) == 0,
            faults,
            preempt: 100 + r.below(500) as u16,
        }
    }

    /// A scenario decoded from `bytes` (a fuzz input): a seed, then one byte per choice;
    /// missing bytes choose 0. Every input decodes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut at = 0;
        let mut next = || {
            let b = bytes.get(at).copied().unwrap_or(0);
            at += 1;
            b
        };
        let mut seed = 0u64;
        for _ in 0..8 {
            seed = seed << 8 | u64::from(next());
        }
        let cpus = 1 + usize::from(next() % 8);
        let mut scenario = Self::from_seed(seed, cpus);
        scenario.frames = 1 + u64::from(next() % 6);
        for g in &mut scenario.guests {
            let b = next();
            g.catch_up = match b & 3 {
                0 => CatchUpPolicy::Replay,
                1 => CatchUpPolicy::Warp,
                2 => CatchUpPolicy::Collapse,
                _ => CatchUpPolicy::BoundedReplay { max: NonZeroU32::MIN.saturating_add(1) },
            };
            g.health = match (b >> 2) % 6 {
                0 => Health::Tolerant,
                1 => Health::ColdOnError,
                2 => Health::WarmOnError,
                3 => Health::Limited,
                4 => Health::IdleOnError,
                _ => Health::StopOnTrapInTrap,
            };
            g.ping = b & 0x40 != 0;
            g.acks_level = b & 0x80 == 0;
            let c = next();
            g.trap = u16::from(c & 0x0f) * 3;
            g.stop_error = u16::from(c >> 4) * 2;
            let d = next();
            g.scribble = u16::from(d & 0x0f) * 3;
            g.bad_call = u16::from(d >> 4) * 3;
            g.speed = 1 + next() % 8;
        }
        let e = next();
        scenario.level = match e & 3 {
            0 => Level::Off,
            1 | 2 => Level::Pulse,
            _ => Level::Stuck,
        };
        scenario.storm = e & 4 != 0;
        scenario.line_period = 1 + u64::from((e >> 3) & 3);
        scenario.faults = Faults {
            lost_irq: u16::from(next()) * 2,
            spurious: u16::from(next()) * 2,
            late_ipi: u16::from(next()) * 3,
            stall: u16::from(next() / 4),
            clock_jump: u16::from(next() / 4),
            upcall_fault: u16::from(next() / 8),
        };
        scenario.preempt = u16::from(next()) * 3;
        scenario
    }

    /// Ticks of the run before the drain.
    pub fn ticks(&self) -> u64 {
        self.frames * crate::system::FRAME
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} on {} CPUs, {} frames; line every {} tick(s), bursts {}‰; level {:?}; storm {}; preemption {}‰",
            self.seed,
            self.cpus,
            self.frames,
            self.line_period,
            self.line_burst,
            self.level,
            if self.storm { "on" } else { "off" },
            self.preempt,
        )?;
        writeln!(f, "faults: {:?}", self.faults)?;
        for (p, g) in self.guests.iter().enumerate() {
            writeln!(f, "partition {p}: {g:?}")?;
        }
        Ok(())
    }
}
