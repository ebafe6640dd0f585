//! The interrupt command register: inter-processor interrupts as values, encoded for the
//! xAPIC (two 32-bit registers, 8-bit destination) and the x2APIC (one 64-bit MSR, 32-bit
//! destination), and decoded back (for tests and for a recording local APIC).

/// What an IPI delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A fixed interrupt on a vector (16 to 255).
    Fixed(u8),
    /// A non-maskable interrupt.
    Nmi,
    /// INIT, asserted: the target resets into its wait-for-SIPI state.
    Init,
    /// INIT de-asserted (level-triggered), sent after [`Delivery::Init`] to the older
    /// discrete APICs; harmless on the others.
    InitDeassert,
    /// Start-up: the target starts in real mode at `page << 12` (the page is below 1 MiB).
    Startup(u8),
}

/// Whom an IPI goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// The local APIC with this ID (physical destination mode).
    Apic(u32),
    /// The sending CPU.
    SelfOnly,
    /// Every CPU, the sender included.
    AllIncludingSelf,
    /// Every other CPU.
    AllExcludingSelf,
}

/// An inter-processor interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipi {
    /// What it delivers.
    pub delivery: Delivery,
    /// To whom.
    pub destination: Destination,
}

/// Why an IPI cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcrError {
    /// A fixed vector below 16 (the local APIC refuses it with a send-illegal-vector
    /// error).
    IllegalVector(u8),
    /// An APIC ID that does not fit the xAPIC's 8-bit destination.
    DestinationTooWide(u32),
    /// A raw value with a delivery mode or shorthand this module does not send.
    Unsupported(u64),
}

const FIXED: u64 = 0b000 << 8;
const NMI: u64 = 0b100 << 8;
const INIT: u64 = 0b101 << 8;
const STARTUP: u64 = 0b110 << 8;
const MODE_MASK: u64 = 0b111 << 8;
/// Level: assert.
const ASSERT: u64 = 1 << 14;
/// Trigger mode: level.
const LEVEL: u64 = 1 << 15;
const SHORTHAND_SHIFT: u64 = 18;
/// Delivery status (read-only): the local APIC has not sent the previous IPI yet.
pub const SEND_PENDING: u32 = 1 << 12;

impl Ipi {
    /// A fixed interrupt on `vector` to the APIC `apic_id`: the kick of another CPU.
    #[must_use]
    pub const fn fixed(vector: u8, apic_id: u32) -> Self {
        Self { delivery: Delivery::Fixed(vector), destination: Destination::Apic(apic_id) }
    }

    /// The low 32 bits: vector, delivery mode, level, trigger, shorthand (the same in both
    /// modes).
    ///
    /// # Errors
    /// [`IcrError::IllegalVector`] for a fixed vector below 16.
    pub const fn low(&self) -> Result<u32, IcrError> {
        let mode = match self.delivery {
            Delivery::Fixed(v) if v < 16 => return Err(IcrError::IllegalVector(v)),
            Delivery::Fixed(v) => FIXED | v as u64 | ASSERT,
            Delivery::Nmi => NMI | ASSERT,
            Delivery::Init => INIT | ASSERT,
            Delivery::InitDeassert => INIT | LEVEL,
            Delivery::Startup(page) => STARTUP | page as u64 | ASSERT,
        };
        let shorthand: u64 = match self.destination {
            Destination::Apic(_) => 0,
            Destination::SelfOnly => 1,
            Destination::AllIncludingSelf => 2,
            Destination::AllExcludingSelf => 3,
        };
        Ok((mode | shorthand << SHORTHAND_SHIFT) as u32)
    }

    const fn target(&self) -> u32 {
        match self.destination {
            Destination::Apic(id) => id,
            _ => 0,
        }
    }

    /// The xAPIC encoding: `(high, low)`, written in that order (the write of the low
    /// register sends).
    ///
    /// # Errors
    /// As [`low`](Self::low), and [`IcrError::DestinationTooWide`] for an APIC ID above
    /// 255.
    pub const fn xapic(&self) -> Result<(u32, u32), IcrError> {
        let low = match self.low() {
            Ok(low) => low,
            Err(e) => return Err(e),
        };
        let id = self.target();
        if id > 0xff {
            return Err(IcrError::DestinationTooWide(id));
        }
        Ok((id << 24, low))
    }

    /// The x2APIC encoding: one 64-bit write of the ICR MSR, destination in the high half.
    ///
    /// # Errors
    /// As [`low`](Self::low).
    pub const fn x2apic(&self) -> Result<u64, IcrError> {
        match self.low() {
            Ok(low) => Ok((self.target() as u64) << 32 | low as u64),
            Err(e) => Err(e),
        }
    }

