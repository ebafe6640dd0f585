//! What a C kernel sees of the library's behaviour: the upcall context (`frame`) handed
//! to `inject_upcall` and `upcall_return`, `restart` called outside the library's locks,
//! the start reason and restart cause after `exec_stop_error`, calls outside the window,
//! timer timestamps, virtual interrupts disabled at start, trap delivery without an
//! error port, health records written whole, the i386 convention and the encoders.

mod support;

use core::ffi::c_void;
use core::ptr;
use std::sync::Mutex;

use irq_capi::{
    IRQ_CATCH_UP_REPLAY, IRQ_HC_STATUS_NOT_CONFIGURED, IRQ_HC_STATUS_OUTSIDE_WINDOW,
    IRQ_HC_STATUS_SUCCESS, IRQ_HM_COLD_START, IRQ_HM_DELIVER, IRQ_HM_KIND_COUNT, IRQ_HM_KIND_NONE,
    IRQ_HM_KIND_PARTITION_ERROR, IRQ_HM_KIND_TRAP, IRQ_HM_LOG_LEN, IRQ_MODE_COLD_START,
    IRQ_NO_PARTITION, IRQ_NO_PORT, IRQ_NO_VECTOR, IRQ_PAGE_UPCALL_MASK_OFFSET, IRQ_PORT_COUNTING,
    IRQ_SOURCE_TIMER, IRQ_START_COLD, IRQ_START_REASON_COLD_RESTART, IRQ_START_REASON_FRESH,
    IRQ_STATUS_BUSY, IRQ_STATUS_OK, IRQ_STATUS_OUT_OF_RANGE, IRQ_UPCALL_OK, IrqConfigError,
    IrqHmRecord, IrqI386Regs, IrqKernelOps, IrqPartition, IrqPartitionConfig, IrqPortConfig,
    IrqRawCall, IrqRouter, IrqSystemConfig, IrqUpcall, IrqWindow,
};

/// One router at a time in this test binary, and what its operations saw.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
static ROUTER: Mutex<usize> = Mutex::new(0);
static TURN: Mutex<()> = Mutex::new(());

fn seen(what: String) {
    SEEN.lock().unwrap().push(what);
}

fn take() -> Vec<String> {
    std::mem::take(&mut *SEEN.lock().unwrap())
}

/// The kernel's tick counter.
static NOW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn now(_: *mut c_void) -> u64 {
    NOW.load(std::sync::atomic::Ordering::Relaxed)
}
extern "C" fn vector_op(_: *mut c_void, _: u8) {}
extern "C" fn cpu_op(_: *mut c_void, _: u16) {}
extern "C" fn partition_op(_: *mut c_void, _: IrqPartition) {}
extern "C" fn inject(
    _: *mut c_void,
    p: IrqPartition,
    u: *const IrqUpcall,
    frame: *mut c_void,
) -> u32 {
    // SAFETY: the library's upcall, valid during the call.
    let u = unsafe { *u };
    seen(format!("inject p{p} port {} frame {frame:?} timestamp {}", u.port, u.timestamp));
    IRQ_UPCALL_OK
}
extern "C" fn user_range(_: *mut c_void, _: IrqPartition, _: u64, _: u64) -> u32 {
    1
}
extern "C" fn console(_: *mut c_void, _: IrqPartition, _: u64, len: u64) -> u64 {
    len
}
extern "C" fn restart(_: *mut c_void, p: IrqPartition, mode: u8) {
    // Outside the library's locks: the partition's state is free to read, and already
    // that of the new run.
    let router = *ROUTER.lock().unwrap() as *mut IrqRouter;
    let mut state = 0xff;
    // SAFETY: the out-pointer is a local.
    let status = unsafe { irq_capi::irq_router_mode(router, p, &mut state) };
    seen(format!("restart p{p} mode {mode}: {} {state}", status.0));
}
extern "C" fn stop(_: *mut c_void) {}
extern "C" fn log(_: *mut c_void, record: *const IrqHmRecord) {
    // Inside the library's locks: the partition's state is held.
    // SAFETY: the library's record, valid during the call.
    let record = unsafe { *record };
    let router = *ROUTER.lock().unwrap() as *mut IrqRouter;
    let mut state = 0xff;
    // SAFETY: the out-pointer is a local; irq_router_mode never waits.
    let status = unsafe { irq_capi::irq_router_mode(router, record.partition, &mut state) };
    seen(format!("log kind {} detail {:#x}: {}", record.kind, record.detail, status.0));
}
extern "C" fn upcall_return(_: *mut c_void, p: IrqPartition, frame: *mut c_void) {
    seen(format!("return p{p} frame {frame:?}"));
}

