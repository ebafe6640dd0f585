//! loom models of the protocols where an ISR on one CPU races the partition on another.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p notify-core --test loom`.
//! Every model ends by checking that no event was lost: each raise is taken, pending
//! (and then findable through the ready index), or counted as discarded.
//!
//! Each side of a race runs on a thread of its own and the model's main thread only
//! joins them: loom 0.7 does not explore interleavings of work the main thread does
//! before a freshly spawned thread first runs, so a side left on the main thread would be
//! checked in one order only.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use notify_core::{
    Binding, Context, DirectRaise, Error, PartitionEvents, Port, PortConfig, PriorityLevel, Sender,
    Source,
};

static ONE_PORT: [PortConfig; 1] = [PortConfig::new(5, Binding::counting(Source::Timer))];
static MASKED_PORT: [PortConfig; 1] =
    [PortConfig::new(5, Binding::counting(Source::Line(0x21))).masked()];
static COALESCING_PORT: [PortConfig; 1] =
    [PortConfig::new(5, Binding::coalescing(Source::Channel(0)))];
static SAME_WORD: [PortConfig; 2] = [
    PortConfig::new(3, Binding::counting(Source::Line(0x21))),
    PortConfig::new(9, Binding::counting(Source::Line(0x22))),
];
static TWO_WORDS: [PortConfig; 2] = [
    PortConfig::new(3, Binding::counting(Source::Line(0x21))),
    PortConfig::new(70, Binding::counting(Source::Line(0x22))),
];

/// One level over the ports of `SAME_WORD`, one over those of `TWO_WORDS`.
static LEVEL_64: [PriorityLevel; 1] = [PriorityLevel::new(0, 64)];
static LEVEL_128: [PriorityLevel; 1] = [PriorityLevel::new(0, 128)];

/// Runs a model with at most three preemptions per execution (loom's documented way to
/// keep models with retry loops tractable; races here need at most two).
/// Also checks that loom really explored more than one interleaving.
fn check(f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let executions = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = executions.clone();
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let explored = executions.load(Ordering::Relaxed);
    println!("explored {explored} interleavings");
    assert!(explored > 1, "the model explored a single interleaving");
}

fn port<const W: usize>(raw: u32) -> Port<W> {
    Port::new(raw).unwrap()
}

fn raise<const W: usize>(table: &PartitionEvents<W>, raw: u32, ctx: Option<&Context>) -> bool {
    table.raise(port(raw), ctx).unwrap().became_deliverable
}

/// Stack for model threads: a table of loom atomics needs more than loom's default.
const STACK: usize = 1 << 20;

/// Runs `isr` and `cpu` on two threads against `table`; returns both results.
fn race<const W: usize, A: Send + 'static, B: Send + 'static>(
    table: &Arc<PartitionEvents<W>>,
    isr: impl FnOnce(&PartitionEvents<W>) -> A + Send + 'static,
    cpu: impl FnOnce(&PartitionEvents<W>) -> B + Send + 'static,
) -> (A, B) {
    let t = table.clone();
    let isr = thread::Builder::new().stack_size(STACK).spawn(move || isr(&t)).unwrap();
    let t = table.clone();
    let cpu = thread::Builder::new().stack_size(STACK).spawn(move || cpu(&t)).unwrap();
    (isr.join().unwrap(), cpu.join().unwrap())
}

/// Drains everything deliverable; returns the events taken. Also proves the index is
/// sound: afterwards no port may hold a pending, deliverable event.
fn drain<const W: usize>(table: &PartitionEvents<W>) -> u64 {
    let mut taken = 0;
    while let Some(d) = table.deliver_next() {
        taken += u64::from(table.take(d.port).unwrap());
    }
    taken
}

fn table<const W: usize>(config: &'static [PortConfig]) -> Arc<PartitionEvents<W>> {
    Arc::new(PartitionEvents::new(config).unwrap())
}

