//! The kernel's side: what the engine asks the kernel to do, as the [`KernelAdapter`]
//! trait adapters implement, and [`Recording`], an adapter that records every request
//! as an [`Action`] for tests.

use core::num::NonZeroU64;

use notify_core::Context;

use crate::health::HmRecord;

/// How a partition is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartMode {
    /// Memory reloaded, event state back to the configuration.
    Cold,
    /// Memory kept.
    Warm,
}

/// An upcall to inject into a partition: build the frame on its upcall stack and enter
/// `entry` with the event, so that the upcall-return hypercall resumes the interrupted
/// state exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upcall {
    /// Where to enter: the port's own handler, the partition's upcall entry, or for a
    /// trap its fault handler.
    pub entry: NonZeroU64,
    /// The port delivered (`None` for a trap delivered to the fault handler).
    pub port: Option<u16>,
    /// Events pending on the port when it was taken into service.
    pub pending: u32,
    /// Its context: vector, error code, faulting address, timestamp, sender.
    pub context: Context,
}

/// Why the kernel could not inject an upcall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpcallFault {
    /// The partition's upcall stack is outside its memory (or would overflow it).
    BadStack,
    /// The entry address is outside the partition's executable memory.
    BadEntry,
}

/// What a kernel provides to the engine. Every method is called from the CPU running the
/// engine's entry point, inside that call, with that CPU's interrupts off; none may call
/// back into the engine.
pub trait KernelAdapter {
    /// The kernel's tick counter.
    fn now(&self) -> u64;
    /// Runs the kernel's own handler for `vector` (a route with `kernel_first`).
    fn kernel_handler(&mut self, vector: u8);
    /// End of interrupt for `vector` at the interrupt controller.
    fn eoi(&mut self, vector: u8);
    /// Masks `vector` at the interrupt controller.
    fn mask_line(&mut self, vector: u8);
    /// Unmasks `vector` at the interrupt controller.
    fn unmask_line(&mut self, vector: u8);
    /// Injects an upcall into `partition`, which is running on this CPU (the engine never
    /// injects into a partition of another CPU).
    ///
    /// # Errors
    /// The frame could not be built; the engine reports it to the health monitor.
    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault>;
    /// A partition bound to `cpu` has something the engine must decide on that CPU (an
    /// event became deliverable, it may wake from a wait, or a health-monitor action
    /// waits for it): make `cpu`'s kernel call [`Router::on_resume`](crate::Router::on_resume)
    /// soon. For another CPU, an inter-processor interrupt; for this CPU (`cpu` may be
    /// the caller's own), a flag the kernel checks when the entry point returns. A
    /// partition waiting in its window runs again after that `on_resume` unless it asked
    /// to [`wait`](Self::wait) again. At most one kick per partition is in flight: the
    /// next comes after that partition's CPU resumed or entered it.
    fn kick(&mut self, cpu: u16);
    /// `partition` gave up the rest of its window until an event is deliverable: idle
    /// the CPU until a [`kick`](Self::kick) of it (then call `on_resume`, which wakes the
    /// partition or asks to wait again).
    fn wait(&mut self, partition: u16);
    /// Whether `addr .. addr + len` is memory of `partition` it may hand to the kernel
    /// (for code addresses: executable by it).
    fn user_range(&self, partition: u16, addr: u64, len: u64) -> bool;
    /// Writes `len` bytes at `addr` of `partition`'s memory (already checked with
    /// [`user_range`](Self::user_range)) to the console; returns the bytes written.
    fn console_write(&mut self, partition: u16, addr: u64, len: u64) -> u64;
    /// Restarts `partition` (reload or keep its memory, enter it at its start address).
    fn restart(&mut self, partition: u16, mode: StartMode);
    /// Stops `partition` until the module restarts (ARINC 653 idle mode).
    fn idle(&mut self, partition: u16);
    /// Stops the whole module: every CPU (the engine's entry points do nothing once it
    /// is stopped, but interrupts keep arriving until the kernel stops them).
    fn stop_module(&mut self);
    /// Writes a health-monitor record to the kernel's log.
    fn log(&mut self, record: &HmRecord);
    /// The upcall (or fault handler) `partition` was running returned: an upcall-return
    /// hypercall succeeded. Restore the interrupted state saved when that upcall was
    /// injected. Called inside the hypercall, before the engine goes on: an upcall it
    /// injects next (an event due meanwhile) is built over the restored state. The
    /// default does nothing, for an adapter that restores the state itself once the
    /// hypercall has returned with success.
    fn upcall_return(&mut self, partition: u16) {
        let _ = partition;
    }
}

