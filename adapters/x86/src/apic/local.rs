//! The local APIC of a CPU, in xAPIC mode (registers in a 4 KiB MMIO page) or x2APIC
//! mode (registers as MSRs): enable, the spurious vector, EOI, the LVT entries, the timer,
//! inter-processor interrupts and the APIC ID.
//!
//! The register logic is in [`LocalApic`], over [`ApicRegisters`]: [`XApic`] and
//! [`X2Apic`] on a machine, a recording implementation in the tests.

use super::icr::{IcrError, Ipi, SEND_PENDING};
use super::msr;

/// Register offsets in the xAPIC page (the x2APIC MSR is `0x800 + offset / 16`).
pub mod reg {
    /// Local APIC ID.
    pub const ID: u32 = 0x20;
    /// Version and the number of LVT entries.
    pub const VERSION: u32 = 0x30;
    /// Task priority.
    pub const TPR: u32 = 0x80;
    /// End of interrupt.
    pub const EOI: u32 = 0xb0;
    /// Spurious-interrupt vector and the software enable bit.
    pub const SVR: u32 = 0xf0;
    /// Error status.
    pub const ESR: u32 = 0x280;
    /// Interrupt command, low half.
    pub const ICR_LOW: u32 = 0x300;
    /// Interrupt command, high half (xAPIC only).
    pub const ICR_HIGH: u32 = 0x310;
    /// LVT timer.
    pub const LVT_TIMER: u32 = 0x320;
    /// LVT LINT0.
    pub const LVT_LINT0: u32 = 0x350;
    /// LVT LINT1.
    pub const LVT_LINT1: u32 = 0x360;
    /// LVT error.
    pub const LVT_ERROR: u32 = 0x370;
    /// Timer initial count.
    pub const TIMER_INITIAL: u32 = 0x380;
    /// Timer current count.
    pub const TIMER_CURRENT: u32 = 0x390;
    /// Timer divide configuration.
    pub const TIMER_DIVIDE: u32 = 0x3e0;
}

/// How the registers are reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Memory-mapped (8-bit APIC IDs).
    XApic,
    /// MSRs (32-bit APIC IDs).
    X2Apic,
}

/// The registers of one CPU's local APIC. Called only on that CPU, with its interrupts
/// disabled.
pub trait ApicRegisters {
    /// How they are reached.
    fn mode(&self) -> Mode;
    /// Reads the 32-bit register at xAPIC offset `reg`.
    fn read(&self, reg: u32) -> u32;
    /// Writes the 32-bit register at xAPIC offset `reg`.
    fn write(&mut self, reg: u32, value: u32);
    /// Writes the interrupt command, encoded for this mode: an xAPIC writes the high 32
    /// bits to `ICR_HIGH` first, then the low half (which sends); an x2APIC writes the one
    /// 64-bit MSR.
    fn write_icr(&mut self, value: u64);
    /// Writes `IA32_TSC_DEADLINE`.
    fn write_deadline(&mut self, tsc: u64);
}

/// The delivery of an LVT entry (LINT0, LINT1, error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lvt {
    /// Masked.
    Masked,
    /// A fixed interrupt on this vector.
    Fixed(u8),
    /// A non-maskable interrupt (LINT1 on a PC, says the MADT).
    Nmi {
        /// Level-triggered (else edge).
        level: bool,
        /// Active low (else high).
        active_low: bool,
    },
    /// The 8259's interrupt through (virtual wire: LINT0 of the boot CPU, before the
    /// APICs take over).
    ExtInt,
}

impl Lvt {
    /// The register value.
    #[must_use]
    pub const fn bits(self) -> u32 {
        match self {
            Self::Masked => MASKED,
            Self::Fixed(vector) => vector as u32,
            Self::Nmi { level, active_low } => {
                0b100 << 8 | (active_low as u32) << 13 | (level as u32) << 15
            }
            Self::ExtInt => 0b111 << 8,
        }
    }
}

