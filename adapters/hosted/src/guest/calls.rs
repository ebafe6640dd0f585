//! [`Hypervisor`]: one method per paravirtualization call, over the hypercall socket.

use std::fmt;
use std::num::NonZeroU64;

use irq_router::events::Port;
use irq_router::hypercall::{
    CONSOLE_WRITE_MAX, ErrorCode, RawCall, Request, UserSlice, decode_reply, encode_request,
};
use irq_router::vcpu::StartReason;

use crate::sys::{self, SysError};

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The kernel answered this error.
    Code(ErrorCode),
    /// The socket failed (the runner is gone).
    Transport(SysError),
    /// The answer was not a reply the ABI produces, or an argument could not be built.
    Malformed,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(code) => write!(f, "{code}"),
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::Malformed => f.write_str("malformed call or reply"),
        }
    }
}

/// The result of a call.
pub type CallResult = Result<u64, CallError>;

/// The hypercall interface of one partition process (async-signal-safe: usable from
/// the upcall handler).
#[derive(Clone, Copy, Debug)]
pub struct Hypervisor {
    fd: i32,
}

fn port(raw: u16) -> Result<Port<1>, CallError> {
    Port::new(u32::from(raw)).map_err(|_| CallError::Malformed)
}

impl Hypervisor {
    /// The interface over socket `fd`.
    #[must_use]
    pub const fn new(fd: i32) -> Self {
        Self { fd }
    }

    /// Sends raw registers and waits for the answer registers, with the upcall signal
    /// blocked meanwhile.
    ///
    /// # Errors
    /// The socket failed.
    pub fn raw(&self, call: &RawCall) -> Result<[u64; 2], SysError> {
        let old = sys::block_signals(&[sys::upcall_signal()])?;
        let words = [call.number, call.args[0], call.args[1], call.args[2], call.args[3]];
        let result = sys::send_words(self.fd, &words, false).and_then(|()| {
            let mut reply = [0u64; 2];
            match sys::recv_words(self.fd, &mut reply, false)? {
                2 => Ok(reply),
                _ => Err(SysError::new("hypercall reply", libc::EPIPE)),
            }
        });
        sys::restore_signals(&old);
        result
    }

    /// Makes a typed call.
    ///
    /// # Errors
    /// The kernel's error, or a transport failure.
    pub fn call(&self, request: &Request<1>) -> CallResult {
        let reply = self.raw(&encode_request(request)).map_err(CallError::Transport)?;
        match decode_reply(reply) {
            Some(Ok(value)) => Ok(value),
            Some(Err(code)) => Err(CallError::Code(code)),
            None => Err(CallError::Malformed),
        }
    }

    /// `request_irq`: binds hardware `vector` to `port`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn request_irq(&self, vector: u8, port_number: u16) -> CallResult {
        self.call(&Request::RequestIrq { vector, port: port(port_number)? })
    }

    /// `enable_irqs` (sti through the kernel; the page's `sti` is the one-store way).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn enable_irqs(&self) -> CallResult {
        self.call(&Request::EnableIrqs)
    }

    /// `disable_irqs`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn disable_irqs(&self) -> CallResult {
        self.call(&Request::DisableIrqs)
    }

    /// `flash`: enable, deliver what is due, disable.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn flash(&self) -> CallResult {
        self.call(&Request::Flash)
    }

    /// `acknowledge`: ends service of one event of `port`; answers the events left.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn acknowledge(&self, port_number: u16) -> CallResult {
        self.call(&Request::Acknowledge { port: port(port_number)? })
    }

    /// `take_count`: takes the whole count of `port`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn take_count(&self, port_number: u16) -> CallResult {
        self.call(&Request::TakeCount { port: port(port_number)? })
    }

    /// `notify` through the channel whose source end is `port`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn notify(&self, port_number: u16) -> CallResult {
        self.call(&Request::Notify { port: port(port_number)? })
    }

    /// `read_clock`: the partition's clock in ticks.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn read_clock(&self) -> CallResult {
        self.call(&Request::ReadClock)
    }

    /// `register_upcall`: the upcall entry (a token in the hosted guest: its one signal
    /// handler dispatches).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn register_upcall(&self, entry: Option<NonZeroU64>) -> CallResult {
        self.call(&Request::RegisterUpcall { entry })
    }

    /// `console_write` of `text` (at most 256 bytes are written).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn console_write(&self, text: &[u8]) -> CallResult {
        let len = (text.len() as u64).min(CONSOLE_WRITE_MAX);
        let buffer = UserSlice::new(text.as_ptr() as u64, len, CONSOLE_WRITE_MAX)
            .map_err(|_| CallError::Malformed)?;
        self.call(&Request::ConsoleWrite { buffer })
    }

    /// `exec_stop_error`: declares an error to the health monitor.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn exec_stop_error(&self, code: u32) -> CallResult {
        self.call(&Request::ExecStopError { code })
    }

    /// `start_reason`: why the partition runs (the raw answer and its decoding).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn start_reason(&self) -> Result<(u64, Option<StartReason>), CallError> {
        let value = self.call(&Request::StartReason)?;
        Ok((value, irq_router::hypercall::start_reason_from_value(value)))
    }

    /// `upcall_return`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn upcall_return(&self) -> CallResult {
        self.call(&Request::UpcallReturn)
    }

    /// `ping_answer`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn ping_answer(&self) -> CallResult {
        self.call(&Request::PingAnswer)
    }
}
