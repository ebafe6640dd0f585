//! The `KernelAdapter` of x86: the engine's requests carried out with the interrupt
//! controller (the 8259, or the APICs: [`InterruptController`]) and with ring-3 upcall
//! frames, and the kernel-facing entry points that feed the engine from the
//! dispatcher (hypercall, trap, clock tick, other interrupts, window entry and exit).
//!
//! The adapter keeps each partition's user registers while the kernel works for it. An
//! upcall the engine asks for is checked at once (the handler must be the partition's
//! code, the frame must fit in the partition's own memory, else
//! [`UpcallFault`], a health-monitor event for that
//! partition) and written when the engine's call returns, on top of the state the
//! partition resumes: after a hypercall that is the state with the call's answer in it,
//! so the handler's return lands exactly after the `int 0x80` with its answer. Upcall
//! return restores the saved state from the frame, sanitized
//! ([`UserRegs::sanitized`]).
//!
//! All hardware access goes through [`Hardware`], so this logic runs on the host too
//! (its tests use a memory-backed implementation); [`BareMetal`](crate::BareMetal) is
//! the implementation for a kernel.

use irq_router::Trap;
use irq_router::adapter::{KernelAdapter, StartMode, Upcall, UpcallFault};
use irq_router::events::PartitionId;
use irq_router::health::HmRecord;
use irq_router::hypercall::{CallNumber, SUCCESS};
use irq_router::{CpuId, Local, Router, Switch};

use crate::fpu::ExtendedState;
use crate::frame::{TrapFrame, UpcallFrame, frame_address, frame_span, handler_regs, restored};
use crate::gdt::{USER_CS, USER_SS};
use crate::irqchip::{Accepted, InterruptController, LegacyPic};
use crate::regs::{UserRegs, raw_call, set_reply};

/// What the adapter needs of the machine. Every method is called with interrupts
/// disabled, from the kernel's dispatcher.
pub trait Hardware {
    /// EOI for a real interrupt of line `irq`.
    fn eoi(&mut self, irq: u8);
    /// EOI at the master PIC only (the cascade of a spurious IRQ 15).
    fn eoi_master(&mut self);
    /// Masks or unmasks line `irq`.
    fn set_masked(&mut self, irq: u8, masked: bool);
    /// The PICs' in-service registers (master in bits 0..8).
    fn in_service(&mut self) -> u16;
    /// Writes to the console.
    fn console(&mut self, bytes: &[u8]);
    /// Writes a health-monitor record to the kernel's log.
    fn log(&mut self, record: &HmRecord);
    /// The health monitor stopped the module.
    fn stop_module(&mut self);
    /// Reads partition memory at `addr` (a range the adapter checked against the
    /// partition's [`PartitionSpace`]).
    fn read_user(&self, addr: u64, out: &mut [u8]);
    /// Writes partition memory at `addr` (a range the adapter checked against the
    /// partition's private memory).
    fn write_user(&mut self, addr: u64, bytes: &[u8]);
    /// Saves the running partition's FPU/SSE/AVX registers, FS/GS selectors and FS/GS
    /// bases ([`fpu::save`](crate::fpu::save) on a real machine). The adapter sanitizes
    /// the segments it gets ([`ExtendedState::sanitize_segments`]).
    fn save_extended(&mut self, state: &mut ExtendedState);
    /// Loads a partition's FPU/SSE/AVX registers, FS/GS selectors and then FS/GS bases
    /// ([`fpu::restore`](crate::fpu::restore) on a real machine). The adapter only hands
    /// it states whose segments are sanitized (or initial: null, bases 0).
    fn restore_extended(&mut self, state: &ExtendedState);
    /// The interrupt controller when it is not the 8259 pair the PIC methods above drive
    /// (the local APIC and the IO-APIC): `None`, the default, keeps the 8259
    /// ([`LegacyPic`]).
    fn controller(&mut self) -> Option<&mut dyn InterruptController> {
        None
    }
    /// Makes CPU `cpu` (another one than this adapter's) call the engine's `on_resume`:
    /// an inter-processor interrupt. The default does nothing: a kernel of one CPU is
    /// never asked to kick another.
    fn kick(&mut self, cpu: u16) {
        let _ = cpu;
    }
}