fn levelled<const W: usize>(
    config: &'static [PortConfig],
    levels: &'static [PriorityLevel],
) -> Arc<PartitionEvents<W>> {
    Arc::new(PartitionEvents::with_levels(config, levels).unwrap())
}

/// The partition delivers and takes the timer's count while an ISR raises it twice.
#[test]
fn loom_raise_vs_take() {
    check(|| {
        let table = table::<1>(&ONE_PORT);
        let ((), taken) = race(
            &table,
            |t| {
                raise(t, 5, None);
                raise(t, 5, None);
            },
            |t| t.deliver_next().map_or(0, |d| u64::from(t.take(d.port).unwrap())),
        );
        assert_eq!(taken + drain(&table), 2, "every raise is taken exactly once");
        assert_eq!(table.pending_total(), 0);
        assert_eq!(table.stats().delivered, 2);
    });
}

/// The partition polls the timer (takes its count without an upcall) while an ISR raises
/// it: the take may clear the ready bit just set by the ISR, and must restore it.
#[test]
fn loom_raise_vs_polling_take() {
    check(|| {
        let table = table::<1>(&ONE_PORT);
        raise(&table, 5, None);
        let ((), taken) = race(
            &table,
            |t| {
                raise(t, 5, None);
            },
            |t| u64::from(t.take(port(5)).unwrap()),
        );
        assert_eq!(taken + drain(&table), 2, "every raise is taken exactly once");
    });
}

/// An ISR raises a masked port while the partition unmasks it: exactly one of the two
/// reports that the port became deliverable, and it is then found.
#[test]
fn loom_raise_vs_unmask() {
    check(|| {
        let table = table::<1>(&MASKED_PORT);
        let (raise_became, unmask_became) =
            race(&table, |t| raise(t, 5, None), |t| t.unmask(port(5)));
        assert!(raise_became ^ unmask_became, "exactly one side signals the partition");
        assert_eq!(table.next_deliverable(), Some(port(5)), "the event is not lost");
    });
}

/// Two ISRs raise two ports of one partition while the partition delivers; afterwards
/// both events have been delivered exactly once.
fn two_raisers<const W: usize>(config: &'static [PortConfig], ports: [u32; 2]) {
    let table = table::<W>(config);
    let spawn = |f: Box<dyn FnOnce(&PartitionEvents<W>) -> u64 + Send>| {
        let t = table.clone();
        thread::Builder::new().stack_size(STACK).spawn(move || f(&t)).unwrap()
    };
    let threads = [
        spawn(Box::new(move |t| u64::from(raise(t, ports[0], None)))),
        spawn(Box::new(move |t| u64::from(raise(t, ports[1], None)))),
        spawn(Box::new(|t| t.deliver_next().map_or(0, |d| u64::from(t.take(d.port).unwrap())))),
    ];
    let results: Vec<u64> = threads.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(results[0] + results[1] >= 1, "someone signalled the partition");
    assert_eq!(results[2] + drain(&table), 2, "both raises delivered");
    assert_eq!(table.next_deliverable(), None);
}

/// Two ISRs raise two ports in the same word (racing on its ready word and on the
/// summary word) while the partition delivers.
#[test]
fn loom_two_raisers_race_on_the_summary_word() {
    check(|| two_raisers::<1>(&SAME_WORD, [3, 9]));
}

/// The same with the two ports in different words: different summary bits, set by the
/// raisers while the partition clears them.
#[test]
fn loom_two_raisers_in_different_words() {
    check(|| {
        // A two-word table of loom atomics overflows loom's main coroutine stack, so the
        // scenario runs on a thread of its own; that leaves room for two more threads.
        let scenario = thread::Builder::new().stack_size(STACK).spawn(|| {
            let table = table::<2>(&TWO_WORDS);
            let (first, second) = race(&table, |t| raise(t, 3, None), |t| raise(t, 70, None));
            assert!(first && second, "different words: both ports became deliverable");
            assert_eq!(drain(&table), 2, "both raises delivered");
            assert_eq!(table.next_deliverable(), None);
        });
        scenario.unwrap().join().unwrap();
    });
}

