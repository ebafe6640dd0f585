//! Why raw registers did not decode into a request.

use core::fmt;

/// Why [`decode`](super::decode) refused a call. Each variant names the register or the
/// value that was wrong, for the health-monitor log; the partition itself gets the
/// [`ErrorCode`](super::ErrorCode) the variant maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HypercallError {
    /// The number register names no call of this ABI version.
    UnknownCall {
        /// The number handed in.
        number: u64,
    },
    /// An argument register the call does not read was not zero.
    ReservedArgument {
        /// Index of the register in [`RawCall::args`](super::RawCall::args), 0 to 3.
        index: u8,
    },
    /// A port number at or past the number of ports per partition (`64 * W`).
    PortOutOfRange {
        /// The value handed in.
        raw: u64,
    },
    /// A vector past 255.
    VectorOutOfRange {
        /// The value handed in.
        raw: u64,
    },
    /// A 32-bit argument (ISR level, error code) with bits set above bit 31.
    ValueOutOfRange {
        /// Index of the register in [`RawCall::args`](super::RawCall::args).
        index: u8,
        /// The value handed in.
        raw: u64,
    },
    /// A buffer longer than the call accepts.
    LengthTooLarge {
        /// The length handed in.
        len: u64,
        /// The most the call accepts.
        max: u64,
    },
    /// A buffer whose end (`addr + len`) does not fit in 64 bits.
    AddressOverflow {
        /// The address handed in.
        addr: u64,
        /// The length handed in.
        len: u64,
    },
}

impl fmt::Display for HypercallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnknownCall { number } => write!(f, "unknown hypercall number {number}"),
            Self::ReservedArgument { index } => {
                write!(f, "reserved argument register {index} is not zero")
            }
            Self::PortOutOfRange { raw } => write!(f, "port {raw} out of range"),
            Self::VectorOutOfRange { raw } => write!(f, "vector {raw} out of range"),
            Self::ValueOutOfRange { index, raw } => {
                write!(f, "argument {index} value {raw:#x} does not fit in 32 bits")
            }
            Self::LengthTooLarge { len, max } => {
                write!(f, "buffer length {len} exceeds the maximum {max}")
            }
            Self::AddressOverflow { addr, len } => {
                write!(f, "buffer at {addr:#x} of length {len} overflows the address space")
            }
        }
    }
}

impl core::error::Error for HypercallError {}
