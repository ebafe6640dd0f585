//! The one place irq-router takes its atomics from: `core`, `portable-atomic` (feature)
//! or loom (`cfg(loom)`), so the cross-CPU protocols run unchanged under the loom models.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};

#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicU64, Ordering, fence};

#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{AtomicU64, Ordering, fence};
