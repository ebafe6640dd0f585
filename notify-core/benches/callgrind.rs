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

use notify_core::{Binding, PartitionEvents, Port, PortConfig, Source};

pub const ROUNDS: u32 = 10_000;

static TIMER: [PortConfig; 1] = [PortConfig::new(5, Binding::counting(Source::Timer))];
static LAST_64: [PortConfig; 1] = [PortConfig::new(63, Binding::counting(Source::Timer))];
static LAST_4096: [PortConfig; 1] = [PortConfig::new(4095, Binding::counting(Source::Timer))];

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

/// The floor: one fetch_or plus one fetch_add.
#[inline(never)]
fn workload_floor(pending: &AtomicU64, count: &AtomicU64) {
    for _ in 0..ROUNDS {
        black_box(pending.fetch_or(black_box(1 << 5), Ordering::AcqRel));
        black_box(count.fetch_add(1, Ordering::AcqRel));
    }
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
    let (pending, count) = (AtomicU64::new(0), AtomicU64::new(0));
    workload_floor(&pending, &count);
    println!("ran {ROUNDS} rounds of each workload");
}
