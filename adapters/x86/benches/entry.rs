//! The callgrind workload of the x86 adapter's interrupt path: a clock interrupt taken
//! from ring 3, from the frame the entry stub built (`save`) to the frame that enters the
//! partition's upcall handler (`load`): tick, the engine's decision, the upcall frame
//! written on the partition's stack, the handler's registers. Hardware is a memory-backed
//! stand-in (EOI and memory writes are plain stores), so this is the adapter's and the
//! engine's software cost; the CPU's own interrupt delivery and the stub's 17 pushes and
//! pops come on top.
//!
//! ```text
//! BIN=$(cargo bench -p irq-x86 --bench entry --no-run 2>&1 \
//!     | sed -n 's/.*Executable .*(\(.*\))/\1/p')
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg-x86.out \
//!     --toggle-collect='*workload_*' $BIN
//! callgrind_annotate --inclusive=yes /tmp/cg-x86.out | grep 'workload_'
//! ```
#![allow(missing_docs, reason = "benchmark binary")]

use std::hint::black_box;

use irq_router::Router;
use irq_router::config::{HmTable, PartitionConfig, Schedule, SystemConfig, VectorSet, Window};
use irq_router::events::{Binding, PartitionId, PortConfig, Source};
use irq_router::health::HmRecord;
use irq_router::hypercall::CallNumber;
use irq_router::vcpu::{CatchUpPolicy, SharedPage};
use irq_x86::fpu::ExtendedState;
use irq_x86::{Hardware, PartitionSpace, Region, TrapFrame, UserRegs, X86Adapter};

const MEMORY: Region = Region { start: 0x60_0000, end: 0x60_8000 };
const CODE: Region = Region { start: 0x40_0000, end: 0x40_1000 };
const HANDLER: u64 = 0x40_0100;
const STACK_TOP: u64 = 0x60_8000;
const CLOCK: u8 = 0x20;
const ROUNDS: usize = 1000;

/// Memory-backed hardware: partition memory is a vector, the rest does nothing.
struct Memory {
    bytes: Vec<u8>,
}

impl Hardware for Memory {
    fn eoi(&mut self, irq: u8) {
        black_box(irq);
    }
    fn eoi_master(&mut self) {}
    fn set_masked(&mut self, _irq: u8, _masked: bool) {}
    fn in_service(&mut self) -> u16 {
        0
    }
    fn console(&mut self, _bytes: &[u8]) {}
    fn log(&mut self, _record: &HmRecord) {}
    fn stop_module(&mut self) {}
    fn read_user(&self, addr: u64, out: &mut [u8]) {
        let at = (addr - MEMORY.start) as usize;
        out.copy_from_slice(&self.bytes[at..at + out.len()]);
    }
    fn write_user(&mut self, addr: u64, bytes: &[u8]) {
        let at = (addr - MEMORY.start) as usize;
        self.bytes[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn save_extended(&mut self, state: &mut ExtendedState) {
        black_box(state);
    }
    fn restore_extended(&mut self, state: &ExtendedState) {
        black_box(state);
    }
}

static PORTS: [PortConfig; 1] = [PortConfig::new(0, Binding::counting(Source::Timer))];
static WINDOWS: [Window; 1] = [Window { partition: 0, start: 0, length: 1_000_000 }];
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
        health: HmTable::IGNORE_ALL,
    }],
    schedule: Schedule { major_frame: 1_000_000, windows: &WINDOWS },
    routes: &[],
    clock_vector: Some(CLOCK),
    channels: &[],
    channel_budgets: &[],
};

const P: PartitionId<1> = match PartitionId::new(0) {
    Ok(p) => p,
    Err(_) => panic!(),
};

/// The partition's registers when the clock interrupts it.
fn running() -> UserRegs {
    let mut regs = UserRegs::from_words(&[0x1111; UserRegs::WORDS]);
    regs.rip = CODE.start + 0x40;
    regs.rsp = STACK_TOP - 0x100;
    regs.rflags = 0x202;
    regs
}

/// A hypercall from the partition's current registers.
fn call(router: &Router<1>, adapter: &mut X86Adapter<1, Memory>, number: CallNumber, arg: u64) {
    let mut regs = *adapter.regs(0);
    (regs.rax, regs.rdi, regs.rsi, regs.rdx, regs.r10) = (number.raw(), arg, 0, 0, 0);
    let mut frame = TrapFrame::default();
    frame.load(&regs, 0x23, 0x1b);
    adapter.save(0, &frame);
    let _ = adapter.hypercall(router, P);
}

/// The clock interrupt from ring 3 up to the frame that enters the handler.
#[inline(never)]
fn workload_clock_irq_to_handler(
    router: &Router<1>,
    adapter: &mut X86Adapter<1, Memory>,
    frame: &mut TrapFrame,
) {
    adapter.save(0, frame);
    adapter.tick();
    let _ = adapter.clock(router, CLOCK);
    adapter.load(0, frame);
}

fn main() {
    let page: &'static SharedPage = Box::leak(Box::new(SharedPage::new()));
    let router = Router::new(SYSTEM, [page]).expect("a valid system");
    router.start();
    let space = PartitionSpace {
        memory: MEMORY,
        code: CODE,
        entry: CODE.start,
        stack_top: STACK_TOP,
        arg: 0,
    };
    let memory = Memory { bytes: vec![0; (MEMORY.end - MEMORY.start) as usize] };
    let mut adapter = X86Adapter::new(memory, (0x20, 0x28), [space]);
    adapter.enter(&router, P, 1_000_000);
    let mut frame = TrapFrame::default();
    frame.load(&running(), 0x23, 0x1b);
    adapter.save(0, &frame);
    call(&router, &mut adapter, CallNumber::RegisterUpcall, HANDLER);
    call(&router, &mut adapter, CallNumber::EnableIrqs, 0);
    let mut entered = 0;
    for _ in 0..ROUNDS {
        frame.load(&running(), 0x23, 0x1b);
        workload_clock_irq_to_handler(&router, &mut adapter, &mut frame);
        if frame.user_regs().rip == HANDLER {
            entered += 1;
        }
        // The handler takes its tick and returns.
        call(&router, &mut adapter, CallNumber::TakeCount, 0);
        call(&router, &mut adapter, CallNumber::UpcallReturn, 0);
    }
    assert_eq!(entered, ROUNDS, "every clock interrupt entered the handler");
    println!("{ROUNDS} clock interrupts, each entered the upcall handler");
}
