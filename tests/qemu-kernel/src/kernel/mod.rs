//! The kernel: boot, the one dispatcher every entry stub calls, the cyclic scheduler, and
//! the final report.

mod config;
mod guest;
mod machine;
mod sched;

use core::fmt::Write;

use irq_x86::{BareMetal, Hardware, PartitionSpace, Region, X86Adapter, idt, pit};

use config::{PARTITIONS, PIC_OFFSETS, TICK_HZ, router};
use sched::{KERNEL, Kernel, START_VECTOR};

/// QEMU's `isa-debug-exit` port.
const EXIT_PORT: u16 = 0xf4;
/// Exit code of a run whose checks all passed (QEMU exits with `0x10 << 1 | 1` = 33).
pub(crate) const EXIT_SUCCESS: u8 = 0x10;
/// Exit code of a failed run (QEMU exits with 35).
pub(crate) const EXIT_FAILURE: u8 = 0x11;

/// The 64-bit entry, on the boot stack, interrupts disabled.
#[unsafe(no_mangle)]
extern "C" fn kmain() -> ! {
    // SAFETY: ring 0, interrupts disabled, and this kernel owns the PICs, COM1 and the
    // exit port; the partitions' memory is identity-mapped in every address space
    // (`machine`), and the kernel holds no reference into their stacks.
    let mut hw = unsafe { BareMetal::new(PIC_OFFSETS, Some(EXIT_PORT)) };
    let _ = writeln!(hw, "[kernel] hello from the irq-x86 end-to-end kernel");
    // SAFETY: once, at boot, ring 0, interrupts disabled.
    unsafe { machine::init() };
    let _ = writeln!(hw, "[kernel] GDT, TSS, IDT loaded");
    idt::set_dispatcher(sched::dispatch);
    config::init_router();
    router().start();
    let code = machine::guest_code();
    let (Some(p0_entry), Some(p1_entry)) = (guest::entry(0), guest::entry(1)) else {
        panic!("no partitions' program at {:#x}", guest::GUEST_BASE)
    };
    // Each partition's memory starts its 2 MiB page (the program finds it from its
    // stack), and the kernel address the partitions probe is the kernel's. (The addresses
    // go through `black_box`: the compiler takes two statics for two different addresses,
    // and the linker placed one at the other's.)
    let bases = core::hint::black_box([guest::P0_MEMORY.base(), guest::P1_MEMORY.base()]);
    for (p, base) in bases.into_iter().enumerate() {
        let start = core::hint::black_box(machine::partition_memory(p).0);
        assert!(base == start, "partition {p}'s memory at {base:#x}, its page at {start:#x}");
    }
    let (kernel_start, kernel_end) = machine::kernel_memory();
    assert!(
        (kernel_start..kernel_end).contains(&guest::KERNEL_ADDRESS) && kernel_end <= code.0,
        "the partitions' probe address is in the kernel's memory"
    );
    let spaces: [PartitionSpace; PARTITIONS] = core::array::from_fn(|p| {
        let (start, end) = machine::partition_memory(p);
        PartitionSpace {
            memory: Region { start, end },
            code: Region { start: code.0, end: code.1 },
            entry: if p == 0 { p0_entry } else { p1_entry },
            stack_top: if p == 0 {
                guest::P0_MEMORY.stack.top()
            } else {
                guest::P1_MEMORY.stack.top()
            },
            // The program finds its memory from here.
            arg: start,
        }
    });
    let mut adapter = X86Adapter::new(hw, PIC_OFFSETS, spaces);
    let Some(divisor) = pit::divisor(TICK_HZ) else { panic!("PIT rate") };
    // SAFETY: ring 0, the kernel owns the PIT.
    unsafe { pit::program(divisor) };
    adapter.hardware().set_masked(0, false);
    *KERNEL.lock() = Some(Kernel::new(adapter));
    // Into the dispatcher, which enters the first window in ring 3.
    // SAFETY: the start vector's gate leads to the dispatcher, which never returns here.
    unsafe { core::arch::asm!("int {v}", v = const START_VECTOR, options(noreturn)) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: the kernel is dying; it takes the UART and the exit port back whatever
    // state they are in (interrupts are disabled in every kernel path).
    let mut hw = unsafe { BareMetal::new(PIC_OFFSETS, Some(EXIT_PORT)) };
    let _ = writeln!(hw, "[kernel] PANIC: {info}");
    hw.exit(EXIT_FAILURE)
}
