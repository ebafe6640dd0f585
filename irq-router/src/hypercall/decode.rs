//! Raw registers to a typed request: the one place untrusted hypercall registers are
//! validated.

use core::num::NonZeroU64;

use notify_core::Port;

use super::{CONSOLE_WRITE_MAX, CallNumber, HypercallError, RawCall, Request, UserSlice};

/// Decodes the registers of a call made by a partition with `W` bitmap words.
///
/// Never panics. The checks run in this order, and the first that fails is the answer:
/// 1. the number names a call ([`HypercallError::UnknownCall`]);
/// 2. every register past the call's [`arg_count`](CallNumber::arg_count) is zero,
///    lowest index first ([`HypercallError::ReservedArgument`]);
/// 3. each argument in register order through its validating constructor.
///
/// A request that decodes is canonical: [`encode_request`](super::encode_request) gives
/// back exactly `raw`.
///
/// # Errors
/// The [`HypercallError`] of the first check that fails.
pub fn decode<const W: usize>(raw: &RawCall) -> Result<Request<W>, HypercallError> {
    let number = CallNumber::from_raw(raw.number)
        .ok_or(HypercallError::UnknownCall { number: raw.number })?;
    check_reserved(&raw.args, number.arg_count())?;
    let [a0, a1, ..] = raw.args;
    Ok(match number {
        CallNumber::AbiVersion => Request::AbiVersion,
        CallNumber::RequestIrq => Request::RequestIrq { vector: vector(a0)?, port: port(a1)? },
        CallNumber::DetachIrq => Request::DetachIrq { vector: vector(a0)? },
        CallNumber::EnableIrqs => Request::EnableIrqs,
        CallNumber::DisableIrqs => Request::DisableIrqs,
        CallNumber::Flash => Request::Flash,
        CallNumber::SetIsrLevel => Request::SetIsrLevel { level: word(0, a0)? },
        CallNumber::Idle => Request::Idle,
        CallNumber::Acknowledge => Request::Acknowledge { port: port(a0)? },
        CallNumber::TakeCount => Request::TakeCount { port: port(a0)? },
        CallNumber::Mask => Request::Mask { port: port(a0)? },
        CallNumber::Unmask => Request::Unmask { port: port(a0)? },
        CallNumber::Notify => Request::Notify { port: port(a0)? },
        CallNumber::ReadClock => Request::ReadClock,
        CallNumber::RegisterUpcall => Request::RegisterUpcall { entry: NonZeroU64::new(a0) },
        CallNumber::RegisterFaultHandler => {
            Request::RegisterFaultHandler { entry: NonZeroU64::new(a0) }
        }
        CallNumber::RegisterPortHandler => {
            Request::RegisterPortHandler { port: port(a0)?, entry: NonZeroU64::new(a1) }
        }
        CallNumber::ConsoleWrite => {
            Request::ConsoleWrite { buffer: UserSlice::new(a0, a1, CONSOLE_WRITE_MAX)? }
        }
        CallNumber::ExecStopError => Request::ExecStopError { code: word(0, a0)? },
        CallNumber::StartReason => Request::StartReason,
        CallNumber::UpcallReturn => Request::UpcallReturn,
        CallNumber::PingAnswer => Request::PingAnswer,
    })
}

/// Every register from `used` on must be zero.
fn check_reserved(args: &[u64; 4], used: usize) -> Result<(), HypercallError> {
    match args.iter().enumerate().skip(used).find(|&(_, &value)| value != 0) {
        // `index` < 4, so the cast is exact.
        Some((index, _)) => Err(HypercallError::ReservedArgument { index: index as u8 }),
        None => Ok(()),
    }
}

/// A hardware vector, 0 to 255.
fn vector(raw: u64) -> Result<u8, HypercallError> {
    u8::try_from(raw).map_err(|_| HypercallError::VectorOutOfRange { raw })
}

/// A port of the caller, `0..64 * W`. Checked against `u32` first so that a large
/// register value is never truncated into a valid port.
fn port<const W: usize>(raw: u64) -> Result<Port<W>, HypercallError> {
    u32::try_from(raw)
        .ok()
        .and_then(|narrow| Port::new(narrow).ok())
        .ok_or(HypercallError::PortOutOfRange { raw })
}

/// A 32-bit value in argument register `index`.
fn word(index: u8, raw: u64) -> Result<u32, HypercallError> {
    u32::try_from(raw).map_err(|_| HypercallError::ValueOutOfRange { index, raw })
}
