//! The guest's side of the hypercall ABI (`docs/hypercalls.md` of irq-router), for C:
//! call numbers and answer statuses as constants named after the RTEMS-on-POK
//! paravirtualization layer (`_CPU_Virtual_Irq_request`, `_CPU_Virtual_Interrupts_flash`,
//! `_CPU_Virtual_exec_stop_error`, ...), the shared page's layout, and helpers that put
//! a call into its registers. A guest that does not link this library uses the
//! constants only; the numbers never change (tests check them against irq-router).
//!
//! The transport is the kernel's: it reads `number` and `args[0..4]` from the trapping
//! partition's registers (on x86-64 `rax`, `rdi`, `rsi`, `rdx`, `r10`), passes them to
//! `irq_router_hypercall`, and writes the answer's status and value back (`rax`, `rdx`).
//! On i386 (32-bit registers) the number is in `eax`, the arguments in `ebx`, `ecx`,
//! `edx`, `esi`, and the answer comes back in `eax` (status), `edx` (the value's low 32
//! bits) and `ecx` (its high 32 bits): [`IrqI386Regs`], `irq_router_hypercall_i386`.

use irq_router::vcpu::SharedPage;

use crate::config::{IRQ_HM_KIND_COUNT, IRQ_HM_KIND_NONE};
use crate::status::{IRQ_STATUS_NULL_POINTER, IRQ_STATUS_OK, IRQ_STATUS_OUT_OF_RANGE, IrqStatus};

/// The hypercall ABI version this library speaks: what `IRQ_HC_GET_ABI_VERSION`
/// answers.
pub const IRQ_HC_ABI: u64 = 1;
const _: () = assert!(IRQ_HC_ABI == irq_router::hypercall::ABI_VERSION);

/// Call number of `abi_version`: asks the ABI version the kernel speaks (answers
/// `IRQ_HC_ABI`). Call 0 in every version. (The number of the call, not the version.)
pub const IRQ_HC_GET_ABI_VERSION: u64 = 0;
/// `irq_request(vector, port)`: bind a hardware vector to one of the caller's ports.
pub const IRQ_HC_IRQ_REQUEST: u64 = 1;
/// `irq_detach(vector)`: unbind a vector; answers the events discarded.
pub const IRQ_HC_IRQ_DETACH: u64 = 2;
/// `interrupts_enable`: set the virtual interrupt flag (sti).
pub const IRQ_HC_INTERRUPTS_ENABLE: u64 = 3;
/// `interrupts_disable`: clear the virtual interrupt flag (cli).
pub const IRQ_HC_INTERRUPTS_DISABLE: u64 = 4;
/// `interrupts_flash`: enable, deliver what is due, disable.
pub const IRQ_HC_INTERRUPTS_FLASH: u64 = 5;
/// `interrupts_set_level(level)`: RTEMS's ISR level; answers the previous one.
pub const IRQ_HC_INTERRUPTS_SET_LEVEL: u64 = 6;
/// `idle`: give up the rest of the window until an event is deliverable.
pub const IRQ_HC_IDLE: u64 = 7;
/// `acknowledge(port)`: end service of one event; answers the events still pending.
pub const IRQ_HC_ACKNOWLEDGE: u64 = 8;
/// `take_count(port)`: end service taking the whole count; answers it.
pub const IRQ_HC_TAKE_COUNT: u64 = 9;
/// `mask(port)`.
pub const IRQ_HC_MASK: u64 = 10;
/// `unmask(port)`: answers 1 if the port became deliverable.
pub const IRQ_HC_UNMASK: u64 = 11;
/// `notify(port)`: notify the channel whose source end is the caller's port.
pub const IRQ_HC_NOTIFY: u64 = 12;
/// `clock_read`: the partition's clock, in ticks.
pub const IRQ_HC_CLOCK_READ: u64 = 13;
/// `register_upcall(entry)`: set (or with 0 clear) the upcall entry point.
pub const IRQ_HC_REGISTER_UPCALL: u64 = 14;
/// `register_fault_handler(entry)`: set (or with 0 clear) the fault handler.
pub const IRQ_HC_REGISTER_FAULT_HANDLER: u64 = 15;
/// `register_port_handler(port, entry)`: set (or with 0 clear) one port's handler.
pub const IRQ_HC_REGISTER_PORT_HANDLER: u64 = 16;
/// `console_write(address, length)`: at most `IRQ_HC_CONSOLE_WRITE_MAX` bytes; answers
/// the bytes written.
pub const IRQ_HC_CONSOLE_WRITE: u64 = 17;
/// `exec_stop_error(code)`: declare an error to the health monitor (ARINC 653).
pub const IRQ_HC_EXEC_STOP_ERROR: u64 = 18;
/// `start_reason`: why the partition runs: the reason in bits 32..40
/// (`IRQ_START_REASON_FRESH`, `_COLD_RESTART`, `_WARM_RESTART`), the cause in bits 0..32:
/// the `IRQ_HM_KIND_*` of the health-monitor event that restarted it plus one (0: a
/// fresh start, or a restart that no event caused). Decode it with
/// `irq_hc_start_reason` and `irq_hc_start_reason_kind`; the event's detail (the code
/// of an `exec_stop_error`) is the kernel's to give (`irq_router_restart_cause`).
pub const IRQ_HC_START_REASON: u64 = 19;
/// `upcall_return`: return from an upcall (or the fault handler) to the interrupted
/// context.
pub const IRQ_HC_UPCALL_RETURN: u64 = 20;
/// `ping_answer`: answer the health monitor's ping.
pub const IRQ_HC_PING_ANSWER: u64 = 21;

