//! The ACPI parser against tables built like QEMU's q35 (four CPUs, one IO-APIC, the ISA
//! overrides, the LINT1 NMI), and against every truncation and many corruptions of them.

extern crate std;
use std::vec::Vec;

use super::madt::{LocalApicInfo, MadtError};
use super::{AcpiError, Madt, PhysicalMemory, Rsdp, find, scan_rsdp, table};
use crate::apic::ioapic::{Polarity, TriggerMode};
use crate::apic::local::Lvt;

fn fix_checksum(bytes: &mut [u8], at: usize) {
    bytes[at] = 0;
    let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    bytes[at] = 0u8.wrapping_sub(sum);
}

/// A table: header with `signature` and `body`, length and checksum right.
pub(crate) fn sdt(signature: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(signature);
    t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
    t.push(3); // revision
    t.push(0); // checksum
    t.extend_from_slice(b"BOCHS ");
    t.extend_from_slice(b"BXPC    ");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(b"BXPC");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(body);
    fix_checksum(&mut t, 9);
    t
}

/// The body of QEMU's q35 MADT with `cpus` CPUs.
pub(crate) fn q35_madt_body(cpus: u8) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // PCAT_COMPAT
    for i in 0..cpus {
        b.extend_from_slice(&[0, 8, i, i]);
        b.extend_from_slice(&1u32.to_le_bytes());
    }
    b.extend_from_slice(&[1, 12, 0, 0]);
    b.extend_from_slice(&0xfec0_0000u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    // IRQ 0 -> GSI 2, conforming; IRQs 5, 9, 10, 11 level, active high.
    b.extend_from_slice(&[2, 10, 0, 0]);
    b.extend_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    for irq in [5u8, 9, 10, 11] {
        b.extend_from_slice(&[2, 10, 0, irq]);
        b.extend_from_slice(&u32::from(irq).to_le_bytes());
        b.extend_from_slice(&0x000du16.to_le_bytes());
    }
    // LINT1 of every processor is the NMI.
    b.extend_from_slice(&[4, 6, 0xff, 0, 0, 1]);
    b
}

fn q35_madt(cpus: u8) -> Vec<u8> {
    sdt(b"APIC", &q35_madt_body(cpus))
}

#[test]
fn a_q35_madt() {
    let madt = Madt::parse(&q35_madt(4)).unwrap();
    assert_eq!(madt.local_apic_address, 0xfee0_0000);
    assert!(madt.pcat_compat);
    assert_eq!(madt.cpus.len(), 4);
    assert_eq!(
        madt.cpus[3],
        LocalApicInfo { processor: 3, apic_id: 3, enabled: true, online_capable: false }
    );
    assert_eq!(madt.usable_cpus().count(), 4);
    assert_eq!(madt.io_apics.len(), 1);
    assert_eq!((madt.io_apics[0].address, madt.io_apics[0].gsi_base), (0xfec0_0000, 0));
    assert_eq!(madt.isa_irq(0), (2, Polarity::High, TriggerMode::Edge));
    assert_eq!(madt.isa_irq(9), (9, Polarity::High, TriggerMode::Level));
    assert_eq!(madt.isa_irq(4), (4, Polarity::High, TriggerMode::Edge));
    assert_eq!(madt.nmi_pins(2), (None, Some(Lvt::Nmi { level: false, active_low: false })));
}

#[test]
fn x2apic_entries_and_the_address_override() {
    let mut body = q35_madt_body(1);
    // An x2APIC CPU with ID 0x1_0000 (UID 7), online-capable only.
    body.extend_from_slice(&[9, 16, 0, 0]);
    body.extend_from_slice(&0x1_0000u32.to_le_bytes());
    body.extend_from_slice(&2u32.to_le_bytes());
    body.extend_from_slice(&7u32.to_le_bytes());
    // Its LINT0 is an NMI, level, active low.
    body.extend_from_slice(&[0xa, 12, 0x0f, 0]);
    body.extend_from_slice(&7u32.to_le_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]);
    // The local APIC address, 64-bit.
    body.extend_from_slice(&[5, 12, 0, 0]);
    body.extend_from_slice(&0x1_fee0_0000u64.to_le_bytes());
    // An entry of a type this parser skips (a GIC CPU interface), of its own length.
    body.extend_from_slice(&[0xb, 4, 0, 0]);
    let madt = Madt::parse(&sdt(b"APIC", &body)).unwrap();
    assert_eq!(madt.local_apic_address, 0x1_fee0_0000);
    assert_eq!(
        madt.cpus[1],
        LocalApicInfo { processor: 7, apic_id: 0x1_0000, enabled: false, online_capable: true }
    );
    assert_eq!(madt.usable_cpus().count(), 2);
    let (lint0, lint1) = madt.nmi_pins(7);
    assert_eq!(lint0, Some(Lvt::Nmi { level: true, active_low: true }));
    assert_eq!(lint1, Some(Lvt::Nmi { level: false, active_low: false }));
    assert_eq!(madt.nmi_pins(0).0, None);
}

