//! The guest side: the paravirtualization calls of DESIGN.md as a partition process
//! makes them ([`Hypervisor`]), and the partition program built on them
//! ([`program`]).
//!
//! Transport: one `SOCK_SEQPACKET` socket per partition. A call is one message of five
//! native-endian `u64` words, `[number, args[0], args[1], args[2], args[3]]` (the
//! [`RawCall`](irq_router::hypercall::RawCall) registers); the answer is one message of
//! two words, `[status, value]`. The upcall signal is blocked while a call is in flight,
//! so a handler's calls and the main program's never interleave on the socket.

mod calls;
pub mod program;

pub use calls::{CallError, CallResult, Hypervisor};

/// The descriptor number of the region memfd in a partition process.
pub const REGION_FD: i32 = 3;
/// The descriptor number of the hypercall socket in a partition process.
pub const CALL_FD: i32 = 4;
