//! The one place vcpu-state takes its atomics from.
//!
//! * default: `core::sync::atomic`;
//! * feature `portable-atomic`: the `portable-atomic` crate, for targets without native
//!   64-bit atomics;
//! * `cfg(loom)`: loom's model-checked atomics, so the same code runs under the loom models.
//!
//! This mirrors notify-core's `sync` module (vcpu-state may not depend on notify-core).
//! Loom atomics cannot be built in a `const` context, so [`maybe_const_fn!`] writes a
//! constructor as `const fn` normally and as a plain `fn` under loom. notify-core's
//! `array_of!` is not needed here: the shared page holds no arrays of atomics.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

/// Declares a function that is `const` except under loom.
macro_rules! maybe_const_fn {
    ($(#[$meta:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$meta])* $vis fn $($rest)*
    };
}

pub(crate) use maybe_const_fn;