/// Most bytes one `IRQ_HC_CONSOLE_WRITE` writes.
pub const IRQ_HC_CONSOLE_WRITE_MAX: u64 = 256;

/// Answer status: success.
pub const IRQ_HC_STATUS_SUCCESS: u64 = 0;
/// Answer status: no such call.
pub const IRQ_HC_STATUS_UNKNOWN_CALL: u64 = 1;
/// Answer status: an argument register the call does not read was not zero.
pub const IRQ_HC_STATUS_RESERVED_ARGUMENT: u64 = 2;
/// Answer status: a port, vector or 32-bit value out of range.
pub const IRQ_HC_STATUS_INVALID_ARGUMENT: u64 = 3;
/// Answer status: a buffer too long, wrapping, or not the partition's memory.
pub const IRQ_HC_STATUS_BAD_ADDRESS: u64 = 4;
/// Answer status: the configuration does not allow it.
pub const IRQ_HC_STATUS_PERMISSION_DENIED: u64 = 5;
/// Answer status: the port has no binding.
pub const IRQ_HC_STATUS_NOT_BOUND: u64 = 6;
/// Answer status: already bound.
pub const IRQ_HC_STATUS_ALREADY_BOUND: u64 = 7;
/// Answer status: the port is not in service.
pub const IRQ_HC_STATUS_NOT_IN_SERVICE: u64 = 8;
/// Answer status: nothing pending.
pub const IRQ_HC_STATUS_NOTHING_PENDING: u64 = 9;
/// Answer status: the port is masked.
pub const IRQ_HC_STATUS_MASKED: u64 = 10;
/// Answer status: the port is already in service.
pub const IRQ_HC_STATUS_ALREADY_IN_SERVICE: u64 = 11;
/// Answer status: the port is not a channel's source end.
pub const IRQ_HC_STATUS_NOT_A_CHANNEL: u64 = 12;
/// Answer status: a transient conflict; retry.
pub const IRQ_HC_STATUS_BUSY: u64 = 13;
/// Answer status: outside the partition's window.
pub const IRQ_HC_STATUS_OUTSIDE_WINDOW: u64 = 14;
/// Answer status: upcall return outside an upcall.
pub const IRQ_HC_STATUS_NOT_IN_UPCALL: u64 = 15;
/// Answer status: the line or channel is over its budget.
pub const IRQ_HC_STATUS_OVER_BUDGET: u64 = 16;
/// Answer status: the configuration gives the partition no such thing.
pub const IRQ_HC_STATUS_NOT_CONFIGURED: u64 = 17;
/// Answer status: failed for a reason without a code.
pub const IRQ_HC_STATUS_FAILED: u64 = 18;

