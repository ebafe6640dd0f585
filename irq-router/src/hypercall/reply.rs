//! The answer to a call: a status register (0 for success, an [`ErrorCode`] otherwise)
//! and a value register.

use core::fmt;

use vcpu_state::StartReason;

use super::HypercallError;

/// Status register value of a call that succeeded.
pub const SUCCESS: u64 = 0;

/// Why a call failed, as the status register carries it. Never 0: 0 is [`SUCCESS`].
///
/// The discriminants are the ABI: never changed or reused, new codes are appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u64)]
pub enum ErrorCode {
    /// The number names no call of the kernel's ABI version.
    UnknownCall = 1,
    /// An argument register the call does not read was not zero.
    ReservedArgument = 2,
    /// An argument is out of range: a port, a vector, a 32-bit value.
    InvalidArgument = 3,
    /// A buffer is too long, wraps the address space, or is not the partition's memory.
    BadAddress = 4,
    /// The configuration does not allow the caller this vector, port, channel or call.
    PermissionDenied = 5,
    /// The port has no binding.
    NotBound = 6,
    /// The port or vector is already bound.
    AlreadyBound = 7,
    /// Acknowledge or take of a port that is not in service.
    NotInService = 8,
    /// Nothing is pending where something had to be.
    NothingPending = 9,
    /// The port is masked.
    Masked = 10,
    /// The port is already in service.
    AlreadyInService = 11,
    /// The port is not the source end of a channel.
    NotAChannel = 12,
    /// A transient conflict with another CPU; the call may be retried.
    Busy = 13,
    /// The partition is outside its window (between a restart and its next entry).
    OutsideWindow = 14,
    /// Upcall return while no upcall is in progress.
    NotInUpcall = 15,
    /// The line or channel used up its budget for this major frame.
    OverBudget = 16,
    /// The call needs something the configuration does not give this partition (a
    /// ping, an error port).
    NotConfigured = 17,
    /// The call failed for a reason this ABI version has no code for.
    Failed = 18,
}

impl ErrorCode {
    /// Number of codes this ABI version defines.
    pub const COUNT: usize = 18;

    /// Every code, in value order (`ALL[n]` has value `n + 1`).
    pub const ALL: [Self; Self::COUNT] = [
        Self::UnknownCall,
        Self::ReservedArgument,
        Self::InvalidArgument,
        Self::BadAddress,
        Self::PermissionDenied,
        Self::NotBound,
        Self::AlreadyBound,
        Self::NotInService,
        Self::NothingPending,
        Self::Masked,
        Self::AlreadyInService,
        Self::NotAChannel,
        Self::Busy,
        Self::OutsideWindow,
        Self::NotInUpcall,
        Self::OverBudget,
        Self::NotConfigured,
        Self::Failed,
    ];

    /// The code with status value `raw`; `None` for 0 ([`SUCCESS`]) and unknown values.
    #[must_use]
    #[inline]
    pub const fn from_raw(raw: u64) -> Option<Self> {
        // A match rather than an index into `ALL`: it compiles to a range check (each
        // code's value is its number), with no table in memory, so a guest whose code
        // must stay in its own pages can decode its answers.
        match raw {
            1 => Some(Self::UnknownCall),
            2 => Some(Self::ReservedArgument),
            3 => Some(Self::InvalidArgument),
            4 => Some(Self::BadAddress),
            5 => Some(Self::PermissionDenied),
            6 => Some(Self::NotBound),
            7 => Some(Self::AlreadyBound),
            8 => Some(Self::NotInService),
            9 => Some(Self::NothingPending),
            10 => Some(Self::Masked),
            11 => Some(Self::AlreadyInService),
            12 => Some(Self::NotAChannel),
            13 => Some(Self::Busy),
            14 => Some(Self::OutsideWindow),
            15 => Some(Self::NotInUpcall),
            16 => Some(Self::OverBudget),
            17 => Some(Self::NotConfigured),
            18 => Some(Self::Failed),
            _ => None,
        }
    }

    /// The status register value.
    #[must_use]
    pub const fn raw(self) -> u64 {
        self as u64
    }