const OPS: IrqKernelOps = IrqKernelOps {
    ctx: ptr::null_mut(),
    now: Some(now),
    kernel_handler: Some(vector_op),
    eoi: Some(vector_op),
    mask: Some(vector_op),
    unmask: Some(vector_op),
    inject_upcall: Some(inject),
    kick: Some(cpu_op),
    wait: Some(partition_op),
    user_range: Some(user_range),
    console_write: Some(console),
    restart: Some(restart),
    idle: Some(partition_op),
    stop_module: Some(stop),
    log: Some(log),
    upcall_return: Some(upcall_return),
};

static PORTS: [IrqPortConfig; 1] = [IrqPortConfig {
    port: 0,
    source: IRQ_SOURCE_TIMER,
    mode: IRQ_PORT_COUNTING,
    source_id: 0,
    masked: 0,
    no_context: 0,
    max: 0,
}];
static WINDOWS: [IrqWindow; 2] = [
    IrqWindow { partition: 0, start: 0, length: 10 },
    IrqWindow { partition: 1, start: 10, length: 10 },
];

/// [`PORTS`], the timer port keeping no latest context (`no_context`).
static NO_CONTEXT_PORTS: [IrqPortConfig; 1] = [IrqPortConfig { no_context: 1, ..PORTS[0] }];

/// Two partitions with a timer port; partition 0 cold-starts on `exec_stop_error` and
/// has its traps delivered to its fault handler, with no error port.
fn create() -> *mut IrqRouter {
    create_with(&PORTS)
}

/// [`create`] with the partitions' ports `ports`.
fn create_with(ports: &'static [IrqPortConfig; 1]) -> *mut IrqRouter {
    NOW.store(0, std::sync::atomic::Ordering::Relaxed);
    let mut health = [0; IRQ_HM_KIND_COUNT];
    health[IRQ_HM_KIND_PARTITION_ERROR as usize] = IRQ_HM_COLD_START;
    health[IRQ_HM_KIND_TRAP as usize] = IRQ_HM_DELIVER;
    let part = IrqPartitionConfig {
        name: c"p".as_ptr(),
        ports: ports.as_ptr(),
        port_count: 1,
        timer_port: 0,
        error_port: IRQ_NO_PORT,
        catch_up: IRQ_CATCH_UP_REPLAY,
        catch_up_max: 0,
        vectors: [0; 4],
        channels: 0,
        ping: ptr::null(),
        health,
        shared_page: ptr::null_mut(),
        restart_limit: 0,
        restart_window: 0,
        levels: ptr::null(),
        level_count: 0,
    };
    let parts = [part, part];
    let config = IrqSystemConfig {
        partitions: parts.as_ptr(),
        partition_count: 2,
        major_frame: 20,
        windows: WINDOWS.as_ptr(),
        window_count: 2,
        routes: ptr::null(),
        route_count: 0,
        clock_vector: IRQ_NO_VECTOR,
        channels: ptr::null(),
        channel_count: 0,
        channel_budgets: ptr::null(),
        channel_budget_count: 0,
    };
    let mut router = ptr::null_mut();
    let mut error = IrqConfigError { kind: 0, table: 0, partition: 0, entry: 0, index: 0 };
    // SAFETY: every pointer is a local that outlives the call.
    let status = unsafe { irq_capi::irq_router_create(&config, &OPS, &mut router, &mut error) };
    assert_eq!(status, IRQ_STATUS_OK, "{error:?}");
    *ROUTER.lock().unwrap() = router as usize;
    router
}

