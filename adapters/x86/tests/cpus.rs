//! The adapter on two CPUs, against the real engine on the host: one adapter per CPU,
//! an interrupt controller of the hardware's own (a recording one standing for the APICs),
//! and a device interrupt taken on CPU 0 for a partition running on CPU 1: the engine's
//! kick becomes the hardware's kick of CPU 1 (an IPI on a machine), and CPU 1's resume
//! enters the partition's handler with the event.

use irq_router::config::{
    HmTable, PartitionConfig, Route, Schedule, Sharing, SystemConfig, Target, Trigger, VectorSet,
    Window,
};
use irq_router::events::{Binding, PartitionId, PortConfig, Source};
use irq_router::health::HmRecord;
use irq_router::hypercall::CallNumber;
use irq_router::vcpu::{CatchUpPolicy, SharedPage};
use irq_router::{CpuId, Router};
use irq_x86::fpu::ExtendedState;
use irq_x86::irqchip::{Accepted, InterruptController};
use irq_x86::{Hardware, PartitionSpace, Region, TrapFrame, UserRegs, X86Adapter};

const DEVICE: u8 = 0x40;
const CLOCK: u8 = 0x30;
const SPURIOUS: u8 = 0xff;
const DEVICE_PORT: u16 = 1;
const HANDLER: u64 = 0x40_0100;

/// What a controller was asked, by vector.
#[derive(Debug, Default)]
struct Chip {
    eois: Vec<u8>,
    masks: Vec<(u8, bool)>,
    spurious: u64,
}

impl InterruptController for Chip {
    fn accept(&mut self, vector: u8) -> Accepted {
        if vector == SPURIOUS {
            self.spurious += 1;
            Accepted::Spurious
        } else {
            Accepted::Real
        }
    }
    fn eoi(&mut self, vector: u8) {
        self.eois.push(vector);
    }
    fn set_masked(&mut self, vector: u8, masked: bool) {
        self.masks.push((vector, masked));
    }
}

/// One CPU's hardware: its controller, the kicks it sent, the partitions' memory (one
/// region for both: each CPU's adapter only touches its own partition's part).
struct Cpu {
    chip: Chip,
    kicks: Vec<u16>,
    memory: Vec<u8>,
    pic_calls: usize,
}

const MEMORY: [Region; 2] =
    [Region { start: 0x60_0000, end: 0x60_8000 }, Region { start: 0x60_8000, end: 0x61_0000 }];
const CODE: Region = Region { start: 0x40_0000, end: 0x40_1000 };

impl Cpu {
    fn new() -> Self {
        Self { chip: Chip::default(), kicks: Vec::new(), memory: vec![0; 0x1_0000], pic_calls: 0 }
    }
}

