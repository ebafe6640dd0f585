//! The machine: each CPU's GDT, TSS and stacks, the IDT every CPU shares, the page
//! tables (the kernel's and each partition's), and the interrupt controllers found in the
//! MADT (the local APICs, the IO-APIC and its routes).
//!
//! Paging: identity mapping of the first 4 GiB with 2 MiB pages. The first GiB is RAM:
//! supervisor, except the guest code page (user, read-only, in every partition's tables)
//! and each partition's memory (user, read-write, in its own tables only; supervisor in
//! the others'). Above 1 GiB is the device window (the IO-APIC, the local APICs, PCI
//! memory): supervisor, uncached, and shared by every set of tables (but a device page
//! a partition drives, user in its tables). At 4 GiB the first 4 GiB again,
//! supervisor-only in every set of tables ([`ALIAS`]): the kernel reaches the partitions'
//! memory and devices there, so SMAP can forbid it their user pages. Every page but the
//! kernel's code and the guest code is no-execute where the CPU has NX.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use irq_x86::apic::IoApics;
use irq_x86::apic::ioapic::{IoApic, IoApicMmio};
use irq_x86::idt::{self, Idt};
use irq_x86::smp::machine::NO_APIC;
use irq_x86::smp::percpu::{CpuStacks, CpuTables};

use super::config::{MAX_CPUS, PARTITIONS};
use super::guest::{MEMORY_SIZE, PARTITION_MEMORY, PartitionMemory};

/// Bytes of each kernel stack.
pub(crate) const STACK: usize = 64 * 1024;

/// Each CPU's GDT and TSS.
pub(crate) static TABLES: [CpuTables; MAX_CPUS] = [const { CpuTables::new() }; MAX_CPUS];
/// Each CPU's interrupt stacks and idle stack.
pub(crate) static STACKS: [CpuStacks<STACK>; MAX_CPUS] = [const { CpuStacks::new() }; MAX_CPUS];
/// The APIC ID of each CPU by index (`NO_APIC` until known): the kicks' destinations.
pub(crate) static APIC_IDS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(NO_APIC) }; MAX_CPUS];
/// The IO-APICs and the pins behind the routed vectors, shared by every CPU.
pub(crate) static IOAPICS: IoApics<IoApicMmio> = IoApics::new();

struct IdtCell(UnsafeCell<Idt>);

// SAFETY: written once by the boot CPU (`load_idt` with `first`), before any other CPU
// loads it; afterwards only read, by the CPUs.
unsafe impl Sync for IdtCell {}

static IDT: IdtCell = IdtCell(UnsafeCell::new(Idt([[0; 2]; 256])));

/// The CPU whose interrupt stacks hold `addr` (a frame the stubs built).
pub(crate) fn cpu_of_frame(addr: u64) -> Option<usize> {
    STACKS.iter().position(|s| {
        s.common.contains(addr)
            || s.nmi.contains(addr)
            || s.double_fault.contains(addr)
            || s.machine_check.contains(addr)
    })
}

/// Loads CPU `cpu`'s GDT and TSS and the shared IDT (built by the boot CPU, `first`).
///
/// # Safety
/// Ring 0, interrupts disabled, on CPU `cpu`, once; the boot CPU first.
pub(crate) unsafe fn load_cpu(cpu: usize, first: bool) {
    let idt = IDT.0.get();
    // SAFETY: this CPU's own tables, once (contract); the IDT is written by the boot CPU
    // before any other CPU starts, then only read.
    unsafe {
        TABLES[cpu].load(&STACKS[cpu].tops());
        if first {
            *idt = Idt::new(idt::stub_base(), irq_x86::gdt::KERNEL_CS);
        }
        idt::load(&*idt);
    }
    let common = &STACKS[cpu].common;
    if idt::add_common_stack(common.bottom(), common.top()).is_err() {
        super::fail(format_args!("cpu {cpu}: more CPUs than the NMI count knows"));
    }
}

/// A page-aligned table of 512 entries.
#[repr(C, align(4096))]
struct Table([u64; 512]);

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const WRITE_THROUGH: u64 = 1 << 3;
const NO_CACHE: u64 = 1 << 4;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;

/// Where the kernel sees the first 4 GiB a second time, supervisor-only, read-write,
/// never executable, in every address space: its view of the partitions' memory and of
/// the device pages a partition drives itself. Under SMAP the kernel may not touch a
/// user page (the running partition's memory and device page, in its own tables)
/// outside `stac`/`clac`; through this alias it reaches them from any address space with
/// ordinary references, as the engine does with the shared pages.
pub(crate) const ALIAS: u64 = 4 << 30;

