//! The adapter: a table of C function pointers the kernel provides, and the
//! `KernelAdapter` that calls them.

use core::ffi::c_void;

use irq_router::adapter::{KernelAdapter, StartMode, Upcall, UpcallFault};
use irq_router::events::Sender;
use irq_router::health::HmRecord;

use crate::status::IrqConfigError;
use crate::status::{IrqConfigErrorKind, IrqConfigTable};

/// `inject_upcall` answer: the frame was built.
pub const IRQ_UPCALL_OK: i32 = 0;
/// `inject_upcall` answer: the partition's upcall stack is outside its memory.
pub const IRQ_UPCALL_BAD_STACK: i32 = 1;
/// `inject_upcall` answer: the entry address is outside its executable memory.
pub const IRQ_UPCALL_BAD_ENTRY: i32 = 2;

/// `restart` mode: memory reloaded, event state back to the configuration.
pub const IRQ_START_COLD: u8 = 0;
/// `restart` mode: memory kept.
pub const IRQ_START_WARM: u8 = 1;

/// An upcall to inject: build the frame on the partition's upcall stack and enter
/// `entry`, so that the `upcall_return` hypercall resumes the interrupted state.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqUpcall {
    /// Where to enter: the port's handler, the upcall entry, or the fault handler.
    pub entry: u64,
    /// The port delivered, or -1 for a trap delivered to the fault handler.
    pub port: i32,
    /// Events pending on the port when it was taken into service.
    pub pending: u32,
    /// Interrupt or exception vector of the event.
    pub vector: u16,
    /// The partition that sent it (a channel), or -1 for the kernel.
    pub sender: i32,
    /// Error code of a trap (0 if none).
    pub error_code: u32,
    /// Faulting address of a trap.
    pub fault_address: u64,
    /// Kernel tick when the event was raised.
    pub timestamp: u64,
}

/// A health-monitor record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqHmRecord {
    /// Kernel tick.
    pub tick: u64,
    /// The partition concerned, or -1 for the module.
    pub partition: i32,
    /// `IRQ_HM_KIND_*`.
    pub kind: u8,
    /// `IRQ_HM_*` action taken.
    pub action: u8,
    /// Kind-specific detail: trap vector, port, line vector, events lost, error code,
    /// hypercall number, ticks overrun.
    pub detail: u64,
    /// Second detail: faulting address, events lost, entry of a failed upcall.
    pub extra: u64,
    /// Events discarded by the restart this event caused.
    pub discarded: u64,
}

impl IrqHmRecord {
    pub(crate) fn from_record(record: &HmRecord) -> Self {
        Self {
            tick: record.tick,
            partition: record.partition.map_or(-1, i32::from),
            kind: record.kind as u8,
            action: crate::convert::action_code(record.action),
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
/// No function may call back into the library (any `irq_*` function, on any router,
/// inspection included): the engine calls them while it holds a partition's spin lock
/// (`inject_upcall`, `restart`, `log`, `kick`, ...), and a call back could spin forever
/// on that lock. `irq_router_create` makes this part of its contract.
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
    /// Injects `upcall` into `partition`, which runs on this CPU. Returns
    /// `IRQ_UPCALL_OK`, `IRQ_UPCALL_BAD_STACK` or `IRQ_UPCALL_BAD_ENTRY` (any other
    /// value counts as a bad stack). `upcall` is valid during the call only.
    pub inject_upcall: Option<
        unsafe extern "C" fn(ctx: *mut c_void, partition: u16, upcall: *const IrqUpcall) -> i32,
    >,
    /// The partition running on `cpu` (0 in this single-CPU interface) has something
    /// to take, or its wait ended: before returning to it, call `irq_router_resume`.
    /// At most one kick per partition is in flight.
    pub kick: Option<unsafe extern "C" fn(ctx: *mut c_void, cpu: u16)>,
    /// `partition` gave up the rest of its window until an event is deliverable; a
    /// `kick` ends the wait.
    pub wait: Option<unsafe extern "C" fn(ctx: *mut c_void, partition: u16)>,
    /// Nonzero if `addr .. addr + len` is memory `partition` may hand to the kernel
    /// (code addresses: executable by it).
    pub user_range:
        Option<unsafe extern "C" fn(ctx: *mut c_void, partition: u16, addr: u64, len: u64) -> i32>,
    /// Writes `len` bytes at `addr` of `partition` (already checked with
    /// `user_range`) to the console; returns the bytes written.
    pub console_write:
        Option<unsafe extern "C" fn(ctx: *mut c_void, partition: u16, addr: u64, len: u64) -> u64>,
    /// Restarts `partition`: `IRQ_START_COLD` or `IRQ_START_WARM`.
    pub restart: Option<unsafe extern "C" fn(ctx: *mut c_void, partition: u16, mode: u8)>,
    /// Stops `partition` until the module restarts (ARINC 653 idle mode).
    pub idle: Option<unsafe extern "C" fn(ctx: *mut c_void, partition: u16)>,
    /// Stops the whole module.
    pub stop_module: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    /// Writes a health-monitor record to the kernel's log; `record` is valid during the
    /// call only.
    pub log: Option<unsafe extern "C" fn(ctx: *mut c_void, record: *const IrqHmRecord)>,
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
    inject_upcall: unsafe extern "C" fn(*mut c_void, u16, *const IrqUpcall) -> i32,
    kick: unsafe extern "C" fn(*mut c_void, u16),
    wait: unsafe extern "C" fn(*mut c_void, u16),
    user_range: unsafe extern "C" fn(*mut c_void, u16, u64, u64) -> i32,
    console_write: unsafe extern "C" fn(*mut c_void, u16, u64, u64) -> u64,
    restart: unsafe extern "C" fn(*mut c_void, u16, u8),
    idle: unsafe extern "C" fn(*mut c_void, u16),
    stop_module: unsafe extern "C" fn(*mut c_void),
    log: unsafe extern "C" fn(*mut c_void, *const IrqHmRecord),
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
                return Err(IrqConfigError::at(
                    IrqConfigErrorKind::NullTable,
                    IrqConfigTable::Operations,
                    $n,
                ));
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
        })
    }
}