impl Hardware for Cpu {
    fn eoi(&mut self, _irq: u8) {
        self.pic_calls += 1;
    }
    fn eoi_master(&mut self) {
        self.pic_calls += 1;
    }
    fn set_masked(&mut self, _irq: u8, _masked: bool) {
        self.pic_calls += 1;
    }
    fn in_service(&mut self) -> u16 {
        self.pic_calls += 1;
        0
    }
    fn console(&mut self, _bytes: &[u8]) {}
    fn log(&mut self, _record: &HmRecord) {}
    fn stop_module(&mut self) {}
    fn read_user(&self, addr: u64, out: &mut [u8]) {
        let at = (addr - MEMORY[0].start) as usize;
        out.copy_from_slice(&self.memory[at..at + out.len()]);
    }
    fn write_user(&mut self, addr: u64, bytes: &[u8]) {
        let at = (addr - MEMORY[0].start) as usize;
        self.memory[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn save_extended(&mut self, _state: &mut ExtendedState) {}
    fn restore_extended(&mut self, _state: &ExtendedState) {}
    fn controller(&mut self) -> Option<&mut dyn InterruptController> {
        Some(&mut self.chip)
    }
    fn kick(&mut self, cpu: u16) {
        self.kicks.push(cpu);
    }
}

static P0_PORTS: [PortConfig; 1] = [PortConfig::new(0, Binding::counting(Source::Timer))];
static P1_PORTS: [PortConfig; 2] = [
    PortConfig::new(0, Binding::counting(Source::Timer)),
    PortConfig::new(DEVICE_PORT, Binding::counting(Source::Line(DEVICE as u16))),
];
static WINDOWS: [Window; 2] = [
    Window { partition: 0, start: 0, length: 100 },
    Window { partition: 1, start: 0, length: 100 },
];
static TARGETS: [Target; 1] = [Target { partition: 1, port: DEVICE_PORT }];
static ROUTES: [Route; 1] = [Route {
    vector: DEVICE,
    sharing: Sharing::Exclusive,
    trigger: Trigger::Edge,
    kernel_first: false,
    targets: &TARGETS,
    budget: None,
    ack_timeout: 0,
}];

const fn partition(name: &'static str, cpu: u16, ports: &'static [PortConfig]) -> PartitionConfig {
    PartitionConfig {
        name,
        cpu,
        ports,
        timer_port: Some(0),
        error_port: None,
        catch_up: CatchUpPolicy::Replay,
        vectors: VectorSet::EMPTY.with(DEVICE),
        channels: 0,
        ping: None,
        health: HmTable::IGNORE_ALL,
        priority_levels: &[],
    }
}

const SYSTEM: SystemConfig<2> = SystemConfig {
    partitions: [partition("cpu0", 0, &P0_PORTS), partition("cpu1", 1, &P1_PORTS)],
    schedule: Schedule { major_frame: 100, windows: &WINDOWS },
    routes: &ROUTES,
    clock_vector: Some(CLOCK),
    channels: &[],
    channel_budgets: &[],
};

fn pid(p: u32) -> PartitionId<2> {
    PartitionId::new(p).unwrap()
}

fn cpu(c: u32) -> CpuId<2> {
    CpuId::new(c).unwrap()
}

fn space(p: usize) -> PartitionSpace {
    let memory = MEMORY[p];
    PartitionSpace { memory, code: CODE, entry: CODE.start, stack_top: memory.end, arg: 0 }
}

fn call(
    adapter: &mut X86Adapter<2, Cpu>,
    router: &Router<2, 1, 2>,
    p: usize,
    number: CallNumber,
    arg: u64,
) -> [u64; 2] {
    let mut regs: UserRegs = *adapter.regs(p);
    regs.rax = number.raw();
    regs.rdi = arg;
    regs.rsi = 0;
    regs.rdx = 0;
    regs.r10 = 0;
    let mut frame = TrapFrame::default();
    frame.load(&regs, 0x23, 0x1b);
    adapter.save(p, &frame);
    adapter.hypercall(router, pid(p as u32))
}

#[test]
fn an_interrupt_on_one_cpu_reaches_a_partition_on_another_through_a_kick() {
    let pages: [&'static SharedPage; 2] =
        [Box::leak(Box::new(SharedPage::new())), Box::leak(Box::new(SharedPage::new()))];
    let router: Box<Router<2, 1, 2>> = Box::new(Router::new(SYSTEM, pages).unwrap());
    router.start();
    let spaces = [space(0), space(1)];
    let mut a0 = X86Adapter::new(Cpu::new(), (0x20, 0x28), spaces).on_cpu(cpu(0));
    let mut a1 = X86Adapter::new(Cpu::new(), (0x20, 0x28), spaces).on_cpu(cpu(1));
    assert_eq!((a0.cpu(), a1.cpu()), (0, 1));

    // Each CPU's first tick enters its partition; partition 1 registers its handler.
    for (c, a) in [&mut a0, &mut a1].into_iter().enumerate() {
        a.advance_to(1);
        let switch = a.clock(&router, CLOCK).unwrap();
        assert_eq!(switch.to, Some(pid(c as u32)));
        a.enter(&router, pid(c as u32), switch.budget(1));
        assert_eq!(a.hardware().chip.eois, [CLOCK], "the clock's EOI went to the controller");
    }
    assert_eq!(call(&mut a1, &router, 1, CallNumber::RegisterUpcall, HANDLER), [0, 0]);
    assert_eq!(call(&mut a1, &router, 1, CallNumber::EnableIrqs, 0), [0, 0]);
    // The tick its entry gave comes first: taken, and the handler returns.
    assert_eq!(a1.upcall_depth(1), 1);
    assert_eq!(call(&mut a1, &router, 1, CallNumber::TakeCount, 0), [0, 1]);
    assert_eq!(call(&mut a1, &router, 1, CallNumber::UpcallReturn, 0), [0, 0]);
    assert_eq!(a1.upcall_depth(1), 0);
    assert_eq!(router.running(cpu(1)), Some(pid(1)));

    // The device interrupt arrives on CPU 0: acknowledged there, and CPU 1 is kicked.
    a0.interrupt(&router, DEVICE);
    assert_eq!(a0.hardware().chip.eois, [CLOCK, DEVICE]);
    assert_eq!(a0.hardware().kicks, [1], "a kick of CPU 1, through the hardware");
    assert!(!a0.take_kick(), "not a kick of CPU 0 itself");
    assert_eq!(a1.upcall_depth(1), 0);

    // CPU 1 takes the IPI: its kernel resumes the partition, which enters its handler.
    a1.resume(&router);
    assert_eq!(a1.regs(1).rip, HANDLER);
    assert_eq!(a1.regs(1).rsi, u64::from(DEVICE_PORT));
    assert!(a1.take_notices(1).upcalled);
    assert_eq!(call(&mut a1, &router, 1, CallNumber::TakeCount, u64::from(DEVICE_PORT)), [0, 1]);
    assert_eq!(call(&mut a1, &router, 1, CallNumber::UpcallReturn, 0), [0, 0]);

    // A second interrupt while the first kick's decision is done kicks again.
    a0.interrupt(&router, DEVICE);
    assert_eq!(a0.hardware().kicks, [1, 1]);

    // The spurious vector never reaches the engine, and nothing used the 8259 methods.
    a0.interrupt(&router, SPURIOUS);
    assert_eq!(a0.counters().spurious, 1);
    assert_eq!(a0.hardware().chip.eois, [CLOCK, DEVICE, DEVICE]);
    assert_eq!(a0.hardware().pic_calls + a1.hardware().pic_calls, 0);

    // The kernel's time may jump (read from a clock, a lost timer period): never back.
    assert_eq!(a0.advance_to(7), 7);
    assert_eq!(a0.advance_to(3), 7);
}
