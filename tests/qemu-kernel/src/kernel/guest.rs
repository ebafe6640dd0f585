//! The partitions: their memory and their program.
//!
//! The program is `tests/qemu-guest`, built on its own by the build script and embedded
//! here as bytes at `qemu_guest::GUEST_BASE` (`.guest_text`, mapped user, read-only,
//! executable in both partitions): every instruction a partition executes is in it, `core`'s
//! and the compiler's helpers included, so a debug build of the kernel runs its
//! partitions as a release one does. The program has no writable statics: each
//! partition's memory (the layout the program shares, `P0Memory` / `P1Memory`) is a
//! static here, in `.p0_data` / `.p1_data` (each the start of a 2 MiB page mapped user only
//! in its own partition's page tables): its shared page, its state (its counts, read by
//! the kernel for the report; partition 1's warp ledger, written by the kernel), its
//! stack. The kernel starts each partition with `rdi` = its memory; its handlers find
//! that memory from their stack.
//!
//! * Partition 0 (replay catch-up): counts its ticks; runs critical sections with cli/sti
//!   (one store each to its shared page) during which a tick must arrive, deferred until
//!   the sti; runs a while with its stack pointer in kernel memory; notifies partition 1
//!   through the channel three times.
//! * Partition 1 (warp catch-up): counts its ticks plus the warps; receives the channel;
//!   at guest time 30 executes `ud2`; its fault handler checks the vector and RIP, then
//!   divides by zero, and its health monitor warm-starts it; the new run reads why, then
//!   reads kernel memory (a page fault its fault handler resumes after).
//! * FPU/SSE: each fills its registers with its own pattern and checks them before every
//!   idle.
//! * FS and GS: partition 1 finds both selectors null at each of its starts (the restart
//!   reset them), then loads the user data selector into both and finds it there at every
//!   check; partition 0 never loads them and finds them null at every check.

pub(crate) use qemu_guest::{
    CHANNEL_IN, CHANNEL_OUT, FAULT_AT, GUEST_BASE, KERNEL_ADDRESS, MAGIC, NOTIFICATIONS, P0Memory,
    P1Memory, SECTIONS, TIMER_PORT,
};

/// The partitions' program (flattened from its ELF by the build script), where the
/// linker script puts it (`GUEST_BASE`).
#[unsafe(link_section = ".guest_image")]
#[used]
static IMAGE: [u8; include_bytes!(env!("GUEST_IMAGE")).len()] =
    *include_bytes!(env!("GUEST_IMAGE"));

const _: () = assert!(
    include_bytes!(env!("GUEST_IMAGE")).len() >= size_of::<qemu_guest::Header>(),
    "the image holds its header"
);

/// Partition 0's memory: the start of its 2 MiB page.
#[unsafe(link_section = ".p0_data")]
pub(crate) static P0_MEMORY: P0Memory = P0Memory::new();
/// Partition 1's memory: the start of its 2 MiB page.
#[unsafe(link_section = ".p1_data")]
pub(crate) static P1_MEMORY: P1Memory = P1Memory::new();

/// Partition `p`'s entry, from the header at the image's start; `None` unless the image
/// is at `GUEST_BASE` with a header whose entries are inside it.
pub(crate) fn entry(p: usize) -> Option<u64> {
    let start = IMAGE.as_ptr() as u64;
    if start != GUEST_BASE {
        return None;
    }
    // SAFETY: the image holds at least its header (three words: the assertion above),
    // read-only for ever, at `GUEST_BASE` (just checked: aligned); read as the bytes the
    // linker placed, not as the compiler knows the static.
    let words = unsafe { core::ptr::read_volatile(start as *const [u64; 3]) };
    let inside = |a: u64| (start..start + IMAGE.len() as u64).contains(&a);
    let (p0_main, p1_main) = (words[1], words[2]);
    let entry = if p == 0 { p0_main } else { p1_main };
    (words[0] == MAGIC && inside(p0_main) && inside(p1_main)).then_some(entry)
}
