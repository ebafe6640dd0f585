//! A partition's user-mode register state and the hypercall register convention: pure
//! functions, tested on the host.

use irq_router::hypercall::RawCall;

/// RFLAGS bit 1, always set.
pub const RFLAGS_FIXED: u64 = 1 << 1;
/// RFLAGS.IF: hardware interrupts enabled.
pub const RFLAGS_IF: u64 = 1 << 9;
/// The RFLAGS bits a partition may set for itself: the arithmetic flags and DF
/// (CF, PF, AF, ZF, SF, DF, OF). Everything else (IF, IOPL, TF, NT, RF, VM, AC, ID) is the
/// kernel's: a partition always runs with interrupts enabled and no I/O privilege.
pub const RFLAGS_USER: u64 = 0x0CD5;
/// RFLAGS a partition starts with and every upcall handler is entered with.
pub const RFLAGS_ENTRY: u64 = RFLAGS_IF | RFLAGS_FIXED;
/// First address above the lower canonical half: user RIP and RSP must be below it.
pub const USER_LIMIT: u64 = 0x0000_8000_0000_0000;

/// The registers of a partition in ring 3, as the kernel keeps them while the partition
/// is not on the CPU (or while the kernel works for it). `#[repr(C)]`: this is also the
/// layout of the saved state inside an [`UpcallFrame`](crate::frame::UpcallFrame).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserRegs {
    /// `rax`.
    pub rax: u64,
    /// `rbx`.
    pub rbx: u64,
    /// `rcx`.
    pub rcx: u64,
    /// `rdx`.
    pub rdx: u64,
    /// `rsi`.
    pub rsi: u64,
    /// `rdi`.
    pub rdi: u64,
    /// `rbp`.
    pub rbp: u64,
    /// `r8`.
    pub r8: u64,
    /// `r9`.
    pub r9: u64,
    /// `r10`.
    pub r10: u64,
    /// `r11`.
    pub r11: u64,
    /// `r12`.
    pub r12: u64,
    /// `r13`.
    pub r13: u64,
    /// `r14`.
    pub r14: u64,
    /// `r15`.
    pub r15: u64,
    /// Instruction pointer.
    pub rip: u64,
    /// Flags.
    pub rflags: u64,
    /// Stack pointer.
    pub rsp: u64,
}

impl UserRegs {
    /// Number of 64-bit words.
    pub const WORDS: usize = 18;

    /// The state a partition starts in: `rip = entry`, `rsp = stack_top`, `rdi = arg`,
    /// interrupts enabled, every other register zero.
    #[must_use]
    pub const fn entry(entry: u64, stack_top: u64, arg: u64) -> Self {
        Self {
            rax: 0,
            rbx: 0,
            rcx: 0,
            rdx: 0,
            rsi: 0,
            rdi: arg,
            rbp: 0,
            r8: 0,
            r9: 0,
            r10: 0,
            r11: 0,
            r12: 0,
            r13: 0,
            r14: 0,
            r15: 0,
            rip: entry,
            rflags: RFLAGS_ENTRY,
            rsp: stack_top,
        }
    }

    /// The registers as words, in declaration order.
    #[must_use]
    pub const fn to_words(&self) -> [u64; Self::WORDS] {
        [
            self.rax,
            self.rbx,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.rbp,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rip,
            self.rflags,
            self.rsp,
        ]
    }

    /// The registers from words in declaration order, exactly (no sanitizing: see
    /// [`sanitized`](Self::sanitized)).
    #[must_use]
    pub const fn from_words(w: &[u64; Self::WORDS]) -> Self {
        Self {
            rax: w[0],
            rbx: w[1],
            rcx: w[2],
            rdx: w[3],
            rsi: w[4],
            rdi: w[5],
            rbp: w[6],
            r8: w[7],
            r9: w[8],
            r10: w[9],
            r11: w[10],
            r12: w[11],
            r13: w[12],
            r14: w[13],
            r15: w[14],
            rip: w[15],
            rflags: w[16],
            rsp: w[17],
        }
    }

    /// The same state made safe to enter with `iretq` at ring 3, for a state that went
    /// through the partition's hands (an upcall frame it could write): the flags it may
    /// not set are the kernel's (interrupts on, IOPL 0, no single-step), and a RIP or RSP
    /// outside the lower canonical half becomes 0, so that the partition faults on its
    /// first instruction or push (a trap, for its health monitor) instead of `iretq`
    /// faulting in the kernel, the general-protection fault of the 2013 attempt.
    #[must_use]
    pub const fn sanitized(mut self) -> Self {
        self.rflags = (self.rflags & RFLAGS_USER) | RFLAGS_ENTRY;
        if self.rip >= USER_LIMIT {
            self.rip = 0;
        }
        if self.rsp >= USER_LIMIT {
            self.rsp = 0;
        }
        self
    }
}

