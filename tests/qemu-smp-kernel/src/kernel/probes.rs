//! Faults the host test asks for on the kernel's command line (QEMU's `-append`, which the
//! PVH start information points at), to show that a clock that stops ticking is
//! reported, not waited for:
//!
//! * `probe=no-timer`: CPU 1 never starts its local APIC timer (its first tick is
//!   waited for with a bound, then reported);
//! * `probe=stop-timer`: CPU 1 stops its timer at tick 100 (the other CPU's watch
//!   reports it);
//!
//! and that the protections hold (each from tick 100, on CPU 1, as it enters a
//! partition: its page tables are loaded):
//!
//! * `probe=smap`: the kernel reads the partition's memory through the partition's own
//!   (user) mapping, outside `stac`/`clac`: SMAP makes it a kernel page fault;
//! * `probe=smep`: the kernel calls into the guest code (a user page): SMEP makes it a
//!   kernel page fault on the instruction fetch;
//! * `probe=nx`: the partition is entered at an address of its own writable memory: NX
//!   makes it a page fault of the partition's (a trap blamed on it, nothing else).

use core::sync::atomic::{AtomicU8, Ordering};

use irq_x86::acpi::{IdentityMapped, PhysicalMemory};

/// The fault asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    None = 0,
    NoTimer = 1,
    StopTimer = 2,
    Smap = 3,
    Smep = 4,
    Nx = 5,
}

/// The CPU the fault is made on, and the tick `stop-timer` stops at.
pub(crate) const PROBE_CPU: usize = 1;
pub(crate) const STOP_AT: u64 = 100;

static PROBE: AtomicU8 = AtomicU8::new(0);

/// Reads the command line from the PVH start information at `start_info`.
pub(crate) fn read(start_info: u64, pvh_magic: u32) {
    // SAFETY: the first GiB is identity-mapped and readable; the start information and
    // the command line are not written by anyone.
    let memory = unsafe { IdentityMapped::new(1 << 30) };
    let Some(info) = memory.read(start_info, 32) else { return };
    let word =
        |at: usize| info.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let magic = info.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
    let Some(cmdline) = word(24).filter(|&a| a != 0 && magic == Some(pvh_magic)) else { return };
    let Some(bytes) = memory.read(cmdline, 256).or_else(|| memory.read(cmdline, 64)) else {
        return;
    };
    let line = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
    let probe = if contains(line, b"probe=no-timer") {
        Probe::NoTimer
    } else if contains(line, b"probe=stop-timer") {
        Probe::StopTimer
    } else if contains(line, b"probe=smap") {
        Probe::Smap
    } else if contains(line, b"probe=smep") {
        Probe::Smep
    } else if contains(line, b"probe=nx") {
        Probe::Nx
    } else {
        Probe::None
    };
    PROBE.store(probe as u8, Ordering::Relaxed);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The fault asked for.
pub(crate) fn probe() -> Probe {
    match PROBE.load(Ordering::Relaxed) {
        1 => Probe::NoTimer,
        2 => Probe::StopTimer,
        3 => Probe::Smap,
        4 => Probe::Smep,
        5 => Probe::Nx,
        _ => Probe::None,
    }
}
