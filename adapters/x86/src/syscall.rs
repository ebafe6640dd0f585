//! The second hypercall entry: `syscall`, beside `int 0x80`, with the same registers and
//! answers (`docs/hypercalls.md`: the number in `rax`, the arguments in `rdi`, `rsi`,
//! `rdx`, `r10`, the answer in `rax` and `rdx`). The CPU itself clobbers `rcx` (the
//! return address) and `r11` (the flags) on `syscall`: a partition cannot keep anything
//! in them across a call made this way.
//!
//! **Set-up** (`enable`, built for `target_os = "none"`, on each CPU, once): `STAR`
//! ([`star`]: the kernel's code selector, and the base of the user selectors that
//! `sysret` loads: user data at +8, user code at +16, which is the GDT's order, see
//! [`gdt_words`](crate::gdt::gdt_words)), `LSTAR` (the entry stub), `SFMASK`
//! ([`SFMASK`]: interrupts, single-step, direction, alignment check and nested task
//! cleared on entry), `KERNEL_GS_BASE` (this CPU's [`EntryBlock`]) and `EFER.SCE`.
//!
//! **Entry.** `syscall` enters ring 0 on the partition's stack with interrupts off. The
//! stub swaps GS (`swapgs`: `GS_BASE` becomes this CPU's [`EntryBlock`]), keeps the
//! user RSP in the block, switches to the block's stack, the top of this CPU's common
//! interrupt stack (IST1), and builds there exactly the [`TrapFrame`] the `int 0x80` gate
//! builds (SS, user RSP, `r11` as RFLAGS, user CS, `rcx` as RIP, error code 0, vector
//! 0x80, the general registers), so the dispatcher finds it where an interrupt from ring
//! 3 would have put it (a kernel that tells its CPUs apart by the stack of the frame
//! still does). It swaps GS back before the dispatcher runs: during dispatch `GS_BASE`
//! is the partition's, which the adapter saves and loads with its other state
//! ([`fpu`](crate::fpu)). An NMI or a machine check in the few instructions before the
//! stack switch (or in the swapped window) runs on its own IST stack and never uses GS.
//!
//! **Return.** The dispatcher may rewrite the frame (an answer, an upcall, another
//! partition, the kernel's idle loop). The stub leaves with `sysretq` only when that is
//! the same as `iretq` of the frame ([`sysret_equivalent`]: user CS and SS, `rcx` equal
//! to RIP and `r11` to RFLAGS, flags `sysret` keeps, RIP in the lower canonical half: a
//! non-canonical RIP would fault in ring 0 on Intel CPUs), else with `iretq`, as the
//! `int 0x80` stub does (entering another partition that an interrupt stopped, whose
//! `rcx` and `r11` are its own). SS is the kernel's data selector from `syscall` to
//! `sysretq` (no interrupt from ring 3 nulls it in between), so the AMD `sysret` that
//! keeps a null SS's attributes has nothing to keep.
//!
//! Counts of the entries and of the two ways out: [`counts`].

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::frame::TrapFrame;
use crate::gdt::{KERNEL_CS, KERNEL_SS, USER_CS, USER_SS};
use crate::regs::{RFLAGS_FIXED, RFLAGS_IF, USER_LIMIT};

/// `IA32_EFER`.
pub const EFER_MSR: u32 = 0xC000_0080;
/// `IA32_STAR`: the selectors of `syscall` and `sysret`.
pub const STAR_MSR: u32 = 0xC000_0081;
/// `IA32_LSTAR`: the 64-bit entry point.
pub const LSTAR_MSR: u32 = 0xC000_0082;
/// `IA32_FMASK`: the RFLAGS bits `syscall` clears.
pub const SFMASK_MSR: u32 = 0xC000_0084;
/// `IA32_KERNEL_GS_BASE`: what `swapgs` exchanges with `GS_BASE`.
pub const KERNEL_GS_BASE_MSR: u32 = 0xC000_0102;
/// `EFER.SCE`: `syscall` and `sysret` enabled.
pub const EFER_SCE: u64 = 1;

