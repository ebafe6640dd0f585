//! [`Hypervisor`]: one method per hypercall, over any [`Transport`].

use core::fmt;
use core::num::NonZeroU64;

use irq_router::Port;
use irq_router::events::MAX_PORT_WORDS;
use irq_router::hypercall::{
    CONSOLE_WRITE_MAX, ErrorCode, RawCall, Request, UserSlice, decode_reply, encode_request,
    start_reason_from_value,
};
use irq_router::vcpu::StartReason;

/// Ports are encoded for the widest partition; the kernel checks them against the
/// caller's own table.
type AnyPort = Port<MAX_PORT_WORDS>;

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The kernel answered this error.
    Kernel(ErrorCode),
    /// The transport failed (hosted: the runner is gone; the `errno`).
    Transport(i32),
    /// The answer was not a reply the ABI produces.
    Malformed,
    /// An argument cannot be put in the registers (a port past the widest table).
    BadArgument,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel(code) => write!(f, "{code}"),
            Self::Transport(errno) => write!(f, "transport failed (errno {errno})"),
            Self::Malformed => f.write_str("malformed reply"),
            Self::BadArgument => f.write_str("argument out of range"),
        }
    }
}

impl core::error::Error for Error {}

/// How a call reaches the kernel: puts the registers of a call where the kernel reads
/// them, enters it, and returns the answer registers `[status, value]`.
pub trait Transport {
    /// Makes `call`.
    ///
    /// # Errors
    /// [`Error::Transport`] when the kernel could not be reached.
    fn enter(&self, call: &RawCall) -> Result<[u64; 2], Error>;

    /// Sees every typed call and its result after it returned (the hosted transport
    /// counts them for the runner's summary). Does nothing by default.
    fn observe(&self, request: &Request<MAX_PORT_WORDS>, result: &Result<u64, Error>) {
        let _ = (request, result);
    }
}

impl<T: Transport + ?Sized> Transport for &T {
    #[inline(always)]
    fn enter(&self, call: &RawCall) -> Result<[u64; 2], Error> {
        (**self).enter(call)
    }

    #[inline(always)]
    fn observe(&self, request: &Request<MAX_PORT_WORDS>, result: &Result<u64, Error>) {
        (**self).observe(request, result);
    }
}

/// The hypercalls of one partition, over transport `T`. Every method answers the
/// call's value (documented in the ABI) or an [`Error`]; none panics.
#[derive(Clone, Copy, Debug)]
pub struct Hypervisor<T> {
    transport: T,
}

#[inline(always)]
fn port(raw: u32) -> Result<AnyPort, Error> {
    AnyPort::new(raw).map_err(|_| Error::BadArgument)
}

impl<T: Transport> Hypervisor<T> {
    /// The calls over `transport`.
    #[must_use]
    pub const fn new(transport: T) -> Self {
        Self { transport }
    }

    /// The transport.
    #[must_use]
    pub const fn transport(&self) -> &T {
        &self.transport
    }

    /// Makes a typed call.
    ///
    /// # Errors
    /// The kernel's error, or the transport's.
    #[inline(always)]
    pub fn call(&self, request: &Request<MAX_PORT_WORDS>) -> Result<u64, Error> {
        let result = self.transport.enter(&encode_request(request)).and_then(|reply| {
            match decode_reply(reply) {
                Some(Ok(value)) => Ok(value),
                Some(Err(code)) => Err(Error::Kernel(code)),
                None => Err(Error::Malformed),
            }
        });
        self.transport.observe(request, &result);
        result
    }

