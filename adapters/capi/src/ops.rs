//! The adapter: a table of C function pointers the kernel provides, and the
//! `KernelAdapter` that calls them.

use core::ffi::c_void;

use irq_router::adapter::{KernelAdapter, StartMode, Upcall, UpcallFault};
use irq_router::events::Sender;
use irq_router::health::HmRecord;

use crate::status::{IrqConfigError, Kind, Table};
use crate::{IRQ_MAX_PARTITIONS, IRQ_NO_PARTITION, IrqPartition};

/// `inject_upcall` answer: the frame was built.
pub const IRQ_UPCALL_OK: u32 = 0;
/// `inject_upcall` answer: the partition's upcall stack is outside its memory.
pub const IRQ_UPCALL_BAD_STACK: u32 = 1;
/// `inject_upcall` answer: the entry address is outside its executable memory.
pub const IRQ_UPCALL_BAD_ENTRY: u32 = 2;

/// `restart` mode: memory reloaded, event state back to the configuration.
pub const IRQ_START_COLD: u8 = 0;
/// `restart` mode: memory kept.
pub const IRQ_START_WARM: u8 = 1;

/// An upcall to inject: build the frame on the partition's upcall stack and enter
/// `entry`, so that the `upcall_return` hypercall resumes the interrupted state. 48
/// bytes, no padding (the `reserved` fields are 0), the same layout on every target.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqUpcall {
    /// Where to enter: the port's handler, the upcall entry, or the fault handler.
    pub entry: u64,
    /// The port delivered, or -1 for a trap delivered to the fault handler.
    pub port: i32,
    /// Events pending on the port when it was taken into service.
    pub pending: u32,
    /// Interrupt or exception vector of the event (for the error port, the
    /// `IRQ_HM_KIND_*` of the health-monitor event).
    pub vector: u16,
    /// 0.
    pub reserved0: u16,
    /// The partition that sent it (a channel), or `IRQ_NO_PARTITION` for the kernel.
    pub sender: IrqPartition,
    /// Error code of a trap (0 if none).
    pub error_code: u32,
    /// 0.
    pub reserved1: u32,
    /// Faulting address of a trap.
    pub fault_address: u64,
    /// Kernel tick when the event was raised, for events raised with a context: a line,
    /// a channel notification, a trap, a health-monitor notice on the error port. 0 for
    /// the timer and ping ports, whose events carry no context: a partition reads the
    /// time of its ticks from its shared page (`IRQ_PAGE_CLOCK_NOW_OFFSET`).
    pub timestamp: u64,
}

/// A health-monitor record. 40 bytes, no padding (`reserved` is 0), the same layout on
/// every target.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqHmRecord {
    /// Kernel tick.
    pub tick: u64,
    /// The partition concerned, or `IRQ_NO_PARTITION` for the module.
    pub partition: IrqPartition,
    /// `IRQ_HM_KIND_*`.
    pub kind: u8,
    /// `IRQ_HM_*` action taken.
    pub action: u8,
    /// 0.
    pub reserved: [u8; 2],
    /// Kind-specific detail: trap vector, port, line vector, events lost, error code
    /// (`exec_stop_error`), hypercall number, ticks overrun.
    pub detail: u64,
    /// Second detail: faulting address, events lost, entry of a failed upcall.
    pub extra: u64,
    /// Events discarded by the restart this event caused.
    pub discarded: u64,
}

const _: () = {
    assert!(core::mem::size_of::<IrqUpcall>() == 48);
    assert!(core::mem::size_of::<IrqHmRecord>() == 40);
};

impl IrqHmRecord {
    pub(crate) fn from_record(record: &HmRecord) -> Self {
        Self {
            tick: record.tick,
            partition: record.partition.map_or(IRQ_NO_PARTITION, IrqPartition::from),
            kind: record.kind as u8,
            action: crate::convert::action_code(record.action),
            reserved: [0; 2],
            detail: record.detail,
            extra: record.extra,
            discarded: record.discarded,
        }
    }
}