/// Partition `p`'s call `call` with the kernel's frame `frame`: `[status, value]`.
fn call(router: *mut IrqRouter, p: IrqPartition, call: IrqRawCall, frame: usize) -> [u64; 2] {
    let [a0, a1, a2, a3] = call.args;
    let (mut status, mut value) = (u64::MAX, u64::MAX);
    // SAFETY: the out-pointers are locals; the frame is only handed back to the ops.
    let done = unsafe {
        irq_capi::irq_router_hypercall(
            router,
            p,
            call.number,
            a0,
            a1,
            a2,
            a3,
            &mut status,
            &mut value,
            frame as *mut c_void,
        )
    };
    assert_eq!(done, IRQ_STATUS_OK);
    [status, value]
}

#[test]
fn capi_the_frame_goes_to_inject_upcall_and_upcall_return() {
    let _turn = TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let router = create();
    assert_eq!(irq_capi::irq_router_start(router), IRQ_STATUS_OK);
    assert_eq!(
        irq_capi::irq_router_partition_entry(router, 0, 0, 10, ptr::null_mut()),
        IRQ_STATUS_OK
    );
    let mut page = ptr::null_mut();
    // SAFETY: the out-pointer is a local.
    assert_eq!(unsafe { irq_capi::irq_router_shared_page(router, 0, &mut page) }, IRQ_STATUS_OK);
    // Virtual interrupts start disabled: the page says so, and a tick delivers nothing.
    // SAFETY: the library's page, IRQ_PAGE_SIZE bytes.
    assert_eq!(unsafe { page.cast::<u8>().add(IRQ_PAGE_UPCALL_MASK_OFFSET).read() }, 1);
    take();
    NOW.store(1, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(irq_capi::irq_router_tick(router, 1, 0x1000 as *mut c_void), IRQ_STATUS_OK);
    assert!(take().iter().all(|s| !s.starts_with("inject")), "nothing before interrupts_enable");

    // Enabled by a call from the frame at 0x2000: the pending tick goes into that frame;
    // a timer event carries no raise time (0: the page has the clock).
    let _ = call(router, 0, irq_capi::irq_hc_encode_register_upcall(0x1000), 0x2000);
    let [status, _] = call(router, 0, irq_capi::irq_hc_encode_interrupts_enable(), 0x2000);
    assert_eq!(status, IRQ_HC_STATUS_SUCCESS);
    assert_eq!(take(), ["inject p0 port 0 frame 0x2000 timestamp 0"]);
    // The upcall returns from the frame at 0x3000: the kernel restores it there.
    let _ = call(router, 0, irq_capi::irq_hc_encode_take_count(0), 0x3000);
    let [status, _] = call(router, 0, irq_capi::irq_hc_encode_upcall_return(), 0x3000);
    assert_eq!(status, IRQ_HC_STATUS_SUCCESS);
    assert_eq!(take(), ["return p0 frame 0x3000"]);
    assert_eq!(irq_capi::irq_router_destroy(router), IRQ_STATUS_OK);
}

#[test]
fn capi_a_port_without_context_has_no_handler_of_its_own() {
    let _turn = TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for (ports, expected) in
        [(&PORTS, IRQ_HC_STATUS_SUCCESS), (&NO_CONTEXT_PORTS, IRQ_HC_STATUS_NOT_CONFIGURED)]
    {
        let router = create_with(ports);
        assert_eq!(irq_capi::irq_router_start(router), IRQ_STATUS_OK);
        assert_eq!(
            irq_capi::irq_router_partition_entry(router, 0, 0, 10, ptr::null_mut()),
            IRQ_STATUS_OK
        );
        let register = irq_capi::irq_hc_encode_register_port_handler(0, 0x1000);
        assert_eq!(call(router, 0, register, 0), [expected, 0]);
        // Clearing it is always allowed.
        let clear = irq_capi::irq_hc_encode_register_port_handler(0, 0);
        assert_eq!(call(router, 0, clear, 0), [IRQ_HC_STATUS_SUCCESS, 0]);
        assert_eq!(irq_capi::irq_router_destroy(router), IRQ_STATUS_OK);
        take();
    }
}

#[test]
fn capi_restart_runs_outside_the_lock_and_the_cause_is_readable() {
    let _turn = TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let router = create();
    assert_eq!(irq_capi::irq_router_start(router), IRQ_STATUS_OK);
    assert_eq!(
        irq_capi::irq_router_partition_entry(router, 0, 0, 10, ptr::null_mut()),
        IRQ_STATUS_OK
    );
    let [status, value] = call(router, 0, irq_capi::irq_hc_encode_start_reason(), 0);
    assert_eq!(status, IRQ_HC_STATUS_SUCCESS);
    assert_eq!(irq_capi::irq_hc_start_reason(value), IRQ_START_REASON_FRESH);
    assert_eq!(irq_capi::irq_hc_start_reason_kind(value), IRQ_HM_KIND_NONE);
    let mut cause = IrqHmRecord::default();
    // SAFETY: the out-pointer is a local.
    assert_eq!(unsafe { irq_capi::irq_router_restart_cause(router, 0, &mut cause) }, IRQ_STATUS_OK);
    assert_eq!(cause.kind, IRQ_HM_KIND_NONE);
    take();
    let _ = call(router, 0, irq_capi::irq_hc_encode_exec_stop_error(0x77), 0);
    // The record is logged while the library holds the partition (BUSY); the restart is
    // asked for once it let go (OK, and the new run's mode: cold start).
    let ok = IRQ_STATUS_OK.0;
    let expected = [
        format!("log kind {IRQ_HM_KIND_PARTITION_ERROR} detail 0x77: {}", IRQ_STATUS_BUSY.0),
        format!("restart p0 mode {IRQ_START_COLD}: {ok} {IRQ_MODE_COLD_START}"),
    ];
    assert_eq!(take(), expected);

    // Between the restart and the next entry: outside its window.
    let [status, _] = call(router, 0, irq_capi::irq_hc_encode_clock_read(), 0);
    assert_eq!(status, IRQ_HC_STATUS_OUTSIDE_WINDOW);
    assert_eq!(
        irq_capi::irq_router_partition_entry(router, 0, 1, 9, ptr::null_mut()),
        IRQ_STATUS_OK
    );
    let [status, value] = call(router, 0, irq_capi::irq_hc_encode_start_reason(), 0);
    assert_eq!(status, IRQ_HC_STATUS_SUCCESS);
    assert_eq!(irq_capi::irq_hc_start_reason(value), IRQ_START_REASON_COLD_RESTART);
    assert_eq!(irq_capi::irq_hc_start_reason_kind(value), IRQ_HM_KIND_PARTITION_ERROR);
    // SAFETY: the out-pointer is a local.
    assert_eq!(unsafe { irq_capi::irq_router_restart_cause(router, 0, &mut cause) }, IRQ_STATUS_OK);
    assert_eq!(
        (cause.kind, cause.action, cause.detail),
        (IRQ_HM_KIND_PARTITION_ERROR, IRQ_HM_COLD_START, 0x77)
    );
    assert_eq!(cause.partition, 0);

    // Partition 1, outside its window (partition 0's runs): refused.
    let [status, _] = call(router, 1, irq_capi::irq_hc_encode_clock_read(), 0);
    assert_eq!(status, IRQ_HC_STATUS_OUTSIDE_WINDOW);
    assert_eq!(irq_capi::irq_router_destroy(router), IRQ_STATUS_OK);
}

#[test]
fn capi_a_trap_is_delivered_without_an_error_port_and_records_are_written_whole() {
    let _turn = TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let router = create();
    assert_eq!(irq_capi::irq_router_start(router), IRQ_STATUS_OK);
    assert_eq!(
        irq_capi::irq_router_partition_entry(router, 0, 0, 10, ptr::null_mut()),
        IRQ_STATUS_OK
    );
    let _ = call(router, 0, irq_capi::irq_hc_encode_register_fault_handler(0x5000), 0);
    take();
    assert_eq!(
        irq_capi::irq_router_trap(router, 0, 14, 2, 0xdead, 0x6000 as *mut c_void),
        IRQ_STATUS_OK
    );
    let seen = take();
    assert!(seen.contains(&"inject p0 port -1 frame 0x6000 timestamp 0".to_owned()), "{seen:?}");

    let mut records = [0xaau8; IRQ_HM_LOG_LEN * size_of::<IrqHmRecord>()];
    let mut count = 0u32;
    // SAFETY: `records` holds IRQ_HM_LOG_LEN records' bytes, aligned below.
    let status = unsafe {
        let aligned = records.as_mut_ptr().align_offset(8);
        assert_eq!(aligned, 0, "the buffer is aligned for records");
        irq_capi::irq_router_health_log(
            router,
            0,
            records.as_mut_ptr().cast(),
            (IRQ_HM_LOG_LEN - 1) as u32,
            &mut count,
        )
    };
    assert_eq!((status, count), (IRQ_STATUS_OK, 1));
    let record = &records[..size_of::<IrqHmRecord>()];
    assert_eq!(&record[14..16], [0, 0], "the reserved bytes are written (0)");
    assert_eq!(record[12], IRQ_HM_KIND_TRAP);
    assert_eq!(irq_capi::irq_router_destroy(router), IRQ_STATUS_OK);
}

#[test]
fn capi_module_records_use_no_partition() {
    let _turn = TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let router = create();
    let mut count = 7u32;
    // SAFETY: the out-pointer is a local.
    let status = unsafe {
        irq_capi::irq_router_health_log(router, IRQ_NO_PARTITION, ptr::null_mut(), 0, &mut count)
    };
    assert_eq!((status, count), (IRQ_STATUS_OK, 0));
    assert_eq!(irq_capi::irq_router_destroy(router), IRQ_STATUS_OK);
}

#[test]
fn capi_i386_convention_round_trips() {
    // Guest: a call into registers; kernel: registers into the call.
    let call = irq_capi::irq_hc_encode_register_port_handler(3, 0x8000_1000);
    let mut regs = IrqI386Regs::default();
    // SAFETY: the out-pointer is a local.
    assert_eq!(unsafe { irq_capi::irq_hc_i386_encode(call, &mut regs) }, IRQ_STATUS_OK);
    assert_eq!(regs, IrqI386Regs { eax: 16, ebx: 3, ecx: 0x8000_1000, edx: 0, esi: 0 });
    assert_eq!(irq_capi::irq_hc_i386_call(regs), call);
    // A 64-bit address does not fit a 32-bit partition's registers.
    let wide = irq_capi::irq_hc_encode_register_upcall(1 << 32);
    // SAFETY: as above.
    assert_eq!(unsafe { irq_capi::irq_hc_i386_encode(wide, &mut regs) }, IRQ_STATUS_OUT_OF_RANGE);
    // Kernel: a 64-bit answer into eax, edx (low), ecx (high); guest: back.
    let value = (3u64 << 32) | 8;
    // SAFETY: as above.
    assert_eq!(unsafe { irq_capi::irq_hc_i386_answer(0, value, &mut regs) }, IRQ_STATUS_OK);
    assert_eq!((regs.eax, regs.edx, regs.ecx, regs.ebx), (0, 8, 3, 3));
    let (mut status, mut back) = (9, 9);
    // SAFETY: the out-pointers are locals.
    assert_eq!(unsafe { irq_capi::irq_hc_i386_reply(regs, &mut status, &mut back) }, IRQ_STATUS_OK);
    assert_eq!((status, back), (0, value));
}

#[test]
fn capi_i386_hypercall_answers_in_registers() {
    let _turn = TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let router = create();
    assert_eq!(irq_capi::irq_router_start(router), IRQ_STATUS_OK);
    assert_eq!(
        irq_capi::irq_router_partition_entry(router, 0, 0, 10, ptr::null_mut()),
        IRQ_STATUS_OK
    );
    let mut regs = IrqI386Regs::default();
    // SAFETY: the out-pointer is a local.
    unsafe {
        assert_eq!(
            irq_capi::irq_hc_i386_encode(irq_capi::irq_hc_encode_start_reason(), &mut regs),
            IRQ_STATUS_OK
        );
        assert_eq!(
            irq_capi::irq_router_hypercall_i386(router, 0, &mut regs, ptr::null_mut()),
            IRQ_STATUS_OK
        );
    }
    // Fresh: reason 1 in bits 32..40, that is ecx = 1.
    assert_eq!((regs.eax, regs.edx, regs.ecx), (0, 0, IRQ_START_REASON_FRESH));
    // A successful upcall return leaves the registers to the restored frame.
    let before = IrqI386Regs { eax: 20, ebx: 0, ecx: 0, edx: 0, esi: 0 };
    let mut regs = before;
    // SAFETY: as above.
    unsafe { irq_capi::irq_router_hypercall_i386(router, 0, &mut regs, ptr::null_mut()) };
    assert_eq!(regs.eax, 15, "not in an upcall: answered NotInUpcall");
    assert_eq!(irq_capi::irq_router_destroy(router), IRQ_STATUS_OK);
}

#[test]
fn capi_every_encoder_makes_its_call() {
    use irq_router::hypercall::{RawCall, Request, decode};
    let calls = [
        irq_capi::irq_hc_encode_abi_version(),
        irq_capi::irq_hc_encode_irq_request(0x23, 1),
        irq_capi::irq_hc_encode_irq_detach(0x23),
        irq_capi::irq_hc_encode_interrupts_enable(),
        irq_capi::irq_hc_encode_interrupts_disable(),
        irq_capi::irq_hc_encode_interrupts_flash(),
        irq_capi::irq_hc_encode_interrupts_set_level(1),
        irq_capi::irq_hc_encode_idle(),
        irq_capi::irq_hc_encode_acknowledge(1),
        irq_capi::irq_hc_encode_take_count(1),
        irq_capi::irq_hc_encode_mask(1),
        irq_capi::irq_hc_encode_unmask(1),
        irq_capi::irq_hc_encode_notify(1),
        irq_capi::irq_hc_encode_clock_read(),
        irq_capi::irq_hc_encode_register_upcall(0x1000),
        irq_capi::irq_hc_encode_register_fault_handler(0x1000),
        irq_capi::irq_hc_encode_register_port_handler(1, 0x1000),
        irq_capi::irq_hc_encode_console_write(0x1000, 4),
        irq_capi::irq_hc_encode_exec_stop_error(0x77),
        irq_capi::irq_hc_encode_start_reason(),
        irq_capi::irq_hc_encode_upcall_return(),
        irq_capi::irq_hc_encode_ping_answer(),
    ];
    assert_eq!(calls.len(), irq_router::hypercall::CallNumber::COUNT);
    for (n, call) in calls.iter().enumerate() {
        assert_eq!(call.number, n as u64);
        let request = decode::<1>(&RawCall { number: call.number, args: call.args });
        assert!(request.is_ok(), "call {n} decodes: {request:?}");
    }
    let exec = decode::<1>(&RawCall { number: 18, args: calls[18].args });
    assert!(matches!(exec, Ok(Request::ExecStopError { code: 0x77 })));
    assert_eq!(irq_capi::irq_capi_version(), irq_capi::IRQ_CAPI_VERSION);
}
