//! The partitions: their memory and their program.
//!
//! The program is `tests/qemu-smp-guest`, built on its own by the build script and
//! embedded here as bytes at `qemu_smp_guest::GUEST_BASE` (`.guest_text`, mapped user,
//! read-only, executable in every partition): every instruction a partition executes is
//! in it, so a debug build of the kernel runs its partitions as a release one does. Each
//! partition's memory (the layout the program shares, `PartitionMemory`) is one 2 MiB
//! page of the kernel's `.bss`, mapped user only in its own page tables: its shared page,
//! its state (its role, written by the kernel at boot from the configuration, and its
//! counts, read by the kernel for the report), its stack.

use core::sync::atomic::{AtomicBool, Ordering};

use irq_router::vcpu::SharedPage;
pub(crate) use qemu_smp_guest::{
    BURST_LINES, GUEST_BASE, MAGIC, MEMORY_SIZE, PartitionMemory, TIMER_PORT,
};

use super::config::PARTITIONS;

/// The partitions' program (flattened from its ELF by the build script), where the
/// linker script puts it (`GUEST_BASE`).
#[unsafe(link_section = ".guest_image")]
#[used]
static IMAGE: [u8; include_bytes!(env!("GUEST_IMAGE")).len()] =
    *include_bytes!(env!("GUEST_IMAGE"));

/// Every partition's memory: in the kernel's `.bss` (zero-filled by the loader), each
/// one 2 MiB page of its own (the type's alignment and size).
pub(crate) static PARTITION_MEMORY: [PartitionMemory; PARTITIONS] =
    [const { PartitionMemory::new() }; PARTITIONS];

static PAGES_READY: AtomicBool = AtomicBool::new(false);

/// Writes every partition's shared page (once, at boot on the boot CPU, before the engine
/// is built or any partition runs).
pub(crate) fn init_pages() {
    if PAGES_READY.load(Ordering::Acquire) {
        return;
    }
    for memory in &PARTITION_MEMORY {
        // SAFETY: boot, one CPU, `PAGES_READY` still false: no reference to the page
        // exists yet.
        unsafe { (*memory.page.get()).write(SharedPage::new()) };
    }
    PAGES_READY.store(true, Ordering::Release);
}

/// The page `memory` shares with the kernel.
pub(crate) fn page(memory: &'static PartitionMemory) -> &'static SharedPage {
    assert!(PAGES_READY.load(Ordering::Acquire), "the pages are written at boot");
    // SAFETY: written by `init_pages` before `PAGES_READY` was set, never again.
    unsafe { (*memory.page.get()).assume_init_ref() }
}

/// The program's entry, from the header at the image's start read through `alias` (the
/// offset of the kernel's supervisor view: with SMAP the kernel may not read the image's
/// user page itself); `None` unless the image is at `GUEST_BASE` with a header whose
/// entry and upcall handler are inside it.
pub(crate) fn entry(alias: u64) -> Option<u64> {
    let start = IMAGE.as_ptr() as u64;
    if start != GUEST_BASE {
        return None;
    }
    // SAFETY: `alias` maps the first GiB, the image's page included (contract of the
    // caller); the header is three words, read-only for ever.
    let words = unsafe { core::ptr::read_volatile((start + alias) as *const [u64; 3]) };
    let inside = |a: u64| (start..start + IMAGE.len() as u64).contains(&a);
    (words[0] == MAGIC && inside(words[1]) && inside(words[2])).then_some(words[1])
}
