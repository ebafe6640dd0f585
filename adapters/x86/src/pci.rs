//! PCI configuration space (mechanism #1, ports 0xcf8/0xcfc) as far as interrupts need it:
//! finding a function, its memory BAR, its command register (memory decode, bus mastering,
//! INTx), its interrupt pin, and its MSI capability programmed with an [`MsiMessage`].
//! The logic is over [`ConfigSpace`], so it runs on the host against a fake function.

use crate::apic::msi::MsiMessage;

/// A function on a PCI bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// Bus.
    pub bus: u8,
    /// Device (slot), 0 to 31.
    pub device: u8,
    /// Function, 0 to 7.
    pub function: u8,
}

impl Function {
    /// The configuration address of dword `offset` (its low two bits dropped).
    #[must_use]
    pub const fn config_address(&self, offset: u8) -> u32 {
        0x8000_0000
            | (self.bus as u32) << 16
            | ((self.device & 31) as u32) << 11
            | ((self.function & 7) as u32) << 8
            | (offset & 0xfc) as u32
    }
}

/// Configuration space reads and writes of whole dwords.
pub trait ConfigSpace {
    /// Reads the dword at `offset` (a multiple of 4) of `function`.
    fn read(&mut self, function: Function, offset: u8) -> u32;
    /// Writes the dword at `offset` (a multiple of 4) of `function`.
    fn write(&mut self, function: Function, offset: u8, value: u32);
}

/// Configuration mechanism #1: the address at port 0xcf8, the data at 0xcfc.
#[derive(Debug)]
pub struct PortConfig {
    _private: (),
}

impl PortConfig {
    /// The machine's configuration ports.
    ///
    /// # Safety
    /// Ring 0; the kernel owns ports 0xcf8 to 0xcff, and uses them only through this
    /// value (one at a time: an address write and its data access must not interleave
    /// with another's).
    #[must_use]
    pub const unsafe fn new() -> Self {
        Self { _private: () }
    }
}

#[cfg(target_arch = "x86_64")]
impl ConfigSpace for PortConfig {
    fn read(&mut self, function: Function, offset: u8) -> u32 {
        let value: u32;
        // SAFETY: ring 0, the kernel owns the ports and uses them through this value only
        // (contract of `new`).
        unsafe {
            core::arch::asm!("out dx, eax", in("dx") 0xcf8u16, in("eax") function.config_address(offset),
                options(nomem, nostack, preserves_flags));
            core::arch::asm!("in eax, dx", in("dx") 0xcfcu16, out("eax") value,
                options(nomem, nostack, preserves_flags));
        }
        value
    }

    fn write(&mut self, function: Function, offset: u8, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            core::arch::asm!("out dx, eax", in("dx") 0xcf8u16, in("eax") function.config_address(offset),
                options(nomem, nostack, preserves_flags));
            core::arch::asm!("out dx, eax", in("dx") 0xcfcu16, in("eax") value,
                options(nomem, nostack, preserves_flags));
        }
    }
}

/// Command register bits.
pub mod command {
    /// Memory space decoding.
    pub const MEMORY: u16 = 1 << 1;
    /// Bus mastering (an MSI is a memory write by the function).
    pub const BUS_MASTER: u16 = 1 << 2;
    /// INTx disabled.
    pub const INTX_DISABLE: u16 = 1 << 10;
}

/// The capability ID of MSI.
pub const CAP_MSI: u8 = 0x05;
/// Capabilities walked at most (a looping list ends there).
const MAX_CAPS: usize = 48;

/// What went wrong with a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciError {
    /// No function there.
    Absent,
    /// It has no MSI capability.
    NoMsi,
    /// Its BAR is not a memory BAR (or is not assigned).
    NoMemoryBar,
}

/// Vendor and device ID of `f`, if a function is there.
pub fn ids(cs: &mut impl ConfigSpace, f: Function) -> Option<(u16, u16)> {
    let id = cs.read(f, 0);
    let vendor = id as u16;
    (vendor != 0xffff && vendor != 0).then_some((vendor, (id >> 16) as u16))
}

