//! The C API called from Rust as a C kernel would: bad pointers, bad handles, values out
//! of range and invalid configurations give error codes naming the entry; the pool is
//! fixed and its slots are reused; a destroyed router's handle stays refused after its
//! slot is reused; shared pages are alone in their 4 KiB frames; misaligned pointers in
//! the configuration are refused.

mod support;

use core::ffi::{CStr, c_void};
use core::ptr;
use std::sync::{Mutex, MutexGuard};

use support::quiet::QUIET_OPS;

use irq_capi::{
    IRQ_CATCH_UP_REPLAY, IRQ_HC_STATUS_SUCCESS, IRQ_HC_STATUS_UNKNOWN_CALL, IRQ_HM_KIND_COUNT,
    IRQ_MAX_PORTS, IRQ_MAX_PRIORITY_LEVELS, IRQ_MAX_ROUTERS, IRQ_NO_PARTITION, IRQ_NO_PORT,
    IRQ_NO_VECTOR, IRQ_PORT_COUNTING, IRQ_SHARING_SHARED, IRQ_SOURCE_LINE, IRQ_SOURCE_TIMER,
    IRQ_TRIGGER_EDGE, IrqChannel, IrqChannelBudget, IrqConfigError, IrqKernelOps,
    IrqPartitionConfig, IrqPing, IrqPortConfig, IrqPriorityLevel, IrqRoute, IrqRouter, IrqStatus,
    IrqSystemConfig, IrqTarget, IrqWindow,
};

/// The pool is one per process: tests that create routers take turns.
static POOL: Mutex<()> = Mutex::new(());

fn pool() -> MutexGuard<'static, ()> {
    POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const SHARED: u16 = 0x23;

static PORTS: [IrqPortConfig; 2] = [
    IrqPortConfig {
        port: 0,
        source: IRQ_SOURCE_TIMER,
        mode: IRQ_PORT_COUNTING,
        source_id: 0,
        masked: 0,
        no_context: 0,
        max: 0,
    },
    IrqPortConfig {
        port: 1,
        source: IRQ_SOURCE_LINE,
        mode: IRQ_PORT_COUNTING,
        source_id: SHARED,
        masked: 0,
        no_context: 0,
        max: 0,
    },
];
static WINDOWS: [IrqWindow; 2] = [
    IrqWindow { partition: 0, start: 0, length: 10 },
    IrqWindow { partition: 1, start: 10, length: 10 },
];
static TARGETS: [IrqTarget; 2] =
    [IrqTarget { partition: 0, port: 1 }, IrqTarget { partition: 1, port: 1 }];

fn partition(ports: &[IrqPortConfig]) -> IrqPartitionConfig {
    IrqPartitionConfig {
        name: c"part".as_ptr(),
        ports: ports.as_ptr(),
        port_count: ports.len() as u32,
        timer_port: 0,
        error_port: IRQ_NO_PORT,
        catch_up: IRQ_CATCH_UP_REPLAY,
        catch_up_max: 0,
        vectors: [1 << SHARED, 0, 0, 0],
        channels: 0,
        ping: ptr::null(),
        health: [0; IRQ_HM_KIND_COUNT],
        shared_page: ptr::null_mut(),
        restart_limit: 0,
        restart_window: 0,
        levels: ptr::null(),
        level_count: 0,
    }
}

fn route(targets: &[IrqTarget]) -> IrqRoute {
    IrqRoute {
        vector: SHARED,
        sharing: IRQ_SHARING_SHARED,
        trigger: IRQ_TRIGGER_EDGE,
        kernel_first: 0,
        targets: targets.as_ptr(),
        target_count: targets.len() as u32,
        budget: 0,
        ack_timeout: 0,
    }
}

fn system(partitions: &[IrqPartitionConfig], routes: &[IrqRoute]) -> IrqSystemConfig {
    IrqSystemConfig {
        partitions: partitions.as_ptr(),
        partition_count: partitions.len() as u32,
        major_frame: 20,
        windows: WINDOWS.as_ptr(),
        window_count: 2,
        routes: routes.as_ptr(),
        route_count: routes.len() as u32,
        clock_vector: IRQ_NO_VECTOR,
        channels: ptr::null(),
        channel_count: 0,
        channel_budgets: ptr::null(),
        channel_budget_count: 0,
    }
}

