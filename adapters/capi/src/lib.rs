//! # irq-capi
//!
//! **Skeleton.** The C ABI of the subsystem (a `staticlib` with a generated header) for C
//! kernels such as POK or an RTEMS host. Filled by the capi issue; no API yet.
#![no_std]
