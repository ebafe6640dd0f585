//! The machine set-up: GDT with ring-3 segments and a TSS, the IDT of the adapter's
//! stubs, and the page tables of each partition.
//!
//! Paging: identity mapping of the first GiB with 2 MiB pages. Everything is supervisor
//! except, from 4 MiB on (see `linker.ld`), the partitions' program (user, read-only, in
//! every partition's tables) and each partition's private page (user, read-write, in its
//! own tables only; supervisor in the others', so the kernel reaches every partition's
//! shared page and stack from any address space).

use core::cell::UnsafeCell;

use irq_x86::gdt::{self, Tss};
use irq_x86::idt::{self, Idt};

use super::config::PARTITIONS;

/// A page-aligned table of 512 entries.
#[repr(C, align(4096))]
struct Table([u64; 512]);

/// Every descriptor table and stack the CPU itself uses, in one place that never moves.
struct Machine {
    gdt: UnsafeCell<[u64; 7]>,
    tss: UnsafeCell<Tss>,
    idt: UnsafeCell<Idt>,
    pml4: UnsafeCell<[Table; PARTITIONS]>,
    pdpt: UnsafeCell<[Table; PARTITIONS]>,
    pd: UnsafeCell<[Table; PARTITIONS]>,
}

// SAFETY: written only by `init`, once, on the one CPU with interrupts disabled, before
// anything reads them; afterwards only the CPU reads them (and sets the TSS busy bit).
unsafe impl Sync for Machine {}

static MACHINE: Machine = Machine {
    gdt: UnsafeCell::new([0; 7]),
    tss: UnsafeCell::new(Tss::new(0, [0; 7])),
    idt: UnsafeCell::new(Idt([[0; 2]; 256])),
    pml4: UnsafeCell::new([const { Table([0; 512]) }; PARTITIONS]),
    pdpt: UnsafeCell::new([const { Table([0; 512]) }; PARTITIONS]),
    pd: UnsafeCell::new([const { Table([0; 512]) }; PARTITIONS]),
};

/// A kernel stack.
#[repr(C, align(16))]
pub(crate) struct KernelStack(UnsafeCell<[u8; 64 * 1024]>);

// SAFETY: only used as a stack through RSP; never read or written through this value.
unsafe impl Sync for KernelStack {}

impl KernelStack {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; 64 * 1024]))
    }

    /// Its initial stack pointer.
    pub(crate) fn top(&self) -> u64 {
        self.0.get() as u64 + 64 * 1024
    }

    /// Its lowest address.
    pub(crate) fn bottom(&self) -> u64 {
        self.0.get() as u64
    }
}

/// The interrupt stack (IST1) every entry uses but the three below.
static INTERRUPT_STACK: KernelStack = KernelStack::new();
/// The NMI's stack (IST2): an NMI may arrive while the kernel is on IST1.
static NMI_STACK: KernelStack = KernelStack::new();
/// The double fault's stack (IST3).
static DOUBLE_FAULT_STACK: KernelStack = KernelStack::new();
/// The machine check's stack (IST4).
static MACHINE_CHECK_STACK: KernelStack = KernelStack::new();
/// The stack of the kernel's idle loop.
pub(crate) static IDLE_STACK: KernelStack = KernelStack::new();

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const HUGE: u64 = 1 << 7;

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
    static __guest_text_start: u8;
    static __guest_text_end: u8;
    static __p0_start: u8;
    static __p0_end: u8;
    static __p1_start: u8;
    static __p1_end: u8;
}

/// `[start, end)` of the kernel's own memory (its image, `.bss` included).
pub(crate) fn kernel_memory() -> (u64, u64) {
    ((&raw const __kernel_start) as u64, (&raw const __kernel_end) as u64)
}

/// `[start, end)` of the guest code (the partitions' program).
pub(crate) fn guest_code() -> (u64, u64) {
    ((&raw const __guest_text_start) as u64, (&raw const __guest_text_end) as u64)
}

/// `[start, end)` of partition `p`'s private memory.
pub(crate) fn partition_memory(p: usize) -> (u64, u64) {
    if p == 0 {
        ((&raw const __p0_start) as u64, (&raw const __p0_end) as u64)
    } else {
        ((&raw const __p1_start) as u64, (&raw const __p1_end) as u64)
    }
}

/// The page-directory entry of 2 MiB page `index` in partition `p`'s tables.
fn pd_entry(p: usize, index: u64) -> u64 {
    let addr = index << 21;
    let user_code = guest_code().0 >> 21;
    let mut flags = PRESENT | HUGE;
    if index == user_code {
        flags |= USER;
    } else if index == partition_memory(p).0 >> 21 {
        flags |= USER | WRITABLE;
    } else {
        flags |= WRITABLE;
    }
    addr | flags
}

/// The value of CR3 for partition `p`.
pub(crate) fn cr3(p: usize) -> u64 {
    let pml4 = MACHINE.pml4.get().cast::<Table>();
    pml4.wrapping_add(p) as u64
}

/// Loads the GDT, TSS and IDT and builds the page tables (not yet loaded).
///
/// # Safety
/// Once, at boot, in ring 0 with interrupts disabled.
pub(crate) unsafe fn init() {
    let tss = MACHINE.tss.get();
    let gdt = MACHINE.gdt.get();
    let idt = MACHINE.idt.get();
    // SAFETY: boot, one CPU, interrupts disabled: nothing else accesses these statics
    // (function contract); they never move, so the CPU may keep their addresses.
    unsafe {
        let ist = INTERRUPT_STACK.top();
        let (nmi, df, mc) = (NMI_STACK.top(), DOUBLE_FAULT_STACK.top(), MACHINE_CHECK_STACK.top());
        *tss = Tss::new(ist, [ist, nmi, df, mc, 0, 0, 0]);
        let _ = idt::add_common_stack(INTERRUPT_STACK.bottom(), ist);
        *gdt = gdt::gdt_words(tss as u64);
        gdt::load(gdt);
        *idt = Idt::new(idt::stub_base(), gdt::KERNEL_CS);
        idt::load(&*idt);
        let pml4 = &mut *MACHINE.pml4.get();
        let pdpt = &mut *MACHINE.pdpt.get();
        let pd = &mut *MACHINE.pd.get();
        for p in 0..PARTITIONS {
            for (i, entry) in pd[p].0.iter_mut().enumerate() {
                *entry = pd_entry(p, i as u64);
            }
            pdpt[p].0[0] = core::ptr::from_ref(&pd[p]) as u64 | PRESENT | WRITABLE | USER;
            pml4[p].0[0] = core::ptr::from_ref(&pdpt[p]) as u64 | PRESENT | WRITABLE | USER;
        }
    }
}
