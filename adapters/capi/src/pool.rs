//! The static pool of routers: fixed-size storage for each router's configuration, its
//! shared pages and the engine, claimed and released with atomics.
//!
//! # Handles and generations
//!
//! Each slot has a table of [`IRQ_HANDLE_GENERATIONS`] one-byte tokens and a generation
//! counter that `irq_router_destroy` advances. A handle is the address of the token of
//! the generation the router was created in, so once its router is destroyed the handle
//! no longer matches its slot's generation and every function refuses it, also after the
//! slot was reused by a new router. The tokens are never read or written: a handle is
//! compared by address only. (The token index wraps: a handle matches again after its
//! slot was reused `IRQ_HANDLE_GENERATIONS` times more.)
//!
//! # Initialization, and the stack
//!
//! Each slot holds an engine that is always a valid one: the static pool starts with a
//! placeholder engine built at compile time (`Router::new` of a configuration with no
//! port, window or route, evaluated by the compiler into the library's data), and
//! `irq_router_create` rebuilds it in place with `Router::reconfigure`, which rewrites
//! each part of the engine where it is. No engine is ever built on the stack or moved:
//! `irq_router_create` needs a few KiB of stack, not the engine's size (tens of KiB) a
//! few times over. `irq_router_destroy` reconfigures the engine back to the placeholder,
//! so that it keeps no reference into the slot's tables or a kernel's page.
//!
//! The rest of a slot's storage is a `MaybeUninit<Storage>` in the static (zero-filled
//! `.bss`, not a valid `Storage`). [`Claim::new`] writes every field of it in full except
//! the kernel's table, before any reference into it exists: the tables get their empty
//! values ([`Tables::EMPTY`]), every page frame a fresh page and zeroed padding, the
//! restart causes none. `build` then overwrites table entries, writes the table of
//! operations and reconfigures the engine last; only then is the slot published
//! (`LIVE`), so every field is initialized whenever [`InUse::storage`] makes a
//! `&Storage`.
//!
//! # Why the `'static` references are sound
//!
//! The engine's configuration holds `&'static` slices (ports, priority levels, windows,
//! routes, targets, channels, budgets) and `&'static SharedPage`s. Here they point into a
//! slot's [`Storage`], which is inside a `static` and therefore never moves or goes away.
//! A slot's storage is written only while the slot is `BUILDING` (claimed by exactly one
//! `irq_router_create`, while its engine is the placeholder, which refers to none of it)
//! and the engine, which holds every such reference, is set back to the placeholder
//! while the slot is `CLOSING` (claimed by exactly one `irq_router_destroy`, after it saw
//! no call in progress and before the slot is free again). In between, the storage is
//! only read (the pages and causes are atomics, written through shared references). So
//! no reference into the storage is ever alive while the storage is written. A page the
//! kernel provides
//! ([`IrqPartitionConfig::shared_page`](crate::IrqPartitionConfig::shared_page)) is valid
//! until `irq_router_destroy` returns by the kernel's promise, and the engine lets go of
//! it before that.
//!
//! # Page frames
//!
//! A page of the library ([`PageFrame`]) fills one 4096-byte frame, aligned to 4096, by
//! itself: the rest of the frame is padding that nothing of the library reads. An MMU
//! maps whole 4 KiB frames, so the frame the kernel maps into a partition
//! (`irq_router_shared_page`) holds that partition's page and nothing else: not another
//! partition's page, the kernel's function pointers or the engine.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::num::NonZeroU32;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use irq_router::config::{
    ChannelBudget, HmTable, PartitionConfig, Route, Schedule, Sharing, SystemConfig, Target,
    Trigger, VectorSet, Window,
};
use irq_router::events::{Binding, Channel, Endpoint, PortConfig, PriorityLevel, Source};
use irq_router::vcpu::{CatchUpPolicy, SharedPage};