/// RFLAGS.TF.
const RFLAGS_TF: u64 = 1 << 8;
/// RFLAGS.DF.
const RFLAGS_DF: u64 = 1 << 10;
/// RFLAGS.NT.
const RFLAGS_NT: u64 = 1 << 14;
/// RFLAGS.AC.
const RFLAGS_AC: u64 = 1 << 18;

/// The RFLAGS bits `syscall` clears: IF (interrupts stay off until `iretq` or `sysretq`),
/// TF (no single-step trap on the kernel's first instruction), DF (the string direction
/// the ABI expects), AC (no alignment checks, and no user access under SMAP), NT (an
/// `iretq` with NT set faults in 64-bit mode). A partition can set TF, DF, AC and NT
/// itself in ring 3 (`popfq`); an interrupt gate clears TF and NT, and the IDT stubs DF
/// and AC: the `syscall` entry leaves the kernel's flags as theirs.
pub const SFMASK: u64 = RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_NT | RFLAGS_AC;

/// The RFLAGS bits `sysret` takes from `r11` (the others, RF and VM, are cleared; bit 1
/// is set).
pub const SYSRET_RFLAGS: u64 = 0x003C_7FD7;

/// The `STAR` value for kernel code selector `kernel_cs` (`syscall` loads CS with it and
/// SS with it + 8) and user selector base `user_base` (`sysret` to 64-bit mode loads SS
/// with it + 8 and CS with it + 16, both with RPL 3).
#[must_use]
pub const fn star(kernel_cs: u16, user_base: u16) -> u64 {
    ((user_base as u64) << 48) | ((kernel_cs as u64) << 32)
}

/// This adapter's `STAR`: the GDT's kernel code selector, and the user base that makes
/// `sysret` load [`USER_SS`] and [`USER_CS`].
pub const STAR: u64 = star(KERNEL_CS, USER_SS - 8);

/// The CS and SS `syscall` loads for `star`.
#[must_use]
pub const fn syscall_selectors(star: u64) -> (u16, u16) {
    let cs = ((star >> 32) & 0xfffc) as u16;
    (cs, cs + 8)
}

/// The CS and SS `sysret` to 64-bit mode loads for `star`.
#[must_use]
pub const fn sysret_selectors(star: u64) -> (u16, u16) {
    let base = (star >> 48) as u16;
    ((base + 16) | 3, (base + 8) | 3)
}

const _: () = {
    let (cs, ss) = syscall_selectors(STAR);
    assert!(cs == KERNEL_CS && ss == KERNEL_SS, "syscall enters the kernel's segments");
    let (cs, ss) = sysret_selectors(STAR);
    assert!(cs == USER_CS && ss == USER_SS, "sysret leaves to the user segments");
};

/// Whether `sysretq` enters exactly what `iretq` of `frame` would: the user's segments,
/// RIP in `rcx`, RFLAGS in `r11` and among the bits `sysret` restores (bit 1 set), RIP
/// in the lower canonical half (`sysret` with a non-canonical `rcx` faults in ring 0 on
/// Intel CPUs, on the user's stack).
#[must_use]
pub const fn sysret_equivalent(frame: &TrapFrame) -> bool {
    frame.cs == USER_CS as u64
        && frame.ss == USER_SS as u64
        && frame.rcx == frame.rip
        && frame.r11 == frame.rflags
        && frame.rflags == (frame.rflags & SYSRET_RFLAGS) | RFLAGS_FIXED
        && frame.rip < USER_LIMIT
}

/// The frame the `syscall` stub builds for a partition that made a call with its
/// registers `regs` (`rcx` and `r11` as the CPU left them: the return address and the
/// flags; `rsp` its stack pointer): what the stub pushes, as a value (host tests compare
/// it with the `int 0x80` frame).
#[must_use]
pub const fn entry_frame(regs: &crate::UserRegs) -> TrapFrame {
    let mut frame = TrapFrame {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rbp: 0,
        rdi: 0,
        rsi: 0,
        rdx: 0,
        rcx: 0,
        rbx: 0,
        rax: 0,
        vector: crate::idt::HYPERCALL_VECTOR as u64,
        error_code: 0,
        rip: 0,
        cs: 0,
        rflags: 0,
        rsp: 0,
        ss: 0,
    };
    frame.load(regs, USER_CS, USER_SS);
    frame.rip = regs.rcx;
    frame.rflags = regs.r11;
    frame
}

