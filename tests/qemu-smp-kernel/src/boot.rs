//! The PVH entry: QEMU's `-kernel` loader finds the Xen ELF note and starts `_start32` in
//! 32-bit protected mode with paging off and the PVH start information's address in
//! `ebx`. It loads identity page tables for the first GiB (2 MiB pages), enables long mode
//! and far-jumps to 64-bit code, which calls `kmain(start_info)` on the boot stack. The
//! kernel builds its real page tables (4 GiB, the device window uncached) in `machine`.

core::arch::global_asm!(
    r#"
    .section .note.Xen, "a", @note
    .p2align 2
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .p2align 2
    .long _start32
    .p2align 2

    .section .text.boot, "ax"
    .code32
    .global _start32
_start32:
    cli
    movl %ebx, %edi
    movl $boot_stack_top, %esp
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl $0xC0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0
    lgdt boot_gdtr
    ljmp $0x08, $start64

    .code64
start64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $boot_stack_top, %rsp
    movl %edi, %edi
    xorl %ebp, %ebp
    call kmain
1:  hlt
    jmp 1b

    .section .data.boot, "aw"
    .p2align 12
boot_pml4:
    .quad boot_pdpt + 0x3
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_pd + 0x3
    .fill 511, 8, 0
boot_pd:
    .set i, 0
    .rept 512
    .quad (i << 21) + 0x83
    .set i, i + 1
    .endr
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdtr:
    .word boot_gdtr - boot_gdt - 1
    .long boot_gdt

    .section .bss.boot, "aw", @nobits
    .p2align 12
boot_stack:
    .skip 262144
boot_stack_top:
    .text
"#,
    options(att_syntax)
);
