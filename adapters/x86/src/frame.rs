//! The two frames of the adapter, as pure data and pure functions (host-tested):
//!
//! * [`TrapFrame`]: what the IDT entry stubs leave on the kernel's interrupt stack (the
//!   general registers, the vector, the error code, then the CPU's `iretq` frame), handed
//!   to the one dispatcher and popped again on the way out.
//! * [`UpcallFrame`]: what the kernel writes on a partition's stack to enter its handler
//!   with an event, holding the exact interrupted state that the upcall-return hypercall
//!   restores.

use irq_router::adapter::Upcall;
use irq_router::events::Sender;

use crate::regs::{RFLAGS_ENTRY, UserRegs};

/// Whether the CPU pushes an error code for exception `vector` (#DF, #TS, #NP, #SS, #GP,
/// #PF, #AC, #CP, #VC, #SX). The stubs push a 0 for every other vector, so the frame has
/// one layout.
#[must_use]
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10 | 11 | 12 | 13 | 14 | 17 | 21 | 29 | 30)
}

/// The stack frame of an interrupt, exception or hypercall entry, lowest address first:
/// the general registers the stub pushed (`r15` last), the vector and the error code it
/// pushed (0 if the CPU pushes none), then the CPU's frame.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapFrame {
    /// `r15`.
    pub r15: u64,
    /// `r14`.
    pub r14: u64,
    /// `r13`.
    pub r13: u64,
    /// `r12`.
    pub r12: u64,
    /// `r11`.
    pub r11: u64,
    /// `r10`.
    pub r10: u64,
    /// `r9`.
    pub r9: u64,
    /// `r8`.
    pub r8: u64,
    /// `rbp`.
    pub rbp: u64,
    /// `rdi`.
    pub rdi: u64,
    /// `rsi`.
    pub rsi: u64,
    /// `rdx`.
    pub rdx: u64,
    /// `rcx`.
    pub rcx: u64,
    /// `rbx`.
    pub rbx: u64,
    /// `rax`.
    pub rax: u64,
    /// The vector the stub was entered through.
    pub vector: u64,
    /// The error code (0 for vectors without one).
    pub error_code: u64,
    /// Interrupted RIP.
    pub rip: u64,
    /// Interrupted CS (its low two bits are the privilege level).
    pub cs: u64,
    /// Interrupted RFLAGS.
    pub rflags: u64,
    /// Interrupted RSP.
    pub rsp: u64,
    /// Interrupted SS.
    pub ss: u64,
}

impl TrapFrame {
    /// Size in bytes.
    pub const SIZE: usize = 22 * 8;

    /// The interrupted code ran in ring 3.
    #[must_use]
    pub const fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }

    /// The interrupted user state.
    #[must_use]
    pub const fn user_regs(&self) -> UserRegs {
        UserRegs {
            rax: self.rax,
            rbx: self.rbx,
            rcx: self.rcx,
            rdx: self.rdx,
            rsi: self.rsi,
            rdi: self.rdi,
            rbp: self.rbp,
            r8: self.r8,
            r9: self.r9,
            r10: self.r10,
            r11: self.r11,
            r12: self.r12,
            r13: self.r13,
            r14: self.r14,
            r15: self.r15,
            rip: self.rip,
            rflags: self.rflags,
            rsp: self.rsp,
        }
    }

    /// Makes the stub's `iretq` enter `regs` with the segments `cs` and `ss` (the
    /// vector and error code are left as they are: the stub discards them).
    pub const fn load(&mut self, regs: &UserRegs, cs: u16, ss: u16) {
        self.rax = regs.rax;
        self.rbx = regs.rbx;
        self.rcx = regs.rcx;
        self.rdx = regs.rdx;
        self.rsi = regs.rsi;
        self.rdi = regs.rdi;
        self.rbp = regs.rbp;
        self.r8 = regs.r8;
        self.r9 = regs.r9;
        self.r10 = regs.r10;
        self.r11 = regs.r11;
        self.r12 = regs.r12;
        self.r13 = regs.r13;
        self.r14 = regs.r14;
        self.r15 = regs.r15;
        self.rip = regs.rip;
        self.rflags = regs.rflags;
        self.rsp = regs.rsp;
        self.cs = cs as u64;
        self.ss = ss as u64;
    }
}