/// Creates a router; the status and the error.
fn create(
    config: &IrqSystemConfig,
    ops: &IrqKernelOps,
) -> (IrqStatus, *mut IrqRouter, IrqConfigError) {
    let mut router = ptr::null_mut();
    let mut error = IrqConfigError {
        kind: support::kind::Other,
        table: support::table::Operations,
        partition: 7,
        entry: 7,
        index: 7,
    };
    // SAFETY: every pointer is valid for the call: `config`'s arrays are alive in the
    // caller, the out-pointers are locals.
    let status = unsafe { irq_capi::irq_router_create(config, ops, &mut router, &mut error) };
    (status, router, error)
}

fn valid() -> (IrqStatus, *mut IrqRouter, IrqConfigError) {
    let parts = [partition(&PORTS), partition(&PORTS)];
    let routes = [route(&TARGETS)];
    create(&system(&parts, &routes), &QUIET_OPS)
}

fn name(ptr: *const core::ffi::c_char) -> &'static str {
    // SAFETY: the library's names are static NUL-terminated strings.
    unsafe { CStr::from_ptr(ptr) }.to_str().unwrap()
}

#[test]
fn capi_null_pointers_and_foreign_handles_are_errors_not_crashes() {
    let _pool = pool();
    let mut router = ptr::null_mut();
    let mut error = IrqConfigError {
        kind: support::kind::Other,
        table: support::table::Routes,
        partition: 3,
        entry: 3,
        index: 3,
    };
    // SAFETY: NULL pointers are allowed; the out-pointers are locals.
    let status =
        unsafe { irq_capi::irq_router_create(ptr::null(), &QUIET_OPS, &mut router, &mut error) };
    assert_eq!(status, irq_capi::IRQ_STATUS_NULL_POINTER);
    assert_eq!(error.kind, support::kind::None, "the error is always written");
    // SAFETY: as above.
    let status = unsafe {
        irq_capi::irq_router_create(ptr::null(), ptr::null(), ptr::null_mut(), ptr::null_mut())
    };
    assert_eq!(status, irq_capi::IRQ_STATUS_NULL_POINTER);

    // A handle that is none of the pool's is refused without being dereferenced.
    let mut not_a_router = [0u8; 64];
    let foreign = not_a_router.as_mut_ptr().cast::<IrqRouter>();
    for handle in [ptr::null_mut(), foreign, ptr::dangling_mut::<IrqRouter>()] {
        assert_eq!(
            irq_capi::irq_router_hardware_irq(handle, 0x20, ptr::null_mut()),
            irq_capi::IRQ_STATUS_BAD_HANDLE
        );
        assert_eq!(
            irq_capi::irq_router_tick(handle, 1, ptr::null_mut()),
            irq_capi::IRQ_STATUS_BAD_HANDLE
        );
        assert_eq!(irq_capi::irq_router_start(handle), irq_capi::IRQ_STATUS_BAD_HANDLE);
        assert_eq!(irq_capi::irq_router_destroy(handle), irq_capi::IRQ_STATUS_BAD_HANDLE);
    }
    assert_eq!(name(irq_capi::irq_status_name(irq_capi::IRQ_STATUS_OK)), "IRQ_STATUS_OK");
    assert_eq!(name(irq_capi::irq_status_name(IrqStatus(9))), "IRQ_STATUS_UNKNOWN");
    assert_eq!(
        name(irq_capi::irq_config_error_name(27)),
        "IRQ_CONFIG_ERROR_KIND_ROUTE_PORT_NOT_BOUND"
    );
    assert_eq!(name(irq_capi::irq_config_error_name(1000)), "IRQ_CONFIG_ERROR_KIND_UNKNOWN");
}

