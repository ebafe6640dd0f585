//! The direct path: an interrupt for the partition running on this CPU with its vCPU open
//! and nothing else deliverable goes straight into service and into its upcall, with the
//! interrupt's context in hand. Whatever happens to that upcall, the event is delivered
//! once, with its context, in priority order, and the guest is told what it must be told.

mod common;

use common::{
    Adapter, CLOCK, CPU0, ENTRY, SHARED, SHARED_PORT, TIMER, WINDOW, boot, pid, port, records, run,
    system, upcalls,
};
use irq_router::adapter::{Action, UpcallFault};
use irq_router::config::HmKind;
use irq_router::hypercall::Request;

fn actions(adapter: &mut Adapter) -> Vec<Action> {
    adapter.take().collect()
}

#[test]
fn an_interrupt_for_the_running_partition_goes_straight_into_its_upcall() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    assert!(!pages[0].guest().sti());
    actions(&mut adapter);
    adapter.now = 3;
    router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    let done = actions(&mut adapter);
    let up = upcalls(&done, 0);
    assert_eq!(up.len(), 1, "{done:?}");
    assert_eq!(
        (up[0].port, up[0].pending, up[0].entry.get()),
        (Some(SHARED_PORT), 1, ENTRY),
        "the interrupt's port, its one event, the upcall entry"
    );
    assert_eq!((up[0].context.vector, up[0].context.timestamp), (u16::from(SHARED), 3));
    let table = router.events().partition(pid(0));
    let status = table.status(port(SHARED_PORT));
    assert_eq!((status.pending, status.in_service), (1, true), "counted, in service");
    assert_eq!(table.next_deliverable(), None, "never deliverable");
    assert!(!pages[0].is_open(), "the handler runs closed");
    assert_eq!(pages[0].guest().upcall_depth(), 1);
    assert!(!pages[0].guest().upcall_pending(), "nothing else to look for");
    assert_eq!(router.partition_cpu(pid(0)).vcpu().upcalls(), 1);
    // The shared line's other partition is outside its window: its event waits.
    assert_eq!(router.events().partition(pid(1)).status(port(SHARED_PORT)).pending, 1);
    // The handler takes its event and returns: nothing more.
    let take = Request::TakeCount { port: port(SHARED_PORT) };
    assert_eq!(router.call(&CPU0, pid(0), take, &mut adapter), Ok(1));
    assert_eq!(router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter), Ok(0));
    assert!(upcalls(&actions(&mut adapter), 0).is_empty());
    assert!(pages[0].is_open());
    let stats = table.stats();
    assert_eq!((stats.raised, stats.delivered, stats.pending), (1, 1, 0));
}

#[test]
fn an_interrupt_while_a_higher_priority_port_is_deliverable_delivers_that_port_first() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    // A tick while the vCPU is closed: the timer port (the highest priority) is pending.
    run(&router, &mut adapter, 0, 1);
    assert!(router.events().partition(pid(0)).status(port(TIMER)).pending > 0);
    // The guest opens with its one store; before its hypercall asks for the upcall the
    // line fires: the direct path is not taken, the upcall is the timer's.
    assert!(pages[0].guest().sti(), "the guest sees the tick pending");
    actions(&mut adapter);
    router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    let up = upcalls(&actions(&mut adapter), 0);
    assert_eq!(up.iter().map(|u| u.port).collect::<Vec<_>>(), [Some(TIMER)]);
    // After the timer's handler, the line's event, with its context.
    let take = Request::TakeCount { port: port(TIMER) };
    assert!(router.call(&CPU0, pid(0), take, &mut adapter).is_ok());
    assert_eq!(router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter), Ok(0));
    let up = upcalls(&actions(&mut adapter), 0);
    assert_eq!(up.iter().map(|u| u.port).collect::<Vec<_>>(), [Some(SHARED_PORT)]);
    assert_eq!(up[0].context.vector, u16::from(SHARED));
}

#[test]
fn a_direct_upcall_that_cannot_be_built_leaves_the_event_pending_with_its_context() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    // Partition 1 (beta), whose health table ignores upcall faults, runs with its vCPU open.
    run(&router, &mut adapter, 0, WINDOW);
    assert!(pages[1].guest().sti(), "its ticks are pending");
    // The guest polls them (so the line's event will be alone) and clears the flag.
    let take = Request::TakeCount { port: port(TIMER) };
    assert!(router.call(&CPU0, pid(1), take, &mut adapter).is_ok());
    pages[1].guest().clear_pending();
    actions(&mut adapter);
    adapter.upcall_fault = Some(UpcallFault::BadStack);
    adapter.now = WINDOW + 1;
    router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    let done = actions(&mut adapter);
    assert!(
        records(&done).iter().any(|r| r.kind == HmKind::UpcallFault && r.partition == Some(1)),
        "{done:?}"
    );
    let table = router.events().partition(pid(1));
    let status = table.status(port(SHARED_PORT));
    assert_eq!((status.pending, status.in_service), (1, false), "the event stays pending");
    let context = table.context(port(SHARED_PORT)).unwrap().expect("published on the way back");
    assert_eq!((context.vector, context.timestamp), (u16::from(SHARED), WINDOW + 1));
    assert!(pages[1].guest().upcall_pending(), "the guest is told to ask again");
    assert_eq!(router.partition_cpu(pid(1)).vcpu().depth(), 0, "no upcall in progress");
    // Once the upcall can be built, the guest's request delivers it with its context.
    adapter.upcall_fault = None;
    assert_eq!(router.call(&CPU0, pid(1), Request::EnableIrqs, &mut adapter), Ok(0));
    let up = upcalls(&actions(&mut adapter), 1);
    assert_eq!(up.len(), 1);
    assert_eq!((up[0].port, up[0].pending, up[0].context), (Some(SHARED_PORT), 1, context));
}

#[test]
fn the_clock_of_a_running_partition_is_unchanged_by_the_direct_path() {
    // The tick raises the timer port the ordinary way (the direct path is the line's):
    // with the vCPU open, the tick's upcall still comes, through the doorbell.
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    assert!(!pages[0].guest().sti());
    actions(&mut adapter);
    adapter.now = 1;
    router.on_hardware_irq(&CPU0, CLOCK, &mut adapter);
    let up = upcalls(&actions(&mut adapter), 0);
    assert_eq!(up.iter().map(|u| u.port).collect::<Vec<_>>(), [Some(TIMER)]);
}
