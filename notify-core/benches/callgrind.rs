//! Instruction counts under callgrind: a stable figure on a noisy machine.
//!
//! ```text
//! BIN=$(cargo bench -p notify-core --bench callgrind --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))/\1/p')
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     --toggle-collect='*workload_*' $BIN
//! callgrind_annotate /tmp/cg.out | grep workload_
//! ```
//!
//! Each workload runs `ROUNDS` times; divide its inclusive count by `ROUNDS`.
#![allow(missing_docs, reason = "benchmark binary")]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use notify_core::{Binding, PartitionEvents, Port, PortConfig, PriorityLevel, Source};

pub const ROUNDS: u32 = 10_000;

/// A value only the level workloads use.
const LEVEL_WORKLOAD: u32 = 0x1e7e1;

static TIMER: [PortConfig; 1] = [PortConfig::new(5, Binding::counting(Source::Timer))];
static LAST_64: [PortConfig; 1] = [PortConfig::new(63, Binding::counting(Source::Timer))];
static LAST_4096: [PortConfig; 1] = [PortConfig::new(4095, Binding::counting(Source::Timer))];
static FIRST_LAST_64: [PortConfig; 2] = [
    PortConfig::new(0, Binding::counting(Source::Line(0x20))),
    PortConfig::new(63, Binding::counting(Source::Timer)),
];
static FIRST_LAST_4096: [PortConfig; 2] = [
    PortConfig::new(0, Binding::counting(Source::Line(0x20))),
    PortConfig::new(4095, Binding::counting(Source::Timer)),
];
static ALL_64: [PriorityLevel; 1] = [PriorityLevel::new(0, 64)];
static ALL_4096: [PriorityLevel; 1] = [PriorityLevel::new(0, 4096)];

/// raise + next deliverable + begin service + acknowledge, the whole life of one event.
#[inline(never)]
fn workload_event_cycle(t: &PartitionEvents<1>, port: Port<1>) {
    for _ in 0..ROUNDS {
        let raised = t.raise(black_box(port), None);
        black_box(raised.ok());
        let next = black_box(t.next_deliverable());
        if let Some(p) = next {
            black_box(t.begin_service(p).ok());
            black_box(t.acknowledge(p).ok());
        }
    }
}

/// One raise alone (on an already pending port).
#[inline(never)]
fn workload_raise(t: &PartitionEvents<1>, port: Port<1>) {
    for _ in 0..ROUNDS {
        black_box(t.raise(black_box(port), None).ok());
    }
}

/// Next deliverable with one event pending at the last port.
#[inline(never)]
fn workload_next_64(t: &PartitionEvents<1>) {
    for _ in 0..ROUNDS {
        black_box(black_box(t).next_deliverable());
    }
}

/// The same with 4,096 ports.
#[inline(never)]
fn workload_next_4096(t: &PartitionEvents<64>) {
    for _ in 0..ROUNDS {
        black_box(black_box(t).next_deliverable());
    }
}

/// The event cycle of [`workload_event_cycle`] on a port of a priority level (the cursor
/// moves at each begin service, the lookup searches from it to the level's end).
/// (Its own loop: calling `workload_event_cycle` would add to that workload's count.)
#[inline(never)]
fn workload_event_cycle_level(t: &PartitionEvents<1>, port: Port<1>) {
    // Keeps the function apart from its twin without levels (identical code is merged).
    black_box(LEVEL_WORKLOAD);
    for _ in 0..ROUNDS {
        let raised = t.raise(black_box(port), None);
        black_box(raised.ok());
        let next = black_box(t.next_deliverable());
        if let Some(p) = next {
            black_box(t.begin_service(p).ok());
            black_box(t.acknowledge(p).ok());
        }
    }
}

/// Next deliverable in a level of all 64 ports: events at ports 0 and 63, the cursor at
/// 1 (port 0 just served), so the search from the cursor finds 63.
#[inline(never)]
fn workload_next_level_64(t: &PartitionEvents<1>) {
    // Keeps the function apart from its twin without levels (identical code is merged).
    black_box(LEVEL_WORKLOAD);
    for _ in 0..ROUNDS {
        black_box(black_box(t).next_deliverable());
    }
}

/// The same in a level of all 4,096 ports: events at 0 and 4095, the cursor at 1 (the
/// search goes from word 0 to word 63 through the summary).
#[inline(never)]
fn workload_next_level_4096(t: &PartitionEvents<64>) {
    // Keeps the function apart from its twin without levels (identical code is merged).
    black_box(LEVEL_WORKLOAD);
    for _ in 0..ROUNDS {
        black_box(black_box(t).next_deliverable());
    }
}

/// The floor: one fetch_or plus one fetch_add.
#[inline(never)]
fn workload_floor(pending: &AtomicU64, count: &AtomicU64) {
    for _ in 0..ROUNDS {
        black_box(pending.fetch_or(black_box(1 << 5), Ordering::AcqRel));
        black_box(count.fetch_add(1, Ordering::AcqRel));
    }
}

/// Raises port 0 twice and serves it once (the level's cursor moves to 1, one event stays
/// pending), then raises `last`.
fn serve_first_then_raise_last<const W: usize>(t: &PartitionEvents<W>, last: u32) {
    let first = Port::new(0).expect("in range");
    let _ = t.raise_many(first, 2, None);
    let _ = t.begin_service(first);
    let _ = t.acknowledge(first);
    let _ = t.raise(Port::new(last).expect("in range"), None);
}

fn main() {
    let t = PartitionEvents::<1>::new(&TIMER).expect("valid configuration");
    let port = Port::new(5).expect("in range");
    workload_event_cycle(&t, port);
    workload_raise(&t, port);
    let small = PartitionEvents::<1>::new(&LAST_64).expect("valid configuration");
    let large = Box::new(PartitionEvents::<64>::new(&LAST_4096).expect("valid configuration"));
    let _ = small.raise(Port::new(63).expect("in range"), None);
    let _ = large.raise(Port::new(4095).expect("in range"), None);
    workload_next_64(&small);
    workload_next_4096(&large);
    static TIMER_LEVEL: [PriorityLevel; 1] = [PriorityLevel::new(0, 64)];
    let levelled = PartitionEvents::<1>::with_levels(&TIMER, &TIMER_LEVEL).expect("valid");
    workload_event_cycle_level(&levelled, port);
    let small = PartitionEvents::<1>::with_levels(&FIRST_LAST_64, &ALL_64).expect("valid");
    let large =
        Box::new(PartitionEvents::<64>::with_levels(&FIRST_LAST_4096, &ALL_4096).expect("valid"));
    serve_first_then_raise_last(&small, 63);
    serve_first_then_raise_last(&*large, 4095);
    assert_eq!(small.next_deliverable().map(Port::raw), Some(63));
    assert_eq!(large.next_deliverable().map(Port::raw), Some(4095));
    workload_next_level_64(&small);
    workload_next_level_4096(&large);
    let (pending, count) = (AtomicU64::new(0), AtomicU64::new(0));
    workload_floor(&pending, &count);
    println!("ran {ROUNDS} rounds of each workload");
}
