//! The C entry points.
//!
//! Common rules: a handle is checked by address against the pool and its slot's
//! generation (anything else, also the handle of a destroyed router, is
//! `IRQ_STATUS_BAD_HANDLE`, never dereferenced); a partition number must be below the
//! configuration's partition count (`IRQ_STATUS_BAD_PARTITION`); an out-pointer that is
//! NULL or misaligned is `IRQ_STATUS_NULL_POINTER` and is written only on success.
//!
//! Each function's documentation ends with its calling context (see "Calling context"
//! in the README): whether an interrupt handler may call it (**ISR**), whether the
//! CPU's interrupts must be off (**interrupts off**), and whether it may be called while
//! another library call is in progress on the same CPU (**nests**: from a kernel
//! operation the library is running, or from an interrupt handler that interrupted a
//! library call).
//!
//! CPUs: this interface drives a single-CPU engine (every partition on CPU 0). Call its
//! entry points on the kernel's one CPU with interrupts disabled, one at a time; the
//! `kick` operation is always for that CPU. (The inspection functions may be called from
//! anywhere.)
//!
//! Reentrancy: the engine calls the kernel's operations while it holds a partition's
//! spin lock (but `restart` and `idle`, called once it let go), so no other operation
//! may call back into the library (it could spin forever on that lock). The inspection
//! functions never wait: `irq_router_mode` and `irq_router_health_log` answer
//! `IRQ_STATUS_BUSY` while a library call holds what they read.

use core::ffi::{c_char, c_void};
use core::ptr::null_mut;

use irq_router::config::{HmAction, HmKind};
use irq_router::events::PartitionId;
use irq_router::health::HmRecord;
use irq_router::hypercall::RawCall;
use irq_router::{CpuId, Local, Mode, Trap};

use crate::config::{IRQ_HM_KIND_NONE, IrqSystemConfig};
use crate::guest::{
    IRQ_HC_STATUS_OUTSIDE_WINDOW, IRQ_HC_STATUS_SUCCESS, IRQ_HC_UPCALL_RETURN, IrqI386Regs,
};
use crate::ops::{CAdapter, IrqHmRecord, IrqKernelOps, Ops};
use crate::pool::{Claim, CloseError, InUse, IrqRouter, Live, close};
use crate::status::{
    IRQ_STATUS_BAD_HANDLE, IRQ_STATUS_BAD_PARTITION, IRQ_STATUS_BUSY, IRQ_STATUS_INVALID_CONFIG,
    IRQ_STATUS_MISSING_OPERATION, IRQ_STATUS_NULL_POINTER, IRQ_STATUS_OK, IRQ_STATUS_OUT_OF_RANGE,
    IRQ_STATUS_POOL_EXHAUSTED, IrqConfigError, IrqStatus, kind_name, status_name,
};
use crate::{IRQ_HM_LOG_LEN, IRQ_MAX_PARTITIONS, IRQ_NO_PARTITION, IrqPartition};

/// `irq_router_mode`: stopped until the module restarts.
pub const IRQ_MODE_IDLE: u8 = 0;
/// `irq_router_mode`: initializing after a cold start.
pub const IRQ_MODE_COLD_START: u8 = 1;
/// `irq_router_mode`: initializing after a warm start.
pub const IRQ_MODE_WARM_START: u8 = 2;
/// `irq_router_mode`: running normally.
pub const IRQ_MODE_NORMAL: u8 = 3;

/// The library's major version (`irq_capi_version() >> 16`): a header and a library of
/// different major versions do not fit together.
pub const IRQ_CAPI_VERSION_MAJOR: u32 = 0;
/// The library's minor version (`(irq_capi_version() >> 8) & 0xff`): additions only.
pub const IRQ_CAPI_VERSION_MINOR: u32 = 3;
/// The library's patch version (`irq_capi_version() & 0xff`).
pub const IRQ_CAPI_VERSION_PATCH: u32 = 0;
/// The version this header describes: `major << 16 | minor << 8 | patch`. Compare it with
/// `irq_capi_version()` at boot to catch a header and a library that do not belong
/// together.
pub const IRQ_CAPI_VERSION: u32 = 0x0000_0300;

const _: () = assert!(
    IRQ_CAPI_VERSION
        == IRQ_CAPI_VERSION_MAJOR << 16 | IRQ_CAPI_VERSION_MINOR << 8 | IRQ_CAPI_VERSION_PATCH
);

