//! The simulator's own tests: determinism, and deliberately broken engines
//! (`irq_router::mutation`, a dev-dependency feature) found within a bounded number of
//! seeds.

use irq_router::mutation::{self, Mutation};
use irq_sim::{Options, Scenario, run_once, sweep};

/// The same seed twice gives the same trace, on 1, 2 and 4 CPUs.
#[test]
fn sim_same_seed_twice_gives_the_same_trace_on_1_2_and_4_cpus() {
    for cpus in [1, 2, 4] {
        let mut distinct = std::collections::HashSet::new();
        for seed in 0..20 {
            let scenario = Scenario::from_seed(seed, cpus);
            let a = run_once(&scenario, true, Options::default());
            let b = run_once(&scenario, true, Options::default());
            assert_eq!(a.hash, b.hash, "seed {seed} on {cpus} CPUs: two runs differ");
            assert_eq!(a.steps, b.steps);
            assert_eq!(a.violation, b.violation);
            assert!(a.steps > 50, "seed {seed}: a run of {} steps", a.steps);
            distinct.insert(a.hash);
        }
        assert!(distinct.len() > 15, "seeds give different runs");
    }
}

/// The engine without context slots and without the partitions' own health-monitor rings
/// (`Router<P, 1, C, 0, 0>`, issue 15's memory target) keeps every invariant (nothing
/// lost, every upcall due, the clocks exact) over the same scenarios, on 1, 2 and 4 CPUs;
/// its runs are as long as the default engine's (the same events happen: only the
/// contexts the guests read are gone).
#[test]
fn sim_the_engine_without_contexts_or_rings_keeps_every_invariant() {
    for cpus in [1, 2, 4] {
        for seed in 0..500 {
            let scenario = Scenario::from_seed(seed, cpus);
            for storm in [true, false] {
                let bare = Options { bare: true, ..Options::default() };
                let outcome = run_once(&scenario, storm, bare);
                assert_eq!(outcome.violation, None, "seed {seed} on {cpus} CPUs (storm {storm})");
                let default = run_once(&scenario, storm, Options::default());
                assert_eq!(
                    outcome.summary.records, default.summary.records,
                    "seed {seed} on {cpus} CPUs: the same health-monitor records"
                );
            }
        }
    }
}

/// Runs seeds from 0 with `m` active until one fails; returns the seed and the message.
fn find(m: Mutation, cpus: usize, seeds: u64) -> Option<(u64, String)> {
    let setup = move || {
        mutation::set(Some(m));
    };
    let found = sweep(0..seeds, cpus, 1, &setup, &|| {});
    found.failure.map(|f| (f.scenario.seed, f.violation.what))
}

/// `m` is found within `seeds` seeds on each of `cpus`, with a violation that names
/// what it breaks (one of `signature`).
fn assert_found(m: Mutation, cpus: &[usize], seeds: u64, signature: &[&str]) {
    for &c in cpus {
        let Some((seed, what)) = find(m, c, seeds) else {
            panic!("{m:?} not found in {seeds} seeds on {c} CPUs");
        };
        println!("{m:?}: found at seed {seed} on {c} CPUs: {what}");
        assert!(
            signature.iter().any(|s| what.contains(s)),
            "{m:?} at seed {seed} on {c} CPUs: an unexpected violation: {what}"
        );
    }
}

/// A race between CPUs (the frame boundary of one, the storm of another): 2 and 4 CPUs.
#[test]
fn sim_finds_a_storm_mask_set_after_the_unmask() {
    assert_found(Mutation::StormMaskAfterUnmask, &[2, 4], 400, &["storming line is still masked"]);
}

#[test]
fn sim_finds_a_wakeup_dropped_when_the_state_is_held() {
    assert_found(Mutation::WakeupDroppedUnderLock, &[1, 2, 4], 400, &["lost wake-up"]);
}

