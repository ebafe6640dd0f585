//! The MADT ("APIC"): the local APICs (the CPUs), the IO-APICs, the ISA interrupt
//! overrides and the NMI pins, parsed entry by entry with each entry's length checked
//! against its type and against the table.

use heapless::Vec;

use super::{AcpiError, HEADER, table, u16_at, u32_at, u64_at};
use crate::apic::ioapic::{Polarity, TriggerMode};
use crate::apic::local::Lvt;

/// Most CPUs kept.
pub const MAX_CPUS: usize = 64;
/// Most IO-APICs kept.
pub const MAX_IOAPICS: usize = crate::apic::MAX_IOAPICS;
/// Most interrupt source overrides kept.
pub const MAX_OVERRIDES: usize = 24;
/// Most local APIC NMI entries kept.
pub const MAX_NMIS: usize = 16;

/// A malformed MADT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MadtError {
    /// An entry shorter than its type needs (or than 2 bytes, which would loop).
    EntryTooShort {
        /// Its offset in the table.
        offset: usize,
        /// Its type.
        entry_type: u8,
        /// Its length byte.
        length: u8,
    },
    /// An entry that runs past the end of the table.
    EntryPastEnd {
        /// Its offset in the table.
        offset: usize,
        /// Its length byte.
        length: u8,
    },
    /// Interrupt flags with a reserved polarity or trigger value.
    ReservedFlags {
        /// The entry's offset.
        offset: usize,
        /// The flags.
        flags: u16,
    },
    /// More entries of a kind than this parser keeps.
    TooMany {
        /// Which kind.
        what: &'static str,
    },
}

/// A CPU's local APIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalApicInfo {
    /// The ACPI processor UID.
    pub processor: u32,
    /// Its APIC ID.
    pub apic_id: u32,
    /// Usable now.
    pub enabled: bool,
    /// Not enabled but can be brought online.
    pub online_capable: bool,
}

/// An IO-APIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApicInfo {
    /// Its IO-APIC ID.
    pub id: u8,
    /// The physical address of its registers.
    pub address: u32,
    /// The global system interrupt of its first pin.
    pub gsi_base: u32,
}

/// An ISA interrupt that is not identity-mapped, or not edge/active-high.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceOverride {
    /// The bus (0: ISA).
    pub bus: u8,
    /// The ISA IRQ.
    pub source: u8,
    /// The global system interrupt it arrives on.
    pub gsi: u32,
    /// Its polarity, `None` for the bus's default.
    pub polarity: Option<Polarity>,
    /// Its trigger, `None` for the bus's default.
    pub trigger: Option<TriggerMode>,
}

/// A local APIC pin wired to NMI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalNmi {
    /// The processor UID, `None` for every processor.
    pub processor: Option<u32>,
    /// LINT0 or LINT1.
    pub lint: u8,
    /// Its polarity, `None` for the bus's default (high).
    pub polarity: Option<Polarity>,
    /// Its trigger, `None` for the bus's default (edge).
    pub trigger: Option<TriggerMode>,
}

impl LocalNmi {
    /// The LVT value of the pin.
    #[must_use]
    pub const fn lvt(&self) -> Lvt {
        Lvt::Nmi {
            level: matches!(self.trigger, Some(TriggerMode::Level)),
            active_low: matches!(self.polarity, Some(Polarity::Low)),
        }
    }
}

/// What the MADT says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Madt {
    /// The local APICs' physical address (the 64-bit override if there is one).
    pub local_apic_address: u64,
    /// The machine also has the dual 8259 (mask it when the APICs take over).
    pub pcat_compat: bool,
    /// The CPUs, in table order (the boot CPU first, by convention).
    pub cpus: Vec<LocalApicInfo, MAX_CPUS>,
    /// The IO-APICs.
    pub io_apics: Vec<IoApicInfo, MAX_IOAPICS>,
    /// The interrupt source overrides.
    pub overrides: Vec<SourceOverride, MAX_OVERRIDES>,
    /// The local APIC NMI pins.
    pub local_nmis: Vec<LocalNmi, MAX_NMIS>,
}

/// `(minimum length, name)` of the entry types this parser reads.
const fn known(entry_type: u8) -> Option<u8> {
    match entry_type {
        0 => Some(8),
        1 => Some(12),
        2 => Some(10),
        3 => Some(8),
        4 => Some(6),
        5 => Some(12),
        9 => Some(16),
        0xa => Some(12),
        _ => None,
    }
}

/// Decodes MPS INTI flags: `(polarity, trigger)`, `None` for "conforms to the bus".
const fn inti(flags: u16) -> Option<(Option<Polarity>, Option<TriggerMode>)> {
    let polarity = match flags & 0b11 {
        0b00 => None,
        0b01 => Some(Polarity::High),
        0b11 => Some(Polarity::Low),
        _ => return None,
    };
    let trigger = match (flags >> 2) & 0b11 {
        0b00 => None,
        0b01 => Some(TriggerMode::Edge),
        0b11 => Some(TriggerMode::Level),
        _ => return None,
    };
    Some((polarity, trigger))
}

