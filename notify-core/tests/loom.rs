//! loom models of the protocols where an ISR on one CPU races the partition on another.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p notify-core --test loom`.
//! Every model ends by checking that no event was lost: each raise is taken, pending
//! (and then findable through the ready index), or counted as discarded.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use notify_core::{Binding, Context, PartitionEvents, Port, PortConfig, Sender, Source};

static ONE_PORT: [PortConfig; 1] = [PortConfig::new(5, Binding::counting(Source::Timer))];
static MASKED_PORT: [PortConfig; 1] =
    [PortConfig::new(5, Binding::counting(Source::Line(0x21))).masked()];
static TWO_WORDS: [PortConfig; 2] = [
    PortConfig::new(3, Binding::counting(Source::Line(0x21))),
    PortConfig::new(70, Binding::counting(Source::Line(0x22))),
];

fn port<const W: usize>(raw: u32) -> Port<W> {
    Port::new(raw).unwrap()
}

/// Drains everything deliverable; returns the events taken. Also proves the index is
/// sound: after this, no port may hold a pending, deliverable event.
fn drain<const W: usize>(table: &PartitionEvents<W>) -> u64 {
    let mut taken = 0;
    while let Some(d) = table.deliver_next() {
        taken += u64::from(table.take(d.port).unwrap());
    }
    taken
}

/// The partition takes the timer's count while an ISR raises it twice.
#[test]
fn loom_raise_vs_take() {
    loom::model(|| {
        let table = Arc::new(PartitionEvents::<1>::new(&ONE_PORT).unwrap());
        let isr = {
            let table = table.clone();
            thread::spawn(move || {
                let _ = table.raise(port(5), None).unwrap();
                let _ = table.raise(port(5), None).unwrap();
            })
        };
        let mut taken = 0;
        if let Some(d) = table.deliver_next() {
            taken += u64::from(table.take(d.port).unwrap());
        }
        isr.join().unwrap();
        taken += drain(&table);
        assert_eq!(taken, 2, "every raise is taken exactly once");
        assert_eq!(table.pending_total(), 0);
        assert_eq!(table.stats().delivered, 2);
    });
}

/// The partition polls the timer (takes its count without an upcall) while an ISR raises
/// it twice: the take may clear the ready bit just set by the ISR, and must restore it.
#[test]
fn loom_raise_vs_polling_take() {
    loom::model(|| {
        let table = Arc::new(PartitionEvents::<1>::new(&ONE_PORT).unwrap());
        let _ = table.raise(port(5), None).unwrap();
        let isr = {
            let table = table.clone();
            thread::spawn(move || {
                let _ = table.raise(port(5), None).unwrap();
            })
        };
        let mut taken = u64::from(table.take(port(5)).unwrap());
        isr.join().unwrap();
        taken += drain(&table);
        assert_eq!(taken, 2, "every raise is taken exactly once");
    });
}

/// An ISR raises a masked port while the partition unmasks it: exactly one of the two
/// reports that the port became deliverable, and it is then found.
#[test]
fn loom_raise_vs_unmask() {
    loom::model(|| {
        let table = Arc::new(PartitionEvents::<1>::new(&MASKED_PORT).unwrap());
        let isr = {
            let table = table.clone();
            thread::spawn(move || table.raise(port(5), None).unwrap().became_deliverable)
        };
        let unmask_became = table.unmask(port(5));
        let raise_became = isr.join().unwrap();
        assert!(
            raise_became ^ unmask_became,
            "exactly one side signals the partition"
        );
        assert_eq!(
            table.next_deliverable(),
            Some(port(5)),
            "the event is not lost"
        );
    });
}

static SAME_WORD: [PortConfig; 2] = [
    PortConfig::new(3, Binding::counting(Source::Line(0x21))),
    PortConfig::new(9, Binding::counting(Source::Line(0x22))),
];