type Pid = PartitionId<IRQ_MAX_PARTITIONS>;

/// Filler of the buffer `irq_router_health_log` copies the ring into.
const EMPTY_RECORD: HmRecord = HmRecord {
    tick: 0,
    partition: None,
    kind: HmKind::Trap,
    action: HmAction::Ignore,
    detail: 0,
    extra: 0,
    discarded: 0,
};

/// Runs `f` on the live router behind `handle`.
fn with<R>(
    handle: *const IrqRouter,
    f: impl FnOnce(&Live<'_>) -> Result<R, IrqStatus>,
) -> Result<R, IrqStatus> {
    let router = InUse::new(handle).ok_or(IRQ_STATUS_BAD_HANDLE)?;
    f(&router.live())
}

/// The one CPU of this interface. Its entry points are called by the kernel with that
/// CPU's interrupts off (the header states it).
const fn cpu0() -> Local<'static, 1> {
    Local::interrupts_disabled(CpuId::BOOT)
}

/// Partition `raw` of the router's configuration.
fn partition(live: &Live<'_>, raw: IrqPartition) -> Result<Pid, IrqStatus> {
    if raw as usize >= live.tables.partitions {
        return Err(IRQ_STATUS_BAD_PARTITION);
    }
    Pid::new(raw).map_err(|_| IRQ_STATUS_BAD_PARTITION)
}

/// Partition `raw`, or with `IRQ_NO_PARTITION` none (the module).
fn partition_or_module(live: &Live<'_>, raw: IrqPartition) -> Result<Option<Pid>, IrqStatus> {
    match raw {
        IRQ_NO_PARTITION => Ok(None),
        raw => partition(live, raw).map(Some),
    }
}

/// `ptr`, if it may be written as one `T`.
fn out<T>(ptr: *mut T) -> Result<*mut T, IrqStatus> {
    if ptr.is_null() || !ptr.is_aligned() { Err(IRQ_STATUS_NULL_POINTER) } else { Ok(ptr) }
}

fn status(result: Result<(), IrqStatus>) -> IrqStatus {
    match result {
        Ok(()) => IRQ_STATUS_OK,
        Err(status) => status,
    }
}

/// The library's version, `major << 16 | minor << 8 | patch`: `IRQ_CAPI_VERSION` of the
/// header it was built with.
///
/// ISR: yes. Interrupts off: no. Nests: yes.
#[unsafe(no_mangle)]
pub extern "C" fn irq_capi_version() -> u32 {
    IRQ_CAPI_VERSION
}