/// `port` value of an upcall that delivers a trap to the fault handler.
pub const NO_PORT: u64 = u64::MAX;

/// Bytes left untouched below the interrupted RSP (the System V red zone), so that an
/// upcall never overwrites what a leaf function keeps there.
pub const RED_ZONE: u64 = 128;

/// The frame the kernel writes on a partition's stack to enter its handler, lowest
/// address first. The handler is entered with `rdi` pointing at the frame (so it is
/// `extern "C" fn(&UpcallFrame)`), `rsi` = `port`, `rdx` = `vector`, RSP just below the
/// frame on a zero return address (a handler that returns instead of making the
/// upcall-return hypercall jumps to 0 and faults), interrupts enabled.
///
/// The handler may read everything and may change `saved` (a fault handler that skips
/// the faulting instruction); upcall return restores `saved` through
/// [`UserRegs::sanitized`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpcallFrame {
    /// The port delivered, or [`NO_PORT`] for a trap.
    pub port: u64,
    /// Events pending on the port when it was taken into service.
    pub pending: u64,
    /// Interrupt or exception vector of the event's context.
    pub vector: u64,
    /// Error code of a trap.
    pub error_code: u64,
    /// Faulting address (page fault) or faulting instruction of a trap.
    pub fault_address: u64,
    /// Kernel tick at which the event was raised.
    pub timestamp: u64,
    /// Sender: 0 for the kernel, `p + 1` for partition `p` (channels).
    pub sender: u64,
    /// The handler entered.
    pub entry: u64,
    /// The interrupted state, restored by upcall return.
    pub saved: UserRegs,
}

impl UpcallFrame {
    /// Number of 64-bit words.
    pub const WORDS: usize = 8 + UserRegs::WORDS;
    /// Size in bytes (a multiple of 16).
    pub const SIZE: u64 = (Self::WORDS * 8) as u64;
    /// Offset of `saved`.
    pub const SAVED_OFFSET: u64 = 64;

    /// The frame of `upcall` interrupting `saved`.
    #[must_use]
    pub const fn new(upcall: &Upcall, saved: &UserRegs) -> Self {
        let c = &upcall.context;
        Self {
            port: match upcall.port {
                Some(port) => port as u64,
                None => NO_PORT,
            },
            pending: upcall.pending as u64,
            vector: c.vector as u64,
            error_code: c.error_code as u64,
            fault_address: c.fault_address,
            timestamp: c.timestamp,
            sender: match c.sender {
                Sender::Kernel => 0,
                Sender::Partition(p) => p as u64 + 1,
            },
            entry: upcall.entry.get(),
            saved: *saved,
        }
    }

    /// The frame as words, lowest address first.
    #[must_use]
    pub const fn to_words(&self) -> [u64; Self::WORDS] {
        let mut w = [0u64; Self::WORDS];
        w[0] = self.port;
        w[1] = self.pending;
        w[2] = self.vector;
        w[3] = self.error_code;
        w[4] = self.fault_address;
        w[5] = self.timestamp;
        w[6] = self.sender;
        w[7] = self.entry;
        let s = self.saved.to_words();
        let mut i = 0;
        while i < UserRegs::WORDS {
            w[8 + i] = s[i];
            i += 1;
        }
        w
    }
}

/// Where the frame of an upcall interrupting a partition at `rsp` goes: below the red
/// zone, 16-byte aligned, with room for the zero return address below it. `None` if the
/// frame and its return slot do not fit above address 0 (the caller then checks the range
/// against the partition's memory with [`frame_span`], which never wraps for a frame this
/// function gave).
#[must_use]
pub const fn frame_address(rsp: u64) -> Option<u64> {
    match rsp.checked_sub(RED_ZONE + UpcallFrame::SIZE + 8) {
        // Aligning down may lose up to 15 bytes: the frame must still leave 8 below it.
        Some(low) => match (low + 8) & !15 {
            0 => None,
            frame => Some(frame),
        },
        None => None,
    }
}

