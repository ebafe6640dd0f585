//! The one place irq-router takes its atomics and locks from: `core` and `spin`,
//! `portable-atomic` (feature) or loom (`cfg(loom)`), so the engine and its cross-CPU
//! protocols run unchanged under the loom models.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};

#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicU64, Ordering, fence};

#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{AtomicU64, Ordering, fence};

/// A `const fn` normally; a plain `fn` under loom, whose atomics are not `const`.
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

/// A spin lock (loom's mutex under loom, so the models see who holds it).
pub(crate) struct Lock<T>(#[cfg(not(loom))] spin::Mutex<T>, #[cfg(loom)] loom::sync::Mutex<T>);

#[cfg(not(loom))]
pub(crate) type Guard<'a, T> = spin::MutexGuard<'a, T>;
#[cfg(loom)]
pub(crate) type Guard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Lock<T> {
    maybe_const_fn! {
        pub(crate) fn new(value: T) -> Self {
            #[cfg(not(loom))]
            let lock = spin::Mutex::new(value);
            #[cfg(loom)]
            let lock = loom::sync::Mutex::new(value);
            Self(lock)
        }
    }

    /// Waits for the lock.
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        #[cfg(not(loom))]
        let guard = self.0.lock();
        #[cfg(loom)]
        let guard = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard
    }

    /// The lock if no one holds it.
    pub(crate) fn try_lock(&self) -> Option<Guard<'_, T>> {
        #[cfg(not(loom))]
        let guard = self.0.try_lock();
        #[cfg(loom)]
        let guard = self.0.try_lock().ok();
        guard
    }
}
