//! Typed errors. Nothing a partition hands in can panic the tables: it gets one of these.

use core::fmt;

/// Why an operation on the event tables was refused. The tables are unchanged when an
/// operation returns an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A partition number at or past the number of partitions.
    PartitionOutOfRange {
        /// The value handed in.
        raw: u32,
    },
    /// A port number at or past the number of ports per partition.
    PortOutOfRange {
        /// The value handed in.
        raw: u32,
    },
    /// A channel number at or past the number of channels.
    ChannelOutOfRange {
        /// The value handed in.
        raw: u32,
    },
    /// The port has no binding, so nothing can be raised on, delivered from or taken
    /// from it.
    NotBound {
        /// The port.
        port: u16,
    },
    /// The port is already bound; unbind it first.
    AlreadyBound {
        /// The port.
        port: u16,
    },
    /// Acknowledge of a port that is not in service.
    NotInService {
        /// The port.
        port: u16,
    },
    /// Begin service of a port that has nothing pending.
    NothingPending {
        /// The port.
        port: u16,
    },
    /// Begin service of a masked port.
    Masked {
        /// The port.
        port: u16,
    },
    /// Begin service of a port already in service.
    AlreadyInService {
        /// The port.
        port: u16,
    },
    /// The port is not the source end of a channel.
    NotAChannel {
        /// The port.
        port: u16,
    },
    /// The caller does not own the source end of the channel it tried to notify.
    NotChannelOwner {
        /// The channel.
        channel: u16,
        /// The partition that tried.
        caller: u16,
    },
    /// Writers kept the port's context changing through every read retry.
    ContextBusy {
        /// The port.
        port: u16,
    },
    /// The port has no context slot (see [`PortConfig::keep_context`](crate::PortConfig)):
    /// it keeps no latest context and no handler entry of its own. Its events are counted
    /// and delivered all the same, through the partition's upcall entry.
    NoContextKept {
        /// The port.
        port: u16,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::PartitionOutOfRange { raw } => write!(f, "partition {raw} out of range"),
            Self::PortOutOfRange { raw } => write!(f, "port {raw} out of range"),
            Self::ChannelOutOfRange { raw } => write!(f, "channel {raw} out of range"),
            Self::NotBound { port } => write!(f, "port {port} is not bound"),
            Self::AlreadyBound { port } => write!(f, "port {port} is already bound"),
            Self::NotInService { port } => write!(f, "port {port} is not in service"),
            Self::NothingPending { port } => write!(f, "port {port} has nothing pending"),
            Self::Masked { port } => write!(f, "port {port} is masked"),
            Self::AlreadyInService { port } => write!(f, "port {port} is already in service"),
            Self::NotAChannel { port } => write!(f, "port {port} is not a channel source"),
            Self::NotChannelOwner { channel, caller } => {
                write!(f, "partition {caller} does not own channel {channel}")
            }
            Self::ContextBusy { port } => write!(f, "context of port {port} busy, retry"),
            Self::NoContextKept { port } => write!(f, "port {port} keeps no context"),
        }
    }
}

impl core::error::Error for Error {}