#[test]
fn malformed_entries_are_typed_errors() {
    let with = |entry: &[u8]| {
        let mut body = q35_madt_body(1);
        let at = 36 + body.len();
        body.extend_from_slice(entry);
        (Madt::parse(&sdt(b"APIC", &body)), at)
    };
    // A zero length would loop for ever; a one-byte length too.
    for length in [0u8, 1] {
        let (r, offset) = with(&[0, length, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            r,
            Err(AcpiError::Madt(MadtError::EntryTooShort { offset, entry_type: 0, length }))
        );
    }
    // An IO-APIC entry of 8 bytes (it needs 12).
    let (r, offset) = with(&[1, 8, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        r,
        Err(AcpiError::Madt(MadtError::EntryTooShort { offset, entry_type: 1, length: 8 }))
    );
    // An entry longer than what is left of the table.
    let (r, offset) = with(&[0, 200, 0, 0]);
    assert_eq!(r, Err(AcpiError::Madt(MadtError::EntryPastEnd { offset, length: 200 })));
    // A lone type byte at the very end.
    let (r, offset) = with(&[0]);
    assert_eq!(r, Err(AcpiError::Madt(MadtError::EntryPastEnd { offset, length: 0 })));
    // Reserved trigger value (0b10) in an override.
    let (r, offset) = with(&[2, 10, 0, 3, 3, 0, 0, 0, 0b1000, 0]);
    assert_eq!(r, Err(AcpiError::Madt(MadtError::ReservedFlags { offset, flags: 0b1000 })));
    // More CPUs than kept.
    let mut body = q35_madt_body(0);
    for i in 0..=64u8 {
        body.extend_from_slice(&[0, 8, i, i, 1, 0, 0, 0]);
    }
    assert_eq!(
        Madt::parse(&sdt(b"APIC", &body)),
        Err(AcpiError::Madt(MadtError::TooMany { what: "local APICs" }))
    );
}

#[test]
fn bad_headers_are_typed_errors() {
    let good = q35_madt(2);
    let mut bad_sum = good.clone();
    bad_sum[40] ^= 1;
    assert_eq!(Madt::parse(&bad_sum), Err(AcpiError::BadChecksum { table: *b"APIC" }));
    assert!(matches!(
        Madt::parse(&sdt(b"FACP", &[0; 8])),
        Err(AcpiError::BadSignature { expected: [b'A', b'P', b'I', b'C'], .. })
    ));
    let mut short = good.clone();
    short[4..8].copy_from_slice(&20u32.to_le_bytes());
    assert_eq!(Madt::parse(&short), Err(AcpiError::BadLength { table: *b"APIC", length: 20 }));
    let mut long = good.clone();
    long[4..8].copy_from_slice(&(good.len() as u32 + 1).to_le_bytes());
    assert!(matches!(Madt::parse(&long), Err(AcpiError::Truncated { .. })));
    // A MADT with a header but not its 8 bytes of APIC address and flags.
    assert!(matches!(Madt::parse(&sdt(b"APIC", &[0; 4])), Err(AcpiError::Truncated { .. })));
}

#[test]
fn every_truncation_and_corruption_is_an_error_or_a_table_never_a_panic() {
    let good = q35_madt(4);
    for len in 0..good.len() {
        assert!(Madt::parse(&good[..len]).is_err(), "{len} bytes");
        // A table whose length field says so (checksum fixed): entries cut anywhere.
        if len >= 44 {
            let mut cut = good[..len].to_vec();
            cut[4..8].copy_from_slice(&(len as u32).to_le_bytes());
            fix_checksum(&mut cut, 9);
            let _ = Madt::parse(&cut);
        }
    }
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut t = good.clone();
        let at = 44 + (x as usize % (t.len() - 44));
        t[at] = (x >> 32) as u8;
        let at2 = 44 + ((x >> 8) as usize % (t.len() - 44));
        t[at2] = (x >> 40) as u8;
        fix_checksum(&mut t, 9);
        let _ = Madt::parse(&t);
    }
}

fn rsdp_v2(xsdt: u64) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(b"RSD PTR ");
    r.push(0);
    r.extend_from_slice(b"BOCHS ");
    r.push(2);
    r.extend_from_slice(&0x1000u32.to_le_bytes());
    r.extend_from_slice(&36u32.to_le_bytes());
    r.extend_from_slice(&xsdt.to_le_bytes());
    r.extend_from_slice(&[0; 4]);
    fix_checksum(&mut r[..20], 8);
    fix_checksum(&mut r, 32);
    r
}

