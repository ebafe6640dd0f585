//! Typed requests: what a call means once its registers are validated, and the way back
//! to registers.

use core::num::NonZeroU64;

use notify_core::Port;

use super::{CallNumber, HypercallError, RawCall};

/// A buffer in the partition's memory, named by address and length.
///
/// Made only by [`UserSlice::new`], which bounds the length and checks that
/// `addr + len` fits in 64 bits. Whether the bytes belong to the partition is checked
/// later by the adapter, which knows the partition's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserSlice {
    addr: u64,
    len: u64,
}

impl UserSlice {
    /// Validates a buffer of `len` bytes at `addr`, at most `max` bytes long.
    ///
    /// # Errors
    /// [`HypercallError::LengthTooLarge`] when `len > max`;
    /// [`HypercallError::AddressOverflow`] when `addr + len` does not fit in a `u64`.
    #[inline]
    pub const fn new(addr: u64, len: u64, max: u64) -> Result<Self, HypercallError> {
        if len > max {
            return Err(HypercallError::LengthTooLarge { len, max });
        }
        if addr.checked_add(len).is_none() {
            return Err(HypercallError::AddressOverflow { addr, len });
        }
        Ok(Self { addr, len })
    }

    /// Address of the first byte.
    #[must_use]
    pub const fn addr(self) -> u64 {
        self.addr
    }

    /// Length in bytes.
    #[must_use]
    pub const fn len(self) -> u64 {
        self.len
    }

    /// Whether the buffer holds no byte.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.len == 0
    }

    /// Address one past the last byte; cannot overflow.
    #[must_use]
    pub const fn end(self) -> u64 {
        self.addr.wrapping_add(self.len)
    }
}

/// A validated hypercall of a partition with `W` bitmap words (`64 * W` ports).
///
/// One variant per [`CallNumber`]; every field has been through its validating
/// constructor. Handler addresses are `None` to clear the handler (register value 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Request<const W: usize> {
    /// Ask the ABI version. Answers [`ABI_VERSION`](super::ABI_VERSION).
    AbiVersion,
    /// Bind hardware `vector` to the caller's `port`.
    RequestIrq {
        /// The hardware vector.
        vector: u8,
        /// The caller's port that will receive it.
        port: Port<W>,
    },
    /// Unbind hardware `vector` from the caller.
    DetachIrq {
        /// The hardware vector.
        vector: u8,
    },
    /// Set the virtual interrupt flag.
    EnableIrqs,
    /// Clear the virtual interrupt flag.
    DisableIrqs,
    /// Enable, deliver what is due, disable.
    Flash,
    /// Set the ISR level; answers the previous level.
    SetIsrLevel {
        /// The new level.
        level: u32,
    },
    /// Give up the rest of the window until an event is deliverable.
    Idle,
    /// End service of one event of `port`.
    Acknowledge {
        /// The port in service.
        port: Port<W>,
    },
    /// End service of `port` taking its whole count; answers the count.
    TakeCount {
        /// The port in service.
        port: Port<W>,
    },
    /// Mask `port`.
    Mask {
        /// The port.
        port: Port<W>,
    },
    /// Unmask `port`.
    Unmask {
        /// The port.
        port: Port<W>,
    },
    /// Notify the channel whose source end is the caller's `port`.
    Notify {
        /// The caller's port bound to the channel's source end.
        port: Port<W>,
    },
    /// Read the partition's clock; answers ticks.
    ReadClock,
    /// Set (or clear, `None`) the upcall entry point.
    RegisterUpcall {
        /// The entry address, `None` to clear.
        entry: Option<NonZeroU64>,
    },
    /// Set (or clear, `None`) the fault handler.
    RegisterFaultHandler {
        /// The handler address, `None` to clear.
        entry: Option<NonZeroU64>,
    },
    /// Set (or clear, `None`) the handler of one port.
    RegisterPortHandler {
        /// The port.
        port: Port<W>,
        /// The handler address, `None` to clear.
        entry: Option<NonZeroU64>,
    },
    /// Write `buffer` to the console; answers the bytes written.
    ConsoleWrite {
        /// The bytes, at most [`CONSOLE_WRITE_MAX`](super::CONSOLE_WRITE_MAX).
        buffer: UserSlice,
    },
    /// Declare an error to the health monitor (ARINC 653 `exec_stop_error`).
    ExecStopError {
        /// The partition's own error code.
        code: u32,
    },
    /// Ask why the partition is running; answers
    /// [`start_reason_value`](super::start_reason_value).
    StartReason,
    /// Return from an upcall to the interrupted context.
    UpcallReturn,
    /// Answer the health monitor's ping.
    PingAnswer,
}