/// Size of the page shared with a partition.
pub const IRQ_PAGE_SIZE: usize = 64;
/// Alignment of a shared page, and the frame (an MMU's 4 KiB page) it is alone in: each
/// page of the library fills a frame of its own, and a page the kernel provides must be
/// aligned to it, in a frame holding nothing else the partition may not see.
pub const IRQ_PAGE_ALIGN: usize = 4096;
/// Offset of `upcall_mask` (`uint8_t`): 0 = virtual interrupts enabled (the guest's
/// sti is one store of 0, cli one store of 1). A partition starts, and restarts, with
/// its virtual interrupts disabled (1): nothing is delivered until it enables them.
pub const IRQ_PAGE_UPCALL_MASK_OFFSET: usize = 4;
/// Offset of `upcall_pending` (`uint8_t`): nonzero when an event became deliverable while
/// closed; check after sti and ask for delivery (`IRQ_HC_INTERRUPTS_FLASH`).
pub const IRQ_PAGE_UPCALL_PENDING_OFFSET: usize = 5;
/// Offset of `start_reason` (`uint8_t`): 1 fresh, 2 cold restart, 3 warm restart.
pub const IRQ_PAGE_START_REASON_OFFSET: usize = 7;
/// Offset of `start_cause` (`uint32_t`): the `IRQ_HM_KIND_*` of the event that caused the
/// restart plus one, 0 if none (as bits 0..32 of `IRQ_HC_START_REASON`'s answer).
pub const IRQ_PAGE_START_CAUSE_OFFSET: usize = 12;
/// Offset of `isr_level` (`uint32_t`): RTEMS's ISR level, 0 = enabled.
pub const IRQ_PAGE_ISR_LEVEL_OFFSET: usize = 8;
/// Offset of `clock_now` (`uint64_t`): the kernel tick at the last entry.
pub const IRQ_PAGE_CLOCK_NOW_OFFSET: usize = 16;
/// Offset of `clock_given` (`uint64_t`): ticks given to the guest as of the last entry.
pub const IRQ_PAGE_CLOCK_GIVEN_OFFSET: usize = 24;

// The header's constants are literals (cbindgen evaluates no paths): checked here.
const _: () = {
    assert!(IRQ_HC_CONSOLE_WRITE_MAX == irq_router::hypercall::CONSOLE_WRITE_MAX);
    assert!(IRQ_PAGE_SIZE == irq_router::vcpu::PAGE_LEN);
    assert!(IRQ_PAGE_SIZE == core::mem::size_of::<SharedPage>());
    assert!(core::mem::align_of::<SharedPage>() == 8);
    assert!(IRQ_PAGE_UPCALL_MASK_OFFSET == SharedPage::UPCALL_MASK_OFFSET);
    assert!(IRQ_PAGE_UPCALL_PENDING_OFFSET == SharedPage::UPCALL_PENDING_OFFSET);
    assert!(IRQ_PAGE_START_REASON_OFFSET == SharedPage::START_REASON_OFFSET);
    assert!(IRQ_PAGE_START_CAUSE_OFFSET == SharedPage::START_CAUSE_OFFSET);
    assert!(IRQ_PAGE_ISR_LEVEL_OFFSET == SharedPage::ISR_LEVEL_OFFSET);
    assert!(IRQ_PAGE_CLOCK_NOW_OFFSET == SharedPage::CLOCK_NOW_OFFSET);
    assert!(IRQ_PAGE_CLOCK_GIVEN_OFFSET == SharedPage::CLOCK_GIVEN_OFFSET);
};

/// The registers of one call: the number and four arguments.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqRawCall {
    /// The call number (`IRQ_HC_*`).
    pub number: u64,
    /// The argument registers, in order; those a call does not read must be zero.
    pub args: [u64; 4],
}

const fn call(number: u64, a0: u64, a1: u64) -> IrqRawCall {
    IrqRawCall { number, args: [a0, a1, 0, 0] }
}