/// Creates a router from `config`, calling the kernel through `ops`, and stores its
/// handle in `*router`. The configuration and the table are copied: they may be freed
/// when this returns. Every partition starts fresh at tick 0, outside its window, its
/// virtual interrupts disabled (its page's `upcall_mask` is 1: nothing is delivered
/// until it enables them, `IRQ_HC_INTERRUPTS_ENABLE` or a store of 0); call
/// `irq_router_start` before the first window.
///
/// Returns `IRQ_STATUS_INVALID_CONFIG` (or `IRQ_STATUS_MISSING_OPERATION` for a NULL
/// function in `ops`) with `*error` naming the entry, `IRQ_STATUS_POOL_EXHAUSTED` when
/// `IRQ_MAX_ROUTERS` routers exist, `IRQ_STATUS_NULL_POINTER` for a NULL `config`,
/// `ops` or `router`. `error` may be NULL; if not, it is always written
/// (`IRQ_CONFIG_ERROR_KIND_NONE` on success).
///
/// A pointer in `config` (a table, a route's targets, a ping) that is not aligned for
/// its type is refused (`IRQ_CONFIG_ERROR_KIND_BAD_VALUE`, naming the table) before it
/// is read. A non-NULL `shared_page` must be `IRQ_PAGE_ALIGN` (4096) aligned and at least
/// `IRQ_PAGE_ALIGN` bytes from every other partition's (`IRQ_CONFIG_ERROR_KIND_BAD_PAGE`
/// names the partition); it is initialized by this call with plain (non-atomic) writes,
/// so the partition must not run, nor anything else access the page, before this call
/// returns. A page of the library (NULL `shared_page`) fills a 4096-byte frame of its
/// own.
///
/// Stack: the engine is built in place in the library's static storage, never on the
/// stack: this call needs at most `IRQ_STACK_NEEDED` bytes of stack (measured; see the
/// README), like the other entry points.
///
/// ISR: no (boot). Interrupts off: no. Nests: no.
///
/// # Safety
/// 1. `config`, `ops`, `router` and `error` are NULL or valid for reads (`config`,
///    `ops`) or writes (`router`, `error`) of their type.
/// 2. Every array in `config` is NULL or holds its count of entries, each name is NULL
///    or NUL-terminated, each ping NULL or valid, for the duration of the call.
/// 3. A non-NULL `shared_page` is `IRQ_PAGE_SIZE` writable bytes that stay valid, and
///    are not used by the kernel other than as the shared page, until
///    `irq_router_destroy` of this router returns; nothing (the partition included)
///    accesses them until this call returns. The 4 KiB frame the kernel maps into the
///    partition holds nothing that partition may not see.
/// 4. Each function in `ops` has the documented signature and may be called, with
///    `ops->ctx`, from inside any library call on this router, on any CPU that makes
///    one. No function in `ops` but `restart` and `idle` calls back into the library
///    (any `irq_*` function with a router handle, on any router): the engine calls them
///    while holding a partition's spin lock.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_router_create(
    config: *const IrqSystemConfig,
    ops: *const IrqKernelOps,
    router: *mut *mut IrqRouter,
    error: *mut IrqConfigError,
) -> IrqStatus {
    let error = if error.is_null() || !error.is_aligned() { None } else { Some(error) };
    let report = |e: IrqConfigError| {
        if let Some(error) = error {
            // SAFETY: not NULL, aligned, and writable by contract 1.
            unsafe { error.write(e) };
        }
    };
    report(IrqConfigError::NONE);
    let Ok(router) = out(router) else { return IRQ_STATUS_NULL_POINTER };
    if config.is_null() || !config.is_aligned() || ops.is_null() || !ops.is_aligned() {
        return IRQ_STATUS_NULL_POINTER;
    }
    // SAFETY: not NULL, aligned, readable by contract 1; copied out at once (small).
    let (config, ops) = unsafe { (config.read(), ops.read()) };
    let ops = match Ops::new(&ops) {
        Ok(ops) => ops,
        Err(e) => {
            report(e);
            return IRQ_STATUS_MISSING_OPERATION;
        }
    };
    let Some(mut claim) = Claim::new() else { return IRQ_STATUS_POOL_EXHAUSTED };
    // SAFETY: contracts 2 and 3 are the ones `build` asks for.
    match unsafe { crate::convert::build(&mut claim, &config, ops) } {
        Ok(()) => {
            let handle = claim.publish();
            // SAFETY: checked by `out`, writable by contract 1.
            unsafe { router.write(handle) };
            IRQ_STATUS_OK
        }
        Err(e) => {
            report(e);
            IRQ_STATUS_INVALID_CONFIG
        }
    }
}

/// Destroys a router and frees its slot. `IRQ_STATUS_BUSY` if another call on it is in
/// progress (nothing is destroyed: try again), `IRQ_STATUS_BAD_HANDLE` if it is not a
/// live router. Afterwards the handle is refused by every function
/// (`IRQ_STATUS_BAD_HANDLE`), also once a new router took its slot, until that slot has
/// been reused `IRQ_HANDLE_GENERATIONS` times.
///
/// A call on the router that arrives while this one is in progress (an interrupt on
/// another CPU, say) is refused with `IRQ_STATUS_BAD_HANDLE` and does nothing, even if
/// this call then answers `IRQ_STATUS_BUSY` and the router lives on; this call answers
/// `IRQ_STATUS_BUSY` if such a call got in first. In particular
/// `irq_router_hardware_irq` then neither acknowledges nor masks the line: on any error
/// from it the kernel must EOI the line itself. Stop the interrupt sources before
/// destroying a router.
///
/// ISR: no. Interrupts off: no. Nests: no (from a `restart` or `idle` operation it
/// answers `IRQ_STATUS_BUSY`: the call that runs the operation is in progress).
#[unsafe(no_mangle)]
pub extern "C" fn irq_router_destroy(router: *mut IrqRouter) -> IrqStatus {
    match close(router) {
        Ok(()) => IRQ_STATUS_OK,
        Err(CloseError::BadHandle) => IRQ_STATUS_BAD_HANDLE,
        Err(CloseError::Busy) => IRQ_STATUS_BUSY,
    }
}