    /// `abi_version`: the ABI version the kernel speaks ([`ABI_VERSION`](crate::ABI_VERSION)).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn abi_version(&self) -> Result<u64, Error> {
        self.call(&Request::AbiVersion)
    }

    /// `request_irq`: binds hardware `vector` to the caller's `port`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn request_irq(&self, vector: u8, port_number: u32) -> Result<u64, Error> {
        self.call(&Request::RequestIrq { vector, port: port(port_number)? })
    }

    /// `detach_irq`: unbinds hardware `vector` from the caller.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn detach_irq(&self, vector: u8) -> Result<u64, Error> {
        self.call(&Request::DetachIrq { vector })
    }

    /// `enable_irqs`: sets the virtual interrupt flag through the kernel, which delivers
    /// what is due ([`Interrupts::enable`](crate::Interrupts::enable) is the one-store
    /// way).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn enable_irqs(&self) -> Result<u64, Error> {
        self.call(&Request::EnableIrqs)
    }

    /// `disable_irqs`: clears the virtual interrupt flag.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn disable_irqs(&self) -> Result<u64, Error> {
        self.call(&Request::DisableIrqs)
    }

    /// `flash`: enable, deliver what is due, disable.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn flash(&self) -> Result<u64, Error> {
        self.call(&Request::Flash)
    }

    /// `set_isr_level`: sets the ISR level; answers the previous one.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn set_isr_level(&self, level: u32) -> Result<u64, Error> {
        self.call(&Request::SetIsrLevel { level })
    }

    /// `idle`: gives up the rest of the window until an event is deliverable.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn idle(&self) -> Result<u64, Error> {
        self.call(&Request::Idle)
    }

    /// `acknowledge`: ends service of one event of `port`; answers the events left.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn acknowledge(&self, port_number: u32) -> Result<u64, Error> {
        self.call(&Request::Acknowledge { port: port(port_number)? })
    }

    /// `take_count`: ends service of `port` taking its whole count; answers the count.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn take_count(&self, port_number: u32) -> Result<u64, Error> {
        self.call(&Request::TakeCount { port: port(port_number)? })
    }

    /// `mask`: masks `port` (its events stay pending).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn mask(&self, port_number: u32) -> Result<u64, Error> {
        self.call(&Request::Mask { port: port(port_number)? })
    }

    /// `unmask`: unmasks `port`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn unmask(&self, port_number: u32) -> Result<u64, Error> {
        self.call(&Request::Unmask { port: port(port_number)? })
    }

    /// `notify`: notifies the channel whose source end is the caller's `port`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn notify(&self, port_number: u32) -> Result<u64, Error> {
        self.call(&Request::Notify { port: port(port_number)? })
    }

    /// `read_clock`: the partition's clock, in ticks.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn read_clock(&self) -> Result<u64, Error> {
        self.call(&Request::ReadClock)
    }

    /// `register_upcall`: sets (or clears, `None`) the upcall entry.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn register_upcall(&self, entry: Option<NonZeroU64>) -> Result<u64, Error> {
        self.call(&Request::RegisterUpcall { entry })
    }

    /// `register_fault_handler`: sets (or clears, `None`) the fault handler.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn register_fault_handler(&self, entry: Option<NonZeroU64>) -> Result<u64, Error> {
        self.call(&Request::RegisterFaultHandler { entry })
    }

    /// `register_port_handler`: sets (or clears, `None`) the handler of one port.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn register_port_handler(
        &self,
        port_number: u32,
        entry: Option<NonZeroU64>,
    ) -> Result<u64, Error> {
        self.call(&Request::RegisterPortHandler { port: port(port_number)?, entry })
    }

    /// `console_write` of `text` (at most [`CONSOLE_WRITE_MAX`] bytes are sent: the rest
    /// is cut); answers the bytes written.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn console_write(&self, text: &[u8]) -> Result<u64, Error> {
        let len = (text.len() as u64).min(CONSOLE_WRITE_MAX);
        let buffer = UserSlice::new(text.as_ptr() as u64, len, CONSOLE_WRITE_MAX)
            .map_err(|_| Error::BadArgument)?;
        self.call(&Request::ConsoleWrite { buffer })
    }

    /// `exec_stop_error`: declares error `code` to the health monitor, which answers as
    /// the partition's table says (possibly with a restart: then this never returns).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn exec_stop_error(&self, code: u32) -> Result<u64, Error> {
        self.call(&Request::ExecStopError { code })
    }

    /// `start_reason`: why the partition runs (`None`: a value this library does not
    /// know; [`start_reason_raw`](Self::start_reason_raw) has it).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn start_reason(&self) -> Result<Option<StartReason>, Error> {
        self.start_reason_raw().map(start_reason_from_value)
    }

    /// `start_reason`, the raw answer.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn start_reason_raw(&self) -> Result<u64, Error> {
        self.call(&Request::StartReason)
    }

    /// `upcall_return`: returns from the upcall being handled to the interrupted code
    /// (on bare metal this never returns when it succeeds).
    ///
    /// # Errors
    /// As [`call`](Self::call) (no upcall in progress).
    #[inline(always)]
    pub fn upcall_return(&self) -> Result<u64, Error> {
        self.call(&Request::UpcallReturn)
    }

    /// `ping_answer`: answers the health monitor's ping.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    #[inline(always)]
    pub fn ping_answer(&self) -> Result<u64, Error> {
        self.call(&Request::PingAnswer)
    }
}