#[test]
fn capi_out_of_range_values_are_errors() {
    let _pool = pool();
    let (status, router, _) = valid();
    assert_eq!(status, irq_capi::IRQ_STATUS_OK);
    assert_eq!(irq_capi::irq_router_start(router), irq_capi::IRQ_STATUS_OK);
    assert_eq!(
        irq_capi::irq_router_hardware_irq(router, 256, ptr::null_mut()),
        irq_capi::IRQ_STATUS_OUT_OF_RANGE
    );
    assert_eq!(
        irq_capi::irq_router_partition_entry(router, 2, 0, 10, ptr::null_mut()),
        irq_capi::IRQ_STATUS_BAD_PARTITION
    );
    assert_eq!(
        irq_capi::irq_router_partition_exit(router, u32::MAX, 0),
        irq_capi::IRQ_STATUS_BAD_PARTITION
    );
    assert_eq!(
        irq_capi::irq_router_trap(router, 0, 300, 0, 0, ptr::null_mut()),
        irq_capi::IRQ_STATUS_OUT_OF_RANGE
    );
    assert_eq!(
        irq_capi::irq_router_resume(router, 8, ptr::null_mut()),
        irq_capi::IRQ_STATUS_BAD_PARTITION
    );
    let (mut st, mut value) = (0u64, 0u64);
    // SAFETY: out-pointers are locals or NULL.
    unsafe {
        assert_eq!(
            irq_capi::irq_router_hypercall(
                router,
                0,
                0,
                0,
                0,
                0,
                0,
                ptr::null_mut(),
                &mut value,
                ptr::null_mut()
            ),
            irq_capi::IRQ_STATUS_NULL_POINTER
        );
        assert_eq!(
            irq_capi::irq_router_hypercall(
                router,
                5,
                0,
                0,
                0,
                0,
                0,
                &mut st,
                &mut value,
                ptr::null_mut()
            ),
            irq_capi::IRQ_STATUS_BAD_PARTITION
        );
        // An untrusted call that does not decode is answered (and logged), not refused:
        // from partition 1 inside its window.
        assert_eq!(
            irq_capi::irq_router_partition_entry(router, 1, 10, 10, ptr::null_mut()),
            irq_capi::IRQ_STATUS_OK
        );
        assert_eq!(
            irq_capi::irq_router_hypercall(
                router,
                1,
                9999,
                1,
                2,
                3,
                4,
                &mut st,
                &mut value,
                ptr::null_mut()
            ),
            irq_capi::IRQ_STATUS_OK
        );
        assert_eq!((st, value), (IRQ_HC_STATUS_UNKNOWN_CALL, 0));
        assert_eq!(
            irq_capi::irq_router_hypercall(
                router,
                1,
                0,
                0,
                0,
                0,
                0,
                &mut st,
                &mut value,
                ptr::null_mut()
            ),
            irq_capi::IRQ_STATUS_OK
        );
        assert_eq!((st, value), (IRQ_HC_STATUS_SUCCESS, 1), "abi_version");
        let (mut total, mut dropped) = (0, 0);
        assert_eq!(
            irq_capi::irq_router_health_counts(router, 1, &mut total, &mut dropped),
            irq_capi::IRQ_STATUS_OK
        );
        assert_eq!((total, dropped), (1, 0));
        assert_eq!(
            irq_capi::irq_router_health_counts(
                router,
                IRQ_NO_PARTITION - 1,
                &mut total,
                &mut dropped
            ),
            irq_capi::IRQ_STATUS_BAD_PARTITION
        );
        let mut count = 99;
        assert_eq!(
            irq_capi::irq_router_health_log(
                router,
                IRQ_NO_PARTITION,
                ptr::null_mut(),
                0,
                &mut count
            ),
            irq_capi::IRQ_STATUS_OK
        );
        assert_eq!(count, 0);
        assert_eq!(
            irq_capi::irq_router_health_log(router, 0, ptr::null_mut(), 4, &mut count),
            irq_capi::IRQ_STATUS_NULL_POINTER
        );
        let mut page = ptr::null_mut();
        assert_eq!(irq_capi::irq_router_shared_page(router, 0, &mut page), irq_capi::IRQ_STATUS_OK);
        assert!(!page.is_null());
        let mut mode = 0xff;
        assert_eq!(irq_capi::irq_router_mode(router, 1, &mut mode), irq_capi::IRQ_STATUS_OK);
        assert_eq!(mode, irq_capi::IRQ_MODE_COLD_START);
    }
    assert_eq!(irq_capi::irq_router_destroy(router), irq_capi::IRQ_STATUS_OK);
    assert_eq!(
        irq_capi::irq_router_destroy(router),
        irq_capi::IRQ_STATUS_BAD_HANDLE,
        "destroyed twice"
    );
}