/// One CPU's block for the `syscall` stub, which `KERNEL_GS_BASE` points to: the stack
/// the stub switches to (word 0) and the user RSP it keeps meanwhile (word 1).
#[repr(C, align(64))]
pub struct EntryBlock(UnsafeCell<[u64; 2]>);

// SAFETY: each block is written by `enable` on its CPU before `syscall` is enabled there,
// then only by that CPU's stub (with interrupts off); nothing reads it through Rust.
unsafe impl Sync for EntryBlock {}

impl Default for EntryBlock {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for EntryBlock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EntryBlock").finish_non_exhaustive()
    }
}

impl EntryBlock {
    /// Offset of the stack top.
    pub const STACK_TOP: usize = 0;
    /// Offset of the user RSP.
    pub const USER_RSP: usize = 8;

    /// An empty block (filled by `enable`).
    #[must_use]
    pub const fn new() -> Self {
        Self(UnsafeCell::new([0; 2]))
    }
}

static ENTRIES: AtomicU64 = AtomicU64::new(0);
static SYSRETS: AtomicU64 = AtomicU64::new(0);

/// Hypercalls entered through `syscall` since boot, every CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Entries.
    pub entries: u64,
    /// Left with `sysretq`.
    pub sysret: u64,
    /// Left with `iretq` (the frame was not [`sysret_equivalent`]).
    pub iret: u64,
}

/// The `syscall` entries since boot and how they left.
#[must_use]
pub fn counts() -> Counts {
    let entries = ENTRIES.load(Ordering::Relaxed);
    let sysret = SYSRETS.load(Ordering::Relaxed);
    Counts { entries, sysret, iret: entries.saturating_sub(sysret) }
}