/// Two ISRs raise two ports while the partition delivers; returns after checking that
/// both events were delivered exactly once.
fn two_raisers<const W: usize>(config: &'static [PortConfig], ports: [u32; 2]) {
    let table = Arc::new(PartitionEvents::<W>::new(config).unwrap());
    let raisers: Vec<_> = ports
        .into_iter()
        .map(|raw| {
            let table = table.clone();
            thread::spawn(move || {
                let _ = table.raise(port(raw), None).unwrap();
            })
        })
        .collect();
    let mut taken = 0;
    if let Some(d) = table.deliver_next() {
        taken += u64::from(table.take(d.port).unwrap());
    }
    for r in raisers {
        r.join().unwrap();
    }
    taken += drain(&table);
    assert_eq!(taken, 2, "both raises delivered");
    assert_eq!(table.next_deliverable(), None);
}

/// Two ISRs raise ports in the same word of one partition (racing on its ready word and
/// on the summary word) while the partition delivers.
#[test]
fn loom_two_raisers_race_on_the_summary_word() {
    loom::model(|| two_raisers::<1>(&SAME_WORD, [3, 9]));
}

/// The same with the ports in different words: the raisers set different summary bits
/// while the partition clears them.
#[test]
fn loom_two_raisers_in_different_words() {
    loom::model(|| {
        // A two-word table of loom atomics needs more stack than loom's main coroutine.
        let partition = thread::Builder::new()
            .stack_size(4 << 20)
            .spawn(|| two_raisers::<2>(&TWO_WORDS, [3, 70]))
            .unwrap();
        partition.join().unwrap();
    });
}

/// An ISR raises (with a context) while the kernel cold-starts the partition: the event
/// is either discarded (counted) or pending afterwards, and a context is visible after
/// the reset only if an event raised after it is pending.
#[test]
fn loom_raise_vs_reset() {
    loom::model(|| {
        let table = Arc::new(PartitionEvents::<1>::new(&ONE_PORT).unwrap());
        let _ = table.raise(port(5), None).unwrap();
        let isr = {
            let table = table.clone();
            thread::spawn(move || {
                let ctx = Context {
                    vector: 0x30,
                    timestamp: 9,
                    ..Context::default()
                };
                let _ = table.raise(port(5), Some(&ctx)).unwrap();
            })
        };
        let discarded = table.reset();
        isr.join().unwrap();
        let pending = table.status(port(5)).pending;
        assert_eq!(
            discarded + u64::from(pending),
            2,
            "discarded + pending = raised"
        );
        assert_eq!(table.stats().discarded, discarded);
        if pending == 0 {
            assert_eq!(
                table.context(port(5)).unwrap(),
                None,
                "no stale context leaks"
            );
            assert_eq!(table.next_deliverable(), None);
        } else {
            assert_eq!(
                table.next_deliverable(),
                Some(port(5)),
                "the new event is found"
            );
        }
    });
}

fn context_for(k: u64) -> Context {
    Context {
        vector: k as u16,
        sender: Sender::Partition(k as u16),
        error_code: k as u32,
        fault_address: k * 0x1000,
        timestamp: k,
    }
}

/// An ISR publishes two contexts while the partition reads the port's context: every read
/// is one whole context, never a mix of two.
#[test]
fn loom_context_publish_vs_read_is_never_torn() {
    loom::model(|| {
        let table = Arc::new(PartitionEvents::<1>::new(&ONE_PORT).unwrap());
        let isr = {
            let table = table.clone();
            thread::spawn(move || {
                let _ = table.raise(port(5), Some(&context_for(1))).unwrap();
                let _ = table.raise(port(5), Some(&context_for(2))).unwrap();
            })
        };
        let seen = table.context(port(5));
        isr.join().unwrap();
        match seen {
            Ok(None) | Err(notify_core::Error::ContextBusy { .. }) => {}
            Ok(Some(ctx)) => assert!(
                ctx == context_for(1) || ctx == context_for(2),
                "torn context {ctx:?}"
            ),
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert_eq!(table.context(port(5)).unwrap(), Some(context_for(2)));
        assert_eq!(table.take(port(5)).unwrap(), 2);
    });
}
