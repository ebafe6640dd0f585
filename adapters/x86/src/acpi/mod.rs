//! ACPI, as far as interrupts need it: the RSDP, the root table (RSDT or XSDT) and the
//! MADT ([`madt`]), parsed from byte slices with every length and checksum checked, so
//! that a malformed table is a typed [`AcpiError`], never a panic, an endless loop or a
//! read past the table.
//!
//! Why not the `acpi` crate: its MADT entry iterator follows the entries' own length
//! bytes through raw pointers (a zero length loops for ever, a length past the table
//! reads past it, a table shorter than its header underflows a subtraction), and the
//! processor and IO-APIC lists (`platform_info`) need an allocator (its `allocator_api`
//! feature needs a nightly compiler). What interrupts need is a few hundred lines.
//!
//! The tables are found in physical memory through [`PhysicalMemory`]:
//! [`IdentityMapped`] for a kernel that maps low memory at its own addresses, a byte
//! vector in the tests.

pub mod madt;

pub use madt::{IoApicInfo, LocalApicInfo, LocalNmi, Madt, MadtError, SourceOverride};

/// Most bytes a table may have (a sanity bound: a MADT of 64 CPUs is under 1 KiB).
pub const MAX_TABLE: u32 = 1 << 20;
/// Bytes of the common table header.
pub const HEADER: usize = 36;

/// Why the tables could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP in the areas searched.
    NoRsdp,
    /// A table does not start with the signature expected.
    BadSignature {
        /// The signature expected (the RSDP's first 4 bytes for the RSDP).
        expected: [u8; 4],
        /// The bytes found.
        found: [u8; 4],
    },
    /// A table's bytes do not sum to zero.
    BadChecksum {
        /// Its signature.
        table: [u8; 4],
    },
    /// A table's length field is below its header or above [`MAX_TABLE`].
    BadLength {
        /// Its signature.
        table: [u8; 4],
        /// The length it claims.
        length: u32,
    },
    /// Fewer bytes than the table needs.
    Truncated {
        /// Its signature (or the RSDP's first bytes).
        table: [u8; 4],
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// Physical memory at `address` (for `length` bytes) is not readable.
    Unmapped {
        /// The address.
        address: u64,
        /// The length.
        length: usize,
    },
    /// The root table names no table with this signature.
    NotFound([u8; 4]),
    /// The MADT is malformed.
    Madt(MadtError),
}

/// Reads little-endian integers at an offset, or says how many bytes were missing.
pub(crate) fn bytes<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    let end = at.checked_add(N)?;
    let slice = data.get(at..end)?;
    let mut out = [0u8; N];
    out.copy_from_slice(slice);
    Some(out)
}

pub(crate) fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    bytes::<2>(data, at).map(u16::from_le_bytes)
}

pub(crate) fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    bytes::<4>(data, at).map(u32::from_le_bytes)
}

pub(crate) fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    bytes::<8>(data, at).map(u64::from_le_bytes)
}

fn checksum_ok(data: &[u8]) -> bool {
    data.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)) == 0
}

fn signature_of(data: &[u8]) -> [u8; 4] {
    bytes::<4>(data, 0).unwrap_or([0; 4])
}

/// The root system description pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// 0 for ACPI 1.0 (RSDT only), 2 and up for the XSDT.
    pub revision: u8,
    /// Physical address of the RSDT.
    pub rsdt: u32,
    /// Physical address of the XSDT (revision 2 and up, when not zero).
    pub xsdt: Option<u64>,
}

/// Bytes of an ACPI 1.0 RSDP.
pub const RSDP_V1: usize = 20;
/// Bytes of an ACPI 2.0 RSDP.
pub const RSDP_V2: usize = 36;
const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";

impl Rsdp {
    /// Parses the RSDP at the start of `data` (20 bytes for revision 0, 36 after).
    ///
    /// # Errors
    /// A wrong signature, a short slice, a bad checksum (of the first 20 bytes, and for
    /// revision 2 of the whole structure).
    pub fn parse(data: &[u8]) -> Result<Self, AcpiError> {
        let head = signature_of(data);
        let truncated =
            |needed| AcpiError::Truncated { table: head, needed, available: data.len() };
        let v1 = data.get(..RSDP_V1).ok_or(truncated(RSDP_V1))?;
        if &v1[..8] != RSDP_SIGNATURE {
            return Err(AcpiError::BadSignature { expected: *b"RSD ", found: head });
        }
        if !checksum_ok(v1) {
            return Err(AcpiError::BadChecksum { table: *b"RSD " });
        }
        let revision = v1[15];
        let rsdt = u32_at(v1, 16).ok_or(truncated(RSDP_V1))?;
        if revision < 2 {
            return Ok(Self { revision, rsdt, xsdt: None });
        }
        let length = u32_at(data, 20).ok_or(truncated(RSDP_V2))?;
        if (length as usize) < RSDP_V2 || length > MAX_TABLE {
            return Err(AcpiError::BadLength { table: *b"RSD ", length });
        }
        let whole = data.get(..length as usize).ok_or(truncated(length as usize))?;
        if !checksum_ok(whole) {
            return Err(AcpiError::BadChecksum { table: *b"RSD " });
        }
        let xsdt = u64_at(whole, 24).ok_or(truncated(RSDP_V2))?;
        Ok(Self { revision, rsdt, xsdt: (xsdt != 0).then_some(xsdt) })
    }
}

/// The offset of the first valid RSDP in `area` (searched on 16-byte boundaries, as the
/// RSDP is placed in the BIOS area and the EBDA).
#[must_use]
pub fn scan_rsdp(area: &[u8]) -> Option<usize> {
    (0..area.len()).step_by(16).find(|&at| area.get(at..).is_some_and(|d| Rsdp::parse(d).is_ok()))
}

