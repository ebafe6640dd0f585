//! The APIC interrupt controllers of a modern PC: each CPU's [`local`] APIC (xAPIC or
//! x2APIC), the [`ioapic`]s behind the device lines, [`icr`] values for
//! inter-processor interrupts, [`msi`] messages for PCI functions, and the local APIC
//! [`timer`]'s calibration and time from the TSC.
//!
//! [`ApicController`] is the [`InterruptController`] the adapter uses on such a machine:
//! the EOI goes to the CPU's local APIC (which forwards it to the IO-APIC for a
//! level-triggered line), a mask or unmask to the IO-APIC pin behind the vector
//! ([`IoApics`], shared by every CPU under one lock), and the local APIC's spurious
//! vector is recognised and never acknowledged.

pub mod icr;
pub mod ioapic;
pub mod local;
pub mod msi;
pub mod msr;
pub mod timer;

use crate::irqchip::{Accepted, InterruptController};

use ioapic::{IoApic, IoApicRegisters, PinError, RedirectionEntry};
use local::{ApicRegisters, LocalApic};

/// Most IO-APICs [`IoApics`] keeps.
pub const MAX_IOAPICS: usize = 8;

const NO_PIN: u16 = u16::MAX;

/// Why a line could not be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No IO-APIC has this global system interrupt.
    NoSuchGsi(u32),
    /// The chip refused the entry.
    Pin(PinError),
    /// Another pin already delivers this vector (the mask of a vector must name one pin).
    VectorTaken(u8),
    /// More IO-APICs than [`MAX_IOAPICS`].
    TooManyChips,
}

struct Chips<R> {
    chips: heapless::Vec<IoApic<R>, MAX_IOAPICS>,
    /// For each vector, the chip (high byte) and pin (low byte) that delivers it.
    pins: [u16; 256],
}

/// The machine's IO-APICs and the pin behind each routed vector, shared by every CPU: an
/// interrupt taken on one CPU may be unmasked by another (the last partition to
/// acknowledge a level line).
pub struct IoApics<R> {
    inner: spin::Mutex<Chips<R>>,
}

impl<R> Default for IoApics<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> core::fmt::Debug for IoApics<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IoApics").finish_non_exhaustive()
    }
}

impl<R> IoApics<R> {
    /// No IO-APIC yet.
    #[must_use]
    pub const fn new() -> Self {
        Self { inner: spin::Mutex::new(Chips { chips: heapless::Vec::new(), pins: [NO_PIN; 256] }) }
    }
}

impl<R: IoApicRegisters> IoApics<R> {
    /// Adds an IO-APIC, every pin masked.
    ///
    /// # Errors
    /// [`RouteError::TooManyChips`] (the chip is dropped).
    pub fn add(&self, mut chip: IoApic<R>) -> Result<(), RouteError> {
        chip.mask_all();
        self.inner.lock().chips.push(chip).map_err(|_| RouteError::TooManyChips)
    }

    /// Programs the pin of global system interrupt `gsi` with `entry` and records that
    /// `entry.vector` comes from it (for [`set_masked`](Self::set_masked)).
    ///
    /// # Errors
    /// [`RouteError`]: no chip has `gsi`, the vector is another pin's, or the chip refused
    /// the entry.
    pub fn route(&self, gsi: u32, entry: &RedirectionEntry) -> Result<(), RouteError> {
        let mut inner = self.inner.lock();
        let Chips { chips, pins } = &mut *inner;
        let (c, pin) = chips
            .iter()
            .enumerate()
            .find_map(|(c, chip)| chip.pin_of(gsi).map(|pin| (c, pin)))
            .ok_or(RouteError::NoSuchGsi(gsi))?;
        let here = (c as u16) << 8 | u16::from(pin);
        let slot = &mut pins[usize::from(entry.vector)];
        if *slot != NO_PIN && *slot != here {
            return Err(RouteError::VectorTaken(entry.vector));
        }
        chips[c].write(pin, entry).map_err(RouteError::Pin)?;
        *slot = here;
        Ok(())
    }

    /// Masks or unmasks the pin behind `vector`; answers whether there is one.
    pub fn set_masked(&self, vector: u8, masked: bool) -> bool {
        let mut inner = self.inner.lock();
        let at = inner.pins[usize::from(vector)];
        if at == NO_PIN {
            return false;
        }
        let (c, pin) = (usize::from(at >> 8), at as u8);
        inner.chips.get_mut(c).is_some_and(|chip| chip.set_masked(pin, masked).is_ok())
    }

    /// The raw redirection entry of global system interrupt `gsi`.
    ///
    /// # Errors
    /// [`RouteError::NoSuchGsi`].
    pub fn entry(&self, gsi: u32) -> Result<u64, RouteError> {
        let mut inner = self.inner.lock();
        let chip = inner.chips.iter_mut().find(|chip| chip.pin_of(gsi).is_some());
        let chip = chip.ok_or(RouteError::NoSuchGsi(gsi))?;
        let pin = chip.pin_of(gsi).ok_or(RouteError::NoSuchGsi(gsi))?;
        chip.read_raw(pin).map_err(RouteError::Pin)
    }

    /// Runs `f` on every chip (version, ID, pins: for the kernel's report).
    pub fn for_each(&self, mut f: impl FnMut(&mut IoApic<R>)) {
        for chip in self.inner.lock().chips.iter_mut() {
            f(chip);
        }
    }
}