/// The `nth` function (0 first) on bus 0 with `vendor` and `device`.
pub fn find(cs: &mut impl ConfigSpace, vendor: u16, device: u16, nth: usize) -> Option<Function> {
    let mut seen = 0;
    for slot in 0..32 {
        let first = Function { bus: 0, device: slot, function: 0 };
        if ids(cs, first).is_none() {
            continue;
        }
        let multi = (cs.read(first, 0x0c) >> 16) & 0x80 != 0;
        for function in 0..if multi { 8 } else { 1 } {
            let f = Function { function, ..first };
            if ids(cs, f) == Some((vendor, device)) {
                if seen == nth {
                    return Some(f);
                }
                seen += 1;
            }
        }
    }
    None
}

/// The physical address of memory BAR `n` (0 to 5) of `f`.
///
/// # Errors
/// [`PciError::NoMemoryBar`]: an I/O BAR, or an unassigned one.
pub fn memory_bar(cs: &mut impl ConfigSpace, f: Function, n: u8) -> Result<u64, PciError> {
    let offset = 0x10 + 4 * (n % 6);
    let low = cs.read(f, offset);
    if low & 1 != 0 {
        return Err(PciError::NoMemoryBar);
    }
    let base = match (low >> 1) & 0b11 {
        0b10 => u64::from(cs.read(f, offset + 4)) << 32 | u64::from(low & !0xf),
        _ => u64::from(low & !0xf),
    };
    if base == 0 { Err(PciError::NoMemoryBar) } else { Ok(base) }
}

/// Sets `set` and clears `clear` in the command register (the status register beside it
/// is written with zeros: its bits are cleared by writing ones).
pub fn command(cs: &mut impl ConfigSpace, f: Function, set: u16, clear: u16) -> u16 {
    let old = cs.read(f, 0x04) as u16;
    let new = (old | set) & !clear;
    cs.write(f, 0x04, u32::from(new));
    new
}

/// The interrupt pin (1 = INTA to 4 = INTD, 0 = none).
pub fn interrupt_pin(cs: &mut impl ConfigSpace, f: Function) -> u8 {
    (cs.read(f, 0x3c) >> 8) as u8
}

/// The offset of the first capability `id` of `f`.
pub fn capability(cs: &mut impl ConfigSpace, f: Function, id: u8) -> Option<u8> {
    let status = (cs.read(f, 0x04) >> 16) as u16;
    if status & (1 << 4) == 0 {
        return None;
    }
    let mut at = (cs.read(f, 0x34) as u8) & 0xfc;
    for _ in 0..MAX_CAPS {
        if at < 0x40 {
            return None;
        }
        let header = cs.read(f, at);
        if header as u8 == id {
            return Some(at);
        }
        at = ((header >> 8) as u8) & 0xfc;
    }
    None
}