/// The registers of `irq_request(vector, port)` (RTEMS `_CPU_Virtual_Irq_request`).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_irq_request(vector: u32, port: u32) -> IrqRawCall {
    call(IRQ_HC_IRQ_REQUEST, u64::from(vector), u64::from(port))
}

/// The registers of `irq_detach(vector)` (RTEMS `_CPU_Virtual_Irq_detach`).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_irq_detach(vector: u32) -> IrqRawCall {
    call(IRQ_HC_IRQ_DETACH, u64::from(vector), 0)
}

/// The registers of `interrupts_enable` (RTEMS `_CPU_Virtual_Interrupts_enable`).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_interrupts_enable() -> IrqRawCall {
    call(IRQ_HC_INTERRUPTS_ENABLE, 0, 0)
}

/// The registers of `interrupts_disable` (RTEMS `_CPU_Virtual_Interrupts_disable`).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_interrupts_disable() -> IrqRawCall {
    call(IRQ_HC_INTERRUPTS_DISABLE, 0, 0)
}

/// The registers of `interrupts_flash` (RTEMS `_CPU_Virtual_Interrupts_flash`).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_interrupts_flash() -> IrqRawCall {
    call(IRQ_HC_INTERRUPTS_FLASH, 0, 0)
}

/// The registers of `idle` (RTEMS `_CPU_Virtual_idle_thread`).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_idle() -> IrqRawCall {
    call(IRQ_HC_IDLE, 0, 0)
}

/// The registers of `exec_stop_error(code)` (RTEMS `_CPU_Virtual_exec_stop_error`).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_exec_stop_error(code: u32) -> IrqRawCall {
    call(IRQ_HC_EXEC_STOP_ERROR, u64::from(code), 0)
}

/// The registers of `clock_read` (the BSP's virtual clock read).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_clock_read() -> IrqRawCall {
    call(IRQ_HC_CLOCK_READ, 0, 0)
}

/// The registers of `console_write(address, length)` (the BSP's `_BSP_Virtual_Char_write`).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_console_write(address: u64, length: u64) -> IrqRawCall {
    call(IRQ_HC_CONSOLE_WRITE, address, length)
}

/// The registers of `acknowledge(port)`.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_acknowledge(port: u32) -> IrqRawCall {
    call(IRQ_HC_ACKNOWLEDGE, u64::from(port), 0)
}

/// The registers of `take_count(port)`.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_take_count(port: u32) -> IrqRawCall {
    call(IRQ_HC_TAKE_COUNT, u64::from(port), 0)
}

/// The registers of `notify(port)`.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_notify(port: u32) -> IrqRawCall {
    call(IRQ_HC_NOTIFY, u64::from(port), 0)
}

/// The registers of `register_upcall(entry)` (0 clears it).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_register_upcall(entry: u64) -> IrqRawCall {
    call(IRQ_HC_REGISTER_UPCALL, entry, 0)
}

/// The registers of `register_fault_handler(entry)` (0 clears it).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_register_fault_handler(entry: u64) -> IrqRawCall {
    call(IRQ_HC_REGISTER_FAULT_HANDLER, entry, 0)
}

/// The registers of `upcall_return`.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_upcall_return() -> IrqRawCall {
    call(IRQ_HC_UPCALL_RETURN, 0, 0)
}

/// The registers of `abi_version` (call 0; answers `IRQ_HC_ABI`).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_abi_version() -> IrqRawCall {
    call(IRQ_HC_GET_ABI_VERSION, 0, 0)
}

/// The registers of `interrupts_set_level(level)` (RTEMS `_CPU_ISR_Set_level`).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_interrupts_set_level(level: u32) -> IrqRawCall {
    call(IRQ_HC_INTERRUPTS_SET_LEVEL, u64::from(level), 0)
}

/// The registers of `mask(port)`.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_mask(port: u32) -> IrqRawCall {
    call(IRQ_HC_MASK, u64::from(port), 0)
}

/// The registers of `unmask(port)`.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_unmask(port: u32) -> IrqRawCall {
    call(IRQ_HC_UNMASK, u64::from(port), 0)
}

/// The registers of `register_port_handler(port, entry)` (0 clears it).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_register_port_handler(port: u32, entry: u64) -> IrqRawCall {
    call(IRQ_HC_REGISTER_PORT_HANDLER, u64::from(port), entry)
}

