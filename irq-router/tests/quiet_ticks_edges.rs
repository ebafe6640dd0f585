//! Quiet ticks at their edges, on the engine of `common/cpus.rs`: a timer port with a
//! small maximum overflows on its tick (no quiet stretch runs past the port's room), and
//! the quiet ticks taken before another CPU stops the module are given by
//! `flush_ticks`.

use std::num::NonZeroU32;

use irq_router::Mode;
use irq_router::adapter::Action;
use irq_router::config::{
    HmAction, HmKind, HmTable, PartitionConfig, SystemConfig, VectorSet, Window,
};
use notify_core::{Binding, PortConfig, Source};
use vcpu_state::CatchUpPolicy;

#[path = "common/cpus.rs"]
mod cpus;
use cpus::{Rec, pid, router, system, tick};

static SMALL_TIMER: [PortConfig; 1] = [PortConfig::new(
    0,
    Binding {
        source: Source::Timer,
        mode: notify_core::Mode::Counting { max: NonZeroU32::new(3).expect("3") },
    },
)];
static LONG_WINDOW: [Window; 1] = [Window { partition: 0, start: 0, length: 40 }];

const fn config(action: HmAction) -> SystemConfig<1> {
    system(
        [PartitionConfig {
            name: "t",
            cpu: 0,
            ports: &SMALL_TIMER,
            priority_levels: &[],
            timer_port: Some(0),
            error_port: None,
            catch_up: CatchUpPolicy::Replay,
            vectors: VectorSet::EMPTY,
            channels: 0,
            ping: None,
            health: HmTable::IGNORE_ALL.on(HmKind::PendingOverflow, action),
        }],
        40,
        &LONG_WINDOW,
        &[],
    )
}

fn overflow_ticks(a: &Rec) -> Vec<(u64, u64)> {
    a.actions()
        .filter_map(|x| match x {
            Action::Log(r) if r.kind == HmKind::PendingOverflow => Some((r.tick, r.extra)),
            _ => None,
        })
        .collect()
}

/// Ticks 1..3 fill the port (max 3); tick 4 is the first overflow: its record and its
/// action (Idle) belong to tick 4.
#[test]
fn an_overflow_of_the_timer_port_is_reported_on_its_tick() {
    let router = router::<1, 1>(config(HmAction::Idle));
    let mut a = Rec::new();
    for now in 0..=4 {
        let _ = tick(&router, 0, now, &mut a);
    }
    let at4 = (router.mode(pid(0)), overflow_ticks(&a));
    for now in 5..=39 {
        let _ = tick(&router, 0, now, &mut a);
    }
    let at39 = (router.mode(pid(0)), overflow_ticks(&a));
    let _ = tick(&router, 0, 40, &mut a);
    let at40 = (router.mode(pid(0)), overflow_ticks(&a));
    assert_eq!(at4, (Mode::Idle, vec![(4, 1)]), "overflow at tick 4 idles the partition then");
    assert_eq!((at39, at40), (at4.clone(), at4), "nothing more: it is idle");
}

static TWO: [Window; 2] =
    [Window { partition: 0, start: 0, length: 20 }, Window { partition: 1, start: 0, length: 20 }];

/// Partition 0 runs on CPU 0, quiet from tick 2; partition 1 (CPU 1) stops the module at
/// tick 6 by ExecStopError. Ticks 3..=6 of partition 0 were taken before the stop.
#[test]
fn the_quiet_ticks_before_a_stop_on_another_cpu_are_given_by_flush_ticks() {
    use irq_router::hypercall::Request;
    const CONFIG: SystemConfig<2> = system(
        [
            cpus::partition(0, HmTable::IGNORE_ALL),
            cpus::partition(
                1,
                HmTable::IGNORE_ALL.on(HmKind::PartitionError, HmAction::StopModule),
            ),
        ],
        40,
        &TWO,
        &[],
    );
    let router = router::<2, 2>(CONFIG);
    let (mut a0, mut a1) = (Rec::new(), Rec::new());
    let _ = tick(&router, 1, 0, &mut a1);
    for now in 0..=6 {
        let _ = tick(&router, 0, now, &mut a0);
    }
    a1.now = 6;
    assert_eq!(
        router.call(&cpus::cpu(1), pid(1), Request::ExecStopError { code: 1 }, &mut a1),
        Ok(0)
    );
    assert!(router.stopped());
    router.flush_ticks(&cpus::cpu::<2>(0), &mut a0);
    let timer =
        router.events().partition(pid(0)).status(notify_core::Port::new(0).expect("port 0"));
    assert_eq!(timer.pending, 6, "ticks 1..=6 were taken before the stop");
}
