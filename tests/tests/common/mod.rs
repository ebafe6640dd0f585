//! What the QEMU end-to-end tests share: reading the kernels' serial output.
#![allow(dead_code, reason = "each test file uses a part of this")]

pub(crate) mod qemu;
pub(crate) mod serial;
