//! Timing benchmark of the event tables, reported as ratios against baselines measured in
//! the same run (A B A B interleaved batches, median of the per-round ratios), because
//! these machines are shared and absolute times are noisy.
//!
//! Run: `cargo bench -p notify-core --bench tables`
#![allow(missing_docs, reason = "benchmark binary")]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use notify_core::{Binding, EventTables, PartitionEvents, Port, PortConfig, Source};

const BATCH: u32 = 20_000;
const ROUNDS: usize = 41;

/// Nanoseconds per operation of one batch of `f`.
fn batch(f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..BATCH {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(BATCH)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `a` and `b` in alternating batches; prints both medians and the median ratio.
fn compare(name: &str, a_name: &str, a: &mut dyn FnMut(), b_name: &str, b: &mut dyn FnMut()) {
    // Warm up both.
    batch(a);
    batch(b);
    let (mut ta, mut tb, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let x = batch(a);
        let y = batch(b);
        ta.push(x);
        tb.push(y);
        ratio.push(x / y);
    }
    println!(
        "{name:<44} {a_name} {:>7.2} ns | {b_name} {:>7.2} ns | ratio {:.2}",
        median(ta),
        median(tb),
        median(ratio)
    );
}

static TIMER_LOW: [PortConfig; 1] = [PortConfig::new(63, Binding::counting(Source::Timer))];
static TIMER_HIGH: [PortConfig; 1] = [PortConfig::new(4095, Binding::counting(Source::Timer))];
static TIMER_127: [PortConfig; 1] = [PortConfig::new(127, Binding::counting(Source::Timer))];
static TIMER_0: [PortConfig; 1] = [PortConfig::new(0, Binding::counting(Source::Timer))];

fn main() {
    let pending = AtomicU64::new(0);
    let count = AtomicU64::new(0);
    let other = AtomicU64::new(0);
    let mut floor = || {
        black_box(pending.fetch_or(1 << 5, Ordering::AcqRel));
        black_box(count.fetch_add(1, Ordering::AcqRel));
    };

    // 1. Raise on a counting port that already has events pending (the common case in an
    //    interrupt burst): one compare-and-swap on the port plus the statistics.
    let t = PartitionEvents::<1>::new(&TIMER_0).expect("valid");
    let port = Port::new(0).expect("in range");
    let mut raise = || {
        black_box(t.raise(black_box(port), None).ok());
    };
    raise();
    compare("raise, port already pending", "raise", &mut raise, "floor", &mut floor);

    // 2. Raise into an empty port (it becomes deliverable: ready and summary bits too),
    //    measured as a raise + take cycle against a floor cycle of four atomic RMWs.
    let t = PartitionEvents::<1>::new(&TIMER_0).expect("valid");
    let mut cycle = || {
        black_box(t.raise(black_box(port), None).ok());
        black_box(t.take(black_box(port)).ok());
    };
    let mut floor_cycle = || {
        black_box(pending.fetch_or(1 << 5, Ordering::AcqRel));
        black_box(count.fetch_add(1, Ordering::AcqRel));
        black_box(pending.fetch_and(!(1 << 5), Ordering::AcqRel));
        black_box(other.swap(0, Ordering::AcqRel));
    };
    compare("raise into empty port + take", "cycle", &mut cycle, "floor x2", &mut floor_cycle);

    // 3. Next deliverable: one pending event at the last port, 4,096 ports vs 64 ports.
    let small = PartitionEvents::<1>::new(&TIMER_LOW).expect("valid");
    let large = Box::new(PartitionEvents::<64>::new(&TIMER_HIGH).expect("valid"));
    let _ = small.raise(Port::new(63).expect("in range"), None).expect("bound");
    let _ = large.raise(Port::new(4095).expect("in range"), None).expect("bound");
    let mut next_large = || {
        black_box(black_box(&*large).next_deliverable());
    };
    let mut next_small = || {
        black_box(black_box(&small).next_deliverable());
    };
    compare("next deliverable, last port", "4096", &mut next_large, "64", &mut next_small);
    // The same against 128 ports, the smallest table where the lookup has two levels
    // at run time (with 64 ports the compiler knows there is one word).
    let two_words = PartitionEvents::<2>::new(&TIMER_127).expect("valid");
    let _ = two_words.raise(Port::new(127).expect("in range"), None).expect("bound");
    let mut next_two = || {
        black_box(black_box(&two_words).next_deliverable());
    };
    compare("next deliverable, last port", "4096", &mut next_large, "128", &mut next_two);

    // 4. Sizes.
    println!();
    println!(
        "size_of PartitionEvents<1>  (64 ports):   {:>7} bytes",
        size_of::<PartitionEvents<1>>()
    );
    println!(
        "size_of PartitionEvents<64> (4096 ports): {:>7} bytes",
        size_of::<PartitionEvents<64>>()
    );
    println!(
        "size_of EventTables<8, 1> (8 x 64 ports): {:>7} bytes",
        size_of::<EventTables<8, 1>>()
    );
}