/// The hypercall registers of a partition (x86-64 convention of `docs/hypercalls.md`):
/// the number in `rax`, the arguments in `rdi`, `rsi`, `rdx`, `r10`.
#[must_use]
pub const fn raw_call(regs: &UserRegs) -> RawCall {
    RawCall { number: regs.rax, args: [regs.rdi, regs.rsi, regs.rdx, regs.r10] }
}

/// Writes the answer `[status, value]` of a call: status in `rax`, value in `rdx`. Every
/// other register keeps the caller's value.
pub const fn set_reply(regs: &mut UserRegs, reply: [u64; 2]) {
    regs.rax = reply[0];
    regs.rdx = reply[1];
}

#[cfg(test)]
mod tests {
    use super::{RFLAGS_ENTRY, RFLAGS_IF, USER_LIMIT, UserRegs, raw_call, set_reply};
    use irq_router::events::Port;
    use irq_router::hypercall::{Request, decode, encode_request};

    fn numbered() -> UserRegs {
        let mut w = [0u64; UserRegs::WORDS];
        for (i, word) in w.iter_mut().enumerate() {
            *word = 0x1000 + i as u64;
        }
        UserRegs::from_words(&w)
    }

    #[test]
    fn words_round_trip_in_declaration_order() {
        let regs = numbered();
        assert_eq!(regs.rax, 0x1000);
        assert_eq!(regs.r10, 0x1009);
        assert_eq!(regs.rip, 0x100f);
        assert_eq!(regs.rsp, 0x1011);
        assert_eq!(UserRegs::from_words(&regs.to_words()), regs);
        assert_eq!(core::mem::size_of::<UserRegs>(), 8 * UserRegs::WORDS);
    }

    #[test]
    fn call_registers_follow_the_abi() {
        let mut regs = numbered();
        let call = encode_request(&Request::<1>::Notify { port: Port::new(2).unwrap() });
        regs.rax = call.number;
        regs.rdi = call.args[0];
        regs.rsi = call.args[1];
        regs.rdx = call.args[2];
        regs.r10 = call.args[3];
        assert_eq!(raw_call(&regs), call);
        assert_eq!(
            decode::<1>(&raw_call(&regs)),
            Ok(Request::Notify { port: Port::new(2).unwrap() })
        );
        // rcx and r11 (clobbered by `syscall`) are not part of the convention.
        regs.rcx = 77;
        regs.r11 = 78;
        assert_eq!(raw_call(&regs), call);
    }

    #[test]
    fn reply_goes_to_rax_and_rdx_only() {
        let before = numbered();
        let mut regs = before;
        set_reply(&mut regs, [3, 9]);
        assert_eq!((regs.rax, regs.rdx), (3, 9));
        let (mut a, mut b) = (regs.to_words(), before.to_words());
        a[0] = 0;
        a[3] = 0;
        b[0] = 0;
        b[3] = 0;
        assert_eq!(a, b);
    }

    #[test]
    fn sanitizing_keeps_user_flags_and_forces_the_kernels() {
        let mut regs = numbered();
        regs.rip = 0x40_1000;
        regs.rsp = 0x60_0000;
        regs.rflags = 0xffff_ffff; // IOPL 3, TF, NT, AC, ID, ... and IF clear below
        regs.rflags &= !RFLAGS_IF;
        let s = regs.sanitized();
        assert_eq!(s.rflags, 0x0CD5 | RFLAGS_ENTRY);
        assert_eq!((s.rip, s.rsp), (0x40_1000, 0x60_0000));
        regs.rip = USER_LIMIT;
        regs.rsp = u64::MAX;
        let s = regs.sanitized();
        assert_eq!((s.rip, s.rsp), (0, 0), "non-canonical or kernel addresses never reach iretq");
        assert_eq!(s.rbx, regs.rbx);
    }

    #[test]
    fn entry_state() {
        let regs = UserRegs::entry(0x40_0000, 0x60_0000, 7);
        assert_eq!(
            (regs.rip, regs.rsp, regs.rdi, regs.rflags),
            (0x40_0000, 0x60_0000, 7, RFLAGS_ENTRY)
        );
        assert_eq!(regs.sanitized(), regs);
    }
}
