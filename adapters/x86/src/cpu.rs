//! The few privileged instructions the adapter and its kernel use. Compiled on every
//! x86_64 target (so the host type-checks them) but only ever executed in ring 0 by a
//! kernel: each function is `unsafe` with the condition under which it is sound.

use core::arch::asm;

/// Writes `value` to I/O port `port`.
///
/// # Safety
/// Ring 0 (or I/O privilege), and the write must not break the kernel's invariants
/// (the port belongs to a device the caller drives).
#[inline]
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: the caller runs with I/O privilege and owns the device (function contract).
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

/// Reads I/O port `port`.
///
/// # Safety
/// As [`outb`]: ring 0, and the read has no effect the caller does not own.
#[inline]
#[must_use]
pub unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: the caller runs with I/O privilege and owns the device (function contract).
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// The faulting address of the last page fault.
///
/// # Safety
/// Ring 0.
#[inline]
#[must_use]
pub unsafe fn read_cr2() -> u64 {
    let value: u64;
    // SAFETY: reading CR2 has no side effect; ring 0 by the function contract.
    unsafe { asm!("mov {}, cr2", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// Switches to the page tables at physical address `pml4`.
///
/// # Safety
/// Ring 0; `pml4` is a valid PML4 that maps the running code, its stack and every
/// object the kernel uses afterwards at the same addresses.
#[inline]
pub unsafe fn write_cr3(pml4: u64) {
    // SAFETY: the tables keep the kernel mapped (function contract).
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) };
}

/// Halts until the next interrupt (with interrupts disabled: for ever).
///
/// # Safety
/// Ring 0.
#[inline]
pub unsafe fn hlt() {
    // SAFETY: ring 0 by the function contract; `hlt` only waits.
    unsafe { asm!("hlt", options(nomem, nostack, preserves_flags)) };
}

/// Disables maskable interrupts.
///
/// # Safety
/// Ring 0.
#[inline]
pub unsafe fn cli() {
    // SAFETY: ring 0 by the function contract.
    unsafe { asm!("cli", options(nomem, nostack)) };
}