/// What the kernel provides: every function is called with `ctx` as its first
/// argument, on the CPU running the library call, inside that call. None may be NULL.
/// Partition numbers are those of the configuration.
///
/// Locks: every function but `restart` and `idle` is called while the library holds a
/// partition's spin lock, so none of them may call back into the library (any `irq_*`
/// function with a router handle, on any router; the encoders and name functions are
/// fine): a call back could spin forever on that lock. `restart` and `idle` are called
/// after the library call's work is done and its locks are released, last in that
/// call: they may call the library's entry points (to enter the next partition, say),
/// but must return (the library call they are in returns after them).
///
/// The upcall context: the entry points that can deliver (`irq_router_hardware_irq`,
/// `_switch`, `irq_router_tick`, `_switch`, `irq_router_partition_entry`,
/// `irq_router_resume`, `irq_router_trap`, `irq_router_hypercall`) take a `frame`, the
/// kernel's saved state of the partition running on this CPU (the one it returns to),
/// and hand it unchanged to `inject_upcall` and `upcall_return`: no per-CPU "current
/// frame" is needed in the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IrqKernelOps {
    /// Passed unchanged to every function.
    pub ctx: *mut c_void,
    /// The kernel's tick counter.
    pub now: Option<unsafe extern "C" fn(ctx: *mut c_void) -> u64>,
    /// Runs the kernel's own handler of `vector` (routes with `kernel_first`, and the
    /// clock).
    pub kernel_handler: Option<unsafe extern "C" fn(ctx: *mut c_void, vector: u8)>,
    /// End of interrupt for `vector` at the interrupt controller.
    pub eoi: Option<unsafe extern "C" fn(ctx: *mut c_void, vector: u8)>,
    /// Masks `vector` at the interrupt controller.
    pub mask: Option<unsafe extern "C" fn(ctx: *mut c_void, vector: u8)>,
    /// Unmasks `vector` at the interrupt controller.
    pub unmask: Option<unsafe extern "C" fn(ctx: *mut c_void, vector: u8)>,
    /// Injects `upcall` into `partition`, which runs on this CPU: save the interrupted
    /// state held in `frame` (the `frame` of the entry point; NULL if the kernel passed
    /// NULL) and make `frame` enter `upcall->entry` on the partition's upcall stack.
    /// Returns `IRQ_UPCALL_OK`, `IRQ_UPCALL_BAD_STACK` or `IRQ_UPCALL_BAD_ENTRY` (any
    /// other value counts as a bad stack). `upcall` is valid during the call only.
    pub inject_upcall: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            partition: IrqPartition,
            upcall: *const IrqUpcall,
            frame: *mut c_void,
        ) -> u32,
    >,
    /// The partition running on `cpu` (0 in this single-CPU interface) has something
    /// to take, or its wait ended: before returning to it, call `irq_router_resume`.
    /// At most one kick per partition is in flight.
    pub kick: Option<unsafe extern "C" fn(ctx: *mut c_void, cpu: u16)>,
    /// `partition` gave up the rest of its window until an event is deliverable; a
    /// `kick` ends the wait.
    pub wait: Option<unsafe extern "C" fn(ctx: *mut c_void, partition: IrqPartition)>,
    /// Nonzero if `addr .. addr + len` is memory `partition` may hand to the kernel
    /// (code addresses: executable by it).
    pub user_range: Option<
        unsafe extern "C" fn(ctx: *mut c_void, partition: IrqPartition, addr: u64, len: u64) -> u32,
    >,
    /// Writes `len` bytes at `addr` of `partition` (already checked with
    /// `user_range`) to the console; returns the bytes written.
    pub console_write: Option<
        unsafe extern "C" fn(ctx: *mut c_void, partition: IrqPartition, addr: u64, len: u64) -> u64,
    >,
    /// Restarts `partition`: `IRQ_START_COLD` or `IRQ_START_WARM`. Called after the
    /// library call's work, outside its locks (see above): the partition's state in the
    /// library is already that of the new run (its start reason published, its window
    /// over), so the kernel may reload it and switch to it here, or note it and do so
    /// when the call returns. It must return.
    pub restart: Option<unsafe extern "C" fn(ctx: *mut c_void, partition: IrqPartition, mode: u8)>,
    /// Stops `partition` until the module restarts (ARINC 653 idle mode). Called as
    /// `restart` is: outside the library's locks, last in the call.
    pub idle: Option<unsafe extern "C" fn(ctx: *mut c_void, partition: IrqPartition)>,
    /// Stops the whole module.
    pub stop_module: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    /// Writes a health-monitor record to the kernel's log; `record` is valid during the
    /// call only.
    pub log: Option<unsafe extern "C" fn(ctx: *mut c_void, record: *const IrqHmRecord)>,
    /// The upcall (or fault handler) `partition` was running returned (a successful
    /// `IRQ_HC_UPCALL_RETURN`): restore into `frame` (the hypercall's) the interrupted
    /// state `inject_upcall` saved. Called inside the hypercall before anything else is
    /// injected: an upcall due meanwhile is injected next, over the restored state. The
    /// kernel writes no answer into the frame for that hypercall.
    pub upcall_return:
        Option<unsafe extern "C" fn(ctx: *mut c_void, partition: IrqPartition, frame: *mut c_void)>,
}