/// Checks the table at the start of `data` (signature, length, checksum) and answers its
/// bytes (`length` of them).
///
/// # Errors
/// [`AcpiError`] naming what is wrong.
pub fn table<'a>(data: &'a [u8], signature: &[u8; 4]) -> Result<&'a [u8], AcpiError> {
    let found = signature_of(data);
    if data.len() < HEADER {
        return Err(AcpiError::Truncated { table: found, needed: HEADER, available: data.len() });
    }
    if &found != signature {
        return Err(AcpiError::BadSignature { expected: *signature, found });
    }
    let length = u32_at(data, 4).unwrap_or(0);
    if (length as usize) < HEADER || length > MAX_TABLE {
        return Err(AcpiError::BadLength { table: found, length });
    }
    let whole = data.get(..length as usize).ok_or(AcpiError::Truncated {
        table: found,
        needed: length as usize,
        available: data.len(),
    })?;
    if !checksum_ok(whole) {
        return Err(AcpiError::BadChecksum { table: found });
    }
    Ok(whole)
}

/// Physical memory the tables are read from.
pub trait PhysicalMemory {
    /// The `length` bytes at physical `address`, or `None` if they are not readable.
    fn read(&self, address: u64, length: usize) -> Option<&[u8]>;
}

/// Reads the table at physical `address` (header first, for its length), checked as
/// [`table`] checks it.
///
/// # Errors
/// [`AcpiError`]: unreadable memory, or what [`table`] finds.
pub fn table_at<'m>(
    memory: &'m impl PhysicalMemory,
    address: u64,
    signature: &[u8; 4],
) -> Result<&'m [u8], AcpiError> {
    let header =
        memory.read(address, HEADER).ok_or(AcpiError::Unmapped { address, length: HEADER })?;
    let length = u32_at(header, 4).unwrap_or(0);
    if (length as usize) < HEADER || length > MAX_TABLE {
        return Err(AcpiError::BadLength { table: signature_of(header), length });
    }
    let whole = memory
        .read(address, length as usize)
        .ok_or(AcpiError::Unmapped { address, length: length as usize })?;
    table(whole, signature)
}

/// Finds the table with `signature` through the RSDP (the XSDT if there is one, else the
/// RSDT). Entries of the root table that cannot be read are skipped: only the table
/// asked for must be sound.
///
/// # Errors
/// [`AcpiError`]: the root table is unreadable or malformed, or names no such table (or
/// the one it names is malformed).
pub fn find<'m>(
    memory: &'m impl PhysicalMemory,
    rsdp: &Rsdp,
    signature: &[u8; 4],
) -> Result<&'m [u8], AcpiError> {
    let (root, width) = match rsdp.xsdt {
        Some(xsdt) => (table_at(memory, xsdt, b"XSDT")?, 8),
        None => (table_at(memory, u64::from(rsdp.rsdt), b"RSDT")?, 4),
    };
    let entries = root.get(HEADER..).unwrap_or(&[]);
    for entry in entries.chunks_exact(width) {
        let address = match width {
            8 => u64_at(entry, 0),
            _ => u32_at(entry, 0).map(u64::from),
        };
        let Some(address) = address else { continue };
        let Some(header) = memory.read(address, HEADER) else { continue };
        if &signature_of(header) == signature {
            return table_at(memory, address, signature);
        }
    }
    Err(AcpiError::NotFound(*signature))
}

/// Low memory mapped at its own addresses (the kernel's identity map).
#[derive(Debug)]
pub struct IdentityMapped {
    limit: u64,
}

impl IdentityMapped {
    /// Physical memory below `limit` is readable at its own address.
    ///
    /// # Safety
    /// Every address below `limit` is mapped at itself, readable, and what the ACPI
    /// tables occupy there is not written while the slices [`read`](PhysicalMemory::read)
    /// answers are used (firmware tables: nobody writes them).
    #[must_use]
    pub const unsafe fn new(limit: u64) -> Self {
        Self { limit }
    }

    /// The RSDP: at `hint` if given (a boot protocol's pointer), else searched in the
    /// first KiB of the EBDA and in 0xe0000..0x100000.
    ///
    /// # Errors
    /// [`AcpiError::NoRsdp`], or what [`Rsdp::parse`] finds at `hint`.
    pub fn rsdp(&self, hint: Option<u64>) -> Result<Rsdp, AcpiError> {
        if let Some(address) = hint {
            let data = self
                .read(address, RSDP_V2)
                .or_else(|| self.read(address, RSDP_V1))
                .ok_or(AcpiError::Unmapped { address, length: RSDP_V1 })?;
            return Rsdp::parse(data);
        }
        let ebda = self.read(0x40e, 2).and_then(|b| u16_at(b, 0)).map(|seg| u64::from(seg) << 4);
        let areas = [ebda.map(|base| (base, 1024)), Some((0xe_0000, 0x2_0000))];
        for (base, length) in areas.into_iter().flatten() {
            if let Some(area) = self.read(base, length)
                && let Some(at) = scan_rsdp(area)
                && let Some(rest) = area.get(at..)
            {
                return Rsdp::parse(rest);
            }
        }
        Err(AcpiError::NoRsdp)
    }
}

impl PhysicalMemory for IdentityMapped {
    fn read(&self, address: u64, length: usize) -> Option<&[u8]> {
        let end = address.checked_add(length as u64)?;
        if end > self.limit || address == 0 {
            return None;
        }
        // SAFETY: below the limit every address is mapped at itself and readable, and the
        // bytes are not written meanwhile (contract of `new`).
        Some(unsafe { core::slice::from_raw_parts(address as usize as *const u8, length) })
    }
}

#[cfg(test)]
pub(crate) mod tests;