fn rsdp_v1(rsdt: u32) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(b"RSD PTR ");
    r.push(0);
    r.extend_from_slice(b"BOCHS ");
    r.push(0);
    r.extend_from_slice(&rsdt.to_le_bytes());
    fix_checksum(&mut r, 8);
    r
}

#[test]
fn rsdp_revisions_and_search() {
    assert_eq!(
        Rsdp::parse(&rsdp_v1(0x7fe_1000)),
        Ok(Rsdp { revision: 0, rsdt: 0x7fe_1000, xsdt: None })
    );
    let v2 = Rsdp::parse(&rsdp_v2(0x7fe_2000)).unwrap();
    assert_eq!((v2.revision, v2.xsdt), (2, Some(0x7fe_2000)));
    let mut bad = rsdp_v2(0x7fe_2000);
    bad[30] ^= 1;
    assert_eq!(Rsdp::parse(&bad), Err(AcpiError::BadChecksum { table: *b"RSD " }));
    assert!(matches!(Rsdp::parse(&rsdp_v1(1)[..12]), Err(AcpiError::Truncated { .. })));
    assert!(matches!(Rsdp::parse(&rsdp_v2(1)[..30]), Err(AcpiError::Truncated { .. })));
    let mut area = std::vec![0u8; 4096];
    // A signature off the 16-byte grid is not an RSDP; the one on it is.
    area[0x105..0x105 + 20].copy_from_slice(&rsdp_v1(5));
    area[0x230..0x230 + 20].copy_from_slice(&rsdp_v1(6));
    assert_eq!(scan_rsdp(&area), Some(0x230));
    assert_eq!(scan_rsdp(&[0; 64]), None);
}

/// Physical memory as a map of byte vectors.
struct Memory(Vec<(u64, Vec<u8>)>);

impl PhysicalMemory for Memory {
    fn read(&self, address: u64, length: usize) -> Option<&[u8]> {
        self.0.iter().find_map(|(base, bytes)| {
            let at = usize::try_from(address.checked_sub(*base)?).ok()?;
            bytes.get(at..at.checked_add(length)?)
        })
    }
}

#[test]
fn the_madt_is_found_through_the_rsdt_and_the_xsdt() {
    let madt = q35_madt(4);
    let facp = sdt(b"FACP", &[0; 8]);
    let mut rsdt_body = Vec::new();
    rsdt_body.extend_from_slice(&0x3000u32.to_le_bytes());
    rsdt_body.extend_from_slice(&0x9999_0000u32.to_le_bytes()); // unreadable: skipped
    rsdt_body.extend_from_slice(&0x2000u32.to_le_bytes());
    let mut xsdt_body = Vec::new();
    xsdt_body.extend_from_slice(&0x2000u64.to_le_bytes());
    let memory = Memory(std::vec![
        (0x1000, sdt(b"RSDT", &rsdt_body)),
        (0x2000, madt.clone()),
        (0x3000, facp),
        (0x4000, sdt(b"XSDT", &xsdt_body)),
    ]);
    let v1 = Rsdp::parse(&rsdp_v1(0x1000)).unwrap();
    assert_eq!(find(&memory, &v1, b"APIC"), Ok(&madt[..]));
    assert_eq!(find(&memory, &v1, b"HPET"), Err(AcpiError::NotFound(*b"HPET")));
    let v2 = Rsdp::parse(&rsdp_v2(0x4000)).unwrap();
    assert_eq!(find(&memory, &v2, b"APIC").map(|t| table(t, b"APIC").is_ok()), Ok(true));
    let nowhere = Rsdp { revision: 0, rsdt: 0x8000, xsdt: None };
    assert_eq!(
        find(&memory, &nowhere, b"APIC"),
        Err(AcpiError::Unmapped { address: 0x8000, length: 36 })
    );
}
