//! The burst test of the RTAS 2023 study of partitioning hypervisors: 16 interrupts raised
//! at once on 16 lines to one partition are delivered in priority order (the lowest port
//! first), in 50 runs of 50, whatever order the lines fired in.

use std::num::NonZeroU64;

use irq_router::adapter::{Action, Recording};
use irq_router::config::{
    HmTable, PartitionConfig, Route, Schedule, Sharing, SystemConfig, Target, Trigger, VectorSet,
    Window,
};
use irq_router::hypercall::Request;
use irq_router::{CpuId, Local, Router};
use notify_core::{Binding, PartitionId, Port, PortConfig, Source};
use vcpu_state::{CatchUpPolicy, SharedPage};

const LINES: usize = 16;
const FIRST_VECTOR: u8 = 0x40;

const fn ports() -> [PortConfig; LINES] {
    let mut ports = [PortConfig::new(0, Binding::counting(Source::Timer)); LINES];
    let mut i = 0;
    while i < LINES {
        let vector = FIRST_VECTOR as u16 + i as u16;
        ports[i] = PortConfig::new(i as u16, Binding::counting(Source::Line(vector)));
        i += 1;
    }
    ports
}
static PORTS: [PortConfig; LINES] = ports();

const fn targets() -> [[Target; 1]; LINES] {
    let mut targets = [[Target { partition: 0, port: 0 }]; LINES];
    let mut i = 0;
    while i < LINES {
        targets[i] = [Target { partition: 0, port: i as u16 }];
        i += 1;
    }
    targets
}
static TARGETS: [[Target; 1]; LINES] = targets();

const fn routes() -> [Route; LINES] {
    let mut routes = [Route {
        vector: FIRST_VECTOR,
        sharing: Sharing::Exclusive,
        trigger: Trigger::Edge,
        kernel_first: false,
        targets: &TARGETS[0],
        budget: None,
        ack_timeout: 0,
    }; LINES];
    let mut i = 0;
    while i < LINES {
        routes[i].vector = FIRST_VECTOR + i as u8;
        routes[i].targets = &TARGETS[i];
        i += 1;
    }
    routes
}
static ROUTES: [Route; LINES] = routes();

const fn vectors() -> VectorSet {
    let mut set = VectorSet::EMPTY;
    let mut i = 0;
    while i < LINES {
        set = set.with(FIRST_VECTOR + i as u8);
        i += 1;
    }
    set
}

static WINDOWS: [Window; 1] = [Window { partition: 0, start: 0, length: 100 }];

const CONFIG: SystemConfig<1> = SystemConfig {
    partitions: [PartitionConfig {
        name: "burst",
        cpu: 0,
        ports: &PORTS,
        priority_levels: &[],
        timer_port: None,
        error_port: None,
        catch_up: CatchUpPolicy::Replay,
        vectors: vectors(),
        channels: 0,
        ping: None,
        health: HmTable::IGNORE_ALL,
    }],
    schedule: Schedule { major_frame: 100, windows: &WINDOWS },
    routes: &ROUTES,
    clock_vector: None,
    channels: &[],
    channel_budgets: &[],
};
const _: () = assert!(CONFIG.validate_on::<1, 1>().is_ok());

/// One run: the 16 lines fire in `order` while the partition's vCPU is closed; it opens
/// it and handles each upcall (take, return). Returns the ports in delivery order.
fn run(order: &[usize]) -> Vec<u16> {
    let page: &'static SharedPage = Box::leak(Box::new(SharedPage::new()));
    let router: Box<Router<1>> = Box::new(Router::new(CONFIG, [page]).expect("valid"));
    router.start();
    let cpu = Local::interrupts_disabled(CpuId::BOOT);
    let p = PartitionId::new(0).expect("partition");
    let mut adapter = Recording::<1024>::new();
    router.on_partition_entry(&cpu, p, 0, 100, &mut adapter);
    let entry = NonZeroU64::new(0x40_0100);
    assert_eq!(router.call(&cpu, p, Request::RegisterUpcall { entry }, &mut adapter), Ok(0));
    for &line in order {
        let _ = router.on_hardware_irq(&cpu, FIRST_VECTOR + line as u8, &mut adapter);
    }
    let _ = adapter.take().count();
    let mut delivered = Vec::new();
    assert_eq!(router.call(&cpu, p, Request::EnableIrqs, &mut adapter), Ok(0));
    loop {
        let upcalls: Vec<u16> = adapter
            .take()
            .filter_map(|a| match a {
                Action::Upcall(0, upcall) => upcall.port,
                _ => None,
            })
            .collect();
        let [port] = upcalls[..] else {
            assert!(upcalls.is_empty(), "one upcall at a time: {upcalls:?}");
            break;
        };
        delivered.push(port);
        let port = Port::new(u32::from(port)).expect("port");
        assert_eq!(router.call(&cpu, p, Request::TakeCount { port }, &mut adapter), Ok(1));
        assert_eq!(router.call(&cpu, p, Request::UpcallReturn, &mut adapter), Ok(0));
    }
    delivered
}

#[test]
fn a_burst_of_16_interrupts_is_delivered_in_priority_order_50_times_of_50() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let in_priority_order: Vec<u16> = (0..LINES as u16).collect();
    for round in 0..50 {
        // A shuffled firing order (xorshift, Fisher-Yates).
        let mut order: Vec<usize> = (0..LINES).collect();
        for i in (1..LINES).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            order.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        assert_eq!(run(&order), in_priority_order, "round {round}, lines fired in {order:?}");
    }
}
