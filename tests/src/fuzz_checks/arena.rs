//! `'static` values for one fuzz input, freed when the input is done.
//!
//! The configuration and the shared pages a [`Router`](irq_router::Router) is built from
//! must be `'static`. Leaking them would grow the fuzzer's memory by every input (hundreds
//! of thousands of them a minute); an [`Arena`] hands out `'static` references to boxes it
//! owns and frees them when it is dropped, after everything that borrowed them.

use std::any::Any;

/// Owner of the values behind the `'static` references it handed out.
#[derive(Default)]
pub(crate) struct Arena {
    items: Vec<*mut dyn Any>,
}

impl Arena {
    /// Moves `value` into the arena.
    ///
    /// # Safety
    /// The reference must not be used after the arena is dropped: everything holding it
    /// (a configuration, a router) must be dropped first.
    pub(crate) unsafe fn alloc<T: Any>(&mut self, value: T) -> &'static T {
        let raw: *mut T = Box::into_raw(Box::new(value));
        self.items.push(raw);
        // SAFETY: `raw` comes from `Box::into_raw`, so it is valid and aligned; the box is
        // freed only in `drop`, and the caller keeps the reference from outliving it.
        unsafe { &*raw }
    }

    /// Moves `values` into the arena, as a slice.
    ///
    /// # Safety
    /// As for [`alloc`](Self::alloc).
    pub(crate) unsafe fn slice<T: Any>(&mut self, values: Vec<T>) -> &'static [T] {
        // SAFETY: forwarded to the caller.
        unsafe { self.alloc(values) }.as_slice()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for raw in self.items.drain(..) {
            // SAFETY: each pointer came from `Box::into_raw` in `alloc` and is freed once;
            // callers of `alloc` dropped every user of the references before the arena.
            drop(unsafe { Box::from_raw(raw) });
        }
    }
}