/// What `irq_router_create` says about a configuration.
fn refusal(config: &IrqSystemConfig) -> (u32, u32, i64, i32, i32) {
    let (status, router, e) = create(config, &QUIET_OPS);
    assert_eq!(status, irq_capi::IRQ_STATUS_INVALID_CONFIG, "{e:?}");
    assert!(router.is_null());
    let partition = if e.partition == IRQ_NO_PARTITION { -1 } else { i64::from(e.partition) };
    (e.kind, e.table, partition, e.entry, e.index)
}

#[test]
fn capi_invalid_configurations_are_refused_naming_the_entry() {
    use support::kind as K;
    use support::table as T;
    let _pool = pool();
    let parts = [partition(&PORTS), partition(&PORTS)];
    let routes = [route(&TARGETS)];

    let none: [IrqPartitionConfig; 0] = [];
    assert_eq!(refusal(&system(&none, &routes)), (K::PartitionCount, T::System, -1, -1, -1));

    let mut bad_source = PORTS;
    bad_source[1].source = 0;
    let p = [partition(&PORTS), partition(&bad_source)];
    assert_eq!(refusal(&system(&p, &routes)), (K::BadValue, T::Ports, 1, 1, -1));

    let duplicate = [PORTS[0], PORTS[1], PORTS[0]];
    let p = [partition(&duplicate), partition(&PORTS)];
    assert_eq!(refusal(&system(&p, &routes)), (K::DuplicatePort, T::Ports, 0, 2, -1));

    let too_many = [PORTS[0]; IRQ_MAX_PORTS + 1];
    let p = [partition(&PORTS), partition(&too_many)];
    assert_eq!(refusal(&system(&p, &routes)), (K::TooMany, T::Ports, 1, -1, -1));

    let mut no_timer = [partition(&PORTS), partition(&PORTS)];
    no_timer[1].timer_port = 1;
    assert_eq!(refusal(&system(&no_timer, &routes)), (K::TimerPort, T::Partitions, 1, 1, -1));

    let mut bad_health = [partition(&PORTS), partition(&PORTS)];
    bad_health[0].health[3] = 77;
    assert_eq!(refusal(&system(&bad_health, &routes)), (K::BadValue, T::Partitions, -1, 0, 3));

    let mut bad_page = [partition(&PORTS), partition(&PORTS)];
    let mut page = [0u64; 9];
    bad_page[1].shared_page = page.as_mut_ptr().cast::<u8>().wrapping_add(1).cast();
    assert_eq!(refusal(&system(&bad_page, &routes)), (K::BadPage, T::Partitions, -1, 1, -1));

    let mut windows = system(&parts, &routes);
    windows.windows = ptr::null();
    assert_eq!(refusal(&windows), (K::NullTable, T::Windows, -1, -1, -1));
    let overlap = [WINDOWS[0], IrqWindow { partition: 1, start: 5, length: 5 }];
    windows.windows = overlap.as_ptr();
    assert_eq!(refusal(&windows), (K::WindowOverlaps, T::Windows, -1, 1, -1));
    let unknown = [WINDOWS[0], IrqWindow { partition: 2, start: 10, length: 5 }];
    windows.windows = unknown.as_ptr();
    assert_eq!(refusal(&windows), (K::WindowUnknownPartition, T::Windows, -1, 1, -1));

    let stranger = [TARGETS[0], IrqTarget { partition: 5, port: 1 }];
    assert_eq!(
        refusal(&system(&parts, &[route(&stranger)])),
        (K::RouteUnknownPartition, T::Routes, -1, 0, 1)
    );
    let unbound = [TARGETS[0], IrqTarget { partition: 1, port: 0 }];
    assert_eq!(
        refusal(&system(&parts, &[route(&TARGETS), route(&unbound)])),
        (K::RouteDuplicateVector, T::Routes, -1, 1, -1)
    );
    assert_eq!(
        refusal(&system(&parts, &[route(&unbound)])),
        (K::RoutePortNotBound, T::Routes, -1, 0, 1)
    );
    let mut wide = route(&TARGETS);
    wide.vector = 256;
    assert_eq!(refusal(&system(&parts, &[wide])), (K::BadValue, T::Routes, -1, 0, -1));

    let mut clock = system(&parts, &routes);
    clock.clock_vector = 300;
    assert_eq!(refusal(&clock), (K::BadValue, T::System, -1, -1, -1));

    let channel = [IrqChannel {
        source_partition: 0,
        source_port: 5,
        destination_partition: 3,
        destination_port: 5,
    }];
    let mut channels = system(&parts, &routes);
    channels.channels = channel.as_ptr();
    channels.channel_count = 1;
    assert_eq!(refusal(&channels), (K::ChannelPartition, T::Channels, -1, 0, 1));

    // A NULL function in the kernel's table names its field.
    let mut ops = QUIET_OPS;
    ops.log = None;
    let (status, router, e) = create(&system(&parts, &routes), &ops);
    assert_eq!((status, router.is_null()), (irq_capi::IRQ_STATUS_MISSING_OPERATION, true));
    assert_eq!((e.table, e.entry), (T::Operations, 13));

    // Nothing was left claimed by the refusals.
    let (status, router, e) = valid();
    assert_eq!((status, e.kind), (irq_capi::IRQ_STATUS_OK, K::None));
    assert_eq!(irq_capi::irq_router_destroy(router), irq_capi::IRQ_STATUS_OK);
}

