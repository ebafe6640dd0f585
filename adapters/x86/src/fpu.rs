//! Each partition's FPU, SSE and AVX state, and its FS and GS selectors and bases: saved
//! when it leaves its window, restored when it enters, reset when it restarts, so that no
//! partition sees another's registers.
//!
//! The kernel itself never touches these registers (`x86_64-unknown-none` generates no
//! SSE or x87 code), so only the partition running owns them: the adapter saves on
//! [`exit`](crate::X86Adapter::exit) and restores on
//! [`enter`](crate::X86Adapter::enter) through [`Hardware`](crate::Hardware), eagerly,
//! on every switch. [`enable`] sets the CPU up once at boot: x87 and SSE usable in ring 3
//! (CR0.EM clear, CR0.MP set, CR4.OSFXSR and CR4.OSXMMEXCPT set) and, where CPUID offers
//! XSAVE, CR4.OSXSAVE with XCR0 = x87 | SSE (| AVX where offered), saved with
//! `xsave64`/`xrstor64`; otherwise `fxsave64`/`fxrstor64`.
//!
//! **FS and GS.** A partition may load its FS and GS selectors (`mov fs, ..` in ring 3)
//! and, where CPUID offers FSGSBASE, write their bases itself (`wrfsbase`, `wrgsbase`):
//! [`enable`] sets CR4.FSGSBASE then, since a partition built for a standard target may
//! use those instructions for its thread pointer. Both selectors and both bases are
//! therefore the partition's: [`save`] reads the selectors and the bases from the
//! `FS_BASE` and `GS_BASE` MSRs (the partition may have changed them with the
//! instructions, so the kernel never assumes the value it loaded), [`restore`] loads the
//! selectors first and the bases after (in 64-bit mode loading a selector reloads the
//! base from its descriptor, 0 for the flat user data segment). The kernel never uses FS
//! or GS itself; the `syscall` entry ([`crate::syscall`]) swaps GS only for the few
//! instructions that find this CPU's stack, and swaps back before the dispatcher, so the
//! `GS_BASE` the adapter saves and loads is always the partition's.
//!
//! Only two selectors are ever loaded by the kernel: a null selector and the user data
//! selector ([`user_selector`]). A partition in ring 3 can load nothing that would fault
//! when the kernel reloads it in ring 0 (a descriptor of DPL 3: the user data segment or
//! the readable user code segment), but the kernel does not rely on that: anything else
//! saved (the user code selector, which is legal but meaningless in FS or GS in 64-bit
//! mode, or any other value) becomes null, so [`restore`] never faults, whatever the
//! state holds. A base that is not canonical (which `wrfsbase` refuses, but which a state
//! built otherwise could hold) becomes 0 for the same reason (`wrmsr` would fault).

use core::arch::asm;

use crate::gdt::USER_SS;

/// Bytes of a save area: the legacy 512-byte region, the 64-byte XSAVE header and the
/// 256-byte AVX state fit with room to spare.
pub const AREA_LEN: usize = 1024;

/// The control word x87 starts with (`fninit`): all exceptions masked, 64-bit precision.
pub const FCW_INIT: u16 = 0x037F;
/// The SSE control and status word at reset: all exceptions masked, round to nearest.
pub const MXCSR_INIT: u32 = 0x1F80;

/// `IA32_FS_BASE`.
pub const FS_BASE_MSR: u32 = 0xC000_0100;
/// `IA32_GS_BASE`.
pub const GS_BASE_MSR: u32 = 0xC000_0101;

/// The selector the kernel loads into FS or GS for a partition that left `selector`
/// there: a null selector (index 0, any RPL) or the user data selector (any RPL) as it
/// is, anything else null. The two kept always load in ring 0 without a fault.
#[must_use]
pub const fn user_selector(selector: u16) -> u16 {
    match selector & !3 {
        0 => selector,
        s if s == USER_SS & !3 => selector,
        _ => 0,
    }
}

/// Whether `address` is canonical (48-bit linear addresses: bits 63 to 47 equal).
#[must_use]
pub const fn canonical(address: u64) -> bool {
    let top = address >> 47;
    top == 0 || top == (1 << 17) - 1
}

