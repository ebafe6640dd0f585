//! Many seeds at once: a range of seeds on several threads, the first failure kept.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::run::{Failure, check};
use crate::scenario::Scenario;

/// What a sweep found.
#[derive(Debug)]
pub struct Sweep {
    /// Seeds run.
    pub runs: u64,
    /// A combined hash of every run's trace hash (in seed order).
    pub hash: u64,
    /// The failure of the lowest failing seed found, if any.
    pub failure: Option<Failure>,
}

/// Runs the seeds of `seeds` on `cpus` CPUs (0: each seed chooses 1, 2 or 4 CPUs) over
/// `threads` threads, calling `setup` first on each thread and `progress` after each
/// seed. Stops early at the first failure (the lowest failing seed among those run is
/// reported).
pub fn sweep(
    seeds: Range<u64>,
    cpus: usize,
    threads: usize,
    setup: &(dyn Fn() + Sync),
    progress: &(dyn Fn() + Sync),
) -> Sweep {
    let next = AtomicU64::new(seeds.start);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<Failure>> = Mutex::new(None);
    let hashes = Mutex::new(Vec::new());
    let runs = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                setup();
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let cpus = if cpus == 0 { [1, 2, 4][(seed % 3) as usize] } else { cpus };
                    let scenario = Scenario::from_seed(seed, cpus);
                    match check(&scenario) {
                        Ok(hash) => mine.push((seed, hash)),
                        Err(f) => {
                            stop.store(true, Ordering::Relaxed);
                            let mut slot = failure.lock().unwrap_or_else(|e| e.into_inner());
                            if slot.as_ref().is_none_or(|old| old.scenario.seed > seed) {
                                *slot = Some(*f);
                            }
                        }
                    }
                    runs.fetch_add(1, Ordering::Relaxed);
                    progress();
                }
                hashes.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
            });
        }
    });
    let mut hashes = hashes.into_inner().unwrap_or_else(|e| e.into_inner());
    hashes.sort_unstable();
    let hash = hashes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &(_, x)| (h ^ x).wrapping_mul(0x0000_0100_0000_01b3));
    Sweep {
        runs: runs.into_inner(),
        hash,
        failure: failure.into_inner().unwrap_or_else(|e| e.into_inner()),
    }
}