#[test]
fn capi_priority_levels_are_taken_and_checked_naming_the_level() {
    use support::kind as K;
    use support::table as T;
    let _pool = pool();
    let routes = [route(&TARGETS)];
    let level = |start, end| IrqPriorityLevel { start, end };
    let with = |levels: &[IrqPriorityLevel]| IrqPartitionConfig {
        levels: levels.as_ptr(),
        level_count: levels.len() as u32,
        ..partition(&PORTS)
    };

    let good = [level(0, 4), level(4, 64)];
    let parts = [with(&good), partition(&PORTS)];
    let (status, router, e) = create(&system(&parts, &routes), &QUIET_OPS);
    assert_eq!((status, e.kind), (irq_capi::IRQ_STATUS_OK, K::None), "{e:?}");
    assert_eq!(irq_capi::irq_router_destroy(router), irq_capi::IRQ_STATUS_OK);

    let overlapping = [level(0, 4), level(2, 6)];
    let parts = [partition(&PORTS), with(&overlapping)];
    assert_eq!(refusal(&system(&parts, &routes)), (K::LevelOrder, T::Levels, 1, 1, -1));

    let past_the_end = [level(0, 65)];
    let parts = [with(&past_the_end), partition(&PORTS)];
    assert_eq!(refusal(&system(&parts, &routes)), (K::LevelRange, T::Levels, 0, 0, -1));

    let empty = [level(3, 3)];
    let parts = [with(&empty), partition(&PORTS)];
    assert_eq!(refusal(&system(&parts, &routes)), (K::LevelRange, T::Levels, 0, 0, -1));

    let too_many: Vec<_> = (0..=IRQ_MAX_PRIORITY_LEVELS as u16).map(|p| level(p, p + 1)).collect();
    let parts = [partition(&PORTS), with(&too_many)];
    assert_eq!(refusal(&system(&parts, &routes)), (K::TooMany, T::Levels, 1, -1, -1));

    let mut null = [partition(&PORTS), partition(&PORTS)];
    null[0].level_count = 1;
    assert_eq!(refusal(&system(&null, &routes)), (K::NullTable, T::Levels, 0, -1, -1));
}