/// The interrupt controller of one CPU on an APIC machine: its local APIC and the
/// machine's IO-APICs.
#[derive(Debug)]
pub struct ApicController<'a, L, R> {
    local: LocalApic<L>,
    ioapics: &'a IoApics<R>,
    spurious_vector: u8,
    spurious: u64,
    /// Masks and unmasks of IO-APIC pins asked through this controller.
    masks: (u64, u64),
}

impl<'a, L: ApicRegisters, R: IoApicRegisters> ApicController<'a, L, R> {
    /// The controller of the CPU whose local APIC is `local` (enabled with
    /// `spurious_vector`).
    pub const fn new(local: LocalApic<L>, ioapics: &'a IoApics<R>, spurious_vector: u8) -> Self {
        Self { local, ioapics, spurious_vector, spurious: 0, masks: (0, 0) }
    }

    /// The local APIC (timer, IPIs).
    pub const fn local(&mut self) -> &mut LocalApic<L> {
        &mut self.local
    }

    /// The IO-APICs.
    #[must_use]
    pub const fn ioapics(&self) -> &'a IoApics<R> {
        self.ioapics
    }

    /// Spurious interrupts seen on this CPU.
    #[must_use]
    pub const fn spurious(&self) -> u64 {
        self.spurious
    }

    /// Masks and unmasks of IO-APIC pins this controller made (for the engine: the
    /// level lines it holds until every partition acknowledged, and storm masks).
    #[must_use]
    pub const fn line_masks(&self) -> (u64, u64) {
        self.masks
    }
}

impl<L: ApicRegisters, R: IoApicRegisters> InterruptController for ApicController<'_, L, R> {
    fn accept(&mut self, vector: u8) -> Accepted {
        if vector == self.spurious_vector {
            // Not in service: no EOI.
            self.spurious += 1;
            Accepted::Spurious
        } else {
            Accepted::Real
        }
    }

    fn eoi(&mut self, _vector: u8) {
        // The local APIC acknowledges its highest-priority vector in service: the one
        // being handled (the kernel runs with interrupts off, so nothing nests). For a
        // level-triggered IO-APIC line the EOI is broadcast to the IO-APIC, which then
        // listens to the pin again (masked by the engine until every partition
        // acknowledged).
        self.local.eoi();
    }

    fn set_masked(&mut self, vector: u8, masked: bool) {
        // A vector with no pin behind it (an MSI, an IPI, the timer) has nothing to mask.
        if self.ioapics.set_masked(vector, masked) {
            if masked {
                self.masks.0 += 1;
            } else {
                self.masks.1 += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ioapic::fake::FakeIoApic;
    use super::ioapic::{IoApic, Polarity, RedirectionEntry, TriggerMode};
    use super::local::fake::FakeApic;
    use super::local::{LocalApic, Mode, reg};
    use super::{ApicController, IoApics, RouteError};
    use crate::irqchip::{Accepted, InterruptController};

    #[test]
    fn vectors_find_their_pins_across_chips() {
        let set = IoApics::new();
        set.add(IoApic::new(FakeIoApic::new(), 0)).unwrap();
        set.add(IoApic::new(FakeIoApic::new(), 24)).unwrap();
        let level = RedirectionEntry::fixed(0x41, 1, TriggerMode::Level, Polarity::Low, false);
        set.route(30, &level).unwrap();
        assert_eq!(set.entry(30).unwrap() & 0x1_ffff, 0xa041);
        assert!(set.set_masked(0x41, true));
        assert_ne!(set.entry(30).unwrap() & 1 << 16, 0);
        assert!(!set.set_masked(0x42, true), "no pin behind 0x42");
        assert_eq!(set.route(48, &level), Err(RouteError::NoSuchGsi(48)));
        assert_eq!(set.route(2, &level), Err(RouteError::VectorTaken(0x41)));
        // Routing the same pin again (a new destination) is fine.
        set.route(30, &RedirectionEntry { destination: 2, ..level }).unwrap();
        assert_eq!(set.entry(30).unwrap() >> 56, 2);
    }

    #[test]
    fn the_controller_acknowledges_locally_and_masks_at_the_io_apic() {
        let set = IoApics::new();
        set.add(IoApic::new(FakeIoApic::new(), 0)).unwrap();
        let edge = RedirectionEntry::fixed(0x40, 0, TriggerMode::Edge, Polarity::High, false);
        set.route(2, &edge).unwrap();
        let mut c = ApicController::new(LocalApic::new(FakeApic::new(Mode::XApic, 0)), &set, 0xff);
        assert_eq!(c.accept(0xff), Accepted::Spurious);
        assert_eq!(c.accept(0x40), Accepted::Real);
        assert_eq!(c.spurious(), 1);
        c.eoi(0x40);
        assert_eq!(c.local().registers().writes.last(), Some(&(reg::EOI, 0)));
        c.set_masked(0x40, true);
        assert_ne!(set.entry(2).unwrap() & 1 << 16, 0);
        c.set_masked(0x40, false);
        assert_eq!(set.entry(2).unwrap() & 1 << 16, 0);
        c.set_masked(0x99, true); // nothing behind it: nothing happens
        assert_eq!(c.line_masks(), (1, 1));
    }
}