use crate::IrqHmRecord;
use crate::config::{IRQ_HM_COLD_START, IRQ_HM_KIND_NONE, IRQ_HM_WARM_START};
use crate::ops::Ops;
use crate::{
    Engine, IRQ_HANDLE_GENERATIONS, IRQ_MAX_CHANNELS, IRQ_MAX_PARTITIONS, IRQ_MAX_PORTS,
    IRQ_MAX_PRIORITY_LEVELS, IRQ_MAX_ROUTERS, IRQ_MAX_ROUTES, IRQ_MAX_TARGETS, IRQ_MAX_WINDOWS,
    IRQ_PAGE_ALIGN,
};

/// Bytes of a partition's name, with its NUL.
pub(crate) const NAME_LEN: usize = 32;

/// A router, as C sees it: an opaque handle from `irq_router_create`.
///
/// Nothing of it is visible to C; the library recognizes its own handles by address, so
/// any other pointer is refused (`IRQ_STATUS_BAD_HANDLE`) without being dereferenced. A
/// handle also carries its router's generation: once the router is destroyed it is
/// refused, even after a new router took its slot (see `IRQ_HANDLE_GENERATIONS`).
pub struct IrqRouter {
    /// Only its address is used (one token of a slot's table, never read or written).
    _token: u8,
}

/// One router of the pool.
struct Slot {
    /// Handles point to these: the one of index `generation % IRQ_HANDLE_GENERATIONS`
    /// is the live router's.
    tokens: [IrqRouter; IRQ_HANDLE_GENERATIONS],
    /// The phase (`FREE`, `BUILDING`, `LIVE`, `CLOSING`) in the low two bits, the
    /// generation above them.
    state: AtomicU32,
    /// Library calls in progress on this router.
    users: AtomicU32,
    storage: UnsafeCell<MaybeUninit<Storage>>,
    /// Always a valid engine: the placeholder, or the live router's.
    engine: UnsafeCell<Engine>,
}

/// Everything one router owns but its engine.
pub(crate) struct Storage {
    /// The library's shared pages, one 4096-byte frame each.
    pub(crate) pages: [PageFrame; IRQ_MAX_PARTITIONS],
    /// The configuration copied from C.
    pub(crate) tables: Tables,
    pub(crate) ops: Ops,
    /// Each partition's latest restart.
    pub(crate) causes: Causes,
}

/// A live router, as the entry points see it.
pub(crate) struct Live<'a> {
    pub(crate) tables: &'a Tables,
    pub(crate) ops: &'a Ops,
    pub(crate) causes: &'a Causes,
    pub(crate) engine: &'a Engine,
}

/// The health-monitor record of each partition's latest restart (or its latest decided
/// one, for a restart deferred to the partition's next entry), as the kernel's `log`
/// saw it: what `irq_router_restart_cause` answers.
pub(crate) struct Causes {
    /// `kind | action << 8`, or `IRQ_HM_KIND_NONE` before any restart.
    what: [AtomicU64; IRQ_MAX_PARTITIONS],
    tick: [AtomicU64; IRQ_MAX_PARTITIONS],
    detail: [AtomicU64; IRQ_MAX_PARTITIONS],
    extra: [AtomicU64; IRQ_MAX_PARTITIONS],
}

impl Causes {
    /// No restart yet.
    const fn none() -> Self {
        Self {
            what: [const { AtomicU64::new(IRQ_HM_KIND_NONE as u64) }; IRQ_MAX_PARTITIONS],
            tick: [const { AtomicU64::new(0) }; IRQ_MAX_PARTITIONS],
            detail: [const { AtomicU64::new(0) }; IRQ_MAX_PARTITIONS],
            extra: [const { AtomicU64::new(0) }; IRQ_MAX_PARTITIONS],
        }
    }