/// LVT bit: masked.
pub const MASKED: u32 = 1 << 16;
/// SVR bit: the APIC is software-enabled.
pub const SVR_ENABLE: u32 = 1 << 8;

/// The mode of the local APIC timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerMode {
    /// Counts down once from the initial count.
    OneShot,
    /// Counts down from the initial count again and again.
    Periodic,
    /// Fires when the TSC reaches `IA32_TSC_DEADLINE`.
    TscDeadline,
}

impl TimerMode {
    /// The LVT timer value: `vector` in this mode, masked or not.
    #[must_use]
    pub const fn lvt(self, vector: u8, masked: bool) -> u32 {
        let mode = match self {
            Self::OneShot => 0b00,
            Self::Periodic => 0b01,
            Self::TscDeadline => 0b10,
        };
        vector as u32 | mode << 17 | if masked { MASKED } else { 0 }
    }
}

/// The divide configuration register value for dividing the bus clock by `by` (1, 2, 4,
/// ..., 128), or `None` for any other value.
#[must_use]
pub const fn divide_bits(by: u32) -> Option<u32> {
    // Bits 0, 1 and 3; 0b111 is "divide by 1", 0b000 "by 2".
    let code = match by {
        1 => 0b111,
        2 => 0b000,
        4 => 0b001,
        8 => 0b010,
        16 => 0b011,
        32 => 0b100,
        64 => 0b101,
        128 => 0b110,
        _ => return None,
    };
    Some((code & 0b11) | (code & 0b100) << 1)
}

/// How the local APIC is set up at enable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalConfig {
    /// The spurious-interrupt vector (its low 4 bits should be 1s on old APICs: 0xff is
    /// the usual choice).
    pub spurious_vector: u8,
    /// The vector of APIC errors.
    pub error_vector: u8,
    /// LINT0 (masked once the 8259 is off).
    pub lint0: Lvt,
    /// LINT1 (the NMI pin of a PC, from the MADT's local APIC NMI entries).
    pub lint1: Lvt,
}

/// Spins this many times at most for the xAPIC's previous IPI to leave.
const SEND_SPINS: u32 = 1_000_000;

/// A local APIC.
#[derive(Debug)]
pub struct LocalApic<R> {
    regs: R,
}

/// The IPI could not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// It cannot be encoded in this mode.
    Encoding(IcrError),
    /// The previous IPI is still being sent (the xAPIC's delivery status never cleared).
    Busy,
}

impl<R: ApicRegisters> LocalApic<R> {
    /// The local APIC behind `regs`.
    pub const fn new(regs: R) -> Self {
        Self { regs }
    }

    /// Its registers.
    pub const fn registers(&self) -> &R {
        &self.regs
    }

    /// Software-enables it: the spurious vector, task priority 0 (every vector delivered),
    /// the error vector, LINT0 and LINT1, the error status cleared.
    pub fn enable(&mut self, config: &LocalConfig) {
        self.regs.write(reg::SVR, SVR_ENABLE | u32::from(config.spurious_vector));
        self.regs.write(reg::TPR, 0);
        self.regs.write(reg::LVT_ERROR, Lvt::Fixed(config.error_vector).bits());
        self.regs.write(reg::LVT_LINT0, config.lint0.bits());
        self.regs.write(reg::LVT_LINT1, config.lint1.bits());
        self.clear_errors();
    }

    /// Reads and clears the error status (the register is written before it is read).
    pub fn clear_errors(&mut self) -> u32 {
        self.regs.write(reg::ESR, 0);
        self.regs.read(reg::ESR)
    }

    /// Its APIC ID.
    #[must_use]
    pub fn id(&self) -> u32 {
        let raw = self.regs.read(reg::ID);
        match self.regs.mode() {
            Mode::XApic => raw >> 24,
            Mode::X2Apic => raw,
        }
    }

    /// End of interrupt of the highest-priority vector in service.
    pub fn eoi(&mut self) {
        self.regs.write(reg::EOI, 0);
    }