/// A range of addresses `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
}

impl Region {
    /// Whether `addr .. addr + len` lies inside (without wrapping).
    #[must_use]
    pub const fn contains(&self, addr: u64, len: u64) -> bool {
        match addr.checked_add(len) {
            Some(end) => addr >= self.start && end <= self.end,
            None => false,
        }
    }
}

/// A partition's address space as the adapter checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionSpace {
    /// Its private, writable memory: its stacks, where upcall frames go.
    pub memory: Region,
    /// Code it may execute (and read), possibly shared with other partitions: handler
    /// addresses must lie here or in `memory`.
    pub code: Region,
    /// Where it starts (and restarts).
    pub entry: u64,
    /// Its initial stack pointer.
    pub stack_top: u64,
    /// The value of `rdi` at its start.
    pub arg: u64,
}

impl PartitionSpace {
    /// The registers it starts with.
    #[must_use]
    pub const fn start_regs(&self) -> UserRegs {
        UserRegs::entry(self.entry, self.stack_top, self.arg)
    }
}

/// Upcall frames in progress (plus those waiting to be written) per partition.
pub const MAX_FRAMES: usize = 8;

/// What happened to a partition that the kernel's scheduler must act on, collected since
/// it last asked ([`X86Adapter::take_notices`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notices {
    /// The health monitor restarted it (its registers are back at its entry; its window
    /// ended: enter it again to let it use the rest).
    pub restarted: Option<StartMode>,
    /// The health monitor stopped it until the module restarts.
    pub idled: bool,
    /// It gave up the rest of its window until an event is deliverable.
    pub waiting: bool,
    /// An upcall for it was injected (it runs its handler next).
    pub upcalled: bool,
}

#[derive(Clone, Copy, Debug)]
struct Cpu {
    regs: UserRegs,
    /// Addresses of the upcall frames in progress, innermost last.
    frames: [u64; MAX_FRAMES],
    depth: usize,
    /// Upcalls accepted during the current engine call, not yet written.
    pending: [Option<(u64, Upcall)>; MAX_FRAMES],
    queued: usize,
    /// The state the current call resumes instead of `regs` (upcall return).
    resume: Option<UserRegs>,
    generation: u64,
    notices: Notices,
}

/// Counters of what the adapter did, for the kernel's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Upcall frames written.
    pub upcalls: u64,
    /// Upcall returns that restored a frame.
    pub returns: u64,
    /// Upcalls refused (bad stack or entry).
    pub upcall_faults: u64,
    /// Spurious IRQ 7 or 15 seen.
    pub spurious: u64,
    /// Hypercalls handled.
    pub hypercalls: u64,
    /// Traps handled.
    pub traps: u64,
}

/// The x86 adapter for `P` partitions.
pub struct X86Adapter<const P: usize, H> {
    hw: H,
    pic_offsets: (u8, u8),
    ticks: u64,
    spaces: [PartitionSpace; P],
    cpus: [Cpu; P],
    counters: Counters,
    stopped: bool,
    /// The engine kicked this CPU (see [`take_kick`](X86Adapter::take_kick)).
    kicked: bool,
    /// Each partition's FPU/SSE/AVX state and FS/GS selectors and bases while it is not running.
    extended: [ExtendedState; P],
    /// The partition whose extended state is in the registers (inside its window).
    live: Option<usize>,
    /// The CPU this adapter runs on (one adapter per CPU; 0 unless
    /// [`on_cpu`](X86Adapter::on_cpu) said otherwise).
    cpu: u16,
}

/// The token of CPU `cpu` for an engine of `C` CPUs: every engine call is made from a
/// handler entered through an interrupt gate, with interrupts off. `cpu` came from a
/// [`CpuId`] of that engine ([`X86Adapter::on_cpu`]), so it is below `C`.
const fn local<const C: usize>(cpu: u16) -> Local<'static, C> {
    match CpuId::new(cpu as u32) {
        Ok(id) => Local::interrupts_disabled(id),
        Err(_) => Local::interrupts_disabled(CpuId::BOOT),
    }
}

