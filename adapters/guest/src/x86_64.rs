//! The bare-metal transports of the x86 adapter: `int 0x80` ([`Int80`]) and `syscall`
//! ([`Syscall`]), both with the ABI's registers (number in `rax`, arguments in `rdi`,
//! `rsi`, `rdx`, `r10`; the answer in `rax` and `rdx`; `syscall` also clobbers `rcx`
//! and `r11`), and the upcall frame the adapter writes on the partition's stack.
//!
//! Everything here is `#[inline(always)]`: a guest whose code must stay inside its own
//! pages (the QEMU end-to-end kernel's guests) calls nothing outside them.

use core::arch::asm;

use irq_router::hypercall::RawCall;

use crate::call::{Error, Transport};
use crate::upcall::Upcall;

/// The `int 0x80` transport. Never fails: the kernel always answers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Int80;

impl Transport for Int80 {
    #[inline(always)]
    fn enter(&self, call: &RawCall) -> Result<[u64; 2], Error> {
        let status: u64;
        let value: u64;
        // SAFETY: `int 0x80` enters the kernel's hypercall gate, which changes only rax
        // and rdx (or runs an upcall that returns to exactly this state), may change
        // memory, and does not use this stack below its pointer.
        unsafe {
            asm!(
                "int 0x80",
                inlateout("rax") call.number => status,
                in("rdi") call.args[0],
                in("rsi") call.args[1],
                inlateout("rdx") call.args[2] => value,
                in("r10") call.args[3],
                options(nostack),
            );
        }
        Ok([status, value])
    }
}

/// The `syscall` transport: the same calls and answers as [`Int80`], through the
/// adapter's `syscall` entry (`irq_x86::syscall`). The CPU writes the return address to
/// `rcx` and the flags to `r11`, so both are clobbered (the kernel may return with
/// `sysretq`, which reads them back). Never fails: the kernel always answers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Syscall;

impl Transport for Syscall {
    #[inline(always)]
    fn enter(&self, call: &RawCall) -> Result<[u64; 2], Error> {
        let status: u64;
        let value: u64;
        // SAFETY: `syscall` enters the kernel's hypercall entry, which changes only rax
        // and rdx (plus rcx and r11, which the CPU itself overwrites, declared as
        // clobbered), or runs an upcall that returns to exactly this state; it may change
        // memory and does not use this stack.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") call.number => status,
                in("rdi") call.args[0],
                in("rsi") call.args[1],
                inlateout("rdx") call.args[2] => value,
                in("r10") call.args[3],
                out("rcx") _,
                out("r11") _,
                options(nostack),
            );
        }
        Ok([status, value])
    }
}

/// Words of the x86 adapter's upcall frame: the event (8 words), then the interrupted
/// registers the handler may read or change.
pub mod frame {
    /// `port` word ([`NO_PORT`](crate::NO_PORT) for a trap).
    pub const PORT: usize = 0;
    /// Events pending when taken into service.
    pub const PENDING: usize = 1;
    /// Vector.
    pub const VECTOR: usize = 2;
    /// Error code.
    pub const ERROR_CODE: usize = 3;
    /// Faulting address.
    pub const FAULT_ADDRESS: usize = 4;
    /// Timestamp (kernel tick).
    pub const TIMESTAMP: usize = 5;
    /// Sender.
    pub const SENDER: usize = 6;
    /// The handler entered.
    pub const ENTRY: usize = 7;
    /// The interrupted `rip`: after the event words, `rax` to `r15` (15 words).
    pub const SAVED_RIP: usize = 8 + 15;
}

impl Upcall {
    /// Reads the upcall from the frame the x86 adapter built, which the handler gets in
    /// `rdi`.
    ///
    /// # Safety
    /// `frame` points at the whole frame the kernel wrote for this handler (on the
    /// partition's stack), readable for its event words.
    #[inline(always)]
    #[must_use]
    pub unsafe fn from_frame(frame: *const u64) -> Self {
        // SAFETY: the caller guarantees the event words are readable; volatile because
        // the kernel wrote them behind the compiler's back.
        let word = |i: usize| unsafe { core::ptr::read_volatile(frame.add(i)) };
        Self {
            port: Self::port_from_word(word(frame::PORT)),
            pending: word(frame::PENDING),
            vector: word(frame::VECTOR),
            error_code: word(frame::ERROR_CODE),
            fault_address: word(frame::FAULT_ADDRESS),
            timestamp: word(frame::TIMESTAMP),
            sender: word(frame::SENDER),
            entry: word(frame::ENTRY),
        }
    }
}

#[cfg(test)]
mod tests {
    use core::mem::offset_of;

    use irq_x86::UpcallFrame;

    use super::frame;
    use crate::Upcall;

    #[test]
    fn the_frame_words_are_the_adapters() {
        let word = |offset: usize| offset / 8;
        assert_eq!(word(offset_of!(UpcallFrame, port)), frame::PORT);
        assert_eq!(word(offset_of!(UpcallFrame, pending)), frame::PENDING);
        assert_eq!(word(offset_of!(UpcallFrame, vector)), frame::VECTOR);
        assert_eq!(word(offset_of!(UpcallFrame, error_code)), frame::ERROR_CODE);
        assert_eq!(word(offset_of!(UpcallFrame, fault_address)), frame::FAULT_ADDRESS);
        assert_eq!(word(offset_of!(UpcallFrame, timestamp)), frame::TIMESTAMP);
        assert_eq!(word(offset_of!(UpcallFrame, sender)), frame::SENDER);
        assert_eq!(word(offset_of!(UpcallFrame, entry)), frame::ENTRY);
        let saved = offset_of!(UpcallFrame, saved) + offset_of!(irq_x86::UserRegs, rip);
        assert_eq!(word(saved), frame::SAVED_RIP);
    }

    #[test]
    fn an_upcall_is_read_from_a_frame() {
        let f = UpcallFrame {
            port: 3,
            pending: 2,
            vector: 40,
            error_code: 0,
            fault_address: 0,
            timestamp: 99,
            sender: 1,
            entry: 0x1000,
            ..UpcallFrame::default()
        };
        // SAFETY: `f` is a whole frame.
        let up = unsafe { Upcall::from_frame((&raw const f).cast()) };
        assert_eq!(up.port, Some(3));
        assert_eq!(
            (up.pending, up.vector, up.timestamp, up.sender, up.entry),
            (2, 40, 99, 1, 0x1000)
        );
        let trap = UpcallFrame { port: u64::MAX, vector: 6, ..UpcallFrame::default() };
        // SAFETY: as above.
        let up = unsafe { Upcall::from_frame((&raw const trap).cast()) };
        assert!(up.is_trap());
    }
}