    /// Keeps `record` if it restarts its partition.
    pub(crate) fn note(&self, record: &IrqHmRecord) {
        let p = record.partition as usize;
        let restarts = matches!(record.action, IRQ_HM_WARM_START | IRQ_HM_COLD_START);
        if !restarts || p >= IRQ_MAX_PARTITIONS {
            return;
        }
        self.tick[p].store(record.tick, Ordering::Relaxed);
        self.detail[p].store(record.detail, Ordering::Relaxed);
        self.extra[p].store(record.extra, Ordering::Relaxed);
        let what = u64::from(record.kind) | u64::from(record.action) << 8;
        self.what[p].store(what, Ordering::Release);
    }

    /// Partition `p`'s latest restart (`kind` `IRQ_HM_KIND_NONE` if none).
    pub(crate) fn get(&self, p: usize) -> IrqHmRecord {
        let what = self.what[p].load(Ordering::Acquire);
        IrqHmRecord {
            tick: self.tick[p].load(Ordering::Relaxed),
            partition: p as crate::IrqPartition,
            kind: what as u8,
            action: (what >> 8) as u8,
            reserved: [0; 2],
            detail: self.detail[p].load(Ordering::Relaxed),
            extra: self.extra[p].load(Ordering::Relaxed),
            discarded: 0,
        }
    }
}

/// A partition that does not exist for C: no port, window, route or channel.
pub(crate) const UNUSED: PartitionConfig = PartitionConfig {
    name: "",
    cpu: 0,
    ports: &[],
    priority_levels: &[],
    timer_port: None,
    error_port: None,
    catch_up: CatchUpPolicy::Replay,
    vectors: VectorSet::EMPTY,
    channels: 0,
    ping: None,
    health: HmTable::IGNORE_ALL,
};

/// The configuration of the placeholder engine: no port, window, route or channel.
pub(crate) const PLACEHOLDER: SystemConfig<IRQ_MAX_PARTITIONS> = SystemConfig {
    partitions: [UNUSED; IRQ_MAX_PARTITIONS],
    schedule: Schedule { major_frame: 1, windows: &[] },
    routes: &[],
    clock_vector: None,
    channels: &[],
    channel_budgets: &[],
};

/// The placeholder engine, built by the compiler (a refused placeholder configuration
/// fails the build).
const fn placeholder() -> Engine {
    let built =
        core::mem::ManuallyDrop::new(Engine::new(PLACEHOLDER, [&EMPTY_PAGE; IRQ_MAX_PARTITIONS]));
    let result: *const Result<Engine, irq_router::config::ConfigError> = (&raw const built).cast();
    // SAFETY: `ManuallyDrop` has the layout of what it holds, so `result` points to the
    // initialized `Result`, alive for this function.
    let Ok(engine) = (unsafe { &*result }) else {
        panic!("the placeholder configuration is valid")
    };
    // SAFETY: the engine is read out exactly once, and `built`, never dropped, does not
    // drop it again: it is moved, not copied.
    unsafe { core::ptr::read(engine) }
}