/// The registers of `start_reason`.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_start_reason() -> IrqRawCall {
    call(IRQ_HC_START_REASON, 0, 0)
}

/// The registers of `ping_answer`.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_encode_ping_answer() -> IrqRawCall {
    call(IRQ_HC_PING_ANSWER, 0, 0)
}

/// Start reason (`irq_hc_start_reason`): not a value a kernel answers.
pub const IRQ_START_REASON_NONE: u32 = 0;
/// Start reason: the first start since the module started.
pub const IRQ_START_REASON_FRESH: u32 = 1;
/// Start reason: a cold restart (event state back to the configuration).
pub const IRQ_START_REASON_COLD_RESTART: u32 = 2;
/// Start reason: a warm restart.
pub const IRQ_START_REASON_WARM_RESTART: u32 = 3;

/// The reason (`IRQ_START_REASON_*`) in an `IRQ_HC_START_REASON` answer;
/// `IRQ_START_REASON_NONE` for a value no kernel answers.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_start_reason(value: u64) -> u32 {
    match irq_router::hypercall::start_reason_from_value(value).map(|r| r.encode().0) {
        Some(code) => u32::from(code),
        None => IRQ_START_REASON_NONE,
    }
}

/// The `IRQ_HM_KIND_*` of the health-monitor event that caused the restart an
/// `IRQ_HC_START_REASON` answer (or the page's `start_cause`, zero-extended) reports;
/// `IRQ_HM_KIND_NONE` for a fresh start, a restart no event caused, or a value no kernel
/// answers.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_start_reason_kind(value: u64) -> u8 {
    let cause = value as u32;
    match usize::try_from(cause) {
        Ok(cause) if (1..=IRQ_HM_KIND_COUNT).contains(&cause) => (cause - 1) as u8,
        _ => IRQ_HM_KIND_NONE,
    }
}

/// A call's registers under the i386 convention (`docs/hypercalls.md`): the number in
/// `eax`, the arguments in `ebx`, `ecx`, `edx`, `esi`; the answer in `eax` (status),
/// `edx` (the value's low 32 bits) and `ecx` (its high 32 bits). 20 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqI386Regs {
    /// The call number; the answer's status.
    pub eax: u32,
    /// `args[0]`.
    pub ebx: u32,
    /// `args[1]`; the answer value's bits 32..64.
    pub ecx: u32,
    /// `args[2]`; the answer value's bits 0..32.
    pub edx: u32,
    /// `args[3]`.
    pub esi: u32,
}

impl IrqI386Regs {
    /// The call these registers make (every register zero-extended).
    pub(crate) fn call(self) -> IrqRawCall {
        let arg = u64::from;
        IrqRawCall {
            number: u64::from(self.eax),
            args: [arg(self.ebx), arg(self.ecx), arg(self.edx), arg(self.esi)],
        }
    }

    /// Writes the answer `[status, value]` into `eax`, `edx`, `ecx`. A status never
    /// exceeds 32 bits (the ABI's codes are below 2^32).
    pub(crate) fn answer(&mut self, status: u64, value: u64) {
        self.eax = status as u32;
        self.edx = value as u32;
        self.ecx = (value >> 32) as u32;
    }
}

/// The call the i386 registers `regs` make (kernel side): the number from `eax`, the
/// arguments from `ebx`, `ecx`, `edx`, `esi`, zero-extended (what
/// `irq_router_hypercall_i386` passes to the engine).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
#[unsafe(no_mangle)]
pub extern "C" fn irq_hc_i386_call(regs: IrqI386Regs) -> IrqRawCall {
    regs.call()
}

