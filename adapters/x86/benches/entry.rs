//! The callgrind workloads of the x86 adapter's interrupt path, each from the frame the
//! entry stub built (`save`) to the frame that enters the partition's upcall handler
//! (`load`), taken from ring 3:
//!
//! * `workload_clock_irq_to_handler`: a clock interrupt (8259 machine): tick, the
//!   engine's decision, the upcall frame written on the partition's stack, the handler's
//!   registers;
//! * `workload_apic_irq_to_handler`: a device interrupt on an exclusive edge line (an MSI
//!   vector) of an APIC machine, through `ApicController` (accept, the local APIC's EOI),
//!   the engine's raise and decision, the same frame and registers.
//!
//! Hardware is a memory-backed stand-in (EOI, APIC registers and memory writes are plain
//! stores), so this is the adapter's and the engine's software cost; the CPU's own
//! interrupt delivery and the stub's 17 pushes and pops come on top.
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
use irq_router::config::{
    HmTable, PartitionConfig, Route, Schedule, Sharing, SystemConfig, Target, Trigger, VectorSet,
    Window,
};
use irq_router::events::{Binding, PartitionId, PortConfig, Source};
use irq_router::health::HmRecord;
use irq_router::hypercall::CallNumber;
use irq_router::vcpu::{CatchUpPolicy, SharedPage};
use irq_x86::apic::ioapic::IoApicRegisters;
use irq_x86::apic::local::{ApicRegisters, LocalApic, Mode};
use irq_x86::apic::{ApicController, IoApics};
use irq_x86::fpu::ExtendedState;
use irq_x86::irqchip::InterruptController;
use irq_x86::{Hardware, PartitionSpace, Region, TrapFrame, UserRegs, X86Adapter};

const MEMORY: Region = Region { start: 0x60_0000, end: 0x60_8000 };
const CODE: Region = Region { start: 0x40_0000, end: 0x40_1000 };
const HANDLER: u64 = 0x40_0100;
const STACK_TOP: u64 = 0x60_8000;
const CLOCK: u8 = 0x20;
/// The device's vector on the APIC machine (an MSI: no IO-APIC pin behind it).
const DEVICE: u8 = 0x42;
const SPURIOUS: u8 = 0xff;
const ROUNDS: usize = 1000;

/// A local APIC whose registers are memory.
struct RegisterApic([u32; 64]);

impl ApicRegisters for RegisterApic {
    fn mode(&self) -> Mode {
        Mode::XApic
    }
    fn read(&self, reg: u32) -> u32 {
        self.0[(reg >> 4) as usize & 63]
    }
    fn write(&mut self, reg: u32, value: u32) {
        self.0[(reg >> 4) as usize & 63] = black_box(value);
    }
    fn write_icr(&mut self, value: u64) {
        black_box(value);
    }
    fn write_deadline(&mut self, tsc: u64) {
        black_box(tsc);
    }
}

/// No IO-APIC (the device's line is an MSI).
struct NoIoApic;

impl IoApicRegisters for NoIoApic {
    fn read(&mut self, _index: u32) -> u32 {
        0
    }
    fn write(&mut self, _index: u32, _value: u32) {}
}

static IOAPICS: IoApics<NoIoApic> = IoApics::new();

/// Memory-backed hardware: partition memory is a vector, the rest does nothing; with
/// `apic`, an APIC machine's controller.
struct Memory {
    bytes: Vec<u8>,
    apic: Option<ApicController<'static, RegisterApic, NoIoApic>>,
}

impl Hardware for Memory {
    fn controller(&mut self) -> Option<&mut dyn InterruptController> {
        self.apic.as_mut().map(|c| c as &mut dyn InterruptController)
    }
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

static PORTS: [PortConfig; 2] = [
    PortConfig::new(0, Binding::counting(Source::Timer)),
    PortConfig::new(1, Binding::counting(Source::Line(DEVICE as u16))),
];
static DEVICE_TARGETS: [Target; 1] = [Target { partition: 0, port: 1 }];
static ROUTES: [Route; 1] = [Route {
    vector: DEVICE,
    sharing: Sharing::Exclusive,
    trigger: Trigger::Edge,
    kernel_first: false,
    targets: &DEVICE_TARGETS,
    budget: None,
    ack_timeout: 0,
}];
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
        vectors: VectorSet::EMPTY.with(DEVICE),
        channels: 0,
        ping: None,
        health: HmTable::IGNORE_ALL,
    }],
    schedule: Schedule { major_frame: 1_000_000, windows: &WINDOWS },
    routes: &ROUTES,
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

/// A device interrupt from ring 3 (APIC machine) up to the frame that enters the handler.
#[inline(never)]
fn workload_apic_irq_to_handler(
    router: &Router<1>,
    adapter: &mut X86Adapter<1, Memory>,
    frame: &mut TrapFrame,
) {
    adapter.save(0, frame);
    adapter.interrupt(router, DEVICE);
    adapter.load(0, frame);
}

/// The partition's memory and code, for an adapter of either machine.
fn space() -> PartitionSpace {
    PartitionSpace { memory: MEMORY, code: CODE, entry: CODE.start, stack_top: STACK_TOP, arg: 0 }
}

/// `ROUNDS` times: the partition interrupted by `workload` (which must enter its
/// handler), then the handler takes `port`'s event and returns.
fn rounds(
    router: &Router<1>,
    adapter: &mut X86Adapter<1, Memory>,
    port: u64,
    workload: fn(&Router<1>, &mut X86Adapter<1, Memory>, &mut TrapFrame),
) -> usize {
    adapter.enter(router, P, 1_000_000);
    let mut frame = TrapFrame::default();
    frame.load(&running(), 0x23, 0x1b);
    adapter.save(0, &frame);
    call(router, adapter, CallNumber::RegisterUpcall, HANDLER);
    call(router, adapter, CallNumber::EnableIrqs, 0);
    let mut entered = 0;
    for _ in 0..ROUNDS {
        frame.load(&running(), 0x23, 0x1b);
        workload(router, adapter, &mut frame);
        if frame.user_regs().rip == HANDLER && frame.user_regs().rsi == port {
            entered += 1;
        }
        call(router, adapter, CallNumber::TakeCount, port);
        call(router, adapter, CallNumber::UpcallReturn, 0);
    }
    entered
}

/// A started engine of `SYSTEM`.
fn router() -> Router<1> {
    let page: &'static SharedPage = Box::leak(Box::new(SharedPage::new()));
    let router = Router::new(SYSTEM, [page]).expect("a valid system");
    router.start();
    router
}

fn main() {
    let bytes = vec![0; (MEMORY.end - MEMORY.start) as usize];

    let legacy = Memory { bytes: bytes.clone(), apic: None };
    let mut adapter = X86Adapter::new(legacy, (0x20, 0x28), [space()]);
    let entered = rounds(&router(), &mut adapter, 0, workload_clock_irq_to_handler);
    assert_eq!(entered, ROUNDS, "every clock interrupt entered the handler");
    println!("{ROUNDS} clock interrupts, each entered the upcall handler");

    let local = LocalApic::new(RegisterApic([0; 64]));
    let apic = Memory { bytes, apic: Some(ApicController::new(local, &IOAPICS, SPURIOUS)) };
    let mut adapter = X86Adapter::new(apic, (0x20, 0x28), [space()]);
    let entered = rounds(&router(), &mut adapter, 1, workload_apic_irq_to_handler);
    assert_eq!(entered, ROUNDS, "every device interrupt entered the handler");
    println!("{ROUNDS} device interrupts (APIC machine), each entered the upcall handler");
}