#[test]
fn capi_the_pool_is_fixed_and_its_slots_are_reused() {
    let _pool = pool();
    let routers: Vec<_> = (0..IRQ_MAX_ROUTERS).map(|_| valid()).collect();
    for (status, router, _) in &routers {
        assert_eq!(*status, irq_capi::IRQ_STATUS_OK);
        assert!(!router.is_null());
    }
    let (status, router, _) = valid();
    assert_eq!((status, router.is_null()), (irq_capi::IRQ_STATUS_POOL_EXHAUSTED, true));
    assert_eq!(irq_capi::irq_router_destroy(routers[0].1), irq_capi::IRQ_STATUS_OK);
    let (status, again, _) = valid();
    assert_eq!(status, irq_capi::IRQ_STATUS_OK);
    // The freed slot: the pool is full again. Its handle is a new one (the slot's next
    // generation), and the destroyed router's handle stays refused.
    let (status, none, _) = valid();
    assert_eq!(
        (status, none.is_null()),
        (irq_capi::IRQ_STATUS_POOL_EXHAUSTED, true),
        "the freed slot"
    );
    assert_ne!(again, routers[0].1, "a new generation");
    assert_eq!(irq_capi::irq_router_start(routers[0].1), irq_capi::IRQ_STATUS_BAD_HANDLE);
    assert_eq!(irq_capi::irq_router_destroy(again), irq_capi::IRQ_STATUS_OK);
    for (_, router, _) in &routers[1..] {
        assert_eq!(irq_capi::irq_router_destroy(*router), irq_capi::IRQ_STATUS_OK);
    }
}

/// Every entry point with a handle, on `handle`: the statuses.
fn every_call(handle: *mut IrqRouter) -> Vec<IrqStatus> {
    let (mut st, mut value, mut mode, mut stopped) = (0u64, 0u64, 0u8, 0u8);
    let (mut total, mut dropped, mut count) = (0u64, 0u64, 0u32);
    let mut page = ptr::null_mut();
    // SAFETY: every out-pointer is a local.
    unsafe {
        vec![
            irq_capi::irq_router_start(handle),
            irq_capi::irq_router_hardware_irq(handle, u32::from(SHARED), ptr::null_mut()),
            irq_capi::irq_router_tick(handle, 1, ptr::null_mut()),
            irq_capi::irq_router_partition_entry(handle, 0, 0, 10, ptr::null_mut()),
            irq_capi::irq_router_partition_exit(handle, 0, 10),
            irq_capi::irq_router_resume(handle, 0, ptr::null_mut()),
            irq_capi::irq_router_trap(handle, 0, 14, 0, 0, ptr::null_mut()),
            irq_capi::irq_router_hypercall(
                handle,
                0,
                0,
                0,
                0,
                0,
                0,
                &mut st,
                &mut value,
                ptr::null_mut(),
            ),
            irq_capi::irq_router_shared_page(handle, 0, &mut page),
            irq_capi::irq_router_mode(handle, 0, &mut mode),
            irq_capi::irq_router_stopped(handle, &mut stopped),
            irq_capi::irq_router_health_log(handle, 0, ptr::null_mut(), 0, &mut count),
            irq_capi::irq_router_health_counts(handle, 0, &mut total, &mut dropped),
        ]
    }
}