/// The bytes an upcall frame at `frame` occupies, return address included:
/// `(start, length)`. `frame` is one [`frame_address`] gave (at least 16); a smaller
/// value saturates at 0 rather than wrapping.
#[must_use]
pub const fn frame_span(frame: u64) -> (u64, u64) {
    (frame.saturating_sub(8), UpcallFrame::SIZE + 8)
}

/// The registers the handler is entered with, for a frame at `frame` (see
/// [`UpcallFrame`]).
#[must_use]
pub const fn handler_regs(frame_at: u64, image: &UpcallFrame) -> UserRegs {
    let mut regs = UserRegs::entry(image.entry, frame_at - 8, frame_at);
    regs.rsi = image.port;
    regs.rdx = image.vector;
    regs.rflags = RFLAGS_ENTRY;
    regs
}

/// The state upcall return enters, from the `saved` words read back from a frame:
/// exactly what was interrupted if the partition left them alone, and always safe to
/// enter ([`UserRegs::sanitized`]).
#[must_use]
pub const fn restored(saved: &[u64; UserRegs::WORDS]) -> UserRegs {
    UserRegs::from_words(saved).sanitized()
}

#[cfg(test)]
mod tests {
    use core::mem::{offset_of, size_of};
    use core::num::NonZeroU64;

    use irq_router::adapter::Upcall;
    use irq_router::events::{Context, Sender};

    use super::{
        NO_PORT, RED_ZONE, TrapFrame, UpcallFrame, frame_address, frame_span, handler_regs,
        has_error_code, restored,
    };
    use crate::regs::{RFLAGS_ENTRY, UserRegs};

    fn interrupted() -> UserRegs {
        let mut w = [0u64; UserRegs::WORDS];
        for (i, word) in w.iter_mut().enumerate() {
            *word = 0xA0 + i as u64;
        }
        let mut regs = UserRegs::from_words(&w);
        regs.rip = 0x40_2345;
        regs.rsp = 0x61_0007; // odd on purpose: the frame is aligned whatever RSP is
        regs.rflags = RFLAGS_ENTRY | 0x41; // CF and ZF set by the interrupted code
        regs
    }

    #[test]
    fn trap_frame_layout_matches_the_stubs() {
        assert_eq!(size_of::<TrapFrame>(), TrapFrame::SIZE);
        assert_eq!(offset_of!(TrapFrame, r15), 0);
        assert_eq!(offset_of!(TrapFrame, rax), 14 * 8);
        assert_eq!(offset_of!(TrapFrame, vector), 15 * 8);
        assert_eq!(offset_of!(TrapFrame, error_code), 16 * 8);
        assert_eq!(offset_of!(TrapFrame, rip), 17 * 8);
        assert_eq!(offset_of!(TrapFrame, ss), 21 * 8);
    }

    #[test]
    fn trap_frame_round_trips_user_state() {
        let regs = interrupted();
        let mut frame = TrapFrame { vector: 0x80, error_code: 0, ..TrapFrame::default() };
        frame.load(&regs, 0x23, 0x1b);
        assert!(frame.from_user());
        assert_eq!(frame.user_regs(), regs);
        assert_eq!((frame.cs, frame.ss, frame.vector), (0x23, 0x1b, 0x80));
    }

    #[test]
    fn error_code_vectors() {
        assert!(
            (0..=255u8).filter(|&v| has_error_code(v)).eq([8, 10, 11, 12, 13, 14, 17, 21, 29, 30])
        );
    }

    #[test]
    fn upcall_frame_layout() {
        assert_eq!(size_of::<UpcallFrame>() as u64, UpcallFrame::SIZE);
        assert_eq!(UpcallFrame::SIZE % 16, 0);
        assert_eq!(offset_of!(UpcallFrame, saved) as u64, UpcallFrame::SAVED_OFFSET);
        assert_eq!(offset_of!(UpcallFrame, entry), 7 * 8);
    }

