//! The IO-APIC: redirection entries as values (encoded and decoded), and the chip behind
//! [`IoApicRegisters`] (its index and data windows: [`IoApicMmio`] on a machine, memory
//! in the tests).

/// Index of the ID register.
pub const ID: u32 = 0x00;
/// Index of the version register (version in bits 0 to 7, the highest redirection entry
/// in bits 16 to 23).
pub const VERSION: u32 = 0x01;
/// Index of the low half of redirection entry 0 (entry `n` at `0x10 + 2n`, high half
/// next).
pub const REDIRECTION: u32 = 0x10;

/// How an entry delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// To the destination's vector.
    Fixed,
    /// To the lowest-priority CPU of the (logical) destination.
    LowestPriority,
    /// A system-management interrupt.
    Smi,
    /// A non-maskable interrupt.
    Nmi,
    /// INIT.
    Init,
    /// The 8259's interrupt (virtual wire).
    ExtInt,
}

/// Whether a line is asserted high or low.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    /// Active high (ISA).
    High,
    /// Active low (PCI).
    Low,
}

/// How a line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerMode {
    /// Edge-triggered (ISA).
    Edge,
    /// Level-triggered (PCI): the IO-APIC holds the line until the CPU's EOI reaches it,
    /// and signals again if it is still asserted.
    Level,
}

/// One redirection entry: where a pin's interrupts go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedirectionEntry {
    /// The vector delivered.
    pub vector: u8,
    /// How.
    pub delivery: Delivery,
    /// `destination` is a logical destination (else an APIC ID).
    pub logical: bool,
    /// The line's polarity.
    pub polarity: Polarity,
    /// Edge or level.
    pub trigger: TriggerMode,
    /// Masked: the pin's interrupts are held back (a level one stays pending).
    pub masked: bool,
    /// The destination APIC ID (physical mode).
    pub destination: u8,
}

/// An entry value the chip would not deliver as this module describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryError {
    /// A reserved delivery mode (0b011 or 0b110).
    ReservedDelivery(u8),
    /// A fixed or lowest-priority vector below 16.
    IllegalVector(u8),
}

const MASK: u64 = 1 << 16;
const LEVEL: u64 = 1 << 15;
const REMOTE_IRR: u64 = 1 << 14;
const ACTIVE_LOW: u64 = 1 << 13;
const DELIVERY_STATUS: u64 = 1 << 12;
const LOGICAL: u64 = 1 << 11;

impl RedirectionEntry {
    /// A fixed, physical-destination entry: `vector` to APIC `destination`.
    #[must_use]
    pub const fn fixed(
        vector: u8,
        destination: u8,
        trigger: TriggerMode,
        polarity: Polarity,
        masked: bool,
    ) -> Self {
        Self {
            vector,
            delivery: Delivery::Fixed,
            logical: false,
            polarity,
            trigger,
            masked,
            destination,
        }
    }

    /// A masked entry that delivers nothing (every pin at boot).
    pub const MASKED: Self = Self::fixed(0, 0, TriggerMode::Edge, Polarity::High, true);

    /// The 64-bit register value.
    ///
    /// # Errors
    /// [`EntryError::IllegalVector`] for a fixed or lowest-priority vector below 16 in an
    /// unmasked entry.
    pub const fn encode(&self) -> Result<u64, EntryError> {
        let mode: u64 = match self.delivery {
            Delivery::Fixed => 0b000,
            Delivery::LowestPriority => 0b001,
            Delivery::Smi => 0b010,
            Delivery::Nmi => 0b100,
            Delivery::Init => 0b101,
            Delivery::ExtInt => 0b111,
        };
        if mode <= 1 && self.vector < 16 && !self.masked {
            return Err(EntryError::IllegalVector(self.vector));
        }
        Ok(self.vector as u64
            | mode << 8
            | if self.logical { LOGICAL } else { 0 }
            | if matches!(self.polarity, Polarity::Low) { ACTIVE_LOW } else { 0 }
            | if matches!(self.trigger, TriggerMode::Level) { LEVEL } else { 0 }
            | if self.masked { MASK } else { 0 }
            | (self.destination as u64) << 56)
    }

