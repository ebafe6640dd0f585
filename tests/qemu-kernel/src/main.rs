//! The end-to-end test kernel: a small x86_64 kernel built on the x86 adapter
//! (`irq-x86`), booted by QEMU through the PVH entry. It runs two ring-3 partitions in a
//! cyclic schedule driven by the PIT through the 8259 and prints markers on COM1 that the
//! host test (`tests/tests/qemu_end_to_end.rs`) checks. The partitions' program is
//! `tests/qemu-guest`, which the build script builds in the kernel's profile and embeds
//! as a read-only user image (see `kernel::guest`): a debug build runs them too.
//!
//! On the host (any target but `x86_64-unknown-none`) this binary does nothing, so that
//! `cargo build --workspace` and `cargo test --workspace` still build it.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod kernel;

#[cfg(not(target_os = "none"))]
fn main() {}