/// Publishes every partition's start reason (fresh) in its page. Call once before the
/// first window.
///
/// ISR: no (boot). Interrupts off: yes. Nests: no.
#[unsafe(no_mangle)]
pub extern "C" fn irq_router_start(router: *mut IrqRouter) -> IrqStatus {
    status(with(router, |s| {
        s.engine.start();
        Ok(())
    }))
}

/// A hardware interrupt on `vector` (0 to 255), on any CPU: the clock's vector is the
/// kernel's tick; a routed vector runs the kernel-first handler, the storm budget, the
/// fan-out to every target partition and the EOI or mask of the line; an unrouted one
/// is only acknowledged. `frame` is the saved state of the partition running on this
/// CPU (or NULL), handed to `inject_upcall`.
///
/// On any error (`IRQ_STATUS_BAD_HANDLE`, also while `irq_router_destroy` runs, or
/// `IRQ_STATUS_OUT_OF_RANGE`) nothing is done, the EOI included: the kernel must
/// acknowledge the line itself.
///
/// ISR: yes (the kernel's interrupt handler). Interrupts off: yes. Nests: no.
#[unsafe(no_mangle)]
pub extern "C" fn irq_router_hardware_irq(
    router: *mut IrqRouter,
    vector: u32,
    frame: *mut c_void,
) -> IrqStatus {
    status(with(router, |s| {
        let vector = u8::try_from(vector).map_err(|_| IRQ_STATUS_OUT_OF_RANGE)?;
        let _ =
            s.engine.on_hardware_irq(&cpu0(), vector, &mut CAdapter::new(s.ops, s.causes, frame));
        Ok(())
    }))
}

/// The kernel's clock tick at `now`, for a kernel whose clock is not a routed vector
/// (with `clock_vector` configured, `irq_router_hardware_irq` does this). For a kernel
/// that runs its own schedule; `irq_router_tick_switch` also says which window to run.
/// `frame` as for `irq_router_hardware_irq`.
///
/// ISR: yes (the clock's handler). Interrupts off: yes. Nests: no.
#[unsafe(no_mangle)]
pub extern "C" fn irq_router_tick(
    router: *mut IrqRouter,
    now: u64,
    frame: *mut c_void,
) -> IrqStatus {
    status(with(router, |s| {
        let _ = s.engine.on_tick(&cpu0(), now, &mut CAdapter::new(s.ops, s.causes, frame));
        Ok(())
    }))
}

/// A window switch of the configured schedule, as `irq_router_tick_switch` and
/// `irq_router_hardware_irq_switch` report it. 24 bytes, no padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqSwitch {
    /// 1 if the schedule switches at this tick (the other fields are then set), else 0.
    pub switched: u32,
    /// The partition whose window ended: call `irq_router_partition_exit` for it;
    /// `IRQ_NO_PARTITION` if none was scheduled.
    pub from: IrqPartition,
    /// The partition whose window starts: call `irq_router_partition_entry` for it with
    /// the budget `until - now`; `IRQ_NO_PARTITION` for a gap (idle until `until`).
    pub to: IrqPartition,
    /// 0.
    pub reserved: u32,
    /// The tick at which this stretch of the schedule ends.
    pub until: u64,
}

const _: () = assert!(core::mem::size_of::<IrqSwitch>() == 24);

impl IrqSwitch {
    fn from_engine(switch: Option<irq_router::Switch<IRQ_MAX_PARTITIONS>>) -> Self {
        let index = |p: Option<Pid>| p.map_or(IRQ_NO_PARTITION, |p| p.index() as IrqPartition);
        match switch {
            Some(s) => Self {
                switched: 1,
                from: index(s.from),
                to: index(s.to),
                reserved: 0,
                until: s.until,
            },
            None => Self {
                switched: 0,
                from: IRQ_NO_PARTITION,
                to: IRQ_NO_PARTITION,
                reserved: 0,
                until: 0,
            },
        }
    }
}

