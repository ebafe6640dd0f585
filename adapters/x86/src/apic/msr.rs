//! Model-specific registers and the time-stamp counter: the few the APIC code uses.

/// `IA32_APIC_BASE`: the local APIC's base address and its enable bits.
pub const APIC_BASE: u32 = 0x1b;
/// `IA32_TSC_DEADLINE`: the TSC value at which the local APIC timer fires in TSC-deadline
/// mode (0 disarms it).
pub const TSC_DEADLINE: u32 = 0x6e0;
/// The first x2APIC register (`0x800 + offset / 16`).
pub const X2APIC_BASE: u32 = 0x800;

/// `IA32_APIC_BASE` bit: this is the bootstrap processor.
pub const APIC_BASE_BSP: u64 = 1 << 8;
/// `IA32_APIC_BASE` bit: x2APIC mode.
pub const APIC_BASE_X2APIC: u64 = 1 << 10;
/// `IA32_APIC_BASE` bit: the local APIC is enabled.
pub const APIC_BASE_ENABLE: u64 = 1 << 11;

/// Reads MSR `msr`.
///
/// # Safety
/// Ring 0, and `msr` exists on this CPU (else #GP).
#[inline]
#[must_use]
pub unsafe fn read(msr: u32) -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: ring 0 and the MSR exists (function contract); `rdmsr` only reads.
    unsafe {
        core::arch::asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high,
            options(nomem, nostack, preserves_flags));
    }
    u64::from(high) << 32 | u64::from(low)
}

/// Writes `value` to MSR `msr`.
///
/// # Safety
/// Ring 0, `msr` exists and `value` is valid for it, and the write keeps the kernel's
/// invariants (the caller owns what the MSR controls).
#[inline]
pub unsafe fn write(msr: u32, value: u64) {
    // SAFETY: ring 0, a valid MSR and value, owned by the caller (function contract).
    unsafe {
        core::arch::asm!("wrmsr", in("ecx") msr, in("eax") value as u32,
            in("edx") (value >> 32) as u32, options(nostack, preserves_flags));
    }
}

/// The time-stamp counter.
#[inline]
#[must_use]
pub fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` only reads the counter (the kernel leaves CR4.TSD clear: it is
    // readable at every privilege level).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// CPUID leaf `leaf`, subleaf `subleaf`.
#[must_use]
pub fn cpuid(leaf: u32, subleaf: u32) -> core::arch::x86_64::CpuidResult {
    // `__cpuid_count` is safe on newer compilers, `unsafe` on the oldest one supported.
    #[allow(unused_unsafe)]
    // SAFETY: `cpuid` is available on every x86_64 CPU and only reads.
    unsafe {
        core::arch::x86_64::__cpuid_count(leaf, subleaf)
    }
}

/// What CPUID says about the interrupt and timer hardware of this CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// The local APIC can run in x2APIC mode.
    pub x2apic: bool,
    /// The local APIC timer has a TSC-deadline mode.
    pub tsc_deadline: bool,
    /// The TSC runs at a constant rate in every power state (invariant TSC).
    pub invariant_tsc: bool,
    /// The initial APIC ID (8 bits) of this CPU.
    pub initial_apic_id: u8,
}

impl Features {
    /// Decodes the registers of CPUID leaf 1 (`ebx`, `ecx`) and of leaf 0x8000_0007
    /// (`edx`).
    #[must_use]
    pub const fn decode(leaf1_ebx: u32, leaf1_ecx: u32, power_edx: u32) -> Self {
        Self {
            x2apic: leaf1_ecx & (1 << 21) != 0,
            tsc_deadline: leaf1_ecx & (1 << 24) != 0,
            invariant_tsc: power_edx & (1 << 8) != 0,
            initial_apic_id: (leaf1_ebx >> 24) as u8,
        }
    }

    /// This CPU's.
    #[must_use]
    pub fn read() -> Self {
        let leaf1 = cpuid(1, 0);
        let max_extended = cpuid(0x8000_0000, 0).eax;
        let power = if max_extended >= 0x8000_0007 { cpuid(0x8000_0007, 0).edx } else { 0 };
        Self::decode(leaf1.ebx, leaf1.ecx, power)
    }
}

#[cfg(test)]
mod tests {
    use super::Features;

    #[test]
    fn cpuid_bits() {
        let f = Features::decode(0x0300_0000, (1 << 21) | (1 << 24), 1 << 8);
        assert_eq!(
            f,
            Features { x2apic: true, tsc_deadline: true, invariant_tsc: true, initial_apic_id: 3 }
        );
        assert_eq!(Features::decode(0, 0, 0), Features::default());
    }
}