/// The address a trap is reported with: the faulting address for a page fault, the
/// faulting instruction for every other exception.
#[must_use]
pub const fn trap_address(vector: u8, rip: u64, cr2: u64) -> u64 {
    if vector == 14 { cr2 } else { rip }
}

impl<const P: usize, H: Hardware> X86Adapter<P, H> {
    /// An adapter for partitions laid out as `spaces`, with the PICs at `pic_offsets`
    /// (master, slave vectors), at tick 0. Each partition's registers are its start
    /// state.
    pub fn new(hw: H, pic_offsets: (u8, u8), spaces: [PartitionSpace; P]) -> Self {
        let cpus = core::array::from_fn(|p| Cpu {
            regs: spaces[p].start_regs(),
            frames: [0; MAX_FRAMES],
            depth: 0,
            pending: [None; MAX_FRAMES],
            queued: 0,
            resume: None,
            generation: 0,
            notices: Notices::default(),
        });
        Self {
            hw,
            pic_offsets,
            ticks: 0,
            spaces,
            cpus,
            counters: Counters::default(),
            stopped: false,
            kicked: false,
            extended: core::array::from_fn(|_| ExtendedState::initial()),
            live: None,
            cpu: 0,
        }
    }

    /// The adapter of CPU `cpu` (a kernel of several CPUs makes one per CPU, each used
    /// only on its CPU): the engine's entry points it calls name that CPU, and the kicks
    /// the engine asks for another CPU go to [`Hardware::kick`].
    #[must_use]
    pub fn on_cpu<const C: usize>(mut self, cpu: CpuId<C>) -> Self {
        self.cpu = cpu.raw();
        self
    }

    /// The CPU this adapter runs on.
    #[must_use]
    pub const fn cpu(&self) -> u16 {
        self.cpu
    }

    /// Sets the kernel's tick counter to `now` if that is later (a kernel that reads its
    /// time from a clock, such as the TSC, rather than counting interrupts: a lost timer
    /// period then costs no tick). Returns the tick.
    pub fn advance_to(&mut self, now: u64) -> u64 {
        self.ticks = self.ticks.max(now);
        self.ticks
    }

    /// Partition `p`'s FPU/SSE/AVX state and FS/GS selectors and bases as last saved (its start
    /// state before it first ran or after a restart).
    pub fn extended_state(&self, p: usize) -> &ExtendedState {
        &self.extended[p]
    }

    /// The hardware.
    pub fn hardware(&mut self) -> &mut H {
        &mut self.hw
    }

    /// What the adapter did so far.
    #[must_use]
    pub const fn counters(&self) -> Counters {
        self.counters
    }

    /// Whether the health monitor stopped the module.
    #[must_use]
    pub const fn stopped(&self) -> bool {
        self.stopped
    }

    /// Partition `p`'s address space.
    #[must_use]
    pub fn space(&self, p: usize) -> &PartitionSpace {
        &self.spaces[p]
    }

    /// Partition `p`'s registers (as they will be entered next).
    #[must_use]
    pub fn regs(&self, p: usize) -> &UserRegs {
        &self.cpus[p].regs
    }

    /// Upcall frames of partition `p` in progress.
    #[must_use]
    pub fn upcall_depth(&self, p: usize) -> usize {
        self.cpus[p].depth
    }

    /// Whether the engine kicked the CPU since the last call: the partition running on
    /// it has something to take (or its wait ended); [`resume`](Self::resume) it.
    pub const fn take_kick(&mut self) -> bool {
        core::mem::replace(&mut self.kicked, false)
    }

    /// Takes partition `p`'s notices.
    pub fn take_notices(&mut self, p: usize) -> Notices {
        core::mem::take(&mut self.cpus[p].notices)
    }

    /// Stores the user state of the frame (an entry from partition `p` in ring 3).
    pub fn save(&mut self, p: usize, frame: &TrapFrame) {
        self.cpus[p].regs = frame.user_regs();
    }

    /// Makes the frame enter partition `p` in ring 3.
    pub fn load(&self, p: usize, frame: &mut TrapFrame) {
        frame.load(&self.cpus[p].regs, USER_CS, USER_SS);
    }