    /// Decodes a register value (the read-only delivery-status and remote-IRR bits are
    /// ignored: see [`remote_irr`]).
    ///
    /// # Errors
    /// [`EntryError::ReservedDelivery`] for a reserved delivery mode,
    /// [`EntryError::IllegalVector`] as in [`encode`](Self::encode).
    pub const fn decode(raw: u64) -> Result<Self, EntryError> {
        let mode = (raw >> 8 & 0b111) as u8;
        let delivery = match mode {
            0b000 => Delivery::Fixed,
            0b001 => Delivery::LowestPriority,
            0b010 => Delivery::Smi,
            0b100 => Delivery::Nmi,
            0b101 => Delivery::Init,
            0b111 => Delivery::ExtInt,
            _ => return Err(EntryError::ReservedDelivery(mode)),
        };
        let entry = Self {
            vector: raw as u8,
            delivery,
            logical: raw & LOGICAL != 0,
            polarity: if raw & ACTIVE_LOW != 0 { Polarity::Low } else { Polarity::High },
            trigger: if raw & LEVEL != 0 { TriggerMode::Level } else { TriggerMode::Edge },
            masked: raw & MASK != 0,
            destination: (raw >> 56) as u8,
        };
        match entry.encode() {
            Ok(_) => Ok(entry),
            Err(e) => Err(e),
        }
    }
}

/// Whether a level-triggered entry's interrupt was delivered and not yet acknowledged by
/// an EOI (bit 14 of the low half).
#[must_use]
pub const fn remote_irr(raw: u64) -> bool {
    raw & REMOTE_IRR != 0
}

/// Whether the entry's interrupt is waiting to be delivered (bit 12).
#[must_use]
pub const fn delivery_pending(raw: u64) -> bool {
    raw & DELIVERY_STATUS != 0
}

/// The register window of one IO-APIC: an index register and a data register. Used
/// under one lock for the whole chip (an index write followed by a data access must not
/// interleave with another CPU's).
pub trait IoApicRegisters {
    /// Reads register `index`.
    fn read(&mut self, index: u32) -> u32;
    /// Writes register `index`.
    fn write(&mut self, index: u32, value: u32);
}

/// A pin past the chip's last redirection entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinError {
    /// The pin number and the chip's number of pins.
    NoSuchPin(u8, u8),
    /// The entry cannot be encoded.
    Entry(EntryError),
}

/// One IO-APIC.
#[derive(Debug)]
pub struct IoApic<R> {
    regs: R,
    pins: u8,
    gsi_base: u32,
}

impl<R: IoApicRegisters> IoApic<R> {
    /// The IO-APIC behind `regs`, whose first pin is global system interrupt `gsi_base`;
    /// its number of pins is read from its version register.
    pub fn new(mut regs: R, gsi_base: u32) -> Self {
        let version = regs.read(VERSION);
        let pins = ((version >> 16) & 0xff) as u8;
        Self { regs, pins: pins.saturating_add(1), gsi_base }
    }

    /// Its number of pins (redirection entries).
    #[must_use]
    pub const fn pins(&self) -> u8 {
        self.pins
    }

    /// The global system interrupt of its first pin.
    #[must_use]
    pub const fn gsi_base(&self) -> u32 {
        self.gsi_base
    }

    /// The pin of global system interrupt `gsi`, if it is one of this chip's.
    #[must_use]
    pub const fn pin_of(&self, gsi: u32) -> Option<u8> {
        match gsi.checked_sub(self.gsi_base) {
            Some(pin) if pin < self.pins as u32 => Some(pin as u8),
            _ => None,
        }
    }

    /// Its version (bits 0 to 7 of the version register).
    pub fn version(&mut self) -> u8 {
        self.regs.read(VERSION) as u8
    }

    /// Its IO-APIC ID.
    pub fn id(&mut self) -> u8 {
        ((self.regs.read(ID) >> 24) & 0x0f) as u8
    }