// SAFETY: the table is plain data: function pointers and an opaque context pointer the
// library never dereferences, only hands back to the kernel's functions. The kernel
// promised (`irq_router_create`) that its functions may be called from any CPU that
// calls into the library, with this context.
unsafe impl Send for IrqKernelOps {}
// SAFETY: as for `Send`; the library only reads the table.
unsafe impl Sync for IrqKernelOps {}

/// A table whose every function pointer is present, checked once at creation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ops {
    ctx: *mut c_void,
    now: unsafe extern "C" fn(*mut c_void) -> u64,
    kernel_handler: unsafe extern "C" fn(*mut c_void, u8),
    eoi: unsafe extern "C" fn(*mut c_void, u8),
    mask: unsafe extern "C" fn(*mut c_void, u8),
    unmask: unsafe extern "C" fn(*mut c_void, u8),
    inject_upcall:
        unsafe extern "C" fn(*mut c_void, IrqPartition, *const IrqUpcall, *mut c_void) -> u32,
    kick: unsafe extern "C" fn(*mut c_void, u16),
    wait: unsafe extern "C" fn(*mut c_void, IrqPartition),
    user_range: unsafe extern "C" fn(*mut c_void, IrqPartition, u64, u64) -> u32,
    console_write: unsafe extern "C" fn(*mut c_void, IrqPartition, u64, u64) -> u64,
    restart: unsafe extern "C" fn(*mut c_void, IrqPartition, u8),
    idle: unsafe extern "C" fn(*mut c_void, IrqPartition),
    stop_module: unsafe extern "C" fn(*mut c_void),
    log: unsafe extern "C" fn(*mut c_void, *const IrqHmRecord),
    upcall_return: unsafe extern "C" fn(*mut c_void, IrqPartition, *mut c_void),
}

// SAFETY: see `IrqKernelOps`: the same data, with the NULL checks done.
unsafe impl Send for Ops {}
// SAFETY: see `IrqKernelOps`.
unsafe impl Sync for Ops {}

/// Field `$n` of the table, or the error naming it.
macro_rules! required {
    ($table:expr, $field:ident, $n:expr) => {
        match $table.$field {
            Some(f) => f,
            None => {
                return Err(IrqConfigError::at(Kind::NullTable, Table::Operations, $n));
            }
        }
    };
}

impl Ops {
    /// The table with every pointer checked.
    ///
    /// # Errors
    /// The first NULL function pointer, by field number (`now` is 0).
    pub(crate) fn new(table: &IrqKernelOps) -> Result<Self, IrqConfigError> {
        Ok(Self {
            ctx: table.ctx,
            now: required!(table, now, 0),
            kernel_handler: required!(table, kernel_handler, 1),
            eoi: required!(table, eoi, 2),
            mask: required!(table, mask, 3),
            unmask: required!(table, unmask, 4),
            inject_upcall: required!(table, inject_upcall, 5),
            kick: required!(table, kick, 6),
            wait: required!(table, wait, 7),
            user_range: required!(table, user_range, 8),
            console_write: required!(table, console_write, 9),
            restart: required!(table, restart, 10),
            idle: required!(table, idle, 11),
            stop_module: required!(table, stop_module, 12),
            log: required!(table, log, 13),
            upcall_return: required!(table, upcall_return, 14),
        })
    }
}

/// A `restart` or `idle` the engine asked for, called once the engine's call is over.
#[derive(Clone, Copy, Debug)]
enum Later {
    Restart(u16, u8),
    Idle(u16),
}

/// Most `restart`/`idle` requests one library call can make: a partition is restarted
/// or idled at most twice in one engine call (an action deferred to it, then one of its
/// own events; an idled partition's later events are only logged).
const LATER: usize = 2 * IRQ_MAX_PARTITIONS;

/// The `KernelAdapter` of one library call: the kernel's table, the call's `frame`, and
/// the `restart`/`idle` requests held until the engine's call is over (they are made
/// when this is dropped, after the engine released its locks).
pub(crate) struct CAdapter<'a> {
    ops: &'a Ops,
    frame: *mut c_void,
    later: [Option<Later>; LATER],
    held: usize,
    /// Each partition's latest restart, for `irq_router_restart_cause`.
    causes: &'a crate::pool::Causes,
}

impl<'a> CAdapter<'a> {
    /// The adapter of a call on the router whose table is `ops`, `frame` the kernel's.
    pub(crate) fn new(ops: &'a Ops, causes: &'a crate::pool::Causes, frame: *mut c_void) -> Self {
        Self { ops, frame, later: [None; LATER], held: 0, causes }
    }

