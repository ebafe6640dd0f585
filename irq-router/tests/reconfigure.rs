//! `Router::reconfigure` rebuilds an engine in place: an engine that ran (pending events,
//! a storm-masked line, an unacknowledged level line, traps, restarts, health-monitor
//! records) and is then reconfigured behaves exactly as a new one built by `Router::new`
//! from the same configuration; a refused configuration changes nothing.

mod common;

use core::num::NonZeroU64;

use common::{
    Adapter, CONFIG, CPU0, ENTRY, FAULT_HANDLER, FRAME, LEVEL, P, SHARED, STORMY, WINDOWS, boot,
    pid, port, run, system,
};
use irq_router::adapter::Action;
use irq_router::config::{ConfigError, HmAction, HmKind, Schedule, SystemConfig, WindowError};
use irq_router::{Router, Trap};
use notify_core::PartitionId;
use vcpu_state::SharedPage;

/// A scenario that touches most of the engine's state; the kernel's requests in order.
fn scenario(router: &common::System, pages: &[SharedPage; P]) -> Vec<Action> {
    let mut adapter = Adapter::new();
    let mut all = Vec::new();
    boot(router, &mut adapter);
    for page in pages {
        let _ = page.guest().sti();
    }
    for step in 0..4u64 {
        run(router, &mut adapter, step * FRAME, step * FRAME + 5);
        for _ in 0..5 {
            router.on_hardware_irq(&CPU0, STORMY, &mut adapter);
            router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
        }
        router.on_hardware_irq(&CPU0, LEVEL, &mut adapter);
        let running = router.running(irq_router::CpuId::BOOT);
        if let Some(p) = running {
            router.on_trap(
                &CPU0,
                p,
                Trap { vector: 14, error_code: 2, address: 0x1000 },
                &mut adapter,
            );
        }
        run(router, &mut adapter, step * FRAME + 5, (step + 1) * FRAME);
        all.extend(adapter.take());
    }
    all
}

/// What the scenario leaves behind, beside the requests: per partition its port
/// statuses, mode, health counts and clock; the lines lost to storms.
fn state(router: &common::System) -> String {
    let mut out = String::new();
    for p in PartitionId::<P>::all() {
        let table = router.events().partition(p);
        let ports: Vec<_> = (0..6).map(|raw| table.status(port(raw))).collect();
        out += &format!(
            "{p:?}: {ports:?} {:?} {:?} {}\n",
            router.mode(p),
            router.health_counts(Some(p)),
            router.partition_cpu(p).time().given(),
        );
    }
    out += &format!("module {:?} lost {}\n", router.health_counts(None), router.line_lost(STORMY));
    out
}

fn pages() -> &'static [SharedPage; P] {
    Box::leak(Box::new([SharedPage::new(), SharedPage::new(), SharedPage::new()]))
}

fn started(router: &common::System) {
    router.start();
    for p in PartitionId::<P>::all() {
        router.events().partition(p).set_upcall_entry(NonZeroU64::new(ENTRY));
        router.events().partition(p).set_fault_handler(NonZeroU64::new(FAULT_HANDLER));
    }
}

/// The configuration the engine is reconfigured to: another schedule and health table.
fn other() -> SystemConfig<P> {
    let mut config = CONFIG;
    config.partitions[0].health = config.partitions[0].health.on(HmKind::Trap, HmAction::ColdStart);
    config
}

#[test]
fn a_reconfigured_engine_behaves_as_a_new_one() {
    let (mut used, used_pages) = system();
    let first = scenario(&used, used_pages);
    assert!(first.iter().any(|a| matches!(a, Action::Restart(..) | Action::Idle(_))));
    assert!(used.health_counts(Some(pid(0))).0 > 0 && used.line_lost(STORMY) > 0);

    let reused_pages = pages();
    used.reconfigure(other(), [&reused_pages[0], &reused_pages[1], &reused_pages[2]])
        .expect("valid");
    started(&used);
    let fresh_pages = pages();
    let fresh = Box::new(
        Router::<P, 1>::new(other(), [&fresh_pages[0], &fresh_pages[1], &fresh_pages[2]])
            .expect("valid"),
    );
    started(&fresh);
    assert_eq!(state(&used), state(&fresh), "right after the reconfiguration");
    assert_eq!(used.health_counts(Some(pid(0))), (0, 0));
    assert_eq!(used.line_lost(STORMY), 0);

    let again = scenario(&used, reused_pages);
    let expected = scenario(&fresh, fresh_pages);
    assert!(again == expected, "the reconfigured engine differs from a new one");
    assert!(again != first, "the new configuration is the one in force");
    assert!(again.contains(&Action::Restart(0, irq_router::adapter::StartMode::Cold)));
    assert_eq!(state(&used), state(&fresh));
    for p in 0..P {
        assert_eq!(
            reused_pages[p].guest().start_reason(),
            fresh_pages[p].guest().start_reason(),
            "the new pages are the ones in use"
        );
    }
}

#[test]
fn a_refused_configuration_changes_nothing() {
    let (mut used, used_pages) = system();
    let before = scenario(&used, used_pages);
    let snapshot = state(&used);
    let overlapping = [WINDOWS[0], WINDOWS[0]];
    let mut bad = CONFIG;
    bad.schedule = Schedule { major_frame: FRAME, windows: Box::leak(Box::new(overlapping)) };
    let other_pages = pages();
    assert_eq!(
        used.reconfigure(bad, [&other_pages[0], &other_pages[1], &other_pages[2]]),
        Err(ConfigError::Window { entry: 1, error: WindowError::Overlaps })
    );
    assert_eq!(state(&used), snapshot);
    // It still runs on its old configuration and pages.
    assert!(!before.is_empty());
    let mut adapter = Adapter::new();
    adapter.now = 4 * FRAME + 1;
    router_runs_on(&used, &mut adapter);
}

fn router_runs_on(router: &common::System, adapter: &mut Adapter) {
    router.on_hardware_irq(&CPU0, SHARED, adapter);
    let status = router.events().partition(pid(0)).status(port(common::SHARED_PORT));
    assert!(status.pending > 0);
}