/// The partition's own CPU raises port 9 straight into service (`raise_into_service`: an
/// interrupt taken there while its vCPU accepts an upcall) while another CPU raises port 3,
/// of higher priority. The direct raise takes port 9 into service only from an idle port
/// while nothing was deliverable, and never hides the other raise: that one reports its
/// port deliverable and the lookup finds it first (priority); both events end delivered
/// exactly once.
#[test]
fn loom_raise_into_service_vs_a_raise_of_another_port() {
    check(|| {
        let table = table::<1>(&SAME_WORD);
        let (became, direct) =
            race(&table, |t| raise(t, 3, None), |t| t.raise_into_service(port(9), None).unwrap());
        assert!(became, "port 3 was idle: its raiser signals the partition");
        assert_eq!(table.next_deliverable(), Some(port(3)), "the other raise is found first");
        let taken = match direct {
            DirectRaise::Serving(d) => {
                assert_eq!((d.port, d.pending), (port(9), 1));
                assert!(table.status(port(9)).in_service);
                u64::from(table.take(port(9)).unwrap())
            }
            DirectRaise::Raised(r) => {
                assert!(r.became_deliverable, "port 9 was idle");
                0
            }
        };
        assert_eq!(taken + drain(&table), 2, "both raises delivered");
        assert_eq!(table.next_deliverable(), None);
    });
}

/// Two CPUs raise the same port, one straight into service: whichever wins, one event is
/// in service or both are pending, exactly one side reports that the port needs
/// delivering (the direct raise by serving it), and both events end delivered once.
#[test]
fn loom_raise_into_service_vs_a_raise_of_the_same_port() {
    check(|| {
        let table = table::<1>(&ONE_PORT);
        let (became, direct) =
            race(&table, |t| raise(t, 5, None), |t| t.raise_into_service(port(5), None).unwrap());
        let status = table.status(port(5));
        assert_eq!(status.pending, 2, "both events counted");
        let taken = match direct {
            DirectRaise::Serving(d) => {
                assert!(!became, "into a port in service: nothing to signal");
                assert_eq!((d.pending, status.in_service), (1, true));
                let ack = table.acknowledge(port(5)).unwrap();
                assert!(ack.deliverable_again, "the other event is delivered after it");
                1
            }
            DirectRaise::Raised(r) => {
                assert!(became ^ r.became_deliverable, "exactly one side signals");
                assert!(!status.in_service);
                0
            }
        };
        assert_eq!(taken + drain(&table), 2, "both raises delivered");
        assert_eq!(table.next_deliverable(), None);
    });
}

/// The partition looks up the next deliverable port while another CPU masks the first of
/// two pending ports: the lookup may meet the masked port's ready bit before the mask
/// retires it (a stale bit, cleaned up out of line, and with the ports in different
/// words a stale summary bit); it still finds the other port, never nothing, and the
/// index stays sound.
fn lookup_vs_mask<const W: usize>(config: &'static [PortConfig], ports: [u32; 2]) {
    let table = table::<W>(config);
    raise(&table, ports[0], None);
    raise(&table, ports[1], None);
    let ((), found) = race(&table, move |t| t.mask(port(ports[0])), |t| t.next_deliverable());
    assert!(
        found == Some(port(ports[0])) || found == Some(port(ports[1])),
        "a pending, unmasked port is found: {found:?}"
    );
    assert_eq!(table.next_deliverable(), Some(port(ports[1])));
    assert!(table.unmask(port(ports[0])), "the masked port's event is kept");
    assert_eq!(table.next_deliverable(), Some(port(ports[0])));
    assert_eq!(drain(&table), 2, "both raises delivered");
    assert_eq!(table.next_deliverable(), None);
}

