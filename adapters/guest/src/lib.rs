//! The guest side of the interrupt-virtualization subsystem: the paravirtualization calls
//! a partition makes, written once over a [`Transport`], so that the same guest code runs
//! under the hosted runner (Linux processes) and on bare metal (the x86 adapter's
//! `int 0x80` entry).
//!
//! * [`Hypervisor`]: one method per hypercall of the ABI (request and detach an interrupt,
//!   enable, disable and flash, ISR level, idle, acknowledge and take, mask and unmask,
//!   notify, clock, upcall entry, fault and port handlers, console, `exec_stop_error`,
//!   start reason, ping answer, upcall return), each answering its value or a typed
//!   [`Error`].
//! * [`Interrupts`]: the virtual interrupt flag and ISR level through the shared page
//!   (one store each, as RTEMS's CPU port does), asking the kernel for delivery only when
//!   an upcall became pending while they were closed.
//! * [`Upcall`]: what the kernel delivered (port, pending count, context).
//! * Transports: [`x86_64::Int80`] (`int 0x80`, registers as in the ABI),
//!   [`x86_64::Syscall`] (`syscall`, the same registers, `rcx` and `r11` clobbered), and
//!   with the `hosted` feature [`hosted`] (the runner's socket, region and upcall signal).
//!
//! The core is `no_std`, allocates nothing and builds for `x86_64-unknown-none`.

#![cfg_attr(not(feature = "hosted"), no_std)]

mod call;
mod interrupts;
mod upcall;

#[cfg(feature = "hosted")]
pub mod hosted;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

pub use call::{Error, Hypervisor, Transport};
pub use interrupts::Interrupts;
pub use irq_router::hypercall::{ABI_VERSION, CallNumber, ErrorCode, RawCall};
pub use irq_router::vcpu::{SharedPage, StartReason};
pub use upcall::{NO_PORT, Upcall};