/// One request the engine made of the kernel, as [`Recording`] keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// [`KernelAdapter::kernel_handler`].
    KernelHandler(u8),
    /// [`KernelAdapter::eoi`].
    Eoi(u8),
    /// [`KernelAdapter::mask_line`].
    Mask(u8),
    /// [`KernelAdapter::unmask_line`].
    Unmask(u8),
    /// [`KernelAdapter::inject_upcall`].
    Upcall(u16, Upcall),
    /// [`KernelAdapter::kick`] (the CPU).
    Kick(u16),
    /// [`KernelAdapter::wait`].
    Wait(u16),
    /// [`KernelAdapter::console_write`]: partition, address, length.
    Console(u16, u64, u64),
    /// [`KernelAdapter::restart`].
    Restart(u16, StartMode),
    /// [`KernelAdapter::idle`].
    Idle(u16),
    /// [`KernelAdapter::stop_module`].
    StopModule,
    /// [`KernelAdapter::log`].
    Log(HmRecord),
}

/// A [`KernelAdapter`] that records every request (the last `N`; older ones are counted
/// in [`dropped`](Self::dropped)), with a settable clock and settable upcall failures.
/// The test double for the engine.
#[derive(Debug)]
pub struct Recording<const N: usize = 256> {
    /// The tick counter [`KernelAdapter::now`] returns.
    pub now: u64,
    /// When set, upcalls fail with this fault.
    pub upcall_fault: Option<UpcallFault>,
    /// Each partition's memory, for [`KernelAdapter::user_range`]: `[start, end)` of
    /// partition `p` is `memory.0 + p * memory.1 .. + memory.1`.
    pub memory: (u64, u64),
    actions: heapless::Deque<Action, N>,
    dropped: u64,
}

impl<const N: usize> Default for Recording<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Recording<N> {
    /// An empty recording at tick 0.
    pub const fn new() -> Self {
        Self {
            now: 0,
            upcall_fault: None,
            memory: (0x40_0000, 0x10_0000),
            actions: heapless::Deque::new(),
            dropped: 0,
        }
    }

    fn record(&mut self, action: Action) {
        if self.actions.is_full() {
            self.actions.pop_front();
            self.dropped += 1;
        }
        // Cannot fail: a slot was just freed if the deque was full.
        let _ = self.actions.push_back(action);
    }

    /// The recorded actions, oldest first.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter()
    }

    /// Takes the recorded actions out, oldest first.
    pub fn take(&mut self) -> impl Iterator<Item = Action> + '_ {
        core::iter::from_fn(|| self.actions.pop_front())
    }

    /// Actions that no longer fit and were forgotten.
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl<const N: usize> KernelAdapter for Recording<N> {
    fn now(&self) -> u64 {
        self.now
    }
    fn kernel_handler(&mut self, vector: u8) {
        self.record(Action::KernelHandler(vector));
    }
    fn eoi(&mut self, vector: u8) {
        self.record(Action::Eoi(vector));
    }
    fn mask_line(&mut self, vector: u8) {
        self.record(Action::Mask(vector));
    }
    fn unmask_line(&mut self, vector: u8) {
        self.record(Action::Unmask(vector));
    }
    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        match self.upcall_fault {
            Some(fault) => Err(fault),
            None => {
                self.record(Action::Upcall(partition, *upcall));
                Ok(())
            }
        }
    }
    fn kick(&mut self, cpu: u16) {
        self.record(Action::Kick(cpu));
    }
    fn wait(&mut self, partition: u16) {
        self.record(Action::Wait(partition));
    }
    fn user_range(&self, partition: u16, addr: u64, len: u64) -> bool {
        let (base, size) = self.memory;
        let start = base + u64::from(partition) * size;
        addr >= start && len <= size && addr - start <= size - len
    }
    fn console_write(&mut self, partition: u16, addr: u64, len: u64) -> u64 {
        self.record(Action::Console(partition, addr, len));
        len
    }
    fn restart(&mut self, partition: u16, mode: StartMode) {
        self.record(Action::Restart(partition, mode));
    }
    fn idle(&mut self, partition: u16) {
        self.record(Action::Idle(partition));
    }
    fn stop_module(&mut self) {
        self.record(Action::StopModule);
    }
    fn log(&mut self, record: &HmRecord) {
        self.record(Action::Log(*record));
    }
}
