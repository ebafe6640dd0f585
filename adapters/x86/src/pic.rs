//! The two cascaded 8259 PICs: remapping, masks, EOI, IRR/ISR, and the spurious IRQ 7
//! and 15 rule.
//!
//! A spurious interrupt is one the PIC signalled and then withdrew: it reports the
//! lowest-priority line of the chip (IRQ 7 for the master, 15 for the slave) without
//! setting its in-service bit. It must not be acknowledged at the chip that made it: a
//! spurious IRQ 7 gets no EOI at all; a spurious IRQ 15 gets an EOI at the master only
//! (the master did take the cascade line, IRQ 2, into service).

use crate::cpu::{inb, outb};

/// Master PIC command port.
pub const MASTER_COMMAND: u16 = 0x20;
/// Master PIC data port.
pub const MASTER_DATA: u16 = 0x21;
/// Slave PIC command port.
pub const SLAVE_COMMAND: u16 = 0xA0;
/// Slave PIC data port.
pub const SLAVE_DATA: u16 = 0xA1;
/// The cascade line on the master.
pub const CASCADE_IRQ: u8 = 2;

const EOI: u8 = 0x20;
const READ_IRR: u8 = 0x0A;
const READ_ISR: u8 = 0x0B;

/// What an interrupt on a PIC vector is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classified {
    /// A real interrupt of this line.
    Real(u8),
    /// A spurious IRQ 7 or 15: do not acknowledge at its chip; `eoi_master` says whether
    /// the master still needs its EOI (the cascade of a spurious IRQ 15).
    Spurious {
        /// The line reported.
        irq: u8,
        /// Send an EOI to the master only.
        eoi_master: bool,
    },
}

/// The interrupt line of `vector` with the chips remapped at `offsets` (master, slave),
/// or `None` if the vector is not a PIC vector.
#[must_use]
pub const fn irq_of(vector: u8, offsets: (u8, u8)) -> Option<u8> {
    let (v, master, slave) = (vector as u16, offsets.0 as u16, offsets.1 as u16);
    if v >= master && v < master + 8 {
        Some(vector - offsets.0)
    } else if v >= slave && v < slave + 8 {
        Some(vector - offsets.1 + 8)
    } else {
        None
    }
}

/// Classifies an interrupt of line `irq` given the chips' in-service registers `isr`
/// (master in bits 0..8, slave in 8..16), read after the interrupt was taken.
#[must_use]
pub const fn classify(irq: u8, isr: u16) -> Classified {
    match irq {
        7 if isr & (1 << 7) == 0 => Classified::Spurious { irq, eoi_master: false },
        15 if isr & (1 << 15) == 0 => Classified::Spurious { irq, eoi_master: true },
        _ => Classified::Real(irq),
    }
}

/// The chips to acknowledge for a real interrupt of `irq`: (slave, master).
#[must_use]
pub const fn eoi_targets(irq: u8) -> (bool, bool) {
    (irq >= 8, true)
}

/// The mask register values (master, slave) for the line mask `mask` (bit `n` masks
/// IRQ `n`); the cascade line stays open whenever a slave line is open.
#[must_use]
pub const fn mask_bytes(mask: u16) -> (u8, u8) {
    let slave = (mask >> 8) as u8;
    let mut master = mask as u8;
    if slave != 0xff {
        master &= !(1 << CASCADE_IRQ);
    }
    (master, slave)
}

/// The pair of 8259s, with the mask kept in memory (the data ports are written, never
/// read back).
#[derive(Debug)]
pub struct Pic {
    offsets: (u8, u8),
    mask: u16,
}

impl Pic {
    /// The chips with their vectors at `master` and `slave` (each a multiple of 8, above
    /// the 32 exception vectors), every line masked. Nothing is written yet: see
    /// [`init`](Self::init).
    #[must_use]
    pub const fn new(master: u8, slave: u8) -> Self {
        Self { offsets: (master, slave), mask: 0xffff }
    }

    /// The vector offsets (master, slave).
    #[must_use]
    pub const fn offsets(&self) -> (u8, u8) {
        self.offsets
    }

    /// The line of `vector`, if it is one of these chips'.
    #[must_use]
    pub const fn irq_of(&self, vector: u8) -> Option<u8> {
        irq_of(vector, self.offsets)
    }

    /// The lines masked now (bit `n` for IRQ `n`).
    #[must_use]
    pub const fn mask(&self) -> u16 {
        self.mask
    }

    /// Remaps both chips (ICW1..ICW4: edge triggered, cascade on IRQ 2, 8086 mode) and
    /// masks every line.
    ///
    /// # Safety
    /// Ring 0, with interrupts disabled, and the kernel owns the PICs.
    pub unsafe fn init(&mut self) {
        let (master, slave) = self.offsets;
        // SAFETY: ring 0 and the kernel owns the chips (function contract); this is the
        // standard initialization sequence.
        unsafe {
            outb(MASTER_COMMAND, 0x11);
            outb(SLAVE_COMMAND, 0x11);
            outb(MASTER_DATA, master);
            outb(SLAVE_DATA, slave);
            outb(MASTER_DATA, 1 << CASCADE_IRQ);
            outb(SLAVE_DATA, CASCADE_IRQ);
            outb(MASTER_DATA, 0x01);
            outb(SLAVE_DATA, 0x01);
        }
        self.mask = 0xffff;
        // SAFETY: as above.
        unsafe { self.write_mask() };
    }