/// The page tables: the kernel's (PML4, PDPT, four page directories), and each
/// partition's PML4, PDPT and first page directory (the other three are the kernel's).
struct Paging {
    pml4: UnsafeCell<Table>,
    pdpt: UnsafeCell<Table>,
    pd: UnsafeCell<[Table; 4]>,
    /// The page directory of [`ALIAS`].
    alias: UnsafeCell<Table>,
    part_pml4: UnsafeCell<[Table; PARTITIONS]>,
    part_pdpt: UnsafeCell<[Table; PARTITIONS]>,
    part_pd: UnsafeCell<[Table; PARTITIONS]>,
    /// Each partition's page directory of the GiB of its device page, and the page table
    /// of the 2 MiB around it (4 KiB pages: only the device's register page is user).
    dev_pd: UnsafeCell<[Table; PARTITIONS]>,
    dev_pt: UnsafeCell<[Table; PARTITIONS]>,
}

// SAFETY: written only by `build_paging`, once, on the boot CPU before any other CPU runs;
// afterwards only the CPUs' page walkers read them.
unsafe impl Sync for Paging {}

static PAGING: Paging = Paging {
    pml4: UnsafeCell::new(Table([0; 512])),
    pdpt: UnsafeCell::new(Table([0; 512])),
    pd: UnsafeCell::new([const { Table([0; 512]) }; 4]),
    alias: UnsafeCell::new(Table([0; 512])),
    part_pml4: UnsafeCell::new([const { Table([0; 512]) }; PARTITIONS]),
    part_pdpt: UnsafeCell::new([const { Table([0; 512]) }; PARTITIONS]),
    part_pd: UnsafeCell::new([const { Table([0; 512]) }; PARTITIONS]),
    dev_pd: UnsafeCell::new([const { Table([0; 512]) }; PARTITIONS]),
    dev_pt: UnsafeCell::new([const { Table([0; 512]) }; PARTITIONS]),
};

unsafe extern "C" {
    static __guest_text_start: u8;
    static __guest_text_end: u8;
}

/// `[start, end)` of the guest code.
pub(crate) fn guest_code() -> (u64, u64) {
    ((&raw const __guest_text_start) as u64, (&raw const __guest_text_end) as u64)
}

/// `[start, end)` of partition `p`'s memory.
pub(crate) fn partition_memory(p: usize) -> (u64, u64) {
    let base = PARTITION_MEMORY[p].base();
    (base, base + MEMORY_SIZE)
}

/// Partition `p`'s memory as the kernel reaches it: through [`ALIAS`], never through the
/// partition's own (user) mapping.
pub(crate) fn memory(p: usize) -> &'static PartitionMemory {
    assert!(ALIAS_READY.load(Ordering::Acquire), "the alias is mapped by build_paging");
    // SAFETY: `build_paging` mapped the first GiB at `ALIAS` in every set of tables, for
    // ever; the memory holds a `PartitionMemory` for ever (a static), which every view
    // reaches only through atomics and `UnsafeCell`s.
    unsafe { &*((PARTITION_MEMORY[p].base() + ALIAS) as *const PartitionMemory) }
}

/// The alias is mapped.
static ALIAS_READY: AtomicBool = AtomicBool::new(false);
/// The tables mark data pages no-execute (EFER.NXE is on, or must be before they load).
static NX: AtomicBool = AtomicBool::new(false);

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// 2 MiB page `index` holds kernel code: it overlaps the kernel's image and is not a
/// partition's memory.
fn kernel_code_page(index: u64) -> bool {
    let (start, end) =
        ((&raw const __kernel_start) as u64 >> 21, ((&raw const __kernel_end) as u64 - 1) >> 21);
    (start..=end).contains(&index) && !(0..PARTITIONS).any(|p| partition_memory(p).0 >> 21 == index)
}

/// The entry of 2 MiB page `index` (of the first GiB) in the tables of `owner` (a
/// partition, or `None` for the kernel's).
fn low_entry(owner: Option<usize>, index: u64) -> u64 {
    let addr = index << 21;
    let mut flags = PRESENT | HUGE;
    let user_code = guest_code().0 >> 21;
    let own = owner.map(|p| partition_memory(p).0 >> 21);
    if index == user_code {
        flags |= USER;
    } else if Some(index) == own {
        flags |= USER | WRITABLE | no_execute();
    } else if kernel_code_page(index) {
        flags |= WRITABLE;
    } else {
        flags |= WRITABLE | no_execute();
    }
    addr | flags
}

/// The no-execute bit, if the tables use it.
fn no_execute() -> u64 {
    if NX.load(Ordering::Relaxed) { NO_EXECUTE } else { 0 }
}

/// The kernel's CR3.
pub(crate) fn kernel_cr3() -> u64 {
    PAGING.pml4.get() as u64
}

/// Partition `p`'s CR3.
pub(crate) fn cr3(p: usize) -> u64 {
    PAGING.part_pml4.get().cast::<Table>().wrapping_add(p) as u64
}