/// A race between CPUs (an acknowledgement on the partition's CPU between the raise and
/// the debts on the interrupt's): 2 and 4 CPUs.
#[test]
fn sim_finds_level_debts_recorded_after_the_raise() {
    assert_found(
        Mutation::LevelDebtAfterRaise,
        &[2, 4],
        400,
        &["acknowledged every event", "owed the level line nothing"],
    );
}

#[test]
fn sim_finds_a_restart_that_keeps_its_line_debt() {
    assert_found(
        Mutation::RestartKeepsLineDebt,
        &[1, 2, 4],
        400,
        &["level line", "acknowledgement"],
    );
}

/// The storm's isolation run with the storm off is the plain run without the storm (the
/// same trace): the comparison's baseline is the ordinary comparison run.
#[test]
fn sim_the_isolation_run_without_the_storm_is_the_plain_run() {
    for cpus in [1, 2, 4] {
        for seed in 0..30 {
            let scenario = Scenario::from_seed(seed, cpus);
            let plain = run_once(&scenario, false, Options::default());
            let isolated =
                run_once(&scenario, false, Options { isolated: true, ..Options::default() });
            assert_eq!(plain.hash, isolated.hash, "seed {seed} on {cpus} CPUs");
            assert_eq!(plain.steps, isolated.steps);
            assert!(plain.deliveries.is_empty());
            assert_eq!(isolated.deliveries.len(), irq_sim::system::P);
        }
    }
}

/// The storm's isolation run is a storm: its line exceeds its budget, and the storming
/// partition's events pend, never delivered; the other partitions are delivered events,
/// the same as without the storm (what `check` compares).
#[test]
fn sim_the_isolation_run_storms_and_the_others_are_delivered_the_same() {
    use irq_sim::Happened;
    use irq_sim::system::{P, STORMING, port};
    let mut storming = 0;
    for cpus in [1, 2, 4] {
        for seed in 0..40 {
            let scenario = Scenario::from_seed(seed, cpus);
            if !scenario.storm {
                continue;
            }
            let isolated = Options { isolated: true, ..Options::default() };
            let alone = run_once(&scenario, true, isolated);
            let quiet = run_once(&scenario, false, isolated);
            assert_eq!(alone.violation, None, "seed {seed} on {cpus} CPUs");
            if alone.summary.stopped {
                continue;
            }
            storming += 1;
            assert!(alone.summary.storm_lost > 0, "seed {seed} on {cpus} CPUs: no storm");
            let storm_port = |log: &[irq_sim::Delivery]| {
                log.iter().any(|d| match d.what {
                    Happened::Upcall { port, .. } => port == Some(port::STORM),
                    Happened::Consumed { port, .. } => port == port::STORM,
                    _ => false,
                })
            };
            assert!(!storm_port(&alone.deliveries[STORMING]), "the storming partition is deaf");
            for p in (0..P).filter(|&p| p != STORMING) {
                let upcalls = alone.deliveries[p]
                    .iter()
                    .filter(|d| matches!(d.what, Happened::Upcall { .. }))
                    .count();
                assert!(upcalls > 0, "seed {seed} on {cpus} CPUs: partition {p} got no upcall");
                assert_eq!(alone.deliveries[p], quiet.deliveries[p], "seed {seed} on {cpus} CPUs");
            }
        }
    }
    assert!(storming > 30, "{storming} storming scenarios");
}

/// Isolation broken by extra work: each storm kicks every partition's CPU. Only the
/// comparison of the isolation run's deliveries with the run without the storm sees it.
#[test]
fn sim_finds_a_storm_that_kicks_every_partition() {
    assert_found(
        Mutation::StormKicksEveryPartition,
        &[1, 2, 4],
        400,
        &["storm isolation: partition"],
    );
}

/// Isolation broken by delay: during a storm, deliveries to the partition running on the
/// interrupted CPU wait for a kick. Nothing is lost, no wake-up is missed: only the
/// comparison sees it.
#[test]
fn sim_finds_a_storm_that_defers_the_others_deliveries() {
    assert_found(Mutation::StormDefersDelivery, &[1, 2, 4], 400, &["storm isolation: partition"]);
}