/// What the stub calls: the kernel's dispatcher (through the IDT stubs' one), then
/// whether the frame may be entered with `sysretq`.
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "none")), allow(dead_code))]
extern "C" fn dispatch(frame: &mut TrapFrame) -> bool {
    ENTRIES.fetch_add(1, Ordering::Relaxed);
    crate::idt::dispatch(frame);
    let sysret = sysret_equivalent(frame);
    if sysret {
        SYSRETS.fetch_add(1, Ordering::Relaxed);
    }
    sysret
}

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub use stub::{enable, entry_address};

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod stub {
    use super::{
        EFER_MSR, EFER_SCE, EntryBlock, KERNEL_GS_BASE_MSR, LSTAR_MSR, SFMASK, SFMASK_MSR, STAR,
        STAR_MSR,
    };
    use crate::apic::msr;
    use crate::gdt::{USER_CS, USER_SS};
    use crate::idt::HYPERCALL_VECTOR;

    // The entry: interrupts are off and RFLAGS.AC and DF clear (SFMASK: what the IDT
    // stubs' `clac` and `cld` do), RSP is still the partition's; `swapgs`
    // makes GS_BASE this CPU's `EntryBlock`; the user RSP goes to its word 1 and RSP
    // becomes its word 0 (the common interrupt stack's top); the CPU's part of an
    // interrupt frame is pushed by hand (SS, RSP, RFLAGS from r11, CS, RIP from rcx),
    // then error code 0 and the hypercall vector; `swapgs` again, so GS_BASE is the
    // partition's during the dispatcher; the general registers in `TrapFrame` order.
    // After the dispatcher: the registers popped (pops and `lea` keep the flags of the
    // `test`), then `sysretq` on the frame's RSP if the dispatcher said the frame allows
    // it, else `iretq`. The stack is 16-byte aligned at the call (22 words below a
    // 16-byte aligned top), as in the IDT stubs.
    core::arch::global_asm!(
        r#"
        .section .text.irq_x86_syscall, "ax"
        .global irq_x86_syscall_entry
        .p2align 4
    irq_x86_syscall_entry:
        swapgs
        mov qword ptr gs:[{user_rsp}], rsp
        mov rsp, qword ptr gs:[{stack_top}]
        push {user_ss}
        push qword ptr gs:[{user_rsp}]
        push r11
        push {user_cs}
        push rcx
        push 0
        push {vector}
        swapgs
        push rax
        push rbx
        push rcx
        push rdx
        push rsi
        push rdi
        push rbp
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        mov rdi, rsp
        cld
        call {dispatch}
        test al, al
        pop r15
        pop r14
        pop r13
        pop r12
        pop r11
        pop r10
        pop r9
        pop r8
        pop rbp
        pop rdi
        pop rsi
        pop rdx
        pop rcx
        pop rbx
        pop rax
        lea rsp, [rsp + 16]
        jz 2f
        mov rsp, qword ptr [rsp + 24]
        sysretq
    2:
        iretq
        .text
        "#,
        user_rsp = const EntryBlock::USER_RSP,
        stack_top = const EntryBlock::STACK_TOP,
        user_ss = const USER_SS,
        user_cs = const USER_CS,
        vector = const HYPERCALL_VECTOR,
        dispatch = sym super::dispatch,
    );

    unsafe extern "C" {
        static irq_x86_syscall_entry: u8;
    }

    /// The entry stub's address (`LSTAR`).
    #[must_use]
    pub fn entry_address() -> u64 {
        (&raw const irq_x86_syscall_entry) as u64
    }

    /// Enables `syscall` on this CPU as a hypercall entry: `block` gets `stack_top` (the
    /// top of this CPU's common interrupt stack, IST1, so the frame is where an
    /// interrupt from ring 3 puts it) and becomes `KERNEL_GS_BASE`; `STAR`, `LSTAR`,
    /// `SFMASK` and `EFER.SCE` are set.
    ///
    /// # Safety
    /// Ring 0, interrupts disabled, on the CPU `block` and `stack_top` belong to, after
    /// the GDT ([`gdt_words`](crate::gdt::gdt_words)) and the IDT's dispatcher are in
    /// place; `block` is this CPU's only (no other CPU enables with it); `stack_top` is
    /// this CPU's IST1 top (16-byte aligned), used by nothing else that can run while a
    /// hypercall is dispatched; the kernel never executes `swapgs` itself, nor writes
    /// `KERNEL_GS_BASE`.
    pub unsafe fn enable(block: &'static EntryBlock, stack_top: u64) {
        // SAFETY: the block is this CPU's (contract) and not in use yet (`syscall` is
        // not enabled until the MSRs below are written); the MSRs exist on every x86_64
        // CPU, and their values are this adapter's entry, selectors and flags.
        unsafe {
            (*block.0.get())[0] = stack_top;
            (*block.0.get())[1] = 0;
            msr::write(KERNEL_GS_BASE_MSR, block.0.get() as u64);
            msr::write(STAR_MSR, STAR);
            msr::write(LSTAR_MSR, entry_address());
            msr::write(SFMASK_MSR, SFMASK);
            msr::write(EFER_MSR, msr::read(EFER_MSR) | EFER_SCE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        EntryBlock, SFMASK, STAR, SYSRET_RFLAGS, entry_frame, star, syscall_selectors,
        sysret_equivalent, sysret_selectors,
    };
    use crate::frame::TrapFrame;
    use crate::gdt::{KERNEL_CS, KERNEL_SS, USER_CS, USER_SS, gdt_words};
    use crate::regs::{RFLAGS_ENTRY, USER_LIMIT, UserRegs};

    #[test]
    fn star_gives_the_gdts_selectors_both_ways() {
        assert_eq!(STAR, 0x0013_0008_0000_0000);
        assert_eq!(star(0x08, 0x13), STAR);
        assert_eq!(syscall_selectors(STAR), (KERNEL_CS, KERNEL_SS));
        assert_eq!(sysret_selectors(STAR), (USER_CS, USER_SS));
        // The descriptors behind them: kernel code, kernel data; user data, user code.
        let gdt = gdt_words(0);
        let index = |s: u16| usize::from(s >> 3);
        assert_eq!(gdt[index(KERNEL_CS)], crate::gdt::code_descriptor(0));
        assert_eq!(gdt[index(KERNEL_SS)], crate::gdt::data_descriptor(0));
        assert_eq!(gdt[index(USER_SS)], crate::gdt::data_descriptor(3));
        assert_eq!(gdt[index(USER_CS)], crate::gdt::code_descriptor(3));
    }

    #[test]
    fn sfmask_clears_interrupts_trap_direction_and_alignment_check() {
        for bit in [8, 9, 10, 18] {
            assert_ne!(SFMASK & (1 << bit), 0, "bit {bit}");
        }
        assert_eq!(SFMASK & 0x8d5, 0, "the arithmetic flags are the partition's");
        assert_eq!(SFMASK & !0x0004_4700, 0);
    }

    #[test]
    fn the_entry_block_layout_is_the_stubs() {
        assert_eq!(core::mem::size_of::<EntryBlock>(), 64);
        assert_eq!((EntryBlock::STACK_TOP, EntryBlock::USER_RSP), (0, 8));
    }

    fn numbered() -> UserRegs {
        let mut w = [0u64; UserRegs::WORDS];
        for (i, word) in w.iter_mut().enumerate() {
            *word = 0x500 + i as u64;
        }
        let mut regs = UserRegs::from_words(&w);
        regs.rip = 0x40_1234;
        regs.rsp = 0x61_0000;
        regs.rflags = RFLAGS_ENTRY | 0x41;
        regs
    }

    /// The frame of a `syscall` is the frame of an `int 0x80` made with the same
    /// registers, but for RIP and RFLAGS, which are in `rcx` and `r11`.
    #[test]
    fn the_syscall_frame_is_the_int_0x80_frame() {
        let before = numbered();
        // What the CPU leaves after `syscall` at `before.rip` (2 bytes long).
        let mut at_entry = before;
        at_entry.rcx = before.rip + 2;
        at_entry.r11 = before.rflags;
        let frame = entry_frame(&at_entry);
        let mut int80 = TrapFrame { vector: 0x80, ..TrapFrame::default() };
        int80.load(&at_entry, USER_CS, USER_SS);
        int80.rip = before.rip + 2; // after `int 0x80` (also 2 bytes)
        assert_eq!(frame, int80);
        assert!(frame.from_user());
        assert_eq!((frame.vector, frame.error_code), (0x80, 0));
        assert!(sysret_equivalent(&frame), "an untouched frame goes back with sysret");
    }

    #[test]
    fn sysret_only_where_it_enters_what_iret_would() {
        let mut regs = numbered();
        regs.rcx = regs.rip;
        regs.r11 = regs.rflags;
        let good = entry_frame(&regs);
        assert!(sysret_equivalent(&good));
        // The answer in rax and rdx changes nothing.
        let mut f = good;
        f.rax = 3;
        f.rdx = u64::MAX;
        assert!(sysret_equivalent(&f));
        // Another state (an upcall's handler, another partition interrupted elsewhere):
        // rcx or r11 are not RIP and RFLAGS.
        let mut f = good;
        f.rip = 0x40_2000;
        assert!(!sysret_equivalent(&f));
        let mut f = good;
        f.rflags ^= 0x80; // SF changed by the partition's code, r11 its own
        assert!(!sysret_equivalent(&f));
        // The kernel's idle loop.
        let mut f = good;
        f.load(&regs, KERNEL_CS, KERNEL_SS);
        assert!(!sysret_equivalent(&f));
        // Flags sysret cannot restore (RF, VM) or without the fixed bit.
        for flags in [regs.rflags | 1 << 16, regs.rflags | 1 << 17, regs.rflags & !2] {
            let mut f = good;
            (f.rflags, f.r11) = (flags, flags);
            assert!(!sysret_equivalent(&f), "{flags:#x}");
            assert_ne!((flags & SYSRET_RFLAGS) | 2, flags, "sysret would not restore {flags:#x}");
        }
        // RIP outside the lower canonical half: the sysret #GP in ring 0, never.
        for rip in [USER_LIMIT, 0xffff_8000_0000_0000, u64::MAX] {
            let mut f = good;
            (f.rip, f.rcx) = (rip, rip);
            assert!(!sysret_equivalent(&f), "{rip:#x}");
        }
    }
}
