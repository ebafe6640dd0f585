//! The IDT: one entry stub per vector, every stub passing its vector number and the error
//! code (the CPU's, or 0) to one dispatcher.
//!
//! Every gate is an interrupt gate (interrupts stay disabled in the kernel) on IST1, so
//! every entry, from ring 3 or from the kernel's idle loop, builds its [`TrapFrame`] at
//! the same place, the top of one interrupt stack. The dispatcher may rewrite the frame
//! entirely (another partition's registers, another privilege level): the stub's
//! `iretq` enters whatever the frame holds when the dispatcher returns.
//!
//! Only the hypercall vector is reachable from ring 3 (`int` with DPL 3); `int n` of any
//! other vector from ring 3 is a general-protection fault, a trap of the partition.

use crate::frame::TrapFrame;

/// The vector of the hypercall gate (`int 0x80`).
pub const HYPERCALL_VECTOR: u8 = 0x80;
/// Bytes between two entry stubs (each stub is aligned to this).
pub const STUB_STRIDE: u64 = 16;

/// The two words of a 64-bit interrupt gate to `handler` through code selector
/// `selector`, callable from privilege `dpl`, on interrupt stack `ist` (0 = none).
#[must_use]
pub const fn interrupt_gate(handler: u64, selector: u16, dpl: u8, ist: u8) -> [u64; 2] {
    let low = (handler & 0xffff)
        | ((selector as u64) << 16)
        | ((ist as u64 & 7) << 32)
        | ((0x8E | ((dpl as u64 & 3) << 5)) << 40)
        | (((handler >> 16) & 0xffff) << 48);
    [low, handler >> 32]
}

/// The DPL of `vector`'s gate: 3 for the hypercall vector, 0 for everything else.
#[must_use]
pub const fn gate_dpl(vector: u8) -> u8 {
    if vector == HYPERCALL_VECTOR { 3 } else { 0 }
}

/// The IDT: 256 gates of two words.
#[repr(C, align(16))]
#[derive(Clone, Debug)]
pub struct Idt(pub [[u64; 2]; 256]);

impl Idt {
    /// Every gate to the stub `stubs + vector * STUB_STRIDE`, on IST1, kernel code
    /// selector `selector`.
    #[must_use]
    pub const fn new(stubs: u64, selector: u16) -> Self {
        let mut gates = [[0u64; 2]; 256];
        let mut v = 0;
        while v < 256 {
            gates[v] =
                interrupt_gate(stubs + v as u64 * STUB_STRIDE, selector, gate_dpl(v as u8), 1);
            v += 1;
        }
        Self(gates)
    }
}

/// The kernel's dispatcher: called by every stub with the frame it built.
pub type Dispatcher = fn(&mut TrapFrame);

static DISPATCHER: spin::Mutex<Option<Dispatcher>> = spin::Mutex::new(None);

/// Sets the function every stub calls. An entry before this is set halts the CPU.
pub fn set_dispatcher(dispatcher: Dispatcher) {
    *DISPATCHER.lock() = Some(dispatcher);
}

/// What the stubs call (through the assembly in `stubs`).
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "none")), allow(dead_code))]
extern "C" fn dispatch(frame: &mut TrapFrame) {
    let dispatcher = *DISPATCHER.lock();
    match dispatcher {
        Some(dispatch) => dispatch(frame),
        None => loop {
            core::hint::spin_loop();
        },
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub use stubs::{load, stub_base};

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod stubs {
    use super::Idt;

    // 256 stubs, `STUB_STRIDE` bytes apart: push 0 when the CPU pushes no error code,
    // push the vector, join the common path. The common path pushes the general
    // registers in `TrapFrame` order (rax first, so r15 ends lowest), calls the
    // dispatcher with RSP (the frame) in rdi, pops them again and drops the vector and
    // error code before `iretq`. The stack is 16-byte aligned at the call: IST entries
    // align RSP to 16, the CPU pushes 5 words, the stub 2, the common path 15.
    core::arch::global_asm!(
        r#"
        .section .text.irq_x86_stubs, "ax"
        .global irq_x86_stubs
        .p2align 4
    irq_x86_stubs:
        .set vec, 0
        .rept 256
        .p2align 4
        .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
        .else
        push 0
        .endif
        push vec
        jmp irq_x86_common
        .set vec, vec + 1
        .endr

        .p2align 4
    irq_x86_common:
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
        add rsp, 16
        iretq
        .text
        "#,
        dispatch = sym super::dispatch,
    );

    unsafe extern "C" {
        static irq_x86_stubs: u8;
    }

    /// Address of the first entry stub (vector 0); vector `v`'s is `v * STUB_STRIDE`
    /// further.
    #[must_use]
    pub fn stub_base() -> u64 {
        (&raw const irq_x86_stubs) as u64
    }

    /// Loads `idt`.
    ///
    /// # Safety
    /// Ring 0; `idt` stays valid and in place for ever and its gates lead to code that
    /// handles every vector (the stubs, with a dispatcher set).
    pub unsafe fn load(idt: &'static Idt) {
        #[repr(C, packed(2))]
        struct Pointer {
            limit: u16,
            base: u64,
        }
        let pointer = Pointer { limit: 256 * 16 - 1, base: core::ptr::from_ref(idt) as u64 };
        // SAFETY: the IDT is valid and permanent (function contract).
        unsafe { core::arch::asm!("lidt [{}]", in(reg) &raw const pointer, options(nostack)) };
    }
}

#[cfg(test)]
mod tests {
    use super::{HYPERCALL_VECTOR, Idt, gate_dpl, interrupt_gate};

    #[test]
    fn gate_fields() {
        let [low, high] = interrupt_gate(0x1234_5678_9abc_def0, 0x08, 3, 1);
        assert_eq!(low & 0xffff, 0xdef0);
        assert_eq!((low >> 16) & 0xffff, 0x08);
        assert_eq!((low >> 32) & 7, 1);
        assert_eq!((low >> 40) & 0xff, 0xEE, "present, DPL 3, interrupt gate");
        assert_eq!(low >> 48, 0x9abc);
        assert_eq!(high, 0x1234_5678);
        assert_eq!((interrupt_gate(0, 8, 0, 0)[0] >> 40) & 0xff, 0x8E);
    }

    #[test]
    fn only_the_hypercall_gate_is_open_to_ring_3() {
        assert_eq!(gate_dpl(HYPERCALL_VECTOR), 3);
        assert!((0..=255u8).filter(|&v| gate_dpl(v) == 3).eq([HYPERCALL_VECTOR]));
        let idt = Idt::new(0x10_0000, 0x08);
        assert_eq!(idt.0[0x21][0] & 0xffff, 0x0210);
        assert_eq!((idt.0[0x80][0] >> 45) & 3, 3);
        assert_eq!((idt.0[0x20][0] >> 45) & 3, 0);
    }
}