/// The configuration copied from C, which the engine refers to.
pub(crate) struct Tables {
    pub(crate) ports: [[PortConfig; IRQ_MAX_PORTS]; IRQ_MAX_PARTITIONS],
    pub(crate) levels: [[PriorityLevel; IRQ_MAX_PRIORITY_LEVELS]; IRQ_MAX_PARTITIONS],
    pub(crate) names: [[u8; NAME_LEN]; IRQ_MAX_PARTITIONS],
    pub(crate) windows: [Window; IRQ_MAX_WINDOWS],
    pub(crate) targets: [[Target; IRQ_MAX_TARGETS]; IRQ_MAX_ROUTES],
    pub(crate) routes: [Route; IRQ_MAX_ROUTES],
    pub(crate) channels: [Channel; IRQ_MAX_CHANNELS],
    pub(crate) budgets: [ChannelBudget; IRQ_MAX_CHANNELS],
    /// The page each partition uses: in `pages`, or the kernel's.
    pub(crate) shared: [&'static SharedPage; IRQ_MAX_PARTITIONS],
    /// The partitions the C configuration has (the engine has `IRQ_MAX_PARTITIONS`).
    pub(crate) partitions: usize,
}

/// Placeholder of a page array before `build` sets every entry (never handed to an
/// engine).
pub(crate) static EMPTY_PAGE: SharedPage = SharedPage::new();

impl Tables {
    /// Every entry a valid placeholder, written over by `build`.
    const EMPTY: Self = {
        let port = PortConfig::new(0, Binding::counting(Source::Timer));
        let endpoint = Endpoint { partition: 0, port: 0 };
        Self {
            ports: [[port; IRQ_MAX_PORTS]; IRQ_MAX_PARTITIONS],
            levels: [[PriorityLevel::new(0, 1); IRQ_MAX_PRIORITY_LEVELS]; IRQ_MAX_PARTITIONS],
            names: [[0; NAME_LEN]; IRQ_MAX_PARTITIONS],
            windows: [Window { partition: 0, start: 0, length: 0 }; IRQ_MAX_WINDOWS],
            targets: [[Target { partition: 0, port: 0 }; IRQ_MAX_TARGETS]; IRQ_MAX_ROUTES],
            routes: [Route {
                vector: 0,
                sharing: Sharing::Exclusive,
                trigger: Trigger::Edge,
                kernel_first: false,
                targets: &[],
                budget: None,
                ack_timeout: 0,
            }; IRQ_MAX_ROUTES],
            channels: [Channel { source: endpoint, destination: endpoint }; IRQ_MAX_CHANNELS],
            budgets: [ChannelBudget { channel: 0, raises: NonZeroU32::MIN }; IRQ_MAX_CHANNELS],
            shared: [&EMPTY_PAGE; IRQ_MAX_PARTITIONS],
            partitions: 0,
        }
    };
}

/// Bytes of padding after the page in its frame.
const PAD: usize = IRQ_PAGE_ALIGN - core::mem::size_of::<SharedPage>();

/// A shared page alone in a 4096-byte frame (the unit an MMU maps), so that mapping it
/// into a partition maps nothing else of the library.
#[repr(C, align(4096))]
pub(crate) struct PageFrame {
    pub(crate) page: SharedPage,
    /// The rest of the frame: the partition may write it (it is mapped), the library
    /// never reads it.
    pad: UnsafeCell<[u8; PAD]>,
}

const _: () = {
    assert!(core::mem::size_of::<PageFrame>() == IRQ_PAGE_ALIGN);
    assert!(core::mem::align_of::<PageFrame>() == IRQ_PAGE_ALIGN);
    assert!(core::mem::size_of::<IrqRouter>() == 1);
    // The generation is the state's upper 30 bits: it wraps at a multiple of the tokens.
    assert!(IRQ_HANDLE_GENERATIONS.is_power_of_two() && IRQ_HANDLE_GENERATIONS <= 1 << 30);
};

impl PageFrame {
    /// Writes a fresh page and zeroed padding at `frame`.
    ///
    /// # Safety
    /// `frame` is valid for writes and nothing refers to it.
    unsafe fn init(frame: *mut Self) {
        // SAFETY: the caller's contract; `UnsafeCell<[u8; PAD]>` has the layout of
        // `[u8; PAD]`.
        unsafe {
            addr_of_mut!((*frame).page).write(SharedPage::new());
            addr_of_mut!((*frame).pad).cast::<u8>().write_bytes(0, PAD);
        }
    }
}

// SAFETY: the storage is written only by the one thread that claimed the slot (phase
// `BUILDING` or `CLOSING`, claimed with a compare-and-swap) and read by others only in
// phase `LIVE`, after an acquire of `state` that the release ending `BUILDING` pairs
// with. The engine itself is `Sync` (atomics and spin locks), `Ops` is plain data, the
// pages are atomics and their padding is never accessed by the library after `init`.
unsafe impl Sync for Slot {}

const PHASE: u32 = 0b11;
const FREE: u32 = 0;
const BUILDING: u32 = 1;
const LIVE: u32 = 2;
const CLOSING: u32 = 3;
/// One generation in `state`.
const GENERATION: u32 = PHASE + 1;

/// `state` with its phase replaced by `phase`.
const fn with_phase(state: u32, phase: u32) -> u32 {
    (state & !PHASE) | phase
}

/// The token index of the generation in `state`.
const fn token(state: u32) -> usize {
    (state / GENERATION) as usize % IRQ_HANDLE_GENERATIONS
}

/// Whether `state` is a live router whose handle is token `index`.
const fn live(state: u32, index: usize) -> bool {
    state & PHASE == LIVE && token(state) == index
}

/// The pool.
static POOL: [Slot; IRQ_MAX_ROUTERS] = [const {
    Slot {
        tokens: [const { IrqRouter { _token: 0 } }; IRQ_HANDLE_GENERATIONS],
        state: AtomicU32::new(FREE),
        users: AtomicU32::new(0),
        storage: UnsafeCell::new(MaybeUninit::uninit()),
        engine: UnsafeCell::new(placeholder()),
    }
}; IRQ_MAX_ROUTERS];

impl Slot {
    /// The token index `handle` points to, if it points into this slot's table (by
    /// address only).
    fn token_of(&self, handle: *const IrqRouter) -> Option<usize> {
        let offset = handle.addr().wrapping_sub(self.tokens.as_ptr().addr());
        (offset < IRQ_HANDLE_GENERATIONS).then_some(offset)
    }