impl Madt {
    /// Parses the MADT at the start of `data`.
    ///
    /// # Errors
    /// [`AcpiError`] for a bad header or checksum, [`AcpiError::Madt`] for a malformed
    /// entry or more entries than kept.
    pub fn parse(data: &[u8]) -> Result<Self, AcpiError> {
        let data = table(data, b"APIC")?;
        let truncated =
            AcpiError::Truncated { table: *b"APIC", needed: HEADER + 8, available: data.len() };
        let mut madt = Self {
            local_apic_address: u64::from(u32_at(data, HEADER).ok_or(truncated)?),
            pcat_compat: u32_at(data, HEADER + 4).ok_or(truncated)? & 1 != 0,
            ..Self::default()
        };
        let mut offset = HEADER + 8;
        while offset < data.len() {
            let (Some(&entry_type), length) = (data.get(offset), data.get(offset + 1)) else {
                break;
            };
            let Some(&length) = length else {
                return Err(AcpiError::Madt(MadtError::EntryPastEnd { offset, length: 0 }));
            };
            let too_short = MadtError::EntryTooShort { offset, entry_type, length };
            if length < 2 || known(entry_type).is_some_and(|min| length < min) {
                return Err(AcpiError::Madt(too_short));
            }
            let entry = data
                .get(offset..offset + usize::from(length))
                .ok_or(AcpiError::Madt(MadtError::EntryPastEnd { offset, length }))?;
            madt.entry(entry_type, entry, offset).map_err(AcpiError::Madt)?;
            offset += usize::from(length);
        }
        Ok(madt)
    }

    fn entry(&mut self, entry_type: u8, e: &[u8], offset: usize) -> Result<(), MadtError> {
        // Lengths were checked against `known`: every read below is inside `e`.
        let too_short = MadtError::EntryTooShort { offset, entry_type, length: e.len() as u8 };
        let b = |at: usize| e.get(at).copied().ok_or(too_short);
        let w = |at: usize| u16_at(e, at).ok_or(too_short);
        let d = |at: usize| u32_at(e, at).ok_or(too_short);
        let flags = |raw: u16| inti(raw).ok_or(MadtError::ReservedFlags { offset, flags: raw });
        match entry_type {
            0 | 9 => {
                let (processor, apic_id, f) = if entry_type == 0 {
                    (u32::from(b(2)?), u32::from(b(3)?), d(4)?)
                } else {
                    (d(12)?, d(4)?, d(8)?)
                };
                let cpu = LocalApicInfo {
                    processor,
                    apic_id,
                    enabled: f & 1 != 0,
                    online_capable: f & 2 != 0,
                };
                self.cpus.push(cpu).map_err(|_| MadtError::TooMany { what: "local APICs" })
            }
            1 => {
                let io = IoApicInfo { id: b(2)?, address: d(4)?, gsi_base: d(8)? };
                self.io_apics.push(io).map_err(|_| MadtError::TooMany { what: "IO-APICs" })
            }
            2 => {
                let (polarity, trigger) = flags(w(8)?)?;
                let o = SourceOverride { bus: b(2)?, source: b(3)?, gsi: d(4)?, polarity, trigger };
                self.overrides.push(o).map_err(|_| MadtError::TooMany { what: "overrides" })
            }
            4 | 0xa => {
                let (uid, raw_flags, lint) = if entry_type == 4 {
                    let uid = b(2)?;
                    (if uid == 0xff { None } else { Some(u32::from(uid)) }, w(3)?, b(5)?)
                } else {
                    let uid = d(4)?;
                    (if uid == u32::MAX { None } else { Some(uid) }, w(2)?, b(8)?)
                };
                let (polarity, trigger) = flags(raw_flags)?;
                let nmi = LocalNmi { processor: uid, lint, polarity, trigger };
                self.local_nmis.push(nmi).map_err(|_| MadtError::TooMany { what: "local NMIs" })
            }
            5 => {
                self.local_apic_address = u64_at(e, 4).ok_or(too_short)?;
                Ok(())
            }
            // NMI sources (3) are checked for length and otherwise not needed here;
            // other types (SAPIC, GIC, wake-up...) are skipped.
            _ => Ok(()),
        }
    }

    /// The CPUs that can run: enabled or online-capable.
    pub fn usable_cpus(&self) -> impl Iterator<Item = &LocalApicInfo> {
        self.cpus.iter().filter(|c| c.enabled || c.online_capable)
    }

    /// ISA IRQ `irq`'s global system interrupt, polarity and trigger (an override's, else
    /// identity, edge, active high).
    #[must_use]
    pub fn isa_irq(&self, irq: u8) -> (u32, Polarity, TriggerMode) {
        match self.overrides.iter().find(|o| o.bus == 0 && o.source == irq) {
            Some(o) => (
                o.gsi,
                o.polarity.unwrap_or(Polarity::High),
                o.trigger.unwrap_or(TriggerMode::Edge),
            ),
            None => (u32::from(irq), Polarity::High, TriggerMode::Edge),
        }
    }

    /// The LINT pins of processor `uid` that are NMIs: `(lint0, lint1)`.
    #[must_use]
    pub fn nmi_pins(&self, uid: u32) -> (Option<Lvt>, Option<Lvt>) {
        let mut pins = (None, None);
        for nmi in self.local_nmis.iter().filter(|n| n.processor.is_none_or(|p| p == uid)) {
            match nmi.lint {
                0 => pins.0 = Some(nmi.lvt()),
                1 => pins.1 = Some(nmi.lvt()),
                _ => {}
            }
        }
        pins
    }
}
