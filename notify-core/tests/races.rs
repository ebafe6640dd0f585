//! Stress tests on real threads for races that loom models in miniature (tests/loom.rs):
//! bounded in rounds, so each runs in a few seconds in release.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};

use notify_core::{Binding, PartitionEvents, Port, PortConfig, Source};

/// One port in every word of a 4,096-port table.
static ONE_PER_WORD: [PortConfig; 64] = {
    let mut config = [PortConfig::new(0, Binding::counting(Source::Timer)); 64];
    let mut w = 0;
    while w < 64 {
        config[w] = PortConfig::new(64 * w as u16, Binding::counting(Source::Line(w as u16)));
        w += 1;
    }
    config
};

/// Defect 1: a reset on one CPU against raises on another. Each round starts with nothing
/// pending; one thread resets while the other raises a port in every word (each raise
/// makes its port deliverable). Afterwards every port is raised once more and everything
/// pending must be found through the index: a word whose ready bit survived the reset
/// without its summary bit would stay hidden.
#[test]
fn defect1_reset_racing_raises_never_hides_a_word() {
    const ROUNDS: usize = 4000;
    let table: Box<PartitionEvents<64>> = Box::new(PartitionEvents::new(&ONE_PER_WORD).unwrap());
    let table = &*table;
    let start = Barrier::new(2);
    let resetting = AtomicBool::new(false);
    let mut hidden = Vec::new();
    let ports: Vec<Port<64>> = (0..64).map(|w| Port::new(64 * w).unwrap()).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..ROUNDS {
                start.wait();
                resetting.store(true, Ordering::Release);
                let _ = table.reset();
                start.wait();
            }
        });
        for round in 0..ROUNDS {
            start.wait();
            while !resetting.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            // Sweep the raises across the reset's index clearing, from a different
            // starting word each round.
            for i in 0..64 {
                let _ = table.raise(ports[(i + round) % 64], None).unwrap();
            }
            start.wait();
            resetting.store(false, Ordering::Relaxed);
            for &p in &ports {
                let _ = table.raise(p, None).unwrap();
            }
            let pending = table.pending_total();
            let mut taken = 0;
            while let Some(d) = table.deliver_next() {
                taken += u64::from(table.take(d.port).unwrap());
            }
            if taken != pending {
                // Record rather than panic: the reset thread is waiting at the barrier.
                hidden.push((round, pending - taken));
                let _ = table.reset();
            }
        }
    });
    let first: Vec<_> = hidden.iter().take(8).collect();
    assert!(
        hidden.is_empty(),
        "{} of {ROUNDS} rounds hid events; first (round, events hidden): {first:?}",
        hidden.len()
    );
}