    fn storage(&self) -> *mut Storage {
        self.storage.get().cast::<Storage>()
    }
}

/// The slot `handle` points into, and its token index.
fn find(handle: *const IrqRouter) -> Option<(&'static Slot, usize)> {
    POOL.iter().find_map(|slot| slot.token_of(handle).map(|index| (slot, index)))
}

/// A slot claimed for building; released again (free) if dropped before
/// [`publish`](Self::publish).
pub(crate) struct Claim {
    slot: &'static Slot,
    published: bool,
}

impl Claim {
    /// Claims a free slot and initializes its storage but for the operations and the
    /// engine (see the module documentation).
    pub(crate) fn new() -> Option<Self> {
        let slot = POOL.iter().find(|slot| {
            let state = slot.state.load(Ordering::Relaxed);
            state & PHASE == FREE
                && slot
                    .state
                    .compare_exchange(
                        state,
                        with_phase(state, BUILDING),
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
        })?;
        let s = slot.storage();
        // SAFETY: the slot is `BUILDING`, claimed by this call alone (the acquire pairs
        // with the release that freed it, after the previous engine was dropped): nothing
        // else reads or writes the storage and no reference into it exists. The storage
        // is inside a static, valid for writes of a `Storage`.
        unsafe {
            addr_of_mut!((*s).tables).write(Tables::EMPTY);
            addr_of_mut!((*s).causes).write(Causes::none());
            for p in 0..IRQ_MAX_PARTITIONS {
                PageFrame::init(addr_of_mut!((*s).pages[p]));
            }
        }
        Some(Self { slot, published: false })
    }

    /// The slot's storage, to be written: every field initialized but `ops`.
    pub(crate) fn storage(&self) -> *mut Storage {
        self.slot.storage()
    }

    /// The slot's engine (the placeholder until `build` reconfigures it), to be
    /// reconfigured.
    pub(crate) fn engine(&mut self) -> &mut Engine {
        // SAFETY: the slot is `BUILDING`, claimed by this claim alone (see `new`): no call
        // reads the engine and no other reference to it exists; `&mut self` makes this
        // one unique for its lifetime.
        unsafe { &mut *self.slot.engine.get() }
    }

    /// The storage is fully initialized (`build` wrote `ops` and reconfigured the
    /// engine): make the router usable and hand out its handle.
    pub(crate) fn publish(mut self) -> *mut IrqRouter {
        self.published = true;
        let state = self.slot.state.load(Ordering::Relaxed);
        self.slot.state.store(with_phase(state, LIVE), Ordering::Release);
        core::ptr::from_ref(&self.slot.tokens[token(state)]).cast_mut()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.published {
            // Nothing in the storage needs dropping, and the engine is still the
            // placeholder (a refused reconfiguration changes nothing). No handle was
            // handed out, so the generation stays.
            let state = self.slot.state.load(Ordering::Relaxed);
            self.slot.state.store(with_phase(state, FREE), Ordering::Release);
        }
    }
}

/// A library call in progress on a live router.
pub(crate) struct InUse {
    slot: &'static Slot,
}

impl InUse {
    /// The live router behind `handle`, or `None` for anything else (NULL, a pointer
    /// not from this pool, a router being built or destroyed, the handle of a destroyed
    /// router). `handle` is compared by address only, never dereferenced.
    pub(crate) fn new(handle: *const IrqRouter) -> Option<Self> {
        let (slot, index) = find(handle)?;
        // Announce the call before checking the state; `close` does the reverse, so one
        // of the two sees the other (both sequentially consistent). The generation only
        // changes while the slot is not `LIVE`.
        slot.users.fetch_add(1, Ordering::SeqCst);
        if !live(slot.state.load(Ordering::SeqCst), index) {
            slot.users.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Self { slot })
    }

