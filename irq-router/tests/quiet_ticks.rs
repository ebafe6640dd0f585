//! Quiet ticks: a tick into a timer port already pending is not raised at once but given
//! with the ticks after it at the CPU's next entry point. Whatever that entry point is,
//! the partition, its health monitor and the kernel see every tick, and the deadlines a
//! quiet stretch spans are met on their tick.

mod common;

use common::{Adapter, CPU0, LEVEL, System, TIMER, WINDOW, boot, pid, port, records, run, system};
use irq_router::Trap;
use irq_router::adapter::Recording;
use irq_router::config::HmKind;
use irq_router::hypercall::Request;

fn pending(router: &System, p: usize, raw: u16) -> u32 {
    router.events().partition(pid(p)).status(port(raw)).pending
}

#[test]
fn the_partition_takes_every_tick_of_a_quiet_stretch() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    // Its vCPU closed: tick 1 makes the timer port pending, the ticks after it are quiet.
    run(&router, &mut adapter, 0, 9);
    assert!(pending(&router, 0, TIMER) < 9, "the stretch was quiet: the table is behind");
    let take = Request::TakeCount { port: port(TIMER) };
    assert_eq!(router.call(&CPU0, pid(0), take, &mut adapter), Ok(9), "ticks 1 to 9");
    // The next ticks are quiet again, and the exit gives them.
    run(&router, &mut adapter, 9, WINDOW);
    assert_eq!(pending(&router, 0, TIMER), 1, "tick 10, given by the exit");
    assert_eq!(router.partition_cpu(pid(0)).time().given(), WINDOW);
}

#[test]
fn flush_ticks_shows_the_quiet_ticks_and_changes_nothing_else() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    run(&router, &mut adapter, 0, 7);
    let _ = adapter.take().count();
    let before = pending(&router, 0, TIMER);
    router.flush_ticks(&CPU0, &mut adapter);
    assert!(before < 7);
    assert_eq!(pending(&router, 0, TIMER), 7);
    assert_eq!(adapter.take().count(), 0, "no upcall, kick or record");
    assert!(pages[0].guest().upcall_pending(), "still flagged from tick 1");
}

/// The level line fires at tick 2 (both partitions of its route are told; partition 0
/// runs); its acknowledgement deadline (5 ticks) falls inside partition 0's quiet ticks.
#[test]
fn an_acknowledgement_deadline_inside_a_quiet_stretch_is_met_on_its_tick() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    run(&router, &mut adapter, 0, 2);
    let _ = router.on_hardware_irq(&CPU0, LEVEL, &mut adapter);
    let _ = adapter.take().count();
    run(&router, &mut adapter, 2, WINDOW - 1);
    let late: Vec<u64> = records(&adapter.take().collect::<Vec<_>>())
        .iter()
        .filter(|r| r.kind == HmKind::AckTimeout)
        .map(|r| r.tick)
        .collect();
    assert_eq!(late, [7, 7], "both targets, at tick 2 + 5");
}

/// Partition 1 (cold start on a trap) traps in the middle of a quiet stretch: its record
/// counts every tick as discarded, as a twin system whose ticks were flushed first shows.
#[test]
fn a_restart_inside_a_quiet_stretch_discards_every_tick() {
    let trap = Trap { vector: 14, error_code: 0, address: 0 };
    let discarded = |flush: bool| {
        let (router, _pages) = system();
        let mut adapter = Recording::<4096>::new();
        boot(&router, &mut adapter);
        run(&router, &mut adapter, 0, WINDOW + 6);
        if flush {
            router.flush_ticks(&CPU0, &mut adapter);
        }
        let _ = adapter.take().count();
        router.on_trap(&CPU0, pid(1), trap, &mut adapter);
        let restarts: Vec<_> = records(&adapter.take().collect::<Vec<_>>())
            .into_iter()
            .filter(|r| r.kind == HmKind::Trap)
            .collect();
        assert_eq!(restarts.len(), 1, "{restarts:?}");
        assert_eq!(pending(&router, 1, TIMER), 0, "a fresh start");
        restarts[0].discarded
    };
    let flushed = discarded(true);
    assert_eq!(discarded(false), flushed);
    assert!(flushed >= 6, "the warp's event and ticks 11 to 16: {flushed}");
}

#[test]
fn every_entry_point_but_the_clock_gives_the_quiet_ticks_first() {
    // An interrupt on another line: ticks 2 to 5 were quiet, it gives them.
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    run(&router, &mut adapter, 0, 5);
    assert!(pending(&router, 0, TIMER) < 5);
    let _ = router.on_hardware_irq(&CPU0, common::SHARED, &mut adapter);
    assert_eq!(pending(&router, 0, TIMER), 5);
    // The clock after it raises its tick and begins a new quiet stretch: tick 7 is quiet.
    run(&router, &mut adapter, 5, 6);
    assert_eq!(pending(&router, 0, TIMER), 6);
    run(&router, &mut adapter, 6, 7);
    assert_eq!(pending(&router, 0, TIMER), 6);
    // A kick's resume.
    router.on_resume(&CPU0, &mut adapter);
    assert_eq!(pending(&router, 0, TIMER), 7);
}

#[test]
fn the_exit_of_a_partition_that_is_not_running_leaves_the_quiet_stretch() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    run(&router, &mut adapter, 0, 5);
    router.on_partition_exit(&CPU0, pid(1), 5, &mut adapter);
    router.flush_ticks(&CPU0, &mut adapter);
    assert_eq!(pending(&router, 0, TIMER), 5, "flush_ticks gives ticks 1 to 5");
}