/// The base the kernel writes into `FS_BASE` or `GS_BASE` for a partition that left
/// `base` there: itself if canonical, else 0.
#[must_use]
pub const fn user_base(base: u64) -> u64 {
    if canonical(base) { base } else { 0 }
}

/// A partition's extended state: its save area (FXSAVE/XSAVE standard format) and its
/// FS and GS selectors and bases.
#[repr(C, align(64))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtendedState {
    area: [u8; AREA_LEN],
    /// The FS selector.
    pub fs: u16,
    /// The GS selector.
    pub gs: u16,
    /// The FS base (`IA32_FS_BASE`).
    pub fs_base: u64,
    /// The GS base (`IA32_GS_BASE`, the partition's; never the kernel's `KERNEL_GS_BASE`).
    pub gs_base: u64,
}

impl ExtendedState {
    /// The state a partition starts with: x87 and SSE as after `fninit` and reset (the
    /// XSAVE header says every component is in its initial configuration), null FS and
    /// GS selectors, bases 0.
    #[must_use]
    pub const fn initial() -> Self {
        let mut area = [0u8; AREA_LEN];
        let fcw = FCW_INIT.to_le_bytes();
        area[0] = fcw[0];
        area[1] = fcw[1];
        let mxcsr = MXCSR_INIT.to_le_bytes();
        let mut i = 0;
        while i < 4 {
            area[24 + i] = mxcsr[i];
            i += 1;
        }
        Self { area, fs: 0, gs: 0, fs_base: 0, gs_base: 0 }
    }

    /// Makes its segments safe to load in ring 0 ([`user_selector`], [`user_base`]); the
    /// save area is left as it is.
    pub const fn sanitize_segments(&mut self) {
        self.fs = user_selector(self.fs);
        self.gs = user_selector(self.gs);
        self.fs_base = user_base(self.fs_base);
        self.gs_base = user_base(self.gs_base);
    }

    /// The save area (FXSAVE/XSAVE standard format).
    #[must_use]
    pub const fn area(&self) -> &[u8; AREA_LEN] {
        &self.area
    }

    /// The save area, to fill.
    pub const fn area_mut(&mut self) -> &mut [u8; AREA_LEN] {
        &mut self.area
    }

    /// The x87 control word held.
    #[must_use]
    pub const fn fcw(&self) -> u16 {
        u16::from_le_bytes([self.area[0], self.area[1]])
    }

    /// The MXCSR held.
    #[must_use]
    pub const fn mxcsr(&self) -> u32 {
        u32::from_le_bytes([self.area[24], self.area[25], self.area[26], self.area[27]])
    }
}

impl Default for ExtendedState {
    fn default() -> Self {
        Self::initial()
    }
}

/// How the CPU's extended state is saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `fxsave64`/`fxrstor64`: x87 and SSE.
    Fxsave,
    /// `xsave64`/`xrstor64` of the components in `mask` (XCR0).
    Xsave {
        /// The components enabled in XCR0 and saved.
        mask: u64,
    },
}

const CR0_MP: u64 = 1 << 1;
const CR0_EM: u64 = 1 << 2;
const CR0_TS: u64 = 1 << 3;
const CR0_NE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const CR4_FSGSBASE: u64 = 1 << 16;
const CR4_OSXSAVE: u64 = 1 << 18;
const XCR0_X87: u64 = 1;
const XCR0_SSE: u64 = 1 << 1;
const XCR0_AVX: u64 = 1 << 2;

fn cpuid(leaf: u32, subleaf: u32) -> core::arch::x86_64::CpuidResult {
    // `__cpuid_count` is safe on newer compilers, `unsafe` on the oldest one supported.
    #[allow(unused_unsafe)]
    // SAFETY: `cpuid` is available on every x86_64 CPU and only reads.
    unsafe {
        core::arch::x86_64::__cpuid_count(leaf, subleaf)
    }
}

/// Whether CPUID offers `rdfsbase`/`wrfsbase`/`rdgsbase`/`wrgsbase` (leaf 7, EBX bit 0):
/// [`enable`] then lets ring 3 use them (CR4.FSGSBASE).
#[must_use]
pub fn fsgsbase_offered() -> bool {
    cpuid(0, 0).eax >= 7 && cpuid(7, 0).ebx & 1 != 0
}

