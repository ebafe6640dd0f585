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

/// CR4.SMEP: ring 0 never executes a user page.
pub const CR4_SMEP: u64 = 1 << 20;
/// CR4.SMAP: ring 0 never reads or writes a user page unless RFLAGS.AC is set.
pub const CR4_SMAP: u64 = 1 << 21;
/// EFER.NXE: the page tables' bit 63 forbids instruction fetches.
pub const EFER_NXE: u64 = 1 << 11;
/// The EFER model-specific register.
const EFER: u32 = 0xC000_0080;

/// Set once any CPU enabled SMAP: the entry stubs then clear RFLAGS.AC (`clac`) before
/// the dispatcher runs, so a partition that set AC in ring 3 cannot lift SMAP for the
/// kernel. Only set on CPUs that have `clac` (CPUID: SMAP), like every CPU of a machine.
pub(crate) static SMAP_ON: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// The protections of the kernel against its own mistakes with partition memory: SMEP
/// (no kernel execution of user pages), SMAP (no kernel access to user pages outside
/// [`UserAccess`]) and NX (no execution of pages the tables mark so).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Protections {
    /// Supervisor-mode execution prevention.
    pub smep: bool,
    /// Supervisor-mode access prevention.
    pub smap: bool,
    /// No-execute pages.
    pub nx: bool,
}

impl Protections {
    /// What this CPU offers (CPUID leaf 7 and leaf 0x8000_0001).
    #[must_use]
    pub fn supported() -> Self {
        let max = crate::apic::msr::cpuid(0, 0).eax;
        let leaf7 = if max >= 7 { crate::apic::msr::cpuid(7, 0).ebx } else { 0 };
        let max_extended = crate::apic::msr::cpuid(0x8000_0000, 0).eax;
        let extended = if max_extended >= 0x8000_0001 {
            crate::apic::msr::cpuid(0x8000_0001, 0).edx
        } else {
            0
        };
        Self::decode(leaf7, extended)
    }

    /// From CPUID leaf 7's EBX and leaf 0x8000_0001's EDX.
    #[must_use]
    pub const fn decode(leaf7_ebx: u32, extended_edx: u32) -> Self {
        Self {
            smep: leaf7_ebx & (1 << 7) != 0,
            smap: leaf7_ebx & (1 << 20) != 0,
            nx: extended_edx & (1 << 20) != 0,
        }
    }

    /// Those of `self` that `want` also names.
    #[must_use]
    pub const fn and(self, want: Self) -> Self {
        Self { smep: self.smep && want.smep, smap: self.smap && want.smap, nx: self.nx && want.nx }
    }

    /// The CR4 bits that turn them on.
    #[must_use]
    pub const fn cr4_bits(self) -> u64 {
        (if self.smep { CR4_SMEP } else { 0 }) | (if self.smap { CR4_SMAP } else { 0 })
    }

    /// The EFER bits that turn them on.
    #[must_use]
    pub const fn efer_bits(self) -> u64 {
        if self.nx { EFER_NXE } else { 0 }
    }

    /// Turns them on for this CPU (each CPU calls it for itself, before its first
    /// partition runs; the application processors' trampoline sets NXE already when
    /// its [`Params::efer`](crate::smp::trampoline::Params) says so).
    ///
    /// # Safety
    /// Ring 0, interrupts disabled; every protection asked for is [`supported`]
    /// (`Self::supported().and(want)`); with SMEP no kernel code is in a user page, with
    /// SMAP the kernel reaches partition memory only through a supervisor mapping or
    /// inside [`UserAccess`], with NX the running code is in a page without bit 63.
    ///
    /// [`supported`]: Self::supported
    pub unsafe fn enable(self) {
        // SAFETY: ring 0 (contract); the bits are supported and the kernel keeps their
        // rules (contract); EFER keeps LME/LMA, only NXE is added.
        unsafe {
            if self.nx {
                let efer = crate::apic::msr::read(EFER);
                crate::apic::msr::write(EFER, efer | EFER_NXE);
            }
            let mut cr4: u64;
            asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags));
            cr4 |= self.cr4_bits();
            asm!("mov cr4, {}", in(reg) cr4, options(nostack, preserves_flags));
        }
        if self.smap {
            SMAP_ON.store(true, core::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Those turned on for this CPU (CR4 and EFER).
    ///
    /// # Safety
    /// Ring 0.
    #[must_use]
    pub unsafe fn active() -> Self {
        let cr4: u64;
        // SAFETY: ring 0 (contract); reading CR4 and EFER has no effect.
        let efer = unsafe {
            asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags));
            crate::apic::msr::read(EFER)
        };
        Self { smep: cr4 & CR4_SMEP != 0, smap: cr4 & CR4_SMAP != 0, nx: efer & EFER_NXE != 0 }
    }
}

/// The kernel's deliberate access to a partition's memory through the partition's own
/// (user) mapping while SMAP is on: RFLAGS.AC set (`stac`) for the guard's life, cleared
/// (`clac`) when it drops. Without SMAP it does nothing.
#[derive(Debug)]
pub struct UserAccess {
    smap: bool,
}

impl UserAccess {
    /// Opens the access.
    ///
    /// # Safety
    /// Ring 0, interrupts disabled until the guard drops (an interrupt handler must not
    /// run with AC set); `smap` only if this CPU has SMAP on.
    #[must_use]
    pub unsafe fn open(smap: bool) -> Self {
        if smap {
            // SAFETY: the CPU has SMAP (contract), so `stac` exists.
            unsafe { asm!("stac", options(nomem, nostack)) };
        }
        Self { smap }
    }
}

impl Drop for UserAccess {
    fn drop(&mut self) {
        if self.smap {
            // SAFETY: `open` ran `stac` on this CPU: it has SMAP, and `clac` exists.
            unsafe { asm!("clac", options(nomem, nostack)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protections_from_cpuid_bits() {
        let all = Protections::decode((1 << 7) | (1 << 20), 1 << 20);
        assert_eq!(all, Protections { smep: true, smap: true, nx: true });
        assert_eq!(all.cr4_bits(), CR4_SMEP | CR4_SMAP);
        assert_eq!(all.efer_bits(), EFER_NXE);
        let none = Protections::decode(!((1 << 7) | (1 << 20)), !(1 << 20));
        assert_eq!(none, Protections::default());
        assert_eq!((none.cr4_bits(), none.efer_bits()), (0, 0));
        let smep_only = Protections { smep: true, ..Protections::default() };
        assert_eq!(all.and(smep_only), smep_only);
        assert_eq!(none.and(all), none);
        assert_eq!(smep_only.cr4_bits(), 1 << 20);
    }
}
