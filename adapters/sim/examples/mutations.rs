//! How many seeds the simulator needs to find each deliberately broken engine
//! (`irq_router::mutation`, a dev-dependency feature: examples and tests only).
//!
//! ```sh
//! cargo run --release -p irq-sim --example mutations -- [SEEDS] [CPUS...]
//! ```
//!
//! runs seeds `0..SEEDS` (default 2000) on each CPU count (default 1, 2 and 4) under each
//! mutation and prints the first failing seed, its violation, and how many of the seeds
//! fail. `MUTATION=NAME` keeps the mutations whose name contains `NAME`; with `SEED=N`
//! too, it replays that seed (on the first CPU count given) under that mutation and
//! prints its trace (`QUIET=1`: the run without the storm; `ISOLATED=1`: the storm's
//! isolation run, or with `QUIET=1` the run it is compared with).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use irq_router::mutation::{self, Mutation};
use irq_sim::{Options, Scenario, check, run_once};

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let seeds = args.first().copied().unwrap_or(2000);
    let cpus: Vec<usize> = match args.get(1..) {
        Some(rest) if !rest.is_empty() => rest.iter().map(|&c| c as usize).collect(),
        _ => vec![1, 2, 4],
    };
    let only = std::env::var("MUTATION").ok();
    let chosen = |m: &Mutation| only.as_ref().is_none_or(|o| format!("{m:?}").contains(o.as_str()));
    if let Ok(seed) = std::env::var("SEED") {
        let seed: u64 = seed.parse().expect("SEED: a number");
        let m = Mutation::ALL.into_iter().find(|m| only.is_some() && chosen(m));
        mutation::set(Some(m.expect("MUTATION: a mutation's name")));
        let scenario = Scenario::from_seed(seed, cpus[0]);
        print!("{scenario}");
        let storm = std::env::var("QUIET").is_err();
        let isolated = std::env::var("ISOLATED").is_ok();
        let outcome =
            run_once(&scenario, storm, Options { trace: true, limit: None, isolated, bare: false });
        for line in &outcome.trace {
            println!("{line}");
        }
        println!("{:?}", outcome.violation);
        return;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for m in Mutation::ALL.into_iter().filter(chosen) {
        for &c in &cpus {
            let started = Instant::now();
            let next = AtomicU64::new(0);
            let failed = AtomicU64::new(0);
            let first: Mutex<Option<(u64, String)>> = Mutex::new(None);
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        mutation::set(Some(m));
                        loop {
                            let seed = next.fetch_add(1, Ordering::Relaxed);
                            if seed >= seeds {
                                break;
                            }
                            if let Err(f) = check(&Scenario::from_seed(seed, c)) {
                                failed.fetch_add(1, Ordering::Relaxed);
                                let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
                                if first.as_ref().is_none_or(|(s, _)| *s > seed) {
                                    *first = Some((seed, f.violation.what));
                                }
                            }
                        }
                    });
                }
            });
            let secs = started.elapsed().as_secs_f64();
            let failed = failed.into_inner();
            match first.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some((seed, what)) => println!(
                    "{m:?} on {c} CPUs: first seed {seed}, {failed} of {seeds} seeds fail ({secs:.1} s): {what}"
                ),
                None => println!("{m:?} on {c} CPUs: no seed of {seeds} fails ({secs:.1} s)"),
            }
        }
    }
}