/// Sets the CPU up so partitions can use x87, SSE and (where offered) AVX, and the
/// FS/GS base instructions where offered ([`fsgsbase_offered`]), and answers how their
/// state is saved. Also loads the initial state into the registers.
///
/// # Safety
/// Ring 0, at boot, before any partition runs.
pub unsafe fn enable() -> Mode {
    let features = cpuid(1, 0);
    let xsave = features.ecx & (1 << 26) != 0;
    let avx = features.ecx & (1 << 28) != 0;
    let mask = XCR0_X87 | XCR0_SSE | if avx { XCR0_AVX } else { 0 };
    let fsgsbase = fsgsbase_offered();
    // SAFETY: ring 0 (contract); these bits only enable x87/SSE (and the FS/GS base
    // instructions) for every privilege level, and the kernel's own code uses neither
    // (nor FS or GS).
    unsafe {
        let mut cr0: u64;
        asm!("mov {}, cr0", out(reg) cr0, options(nomem, nostack, preserves_flags));
        cr0 = (cr0 & !(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE;
        asm!("mov cr0, {}", in(reg) cr0, options(nostack, preserves_flags));
        let mut cr4: u64;
        asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags));
        cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
        if xsave {
            cr4 |= CR4_OSXSAVE;
        }
        if fsgsbase {
            cr4 |= CR4_FSGSBASE;
        }
        asm!("mov cr4, {}", in(reg) cr4, options(nostack, preserves_flags));
    }
    let mode = if xsave {
        // SAFETY: CR4.OSXSAVE is set just above; the mask only has supported components.
        unsafe {
            asm!("xsetbv", in("ecx") 0u32, in("eax") mask as u32, in("edx") (mask >> 32) as u32,
                options(nomem, nostack, preserves_flags));
        }
        // The area XCR0's components need, in the standard format.
        if cpuid(0xD, 0).ebx as usize <= AREA_LEN { Mode::Xsave { mask } } else { Mode::Fxsave }
    } else {
        Mode::Fxsave
    };
    // SAFETY: the state just enabled, from a well-formed initial area.
    unsafe { restore(mode, &ExtendedState::initial()) };
    mode
}

/// Saves the registers into `state`: the save area, the FS and GS selectors and the FS
/// and GS bases (from their MSRs: the partition may have written them with `wrfsbase`).
///
/// # Safety
/// Ring 0, after [`enable`] answered `mode`; `GS_BASE` holds the partition's base (not
/// between the `swapgs` pair of the `syscall` entry).
pub unsafe fn save(mode: Mode, state: &mut ExtendedState) {
    let area = state.area.as_mut_ptr();
    // SAFETY: `area` is 64-byte aligned (the struct's alignment, the area at offset 0)
    // and AREA_LEN >= what the mode writes (checked by `enable` for XSAVE, 512 for
    // FXSAVE); ring 0 after `enable` (contract).
    unsafe {
        match mode {
            Mode::Fxsave => asm!("fxsave64 [{}]", in(reg) area, options(nostack, preserves_flags)),
            Mode::Xsave { mask } => asm!("xsave64 [{}]", in(reg) area, in("eax") mask as u32,
                in("edx") (mask >> 32) as u32, options(nostack, preserves_flags)),
        }
        let fs: u16;
        let gs: u16;
        asm!("mov {0:x}, fs", "mov {1:x}, gs", out(reg) fs, out(reg) gs,
            options(nomem, nostack, preserves_flags));
        state.fs = fs;
        state.gs = gs;
        state.fs_base = crate::apic::msr::read(FS_BASE_MSR);
        state.gs_base = crate::apic::msr::read(GS_BASE_MSR);
    }
}

