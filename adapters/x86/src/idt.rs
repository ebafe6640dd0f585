//! The IDT: one entry stub per vector, every stub passing its vector number and the error
//! code (the CPU's, or 0) to one dispatcher.
//!
//! Every gate is an interrupt gate (interrupts stay disabled in the kernel) on IST1, so
//! every entry, from ring 3 or from the kernel's idle loop, builds its [`TrapFrame`] at
//! the same place, the top of one interrupt stack. The dispatcher may rewrite the frame
//! entirely (another partition's registers, another privilege level): the stub's
//! `iretq` enters whatever the frame holds when the dispatcher returns.
//!
//! Three vectors can arrive while the kernel is already on IST1 (inside the dispatcher,
//! with interrupts off), and so have stacks of their own: the NMI ([`NMI_IST`]), the
//! double fault ([`DOUBLE_FAULT_IST`]) and the machine check ([`MACHINE_CHECK_IST`]).
//! Otherwise they would build their frame over the one in use. An NMI is counted
//! ([`nmi_count`]) and returned from at once: it never reaches the kernel's dispatcher
//! (which may hold locks it interrupted), so it is never blamed on a partition.
//!
//! Only the hypercall vector is reachable from ring 3 (`int` with DPL 3); `int n` of any
//! other vector from ring 3 is a general-protection fault, a trap of the partition.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// The vector of the non-maskable interrupt.
pub const NMI_VECTOR: u8 = 2;
/// The vector of the double fault.
pub const DOUBLE_FAULT_VECTOR: u8 = 8;
/// The vector of the machine check.
pub const MACHINE_CHECK_VECTOR: u8 = 18;
/// The interrupt stack of every other vector.
pub const COMMON_IST: u8 = 1;
/// The NMI's interrupt stack (the TSS's `ist[1]`).
pub const NMI_IST: u8 = 2;
/// The double fault's interrupt stack (the TSS's `ist[2]`).
pub const DOUBLE_FAULT_IST: u8 = 3;
/// The machine check's interrupt stack (the TSS's `ist[3]`).
pub const MACHINE_CHECK_IST: u8 = 4;

/// The interrupt stack of `vector`'s gate (1 to 4; the kernel's TSS provides them).
#[must_use]
pub const fn gate_ist(vector: u8) -> u8 {
    match vector {
        NMI_VECTOR => NMI_IST,
        DOUBLE_FAULT_VECTOR => DOUBLE_FAULT_IST,
        MACHINE_CHECK_VECTOR => MACHINE_CHECK_IST,
        _ => COMMON_IST,
    }
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
    /// Every gate to the stub `stubs + vector * STUB_STRIDE`, on its interrupt stack
    /// ([`gate_ist`]), kernel code selector `selector`.
    #[must_use]
    pub const fn new(stubs: u64, selector: u16) -> Self {
        let mut gates = [[0u64; 2]; 256];
        let mut v = 0;
        while v < 256 {
            let (dpl, ist) = (gate_dpl(v as u8), gate_ist(v as u8));
            gates[v] = interrupt_gate(stubs + v as u64 * STUB_STRIDE, selector, dpl, ist);
            v += 1;
        }
        Self(gates)
    }
}

/// The kernel's dispatcher: called by every stub with the frame it built.
pub type Dispatcher = fn(&mut TrapFrame);

static DISPATCHER: spin::Mutex<Option<Dispatcher>> = spin::Mutex::new(None);

static NMIS: AtomicU64 = AtomicU64::new(0);
static NMIS_IN_KERNEL: AtomicU64 = AtomicU64::new(0);
static NMIS_IN_ENTRY: AtomicU64 = AtomicU64::new(0);
/// CPUs whose common interrupt stacks the NMI count knows ([`add_common_stack`]).
pub const MAX_COMMON_STACKS: usize = 64;
static COMMON_STACKS: [[AtomicU64; 2]; MAX_COMMON_STACKS] =
    [const { [AtomicU64::new(0), AtomicU64::new(0)] }; MAX_COMMON_STACKS];