    #[test]
    fn frame_is_below_the_red_zone_and_aligned() {
        for rsp in [0x61_0000u64, 0x61_0007, 0x61_0008, 0x61_000f] {
            let at = frame_address(rsp).unwrap();
            assert_eq!(at % 16, 0);
            let (start, len) = frame_span(at);
            assert!(start + len <= rsp - RED_ZONE, "frame overlaps the red zone at {rsp:#x}");
            assert!(rsp - RED_ZONE - (start + len) < 16, "no more than alignment is wasted");
        }
        assert_eq!(frame_address(100), None);
    }

    /// Every stack pointer a partition can hold, the low edge and the high edge in full:
    /// either no frame, or one whose whole span (return slot included) lies in
    /// `[0, rsp - RED_ZONE)`, with no arithmetic that wraps (checked here explicitly, so
    /// the test means the same with overflow checks on or off).
    #[test]
    fn every_stack_pointer_gets_a_frame_inside_the_address_space_or_none() {
        let low = 0..4096u64;
        let high = (u64::MAX - 4096..=u64::MAX).chain([1 << 47, (1 << 47) - 1]);
        for rsp in low.chain(high) {
            let Some(at) = frame_address(rsp) else { continue };
            assert_eq!(at % 16, 0, "aligned at rsp {rsp:#x}");
            let start = at.checked_sub(8).unwrap_or_else(|| panic!("span below 0 at {rsp:#x}"));
            let (span_start, len) = frame_span(at);
            assert_eq!(span_start, start);
            let end = start.checked_add(len).expect("span past the top");
            assert!(end <= rsp - RED_ZONE, "frame overlaps the red zone at {rsp:#x}");
        }
        // The smallest stack that fits a frame, and the eight just below it (the
        // values that once made `frame_span` subtract below zero).
        let need = RED_ZONE + UpcallFrame::SIZE + 8;
        for rsp in need..need + 8 {
            assert_eq!(frame_address(rsp), None, "rsp {rsp}");
        }
        assert!(frame_address(need + 16).is_some());
    }

    #[test]
    fn frame_carries_the_event_and_the_interrupted_state() {
        let saved = interrupted();
        let upcall = Upcall {
            entry: NonZeroU64::new(0x40_0100).unwrap(),
            port: Some(3),
            pending: 2,
            context: Context {
                vector: 0,
                sender: Sender::Partition(0),
                error_code: 0,
                fault_address: 0,
                timestamp: 77,
            },
        };
        let image = UpcallFrame::new(&upcall, &saved);
        let w = image.to_words();
        assert_eq!(&w[..8], &[3, 2, 0, 0, 0, 77, 1, 0x40_0100]);
        let saved_words: [u64; UserRegs::WORDS] = w[8..].try_into().unwrap();
        assert_eq!(restored(&saved_words), saved, "an untouched frame restores exactly");

        let at = frame_address(saved.rsp).unwrap();
        let h = handler_regs(at, &image);
        assert_eq!((h.rip, h.rsp, h.rdi, h.rsi, h.rdx), (0x40_0100, at - 8, at, 3, 0));
        assert_eq!(h.rflags, RFLAGS_ENTRY);
        assert_eq!((h.rsp + 8) % 16, 0, "System V alignment at function entry");
    }

    #[test]
    fn trap_frame_has_no_port() {
        let upcall = Upcall {
            entry: NonZeroU64::new(0x40_0200).unwrap(),
            port: None,
            pending: 0,
            context: Context { vector: 6, fault_address: 0x40_1234, ..Context::default() },
        };
        let image = UpcallFrame::new(&upcall, &interrupted());
        assert_eq!((image.port, image.vector, image.fault_address), (NO_PORT, 6, 0x40_1234));
    }

    #[test]
    fn a_scribbled_frame_restores_safely() {
        let mut saved = interrupted().to_words();
        saved[15] = 0xffff_8000_0000_0000; // rip: kernel half
        saved[16] = u64::MAX; // rflags: IOPL 3, TF, ...
        let regs = restored(&saved);
        assert_eq!(regs.rip, 0);
        assert_eq!(regs.rflags, 0x0CD5 | RFLAGS_ENTRY);
    }
}