/// Loads `state` into the registers: the save area, then the FS and GS selectors
/// (sanitized: [`user_selector`]), then the bases (sanitized: [`user_base`]), after the
/// selectors, whose loading resets them.
///
/// # Safety
/// Ring 0, after [`enable`] answered `mode`; `state`'s area came from [`save`] or
/// [`ExtendedState::initial`] (a malformed area faults with #GP); not between the
/// `swapgs` pair of the `syscall` entry.
pub unsafe fn restore(mode: Mode, state: &ExtendedState) {
    let area = state.area.as_ptr();
    let (fs, gs) = (user_selector(state.fs), user_selector(state.gs));
    let (fs_base, gs_base) = (user_base(state.fs_base), user_base(state.gs_base));
    // SAFETY: as in `save`; the area is well formed (contract). The selectors are null or
    // the user data selector of the loaded GDT, which load without a fault in ring 0;
    // the bases are canonical, which the MSRs accept; the kernel uses neither FS nor GS.
    unsafe {
        match mode {
            Mode::Fxsave => asm!("fxrstor64 [{}]", in(reg) area, options(nostack, preserves_flags)),
            Mode::Xsave { mask } => asm!("xrstor64 [{}]", in(reg) area, in("eax") mask as u32,
                in("edx") (mask >> 32) as u32, options(nostack, preserves_flags)),
        }
        asm!("mov fs, {0:x}", "mov gs, {1:x}", in(reg) fs, in(reg) gs,
            options(nomem, nostack, preserves_flags));
        crate::apic::msr::write(FS_BASE_MSR, fs_base);
        crate::apic::msr::write(GS_BASE_MSR, gs_base);
    }
}

#[cfg(test)]
mod tests {
    use super::{ExtendedState, FCW_INIT, MXCSR_INIT, canonical, user_base, user_selector};
    use crate::gdt::{KERNEL_CS, KERNEL_SS, TSS_SELECTOR, USER_CS, USER_SS};

    #[test]
    fn the_initial_state_is_fninit_and_reset() {
        let s = ExtendedState::initial();
        assert_eq!((s.fcw(), s.mxcsr()), (FCW_INIT, MXCSR_INIT));
        assert_eq!(core::mem::align_of::<ExtendedState>(), 64);
        // The XSAVE header (bytes 512 to 575) is zero: every component initial,
        // standard format.
        assert!(s.area()[512..576].iter().all(|&b| b == 0));
        assert_eq!((s.fs, s.gs, s.fs_base, s.gs_base), (0, 0, 0, 0));
    }

    /// Only null selectors and the user data selector are ever loaded by the kernel:
    /// every other value of the 16 bits (the kernel's selectors, the TSS, the user code
    /// selector, LDT selectors, indexes past the GDT) becomes null.
    #[test]
    fn only_null_and_user_data_selectors_are_loaded() {
        for null in 0..4 {
            assert_eq!(user_selector(null), null);
        }
        for rpl in 0..4 {
            assert_eq!(user_selector((USER_SS & !3) | rpl), (USER_SS & !3) | rpl);
        }
        for bad in [KERNEL_CS, KERNEL_SS, TSS_SELECTOR, USER_CS, USER_SS | 4, 0x30 | 3, 0xfffb] {
            assert_eq!(user_selector(bad), 0, "{bad:#x}");
        }
        let kept = (0..=u16::MAX).filter(|&s| user_selector(s) == s).count();
        assert_eq!(kept, 8, "4 null selectors and the user data selector at 4 RPLs");
        assert!((0..=u16::MAX).all(|s| user_selector(s) == s || user_selector(s) == 0));
    }

    #[test]
    fn only_canonical_bases_are_loaded() {
        for ok in [0, 0x7fff_ffff_ffff, 0xffff_8000_0000_0000, u64::MAX, 0x60_0000] {
            assert!(canonical(ok));
            assert_eq!(user_base(ok), ok);
        }
        for bad in [0x8000_0000_0000, 0x0001_0000_0000_0000, 0xfffe_ffff_ffff_ffff] {
            assert!(!canonical(bad));
            assert_eq!(user_base(bad), 0, "{bad:#x}");
        }
    }

    #[test]
    fn sanitizing_touches_only_the_segments() {
        let mut s = ExtendedState::initial();
        s.area_mut()[100] = 0x5a;
        s.fs = USER_CS;
        s.gs = USER_SS;
        s.fs_base = 0x8000_0000_0000;
        s.gs_base = 0x60_1000;
        let mut t = s.clone();
        t.sanitize_segments();
        assert_eq!((t.fs, t.gs, t.fs_base, t.gs_base), (0, USER_SS, 0, 0x60_1000));
        assert_eq!(t.area(), s.area());
    }
}
