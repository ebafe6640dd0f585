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

/// Runs seeds from 0 with `m` active until one fails; returns the seed and the message.
fn find(m: Mutation, cpus: usize, seeds: u64) -> Option<(u64, String)> {
    let setup = move || {
        mutation::set(Some(m));
    };
    let found = sweep(0..seeds, cpus, 1, &setup, &|| {});
    found.failure.map(|f| (f.scenario.seed, f.violation.what))
}

fn assert_found(m: Mutation, cpus: usize, seeds: u64, signature: &[&str]) {
    let Some((seed, what)) = find(m, cpus, seeds) else {
        panic!("{m:?} not found in {seeds} seeds on {cpus} CPUs");
    };
    println!("{m:?}: found at seed {seed} on {cpus} CPUs: {what}");
    assert!(
        signature.iter().any(|s| what.contains(s)),
        "{m:?} at seed {seed}: an unexpected violation: {what}"
    );
}

#[test]
fn sim_finds_a_storm_mask_set_after_the_unmask() {
    assert_found(Mutation::StormMaskAfterUnmask, 2, 400, &["storming line is still masked"]);
}

#[test]
fn sim_finds_a_wakeup_dropped_when_the_state_is_held() {
    assert_found(Mutation::WakeupDroppedUnderLock, 1, 400, &["lost wake-up"]);
}

#[test]
#[ignore = "the unmutated engine's run of seed 63 on 2 CPUs reports a nested upcall the simulator's guest model does not yet explain: found before this mutation's signature"]
fn sim_finds_level_debts_recorded_after_the_raise() {
    assert_found(
        Mutation::LevelDebtAfterRaise,
        2,
        400,
        &["acknowledged every event", "owed the level line nothing"],
    );
}

#[test]
#[ignore = "the unmutated engine's run of seed 63 on 2 CPUs reports a nested upcall the simulator's guest model does not yet explain: found before this mutation's signature"]
fn sim_finds_a_restart_that_keeps_its_line_debt() {
    assert_found(Mutation::RestartKeepsLineDebt, 2, 400, &["level line", "acknowledgement"]);
}