    /// The code's name in `docs/hypercalls.md`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::UnknownCall => "UnknownCall",
            Self::ReservedArgument => "ReservedArgument",
            Self::InvalidArgument => "InvalidArgument",
            Self::BadAddress => "BadAddress",
            Self::PermissionDenied => "PermissionDenied",
            Self::NotBound => "NotBound",
            Self::AlreadyBound => "AlreadyBound",
            Self::NotInService => "NotInService",
            Self::NothingPending => "NothingPending",
            Self::Masked => "Masked",
            Self::AlreadyInService => "AlreadyInService",
            Self::NotAChannel => "NotAChannel",
            Self::Busy => "Busy",
            Self::OutsideWindow => "OutsideWindow",
            Self::NotInUpcall => "NotInUpcall",
            Self::OverBudget => "OverBudget",
            Self::NotConfigured => "NotConfigured",
            Self::Failed => "Failed",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of a call: its value, or why it failed.
pub type HypercallResult = Result<u64, ErrorCode>;

/// The return registers `[status, value]` of a call: `[SUCCESS, value]` on success,
/// `[code, 0]` on failure.
#[must_use]
pub const fn encode(result: HypercallResult) -> [u64; 2] {
    match result {
        Ok(value) => [SUCCESS, value],
        Err(code) => [code.raw(), 0],
    }
}

/// Reads return registers on the guest side; `None` for registers [`encode`] never
/// produces (an unknown status, or a failure with a non-zero value).
#[must_use]
#[inline]
pub const fn decode_reply(registers: [u64; 2]) -> Option<HypercallResult> {
    let [status, value] = registers;
    if status == SUCCESS {
        return Some(Ok(value));
    }
    match ErrorCode::from_raw(status) {
        Some(code) if value == 0 => Some(Err(code)),
        _ => None,
    }
}

impl From<HypercallError> for ErrorCode {
    fn from(error: HypercallError) -> Self {
        match error {
            HypercallError::UnknownCall { .. } => Self::UnknownCall,
            HypercallError::ReservedArgument { .. } => Self::ReservedArgument,
            HypercallError::PortOutOfRange { .. }
            | HypercallError::VectorOutOfRange { .. }
            | HypercallError::ValueOutOfRange { .. } => Self::InvalidArgument,
            HypercallError::LengthTooLarge { .. } | HypercallError::AddressOverflow { .. } => {
                Self::BadAddress
            }
        }
    }
}

impl From<notify_core::Error> for ErrorCode {
    fn from(error: notify_core::Error) -> Self {
        use notify_core::Error;
        match error {
            Error::PartitionOutOfRange { .. }
            | Error::PortOutOfRange { .. }
            | Error::ChannelOutOfRange { .. } => Self::InvalidArgument,
            Error::NotBound { .. } => Self::NotBound,
            Error::AlreadyBound { .. } => Self::AlreadyBound,
            Error::NotInService { .. } => Self::NotInService,
            Error::NothingPending { .. } => Self::NothingPending,
            Error::Masked { .. } => Self::Masked,
            Error::AlreadyInService { .. } => Self::AlreadyInService,
            Error::NotAChannel { .. } => Self::NotAChannel,
            Error::NotChannelOwner { .. } => Self::PermissionDenied,
            Error::ContextBusy { .. } => Self::Busy,
            // A handler for a port the configuration gives no context slot.
            Error::NoContextKept { .. } => Self::NotConfigured,
            // `notify_core::Error` is non-exhaustive: a kind added later answers
            // `Failed` until this ABI gives it a code.
            _ => Self::Failed,
        }
    }
}

impl From<vcpu_state::Error> for ErrorCode {
    fn from(error: vcpu_state::Error) -> Self {
        match error {
            vcpu_state::Error::OutsideWindow => Self::OutsideWindow,
            vcpu_state::Error::NotInUpcall => Self::NotInUpcall,
            // The others are kernel or configuration mistakes, not the partition's; and
            // `vcpu_state::Error` is non-exhaustive.
            _ => Self::Failed,
        }
    }
}

/// The value [`start_reason`](super::CallNumber::StartReason) answers: the shared page's
/// reason code in bits 32 to 39 (1 fresh, 2 cold restart, 3 warm restart) and the
/// health-monitor cause in bits 0 to 31.
#[must_use]
pub const fn start_reason_value(reason: StartReason) -> u64 {
    let (code, cause) = reason.encode();
    ((code as u64) << 32) | cause as u64
}

/// The start reason a [`start_reason_value`] encodes; `None` for a value no kernel
/// answers.
#[must_use]
#[inline]
pub const fn start_reason_from_value(value: u64) -> Option<StartReason> {
    let code = value >> 32;
    if code > u8::MAX as u64 {
        return None;
    }
    match StartReason::decode(code as u8, value as u32) {
        // A fresh start carries no cause: a non-zero one is not a value kernels answer.
        Some(reason) if start_reason_value(reason) == value => Some(reason),
        _ => None,
    }
}