    /// Masks (`true`) or unmasks line `irq` (0 to 15; others are ignored).
    ///
    /// # Safety
    /// Ring 0, and the kernel owns the PICs.
    pub unsafe fn set_masked(&mut self, irq: u8, masked: bool) {
        if irq >= 16 {
            return;
        }
        if masked {
            self.mask |= 1 << irq;
        } else {
            self.mask &= !(1 << irq);
        }
        // SAFETY: ring 0 and the kernel owns the chips (function contract).
        unsafe { self.write_mask() };
    }

    /// End of interrupt for a real interrupt of `irq`: the slave (for IRQ 8 to 15) and
    /// the master.
    ///
    /// # Safety
    /// Ring 0, and the kernel owns the PICs.
    pub unsafe fn eoi(&mut self, irq: u8) {
        let (slave, master) = eoi_targets(irq);
        // SAFETY: ring 0 and the kernel owns the chips (function contract).
        unsafe {
            if slave {
                outb(SLAVE_COMMAND, EOI);
            }
            if master {
                outb(MASTER_COMMAND, EOI);
            }
        }
    }

    /// EOI at the master only (a spurious IRQ 15's cascade).
    ///
    /// # Safety
    /// Ring 0, and the kernel owns the PICs.
    pub unsafe fn eoi_master(&mut self) {
        // SAFETY: ring 0 and the kernel owns the chips (function contract).
        unsafe { outb(MASTER_COMMAND, EOI) };
    }

    /// The in-service registers (master in bits 0..8, slave in 8..16).
    ///
    /// # Safety
    /// Ring 0, and the kernel owns the PICs.
    #[must_use]
    pub unsafe fn read_isr(&mut self) -> u16 {
        // SAFETY: ring 0 and the kernel owns the chips (function contract).
        unsafe { Self::read_register(READ_ISR) }
    }

    /// The interrupt request registers (master in bits 0..8, slave in 8..16).
    ///
    /// # Safety
    /// Ring 0, and the kernel owns the PICs.
    #[must_use]
    pub unsafe fn read_irr(&mut self) -> u16 {
        // SAFETY: ring 0 and the kernel owns the chips (function contract).
        unsafe { Self::read_register(READ_IRR) }
    }

    /// # Safety
    /// Ring 0, and the kernel owns the PICs.
    unsafe fn read_register(ocw3: u8) -> u16 {
        // SAFETY: ring 0 and the kernel owns the chips (function contract).
        unsafe {
            outb(MASTER_COMMAND, ocw3);
            outb(SLAVE_COMMAND, ocw3);
            u16::from(inb(MASTER_COMMAND)) | (u16::from(inb(SLAVE_COMMAND)) << 8)
        }
    }

    /// # Safety
    /// Ring 0, and the kernel owns the PICs.
    unsafe fn write_mask(&self) {
        let (master, slave) = mask_bytes(self.mask);
        // SAFETY: ring 0 and the kernel owns the chips (function contract).
        unsafe {
            outb(MASTER_DATA, master);
            outb(SLAVE_DATA, slave);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Classified, classify, eoi_targets, irq_of, mask_bytes};

    #[test]
    fn vectors_map_to_lines() {
        let offsets = (0x20, 0x28);
        assert_eq!(irq_of(0x20, offsets), Some(0));
        assert_eq!(irq_of(0x27, offsets), Some(7));
        assert_eq!(irq_of(0x28, offsets), Some(8));
        assert_eq!(irq_of(0x2f, offsets), Some(15));
        assert_eq!(irq_of(0x1f, offsets), None);
        assert_eq!(irq_of(0x30, offsets), None);
        assert_eq!(irq_of(0x80, offsets), None);
        assert_eq!(irq_of(0xfa, (0xf8, 0xf0)), Some(2), "no overflow near 255");
    }

    #[test]
    fn spurious_seven_and_fifteen() {
        assert_eq!(classify(7, 0), Classified::Spurious { irq: 7, eoi_master: false });
        assert_eq!(classify(7, 1 << 7), Classified::Real(7));
        // A slave interrupt sets the master's cascade bit; a spurious 15 does not set 15.
        assert_eq!(classify(15, 1 << 2), Classified::Spurious { irq: 15, eoi_master: true });
        assert_eq!(classify(15, (1 << 15) | (1 << 2)), Classified::Real(15));
        // Other lines are never spurious.
        assert_eq!(classify(0, 0), Classified::Real(0));
        assert_eq!(classify(14, 0), Classified::Real(14));
    }

    #[test]
    fn eoi_goes_to_the_slave_too_for_slave_lines() {
        assert_eq!(eoi_targets(0), (false, true));
        assert_eq!(eoi_targets(7), (false, true));
        assert_eq!(eoi_targets(8), (true, true));
        assert_eq!(eoi_targets(15), (true, true));
    }

    #[test]
    fn cascade_opens_with_any_slave_line() {
        assert_eq!(mask_bytes(0xffff), (0xff, 0xff));
        assert_eq!(mask_bytes(0xfffe), (0xfe, 0xff));
        assert_eq!(mask_bytes(0xfeff), (0xfb, 0xfe));
    }
}
