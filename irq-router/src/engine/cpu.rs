//! CPUs: the validated CPU index, the token that says an entry point runs on that CPU with
//! its interrupts off, the per-CPU state, and the window switches of each CPU's schedule.

use core::fmt;
use core::marker::PhantomData;

use notify_core::PartitionId;

use crate::sync::{AtomicU64, maybe_const_fn};

/// A CPU of an engine with `C` CPUs: an index below `C`, checked once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CpuId<const C: usize>(u16);

/// A CPU index at or past the engine's number of CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoSuchCpu(pub u32);

impl fmt::Display for NoSuchCpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no CPU {}", self.0)
    }
}

impl core::error::Error for NoSuchCpu {}

impl<const C: usize> CpuId<C> {
    /// CPU 0, the one every engine has (the only one of a single-CPU engine).
    pub const BOOT: Self = Self(0);

    /// CPU `raw`, if the engine has it.
    ///
    /// # Errors
    /// [`NoSuchCpu`] if `raw >= C`.
    pub const fn new(raw: u32) -> Result<Self, NoSuchCpu> {
        if (raw as usize) < C && raw <= u16::MAX as u32 {
            Ok(Self(raw as u16))
        } else {
            Err(NoSuchCpu(raw))
        }
    }

    /// Its index, below `C`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// Its number, as the adapter's [`kick`](crate::adapter::KernelAdapter::kick) gets it.
    pub const fn raw(self) -> u16 {
        self.0
    }
}

/// The proof an entry point asks for: the caller runs on CPU `cpu` with that CPU's
/// interrupts disabled, for as long as the token lives.
///
/// Every entry point of the engine takes one. The engine relies on it: no entry point is
/// re-entered on one CPU (an interrupt cannot arrive in the middle of a hypercall), so
/// what belongs to the partitions of a CPU is only ever touched by that CPU, one entry
/// point at a time, and the other CPUs reach it through lock-free flags and a
/// [`kick`](crate::adapter::KernelAdapter::kick).
///
/// Build it where the kernel disables interrupts: with
/// [`within`](Self::within) from a `critical_section::with` closure when the kernel's
/// critical-section implementation disables the local CPU's interrupts, or with
/// [`interrupts_disabled`](Self::interrupts_disabled) in a handler the hardware entered with
/// interrupts off. It cannot leave the scope it was made in (it borrows it) and is not
/// `Send`: a token of one CPU cannot be carried to another.
#[derive(Clone, Copy, Debug)]
pub struct Local<'a, const C: usize> {
    cpu: CpuId<C>,
    /// Borrows the interrupts-off scope; `*const ()` makes it neither `Send` nor `Sync`.
    scope: PhantomData<(&'a (), *const ())>,
}

impl<'a, const C: usize> Local<'a, C> {
    /// The caller states that it runs on `cpu` with that CPU's interrupts disabled until
    /// the token is dropped (an interrupt or exception handler entered through an
    /// interrupt gate, a kernel path after `cli`).
    pub const fn interrupts_disabled(cpu: CpuId<C>) -> Self {
        Self { cpu, scope: PhantomData }
    }

    /// Inside a critical section of the kernel's `critical-section` implementation
    /// (which must disable the local CPU's interrupts), on `cpu`.
    pub const fn within(cpu: CpuId<C>, _section: critical_section::CriticalSection<'a>) -> Self {
        Self { cpu, scope: PhantomData }
    }

    /// The CPU.
    pub const fn cpu(&self) -> CpuId<C> {
        self.cpu
    }
}

/// A window switch on one CPU, which its tick returns when the CPU's schedule moves to
/// another window: leave `from` ([`on_partition_exit`](crate::Router::on_partition_exit)),
/// switch to `to`'s context and enter it
/// ([`on_partition_entry`](crate::Router::on_partition_entry)) until `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch<const P: usize> {
    /// The partition whose window ended, if one was scheduled.
    pub from: Option<PartitionId<P>>,
    /// The partition whose window starts, if any (`None`: the CPU idles until `until`).
    pub to: Option<PartitionId<P>>,
    /// The tick at which this stretch of the schedule ends (the next switch).
    pub until: u64,
}

impl<const P: usize> Switch<P> {
    /// Ticks the entered partition has (its budget for `on_partition_entry`), at `now`.
    pub const fn budget(&self, now: u64) -> u64 {
        self.until.saturating_sub(now)
    }
}

/// `PerCpu::slot` value before the first tick of the schedule.
pub(super) const NO_SLOT: u64 = u64::MAX;
/// `PerCpu::running` value when no partition is running.
pub(super) const NOBODY: u64 = u64::MAX;

/// What belongs to one CPU, on its own cache line. Written only by that CPU (its entry
/// points); atomics because inspection may read it from anywhere.
#[repr(align(64))]
pub(super) struct PerCpu {
    /// The partition inside its window on this CPU, or `NOBODY`.
    pub(super) running: AtomicU64,
    /// The partition scheduled in the current stretch (`partition + 1`, 0 for none), or
    /// `NO_SLOT` before the first tick.
    pub(super) slot: AtomicU64,
    /// The tick at which the current stretch of the schedule ends.
    pub(super) until: AtomicU64,
    /// Partitions of this CPU with a deferred health-monitor action (bit `p`).
    pub(super) deferred: AtomicU64,
    /// The tick before which this CPU's ticks are quiet (0: none is): the running
    /// partition's timer port was pending when it was given its last tick and has room
    /// for them, so the ticks up to this one change nothing but that port's count, and
    /// are given later, all at once (see `Router::end_quiet`).
    pub(super) quiet_until: AtomicU64,
    /// The last tick taken quietly (given to the running partition by `end_quiet`).
    pub(super) quiet_now: AtomicU64,
}

impl PerCpu {
    maybe_const_fn! {
        pub(super) fn new() -> Self {
            Self {
                running: AtomicU64::new(NOBODY),
                slot: AtomicU64::new(NO_SLOT),
                until: AtomicU64::new(0),
                deferred: AtomicU64::new(0),
                quiet_until: AtomicU64::new(0),
                quiet_now: AtomicU64::new(0),
            }
        }
    }
}

/// What one partition's CPU and the CPUs raising into it share, on its own cache line
/// (so that the CPUs of other partitions never bounce it).
#[repr(align(64))]
pub(super) struct PerPartition {
    /// Tick up to which the running partition was given its ticks (its own CPU only).
    pub(super) last_tick: AtomicU64,
    /// A kick for it is in flight (1): the next raise need not kick again.
    pub(super) kicked: AtomicU64,
    /// A health-monitor action waiting for its state (see `lifecycle`).
    pub(super) deferred: AtomicU64,
    /// The tick at which its ping must next be looked at (its own CPU only).
    pub(super) ping_at: AtomicU64,
}

impl PerPartition {
    maybe_const_fn! {
        pub(super) fn new() -> Self {
            Self {
                last_tick: AtomicU64::new(0),
                kicked: AtomicU64::new(0),
                deferred: AtomicU64::new(0),
                ping_at: AtomicU64::new(u64::MAX),
            }
        }
    }
}