    /// Advances the kernel's tick counter by one (the clock interrupt, before the
    /// scheduler's window work and [`clock`](Self::clock)). Returns the new tick.
    pub const fn tick(&mut self) -> u64 {
        self.ticks += 1;
        self.ticks
    }

    /// Gives the engine the clock interrupt on `vector` at the current tick (the running
    /// partition's ticks, the frame's housekeeping) and its EOI. Returns the window switch
    /// the configured schedule makes at this tick, if any: leave
    /// [`exit`](Self::exit) `from`, [`enter`](Self::enter) `to` for `budget(now)`.
    pub fn clock<const W: usize, const C: usize>(
        &mut self,
        router: &Router<P, W, C>,
        vector: u8,
    ) -> Option<Switch<P>> {
        let switch = router.on_hardware_irq(&local::<C>(self.cpu), vector, self);
        self.flush();
        switch
    }

    /// The schedule's stretch at the current tick, to enter at boot (before the first
    /// clock interrupt): the same [`Switch`] the clock returns at a window boundary.
    pub fn schedule<const W: usize, const C: usize>(
        &mut self,
        router: &Router<P, W, C>,
    ) -> Option<Switch<P>> {
        let switch = router.on_tick(&local::<C>(self.cpu), self.ticks, self);
        self.flush();
        switch
    }

