//! The static pool of routers: fixed-size storage for each router's configuration, its
//! shared pages and the engine, claimed and released with atomics.
//!
//! # Why the `'static` references are sound
//!
//! The engine's configuration holds `&'static` slices (ports, windows, routes, targets,
//! channels, budgets) and `&'static SharedPage`s. Here they point into a slot's
//! [`Storage`], which is inside a `static` and therefore never moves or goes away. A
//! slot's storage is written only while the slot is `BUILDING` (claimed by exactly one
//! `irq_router_create`, before any reference into it exists) and the engine, which holds
//! every such reference, is dropped while the slot is `CLOSING` (claimed by exactly one
//! `irq_router_destroy`, after it saw no call in progress and before the slot is free
//! again). In between, the storage is only read. So no reference into the storage is
//! ever alive while the storage is written. A page the kernel provides
//! ([`IrqPartitionConfig::shared_page`](crate::IrqPartitionConfig::shared_page)) is valid
//! until `irq_router_destroy` returns by the kernel's promise, and the engine is dropped
//! before that.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use irq_router::config::{ChannelBudget, Route, Target, Window};
use notify_core::{Channel, PortConfig};
use vcpu_state::SharedPage;

use crate::ops::Ops;
use crate::{
    Engine, IRQ_MAX_CHANNELS, IRQ_MAX_PARTITIONS, IRQ_MAX_PORTS, IRQ_MAX_ROUTERS, IRQ_MAX_ROUTES,
    IRQ_MAX_TARGETS, IRQ_MAX_WINDOWS,
};

/// Bytes of a partition's name, with its NUL.
pub(crate) const NAME_LEN: usize = 32;

/// A router, as C sees it: an opaque handle from `irq_router_create`.
///
/// Nothing of it is visible to C; the library recognizes its own handles by address, so
/// any other pointer is refused (`IRQ_STATUS_BAD_HANDLE`) without being dereferenced.
pub struct IrqRouter {
    state: AtomicU8,
    /// Library calls in progress on this router.
    users: AtomicU32,
    storage: UnsafeCell<MaybeUninit<Storage>>,
}

/// Everything one router owns.
pub(crate) struct Storage {
    pub(crate) ports: [[PortConfig; IRQ_MAX_PORTS]; IRQ_MAX_PARTITIONS],
    pub(crate) names: [[u8; NAME_LEN]; IRQ_MAX_PARTITIONS],
    pub(crate) windows: [Window; IRQ_MAX_WINDOWS],
    pub(crate) targets: [[Target; IRQ_MAX_TARGETS]; IRQ_MAX_ROUTES],
    pub(crate) routes: [Route; IRQ_MAX_ROUTES],
    pub(crate) channels: [Channel; IRQ_MAX_CHANNELS],
    pub(crate) budgets: [ChannelBudget; IRQ_MAX_CHANNELS],
    pub(crate) pages: [SharedPage; IRQ_MAX_PARTITIONS],
    /// The page each partition uses: in `pages`, or the kernel's.
    pub(crate) shared: [&'static SharedPage; IRQ_MAX_PARTITIONS],
    /// The partitions the C configuration has (the engine has `IRQ_MAX_PARTITIONS`).
    pub(crate) partitions: usize,
    pub(crate) ops: Ops,
    pub(crate) engine: Engine,
}

// SAFETY: the storage is written only by the one thread that claimed the slot (state
// `BUILDING` or `CLOSING`, claimed with a compare-and-swap) and read by others only in
// state `LIVE`, after an acquire of `state` that the release ending `BUILDING` pairs
// with. The engine itself is `Sync` (atomics and spin locks) and `Ops` is plain data.
unsafe impl Sync for IrqRouter {}

const FREE: u8 = 0;
const BUILDING: u8 = 1;
const LIVE: u8 = 2;
const CLOSING: u8 = 3;

/// The pool.
static POOL: [IrqRouter; IRQ_MAX_ROUTERS] = [const {
    IrqRouter {
        state: AtomicU8::new(FREE),
        users: AtomicU32::new(0),
        storage: UnsafeCell::new(MaybeUninit::uninit()),
    }
}; IRQ_MAX_ROUTERS];

/// A slot claimed for building; released again (free) if dropped before
/// [`publish`](Self::publish).
pub(crate) struct Claim {
    slot: &'static IrqRouter,
    published: bool,
}

impl Claim {
    /// Claims a free slot.
    pub(crate) fn new() -> Option<Self> {
        POOL.iter()
            .find(|slot| {
                slot.state
                    .compare_exchange(FREE, BUILDING, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            })
            .map(|slot| Self { slot, published: false })
    }

    /// The slot's storage, to be written (the engine not yet initialized).
    pub(crate) fn storage(&self) -> *mut Storage {
        self.slot.storage.get().cast::<Storage>()
    }

    /// The storage is fully initialized: make the router usable and hand out its handle.
    pub(crate) fn publish(mut self) -> *mut IrqRouter {
        self.published = true;
        self.slot.state.store(LIVE, Ordering::Release);
        core::ptr::from_ref(self.slot).cast_mut()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.published {
            // Nothing in the storage needs dropping: the engine was never written.
            self.slot.state.store(FREE, Ordering::Release);
        }
    }
}

/// A library call in progress on a live router.
pub(crate) struct InUse {
    slot: &'static IrqRouter,
}

impl InUse {
    /// The live router behind `handle`, or `None` for anything else (NULL, a pointer
    /// not from this pool, a router being built or destroyed). `handle` is compared by
    /// address only, never dereferenced.
    pub(crate) fn new(handle: *const IrqRouter) -> Option<Self> {
        let slot = POOL.iter().find(|slot| core::ptr::eq(*slot, handle))?;
        // Announce the call before checking the state; `close` does the reverse, so one
        // of the two sees the other (both sequentially consistent).
        slot.users.fetch_add(1, Ordering::SeqCst);
        if slot.state.load(Ordering::SeqCst) != LIVE {
            slot.users.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self { slot })
    }

    /// The router's storage.
    pub(crate) fn storage(&self) -> &Storage {
        // SAFETY: the state was `LIVE` after this call registered itself in `users`, so
        // the storage is fully initialized (published with release, seen with the
        // sequentially consistent load) and `close` cannot drop or rewrite it before
        // `users` falls back (see the module documentation).
        unsafe { (*self.slot.storage.get()).assume_init_ref() }
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.slot.users.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a router could not be destroyed.
pub(crate) enum CloseError {
    /// Not a live router of this pool.
    BadHandle,
    /// A call on it is in progress.
    Busy,
}

/// Destroys the live router behind `handle` and frees its slot.
pub(crate) fn close(handle: *const IrqRouter) -> Result<(), CloseError> {
    let slot =
        POOL.iter().find(|slot| core::ptr::eq(*slot, handle)).ok_or(CloseError::BadHandle)?;
    slot.state
        .compare_exchange(LIVE, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
        .map_err(|_| CloseError::BadHandle)?;
    if slot.users.load(Ordering::SeqCst) != 0 {
        slot.state.store(LIVE, Ordering::SeqCst);
        return Err(CloseError::Busy);
    }
    let storage = slot.storage.get().cast::<Storage>();
    // SAFETY: the slot was `LIVE` (fully initialized) and is now `CLOSING`, claimed by
    // this call alone; no call is in progress and none can start (they find it not
    // `LIVE`), so nothing refers into the storage while the engine, the only holder of
    // references into it, is dropped in place.
    unsafe { core::ptr::drop_in_place(core::ptr::addr_of_mut!((*storage).engine)) };
    slot.state.store(FREE, Ordering::Release);
    Ok(())
}