    fn check(&self, pin: u8) -> Result<u32, PinError> {
        if pin < self.pins {
            Ok(REDIRECTION + 2 * u32::from(pin))
        } else {
            Err(PinError::NoSuchPin(pin, self.pins))
        }
    }

    /// Reads entry `pin` as the raw 64-bit value.
    ///
    /// # Errors
    /// [`PinError::NoSuchPin`].
    pub fn read_raw(&mut self, pin: u8) -> Result<u64, PinError> {
        let index = self.check(pin)?;
        let low = self.regs.read(index);
        let high = self.regs.read(index + 1);
        Ok(u64::from(high) << 32 | u64::from(low))
    }

    /// Writes entry `pin`: masked first, then the destination, then the low half (which
    /// unmasks it if the entry says so), so the pin never delivers a half-written entry.
    ///
    /// # Errors
    /// [`PinError`]: no such pin, or an entry that cannot be encoded.
    pub fn write(&mut self, pin: u8, entry: &RedirectionEntry) -> Result<(), PinError> {
        let index = self.check(pin)?;
        let raw = entry.encode().map_err(PinError::Entry)?;
        let low = raw as u32;
        self.regs.write(index, low | MASK as u32);
        self.regs.write(index + 1, (raw >> 32) as u32);
        self.regs.write(index, low);
        Ok(())
    }

    /// Masks or unmasks `pin`, keeping the rest of its entry.
    ///
    /// # Errors
    /// [`PinError::NoSuchPin`].
    pub fn set_masked(&mut self, pin: u8, masked: bool) -> Result<(), PinError> {
        let index = self.check(pin)?;
        let low = self.regs.read(index);
        let low = if masked { low | MASK as u32 } else { low & !(MASK as u32) };
        self.regs.write(index, low);
        Ok(())
    }

    /// Masks every pin (at boot, before any entry is programmed).
    pub fn mask_all(&mut self) {
        for pin in 0..self.pins {
            let _ = self.write(pin, &RedirectionEntry::MASKED);
        }
    }
}

/// The register window of an IO-APIC at a virtual address (`IOREGSEL` at 0, `IOWIN` at
/// 0x10).
#[derive(Debug)]
pub struct IoApicMmio {
    base: usize,
}

impl IoApicMmio {
    /// The IO-APIC mapped at `base`.
    ///
    /// # Safety
    /// `base` maps the IO-APIC's registers uncached for as long as the value is used, and
    /// every access goes through this value under one lock (see [`IoApicRegisters`]).
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }
}

impl IoApicRegisters for IoApicMmio {
    fn read(&mut self, index: u32) -> u32 {
        // SAFETY: the registers are mapped and this value is their only user at a time
        // (contract of `new`).
        unsafe {
            core::ptr::write_volatile(self.base as *mut u32, index);
            core::ptr::read_volatile((self.base + 0x10) as *const u32)
        }
    }

    fn write(&mut self, index: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            core::ptr::write_volatile(self.base as *mut u32, index);
            core::ptr::write_volatile((self.base + 0x10) as *mut u32, value);
        }
    }
}

#[cfg(test)]
pub(crate) mod fake {
    /// An IO-APIC as 24 entries in memory, with the version QEMU's has (0x20, 24 pins).
    #[derive(Debug)]
    pub(crate) struct FakeIoApic {
        pub(crate) regs: [u32; 0x40],
        pub(crate) writes: usize,
    }

    impl FakeIoApic {
        pub(crate) fn new() -> Self {
            let mut regs = [0; 0x40];
            regs[1] = 23 << 16 | 0x20;
            regs[0] = 2 << 24;
            for pin in 0..24 {
                regs[0x10 + 2 * pin] = 1 << 16;
            }
            Self { regs, writes: 0 }
        }
    }