/// The i386 registers of `call` (guest side) into `*regs`. `IRQ_STATUS_OUT_OF_RANGE`
/// (and `*regs` untouched) if the number or an argument does not fit in 32 bits: no
/// call of ABI version 1 needs more than 32 bits from a 32-bit partition.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
///
/// # Safety
/// `regs` is NULL or valid for writes of an `IrqI386Regs`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_hc_i386_encode(call: IrqRawCall, regs: *mut IrqI386Regs) -> IrqStatus {
    if regs.is_null() || !regs.is_aligned() {
        return IRQ_STATUS_NULL_POINTER;
    }
    let narrow = |v: u64| u32::try_from(v).ok();
    let (Some(eax), Some(ebx), Some(ecx), Some(edx), Some(esi)) = (
        narrow(call.number),
        narrow(call.args[0]),
        narrow(call.args[1]),
        narrow(call.args[2]),
        narrow(call.args[3]),
    ) else {
        return IRQ_STATUS_OUT_OF_RANGE;
    };
    // SAFETY: not NULL, aligned, writable by this function's contract.
    unsafe { regs.write(IrqI386Regs { eax, ebx, ecx, edx, esi }) };
    IRQ_STATUS_OK
}

/// Writes the answer `[status, value]` of a call into the i386 registers `*regs`
/// (kernel side): `eax` the status, `edx` the value's low 32 bits, `ecx` its high 32
/// bits; `ebx` and `esi` unchanged. `IRQ_STATUS_OUT_OF_RANGE` (and `*regs` untouched)
/// for a status past 32 bits (none of the ABI's).
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
///
/// # Safety
/// `regs` is NULL or valid for reads and writes of an `IrqI386Regs`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_hc_i386_answer(
    status: u64,
    value: u64,
    regs: *mut IrqI386Regs,
) -> IrqStatus {
    if regs.is_null() || !regs.is_aligned() {
        return IRQ_STATUS_NULL_POINTER;
    }
    if u32::try_from(status).is_err() {
        return IRQ_STATUS_OUT_OF_RANGE;
    }
    // SAFETY: not NULL, aligned, readable and writable by this function's contract.
    unsafe { (*regs).answer(status, value) };
    IRQ_STATUS_OK
}

/// The answer in the i386 registers `regs` (guest side, after the call): the status from
/// `eax` into `*status`, the value from `edx` (bits 0..32) and `ecx` (bits 32..64) into
/// `*value`.
///
/// ISR: yes. Interrupts off: no. Nests: yes (it touches no router).
///
/// # Safety
/// `status` and `value` are NULL or valid for writes of a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn irq_hc_i386_reply(
    regs: IrqI386Regs,
    status: *mut u64,
    value: *mut u64,
) -> IrqStatus {
    if status.is_null() || !status.is_aligned() || value.is_null() || !value.is_aligned() {
        return IRQ_STATUS_NULL_POINTER;
    }
    // SAFETY: not NULL, aligned, writable by this function's contract.
    unsafe {
        status.write(u64::from(regs.eax));
        value.write(u64::from(regs.edx) | u64::from(regs.ecx) << 32);
    }
    IRQ_STATUS_OK
}

#[cfg(test)]
mod tests {
    use irq_router::hypercall::{CallNumber, ErrorCode};

    use super::{
        IRQ_HC_ACKNOWLEDGE, IRQ_HC_CLOCK_READ, IRQ_HC_CONSOLE_WRITE, IRQ_HC_EXEC_STOP_ERROR,
        IRQ_HC_GET_ABI_VERSION, IRQ_HC_IDLE, IRQ_HC_INTERRUPTS_DISABLE, IRQ_HC_INTERRUPTS_ENABLE,
        IRQ_HC_INTERRUPTS_FLASH, IRQ_HC_INTERRUPTS_SET_LEVEL, IRQ_HC_IRQ_DETACH,
        IRQ_HC_IRQ_REQUEST, IRQ_HC_MASK, IRQ_HC_NOTIFY, IRQ_HC_PING_ANSWER,
        IRQ_HC_REGISTER_FAULT_HANDLER, IRQ_HC_REGISTER_PORT_HANDLER, IRQ_HC_REGISTER_UPCALL,
        IRQ_HC_START_REASON, IRQ_HC_TAKE_COUNT, IRQ_HC_UNMASK, IRQ_HC_UPCALL_RETURN,
    };