    /// Decodes an x2APIC ICR value (an xAPIC one as `(high as u64) >> 24 << 32 | low`).
    ///
    /// # Errors
    /// [`IcrError::Unsupported`] for a delivery mode or trigger this module never sends,
    /// [`IcrError::IllegalVector`] for a fixed vector below 16.
    pub const fn decode(raw: u64) -> Result<Self, IcrError> {
        let vector = raw as u8;
        let level = raw & LEVEL != 0;
        let assert = raw & ASSERT != 0;
        let delivery = match (raw & MODE_MASK, level, assert) {
            (FIXED, false, true) if vector < 16 => return Err(IcrError::IllegalVector(vector)),
            (FIXED, false, true) => Delivery::Fixed(vector),
            (NMI, false, true) => Delivery::Nmi,
            (INIT, false, true) => Delivery::Init,
            (INIT, true, false) => Delivery::InitDeassert,
            (STARTUP, false, true) => Delivery::Startup(vector),
            _ => return Err(IcrError::Unsupported(raw)),
        };
        let destination = match (raw >> SHORTHAND_SHIFT) & 3 {
            0 => Destination::Apic((raw >> 32) as u32),
            1 => Destination::SelfOnly,
            2 => Destination::AllIncludingSelf,
            _ => Destination::AllExcludingSelf,
        };
        Ok(Self { delivery, destination })
    }
}

#[cfg(test)]
mod tests {
    use super::{Delivery, Destination, IcrError, Ipi};

    #[test]
    fn the_start_up_sequence_encodes_as_the_sdm_shows() {
        let to = |delivery| Ipi { delivery, destination: Destination::Apic(3) };
        assert_eq!(to(Delivery::Init).xapic(), Ok((3 << 24, 0x0000_4500)));
        assert_eq!(to(Delivery::InitDeassert).xapic(), Ok((3 << 24, 0x0000_8500)));
        assert_eq!(to(Delivery::Startup(0x08)).xapic(), Ok((3 << 24, 0x0000_4608)));
        assert_eq!(to(Delivery::Nmi).x2apic(), Ok(3 << 32 | 0x4400));
    }

    #[test]
    fn a_kick_is_a_fixed_edge_ipi_to_one_apic() {
        assert_eq!(Ipi::fixed(0xf0, 1).xapic(), Ok((1 << 24, 0x40f0)));
        assert_eq!(Ipi::fixed(0xf0, 0x1_0000).x2apic(), Ok(0x1_0000 << 32 | 0x40f0));
        assert_eq!(Ipi::fixed(0xf0, 256).xapic(), Err(IcrError::DestinationTooWide(256)));
        assert_eq!(Ipi::fixed(15, 1).low(), Err(IcrError::IllegalVector(15)));
        let all =
            Ipi { delivery: Delivery::Fixed(0x30), destination: Destination::AllExcludingSelf };
        assert_eq!(all.low(), Ok(0x000c_4030));
        let me = Ipi { delivery: Delivery::Fixed(0x30), destination: Destination::SelfOnly };
        assert_eq!(me.low(), Ok(0x0004_4030));
    }

    #[test]
    fn every_ipi_decodes_back_to_itself() {
        let deliveries = [
            Delivery::Fixed(16),
            Delivery::Fixed(0xff),
            Delivery::Nmi,
            Delivery::Init,
            Delivery::InitDeassert,
            Delivery::Startup(0x9f),
        ];
        let destinations = [
            Destination::Apic(0),
            Destination::Apic(u32::MAX),
            Destination::SelfOnly,
            Destination::AllIncludingSelf,
            Destination::AllExcludingSelf,
        ];
        for delivery in deliveries {
            for destination in destinations {
                let ipi = Ipi { delivery, destination };
                assert_eq!(Ipi::decode(ipi.x2apic().unwrap()), Ok(ipi));
            }
        }
    }

    #[test]
    fn values_it_never_sends_are_refused_not_guessed() {
        assert_eq!(Ipi::decode(0x4005), Err(IcrError::IllegalVector(5)));
        // Lowest priority, SMI, reserved, ExtINT; a level-triggered fixed IPI.
        for raw in [0x4130, 0x4230, 0x4330, 0x4730, 0xc030] {
            assert_eq!(Ipi::decode(raw), Err(IcrError::Unsupported(raw)));
        }
    }
}