#[test]
fn capi_a_destroyed_handle_is_refused_after_its_slot_is_reused() {
    let _pool = pool();
    // Fill the pool so that the next router must take the freed slot.
    let (status, old, _) = valid();
    assert_eq!(status, irq_capi::IRQ_STATUS_OK);
    let others: Vec<_> = (1..IRQ_MAX_ROUTERS).map(|_| valid()).collect();
    assert!(others.iter().all(|(status, _, _)| *status == irq_capi::IRQ_STATUS_OK));
    assert!(every_call(old).iter().all(|s| *s == irq_capi::IRQ_STATUS_OK), "{:?}", every_call(old));

    assert_eq!(irq_capi::irq_router_destroy(old), irq_capi::IRQ_STATUS_OK);
    let (status, new, _) = valid();
    assert_eq!(status, irq_capi::IRQ_STATUS_OK, "the freed slot (every other one is taken)");
    assert_ne!(new, old);

    // The old handle drives nothing: every call refuses it, destroy included, and the
    // router now in its slot is untouched.
    assert!(
        every_call(old).iter().all(|s| *s == irq_capi::IRQ_STATUS_BAD_HANDLE),
        "{:?}",
        every_call(old)
    );
    assert_eq!(irq_capi::irq_router_destroy(old), irq_capi::IRQ_STATUS_BAD_HANDLE);
    let mut mode = 0xff;
    // SAFETY: the out-pointer is a local.
    assert_eq!(unsafe { irq_capi::irq_router_mode(new, 0, &mut mode) }, irq_capi::IRQ_STATUS_OK);
    assert_eq!(mode, irq_capi::IRQ_MODE_COLD_START, "the new router was not started");
    assert!(every_call(new).iter().all(|s| *s == irq_capi::IRQ_STATUS_OK));

    // The documented wrap: after IRQ_HANDLE_GENERATIONS reuses of the slot, the handle
    // of the first generation names the live router again.
    assert_eq!(irq_capi::irq_router_destroy(new), irq_capi::IRQ_STATUS_OK);
    let mut latest = ptr::null_mut();
    for _ in 1..irq_capi::IRQ_HANDLE_GENERATIONS - 1 {
        let (status, router, _) = valid();
        assert_eq!(status, irq_capi::IRQ_STATUS_OK);
        assert_ne!(router, old);
        assert_eq!(irq_capi::irq_router_start(old), irq_capi::IRQ_STATUS_BAD_HANDLE);
        assert_eq!(irq_capi::irq_router_destroy(router), irq_capi::IRQ_STATUS_OK);
        latest = router;
    }
    assert_eq!(irq_capi::irq_router_start(latest), irq_capi::IRQ_STATUS_BAD_HANDLE);
    let (status, wrapped, _) = valid();
    assert_eq!((status, wrapped), (irq_capi::IRQ_STATUS_OK, old));
    assert_eq!(irq_capi::irq_router_destroy(wrapped), irq_capi::IRQ_STATUS_OK);
    for (_, router, _) in others {
        assert_eq!(irq_capi::irq_router_destroy(router), irq_capi::IRQ_STATUS_OK);
    }
}

const FRAME: usize = irq_capi::IRQ_PAGE_ALIGN;

/// Memory for pages the kernel provides: 4 KiB frames.
#[repr(C, align(4096))]
struct Frames([u8; 3 * FRAME]);

#[test]
fn capi_library_pages_are_alone_in_their_frames() {
    let _pool = pool();
    assert_eq!(FRAME, 4096);
    let (status, router, _) = valid();
    assert_eq!(status, irq_capi::IRQ_STATUS_OK);
    let mut pages = [ptr::null_mut::<c_void>(); 2];
    for (p, page) in pages.iter_mut().enumerate() {
        // SAFETY: the out-pointer is a local.
        let status = unsafe { irq_capi::irq_router_shared_page(router, p as u32, page) };
        assert_eq!(status, irq_capi::IRQ_STATUS_OK);
        assert_eq!(page.addr() % FRAME, 0, "partition {p}'s page starts its frame");
    }
    assert!(pages[0].addr().abs_diff(pages[1].addr()) >= FRAME, "{pages:?}");
    assert!(every_call(router).iter().all(|s| *s == irq_capi::IRQ_STATUS_OK));
    assert_eq!(irq_capi::irq_router_destroy(router), irq_capi::IRQ_STATUS_OK);
}