    /// The router's storage and engine.
    pub(crate) fn live(&self) -> Live<'_> {
        // SAFETY: the state was `LIVE` after this call registered itself in `users`, so
        // every field of the storage is initialized: `Claim::new` wrote all but `ops`,
        // `build` wrote it and reconfigured the engine before `publish`, which released
        // `LIVE` (seen with the sequentially consistent load). `close` cannot rewrite any
        // of it before `users` falls back (see the module documentation), and nothing
        // writes either while the slot is `LIVE`.
        let (storage, engine) =
            unsafe { ((*self.slot.storage.get()).assume_init_ref(), &*self.slot.engine.get()) };
        Live { tables: &storage.tables, ops: &storage.ops, causes: &storage.causes, engine }
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

/// Destroys the live router behind `handle`, frees its slot and advances its
/// generation (so `handle` is refused from now on).
pub(crate) fn close(handle: *const IrqRouter) -> Result<(), CloseError> {
    let (slot, index) = find(handle).ok_or(CloseError::BadHandle)?;
    let state = slot.state.load(Ordering::SeqCst);
    if !live(state, index) {
        return Err(CloseError::BadHandle);
    }
    // Phase and generation in one compare-and-swap: a router created in the slot since
    // the load is not this handle's and is left alone.
    slot.state
        .compare_exchange(state, with_phase(state, CLOSING), Ordering::SeqCst, Ordering::SeqCst)
        .map_err(|_| CloseError::BadHandle)?;
    if slot.users.load(Ordering::SeqCst) != 0 {
        slot.state.store(state, Ordering::SeqCst);
        return Err(CloseError::Busy);
    }
    // SAFETY: the slot was `LIVE` and is now `CLOSING`, claimed by this call alone; no call
    // is in progress and none can start (they find it not `LIVE`), so nothing else refers
    // to the engine.
    let engine = unsafe { &mut *slot.engine.get() };
    // Back to the placeholder, in place: the engine lets go of every reference into the
    // storage and of the kernel's pages. The placeholder configuration is valid (checked
    // when the library was built), so this cannot be refused.
    let _ = engine.reconfigure(PLACEHOLDER, [&EMPTY_PAGE; IRQ_MAX_PARTITIONS]);
    let next = with_phase(state, FREE).wrapping_add(GENERATION);
    slot.state.store(next, Ordering::Release);
    Ok(())
}
