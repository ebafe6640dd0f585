//! Cost of the whole entry path with 1 missed tick against 1,000,000 missed ticks (the
//! catch-up must be O(1): target ratio <= 1.1), and the cost of the upcall-due decision.
//!
//! The entry path is [`Partition::enter`]: `TimeAccount::enter` (missed ticks, catch-up),
//! `SharedPage::publish_clock`, the run state in the `Doorbell`, the sequentially
//! consistent fence, the caller's `events` closure (here: "deliverable if the catch-up
//! gave anything", standing in for notify-core) and `Vcpu::enter` (the upcall decision,
//! here "upcall pending" flagged since a started guest begins closed).
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

use vcpu_state::{
    CatchUpPolicy, Doorbell, Nesting, Partition, Resume, SharedPage, StartReason, Vcpu,
};

const ROUNDS: usize = 41;
const ITERS: u64 = 200_000;
const CALLGRIND_ITERS: u64 = 10_000;
const EPOCH: u64 = 1_000;

/// The page and doorbell of the partition under measurement.
struct Shared {
    page: SharedPage,
    bell: Doorbell,
}

/// The whole entry path into a window after `missed` ticks, on a fresh clone of `base`
/// each time (entry only, no exit in the measured loop).
#[inline(never)]
fn entries(base: &Partition, shared: &Shared, missed: u64, iters: u64) -> u64 {
    let mut sum = 0;
    for _ in 0..iters {
        let mut partition = black_box(base.clone());
        let now = black_box(EPOCH + missed);
        let entered = partition.enter(&shared.page, &shared.bell, now, black_box(50), |entry| {
            black_box(entry.catch_up.given()) > 0
        });
        if let Ok(entered) = entered {
            sum += entered.entry.catch_up.given() + u64::from(entered.resume == Resume::Flagged);
        }
        black_box(&partition);
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
fn workload_entry_one_tick(base: &Partition, shared: &Shared) -> u64 {
    entries(base, shared, 1, CALLGRIND_ITERS)
}

#[inline(never)]
fn workload_entry_million_ticks(base: &Partition, shared: &Shared) -> u64 {
    entries(base, shared, 1_000_000, CALLGRIND_ITERS)
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
    let (page, bell) = (SharedPage::new(), Doorbell::new());
    let mut vcpu = Vcpu::new(Nesting::NONE);
    vcpu.start(&page, &bell, StartReason::Fresh);
    let _ = vcpu.enter(&page, &bell, || false);
    let _ = page.guest().sti();
    (page, vcpu)
}

/// A started partition (at `EPOCH`, outside its window) and its page and doorbell.
fn partition(policy: CatchUpPolicy) -> (Partition, Shared) {
    let shared = Shared { page: SharedPage::new(), bell: Doorbell::new() };
    let mut partition = Partition::new(policy, Nesting::NONE, EPOCH);
    let _ = partition.start(&shared.page, &shared.bell, EPOCH, StartReason::Fresh);
    (partition, shared)
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
        let (base, shared) = partition(CatchUpPolicy::Replay);
        black_box(workload_entry_one_tick(&base, &shared));
        black_box(workload_entry_million_ticks(&base, &shared));
        black_box(workload_upcall_due(&vcpu, &page));
        black_box(workload_floor_page_loads(&page));
        println!("callgrind workloads ran {CALLGRIND_ITERS} operations each");
        return;
    }

    for (name, policy) in policies {
        let (base, shared) = partition(policy);
        // Warm up both.
        black_box(entries(&base, &shared, 1, ITERS));
        black_box(entries(&base, &shared, 1_000_000, ITERS));
        let (mut one, mut million, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let a = ns_per_op(|| entries(&base, &shared, 1, ITERS), ITERS);
            let b = ns_per_op(|| entries(&base, &shared, 1_000_000, ITERS), ITERS);
            one.push(a);
            million.push(b);
            ratios.push(b / a);
        }
        println!(
            "entry path, {name}: 1 missed tick {:.2} ns, 1,000,000 missed ticks {:.2} ns, median ratio (A B A B, {ROUNDS} rounds) {:.3}",
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
