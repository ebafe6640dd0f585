//! The real-mode trampoline an application processor starts in: a start-up IPI names a
//! page below 1 MiB, and the CPU starts there in real mode. The trampoline loads a small
//! GDT, enters protected mode, turns on PAE, loads the kernel's page tables, enables long
//! mode and paging, and calls the kernel's 64-bit entry on the stack it was given, with
//! one argument.
//!
//! It is assembled for [`ADDRESS`] (its absolute jumps and its GDT pointer name that
//! address) and copied there by `install`; [`Params`] are written by `set_params` before
//! each start-up (one CPU at a time: the kernel's entry must tell the boot CPU it has left
//! the trampoline before the next CPU is started). `install` and `set_params` exist for
//! `target_os = "none"` only (the blob is assembled for the kernel).

/// Where the trampoline runs: page 8 (the start-up IPI's vector 0x08).
pub const ADDRESS: u64 = 0x8000;
/// The start-up IPI vector that starts a CPU at [`ADDRESS`].
pub const SIPI_PAGE: u8 = (ADDRESS >> 12) as u8;

/// What the trampoline reads before it calls the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// The page tables (PML4) to load: below 4 GiB (loaded in 32-bit mode), mapping the
    /// trampoline, the kernel's entry and its stack at their own addresses.
    pub cr3: u32,
    /// Bits to set in EFER besides LME (NXE if the page tables use NX).
    pub efer: u32,
    /// The stack pointer the kernel's entry starts with (16-byte aligned).
    pub stack: u64,
    /// The kernel's entry, `extern "C" fn(arg: u64) -> !`.
    pub entry: u64,
    /// Its argument.
    pub arg: u64,
}

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub use blob::{install, params_address};

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod blob {
    use super::{ADDRESS, Params};

    // Real mode at 0x0800:0000 (CS base = ADDRESS), then 32-bit protected mode and long
    // mode at absolute addresses computed from ADDRESS. Selectors of its GDT: 0x08 64-bit
    // code, 0x10 data, 0x18 32-bit code.
    core::arch::global_asm!(
        r#"
        .section .rodata.irq_x86_trampoline, "a"
        .p2align 4
        .global irq_x86_trampoline_start
        .global irq_x86_trampoline_end
        .global irq_x86_trampoline_params
        .set BASE, {base}
    irq_x86_trampoline_start:
        .code16
        cli
        cld
        movw %cs, %ax
        movw %ax, %ds
        lgdtl (irq_x86_trampoline_gdtr - irq_x86_trampoline_start)
        movl %cr0, %eax
        orl $1, %eax
        movl %eax, %cr0
        ljmpl $0x18, $(BASE + irq_x86_trampoline_32 - irq_x86_trampoline_start)

        .code32
    irq_x86_trampoline_32:
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl %cr4, %eax
        orl $0x20, %eax
        movl %eax, %cr4
        movl (BASE + irq_x86_trampoline_params - irq_x86_trampoline_start), %eax
        movl %eax, %cr3
        movl $0xC0000080, %ecx
        rdmsr
        orl $0x100, %eax
        orl (BASE + irq_x86_trampoline_params + 4 - irq_x86_trampoline_start), %eax
        wrmsr
        movl %cr0, %eax
        orl $0x80000001, %eax
        movl %eax, %cr0
        ljmpl $0x08, $(BASE + irq_x86_trampoline_64 - irq_x86_trampoline_start)

        .code64
    irq_x86_trampoline_64:
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        xorw %ax, %ax
        movw %ax, %fs
        movw %ax, %gs
        movq (BASE + irq_x86_trampoline_params + 8 - irq_x86_trampoline_start), %rsp
        movq (BASE + irq_x86_trampoline_params + 24 - irq_x86_trampoline_start), %rdi
        movq (BASE + irq_x86_trampoline_params + 16 - irq_x86_trampoline_start), %rax
        xorl %ebp, %ebp
        callq *%rax
    1:  cli
        hlt
        jmp 1b

        .p2align 3
    irq_x86_trampoline_gdt:
        .quad 0
        .quad 0x00af9a000000ffff
        .quad 0x00cf92000000ffff
        .quad 0x00cf9a000000ffff
    irq_x86_trampoline_gdtr:
        .word irq_x86_trampoline_gdtr - irq_x86_trampoline_gdt - 1
        .long BASE + irq_x86_trampoline_gdt - irq_x86_trampoline_start
        .p2align 3
    irq_x86_trampoline_params:
        .fill 32, 1, 0
    irq_x86_trampoline_end:
        .text
        "#,
        base = const ADDRESS,
        options(att_syntax)
    );

    unsafe extern "C" {
        static irq_x86_trampoline_start: u8;
        static irq_x86_trampoline_end: u8;
        static irq_x86_trampoline_params: u8;
    }

    const _: () = assert!(core::mem::size_of::<Params>() == 32);

    /// Where [`Params`] are written for the next start-up.
    #[must_use]
    pub fn params_address() -> u64 {
        let start = &raw const irq_x86_trampoline_start;
        let params = &raw const irq_x86_trampoline_params;
        ADDRESS + (params as u64 - start as u64)
    }

    /// Copies the trampoline to [`ADDRESS`] and writes `params` after it. Answers the
    /// number of bytes copied.
    ///
    /// # Safety
    /// Ring 0; the page at [`ADDRESS`] is RAM the kernel owns (not in use by anything
    /// else, not a Rust object), mapped writable and executable at its own address in the
    /// tables `params.cr3` names (which the trampoline loads) and in the ones in use now;
    /// and no CPU is running the trampoline.
    pub unsafe fn install(params: &Params) -> usize {
        let start = &raw const irq_x86_trampoline_start;
        let end = &raw const irq_x86_trampoline_end;
        let len = end as usize - start as usize;
        // SAFETY: the blob is `len` bytes of the kernel's read-only data; the destination
        // page is the kernel's, unused and mapped (contract), and the two do not overlap
        // (the kernel is not loaded below 1 MiB's first pages).
        unsafe {
            core::ptr::copy_nonoverlapping(start, ADDRESS as usize as *mut u8, len);
            set_params(params);
        }
        len
    }

    /// Writes `params` for the next start-up.
    ///
    /// # Safety
    /// As [`install`], which came first; no CPU is between its start-up and its entry.
    pub unsafe fn set_params(params: &Params) {
        // SAFETY: inside the installed trampoline's parameter block (contract); the
        // block is 8-byte aligned.
        unsafe { core::ptr::write_volatile(params_address() as usize as *mut Params, *params) };
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub use blob::set_params;