impl<const W: usize> Request<W> {
    /// The call's number.
    #[must_use]
    #[inline]
    pub const fn number(&self) -> CallNumber {
        match self {
            Self::AbiVersion => CallNumber::AbiVersion,
            Self::RequestIrq { .. } => CallNumber::RequestIrq,
            Self::DetachIrq { .. } => CallNumber::DetachIrq,
            Self::EnableIrqs => CallNumber::EnableIrqs,
            Self::DisableIrqs => CallNumber::DisableIrqs,
            Self::Flash => CallNumber::Flash,
            Self::SetIsrLevel { .. } => CallNumber::SetIsrLevel,
            Self::Idle => CallNumber::Idle,
            Self::Acknowledge { .. } => CallNumber::Acknowledge,
            Self::TakeCount { .. } => CallNumber::TakeCount,
            Self::Mask { .. } => CallNumber::Mask,
            Self::Unmask { .. } => CallNumber::Unmask,
            Self::Notify { .. } => CallNumber::Notify,
            Self::ReadClock => CallNumber::ReadClock,
            Self::RegisterUpcall { .. } => CallNumber::RegisterUpcall,
            Self::RegisterFaultHandler { .. } => CallNumber::RegisterFaultHandler,
            Self::RegisterPortHandler { .. } => CallNumber::RegisterPortHandler,
            Self::ConsoleWrite { .. } => CallNumber::ConsoleWrite,
            Self::ExecStopError { .. } => CallNumber::ExecStopError,
            Self::StartReason => CallNumber::StartReason,
            Self::UpcallReturn => CallNumber::UpcallReturn,
            Self::PingAnswer => CallNumber::PingAnswer,
        }
    }
}

/// A handler address as it goes in a register: 0 for "clear".
const fn addr_arg(entry: Option<NonZeroU64>) -> u64 {
    match entry {
        Some(addr) => addr.get(),
        None => 0,
    }
}

/// The registers that make `request`, reserved registers zero: what a guest library
/// puts in the registers, and the canonical form [`decode`](super::decode) accepts
/// (`decode(&encode_request(&r)) == Ok(r)` for every request `r`).
#[must_use]
#[inline]
pub const fn encode_request<const W: usize>(request: &Request<W>) -> RawCall {
    let args = match *request {
        Request::AbiVersion
        | Request::EnableIrqs
        | Request::DisableIrqs
        | Request::Flash
        | Request::Idle
        | Request::ReadClock
        | Request::StartReason
        | Request::UpcallReturn
        | Request::PingAnswer => [0; 4],
        Request::RequestIrq { vector, port } => [vector as u64, port.raw() as u64, 0, 0],
        Request::DetachIrq { vector } => [vector as u64, 0, 0, 0],
        Request::SetIsrLevel { level } => [level as u64, 0, 0, 0],
        Request::Acknowledge { port }
        | Request::TakeCount { port }
        | Request::Mask { port }
        | Request::Unmask { port }
        | Request::Notify { port } => [port.raw() as u64, 0, 0, 0],
        Request::RegisterUpcall { entry } | Request::RegisterFaultHandler { entry } => {
            [addr_arg(entry), 0, 0, 0]
        }
        Request::RegisterPortHandler { port, entry } => [port.raw() as u64, addr_arg(entry), 0, 0],
        Request::ConsoleWrite { buffer } => [buffer.addr(), buffer.len(), 0, 0],
        Request::ExecStopError { code } => [code as u64, 0, 0, 0],
    };
    RawCall { number: request.number().raw(), args }
}