    /// Sends `ipi`.
    ///
    /// # Errors
    /// [`SendError`]: the IPI cannot be encoded in this mode, or the xAPIC is still
    /// sending the previous one.
    pub fn send(&mut self, ipi: &Ipi) -> Result<(), SendError> {
        let value = match self.regs.mode() {
            Mode::XApic => {
                let (high, low) = ipi.xapic().map_err(SendError::Encoding)?;
                let mut spins = 0;
                while self.regs.read(reg::ICR_LOW) & SEND_PENDING != 0 {
                    spins += 1;
                    if spins >= SEND_SPINS {
                        return Err(SendError::Busy);
                    }
                    core::hint::spin_loop();
                }
                u64::from(high) << 32 | u64::from(low)
            }
            Mode::X2Apic => ipi.x2apic().map_err(SendError::Encoding)?,
        };
        self.regs.write_icr(value);
        Ok(())
    }

    /// Sets the timer up: `mode` on `vector`, dividing by `divide` (ignored in
    /// TSC-deadline mode), masked until armed.
    pub fn timer_setup(&mut self, mode: TimerMode, vector: u8, divide: u32) {
        self.regs.write(reg::LVT_TIMER, mode.lvt(vector, true));
        if let Some(bits) = divide_bits(divide) {
            self.regs.write(reg::TIMER_DIVIDE, bits);
        }
    }

    /// Unmasks the timer in `mode` on `vector` and starts it: the initial count for
    /// one-shot and periodic mode (`count`), the deadline for TSC-deadline mode (`count`
    /// is then the TSC value). In TSC-deadline mode the LVT is written before the
    /// deadline, as the SDM asks.
    pub fn timer_start(&mut self, mode: TimerMode, vector: u8, count: u64) {
        self.regs.write(reg::LVT_TIMER, mode.lvt(vector, false));
        match mode {
            TimerMode::TscDeadline => self.regs.write_deadline(count),
            _ => self.regs.write(reg::TIMER_INITIAL, u32::try_from(count).unwrap_or(u32::MAX)),
        }
    }

    /// Loads the timer's initial count without unmasking it (a masked timer counts: the
    /// calibration reads [`timer_current`](Self::timer_current) later).
    pub fn timer_load(&mut self, count: u32) {
        self.regs.write(reg::TIMER_INITIAL, count);
    }

    /// Arms the next TSC deadline (TSC-deadline mode, already started).
    pub fn timer_deadline(&mut self, tsc: u64) {
        self.regs.write_deadline(tsc);
    }

    /// Stops the timer (masked, count or deadline zero).
    pub fn timer_stop(&mut self) {
        let lvt = self.regs.read(reg::LVT_TIMER) | MASKED;
        self.regs.write(reg::LVT_TIMER, lvt);
        self.regs.write(reg::TIMER_INITIAL, 0);
        if lvt >> 17 & 0b11 == 0b10 {
            self.regs.write_deadline(0);
        }
    }

    /// The timer's current count (one-shot and periodic modes).
    #[must_use]
    pub fn timer_current(&self) -> u32 {
        self.regs.read(reg::TIMER_CURRENT)
    }
}

/// The xAPIC registers: the 4 KiB page at a virtual address.
#[derive(Debug)]
pub struct XApic {
    base: usize,
}

impl XApic {
    /// The local APIC page mapped at `base` (its physical address is in
    /// `IA32_APIC_BASE`, 0xfee0_0000 unless moved), enabled in `IA32_APIC_BASE`.
    ///
    /// # Safety
    /// Ring 0; `base` maps the local APIC's page uncached, for as long as the value is
    /// used; used only on the CPU that made it (each CPU sees its own APIC there).
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: ring 0 (contract); IA32_APIC_BASE exists on every CPU with an APIC, and
        // setting its enable bit (keeping the address) is the documented way to turn it on.
        unsafe {
            let value = msr::read(msr::APIC_BASE);
            if value & msr::APIC_BASE_ENABLE == 0 {
                msr::write(msr::APIC_BASE, value | msr::APIC_BASE_ENABLE);
            }
        }
        Self { base }
    }

    /// The physical address of the local APIC page (`IA32_APIC_BASE`).
    ///
    /// # Safety
    /// Ring 0.
    #[must_use]
    pub unsafe fn physical_base() -> u64 {
        // SAFETY: ring 0 (contract); the MSR exists on every CPU with an APIC.
        unsafe { msr::read(msr::APIC_BASE) & 0x000f_ffff_ffff_f000 }
    }
}