/// [`lookup_vs_mask`] with both ports in one word.
#[test]
fn loom_lookup_vs_mask_meets_a_stale_ready_bit() {
    check(|| lookup_vs_mask::<1>(&SAME_WORD, [3, 9]));
}

/// [`lookup_vs_mask`] with the ports in different words.
#[test]
fn loom_lookup_vs_mask_meets_a_stale_summary_bit() {
    check(|| {
        // A two-word table needs a thread of its own (see the model above).
        let scenario = thread::Builder::new()
            .stack_size(STACK)
            .spawn(|| lookup_vs_mask::<2>(&TWO_WORDS, [3, 70]));
        scenario.unwrap().join().unwrap();
    });
}

/// An ISR raises (with a context) while the kernel cold-starts the partition: the event
/// is either discarded (counted) or pending afterwards, and a context is visible after
/// the reset only if an event raised after it is pending.
#[test]
fn loom_raise_vs_reset() {
    check(|| {
        let table = table::<1>(&ONE_PORT);
        raise(&table, 5, None);
        let ((), discarded) = race(
            &table,
            |t| {
                let ctx = Context { vector: 0x30, timestamp: 9, ..Context::default() };
                raise(t, 5, Some(&ctx));
            },
            |t| t.reset(),
        );
        let pending = table.status(port(5)).pending;
        assert_eq!(discarded + u64::from(pending), 2, "discarded + pending = raised");
        assert_eq!(table.stats().discarded, discarded);
        if pending == 0 {
            assert_eq!(table.context(port(5)).unwrap(), None, "no stale context leaks");
            assert_eq!(table.next_deliverable(), None);
        } else {
            assert_eq!(table.next_deliverable(), Some(port(5)), "the new event is found");
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
    check(|| {
        let table = table::<1>(&ONE_PORT);
        let ((), seen) = race(
            &table,
            |t| {
                raise(t, 5, Some(&context_for(1)));
                raise(t, 5, Some(&context_for(2)));
            },
            |t| t.context(port(5)),
        );
        match seen {
            Ok(None) | Err(Error::ContextBusy { .. }) => {}
            Ok(Some(ctx)) => {
                assert!(ctx == context_for(1) || ctx == context_for(2), "torn context {ctx:?}")
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert_eq!(table.context(port(5)).unwrap(), Some(context_for(2)));
        assert_eq!(table.take(port(5)).unwrap(), 2);
    });
}

/// Defect 1: a cold reset racing the raise that makes a port deliverable. The reset clears
/// the index while the raise sets the port's ready bit (and, the word being empty, its
/// summary bit); the reset's swap then discards the raised event. Whatever the order, a
/// raise after the reset must be found: an index left with a ready bit but no summary bit
/// would make every later raise in that word skip the summary, hiding the word until the
/// next reset. (With the reset clearing the index by plain stores, loom 0.7 also reports a
/// failure in the fixed order, from an execution that breaks read-modify-write atomicity;
/// see the module doc of `partition/lifecycle.rs`. The reset uses swaps.)
#[test]
fn loom_defect1_reset_racing_a_raise_never_hides_the_word() {
    check(|| {
        let table = table::<1>(&ONE_PORT);
        let (became, discarded) = race(&table, |t| raise(t, 5, None), |t| t.reset());
        let pending = u64::from(table.status(port(5)).pending);
        assert_eq!(discarded + pending, 1, "discarded + pending = raised");
        if pending == 1 {
            assert!(became, "the raise made the port deliverable");
            assert_eq!(table.next_deliverable(), Some(port(5)), "the raised event is found");
        }
        // A raise after the reset: deliverable, and found through the index.
        let _ = table.raise(port(5), None).unwrap();
        assert_eq!(table.next_deliverable(), Some(port(5)), "a raise after the reset is found");
        assert_eq!(drain(&table), pending + 1, "every pending event is taken");
        assert_eq!(table.next_deliverable(), None);
    });
}

/// Defect 7: the partition reads a port's context while the port is unbound, bound again
/// and raised with a context that has the same vector and sender. The cell's sequence must
/// never come back to a value a reader may have started from, or the reader validates a
/// mix of the two contexts.
#[test]
fn loom_defect7_context_read_vs_unbind_rebind_raise_is_never_torn() {
    check(|| {
        let table = table::<1>(&ONE_PORT);
        let first = Context { vector: 0x30, error_code: 1, fault_address: 1, ..Context::default() };
        let second = Context { error_code: 2, fault_address: 2, ..first };
        let _ = table.raise(port(5), Some(&first)).unwrap();
        let (seen, ()) = race(
            &table,
            |t| t.context(port(5)),
            move |t| {
                t.unbind(port(5)).unwrap();
                t.bind(port(5), Binding::counting(Source::Timer)).unwrap();
                let _ = t.raise(port(5), Some(&second)).unwrap();
            },
        );
        match seen {
            Ok(None) | Err(Error::ContextBusy { .. } | Error::NotBound { .. }) => {}
            Ok(Some(ctx)) => assert!(ctx == first || ctx == second, "torn context {ctx:?}"),
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert_eq!(table.context(port(5)).unwrap(), Some(second));
    });
}

/// Defect 8: an ISR raises (with a context) while the partition unbinds the port; the port
/// is then bound again. Whichever way the race went, the new binding sees no context until
/// one of its own raises publishes one.
#[test]
fn loom_defect8_raise_losing_to_unbind_leaves_no_context_for_the_next_binding() {
    check(|| {
        let table = table::<1>(&ONE_PORT);
        let old = Context { vector: 0x30, timestamp: 1, ..Context::default() };
        let (raised, discarded) = race(
            &table,
            move |t| t.raise(port(5), Some(&old)).map(|r| r.became_deliverable),
            |t| t.unbind(port(5)).unwrap(),
        );
        match raised {
            Ok(became) => assert!(became && discarded == 1, "a raise before the unbind"),
            Err(e) => assert_eq!((e, discarded), (Error::NotBound { port: 5 }, 0)),
        }
        table.bind(port(5), Binding::counting(Source::Timer)).unwrap();
        assert_eq!(table.context(port(5)).unwrap(), None, "no context of the old binding");
        let new = Context { vector: 0x31, timestamp: 2, ..Context::default() };
        let _ = table.raise(port(5), Some(&new)).unwrap();
        assert_eq!(table.context(port(5)).unwrap(), Some(new));
    });
}

/// Defect 10: a channel notify raises a coalescing port while the partition acknowledges
/// the event in service. Whichever lands first, the new event is pending afterwards and
/// found through the index: it is never absorbed into the one being handled.
#[test]
fn loom_defect10_coalescing_raise_during_service_vs_acknowledge() {
    check(|| {
        let table = table::<1>(&COALESCING_PORT);
        raise(&table, 5, None);
        assert_eq!(table.begin_service(port(5)).unwrap().pending, 1);
        let (raise_became, ack) =
            race(&table, |t| raise(t, 5, None), |t| t.acknowledge(port(5)).unwrap());
        assert!(raise_became ^ ack.deliverable_again, "exactly one side signals the partition");
        assert_eq!(table.next_deliverable(), Some(port(5)), "the new event is not lost");
        assert_eq!(drain(&table), 1);
        let stats = table.stats();
        assert_eq!((stats.delivered, stats.coalesced, stats.pending), (2, 0, 0));
    });
}

/// Round-robin in a priority level: `ports` share a level, the first of them has an event
/// in service and one more pending, so the level's cursor is past it and the lookup
/// searches from the cursor (the first port's ready word, and with the ports in two words
/// the next word the summary marks). Another CPU masks the second port meanwhile: the
/// search may meet its ready bit (or its word's summary bit) after the mask made it
/// stale. The lookup still answers a deliverable port of the level, never nothing; the
/// stale bit is retired, never the index left hiding an event, and both events and the
/// masked one's are delivered once it is unmasked.
fn round_robin_vs_mask<const W: usize>(
    config: &'static [PortConfig],
    levels: &'static [PriorityLevel],
    ports: [u32; 2],
) {
    let table = levelled::<W>(config, levels);
    let _ = table.raise_many(port(ports[0]), 2, None).unwrap();
    // The first port served once: the cursor moves past it, one event stays pending.
    assert_eq!(table.deliver_next().map(|d| d.port), Some(port(ports[0])));
    table.acknowledge(port(ports[0])).unwrap();
    raise(&table, ports[1], None);
    let ((), found) = race(&table, move |t| t.mask(port(ports[1])), |t| t.next_deliverable());
    assert!(
        found == Some(port(ports[0])) || found == Some(port(ports[1])),
        "a deliverable port of the level is found: {found:?}"
    );
    assert_eq!(table.next_deliverable(), Some(port(ports[0])), "the masked port is skipped");
    assert!(table.unmask(port(ports[1])), "the masked port's event is kept");
    // The cursor is still past the first port: the second comes first now.
    assert_eq!(table.next_deliverable(), Some(port(ports[1])));
    assert_eq!(drain(&table), 2, "both pending events delivered");
    assert_eq!(table.next_deliverable(), None);
    assert_eq!(table.stats().delivered, 3);
}

/// [`round_robin_vs_mask`] with both ports in one word.
#[test]
fn loom_round_robin_vs_mask_meets_a_stale_ready_bit() {
    check(|| round_robin_vs_mask::<1>(&SAME_WORD, &LEVEL_64, [3, 9]));
}

/// [`round_robin_vs_mask`] with the ports in two words: the search follows the summary.
#[test]
fn loom_round_robin_vs_mask_meets_a_stale_summary_bit() {
    check(|| {
        // A two-word table needs a thread of its own (see the models above).
        let scenario = thread::Builder::new()
            .stack_size(STACK)
            .spawn(|| round_robin_vs_mask::<2>(&TWO_WORDS, &LEVEL_128, [3, 70]));
        scenario.unwrap().join().unwrap();
    });
}

/// An ISR raises the second port of a level while the partition takes the first into
/// service (moving the level's cursor), acknowledges it (one more event pending) and looks
/// up the next. The raise is never lost, and once it is in, the cursor (written and read on
/// the partition's side) sends the lookup to the raised port before the first again.
///
/// The lookup during the race may answer nothing: the acknowledgement's `mark_ready`
/// finds the word non-empty (the raise's ready bit) and leaves the summary bit to the
/// raise, still on its way to set it. That is the index's contract, not a level's doing
/// (the same happens without levels): the raise reports that the port became deliverable,
/// so the partition is signalled and looks again.
#[test]
fn loom_raise_in_a_level_vs_round_robin_delivery() {
    check(|| {
        let table = levelled::<1>(&SAME_WORD, &LEVEL_64);
        let _ = table.raise_many(port(3), 2, None).unwrap();
        let (became, (first, next)) = race(
            &table,
            |t| raise(t, 9, None),
            |t| {
                let first = t.deliver_next().map(|d| d.port);
                t.acknowledge(port(3)).unwrap();
                (first, t.next_deliverable())
            },
        );
        assert!(became, "the raised port was idle: the partition is signalled");
        assert_eq!(first, Some(port(3)));
        assert!(matches!(next.map(Port::raw), None | Some(3 | 9)), "found {next:?}");
        // Whichever the race, once the raise is in, round-robin offers it first.
        assert_eq!(table.next_deliverable(), Some(port(9)));
        assert_eq!(drain(&table), 2, "both pending events delivered");
        assert_eq!(table.next_deliverable(), None);
    });
}
