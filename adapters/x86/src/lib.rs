//! # irq-x86
//!
//! **Skeleton.** The x86 adapter (8259 PIC, PIT, IDT entry stubs, ring-3 upcall frames,
//! hypercall entry). Filled by the x86 issue; no API yet.
#![no_std]