impl ApicRegisters for XApic {
    fn mode(&self) -> Mode {
        Mode::XApic
    }

    fn read(&self, reg: u32) -> u32 {
        // SAFETY: the page is mapped uncached and is this CPU's APIC (contract of `new`);
        // every register offset is inside the page and 16-byte aligned.
        unsafe { core::ptr::read_volatile((self.base + reg as usize) as *const u32) }
    }

    fn write(&mut self, reg: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((self.base + reg as usize) as *mut u32, value) };
    }

    fn write_icr(&mut self, value: u64) {
        self.write(reg::ICR_HIGH, (value >> 32) as u32);
        self.write(reg::ICR_LOW, value as u32);
    }

    fn write_deadline(&mut self, tsc: u64) {
        // SAFETY: ring 0 (contract of `new`); the kernel only uses TSC-deadline mode where
        // CPUID offers it, so the MSR exists.
        unsafe { msr::write(msr::TSC_DEADLINE, tsc) };
    }
}

/// The x2APIC registers (MSRs).
#[derive(Debug)]
pub struct X2Apic {
    _private: (),
}

impl X2Apic {
    /// Switches this CPU's local APIC to x2APIC mode (from disabled or xAPIC mode).
    ///
    /// # Safety
    /// Ring 0, CPUID offers x2APIC, and the value is used only on this CPU.
    pub unsafe fn enable() -> Self {
        // SAFETY: ring 0 and x2APIC offered (contract): enabling xAPIC then x2APIC is the
        // documented transition.
        unsafe {
            let value = msr::read(msr::APIC_BASE);
            let on = value | msr::APIC_BASE_ENABLE;
            msr::write(msr::APIC_BASE, on);
            msr::write(msr::APIC_BASE, on | msr::APIC_BASE_X2APIC);
        }
        Self { _private: () }
    }
}

impl ApicRegisters for X2Apic {
    fn mode(&self) -> Mode {
        Mode::X2Apic
    }

    fn read(&self, reg: u32) -> u32 {
        // SAFETY: x2APIC mode is on (made by `enable`); the registers the adapter reads
        // exist as MSRs (ID, version, TPR, SVR, ESR, LVTs, timer).
        unsafe { msr::read(msr::X2APIC_BASE + (reg >> 4)) as u32 }
    }

    fn write(&mut self, reg: u32, value: u32) {
        // SAFETY: as in `read`; the register offsets the adapter writes are writable MSRs.
        unsafe { msr::write(msr::X2APIC_BASE + (reg >> 4), u64::from(value)) };
    }

    fn write_icr(&mut self, value: u64) {
        // SAFETY: x2APIC mode is on; the ICR is one 64-bit MSR.
        unsafe { msr::write(msr::X2APIC_BASE + (reg::ICR_LOW >> 4), value) };
    }

    fn write_deadline(&mut self, tsc: u64) {
        // SAFETY: ring 0; the kernel uses TSC-deadline mode only where CPUID offers it.
        unsafe { msr::write(msr::TSC_DEADLINE, tsc) };
    }
}

/// The local APIC in whichever mode the CPU was set up in: the same type for a kernel
/// that uses x2APIC where CPUID offers it and xAPIC elsewhere.
#[derive(Debug)]
pub enum AnyApic {
    /// Memory-mapped.
    X(XApic),
    /// MSRs.
    X2(X2Apic),
}

