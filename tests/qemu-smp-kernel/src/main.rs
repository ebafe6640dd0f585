//! The SMP end-to-end test kernel: a small x86_64 kernel on the x86 adapter's APIC support,
//! booted by QEMU (`-machine q35 -smp 4`) through the PVH entry. It finds the CPUs and the
//! IO-APIC in the ACPI MADT, starts the application processors (INIT-SIPI-SIPI), gives
//! every CPU its own GDT, TSS, interrupt stacks and local APIC timer, and runs the engine
//! on two CPUs at once, each with its own cyclic schedule of two ring-3 partitions. A
//! device interrupt taken on CPU 0 for a partition running on CPU 1 reaches it through
//! the engine's kick, an IPI; QEMU's `edu` device's INTx is a level line through the
//! IO-APIC shared by partitions on both CPUs, and another edu's MSI an edge line. It
//! prints markers and counts on COM1 that the host test (`tests/tests/qemu_smp.rs`)
//! checks.
//!
//! On the host (any target but `x86_64-unknown-none`) this binary does nothing, so that
//! `cargo build --workspace` and `cargo test --workspace` still build it.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod kernel;

#[cfg(not(target_os = "none"))]
fn main() {}
