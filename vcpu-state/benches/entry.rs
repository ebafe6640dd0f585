//! Entry cost with 1 missed tick against 1,000,000 missed ticks (the catch-up must be
//! O(1): target ratio <= 1.1), and the cost of the upcall-due decision.
//!
//! Timing mode (`cargo bench -p vcpu-state --bench entry`): the two entry cases are
//! measured in the same run, interleaved A B A B, and the median of the per-round ratios
//! is reported. Timings on shared machines are noisy; the instruction counts of the
//! callgrind mode are the stable figures:
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='*workload_entry_one_tick*' \
//!     target/release/deps/entry-HASH callgrind
//! ```
//!
//! (and likewise `*workload_entry_million_ticks*`, `*workload_upcall_due*`,
//! `*workload_floor_page_loads*`). Each workload
//! runs [`CALLGRIND_ITERS`] operations, so the collected instructions divided by that are
//! instructions per operation.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Instant;

use vcpu_state::{CatchUpPolicy, Nesting, SharedPage, StartReason, TimeAccount, Vcpu};

const ROUNDS: usize = 41;
const ITERS: u64 = 200_000;
const CALLGRIND_ITERS: u64 = 10_000;
const EPOCH: u64 = 1_000;

/// Entry into a window after `missed` ticks, on a fresh copy of `base` each time (entry
/// only, no exit in the measured loop).
#[inline(never)]
fn entries(base: &TimeAccount, missed: u64, iters: u64) -> u64 {
    let mut sum = 0;
    for _ in 0..iters {
        let mut account = black_box(*base);
        let now = black_box(EPOCH + missed);
        if let Ok(entry) = account.enter(now, black_box(50)) {
            sum += entry.catch_up.given();
        }
        black_box(&account);
    }
    sum
}

#[inline(never)]
fn upcall_decisions(vcpu: &Vcpu, page: &SharedPage, iters: u64) -> u64 {
    let mut due = 0;
    for i in 0..iters {
        due += u64::from(black_box(vcpu).upcall_due(black_box(page), black_box(i & 1 == 0)));
    }
    due
}

/// The floor: the two loads the decision cannot avoid.
#[inline(never)]
fn bare_loads(page: &SharedPage, iters: u64) -> u64 {
    let mut open = 0;
    for _ in 0..iters {
        open += u64::from(black_box(page).is_open());
    }
    open
}

#[inline(never)]
fn workload_entry_one_tick(base: &TimeAccount) -> u64 {
    entries(base, 1, CALLGRIND_ITERS)
}

#[inline(never)]
fn workload_entry_million_ticks(base: &TimeAccount) -> u64 {
    entries(base, 1_000_000, CALLGRIND_ITERS)
}

#[inline(never)]
fn workload_upcall_due(vcpu: &Vcpu, page: &SharedPage) -> u64 {
    upcall_decisions(vcpu, page, CALLGRIND_ITERS)
}

#[inline(never)]
fn workload_floor_page_loads(page: &SharedPage) -> u64 {
    bare_loads(page, CALLGRIND_ITERS)
}

fn ns_per_op(f: impl FnOnce() -> u64, iters: u64) -> f64 {
    let start = Instant::now();
    black_box(f());
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn setup() -> (SharedPage, Vcpu) {
    let page = SharedPage::new();
    let mut vcpu = Vcpu::new(Nesting::NONE);
    vcpu.start(&page, StartReason::Fresh);
    let _ = vcpu.enter(&page, false);
    let _ = page.guest().sti();
    (page, vcpu)
}

fn main() {
    let policies = [
        ("replay", CatchUpPolicy::Replay),
        (
            "bounded replay (max 1000)",
            CatchUpPolicy::BoundedReplay { max: NonZeroU32::new(1_000).unwrap() },
        ),
    ];
    let (page, vcpu) = setup();

    if std::env::args().any(|a| a == "callgrind") {
        let base = TimeAccount::new(CatchUpPolicy::Replay, EPOCH);
        black_box(workload_entry_one_tick(&base));
        black_box(workload_entry_million_ticks(&base));
        black_box(workload_upcall_due(&vcpu, &page));
        black_box(workload_floor_page_loads(&page));
        println!("callgrind workloads ran {CALLGRIND_ITERS} operations each");
        return;
    }

    for (name, policy) in policies {
        let base = TimeAccount::new(policy, EPOCH);
        // Warm up both.
        black_box(entries(&base, 1, ITERS));
        black_box(entries(&base, 1_000_000, ITERS));
        let (mut one, mut million, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let a = ns_per_op(|| entries(&base, 1, ITERS), ITERS);
            let b = ns_per_op(|| entries(&base, 1_000_000, ITERS), ITERS);
            one.push(a);
            million.push(b);
            ratios.push(b / a);
        }
        println!(
            "entry, {name}: 1 missed tick {:.2} ns, 1,000,000 missed ticks {:.2} ns, median ratio (A B A B, {ROUNDS} rounds) {:.3}",
            median(&mut one),
            median(&mut million),
            median(&mut ratios),
        );
    }

    black_box(upcall_decisions(&vcpu, &page, ITERS));
    let (mut due, mut floor, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = ns_per_op(|| bare_loads(&page, ITERS), ITERS);
        let b = ns_per_op(|| upcall_decisions(&vcpu, &page, ITERS), ITERS);
        floor.push(a);
        due.push(b);
        ratios.push(b / a);
    }
    println!(
        "upcall-due decision: {:.2} ns; floor (the two page loads) {:.2} ns; median ratio {:.3}",
        median(&mut due),
        median(&mut floor),
        median(&mut ratios),
    );
}