impl AnyApic {
    /// Enables this CPU's local APIC: in x2APIC mode if `allow_x2apic` and CPUID offers
    /// it, else in xAPIC mode with its page mapped at `xapic_base`.
    ///
    /// # Safety
    /// As [`XApic::new`] and [`X2Apic::enable`]: ring 0, used only on this CPU, the page
    /// mapped uncached at `xapic_base` (for xAPIC mode). Every CPU of the machine must be
    /// set up in the same mode (APIC IDs and IPIs differ between them).
    pub unsafe fn enable(xapic_base: usize, allow_x2apic: bool) -> Self {
        if allow_x2apic && msr::Features::read().x2apic {
            // SAFETY: x2APIC is offered (just checked); ring 0, this CPU only (contract).
            Self::X2(unsafe { X2Apic::enable() })
        } else {
            // SAFETY: the page is mapped at `xapic_base` (contract).
            Self::X(unsafe { XApic::new(xapic_base) })
        }
    }
}

impl ApicRegisters for AnyApic {
    fn mode(&self) -> Mode {
        match self {
            Self::X(a) => a.mode(),
            Self::X2(a) => a.mode(),
        }
    }
    fn read(&self, reg: u32) -> u32 {
        match self {
            Self::X(a) => a.read(reg),
            Self::X2(a) => a.read(reg),
        }
    }
    fn write(&mut self, reg: u32, value: u32) {
        match self {
            Self::X(a) => a.write(reg, value),
            Self::X2(a) => a.write(reg, value),
        }
    }
    fn write_icr(&mut self, value: u64) {
        match self {
            Self::X(a) => a.write_icr(value),
            Self::X2(a) => a.write_icr(value),
        }
    }
    fn write_deadline(&mut self, tsc: u64) {
        match self {
            Self::X(a) => a.write_deadline(tsc),
            Self::X2(a) => a.write_deadline(tsc),
        }
    }
}

#[cfg(test)]
pub(crate) mod fake {
    extern crate std;
    use std::vec::Vec;

    use super::{ApicRegisters, Mode, reg};

    /// A local APIC as registers in memory, with every write recorded.
    #[derive(Debug)]
    pub(crate) struct FakeApic {
        pub(crate) mode: Mode,
        pub(crate) regs: [u32; 64],
        pub(crate) writes: Vec<(u32, u64)>,
        pub(crate) deadline: u64,
    }

    impl FakeApic {
        pub(crate) fn new(mode: Mode, id: u32) -> Self {
            let mut regs = [0; 64];
            regs[(reg::ID >> 4) as usize] = if mode == Mode::XApic { id << 24 } else { id };
            Self { mode, regs, writes: Vec::new(), deadline: 0 }
        }
    }