/// The `KernelAdapter` of one library call: the kernel's table.
pub(crate) struct CAdapter<'a>(pub(crate) &'a Ops);

// Every `unsafe` block below calls one of the kernel's functions. Shared reason, given
// once for all of them (each block's SAFETY comment refers to it): `Ops::new` checked the
// pointer is not NULL, and the kernel promised in `irq_router_create`'s contract that
// each is a function of this signature, callable from inside any library call with `ctx`;
// pointers handed to it point to values on this stack frame that outlive the call.
impl KernelAdapter for CAdapter<'_> {
    fn now(&self) -> u64 {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.now)(self.0.ctx) }
    }
    fn kernel_handler(&mut self, vector: u8) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.kernel_handler)(self.0.ctx, vector) }
    }
    fn eoi(&mut self, vector: u8) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.eoi)(self.0.ctx, vector) }
    }
    fn mask_line(&mut self, vector: u8) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.mask)(self.0.ctx, vector) }
    }
    fn unmask_line(&mut self, vector: u8) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.unmask)(self.0.ctx, vector) }
    }
    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        let c = IrqUpcall {
            entry: upcall.entry.get(),
            port: upcall.port.map_or(-1, i32::from),
            pending: upcall.pending,
            vector: upcall.context.vector,
            sender: match upcall.context.sender {
                Sender::Kernel => -1,
                Sender::Partition(p) => i32::from(p),
            },
            error_code: upcall.context.error_code,
            fault_address: upcall.context.fault_address,
            timestamp: upcall.context.timestamp,
        };
        // SAFETY: the kernel's function (see above); `c` lives until it returns.
        match unsafe { (self.0.inject_upcall)(self.0.ctx, partition, &c) } {
            IRQ_UPCALL_OK => Ok(()),
            IRQ_UPCALL_BAD_ENTRY => Err(UpcallFault::BadEntry),
            _ => Err(UpcallFault::BadStack),
        }
    }
    fn kick(&mut self, cpu: u16) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.kick)(self.0.ctx, cpu) }
    }
    fn wait(&mut self, partition: u16) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.wait)(self.0.ctx, partition) }
    }
    fn user_range(&self, partition: u16, addr: u64, len: u64) -> bool {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.user_range)(self.0.ctx, partition, addr, len) != 0 }
    }
    fn console_write(&mut self, partition: u16, addr: u64, len: u64) -> u64 {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.console_write)(self.0.ctx, partition, addr, len) }
    }
    fn restart(&mut self, partition: u16, mode: StartMode) {
        let mode = match mode {
            StartMode::Cold => IRQ_START_COLD,
            StartMode::Warm => IRQ_START_WARM,
        };
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.restart)(self.0.ctx, partition, mode) }
    }
    fn idle(&mut self, partition: u16) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.idle)(self.0.ctx, partition) }
    }
    fn stop_module(&mut self) {
        // SAFETY: the kernel's function (see above).
        unsafe { (self.0.stop_module)(self.0.ctx) }
    }
    fn log(&mut self, record: &HmRecord) {
        let c = IrqHmRecord::from_record(record);
        // SAFETY: the kernel's function (see above); `c` lives until it returns.
        unsafe { (self.0.log)(self.0.ctx, &c) }
    }
}