/// Builds every set of page tables and switches to the kernel's: data pages no-execute
/// if `nx` (every page but the kernel's code and the guest code), the first GiB mapped
/// again at [`ALIAS`].
///
/// # Safety
/// Once, at boot, on the boot CPU in ring 0 with interrupts disabled, before any other
/// CPU runs; the kernel and everything it uses is in the first 4 GiB; with `nx`,
/// EFER.NXE is on for this CPU and will be for every other before it loads the tables.
pub(crate) unsafe fn build_paging(nx: bool) {
    NX.store(nx, Ordering::Relaxed);
    // SAFETY: boot, one CPU: nothing else accesses the tables (contract); they never move.
    unsafe {
        let pd = &mut *PAGING.pd.get();
        for (g, table) in pd.iter_mut().enumerate() {
            for (i, entry) in table.0.iter_mut().enumerate() {
                let index = (g * 512 + i) as u64;
                *entry = if g == 0 {
                    low_entry(None, index)
                } else {
                    (index << 21)
                        | PRESENT
                        | WRITABLE
                        | HUGE
                        | WRITE_THROUGH
                        | NO_CACHE
                        | no_execute()
                };
            }
        }
        let alias = &mut *PAGING.alias.get();
        for (i, entry) in alias.0.iter_mut().enumerate() {
            *entry = ((i as u64) << 21) | PRESENT | WRITABLE | HUGE | no_execute();
        }
        let pdpt = &mut *PAGING.pdpt.get();
        for (g, table) in pd.iter().enumerate() {
            pdpt.0[g] = core::ptr::from_ref(table) as u64 | PRESENT | WRITABLE | USER;
        }
        let at = (ALIAS >> 30) as usize;
        pdpt.0[at] = core::ptr::from_ref(alias) as u64 | PRESENT | WRITABLE;
        for g in 1..pd.len() {
            pdpt.0[at + g] = pdpt.0[g] & !USER;
        }
        (*PAGING.pml4.get()).0[0] = core::ptr::from_ref(pdpt) as u64 | PRESENT | WRITABLE | USER;
        let part_pml4 = &mut *PAGING.part_pml4.get();
        let part_pdpt = &mut *PAGING.part_pdpt.get();
        let part_pd = &mut *PAGING.part_pd.get();
        for p in 0..PARTITIONS {
            for (i, entry) in part_pd[p].0.iter_mut().enumerate() {
                *entry = low_entry(Some(p), i as u64);
            }
            part_pdpt[p].0 = pdpt.0;
            part_pdpt[p].0[0] = core::ptr::from_ref(&part_pd[p]) as u64 | PRESENT | WRITABLE | USER;
            part_pml4[p].0[0] =
                core::ptr::from_ref(&part_pdpt[p]) as u64 | PRESENT | WRITABLE | USER;
        }
        irq_x86::cpu::write_cr3(kernel_cr3());
    }
    ALIAS_READY.store(true, Ordering::Release);
}

/// Maps the 4 KiB device register page at physical `page` (in the device window, above
/// 1 GiB) user, read-write, uncached, in partition `p`'s tables only: the partition
/// drives that device itself (the rest of the window stays the kernel's). One device page
/// a partition.
///
/// # Safety
/// At boot on the boot CPU, after [`build_paging`], before partition `p` ever runs (its
/// tables are not in use: no TLB holds them).
pub(crate) unsafe fn map_device_page(p: usize, page: u64) {
    let gib = (page >> 30) as usize;
    let index = ((page >> 21) & 511) as usize;
    if !(1..4).contains(&gib) {
        return;
    }
    // SAFETY: boot, one CPU, partition `p`'s tables not in use (contract).
    unsafe {
        let pd = &mut (*PAGING.dev_pd.get())[p];
        let pt = &mut (*PAGING.dev_pt.get())[p];
        pd.0 = (*PAGING.pd.get())[gib].0;
        let base = page & !0x1f_ffff;
        for (i, entry) in pt.0.iter_mut().enumerate() {
            let addr = base + ((i as u64) << 12);
            let user = if addr == page & !0xfff { USER } else { 0 };
            *entry = addr | PRESENT | WRITABLE | WRITE_THROUGH | NO_CACHE | user | no_execute();
        }
        pd.0[index] = core::ptr::from_ref(pt) as u64 | PRESENT | WRITABLE | USER;
        (*PAGING.part_pdpt.get())[p].0[gib] =
            core::ptr::from_ref(pd) as u64 | PRESENT | WRITABLE | USER;
    }
}

/// Adds the IO-APIC at physical `address` (first pin `gsi_base`): every pin masked.
///
/// # Safety
/// Once per IO-APIC, at boot; `address` is the IO-APIC the MADT names (in the uncached
/// device window).
pub(crate) unsafe fn add_ioapic(address: u32, gsi_base: u32) -> Option<(u8, u8, u8)> {
    // SAFETY: the registers are mapped uncached at their own address (the device window)
    // and only `IOAPICS`'s lock reaches them (contract).
    let chip = IoApic::new(unsafe { IoApicMmio::new(address as usize) }, gsi_base);
    let mut chip = chip;
    let described = (chip.id(), chip.version(), chip.pins());
    IOAPICS.add(chip).ok().map(|()| described)
}

/// Records CPU `cpu`'s APIC ID.
pub(crate) fn set_apic_id(cpu: usize, id: u32) {
    if let Some(slot) = APIC_IDS.get(cpu) {
        slot.store(id, Ordering::Release);
    }
}