    impl ApicRegisters for FakeApic {
        fn mode(&self) -> Mode {
            self.mode
        }
        fn read(&self, reg: u32) -> u32 {
            self.regs[(reg >> 4) as usize]
        }
        fn write(&mut self, reg: u32, value: u32) {
            self.regs[(reg >> 4) as usize] = value;
            self.writes.push((reg, u64::from(value)));
        }
        fn write_icr(&mut self, value: u64) {
            self.writes.push((reg::ICR_LOW, value));
        }
        fn write_deadline(&mut self, tsc: u64) {
            self.deadline = tsc;
            self.writes.push((u32::MAX, tsc));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeApic;
    use super::{
        ApicRegisters, LocalApic, LocalConfig, Lvt, MASKED, Mode, SendError, TimerMode,
        divide_bits, reg,
    };
    use crate::apic::icr::{IcrError, Ipi, SEND_PENDING};

    #[test]
    fn lvt_and_timer_values() {
        assert_eq!(Lvt::Masked.bits(), 0x1_0000);
        assert_eq!(Lvt::Nmi { level: false, active_low: false }.bits(), 0x400);
        assert_eq!(Lvt::Nmi { level: true, active_low: true }.bits(), 0xa400);
        assert_eq!(Lvt::ExtInt.bits(), 0x700);
        assert_eq!(TimerMode::Periodic.lvt(0x30, false), 0x2_0030);
        assert_eq!(TimerMode::TscDeadline.lvt(0x30, true), 0x5_0030);
        assert_eq!(TimerMode::OneShot.lvt(0x30, false), 0x30);
        let codes: std::vec::Vec<_> =
            [1, 2, 4, 8, 16, 32, 64, 128].iter().map(|&d| divide_bits(d).unwrap()).collect();
        assert_eq!(codes, [0b1011, 0b0000, 0b0001, 0b0010, 0b0011, 0b1000, 0b1001, 0b1010]);
        assert_eq!(divide_bits(3), None);
        assert_eq!(divide_bits(0), None);
    }

    extern crate std;

    #[test]
    fn enable_sets_the_spurious_vector_and_the_lines() {
        let mut apic = LocalApic::new(FakeApic::new(Mode::XApic, 2));
        let config = LocalConfig {
            spurious_vector: 0xff,
            error_vector: 0xfe,
            lint0: Lvt::Masked,
            lint1: Lvt::Nmi { level: false, active_low: false },
        };
        apic.enable(&config);
        let r = apic.registers();
        assert_eq!(r.read(reg::SVR), 0x1ff);
        assert_eq!(r.read(reg::LVT_ERROR), 0xfe);
        assert_eq!(r.read(reg::LVT_LINT0), MASKED);
        assert_eq!(r.read(reg::LVT_LINT1), 0x400);
        assert_eq!(apic.id(), 2);
        assert_eq!(LocalApic::new(FakeApic::new(Mode::X2Apic, 0x1234)).id(), 0x1234);
    }

    #[test]
    fn ipis_in_both_modes() {
        let mut x = LocalApic::new(FakeApic::new(Mode::XApic, 0));
        x.send(&Ipi::fixed(0xf0, 3)).unwrap();
        // High half (destination << 24) then low half, as one recorded ICR value.
        assert_eq!(x.registers().writes.last(), Some(&(reg::ICR_LOW, 3 << 56 | 0x40f0)));
        assert_eq!(
            x.send(&Ipi::fixed(0xf0, 300)),
            Err(SendError::Encoding(IcrError::DestinationTooWide(300)))
        );
        let mut x2 = LocalApic::new(FakeApic::new(Mode::X2Apic, 0));
        x2.send(&Ipi::fixed(0xf0, 300)).unwrap();
        assert_eq!(x2.registers().writes.last(), Some(&(reg::ICR_LOW, 300 << 32 | 0x40f0)));
    }

    #[test]
    fn a_send_that_never_leaves_is_reported_not_waited_for_ever() {
        let mut fake = FakeApic::new(Mode::XApic, 0);
        fake.regs[(reg::ICR_LOW >> 4) as usize] = SEND_PENDING;
        let mut apic = LocalApic::new(fake);
        assert_eq!(apic.send(&Ipi::fixed(0xf0, 1)), Err(SendError::Busy));
    }

    #[test]
    fn timer_modes() {
        let mut apic = LocalApic::new(FakeApic::new(Mode::XApic, 0));
        apic.timer_setup(TimerMode::Periodic, 0x30, 16);
        assert_eq!(apic.registers().read(reg::LVT_TIMER), 0x3_0030);
        assert_eq!(apic.registers().read(reg::TIMER_DIVIDE), 0b0011);
        apic.timer_start(TimerMode::Periodic, 0x30, 62_500);
        assert_eq!(apic.registers().read(reg::LVT_TIMER), 0x2_0030);
        assert_eq!(apic.registers().read(reg::TIMER_INITIAL), 62_500);
        apic.timer_start(TimerMode::TscDeadline, 0x30, 1 << 40);
        assert_eq!(apic.registers().deadline, 1 << 40);
        // The LVT is written before the deadline.
        let w = &apic.registers().writes;
        assert_eq!(w[w.len() - 2], (reg::LVT_TIMER, 0x4_0030));
        apic.timer_stop();
        assert_eq!(apic.registers().deadline, 0);
        assert_ne!(apic.registers().read(reg::LVT_TIMER) & MASKED, 0);
    }
}