/// `irq_router_tick` that also writes, to `*switch`, the window switch the configured
/// schedule makes at `now` (the first call gives the stretch `now` falls in: call it at
/// boot, at tick 0, to learn the first window).
///
/// ISR: yes (the clock's handler). Interrupts off: yes. Nests: no.
///
/// # Safety
/// `switch` is NULL or valid for writes of an `IrqSwitch`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_router_tick_switch(
    router: *mut IrqRouter,
    now: u64,
    switch: *mut IrqSwitch,
    frame: *mut c_void,
) -> IrqStatus {
    status(with(router, |s| {
        let switch = out(switch)?;
        let made = s.engine.on_tick(&cpu0(), now, &mut CAdapter::new(s.ops, s.causes, frame));
        // SAFETY: checked by `out`; writable by this function's contract.
        unsafe { switch.write(IrqSwitch::from_engine(made)) };
        Ok(())
    }))
}

/// `irq_router_hardware_irq` that also writes, to `*switch`, the window switch the
/// configured schedule makes when `vector` is the clock's (`switched` is 0 otherwise).
///
/// ISR: yes. Interrupts off: yes. Nests: no.
///
/// # Safety
/// `switch` is NULL or valid for writes of an `IrqSwitch`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_router_hardware_irq_switch(
    router: *mut IrqRouter,
    vector: u32,
    switch: *mut IrqSwitch,
    frame: *mut c_void,
) -> IrqStatus {
    status(with(router, |s| {
        let switch = out(switch)?;
        let vector = u8::try_from(vector).map_err(|_| IRQ_STATUS_OUT_OF_RANGE)?;
        let made =
            s.engine.on_hardware_irq(&cpu0(), vector, &mut CAdapter::new(s.ops, s.causes, frame));
        // SAFETY: checked by `out`; writable by this function's contract.
        unsafe { switch.write(IrqSwitch::from_engine(made)) };
        Ok(())
    }))
}

/// `partition` enters its window at `now` for `budget` ticks: missed ticks given by its
/// catch-up policy, the clock published in its page, an upcall injected if one is due
/// (into `frame`, the partition's state the kernel is about to load).
///
/// ISR: yes (the kernel's switch path). Interrupts off: yes. Nests: no (but from a
/// `restart` operation, to enter the restarted partition).
#[unsafe(no_mangle)]
pub extern "C" fn irq_router_partition_entry(
    router: *mut IrqRouter,
    partition: IrqPartition,
    now: u64,
    budget: u64,
    frame: *mut c_void,
) -> IrqStatus {
    status(with(router, |s| {
        let p = self::partition(s, partition)?;
        let adapter = &mut CAdapter::new(s.ops, s.causes, frame);
        s.engine.on_partition_entry(&cpu0(), p, now, budget, adapter);
        Ok(())
    }))
}

/// `partition` leaves its window at `now`.
///
/// ISR: yes (the kernel's switch path). Interrupts off: yes. Nests: no (but from a
/// `restart` or `idle` operation).
#[unsafe(no_mangle)]
pub extern "C" fn irq_router_partition_exit(
    router: *mut IrqRouter,
    partition: IrqPartition,
    now: u64,
) -> IrqStatus {
    status(with(router, |s| {
        let p = self::partition(s, partition)?;
        let adapter = &mut CAdapter::new(s.ops, s.causes, null_mut());
        s.engine.on_partition_exit(&cpu0(), p, now, adapter);
        Ok(())
    }))
}

/// The kernel is about to return to `partition`, the one running, after a `kick` (or
/// any other interruption, or to end a `wait`): deferred health-monitor actions are
/// applied and the upcall decision is taken again (an upcall goes into `frame`).
/// Nothing happens if `partition` is not the one inside its window.
///
/// ISR: yes (on the way out of any handler). Interrupts off: yes. Nests: no.
#[unsafe(no_mangle)]
pub extern "C" fn irq_router_resume(
    router: *mut IrqRouter,
    partition: IrqPartition,
    frame: *mut c_void,
) -> IrqStatus {
    status(with(router, |s| {
        let p = self::partition(s, partition)?;
        if s.engine.running(CpuId::BOOT) == Some(p) {
            s.engine.on_resume(&cpu0(), &mut CAdapter::new(s.ops, s.causes, frame));
        }
        Ok(())
    }))
}