static COMMON_STACKS_USED: AtomicUsize = AtomicUsize::new(0);
/// NMIs that interrupted an entry in progress, by common stack.
static NMIS_IN_ENTRY_ON: [AtomicU64; MAX_COMMON_STACKS] =
    [const { AtomicU64::new(0) }; MAX_COMMON_STACKS];

/// NMIs taken since boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nmis {
    /// All of them.
    pub taken: u64,
    /// Those that interrupted ring 0.
    pub in_kernel: u64,
    /// Those that interrupted an entry in progress on the common interrupt stack (a
    /// hypercall, a tick...: the frame an NMI on that stack would have overwritten).
    pub in_entry: u64,
}

/// NMIs taken since boot.
#[must_use]
pub fn nmi_count() -> Nmis {
    Nmis {
        taken: NMIS.load(Ordering::Relaxed),
        in_kernel: NMIS_IN_KERNEL.load(Ordering::Relaxed),
        in_entry: NMIS_IN_ENTRY.load(Ordering::Relaxed),
    }
}

/// Tells the NMI count where one CPU's common interrupt stack (IST1) is, `[bottom,
/// top)`, so that NMIs interrupting an entry in progress on it are counted apart
/// ([`Nmis::in_entry`]): each CPU's, once, before its first interrupt.
///
/// # Errors
/// [`TooManyStacks`] past [`MAX_COMMON_STACKS`] CPUs (the NMIs of that CPU are still
/// taken and counted, only not told apart).
pub fn add_common_stack(bottom: u64, top: u64) -> Result<(), TooManyStacks> {
    let slot = COMMON_STACKS_USED.fetch_add(1, Ordering::AcqRel);
    let Some([low, high]) = COMMON_STACKS.get(slot) else {
        COMMON_STACKS_USED.store(MAX_COMMON_STACKS, Ordering::Release);
        return Err(TooManyStacks);
    };
    // The top first: a slot with a zero bottom and a non-zero top is not yet complete,
    // which an NMI reading it meanwhile takes as the empty range it still is.
    high.store(top, Ordering::Release);
    low.store(bottom.max(1), Ordering::Release);
    Ok(())
}

/// More CPUs than [`MAX_COMMON_STACKS`] gave their stacks to [`add_common_stack`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyStacks;

/// The common interrupt stack (its slot) that holds `rsp`.
fn common_stack_of(rsp: u64) -> Option<usize> {
    let used = COMMON_STACKS_USED.load(Ordering::Acquire).min(MAX_COMMON_STACKS);
    COMMON_STACKS[..used].iter().position(|[low, high]| {
        let bottom = low.load(Ordering::Acquire);
        bottom != 0 && (bottom..high.load(Ordering::Acquire)).contains(&rsp)
    })
}

/// NMIs that interrupted an entry in progress on the common interrupt stack holding
/// `addr` (a CPU's own: for instance the address of the frame its dispatcher is
/// handling); 0 for an address on none.
#[must_use]
pub fn nmis_in_entry_on(addr: u64) -> u64 {
    common_stack_of(addr).map_or(0, |slot| NMIS_IN_ENTRY_ON[slot].load(Ordering::Acquire))
}

/// Sets the function every stub calls. An entry before this is set halts the CPU.
pub fn set_dispatcher(dispatcher: Dispatcher) {
    *DISPATCHER.lock() = Some(dispatcher);
}