/// Programs `f`'s MSI capability with `message` (one vector) and enables it; turns
/// bus mastering on (the MSI is the function's memory write) and INTx off.
///
/// # Errors
/// [`PciError::NoMsi`].
pub fn enable_msi(
    cs: &mut impl ConfigSpace,
    f: Function,
    message: &MsiMessage,
) -> Result<(), PciError> {
    let at = capability(cs, f, CAP_MSI).ok_or(PciError::NoMsi)?;
    let header = cs.read(f, at);
    let control = (header >> 16) as u16;
    let wide = control & (1 << 7) != 0;
    // Disabled while it is written; one vector (multiple message enable 0).
    let off = control & !(1 | 0b111 << 4);
    cs.write(f, at, (header & 0xffff) | u32::from(off) << 16);
    cs.write(f, at + 4, message.address as u32);
    let data_at = if wide {
        cs.write(f, at + 8, (message.address >> 32) as u32);
        at + 12
    } else {
        at + 8
    };
    let old = cs.read(f, data_at);
    cs.write(f, data_at, (old & 0xffff_0000) | (message.data & 0xffff));
    cs.write(f, at, (header & 0xffff) | u32::from(off | 1) << 16);
    let _ = command(cs, f, command::BUS_MASTER, 0);
    let _ = command(cs, f, command::INTX_DISABLE, 0);
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::collections::BTreeMap;

    use super::{
        ConfigSpace, Function, PciError, capability, command, enable_msi, find, ids, interrupt_pin,
        memory_bar,
    };
    use crate::apic::msi::MsiMessage;

    /// Functions as dword maps; reads of absent ones answer all ones.
    #[derive(Default)]
    struct Fake(BTreeMap<(u8, u8, u8), [u32; 64]>);

    impl Fake {
        /// QEMU's edu at slot `slot`: 1234:11e8, a 1 MiB memory BAR at `bar`, INTA, an
        /// MSI capability (64-bit) at 0x40.
        fn edu(&mut self, slot: u8, bar: u32) {
            let mut c = [0u32; 64];
            c[0] = 0x11e8_1234;
            c[1] = 0x0010_0000; // status: capability list
            c[4] = bar;
            c[13] = 0x40;
            c[15] = 0x0100; // pin INTA
            c[16] = 0x0080_0005; // MSI, next 0, 64-bit
            self.0.insert((0, slot, 0), c);
        }
    }

    impl ConfigSpace for Fake {
        fn read(&mut self, f: Function, offset: u8) -> u32 {
            self.0
                .get(&(f.bus, f.device, f.function))
                .map_or(u32::MAX, |c| c[usize::from(offset / 4)])
        }
        fn write(&mut self, f: Function, offset: u8, value: u32) {
            if let Some(c) = self.0.get_mut(&(f.bus, f.device, f.function)) {
                c[usize::from(offset / 4)] = value;
            }
        }
    }

    #[test]
    fn config_addresses() {
        let f = Function { bus: 1, device: 0x10, function: 2 };
        assert_eq!(f.config_address(0x3d), 0x8001_823c);
    }

    #[test]
    fn finds_the_nth_edu_and_its_bar_and_pin() {
        let mut cs = Fake::default();
        cs.0.insert((0, 0, 0), [0x29c0_8086; 64]);
        cs.edu(0x10, 0xfea0_0000);
        cs.edu(0x11, 0xfeb0_0000);
        let first = find(&mut cs, 0x1234, 0x11e8, 0).unwrap();
        let second = find(&mut cs, 0x1234, 0x11e8, 1).unwrap();
        assert_eq!((first.device, second.device), (0x10, 0x11));
        assert_eq!(find(&mut cs, 0x1234, 0x11e8, 2), None);
        assert_eq!(ids(&mut cs, Function { bus: 0, device: 3, function: 0 }), None);
        assert_eq!(memory_bar(&mut cs, first, 0), Ok(0xfea0_0000));
        assert_eq!(memory_bar(&mut cs, first, 1), Err(PciError::NoMemoryBar));
        assert_eq!(interrupt_pin(&mut cs, first), 1);
        assert_eq!(command(&mut cs, first, super::command::MEMORY, 0), 2);
    }

    #[test]
    fn msi_is_programmed_and_enabled_and_intx_turned_off() {
        let mut cs = Fake::default();
        cs.edu(0x11, 0xfeb0_0000);
        let f = Function { bus: 0, device: 0x11, function: 0 };
        assert_eq!(capability(&mut cs, f, 0x05), Some(0x40));
        assert_eq!(capability(&mut cs, f, 0x11), None);
        let message = MsiMessage { address: 0xfee0_1000, data: 0x42 };
        enable_msi(&mut cs, f, &message).unwrap();
        let c = cs.0[&(0, 0x11, 0)];
        assert_eq!(c[16] >> 16 & 1, 1, "enabled");
        assert_eq!((c[17], c[18], c[19] & 0xffff), (0xfee0_1000, 0, 0x42));
        assert_eq!(
            c[1] & 0xffff,
            super::command::BUS_MASTER as u32 | super::command::INTX_DISABLE as u32
        );
        // No capability list, or a list that loops: no MSI, never a hang.
        let mut none = Fake::default();
        none.edu(0x12, 0);
        none.0.get_mut(&(0, 0x12, 0)).unwrap()[1] = 0;
        let g = Function { bus: 0, device: 0x12, function: 0 };
        assert_eq!(enable_msi(&mut none, g, &message), Err(PciError::NoMsi));
        let mut looped = Fake::default();
        looped.edu(0x13, 0);
        looped.0.get_mut(&(0, 0x13, 0)).unwrap()[16] = 0x0000_4001; // id 1, next itself
        let h = Function { bus: 0, device: 0x13, function: 0 };
        assert_eq!(capability(&mut looped, h, 0x05), None);
        assert_eq!(memory_bar(&mut looped, h, 0), Err(PciError::NoMemoryBar), "unassigned");
    }
}