#[test]
fn capi_kernel_pages_must_be_aligned_frames_of_their_own() {
    use support::kind as K;
    use support::table as T;
    let _pool = pool();
    let mut frames = Box::new(Frames([0; 3 * FRAME]));
    let base = frames.0.as_mut_ptr();
    let routes = [route(&TARGETS)];
    let with_pages = |p0: *mut u8, p1: *mut u8| {
        let mut parts = [partition(&PORTS), partition(&PORTS)];
        parts[0].shared_page = p0.cast();
        parts[1].shared_page = p1.cast();
        create(&system(&parts, &routes), &QUIET_OPS)
    };

    // Partly overlapping (8 bytes apart), inside one frame, the same page: refused,
    // naming the partition (and for the same page, the earlier partition).
    let (status, router, e) = with_pages(base, base.wrapping_add(8));
    assert_eq!((status, router.is_null()), (irq_capi::IRQ_STATUS_INVALID_CONFIG, true));
    assert_eq!(
        (e.kind, e.table, e.partition, e.entry, e.index),
        (K::BadPage, T::Partitions, IRQ_NO_PARTITION, 1, -1)
    );
    let (status, _, e) = with_pages(base.wrapping_add(FRAME / 2), base);
    assert_eq!((status, e.kind, e.entry), (irq_capi::IRQ_STATUS_INVALID_CONFIG, K::BadPage, 0));
    let (status, _, e) = with_pages(base, base);
    assert_eq!(
        (status, e.kind, e.table, e.entry, e.index),
        (irq_capi::IRQ_STATUS_INVALID_CONFIG, K::BadPage, T::Partitions, 1, 0)
    );
    let (status, _, e) = with_pages(base.wrapping_add(FRAME), base.wrapping_add(FRAME));
    assert_eq!(
        (status, e.kind, e.entry, e.index),
        (irq_capi::IRQ_STATUS_INVALID_CONFIG, K::BadPage, 1, 0)
    );

    // Frames of their own: accepted, and handed back as the partitions' pages.
    let (status, router, e) = with_pages(base.wrapping_add(2 * FRAME), base);
    assert_eq!((status, e.kind), (irq_capi::IRQ_STATUS_OK, K::None));
    for (p, expected) in [(0, base.wrapping_add(2 * FRAME)), (1, base)] {
        let mut page = ptr::null_mut();
        // SAFETY: the out-pointer is a local.
        let status = unsafe { irq_capi::irq_router_shared_page(router, p, &mut page) };
        assert_eq!((status, page.cast::<u8>()), (irq_capi::IRQ_STATUS_OK, expected));
    }
    assert_eq!(irq_capi::irq_router_destroy(router), irq_capi::IRQ_STATUS_OK);
    drop(frames);
}

/// Bytes with a known alignment, to make misaligned pointers from.
#[repr(C, align(8))]
struct Bytes([u8; 1024]);

#[test]
fn capi_misaligned_configuration_pointers_are_refused() {
    use support::kind as K;
    use support::table as T;
    let _pool = pool();
    let bytes = Bytes([0; 1024]);
    // Misaligned for every configuration struct (all are aligned to 2 or more). Never
    // read: the library checks the alignment first.
    fn odd<T>(bytes: &Bytes) -> *const T {
        bytes.0.as_ptr().wrapping_add(1).cast()
    }
    let parts = [partition(&PORTS), partition(&PORTS)];
    let routes = [route(&TARGETS)];

    let mut config = system(&parts, &routes);
    config.partitions = odd(&bytes);
    assert_eq!(refusal(&config), (K::BadValue, T::Partitions, -1, -1, -1));

    let mut p = [partition(&PORTS), partition(&PORTS)];
    p[1].ports = odd(&bytes);
    assert_eq!(refusal(&system(&p, &routes)), (K::BadValue, T::Ports, 1, -1, -1));

    let mut p = [partition(&PORTS), partition(&PORTS)];
    p[0].ping = odd::<IrqPing>(&bytes);
    assert_eq!(refusal(&system(&p, &routes)), (K::BadValue, T::Partitions, -1, 0, -1));

    let mut config = system(&parts, &routes);
    config.windows = odd(&bytes);
    assert_eq!(refusal(&config), (K::BadValue, T::Windows, -1, -1, -1));

    let mut config = system(&parts, &routes);
    config.routes = odd(&bytes);
    assert_eq!(refusal(&config), (K::BadValue, T::Routes, -1, -1, -1));

    let mut targets = route(&TARGETS);
    targets.targets = odd(&bytes);
    assert_eq!(refusal(&system(&parts, &[targets])), (K::BadValue, T::Routes, -1, 0, -1));

    let mut config = system(&parts, &routes);
    config.channels = odd::<IrqChannel>(&bytes);
    config.channel_count = 1;
    assert_eq!(refusal(&config), (K::BadValue, T::Channels, -1, -1, -1));

    let mut config = system(&parts, &routes);
    config.channel_budgets = odd::<IrqChannelBudget>(&bytes);
    config.channel_budget_count = 1;
    assert_eq!(refusal(&config), (K::BadValue, T::ChannelBudgets, -1, -1, -1));

    // Nothing was left claimed by the refusals.
    let (status, router, _) = valid();
    assert_eq!(status, irq_capi::IRQ_STATUS_OK);
    assert_eq!(irq_capi::irq_router_destroy(router), irq_capi::IRQ_STATUS_OK);
}
