//! [`InterruptController`]: the one small trait through which the adapter acknowledges,
//! masks and unmasks interrupt vectors, whatever chip delivers them.
//!
//! Two implementations:
//!
//! * [`LegacyPic`]: the 8259 pair, driven through the PIC methods of
//!   [`Hardware`] (lines 0 to 15 at the two remapped offsets; the spurious IRQ 7 and 15
//!   rule). The adapter uses it whenever [`Hardware::controller`] answers `None`, which is
//!   the default: a kernel built on the 8259 changes nothing.
//! * [`ApicController`](crate::apic::ApicController): the local APIC of the CPU (EOI, the
//!   spurious vector) and the IO-APIC pins routed to vectors (mask, unmask).
//!
//! Every method works on vectors, the engine's unit: a vector no chip line stands behind
//! (an IPI, an MSI, an exception) is simply not masked, and its EOI goes where that
//! controller's EOIs go.

use crate::adapter::Hardware;
use crate::pic::{Classified, classify, irq_of};

/// Whether an interrupt the CPU took is one the controller really delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// A real interrupt: the engine's.
    Real,
    /// A spurious one (the 8259's IRQ 7 or 15 without its in-service bit, the local APIC's
    /// spurious vector): already dealt with at the chip (whatever EOI it needed), never the
    /// engine's.
    Spurious,
}

/// What the adapter needs of an interrupt controller. Called with interrupts disabled,
/// on the CPU that runs the engine's entry point (the EOI of an interrupt on the CPU that
/// took it).
pub trait InterruptController {
    /// Classifies an interrupt just taken on `vector`; a spurious one is dealt with here.
    fn accept(&mut self, vector: u8) -> Accepted;
    /// End of interrupt for `vector`, taken on this CPU.
    fn eoi(&mut self, vector: u8);
    /// Masks (`true`) or unmasks the line behind `vector`, if there is one.
    fn set_masked(&mut self, vector: u8, masked: bool);
}

/// The 8259 pair with its vectors at `offsets` (master, slave), through the PIC methods of
/// a [`Hardware`].
#[derive(Debug)]
pub struct LegacyPic<'a, H> {
    hw: &'a mut H,
    offsets: (u8, u8),
}

impl<'a, H: Hardware> LegacyPic<'a, H> {
    /// The PICs of `hw`, remapped at `offsets`.
    pub const fn new(hw: &'a mut H, offsets: (u8, u8)) -> Self {
        Self { hw, offsets }
    }
}

impl<H: Hardware> InterruptController for LegacyPic<'_, H> {
    fn accept(&mut self, vector: u8) -> Accepted {
        if let Some(irq @ (7 | 15)) = irq_of(vector, self.offsets) {
            let isr = self.hw.in_service();
            if let Classified::Spurious { eoi_master, .. } = classify(irq, isr) {
                if eoi_master {
                    self.hw.eoi_master();
                }
                return Accepted::Spurious;
            }
        }
        Accepted::Real
    }

    fn eoi(&mut self, vector: u8) {
        if let Some(irq) = irq_of(vector, self.offsets) {
            self.hw.eoi(irq);
        }
    }

    fn set_masked(&mut self, vector: u8, masked: bool) {
        if let Some(irq) = irq_of(vector, self.offsets) {
            self.hw.set_masked(irq, masked);
        }
    }
}