/// A trap (exception `vector`, 0 to 255) in `partition`: recorded, and its
/// health-monitor table decides (deliver to its fault handler, into `frame`, the
/// faulting state; restart, idle, ...).
///
/// ISR: yes (the exception handler). Interrupts off: yes. Nests: no.
#[unsafe(no_mangle)]
pub extern "C" fn irq_router_trap(
    router: *mut IrqRouter,
    partition: IrqPartition,
    vector: u32,
    error_code: u32,
    address: u64,
    frame: *mut c_void,
) -> IrqStatus {
    status(with(router, |s| {
        let p = self::partition(s, partition)?;
        let vector = u8::try_from(vector).map_err(|_| IRQ_STATUS_OUT_OF_RANGE)?;
        let trap = Trap { vector, error_code, address };
        s.engine.on_trap(&cpu0(), p, trap, &mut CAdapter::new(s.ops, s.causes, frame));
        Ok(())
    }))
}

/// A hypercall of `partition` with the registers the kernel read (untrusted: any value
/// is answered, a call that does not decode is also a health-monitor event). A partition
/// that is not inside its window (between a restart and its next entry, say) is answered
/// `IRQ_HC_STATUS_OUTSIDE_WINDOW`, and nothing is done. The answer
/// goes to `*status` (0 or an `IRQ_HC_STATUS_*`) and `*value`, the two registers the
/// kernel writes back (x86-64: `rax`, `rdx`; i386: see `irq_router_hypercall_i386`),
/// except after a successful `IRQ_HC_UPCALL_RETURN`: the `upcall_return` operation has
/// then restored `frame` to the interrupted state, which gets no answer. `frame` is the
/// calling partition's saved state.
///
/// ISR: yes (the system-call gate). Interrupts off: yes. Nests: no.
///
/// # Safety
/// `status` and `value` are NULL or valid for writes of a `uint64_t`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments, reason = "the registers of a call, as C kernels pass them")]
pub unsafe extern "C" fn irq_router_hypercall(
    router: *mut IrqRouter,
    partition: IrqPartition,
    number: u64,
    arg0: u64,
    arg1: u64,
    arg2: u64,
    arg3: u64,
    status: *mut u64,
    value: *mut u64,
    frame: *mut c_void,
) -> IrqStatus {
    self::status(with(router, |s| {
        let (status, value) = (out(status)?, out(value)?);
        let p = self::partition(s, partition)?;
        let raw = RawCall { number, args: [arg0, arg1, arg2, arg3] };
        let [answer_status, answer_value] = call(s, p, &raw, frame);
        // SAFETY: checked by `out`; writable by this function's contract.
        unsafe {
            status.write(answer_status);
            value.write(answer_value);
        }
        Ok(())
    }))
}

/// Partition `p`'s call `raw`, answered by the engine if `p` is inside its window;
/// otherwise `IRQ_HC_STATUS_OUTSIDE_WINDOW`, and nothing done.
fn call(s: &Live<'_>, p: Pid, raw: &RawCall, frame: *mut c_void) -> [u64; 2] {
    if s.engine.running(CpuId::BOOT) != Some(p) {
        return [IRQ_HC_STATUS_OUTSIDE_WINDOW, 0];
    }
    s.engine.hypercall(&cpu0(), p, raw, &mut CAdapter::new(s.ops, s.causes, frame))
}

/// `irq_router_hypercall` with the i386 register convention (docs/hypercalls.md): the
/// call from `regs` (number in `eax`, arguments in `ebx`, `ecx`, `edx`, `esi`), the
/// answer back into `regs` (status in `eax`, the value's low 32 bits in `edx`, its high
/// 32 bits in `ecx`; `ebx` and `esi` unchanged). After a successful
/// `IRQ_HC_UPCALL_RETURN`, `regs` is left as it is: the `upcall_return` operation has
/// restored the interrupted state into `frame` (which may hold `regs`).
///
/// ISR: yes (the system-call gate). Interrupts off: yes. Nests: no.
///
/// # Safety
/// `regs` is NULL or valid for reads and writes of an `IrqI386Regs`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_router_hypercall_i386(
    router: *mut IrqRouter,
    partition: IrqPartition,
    regs: *mut IrqI386Regs,
    frame: *mut c_void,
) -> IrqStatus {
    status(with(router, |s| {
        let regs = out(regs)?;
        let p = self::partition(s, partition)?;
        // SAFETY: checked by `out`; readable by this function's contract. Copied out.
        let call = unsafe { regs.read() }.call();
        let raw = RawCall { number: call.number, args: call.args };
        let [answer_status, answer_value] = self::call(s, p, &raw, frame);
        if call.number == IRQ_HC_UPCALL_RETURN && answer_status == IRQ_HC_STATUS_SUCCESS {
            return Ok(());
        }
        // SAFETY: checked by `out`; writable by this function's contract (and not
        // referenced elsewhere by the library: `frame` is only handed to the kernel).
        unsafe { (*regs).answer(answer_status, answer_value) };
        Ok(())
    }))
}