    /// The kernel's tick counter.
    #[must_use]
    pub const fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Any other interrupt: a spurious one (as the interrupt controller says: the 8259's
    /// IRQ 7 or 15, with the master's EOI for 15's cascade; the local APIC's spurious
    /// vector) is dropped and never reaches the engine; the rest is the engine's.
    pub fn interrupt<const W: usize, const C: usize>(
        &mut self,
        router: &Router<P, W, C>,
        vector: u8,
    ) {
        if self.with_controller(|c| c.accept(vector)) == Accepted::Spurious {
            self.counters.spurious += 1;
            return;
        }
        let _ = router.on_hardware_irq(&local::<C>(self.cpu), vector, self);
        self.flush();
    }

    /// A hypercall of partition `p` (its registers saved): decoded and answered by the
    /// engine, the answer written to `rax`/`rdx`, or for a successful upcall return the
    /// interrupted state restored. Returns the answer.
    pub fn hypercall<const W: usize, const C: usize>(
        &mut self,
        router: &Router<P, W, C>,
        p: PartitionId<P>,
    ) -> [u64; 2] {
        let i = p.index();
        self.counters.hypercalls += 1;
        let raw = raw_call(&self.cpus[i].regs);
        let returning = raw.number == CallNumber::UpcallReturn.raw();
        if returning {
            self.cpus[i].resume = self.saved_state(i);
        }
        let generation = self.cpus[i].generation;
        let reply = router.hypercall(&local::<C>(self.cpu), p, &raw, self);
        let cpu = &mut self.cpus[i];
        let resume = cpu.resume.take();
        if cpu.generation != generation {
            // Restarted by its health monitor: the call belongs to a run that is over.
        } else if let (true, SUCCESS, Some(state)) = (returning, reply[0], resume) {
            cpu.depth -= 1;
            cpu.regs = state;
            self.counters.returns += 1;
        } else {
            set_reply(&mut cpu.regs, reply);
        }
        self.flush();
        reply
    }

    /// A trap of partition `p` (its registers saved) on exception `vector`.
    pub fn trap<const W: usize, const C: usize>(
        &mut self,
        router: &Router<P, W, C>,
        p: PartitionId<P>,
        vector: u8,
        error_code: u64,
        cr2: u64,
    ) {
        self.counters.traps += 1;
        let address = trap_address(vector, self.cpus[p.index()].regs.rip, cr2);
        let trap = Trap { vector, error_code: error_code as u32, address };
        router.on_trap(&local::<C>(self.cpu), p, trap, self);
        self.flush();
    }

    /// Partition `p` enters its window at the current tick for `budget` ticks: its
    /// FPU/SSE/AVX state and FS/GS selectors and bases are loaded (those of a partition still
    /// live saved first).
    pub fn enter<const W: usize, const C: usize>(
        &mut self,
        router: &Router<P, W, C>,
        p: PartitionId<P>,
        budget: u64,
    ) {
        self.make_live(Some(p.index()));
        router.on_partition_entry(&local::<C>(self.cpu), p, self.ticks, budget, self);
        self.flush();
    }

    /// Partition `p` leaves its window at the current tick: its FPU/SSE/AVX state and
    /// FS/GS selectors and bases are saved.
    pub fn exit<const W: usize, const C: usize>(
        &mut self,
        router: &Router<P, W, C>,
        p: PartitionId<P>,
    ) {
        router.on_partition_exit(&local::<C>(self.cpu), p, self.ticks, self);
        self.flush();
        if self.live == Some(p.index()) {
            self.make_live(None);
        }
    }

    /// The interrupt controller: the hardware's own, or the 8259 pair through its PIC
    /// methods.
    fn with_controller<R>(&mut self, f: impl FnOnce(&mut dyn InterruptController) -> R) -> R {
        let offsets = self.pic_offsets;
        match self.hw.controller() {
            Some(controller) => f(controller),
            None => f(&mut LegacyPic::new(&mut self.hw, offsets)),
        }
    }

    /// Saves the live partition's extended state and loads `next`'s.
    fn make_live(&mut self, next: Option<usize>) {
        if self.live == next {
            return;
        }
        if let Some(p) = self.live.take() {
            self.hw.save_extended(&mut self.extended[p]);
            // Whatever the partition left in FS and GS, what is loaded for it next is a
            // selector and bases that load without a fault.
            self.extended[p].sanitize_segments();
        }
        if let Some(p) = next {
            self.hw.restore_extended(&self.extended[p]);
            self.live = Some(p);
        }
    }

    /// The kernel returns to the running partition after a kick (which also ends a
    /// wait).
    pub fn resume<const W: usize, const C: usize>(&mut self, router: &Router<P, W, C>) {
        router.on_resume(&local::<C>(self.cpu), self);
        self.flush();
    }

    /// The saved state of partition `p`'s innermost upcall frame, read back and
    /// sanitized.
    fn saved_state(&self, p: usize) -> Option<UserRegs> {
        let cpu = &self.cpus[p];
        let frame = *cpu.frames.get(cpu.depth.checked_sub(1)?)?;
        let mut bytes = [0u8; UserRegs::WORDS * 8];
        self.hw.read_user(frame + UpcallFrame::SAVED_OFFSET, &mut bytes);
        let mut words = [0u64; UserRegs::WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *word = u64::from_ne_bytes(b);
        }
        Some(restored(&words))
    }

    /// Writes the upcall frames accepted during the engine call just made.
    fn flush(&mut self) {
        for p in 0..P {
            let queued = self.cpus[p].queued;
            for k in 0..queued {
                let Some((frame, upcall)) = self.cpus[p].pending[k].take() else { continue };
                let image = UpcallFrame::new(&upcall, &self.cpus[p].regs);
                let mut bytes = [0u8; UpcallFrame::SIZE as usize + 8];
                for (chunk, word) in bytes[8..].chunks_exact_mut(8).zip(image.to_words()) {
                    chunk.copy_from_slice(&word.to_ne_bytes());
                }
                let (start, _) = frame_span(frame);
                self.hw.write_user(start, &bytes);
                let cpu = &mut self.cpus[p];
                cpu.regs = handler_regs(frame, &image);
                if let Some(slot) = cpu.frames.get_mut(cpu.depth) {
                    *slot = frame;
                    cpu.depth += 1;
                }
                cpu.notices.upcalled = true;
                self.counters.upcalls += 1;
            }
            self.cpus[p].queued = 0;
        }
    }

    /// Where an upcall for partition `p` would be written, or why it cannot be.
    fn place(&self, p: usize, upcall: &Upcall) -> Result<u64, UpcallFault> {
        let space = &self.spaces[p];
        let cpu = &self.cpus[p];
        let entry = upcall.entry.get();
        if !space.code.contains(entry, 1) && !space.memory.contains(entry, 1) {
            return Err(UpcallFault::BadEntry);
        }
        if cpu.depth + cpu.queued >= MAX_FRAMES {
            return Err(UpcallFault::BadStack);
        }
        let rsp = match cpu.queued.checked_sub(1).and_then(|k| cpu.pending[k]) {
            Some((frame, _)) => frame_span(frame).0,
            None => cpu.resume.unwrap_or(cpu.regs).rsp,
        };
        let frame = frame_address(rsp).ok_or(UpcallFault::BadStack)?;
        let (start, len) = frame_span(frame);
        if space.memory.contains(start, len) { Ok(frame) } else { Err(UpcallFault::BadStack) }
    }
}

impl<const P: usize, H: Hardware> KernelAdapter for X86Adapter<P, H> {
    fn now(&self) -> u64 {
        self.ticks
    }

