//! The adapter against the real engine on the host: hardware replaced by a recording,
//! memory-backed [`Hardware`], so the upcall frame, the upcall return, the hypercall
//! register mapping, the trap path, the refused upcall stack and the spurious-IRQ rule
//! run exactly as in the kernel, minus the privileged instructions.

use irq_router::Router;
use irq_router::adapter::UpcallFault;
use irq_router::config::{
    HmAction, HmKind, HmTable, PartitionConfig, Schedule, SystemConfig, VectorSet, Window,
};
use irq_router::events::{Binding, PartitionId, PortConfig, Source};
use irq_router::health::HmRecord;
use irq_router::hypercall::CallNumber;
use irq_router::vcpu::{CatchUpPolicy, SharedPage};
use irq_x86::fpu::ExtendedState;
use irq_x86::frame::{NO_PORT, UpcallFrame};
use irq_x86::gdt::{KERNEL_CS, TSS_SELECTOR, USER_CS, USER_SS};
use irq_x86::regs::RFLAGS_ENTRY;
use irq_x86::{Hardware, PartitionSpace, Region, TrapFrame, UserRegs, X86Adapter};

const MEMORY: Region = Region { start: 0x60_0000, end: 0x60_8000 };
const CODE: Region = Region { start: 0x40_0000, end: 0x40_1000 };
const ENTRY: u64 = 0x40_0000;
const HANDLER: u64 = 0x40_0100;
const FAULT_HANDLER: u64 = 0x40_0200;
const STACK_TOP: u64 = 0x60_8000;
const CLOCK: u8 = 0x20;

#[derive(Default)]
struct Fake {
    memory: Vec<u8>,
    eois: Vec<u8>,
    master_only_eois: usize,
    isr: u16,
    console: Vec<u8>,
    log: Vec<HmRecord>,
    /// The FPU/SSE/AVX registers and FS/GS selectors and bases of the CPU.
    registers: ExtendedState,
    extended_ops: Vec<&'static str>,
}

impl Fake {
    fn new() -> Self {
        Self { memory: vec![0; (MEMORY.end - MEMORY.start) as usize], ..Self::default() }
    }

    fn offset(addr: u64, len: usize) -> usize {
        assert!(
            MEMORY.contains(addr, len as u64) || CODE.contains(addr, len as u64),
            "the adapter touched {addr:#x}+{len} outside the partition"
        );
        (addr - MEMORY.start) as usize
    }

    fn word(&self, addr: u64) -> u64 {
        let at = Self::offset(addr, 8);
        u64::from_ne_bytes(self.memory[at..at + 8].try_into().unwrap())
    }

    fn set_word(&mut self, addr: u64, value: u64) {
        let at = Self::offset(addr, 8);
        self.memory[at..at + 8].copy_from_slice(&value.to_ne_bytes());
    }
}