/// The page shared with `partition` (`IRQ_PAGE_SIZE` bytes; the one given in the
/// configuration, or the library's): map it into the partition. Valid until the router
/// is destroyed. It is `IRQ_PAGE_ALIGN` (4096) aligned; a page of the library is alone
/// in its 4096-byte frame (nothing else of the library, and no other partition's page,
/// is in that frame), so mapping the frame exposes only this partition's page.
///
/// ISR: yes. Interrupts off: no. Nests: yes.
///
/// # Safety
/// `page` is NULL or valid for writes of a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_router_shared_page(
    router: *mut IrqRouter,
    partition: IrqPartition,
    page: *mut *mut c_void,
) -> IrqStatus {
    status(with(router, |s| {
        let page_out = out(page)?;
        let p = self::partition(s, partition)?;
        // The page is a struct of atomics: the guest's stores through this pointer are
        // what it is for, and the kernel reads it as untrusted.
        let ptr = core::ptr::from_ref(s.tables.shared[p.index()]).cast_mut().cast::<c_void>();
        // SAFETY: checked by `out`; writable by this function's contract.
        unsafe { page_out.write(ptr) };
        Ok(())
    }))
}

/// `partition`'s ARINC 653 mode (`IRQ_MODE_*`) into `*mode`.
///
/// Never waits: if the partition's state is held right now (a library call on this or
/// another CPU), answers `IRQ_STATUS_BUSY`; try again later.
///
/// ISR: yes. Interrupts off: no. Nests: yes (answers `IRQ_STATUS_BUSY` while the call
/// it nests in holds the partition's state).
///
/// # Safety
/// `mode` is NULL or valid for writes of a `uint8_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_router_mode(
    router: *mut IrqRouter,
    partition: IrqPartition,
    mode: *mut u8,
) -> IrqStatus {
    status(with(router, |s| {
        let mode_out = out(mode)?;
        let p = self::partition(s, partition)?;
        let mode = match s.engine.try_mode(p).ok_or(IRQ_STATUS_BUSY)? {
            Mode::Idle => IRQ_MODE_IDLE,
            Mode::ColdStart => IRQ_MODE_COLD_START,
            Mode::WarmStart => IRQ_MODE_WARM_START,
            Mode::Normal => IRQ_MODE_NORMAL,
        };
        // SAFETY: checked by `out`; writable by this function's contract.
        unsafe { mode_out.write(mode) };
        Ok(())
    }))
}

/// Whether the health monitor stopped the module: 1 or 0 into `*stopped`.
///
/// ISR: yes. Interrupts off: no. Nests: yes.
///
/// # Safety
/// `stopped` is NULL or valid for writes of a `uint8_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_router_stopped(router: *mut IrqRouter, stopped: *mut u8) -> IrqStatus {
    status(with(router, |s| {
        let stopped_out = out(stopped)?;
        // SAFETY: checked by `out`; writable by this function's contract.
        unsafe { stopped_out.write(u8::from(s.engine.stopped())) };
        Ok(())
    }))
}

/// Copies the last health-monitor records of `partition` (or with `IRQ_NO_PARTITION`
/// the module's), oldest first, into `records[0..capacity]`; their number into `*count`
/// (at most `IRQ_HM_LOG_LEN`). Each record is written whole, its `reserved` bytes 0.
///
/// Never waits: if the ring is being written right now (a library call on this or
/// another CPU), answers `IRQ_STATUS_BUSY`; try again later.
///
/// ISR: yes. Interrupts off: no. Nests: yes (answers `IRQ_STATUS_BUSY` while the call
/// it nests in writes the ring).
///
/// # Safety
/// `records` is NULL (with `capacity` 0) or valid for writes of `capacity` records;
/// `count` is NULL or valid for writes of a `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_router_health_log(
    router: *mut IrqRouter,
    partition: IrqPartition,
    records: *mut IrqHmRecord,
    capacity: u32,
    count: *mut u32,
) -> IrqStatus {
    status(with(router, |s| {
        let count_out = out(count)?;
        let records = if capacity == 0 { None } else { Some(out(records)?) };
        let p = partition_or_module(s, partition)?;
        let mut ring = [EMPTY_RECORD; IRQ_HM_LOG_LEN];
        let n = s.engine.try_health_log(p, &mut ring).ok_or(IRQ_STATUS_BUSY)?;
        let n = n.min(capacity as usize);
        if let Some(records) = records {
            for (i, record) in ring[..n].iter().enumerate() {
                // SAFETY: `i < n <= capacity`, and `records` is valid for `capacity`
                // records by this function's contract (aligned: checked by `out`).
                unsafe { records.add(i).write(IrqHmRecord::from_record(record)) };
            }
        }
        // SAFETY: checked by `out`; writable by this function's contract.
        unsafe { count_out.write(n as u32) };
        Ok(())
    }))
}

