//! How many seeds the simulator needs to find each deliberately broken engine
//! (`irq_router::mutation`, a dev-dependency feature: examples and tests only).
//!
//! `cargo run --release -p irq-sim --example mutations -- [SEEDS] [CPUS...]`

use std::time::Instant;

use irq_router::mutation::{self, Mutation};
use irq_sim::sweep;

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let seeds = args.first().copied().unwrap_or(2000);
    let cpus: Vec<usize> = if args.len() > 1 {
        args[1..].iter().map(|&c| c as usize).collect()
    } else {
        vec![1, 2, 4]
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let only: Option<String> = std::env::var("MUTATION").ok();
    if let Ok(seed) = std::env::var("SEED") {
        // Replay one seed under the mutation named by MUTATION, with its trace.
        let seed: u64 = seed.parse().expect("SEED: a number");
        let m = Mutation::ALL
            .into_iter()
            .find(|m| only.as_ref().is_some_and(|o| format!("{m:?}").contains(o.as_str())))
            .expect("MUTATION: a mutation's name");
        mutation::set(Some(m));
        let scenario = irq_sim::Scenario::from_seed(seed, cpus[0]);
        print!("{scenario}");
        let storm = std::env::var("QUIET").is_err();
        let outcome =
            irq_sim::run_once(&scenario, storm, irq_sim::Options { trace: true, limit: None });
        for line in &outcome.trace {
            println!("{line}");
        }
        println!("{:?}", outcome.violation);
        return;
    }
    for m in Mutation::ALL {
        if only.as_ref().is_some_and(|o| !format!("{m:?}").contains(o.as_str())) {
            continue;
        }
        for &c in &cpus {
            let started = Instant::now();
            let setup = move || {
                mutation::set(Some(m));
            };
            let found = sweep(0..seeds, c, threads, &setup, &|| {});
            let secs = started.elapsed().as_secs_f64();
            match found.failure {
                Some(f) => println!(
                    "{m:?} on {c} CPUs: seed {} ({:.1} s): {}",
                    f.scenario.seed, secs, f.violation.what
                ),
                None => println!("{m:?} on {c} CPUs: not found in {seeds} seeds ({secs:.1} s)"),
            }
        }
    }
}