impl Hardware for Fake {
    fn eoi(&mut self, irq: u8) {
        self.eois.push(irq);
    }
    fn eoi_master(&mut self) {
        self.master_only_eois += 1;
    }
    fn set_masked(&mut self, _irq: u8, _masked: bool) {}
    fn in_service(&mut self) -> u16 {
        self.isr
    }
    fn console(&mut self, bytes: &[u8]) {
        self.console.extend_from_slice(bytes);
    }
    fn log(&mut self, record: &HmRecord) {
        self.log.push(*record);
    }
    fn stop_module(&mut self) {}
    fn read_user(&self, addr: u64, out: &mut [u8]) {
        if CODE.contains(addr, out.len() as u64) {
            out.fill(b'c');
            return;
        }
        let at = Self::offset(addr, out.len());
        out.copy_from_slice(&self.memory[at..at + out.len()]);
    }
    fn write_user(&mut self, addr: u64, bytes: &[u8]) {
        assert!(MEMORY.contains(addr, bytes.len() as u64), "frames go to private memory only");
        let at = Self::offset(addr, bytes.len());
        self.memory[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn save_extended(&mut self, state: &mut ExtendedState) {
        *state = self.registers.clone();
        self.extended_ops.push("save");
    }
    fn restore_extended(&mut self, state: &ExtendedState) {
        self.registers = state.clone();
        self.extended_ops.push("restore");
    }
}

static PORTS: [PortConfig; 1] = [PortConfig::new(0, Binding::counting(Source::Timer))];
static WINDOWS: [Window; 1] = [Window { partition: 0, start: 0, length: 100 }];
const SYSTEM: SystemConfig<1> = SystemConfig {
    partitions: [PartitionConfig {
        name: "p",
        cpu: 0,
        ports: &PORTS,
        priority_levels: &[],
        timer_port: Some(0),
        error_port: None,
        catch_up: CatchUpPolicy::Replay,
        vectors: VectorSet::EMPTY,
        channels: 0,
        ping: None,
        health: HmTable::IGNORE_ALL
            .on(HmKind::Trap, HmAction::Deliver)
            .on(HmKind::TrapInTrap, HmAction::WarmStart),
    }],
    schedule: Schedule { major_frame: 100, windows: &WINDOWS },
    routes: &[],
    clock_vector: Some(CLOCK),
    channels: &[],
    channel_budgets: &[],
};

const P: PartitionId<1> = match PartitionId::new(0) {
    Ok(p) => p,
    Err(_) => panic!(),
};

struct Machine {
    router: Box<Router<1>>,
    adapter: X86Adapter<1, Fake>,
}

/// A partition inside its window at tick 0, with an upcall entry and a fault handler,
/// interrupts enabled, running "main code" in a recognizable state.
fn machine() -> Machine {
    let page: &'static SharedPage = Box::leak(Box::new(SharedPage::new()));
    let router = Box::new(Router::new(SYSTEM, [page]).expect("valid"));
    router.start();
    let space =
        PartitionSpace { memory: MEMORY, code: CODE, entry: ENTRY, stack_top: STACK_TOP, arg: 0 };
    let mut m = Machine { router, adapter: X86Adapter::new(Fake::new(), (0x20, 0x28), [space]) };
    m.adapter.enter(&m.router, P, 100);
    assert_eq!(m.call(CallNumber::RegisterUpcall, HANDLER), [0, 0]);
    assert_eq!(m.call(CallNumber::RegisterFaultHandler, FAULT_HANDLER), [0, 0]);
    assert_eq!(m.call(CallNumber::EnableIrqs, 0), [0, 0]);
    m.run(&main_code());
    m
}

/// The "main code" state the partition is interrupted in: every register distinct.
fn main_code() -> UserRegs {
    let mut words = [0u64; UserRegs::WORDS];
    for (i, word) in words.iter_mut().enumerate() {
        *word = 0x1111_0000 + i as u64;
    }
    let mut regs = UserRegs::from_words(&words);
    regs.rip = ENTRY + 0x40;
    regs.rsp = STACK_TOP - 0x100;
    regs.rflags = RFLAGS_ENTRY | 0x85; // CF, PF, SF
    regs
}

impl Machine {
    /// The partition runs with `regs` and enters the kernel (as the stubs save it).
    fn run(&mut self, regs: &UserRegs) {
        let mut frame = TrapFrame::default();
        frame.load(regs, 0x23, 0x1b);
        self.adapter.save(0, &frame);
    }

    fn regs(&self) -> UserRegs {
        *self.adapter.regs(0)
    }

    /// A hypercall with `number` and one argument from the current registers.
    fn call(&mut self, number: CallNumber, arg: u64) -> [u64; 2] {
        let mut regs = self.regs();
        regs.rax = number.raw();
        regs.rdi = arg;
        regs.rsi = 0;
        regs.rdx = 0;
        regs.r10 = 0;
        self.run(&regs);
        self.adapter.hypercall(&self.router, P)
    }

    fn tick(&mut self) {
        self.adapter.tick();
        self.adapter.clock(&self.router, CLOCK);
    }

    /// The frame the handler was entered with (`rdi`), read from the partition's stack.
    fn frame(&mut self) -> (u64, UpcallFrame) {
        let at = self.regs().rdi;
        let hw = self.adapter.hardware();
        let mut w = [0u64; UpcallFrame::WORDS];
        for (i, word) in w.iter_mut().enumerate() {
            *word = hw.word(at + 8 * i as u64);
        }
        let frame = UpcallFrame {
            port: w[0],
            pending: w[1],
            vector: w[2],
            error_code: w[3],
            fault_address: w[4],
            timestamp: w[5],
            sender: w[6],
            entry: w[7],
            saved: UserRegs::from_words(w[8..].try_into().unwrap()),
        };
        (at, frame)
    }
}

#[test]
fn a_tick_enters_the_handler_and_upcall_return_restores_the_exact_state() {
    let mut m = machine();
    let interrupted = main_code();
    m.tick();
    let handler = m.regs();
    assert_eq!(handler.rip, HANDLER);
    let (at, frame) = m.frame();
    assert_eq!((handler.rdi, handler.rsi, handler.rsp), (at, 0, at - 8));
    assert_eq!(handler.rflags, RFLAGS_ENTRY);
    assert!(at + UpcallFrame::SIZE <= interrupted.rsp - 128, "below the red zone");
    assert_eq!(m.adapter.hardware().word(at - 8), 0, "zero return address");
    assert_eq!((frame.port, frame.pending, frame.entry), (0, 1, HANDLER));
    assert_eq!(frame.saved, interrupted, "the frame holds the exact interrupted state");
    assert_eq!(m.adapter.upcall_depth(0), 1);
    assert_eq!(m.adapter.hardware().eois, [0], "the clock's EOI");

    // The handler takes the tick (rdi = port 0) and returns.
    assert_eq!(m.call(CallNumber::TakeCount, 0), [0, 1]);
    assert_eq!((m.regs().rax, m.regs().rdx), (0, 1), "answer in rax and rdx");
    let _ = m.call(CallNumber::UpcallReturn, 0);
    assert_eq!(m.regs(), interrupted, "every register, RIP, RFLAGS and RSP restored");
    assert_eq!(m.adapter.upcall_depth(0), 0);
    let c = m.adapter.counters();
    assert_eq!((c.upcalls, c.returns, c.upcall_faults), (1, 1, 0));
}

#[test]
fn an_upcall_after_a_hypercall_returns_with_the_calls_answer() {
    let mut m = machine();
    assert_eq!(m.call(CallNumber::DisableIrqs, 0), [0, 0]);
    let caller = m.regs();
    m.tick();
    assert_eq!(m.regs(), caller, "closed: the tick waits");
    // sti through the hypercall: the upcall follows the answer.
    let reply = m.call(CallNumber::EnableIrqs, 0);
    assert_eq!(reply, [0, 0]);
    let (_, frame) = m.frame();
    let mut expected = caller;
    expected.rax = 0;
    expected.rdx = 0;
    expected.rdi = 0;
    assert_eq!(frame.saved, expected, "the saved state is the caller's with the answer in it");
    let _ = m.call(CallNumber::TakeCount, 0);
    let _ = m.call(CallNumber::UpcallReturn, 0);
    assert_eq!(m.regs(), expected);
}

#[test]
fn an_upcall_stack_outside_the_partition_is_a_health_monitor_event() {
    let mut m = machine();
    let mut bad = main_code();
    bad.rsp = 0x10_0000; // kernel memory
    m.run(&bad);
    m.tick();
    assert_eq!(m.regs(), bad, "no frame written, the partition continues");
    assert_eq!(m.adapter.upcall_depth(0), 0);
    assert_eq!(m.adapter.counters().upcall_faults, 1);
    let record = m.adapter.hardware().log.last().copied().expect("a record");
    assert_eq!((record.kind, record.partition), (HmKind::UpcallFault, Some(0)));
    assert_eq!(record.detail, UpcallFault::BadStack as u64);
    // The tick is still pending: with a good stack it is delivered.
    m.run(&main_code());
    let _ = m.call(CallNumber::Flash, 0);
    let (_, frame) = m.frame();
    assert_eq!((frame.port, frame.pending), (0, 1), "nothing lost");
}

/// Stack pointers at the bottom of the address space (the 344 to 351 that once made the
/// frame arithmetic subtract below zero, and their neighbours) and at its top: refused
/// as a health-monitor event, never a kernel fault (this test also runs with overflow
/// checks on, in the debug profile).
#[test]
fn an_upcall_stack_at_the_edges_of_the_address_space_is_refused() {
    let edges = (0..=400u64).chain([u64::MAX, u64::MAX - 7, 1 << 47, (1 << 47) - 1]);
    for rsp in edges {
        // A fresh machine each time: the tick's delivery is tried at this stack pointer.
        let mut m = machine();
        let mut bad = main_code();
        bad.rsp = rsp;
        m.run(&bad);
        m.tick();
        assert_eq!(m.regs(), bad, "no frame written at rsp {rsp}: the partition continues");
        assert_eq!(m.adapter.upcall_depth(0), 0, "no frame at rsp {rsp}");
        assert_eq!(m.adapter.counters().upcall_faults, 1, "a health-monitor event at rsp {rsp}");
        // The tick is still pending: with a good stack it is delivered.
        m.run(&main_code());
        let _ = m.call(CallNumber::Flash, 0);
        let (_, frame) = m.frame();
        assert_eq!((frame.port, frame.pending), (0, 1), "nothing lost at rsp {rsp}");
    }
}

#[test]
fn a_handler_outside_the_partitions_code_is_refused() {
    let mut m = machine();
    assert_eq!(m.call(CallNumber::RegisterUpcall, 0x10_0000)[0], 4, "BadAddress");
}

#[test]
fn a_trap_goes_to_the_fault_handler_with_vector_and_rip() {
    let mut m = machine();
    let faulting = main_code();
    m.run(&faulting);
    m.adapter.trap(&m.router, P, 6, 0, 0);
    assert_eq!(m.regs().rip, FAULT_HANDLER);
    let (_, frame) = m.frame();
    assert_eq!((frame.port, frame.vector, frame.fault_address), (NO_PORT, 6, faulting.rip));
    assert_eq!(frame.saved, faulting);
    // A page fault reports CR2.
    let _ = m.call(CallNumber::UpcallReturn, 0);
    assert_eq!(m.regs(), faulting);
    m.adapter.trap(&m.router, P, 14, 6, 0xdead_0000);
    let (_, frame) = m.frame();
    assert_eq!((frame.vector, frame.error_code, frame.fault_address), (14, 6, 0xdead_0000));
    // A second trap inside the handler: warm start (its table), back at its entry.
    m.adapter.trap(&m.router, P, 0, 0, 0);
    assert_eq!(m.regs(), UserRegs::entry(ENTRY, STACK_TOP, 0));
    assert_eq!(m.adapter.upcall_depth(0), 0);
    let notices = m.adapter.take_notices(0);
    assert_eq!(notices.restarted, Some(irq_router::adapter::StartMode::Warm));
}

#[test]
fn a_scribbled_frame_cannot_make_the_kernel_fault() {
    let mut m = machine();
    m.tick();
    let (at, _) = m.frame();
    let saved = at + UpcallFrame::SAVED_OFFSET;
    m.adapter.hardware().set_word(saved + 15 * 8, 0xffff_8000_0000_0000); // rip
    m.adapter.hardware().set_word(saved + 16 * 8, u64::MAX); // rflags
    let _ = m.call(CallNumber::TakeCount, 0);
    let _ = m.call(CallNumber::UpcallReturn, 0);
    assert_eq!(m.regs().rip, 0, "faults in ring 3, not in iretq");
    assert_eq!(m.regs().rflags, 0x0CD5 | RFLAGS_ENTRY);
}

#[test]
fn spurious_irq_7_and_15_are_not_acknowledged_at_their_chip() {
    let mut m = machine();
    m.adapter.hardware().eois.clear();
    m.adapter.hardware().isr = 0;
    m.adapter.interrupt(&m.router, 0x27);
    assert!(m.adapter.hardware().eois.is_empty());
    m.adapter.interrupt(&m.router, 0x2f);
    assert!(m.adapter.hardware().eois.is_empty());
    assert_eq!(m.adapter.hardware().master_only_eois, 1, "the cascade's EOI");
    assert_eq!(m.adapter.counters().spurious, 2);
    // Real ones (in service) reach the engine, which acknowledges an unrouted line.
    m.adapter.hardware().isr = 1 << 7;
    m.adapter.interrupt(&m.router, 0x27);
    assert_eq!(m.adapter.hardware().eois, [7]);
}

#[test]
fn console_write_reads_the_partitions_memory() {
    let mut m = machine();
    let mut regs = m.regs();
    regs.rax = CallNumber::ConsoleWrite.raw();
    regs.rdi = CODE.start;
    regs.rsi = 3;
    regs.rdx = 0;
    regs.r10 = 0;
    m.run(&regs);
    assert_eq!(m.adapter.hypercall(&m.router, P), [0, 3]);
    assert_eq!(m.adapter.hardware().console, b"ccc");
    regs.rdi = 0x10_0000;
    m.run(&regs);
    assert_eq!(m.adapter.hypercall(&m.router, P)[0], 4, "BadAddress");
}

#[test]
fn fpu_state_and_segments_are_saved_on_exit_restored_on_entry_and_reset_on_restart() {
    let mut m = machine();
    assert_eq!(m.adapter.hardware().extended_ops, ["restore"], "loaded as it entered");
    // The partition changes its x87 control word and its FS selector.
    let mut its_own = ExtendedState::initial();
    its_own.area_mut()[0] = 0x7F;
    its_own.area_mut()[1] = 0x02;
    its_own.fs = 0x1b;
    m.adapter.hardware().registers = its_own.clone();
    m.adapter.exit(&m.router, P);
    assert_eq!(m.adapter.extended_state(0), &its_own, "saved as it left");
    // Another partition's state is in the registers meanwhile.
    let mut other = ExtendedState::initial();
    other.area_mut()[200] = 0xAA;
    other.gs = 0x2b;
    m.adapter.hardware().registers = other;
    m.adapter.enter(&m.router, P, 100);
    assert_eq!(m.adapter.hardware().registers, its_own, "its own state back, nothing else's");
    assert_eq!(m.adapter.hardware().extended_ops, ["restore", "save", "restore"]);
    // A trap inside its fault handler warm-starts it inside its window: fresh
    // registers at once, and as its saved state.
    m.adapter.trap(&m.router, P, 6, 0, 0);
    m.adapter.trap(&m.router, P, 6, 0, 0);
    assert!(m.adapter.take_notices(0).restarted.is_some(), "restarted");
    assert_eq!(m.adapter.hardware().registers, ExtendedState::initial());
    assert_eq!(m.adapter.extended_state(0), &ExtendedState::initial());
}

/// FS and GS, selectors and bases, are each partition's own: what it leaves is what it
/// finds at its next entry, whatever another partition loaded meanwhile; a restart resets
/// them (null selectors, bases 0).
#[test]
fn fs_and_gs_selectors_and_bases_are_the_partitions_own() {
    let mut m = machine();
    let mut its_own = ExtendedState::initial();
    its_own.fs = USER_SS;
    its_own.gs = 0;
    its_own.fs_base = 0x60_1000;
    its_own.gs_base = 0x7fff_ffff_f000;
    m.adapter.hardware().registers = its_own.clone();
    m.adapter.exit(&m.router, P);
    assert_eq!(m.adapter.extended_state(0), &its_own, "saved as it left, bases included");
    let mut other = ExtendedState::initial();
    other.gs = USER_SS;
    other.fs_base = 0x1234_5000;
    other.gs_base = 0x6666_0000;
    m.adapter.hardware().registers = other;
    m.adapter.enter(&m.router, P, 100);
    assert_eq!(m.adapter.hardware().registers, its_own, "its own selectors and bases back");
    // Restarted inside its window: null selectors and bases 0 at once.
    m.adapter.trap(&m.router, P, 6, 0, 0);
    m.adapter.trap(&m.router, P, 6, 0, 0);
    assert!(m.adapter.take_notices(0).restarted.is_some(), "restarted");
    let r = &m.adapter.hardware().registers;
    assert_eq!((r.fs, r.gs, r.fs_base, r.gs_base), (0, 0, 0, 0));
}

/// Whatever the partition left in FS and GS (a selector that would fault when the kernel
/// reloads it, a non-canonical base), the state loaded for it next loads without a fault:
/// such a selector becomes null, such a base 0; what is valid is kept.
#[test]
fn a_selector_or_base_that_would_fault_on_reload_is_never_loaded() {
    let mut m = machine();
    for (fs, gs, fs_base, gs_base, want) in [
        (USER_CS, KERNEL_CS, 0x8000_0000_0000, 0x60_0000, (0, 0, 0, 0x60_0000)),
        (TSS_SELECTOR, USER_SS, 0x60_2000, u64::MAX, (0, USER_SS, 0x60_2000, u64::MAX)),
        (0x3, 0x4 | 3, 0xffff_0000_0000_0000, 0, (0x3, 0, 0, 0)),
    ] {
        let mut left = ExtendedState::initial();
        left.area_mut()[300] = 0x42;
        (left.fs, left.gs, left.fs_base, left.gs_base) = (fs, gs, fs_base, gs_base);
        m.adapter.hardware().registers = left.clone();
        m.adapter.exit(&m.router, P);
        let saved = m.adapter.extended_state(0);
        assert_eq!((saved.fs, saved.gs, saved.fs_base, saved.gs_base), want, "{fs:#x} {gs:#x}");
        assert_eq!(saved.area(), left.area(), "the FPU state is untouched");
        m.adapter.hardware().registers = ExtendedState::initial();
        m.adapter.enter(&m.router, P, 100);
        let r = &m.adapter.hardware().registers;
        assert_eq!((r.fs, r.gs, r.fs_base, r.gs_base), want, "loaded sanitized");
    }
}
