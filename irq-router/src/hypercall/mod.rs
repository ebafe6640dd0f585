//! The hypercall ABI: numbered, versioned calls a partition makes, decoded from raw,
//! untrusted registers into typed requests or typed errors.
//!
//! The kernel side is two functions: [`decode`] turns the registers the adapter read
//! ([`RawCall`]) into a [`Request`] or a [`HypercallError`], never panicking; after
//! dispatch, [`encode`] turns the [`HypercallResult`] into the two return registers.
//! The guest side is the mirror image: [`encode_request`] builds the registers of a
//! call and [`decode_reply`] reads the answer. `docs/hypercalls.md` documents every call.
//!
//! Rules of the ABI:
//! * Numbers ([`CallNumber`]) and status codes ([`ErrorCode`]) are never changed or
//!   reused; new ones are appended and raise [`ABI_VERSION`].
//! * Argument registers a call does not read are reserved and must be zero
//!   ([`HypercallError::ReservedArgument`]), so a later version can give them a meaning
//!   without changing what an older guest's calls do.
//! * Every call has an answer: `[status, value]`, status 0 for success.
//!
//! ```
//! use irq_router::hypercall::{decode, encode, encode_request, ErrorCode, RawCall, Request};
//! use notify_core::Port;
//!
//! let call = encode_request(&Request::<1>::Acknowledge { port: Port::new(5)? });
//! assert_eq!(call, RawCall { number: 8, args: [5, 0, 0, 0] });
//! assert_eq!(decode::<1>(&call), Ok(Request::Acknowledge { port: Port::new(5)? }));
//!
//! // Port 64 does not exist with one bitmap word: a typed error, answered as a status.
//! let bad = RawCall { number: 8, args: [64, 0, 0, 0] };
//! let error = decode::<1>(&bad).unwrap_err();
//! assert_eq!(encode(Err(ErrorCode::from(error))), [ErrorCode::InvalidArgument as u64, 0]);
//! # Ok::<(), notify_core::Error>(())
//! ```

mod decode;
mod error;
mod numbers;
mod reply;
mod request;

pub use decode::decode;
pub use error::HypercallError;
pub use numbers::CallNumber;
pub use reply::{
    ErrorCode, HypercallResult, SUCCESS, decode_reply, encode, start_reason_from_value,
    start_reason_value,
};
pub use request::{Request, UserSlice, encode_request};

/// Version of this ABI, answered by [`CallNumber::AbiVersion`]. Raised by one whenever
/// a call, an argument meaning or a status code is added; nothing is ever removed.
pub const ABI_VERSION: u64 = 1;

/// Most bytes one [`CallNumber::ConsoleWrite`] may write.
pub const CONSOLE_WRITE_MAX: u64 = 256;

/// The registers of a call as the adapter read them, untrusted.
///
/// On x86-64: `number` from `rax`, `args` from `rdi`, `rsi`, `rdx`, `r10`; the answer
/// goes back in `rax` (status) and `rdx` (value). Other adapters document their own
/// mapping onto the same four arguments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RawCall {
    /// The call number.
    pub number: u64,
    /// The argument registers, in order.
    pub args: [u64; 4],
}
