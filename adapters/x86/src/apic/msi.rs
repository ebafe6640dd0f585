//! Message-signalled interrupts: the address and data a PCI function writes to deliver a
//! vector to a local APIC (an edge interrupt that no IO-APIC pin stands behind).

use super::ioapic::TriggerMode;

/// The address and data of an MSI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsiMessage {
    /// The address the function writes (in the local APICs' 0xfee0_0000 window).
    pub address: u64,
    /// The value it writes.
    pub data: u32,
}

/// Why an MSI cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsiError {
    /// A vector below 16.
    IllegalVector(u8),
    /// An APIC ID above 255 (it needs interrupt remapping).
    DestinationTooWide(u32),
}

/// The MSI of `vector`, fixed delivery, to the APIC `apic_id` in physical destination
/// mode, with `trigger` (MSIs are edge-triggered in practice; level is encoded as
/// asserted).
///
/// # Errors
/// [`MsiError`].
pub const fn message(
    vector: u8,
    apic_id: u32,
    trigger: TriggerMode,
) -> Result<MsiMessage, MsiError> {
    if vector < 16 {
        return Err(MsiError::IllegalVector(vector));
    }
    if apic_id > 0xff {
        return Err(MsiError::DestinationTooWide(apic_id));
    }
    let level = match trigger {
        TriggerMode::Edge => 0,
        TriggerMode::Level => 1 << 15 | 1 << 14,
    };
    Ok(MsiMessage { address: 0xfee0_0000 | (apic_id as u64) << 12, data: vector as u32 | level })
}

#[cfg(test)]
mod tests {
    use super::{MsiError, MsiMessage, message};
    use crate::apic::ioapic::TriggerMode;

    #[test]
    fn edge_msi_to_one_apic() {
        assert_eq!(
            message(0x50, 1, TriggerMode::Edge),
            Ok(MsiMessage { address: 0xfee0_1000, data: 0x50 })
        );
        assert_eq!(message(0x50, 0xff, TriggerMode::Level).unwrap().data, 0xc050);
        assert_eq!(message(0x0f, 0, TriggerMode::Edge), Err(MsiError::IllegalVector(15)));
        assert_eq!(message(0x50, 256, TriggerMode::Edge), Err(MsiError::DestinationTooWide(256)));
    }
}