    fn kernel_handler(&mut self, _vector: u8) {
        // The clock's own work (the tick counter) is done by `clock` before the engine
        // is called; no other route is kernel-first in this adapter.
    }

    fn eoi(&mut self, vector: u8) {
        self.with_controller(|c| c.eoi(vector));
    }

    fn mask_line(&mut self, vector: u8) {
        self.with_controller(|c| c.set_masked(vector, true));
    }

    fn unmask_line(&mut self, vector: u8) {
        self.with_controller(|c| c.set_masked(vector, false));
    }

    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        let p = usize::from(partition);
        if p >= P {
            return Err(UpcallFault::BadEntry);
        }
        match self.place(p, upcall) {
            Ok(frame) => {
                let cpu = &mut self.cpus[p];
                cpu.pending[cpu.queued] = Some((frame, *upcall));
                cpu.queued += 1;
                Ok(())
            }
            Err(fault) => {
                self.counters.upcall_faults += 1;
                Err(fault)
            }
        }
    }

    fn kick(&mut self, cpu: u16) {
        if cpu == self.cpu {
            // This CPU: the kernel resumes through `take_kick` as the entry returns.
            self.kicked = true;
        } else {
            self.hw.kick(cpu);
        }
    }

    fn wait(&mut self, partition: u16) {
        if let Some(cpu) = self.cpus.get_mut(usize::from(partition)) {
            cpu.notices.waiting = true;
        }
    }

    fn user_range(&self, partition: u16, addr: u64, len: u64) -> bool {
        self.spaces
            .get(usize::from(partition))
            .is_some_and(|s| s.memory.contains(addr, len) || s.code.contains(addr, len))
    }

    fn console_write(&mut self, partition: u16, addr: u64, len: u64) -> u64 {
        if !self.user_range(partition, addr, len) {
            return 0;
        }
        let mut buffer = [0u8; irq_router::hypercall::CONSOLE_WRITE_MAX as usize];
        let n = (len as usize).min(buffer.len());
        self.hw.read_user(addr, &mut buffer[..n]);
        self.hw.console(&buffer[..n]);
        n as u64
    }

    fn restart(&mut self, partition: u16, mode: StartMode) {
        let p = usize::from(partition);
        let Some(space) = self.spaces.get(p).copied() else { return };
        let cpu = &mut self.cpus[p];
        cpu.regs = space.start_regs();
        cpu.depth = 0;
        cpu.queued = 0;
        cpu.pending = [None; MAX_FRAMES];
        cpu.resume = None;
        cpu.generation += 1;
        cpu.notices.restarted = Some(mode);
        // A new run starts with fresh FPU/SSE/AVX registers, null FS/GS selectors and
        // bases 0, also when it restarts inside its window (its registers are reset at
        // once).
        self.extended[p] = ExtendedState::initial();
        if self.live == Some(p) {
            self.hw.restore_extended(&self.extended[p]);
        }
    }

    fn idle(&mut self, partition: u16) {
        if let Some(cpu) = self.cpus.get_mut(usize::from(partition)) {
            cpu.notices.idled = true;
        }
    }

    fn stop_module(&mut self) {
        self.stopped = true;
        self.hw.stop_module();
    }

    fn log(&mut self, record: &HmRecord) {
        self.hw.log(record);
    }
}
