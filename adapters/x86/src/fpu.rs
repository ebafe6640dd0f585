//! Each partition's FPU, SSE and AVX state, and its FS and GS selectors: saved when it
//! leaves its window, restored when it enters, reset when it restarts, so that no
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

use core::arch::asm;

/// Bytes of a save area: the legacy 512-byte region, the 64-byte XSAVE header and the
/// 256-byte AVX state fit with room to spare.
pub const AREA_LEN: usize = 1024;

/// The control word x87 starts with (`fninit`): all exceptions masked, 64-bit precision.
pub const FCW_INIT: u16 = 0x037F;
/// The SSE control and status word at reset: all exceptions masked, round to nearest.
pub const MXCSR_INIT: u32 = 0x1F80;

/// A partition's extended state: its save area (FXSAVE/XSAVE standard format) and its
/// FS and GS selectors.
#[repr(C, align(64))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtendedState {
    area: [u8; AREA_LEN],
    /// The FS selector.
    pub fs: u16,
    /// The GS selector.
    pub gs: u16,
}

impl ExtendedState {
    /// The state a partition starts with: x87 and SSE as after `fninit` and reset (the
    /// XSAVE header says every component is in its initial configuration), null FS and
    /// GS.
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
        Self { area, fs: 0, gs: 0 }
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

/// Sets the CPU up so partitions can use x87, SSE and (where offered) AVX, and answers
/// how their state is saved. Also loads the initial state into the registers.
///
/// # Safety
/// Ring 0, at boot, before any partition runs.
pub unsafe fn enable() -> Mode {
    let features = cpuid(1, 0);
    let xsave = features.ecx & (1 << 26) != 0;
    let avx = features.ecx & (1 << 28) != 0;
    let mask = XCR0_X87 | XCR0_SSE | if avx { XCR0_AVX } else { 0 };
    // SAFETY: ring 0 (contract); these bits only enable x87/SSE for every privilege
    // level, and the kernel's own code uses neither.
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

/// Saves the registers into `state`.
///
/// # Safety
/// Ring 0, after [`enable`] answered `mode`.
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
    }
}

/// Loads `state` into the registers.
///
/// # Safety
/// Ring 0, after [`enable`] answered `mode`; `state` came from [`save`] or
/// [`ExtendedState::initial`] (a malformed area faults with #GP).
pub unsafe fn restore(mode: Mode, state: &ExtendedState) {
    let area = state.area.as_ptr();
    // SAFETY: as in `save`; the area is well formed (contract). The selectors were
    // loaded by the partition in ring 3 (or are null), so loading them is valid.
    unsafe {
        match mode {
            Mode::Fxsave => asm!("fxrstor64 [{}]", in(reg) area, options(nostack, preserves_flags)),
            Mode::Xsave { mask } => asm!("xrstor64 [{}]", in(reg) area, in("eax") mask as u32,
                in("edx") (mask >> 32) as u32, options(nostack, preserves_flags)),
        }
        asm!("mov fs, {0:x}", "mov gs, {1:x}", in(reg) state.fs, in(reg) state.gs,
            options(nomem, nostack, preserves_flags));
    }
}

#[cfg(test)]
mod tests {
    use super::{ExtendedState, FCW_INIT, MXCSR_INIT};

    #[test]
    fn the_initial_state_is_fninit_and_reset() {
        let s = ExtendedState::initial();
        assert_eq!((s.fcw(), s.mxcsr()), (FCW_INIT, MXCSR_INIT));
        assert_eq!(core::mem::align_of::<ExtendedState>(), 64);
        // The XSAVE header (bytes 512 to 575) is zero: every component initial,
        // standard format.
        assert!(s.area()[512..576].iter().all(|&b| b == 0));
        assert_eq!((s.fs, s.gs), (0, 0));
    }
}