    impl super::IoApicRegisters for FakeIoApic {
        fn read(&mut self, index: u32) -> u32 {
            self.regs[index as usize]
        }
        fn write(&mut self, index: u32, value: u32) {
            self.regs[index as usize] = value;
            self.writes += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeIoApic;
    use super::{
        Delivery, EntryError, IoApic, PinError, Polarity, RedirectionEntry, TriggerMode,
        delivery_pending, remote_irr,
    };

    #[test]
    fn an_entry_encodes_bit_by_bit() {
        let e = RedirectionEntry::fixed(0x41, 3, TriggerMode::Level, Polarity::Low, true);
        assert_eq!(e.encode(), Ok(0x0300_0000_0001_a041));
        let edge = RedirectionEntry::fixed(0x30, 0, TriggerMode::Edge, Polarity::High, false);
        assert_eq!(edge.encode(), Ok(0x30));
        let nmi = RedirectionEntry { delivery: Delivery::Nmi, vector: 0, ..edge };
        assert_eq!(nmi.encode(), Ok(0x400));
        let logical = RedirectionEntry { logical: true, destination: 0xff, ..edge };
        assert_eq!(logical.encode(), Ok(0xff00_0000_0000_0830));
        assert_eq!(RedirectionEntry::MASKED.encode(), Ok(0x1_0000));
    }

    #[test]
    fn every_valid_entry_decodes_back_and_the_rest_is_refused() {
        for trigger in [TriggerMode::Edge, TriggerMode::Level] {
            for polarity in [Polarity::High, Polarity::Low] {
                for masked in [false, true] {
                    for (vector, destination) in [(16, 0), (0x41, 7), (0xff, 0xff)] {
                        let e =
                            RedirectionEntry::fixed(vector, destination, trigger, polarity, masked);
                        let raw = e.encode().unwrap();
                        assert_eq!(RedirectionEntry::decode(raw), Ok(e));
                        // The read-only status bits do not change what the entry says.
                        assert_eq!(RedirectionEntry::decode(raw | 1 << 14 | 1 << 12), Ok(e));
                        assert!(remote_irr(raw | 1 << 14) && !remote_irr(raw));
                        assert!(delivery_pending(raw | 1 << 12) && !delivery_pending(raw));
                    }
                }
            }
        }
        assert_eq!(RedirectionEntry::decode(0x330), Err(EntryError::ReservedDelivery(3)));
        assert_eq!(RedirectionEntry::decode(0x630), Err(EntryError::ReservedDelivery(6)));
        assert_eq!(RedirectionEntry::decode(0x0f), Err(EntryError::IllegalVector(15)));
        // Every 64-bit value either decodes to an entry that encodes to the same bits
        // (but the read-only and reserved ones) or is refused: never a panic.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if let Ok(e) = RedirectionEntry::decode(x) {
                let keep = 0xff00_0000_0001_afff;
                assert_eq!(e.encode().unwrap(), x & keep);
            }
        }
    }

    #[test]
    fn the_chip_reports_its_pins_and_writes_entries_masked_first() {
        let mut io = IoApic::new(FakeIoApic::new(), 0);
        assert_eq!((io.pins(), io.version(), io.id()), (24, 0x20, 2));
        assert_eq!((io.pin_of(23), io.pin_of(24)), (Some(23), None));
        let e = RedirectionEntry::fixed(0x41, 1, TriggerMode::Level, Polarity::Low, false);
        io.write(16, &e).unwrap();
        assert_eq!(RedirectionEntry::decode(io.read_raw(16).unwrap()), Ok(e));
        io.set_masked(16, true).unwrap();
        let masked = RedirectionEntry::decode(io.read_raw(16).unwrap()).unwrap();
        assert_eq!(masked, RedirectionEntry { masked: true, ..e });
        io.set_masked(16, false).unwrap();
        assert_eq!(RedirectionEntry::decode(io.read_raw(16).unwrap()), Ok(e));
        assert_eq!(io.write(24, &e), Err(PinError::NoSuchPin(24, 24)));
        assert_eq!(io.set_masked(200, true), Err(PinError::NoSuchPin(200, 24)));
        let bad = RedirectionEntry { vector: 3, ..e };
        assert_eq!(io.write(1, &bad), Err(PinError::Entry(EntryError::IllegalVector(3))));
        let other = IoApic::new(FakeIoApic::new(), 24);
        assert_eq!(
            (other.pin_of(23), other.pin_of(24), other.pin_of(47)),
            (None, Some(0), Some(23))
        );
    }
}
