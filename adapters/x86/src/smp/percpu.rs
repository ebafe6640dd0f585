//! What each CPU needs of its own: a GDT and a TSS (the task register is per CPU, and the
//! TSS names the CPU's interrupt stacks), and those stacks. The IDT is shared: its gates
//! name interrupt stacks by number ([`gate_ist`](crate::idt::gate_ist)), and each CPU's
//! TSS gives the numbers its own stacks.

use core::cell::UnsafeCell;

use crate::gdt::{self, Tss};
use crate::idt::{COMMON_IST, DOUBLE_FAULT_IST, MACHINE_CHECK_IST, NMI_IST};

/// The tops of a CPU's interrupt stacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackTops {
    /// IST1: every vector but the three below (and ring-3 entries: RSP0).
    pub common: u64,
    /// IST2: the NMI.
    pub nmi: u64,
    /// IST3: the double fault.
    pub double_fault: u64,
    /// IST4: the machine check.
    pub machine_check: u64,
}

impl StackTops {
    /// The TSS that gives the CPU these stacks.
    #[must_use]
    pub const fn tss(&self) -> Tss {
        let mut ist = [0u64; 7];
        ist[COMMON_IST as usize - 1] = self.common;
        ist[NMI_IST as usize - 1] = self.nmi;
        ist[DOUBLE_FAULT_IST as usize - 1] = self.double_fault;
        ist[MACHINE_CHECK_IST as usize - 1] = self.machine_check;
        Tss::new(self.common, ist)
    }
}

/// One CPU's GDT and TSS, in a place that never moves.
#[repr(C, align(64))]
pub struct CpuTables {
    gdt: UnsafeCell<[u64; 7]>,
    tss: UnsafeCell<Tss>,
}

// SAFETY: written only by `load`, on the CPU the tables belong to, before that CPU uses
// them; afterwards only the CPU itself touches them (it sets the TSS descriptor's busy
// bit).
unsafe impl Sync for CpuTables {}

impl Default for CpuTables {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for CpuTables {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CpuTables").finish_non_exhaustive()
    }
}

impl CpuTables {
    /// Empty tables (filled by [`load`](Self::load)).
    #[must_use]
    pub const fn new() -> Self {
        Self { gdt: UnsafeCell::new([0; 7]), tss: UnsafeCell::new(Tss::new(0, [0; 7])) }
    }

    /// Fills the TSS with `stacks` and the GDT with the kernel's and user segments and
    /// that TSS, and loads both on this CPU.
    ///
    /// # Safety
    /// Ring 0, interrupts disabled, on the CPU these tables are for, once; `stacks` are
    /// stacks of this CPU that stay in place for ever.
    pub unsafe fn load(&'static self, stacks: &StackTops) {
        let tss = self.tss.get();
        let gdt = self.gdt.get();
        // SAFETY: only this CPU touches these tables, once, before it uses them (contract);
        // they are in a static, so the CPU may keep their addresses.
        unsafe {
            *tss = stacks.tss();
            *gdt = gdt::gdt_words(tss as u64);
            gdt::load(gdt);
        }
    }
}

/// A kernel stack of `N` bytes.
#[repr(C, align(16))]
pub struct Stack<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: only used as a stack through RSP by the one CPU it belongs to; never read or
// written through this value.
unsafe impl<const N: usize> Sync for Stack<N> {}

impl<const N: usize> Default for Stack<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for Stack<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Stack({:#x}..{:#x})", self.bottom(), self.top())
    }
}

impl<const N: usize> Stack<N> {
    /// A zeroed stack.
    #[must_use]
    pub const fn new() -> Self {
        Self(UnsafeCell::new([0; N]))
    }

    /// Its initial stack pointer.
    #[must_use]
    pub fn top(&self) -> u64 {
        self.0.get() as u64 + N as u64
    }

    /// Its lowest address.
    #[must_use]
    pub fn bottom(&self) -> u64 {
        self.0.get() as u64
    }

    /// Whether `addr` is inside it.
    #[must_use]
    pub fn contains(&self, addr: u64) -> bool {
        (self.bottom()..self.top()).contains(&addr)
    }
}

/// The stacks of one CPU: the four interrupt stacks and the idle loop's.
#[derive(Debug, Default)]
pub struct CpuStacks<const N: usize> {
    /// IST1.
    pub common: Stack<N>,
    /// IST2.
    pub nmi: Stack<N>,
    /// IST3.
    pub double_fault: Stack<N>,
    /// IST4.
    pub machine_check: Stack<N>,
    /// The idle loop's (and the boot code's, for an application processor).
    pub idle: Stack<N>,
}

impl<const N: usize> CpuStacks<N> {
    /// Five zeroed stacks.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            common: Stack::new(),
            nmi: Stack::new(),
            double_fault: Stack::new(),
            machine_check: Stack::new(),
            idle: Stack::new(),
        }
    }

    /// The tops of the interrupt stacks.
    #[must_use]
    pub fn tops(&self) -> StackTops {
        StackTops {
            common: self.common.top(),
            nmi: self.nmi.top(),
            double_fault: self.double_fault.top(),
            machine_check: self.machine_check.top(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CpuStacks, StackTops};

    #[test]
    fn each_stack_has_its_ist_slot() {
        let tops =
            StackTops { common: 0x1000, nmi: 0x2000, double_fault: 0x3000, machine_check: 0x4000 };
        let tss = tops.tss();
        assert_eq!({ tss.ist }, [0x1000, 0x2000, 0x3000, 0x4000, 0, 0, 0]);
        assert_eq!({ tss.rsp }[0], 0x1000);
        let stacks: &'static CpuStacks<4096> = Box::leak(Box::new(CpuStacks::new()));
        let t = stacks.tops();
        assert!(stacks.common.contains(t.common - 8) && !stacks.common.contains(t.common));
        assert_eq!(t.nmi - stacks.nmi.bottom(), 4096);
    }

    extern crate std;
    use std::boxed::Box;
}