    fn later(&mut self, request: Later) {
        match self.later.get_mut(self.held) {
            Some(slot) => {
                *slot = Some(request);
                self.held += 1;
            }
            // Never (see `LATER`); were it to happen, the request is made at once rather
            // than lost.
            None => self.make(request),
        }
    }

    fn make(&self, request: Later) {
        match request {
            // SAFETY: the kernel's function (see below).
            Later::Restart(p, mode) => unsafe { (self.ops.restart)(self.ops.ctx, p.into(), mode) },
            // SAFETY: the kernel's function (see below).
            Later::Idle(p) => unsafe { (self.ops.idle)(self.ops.ctx, p.into()) },
        }
    }
}

impl Drop for CAdapter<'_> {
    /// The held `restart`/`idle` requests, in order: the engine's call is over and its
    /// locks are released.
    fn drop(&mut self) {
        for request in self.later.into_iter().take(self.held).flatten() {
            self.make(request);
        }
    }
}

// Every `unsafe` block below calls one of the kernel's functions. Shared reason, given
// once for all of them (each block's SAFETY comment refers to it): `Ops::new` checked the
// pointer is not NULL, and the kernel promised in `irq_router_create`'s contract that
// each is a function of this signature, callable from inside any library call with `ctx`;
// pointers handed to it point to values on this stack frame that outlive the call, or
// are the kernel's own `frame`, handed back unchanged.
impl KernelAdapter for CAdapter<'_> {
    fn now(&self) -> u64 {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.ops.now)(self.ops.ctx) }
    }
    fn kernel_handler(&mut self, vector: u8) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.ops.kernel_handler)(self.ops.ctx, vector) }
    }
    fn eoi(&mut self, vector: u8) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.ops.eoi)(self.ops.ctx, vector) }
    }
    fn mask_line(&mut self, vector: u8) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.ops.mask)(self.ops.ctx, vector) }
    }
    fn unmask_line(&mut self, vector: u8) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.ops.unmask)(self.ops.ctx, vector) }
    }
    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        let c = IrqUpcall {
            entry: upcall.entry.get(),
            port: upcall.port.map_or(-1, i32::from),
            pending: upcall.pending,
            vector: upcall.context.vector,
            reserved0: 0,
            sender: match upcall.context.sender {
                Sender::Kernel => IRQ_NO_PARTITION,
                Sender::Partition(p) => IrqPartition::from(p),
            },
            error_code: upcall.context.error_code,
            reserved1: 0,
            fault_address: upcall.context.fault_address,
            timestamp: upcall.context.timestamp,
        };
        // SAFETY: the kernel's function (see above); `c` lives until it returns.
        let answer =
            unsafe { (self.ops.inject_upcall)(self.ops.ctx, partition.into(), &c, self.frame) };
        match answer {
            IRQ_UPCALL_OK => Ok(()),
            IRQ_UPCALL_BAD_ENTRY => Err(UpcallFault::BadEntry),
            _ => Err(UpcallFault::BadStack),
        }
    }
    fn kick(&mut self, cpu: u16) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.ops.kick)(self.ops.ctx, cpu) }
    }
    fn wait(&mut self, partition: u16) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.ops.wait)(self.ops.ctx, partition.into()) }
    }
    fn user_range(&self, partition: u16, addr: u64, len: u64) -> bool {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.ops.user_range)(self.ops.ctx, partition.into(), addr, len) != 0 }
    }
    fn console_write(&mut self, partition: u16, addr: u64, len: u64) -> u64 {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.ops.console_write)(self.ops.ctx, partition.into(), addr, len) }
    }
    fn restart(&mut self, partition: u16, mode: StartMode) {
        let mode = match mode {
            StartMode::Cold => IRQ_START_COLD,
            StartMode::Warm => IRQ_START_WARM,
        };
        self.later(Later::Restart(partition, mode));
    }
    fn idle(&mut self, partition: u16) {
        self.later(Later::Idle(partition));
    }
    fn stop_module(&mut self) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.ops.stop_module)(self.ops.ctx) }
    }
    fn log(&mut self, record: &HmRecord) {
        let c = IrqHmRecord::from_record(record);
        self.causes.note(&c);
        // SAFETY: the kernel's function (see above); `c` lives until it returns.
        unsafe { (self.ops.log)(self.ops.ctx, &c) }
    }
    fn upcall_return(&mut self, partition: u16) {
        // SAFETY: the kernel's function (see above); `frame` is the kernel's own.
        unsafe { (self.ops.upcall_return)(self.ops.ctx, partition.into(), self.frame) }
    }
}