#[cfg(test)]
mod tests {
    use core::cell::RefCell;

    use irq_router::hypercall::{CallNumber, ErrorCode, RawCall, encode};

    use super::{Error, Hypervisor, Transport};

    /// Records the registers and answers `reply`.
    struct Recorder {
        calls: RefCell<[Option<RawCall>; 4]>,
        reply: [u64; 2],
    }

    impl Transport for Recorder {
        fn enter(&self, call: &RawCall) -> Result<[u64; 2], Error> {
            let mut calls = self.calls.borrow_mut();
            if let Some(slot) = calls.iter_mut().find(|c| c.is_none()) {
                *slot = Some(*call);
            }
            Ok(self.reply)
        }
    }

    fn recorder(reply: [u64; 2]) -> Recorder {
        Recorder { calls: RefCell::new([None; 4]), reply }
    }

    #[test]
    fn calls_put_the_abi_registers() {
        let hv = Hypervisor::new(recorder(encode(Ok(7))));
        assert_eq!(hv.request_irq(40, 3), Ok(7));
        assert_eq!(hv.take_count(4095), Ok(7));
        let text = b"hello";
        assert_eq!(hv.console_write(text), Ok(7));
        let calls = hv.transport().calls.borrow();
        let first = calls[0].expect("request_irq");
        assert_eq!(first.number, CallNumber::RequestIrq.raw());
        assert_eq!(first.args, [40, 3, 0, 0]);
        let second = calls[1].expect("take_count");
        assert_eq!((second.number, second.args), (CallNumber::TakeCount.raw(), [4095, 0, 0, 0]));
        let third = calls[2].expect("console_write");
        assert_eq!(third.args, [text.as_ptr() as u64, 5, 0, 0]);
    }

    #[test]
    fn errors_are_typed() {
        let hv = Hypervisor::new(recorder(encode(Err(ErrorCode::NotInService))));
        assert_eq!(hv.acknowledge(1), Err(Error::Kernel(ErrorCode::NotInService)));
        // A port past the widest table never reaches the kernel.
        assert_eq!(hv.notify(4096), Err(Error::BadArgument));
        assert!(hv.transport().calls.borrow()[1].is_none());
        // A reply the ABI does not produce.
        let hv = Hypervisor::new(recorder([u64::MAX, 0]));
        assert_eq!(hv.read_clock(), Err(Error::Malformed));
    }

    #[test]
    fn a_long_console_write_is_cut_to_the_maximum() {
        let hv = Hypervisor::new(recorder(encode(Ok(256))));
        let text = [b'x'; 1000];
        assert_eq!(hv.console_write(&text), Ok(256));
        assert_eq!(hv.transport().calls.borrow()[0].expect("call").args[1], 256);
    }
}
