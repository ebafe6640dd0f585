//! # irq-x86
//!
//! The x86 adapter of the interrupt-virtualization subsystem: what a small x86_64
//! partitioning kernel needs to run `irq-router` on real (or emulated) hardware.
//!
//! The design of the whole subsystem (layout, data flow, how the engine runs on several
//! CPUs) is in the repository's `docs/architecture.md`.
//!
//! * [`pic`]: the two 8259s (remap, mask/unmask, EOI, IRR/ISR, spurious IRQ 7 and 15);
//!   [`pit`]: channel 0 rate programming; [`serial`]: COM1, written through a bounded
//!   [`console::OutputBuffer`] the kernel drains outside the partitions' windows.
//! * [`gdt`] and [`idt`]: descriptors for ring-3 segments and a TSS, and 256 entry stubs
//!   that hand the vector and the error code to one dispatcher with a [`TrapFrame`].
//! * [`X86Adapter`]: the `KernelAdapter` implementation, and the entry points a
//!   dispatcher calls (hypercall, trap, clock, interrupt, window entry and exit).
//! * [`fpu`]: each partition's x87/SSE/AVX state and FS/GS selectors and bases, saved
//!   and restored on every switch, reset on restart.
//! * [`irqchip`]: the one trait the adapter acknowledges and masks through, with the 8259
//!   pair and the APICs as its implementations; [`apic`]: the local APIC (xAPIC and
//!   x2APIC), the IO-APICs, IPIs, MSIs, and time from the TSC with the local APIC timer;
//!   [`acpi`]: the MADT; [`smp`]: application processors started through a real-mode
//!   trampoline, per-CPU tables and stacks, and the `Hardware` of one CPU of such a
//!   machine.
//! * [`syscall`]: `syscall`/`sysret` as a second hypercall entry beside `int 0x80` (the
//!   same registers, the same frame, the same dispatcher).
//! * [`frame`] and [`regs`]: the ring-3 upcall frame, the "upcall return" that restores
//!   the exact interrupted state, and the hypercall register mapping, as pure functions
//!   with host tests.
//!
//! Everything builds on the host; hardware access is only executed by a kernel in ring
//! 0 (the functions that do it are `unsafe`, each with its contract), and the entry
//! stubs exist only for `target_os = "none"`. `tests/qemu-kernel` is the example kernel.
#![no_std]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(target_arch = "x86_64")]
pub mod acpi;
#[cfg(target_arch = "x86_64")]
pub mod adapter;
#[cfg(target_arch = "x86_64")]
pub mod apic;
#[cfg(target_arch = "x86_64")]
mod bare;
pub mod console;
#[cfg(target_arch = "x86_64")]
pub mod cpu;
#[cfg(target_arch = "x86_64")]
pub mod fpu;
pub mod frame;
#[cfg(target_arch = "x86_64")]
pub mod gdt;
pub mod idt;
#[cfg(target_arch = "x86_64")]
pub mod irqchip;
#[cfg(target_arch = "x86_64")]
pub mod pci;
#[cfg(target_arch = "x86_64")]
pub mod pic;
#[cfg(target_arch = "x86_64")]
pub mod pit;
pub mod regs;
#[cfg(target_arch = "x86_64")]
pub mod serial;
#[cfg(target_arch = "x86_64")]
pub mod smp;
#[cfg(target_arch = "x86_64")]
pub mod syscall;

#[cfg(target_arch = "x86_64")]
pub use adapter::{Counters, Hardware, MAX_FRAMES, Notices, PartitionSpace, Region, X86Adapter};
#[cfg(target_arch = "x86_64")]
pub use bare::BareMetal;
pub use frame::{TrapFrame, UpcallFrame};
pub use regs::UserRegs;
