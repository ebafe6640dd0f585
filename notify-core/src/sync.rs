//! The one place notify-core takes its atomics from.
//!
//! * default: `core::sync::atomic`;
//! * feature `portable-atomic`: the `portable-atomic` crate, for targets without native
//!   64-bit atomics;
//! * `cfg(loom)`: loom's model-checked atomics, so the same code runs under the loom models.
//!
//! Loom atomics cannot be built in a `const` context, so the two macros below write a
//! constructor as `const fn` normally and as a plain `fn` under loom.

#[cfg(not(loom))]
pub(crate) use core::hint::spin_loop;
#[cfg(loom)]
pub(crate) use loom::{
    hint::spin_loop,
    sync::atomic::{AtomicU16, AtomicU64, Ordering, fence},
};

#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicU16, AtomicU64, Ordering, fence};

#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{AtomicU16, AtomicU64, Ordering, fence};

/// Declares a function that is `const` except under loom.
macro_rules! maybe_const_fn {
    ($(#[$meta:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$meta])* $vis fn $($rest)*
    };
}

/// Builds `[expr; N]` for a non-`Copy` element: an inline `const` block normally, a
/// closure per element under loom.
macro_rules! array_of {
    ($value:expr; $len:expr) => {{
        #[cfg(not(loom))]
        let array = [const { $value }; $len];
        #[cfg(loom)]
        let array = core::array::from_fn(|_| $value);
        array
    }};
}

pub(crate) use {array_of, maybe_const_fn};