/// What the stubs call (through the assembly in `stubs`, and the `syscall` entry's).
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "none")), allow(dead_code))]
pub(crate) extern "C" fn dispatch(frame: &mut TrapFrame) {
    if frame.vector == u64::from(NMI_VECTOR) {
        // On its own stack, never through the kernel's dispatcher (whose lock it may
        // have interrupted): counted, then straight back to what it interrupted.
        NMIS.fetch_add(1, Ordering::Relaxed);
        if frame.cs & 3 == 0 {
            NMIS_IN_KERNEL.fetch_add(1, Ordering::Relaxed);
            if let Some(slot) = common_stack_of(frame.rsp) {
                NMIS_IN_ENTRY_ON[slot].fetch_add(1, Ordering::Release);
                NMIS_IN_ENTRY.fetch_add(1, Ordering::Relaxed);
            }
        }
        return;
    }
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
    // error code before `iretq`. RFLAGS.DF is cleared for the dispatcher, and so is AC
    // once SMAP is on (`cpu::SMAP_ON`): a partition cannot lift SMAP for the kernel by
    // setting AC before it traps. The stack is 16-byte aligned at the call: IST entries
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
        cmp byte ptr [rip + {smap_on}], 0
        je 2f
        clac
    2:
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
        smap_on = sym crate::cpu::SMAP_ON,
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
    use super::{
        COMMON_IST, DOUBLE_FAULT_IST, HYPERCALL_VECTOR, Idt, MACHINE_CHECK_IST, MAX_COMMON_STACKS,
        NMI_IST, TooManyStacks, add_common_stack, common_stack_of, gate_dpl, interrupt_gate,
        nmis_in_entry_on,
    };

    /// Every CPU's common stack counts, not only the first one's; past the table, a
    /// typed error (the only test touching these statics).
    fn on_common_stack(rsp: u64) -> bool {
        common_stack_of(rsp).is_some()
    }

    #[test]
    fn nmis_in_entry_on_every_cpus_common_stack() {
        assert_eq!(nmis_in_entry_on(0x1_0000), 0);
        assert!(!on_common_stack(0x1_0000));
        assert_eq!(add_common_stack(0x1_0000, 0x2_0000), Ok(()));
        assert_eq!(add_common_stack(0x5_0000, 0x6_0000), Ok(()));
        for rsp in [0x1_0000, 0x1_fff8, 0x5_0000, 0x5_fff0] {
            assert!(on_common_stack(rsp), "{rsp:#x}");
        }
        for rsp in [0xfff8, 0x2_0000, 0x4_fff8, 0x6_0000, 0] {
            assert!(!on_common_stack(rsp), "{rsp:#x}");
        }
        for i in 2..MAX_COMMON_STACKS as u64 {
            assert_eq!(add_common_stack(i << 32, (i << 32) + 0x1000), Ok(()));
        }
        assert_eq!(add_common_stack(0x9_0000, 0xa_0000), Err(TooManyStacks));
        assert_eq!(add_common_stack(0x9_0000, 0xa_0000), Err(TooManyStacks));
        assert!(!on_common_stack(0x9_0000));
        assert!(on_common_stack(((MAX_COMMON_STACKS as u64 - 1) << 32) + 8));
    }

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

    /// The NMI, the double fault and the machine check each have a stack of their own;
    /// every other vector (the hypercall gate included) shares IST1.
    #[test]
    fn nmi_double_fault_and_machine_check_have_their_own_stacks() {
        let idt = Idt::new(0x10_0000, 0x08);
        let ist = |v: usize| (idt.0[v][0] >> 32) & 7;
        assert_eq!(ist(2), u64::from(NMI_IST));
        assert_eq!(ist(8), u64::from(DOUBLE_FAULT_IST));
        assert_eq!(ist(18), u64::from(MACHINE_CHECK_IST));
        let own = [2, 8, 18];
        assert!((0..256).filter(|v| !own.contains(v)).all(|v| ist(v) == u64::from(COMMON_IST)));
        let distinct = [NMI_IST, DOUBLE_FAULT_IST, MACHINE_CHECK_IST, COMMON_IST];
        assert!(distinct.iter().enumerate().all(|(i, a)| !distinct[i + 1..].contains(a)));
    }
}
