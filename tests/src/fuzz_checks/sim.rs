//! A scenario of the deterministic simulator (`adapters/sim`, crate `irq-sim`) decoded
//! from the bytes: a seed, then one byte per choice ([`irq_sim::Scenario::from_bytes`]:
//! the CPUs (1 to 8), the frames, each guest's catch-up policy, health-monitor table,
//! ping, level acknowledgements, traps, `exec_stop_error`s, scribbles, bad calls and
//! speed, the level device, the storm, the edge line's period, the fault rates and the
//! preemption rate; every input decodes). The run is checked as the simulator's sweeps
//! check it ([`irq_sim::check`]): every invariant after every step and at the end, and
//! for a storming scenario the comparisons with the run without the storm (the storm's
//! isolation run's deliveries, step for step).
//!
//! A failure panics with the violation and the scenario; `cargo run --release -p irq-sim
//! -- --input FILE --trace` replays the input file and prints its trace.

/// The check of the `sim` target.
pub fn sim(data: &[u8]) {
    let scenario = irq_sim::Scenario::from_bytes(data);
    if let Err(failure) = irq_sim::check(&scenario) {
        panic!(
            "{}{}{}: {}\n{}",
            if failure.storm { "" } else { "(the run without the storm) " },
            if failure.isolated { "(the storm's isolation run) " } else { "" },
            if failure.comparison { "the comparison of the two runs" } else { "the run" },
            failure.violation,
            failure.scenario
        );
    }
}
