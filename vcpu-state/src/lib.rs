//! # vcpu-state
//!
//! **Skeleton.** This crate will hold each partition's virtual CPU (virtual interrupt
//! flag in the page shared with the guest, ISR level, upcall state machine, idle) and its
//! time accounting (entry/exit checkpoints, missed ticks, catch-up policies). It is filled
//! by the vcpu-state issue; it has no API yet.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