/// Health-monitor records ever made for `partition` (or with `IRQ_NO_PARTITION` the
/// module) into `*total`, and those lost from its ring into `*dropped`.
///
/// ISR: yes. Interrupts off: no. Nests: yes.
///
/// # Safety
/// `total` and `dropped` are NULL or valid for writes of a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_router_health_counts(
    router: *mut IrqRouter,
    partition: IrqPartition,
    total: *mut u64,
    dropped: *mut u64,
) -> IrqStatus {
    status(with(router, |s| {
        let (total_out, dropped_out) = (out(total)?, out(dropped)?);
        let p = partition_or_module(s, partition)?;
        let (t, d) = s.engine.health_counts(p);
        // SAFETY: checked by `out`; writable by this function's contract.
        unsafe {
            total_out.write(t);
            dropped_out.write(d);
        }
        Ok(())
    }))
}

/// The health-monitor record of `partition`'s latest restart into `*record`: its
/// `kind` (`IRQ_HM_KIND_*`, `IRQ_HM_KIND_NONE` if it was never restarted), `action`
/// (`IRQ_HM_WARM_START` or `IRQ_HM_COLD_START`), `tick` and the event's `detail` and
/// `extra` (for `IRQ_HM_KIND_PARTITION_ERROR` the code the partition passed to
/// `exec_stop_error`; for a trap its vector and address). The partition's own
/// `IRQ_HC_START_REASON` says why it restarted (the kind); this gives the kernel the
/// rest, to hand to the restarted partition as it sees fit. A restart the partition's
/// restart limit turned into idle mode is not one.
///
/// ISR: yes. Interrupts off: no. Nests: yes.
///
/// # Safety
/// `record` is NULL or valid for writes of an `IrqHmRecord`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_router_restart_cause(
    router: *mut IrqRouter,
    partition: IrqPartition,
    record: *mut IrqHmRecord,
) -> IrqStatus {
    status(with(router, |s| {
        let record_out = out(record)?;
        let p = self::partition(s, partition)?;
        let mut cause = s.causes.get(p.index());
        if cause.kind == IRQ_HM_KIND_NONE {
            cause = IrqHmRecord { kind: IRQ_HM_KIND_NONE, partition, ..IrqHmRecord::default() };
        }
        // SAFETY: checked by `out`; writable by this function's contract.
        unsafe { record_out.write(cause) };
        Ok(())
    }))
}

/// The name of status `status` (`"IRQ_STATUS_OK"`, ...), a static NUL-terminated
/// string; `"IRQ_STATUS_UNKNOWN"` for a value that is no status.
///
/// ISR: yes. Interrupts off: no. Nests: yes.
#[unsafe(no_mangle)]
pub extern "C" fn irq_status_name(status: IrqStatus) -> *const c_char {
    status_name(status).unwrap_or(c"IRQ_STATUS_UNKNOWN").as_ptr()
}

/// The name of configuration error kind `kind` (`"IRQ_CONFIG_ERROR_KIND_TIMER_PORT"`,
/// ...), a static NUL-terminated string; `"IRQ_CONFIG_ERROR_KIND_UNKNOWN"` for a value
/// that is no kind.
///
/// ISR: yes. Interrupts off: no. Nests: yes.
#[unsafe(no_mangle)]
pub extern "C" fn irq_config_error_name(kind: u32) -> *const c_char {
    kind_name(kind).unwrap_or(c"IRQ_CONFIG_ERROR_KIND_UNKNOWN").as_ptr()
}
