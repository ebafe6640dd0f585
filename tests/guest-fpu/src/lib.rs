//! The QEMU test partitions' FPU isolation check, shared by the partitions' programs of
//! both test kernels (`tests/qemu-guest`, `tests/qemu-smp-guest`): a partition fills the
//! 16 SSE registers and the x87 stack top with its own pattern ([`fill`]) and checks them
//! before it idles ([`holds`], [`check`]); another partition's values, or values not
//! restored across a switch, show as a mismatch. x86_64 only (the kernels' target).
#![no_std]

#[cfg(target_arch = "x86_64")]
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// Fills the 16 SSE registers and the x87 stack top with `pattern` (SSE in ring 3: the
/// kernel set CR0 and CR4 up for it).
#[cfg(target_arch = "x86_64")]
pub fn fill(pattern: u64) {
    macro_rules! xmm {
        ($($n:literal)*) => {
            concat!($("movq xmm", $n, ", {t}\n", "punpcklqdq xmm", $n, ", xmm", $n, "\n", "inc {t}\n",)*)
        };
    }
    // SAFETY: writes only the FPU/SSE registers (which the kernel never uses) and a
    // scratch register; the push/pop leaves the stack as it was.
    unsafe {
        asm!(
            "mov {t}, {p}",
            xmm!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15),
            "fninit",
            "push {p}",
            "fild qword ptr [rsp]",
            "pop {t}",
            p = in(reg) pattern,
            t = out(reg) _,
        );
    }
}

/// Whether the SSE registers and the x87 stack top still hold `pattern` (all in
/// assembly: compiled code between the store and the comparison could use them).
#[cfg(target_arch = "x86_64")]
#[must_use]
pub fn holds(pattern: u64) -> bool {
    macro_rules! store {
        ($($n:literal)*) => {
            concat!($("movdqu [{b} + ", $n, " * 16], xmm", $n, "\n",)*)
        };
    }
    let mut words = core::mem::MaybeUninit::<[u64; 33]>::uninit();
    let bad: u64;
    // SAFETY: stores into `words` (33 words: 16 registers of two, then the x87 value)
    // and reads back only what it stored; `fld st(0)` / `fistp` leave the x87 stack as
    // it was.
    unsafe {
        asm!(
            store!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15),
            "fld st(0)",
            "fistp qword ptr [{b} + 256]",
            "mov {bad}, qword ptr [{b} + 256]",
            "xor {bad}, {p}",
            "mov {e}, {p}",
            "xor {i:e}, {i:e}",
            "2:",
            "mov {t}, qword ptr [{b} + {i} * 8]",
            "xor {t}, {e}",
            "or {bad}, {t}",
            "mov {t}, qword ptr [{b} + {i} * 8 + 8]",
            "xor {t}, {e}",
            "or {bad}, {t}",
            "inc {e}",
            "add {i}, 2",
            "cmp {i}, 32",
            "jb 2b",
            b = in(reg) words.as_mut_ptr().cast::<u64>(),
            p = in(reg) pattern,
            bad = out(reg) bad,
            e = out(reg) _,
            i = out(reg) _,
            t = out(reg) _,
        );
    }
    bad == 0
}

/// One check of the partition's FPU and SSE values, counted in `checks` and `bad`.
#[cfg(target_arch = "x86_64")]
pub fn check(pattern: u64, checks: &AtomicU64, bad: &AtomicU64) {
    checks.fetch_add(1, Ordering::Relaxed);
    if !holds(pattern) {
        bad.fetch_add(1, Ordering::Relaxed);
    }
}