    #[test]
    fn call_numbers_are_the_abi() {
        let ours = [
            IRQ_HC_GET_ABI_VERSION,
            IRQ_HC_IRQ_REQUEST,
            IRQ_HC_IRQ_DETACH,
            IRQ_HC_INTERRUPTS_ENABLE,
            IRQ_HC_INTERRUPTS_DISABLE,
            IRQ_HC_INTERRUPTS_FLASH,
            IRQ_HC_INTERRUPTS_SET_LEVEL,
            IRQ_HC_IDLE,
            IRQ_HC_ACKNOWLEDGE,
            IRQ_HC_TAKE_COUNT,
            IRQ_HC_MASK,
            IRQ_HC_UNMASK,
            IRQ_HC_NOTIFY,
            IRQ_HC_CLOCK_READ,
            IRQ_HC_REGISTER_UPCALL,
            IRQ_HC_REGISTER_FAULT_HANDLER,
            IRQ_HC_REGISTER_PORT_HANDLER,
            IRQ_HC_CONSOLE_WRITE,
            IRQ_HC_EXEC_STOP_ERROR,
            IRQ_HC_START_REASON,
            IRQ_HC_UPCALL_RETURN,
            IRQ_HC_PING_ANSWER,
        ];
        assert_eq!(ours.len(), CallNumber::COUNT);
        for (ours, call) in ours.into_iter().zip(CallNumber::ALL) {
            assert_eq!(ours, call.raw(), "{}", call.name());
        }
    }

    #[test]
    fn statuses_are_the_abi() {
        use super::{
            IRQ_HC_STATUS_ALREADY_BOUND, IRQ_HC_STATUS_ALREADY_IN_SERVICE,
            IRQ_HC_STATUS_BAD_ADDRESS, IRQ_HC_STATUS_BUSY, IRQ_HC_STATUS_FAILED,
            IRQ_HC_STATUS_INVALID_ARGUMENT, IRQ_HC_STATUS_MASKED, IRQ_HC_STATUS_NOT_A_CHANNEL,
            IRQ_HC_STATUS_NOT_BOUND, IRQ_HC_STATUS_NOT_CONFIGURED, IRQ_HC_STATUS_NOT_IN_SERVICE,
            IRQ_HC_STATUS_NOT_IN_UPCALL, IRQ_HC_STATUS_NOTHING_PENDING,
            IRQ_HC_STATUS_OUTSIDE_WINDOW, IRQ_HC_STATUS_OVER_BUDGET,
            IRQ_HC_STATUS_PERMISSION_DENIED, IRQ_HC_STATUS_RESERVED_ARGUMENT,
            IRQ_HC_STATUS_SUCCESS, IRQ_HC_STATUS_UNKNOWN_CALL,
        };
        assert_eq!(IRQ_HC_STATUS_SUCCESS, irq_router::hypercall::SUCCESS);
        let ours = [
            IRQ_HC_STATUS_UNKNOWN_CALL,
            IRQ_HC_STATUS_RESERVED_ARGUMENT,
            IRQ_HC_STATUS_INVALID_ARGUMENT,
            IRQ_HC_STATUS_BAD_ADDRESS,
            IRQ_HC_STATUS_PERMISSION_DENIED,
            IRQ_HC_STATUS_NOT_BOUND,
            IRQ_HC_STATUS_ALREADY_BOUND,
            IRQ_HC_STATUS_NOT_IN_SERVICE,
            IRQ_HC_STATUS_NOTHING_PENDING,
            IRQ_HC_STATUS_MASKED,
            IRQ_HC_STATUS_ALREADY_IN_SERVICE,
            IRQ_HC_STATUS_NOT_A_CHANNEL,
            IRQ_HC_STATUS_BUSY,
            IRQ_HC_STATUS_OUTSIDE_WINDOW,
            IRQ_HC_STATUS_NOT_IN_UPCALL,
            IRQ_HC_STATUS_OVER_BUDGET,
            IRQ_HC_STATUS_NOT_CONFIGURED,
            IRQ_HC_STATUS_FAILED,
        ];
        assert_eq!(ours.len(), ErrorCode::COUNT);
        for (ours, code) in ours.into_iter().zip(ErrorCode::ALL) {
            assert_eq!(ours, code.raw(), "{}", code.name());
        }
    }
}
