//! The acknowledgement state of a level-triggered line shared by several partitions.
//!
//! When the line fires it is masked and acknowledged at the controller, and the set of
//! targets whose port was raised is recorded (one bit per target of the route, by its
//! index in the route's `targets`). Each partition acknowledges its own event; the one
//! whose acknowledgement empties the set unmasks the line. If the set is not empty by the
//! deadline, the tick that notices takes what is left (each is an acknowledgement timeout
//! for the health monitor) and unmasks the line anyway, so one stuck partition cannot
//! starve the others. Whichever of these empties the set is the only one told to unmask:
//! the line is unmasked exactly once per firing.
//!
//! # One word per line, tagged by firing
//!
//! The set and a generation number share one atomic word (`generation << 32 | set`), and
//! every change is one read-modify-write of that word. The tick takes what is left only
//! by a compare-and-swap of the word it read, so it can never take the debts of a later
//! firing: if the last acknowledgement unmasked the line and the line fired again between
//! the tick's read of the deadline and its take, the word's generation changed and the
//! take fails (the tick then reads the new firing and its deadline). A firing raises the
//! deadline before it publishes its word (release), and the tick reads the word (acquire)
//! before the deadline, so the deadline it compares is at least as new as the firing it
//! takes (a newer one only delays the take to a later tick).
//!
//! An acknowledgement that arrives after a forced unmask clears the partition from the
//! next firing's set if the line fired again meanwhile: the partition's port coalesces,
//! so it owes one acknowledgement for "the line is asserted", whichever firing raised it.
//!
//! [`AckWatch`] is the engine's earliest deadline over all lines: a firing lowers it
//! after its word is published, a tick takes it with a swap before it scans the lines, so
//! a firing is either seen by the scan or leaves its deadline in the watch.

use crate::sync::{AtomicU64, Ordering, maybe_const_fn};

/// Deadline meaning "none".
const NO_DEADLINE: u64 = u64::MAX;

/// The set of targets in a line's word.
const SET: u64 = 0xffff_ffff;

/// One level line's outstanding acknowledgements.
pub(crate) struct LevelLine {
    /// `generation << 32 | set`: bit `t` of the set is target `t`, which still owes an
    /// acknowledgement of the firing `generation`.
    word: AtomicU64,
    /// Tick by which every acknowledgement of the current firing is due (only raised:
    /// meaningful while the set is not empty).
    deadline: AtomicU64,
}

/// What an operation on the line asks the caller to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Unmask {
    /// Unmask the line now (this caller emptied the set).
    Now,
    /// Leave it masked: others still owe, or someone else unmasked it.
    No,
}

impl LevelLine {
    maybe_const_fn! {
        pub(crate) fn new() -> Self {
            Self { word: AtomicU64::new(0), deadline: AtomicU64::new(0) }
        }
    }

    /// The line fired and was masked; `raised` are the targets whose port now holds the
    /// event, due by `deadline`. With nobody to wait for, unmask at once. Debts of an
    /// earlier firing still outstanding (the line was unmasked by someone else, such as
    /// the end of a storm) are kept.
    pub(crate) fn fired(&self, raised: u32, deadline: u64) -> Unmask {
        // A line's deadlines only grow (its timeout is fixed, time only moves forward); a
        // read-modify-write keeps the latest even where nothing else orders two firings'
        // stores (the unmask and the next interrupt pass through the device).
        self.deadline.fetch_max(deadline, Ordering::AcqRel);
        let mut set = 0;
        let _ = self.word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            set = (word & SET) | u64::from(raised);
            Some(((word >> 32).wrapping_add(1) << 32) | set)
        });
        if set == 0 { Unmask::Now } else { Unmask::No }
    }

    /// Target `t` acknowledged its event (or will never see it).
    pub(crate) fn acknowledged(&self, t: usize) -> Unmask {
        let bit = 1u64 << (t % 32);
        let before = self.word.fetch_and(!bit, Ordering::AcqRel);
        if before & SET == bit { Unmask::Now } else { Unmask::No }
    }

    /// At tick `now`: if the current firing's deadline passed with acknowledgements
    /// outstanding, takes them (returned: the targets that timed out) and asks for the
    /// unmask. Never takes the debts of a firing whose deadline has not passed.
    pub(crate) fn expire(&self, now: u64) -> (u32, Unmask) {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & SET == 0 || now < self.deadline.load(Ordering::Acquire) {
                return (0, Unmask::No);
            }
            match self.word.compare_exchange(word, word & !SET, Ordering::AcqRel, Ordering::Acquire)
            {
                // The set is 32 bits wide.
                Ok(_) => return ((word & SET) as u32, Unmask::Now),
                Err(now_word) => word = now_word,
            }
        }
    }

    /// The tick by which the current firing's acknowledgements are due.
    pub(crate) fn deadline(&self) -> u64 {
        self.deadline.load(Ordering::Acquire)
    }

    /// Targets that still owe an acknowledgement.
    pub(crate) fn owing(&self) -> u32 {
        // The set is 32 bits wide.
        (self.word.load(Ordering::Acquire) & SET) as u32
    }
}

/// The earliest acknowledgement deadline of every level line.
pub(crate) struct AckWatch(AtomicU64);

impl AckWatch {
    maybe_const_fn! {
        pub(crate) fn new() -> Self {
            Self(AtomicU64::new(NO_DEADLINE))
        }
    }

    /// A line has acknowledgements due by `deadline` (after its word was published).
    pub(crate) fn watch(&self, deadline: u64) {
        self.0.fetch_min(deadline, Ordering::AcqRel);
    }

    /// Whether a deadline is due at `now`.
    #[inline]
    pub(crate) fn due(&self, now: u64) -> bool {
        now >= self.0.load(Ordering::Acquire)
    }

    /// Takes the watch before a scan of the lines: a read-modify-write, so a firing whose
    /// `watch` came first is seen by the scan (it synchronizes with it), and one that
    /// comes later stays in the watch. A plain store here would lose such a deadline.
    pub(crate) fn take(&self) {
        self.0.swap(NO_DEADLINE, Ordering::AcqRel);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{AckWatch, LevelLine, Unmask};

    #[test]
    fn the_last_acknowledgement_unmasks() {
        let line = LevelLine::new();
        assert_eq!(line.fired(0b101, 10), Unmask::No);
        assert_eq!(line.acknowledged(0), Unmask::No);
        assert_eq!(line.acknowledged(0), Unmask::No, "a repeated ack changes nothing");
        assert_eq!(line.acknowledged(2), Unmask::Now);
        assert_eq!(line.expire(100), (0, Unmask::No), "nothing left to time out");
    }

    #[test]
    fn a_missing_acknowledgement_times_out_and_unmasks_once() {
        let line = LevelLine::new();
        assert_eq!(line.fired(0b11, 10), Unmask::No);
        assert_eq!(line.acknowledged(1), Unmask::No);
        assert_eq!(line.expire(9), (0, Unmask::No), "not yet");
        assert_eq!(line.expire(10), (0b01, Unmask::Now));
        assert_eq!(line.acknowledged(0), Unmask::No, "late: the line is already unmasked");
        assert_eq!(line.owing(), 0);
    }

    #[test]
    fn nobody_raised_means_unmask_at_once() {
        assert_eq!(LevelLine::new().fired(0, 10), Unmask::Now);
    }

    #[test]
    fn a_firing_after_a_forced_unmask_keeps_nothing_of_the_old_one_and_expires_on_its_own() {
        let line = LevelLine::new();
        assert_eq!(line.fired(0b1, 10), Unmask::No);
        assert_eq!(line.expire(10), (0b1, Unmask::Now));
        assert_eq!(line.fired(0b11, 50), Unmask::No);
        assert_eq!(line.expire(20), (0, Unmask::No), "the new firing is not due");
        assert_eq!(line.owing(), 0b11);
    }

    #[test]
    fn the_watch_keeps_the_earliest_deadline_until_taken() {
        let watch = AckWatch::new();
        assert!(!watch.due(u64::MAX - 1));
        watch.watch(30);
        watch.watch(20);
        assert!(!watch.due(19) && watch.due(20));
        watch.take();
        assert!(!watch.due(1000));
    }
}

/// loom models of the level line's protocols: acknowledgements on the partitions' CPUs,
/// the forced unmask of a tick on another CPU, a new firing right after the unmask, and
/// the engine's deadline watch.
///
/// Run: `RUSTFLAGS="--cfg loom" cargo test --release -p irq-router --lib loom_`.
#[cfg(all(test, loom))]
mod loom_models {
    extern crate std;

    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;
    use std::println;

    use super::{AckWatch, LevelLine, Unmask};

    /// Runs `model` under loom and checks it explored more than one interleaving.
    fn explore(preemptions: Option<usize>, model: impl Fn() + Sync + Send + 'static) {
        let explored = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = explored.clone();
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = preemptions;
        builder.check(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            model();
        });
        let explored = explored.load(std::sync::atomic::Ordering::Relaxed);
        println!("explored {explored} interleavings");
        assert!(explored > 1, "the model explored a single interleaving");
    }

    /// The line fired for targets 0 and 1. Both acknowledge on their CPUs while the tick
    /// on a third CPU finds the deadline passed. Whatever the interleaving: the line is
    /// unmasked exactly once, and only raised targets can be late.
    #[test]
    fn loom_fan_out_acknowledgements_race_the_forced_unmask() {
        explore(Some(3), || {
            let line = Arc::new(LevelLine::new());
            assert_eq!(line.fired(0b11, 5), Unmask::No);
            let unmasks = Arc::new(AtomicUsize::new(0));
            let ack = |t: usize| {
                let (line, unmasks) = (line.clone(), unmasks.clone());
                thread::spawn(move || {
                    if line.acknowledged(t) == Unmask::Now {
                        unmasks.fetch_add(1, Ordering::Relaxed);
                    }
                })
            };
            let (a, b) = (ack(0), ack(1));
            let (late, unmask) = line.expire(5);
            if unmask == Unmask::Now {
                unmasks.fetch_add(1, Ordering::Relaxed);
            }
            a.join().unwrap();
            b.join().unwrap();
            assert_eq!(unmasks.load(Ordering::Relaxed), 1, "unmasked exactly once");
            assert_eq!(line.owing(), 0, "nobody owes anything afterwards");
            assert_eq!(late & !0b11, 0, "only the raised targets can be late");
        });
    }

    /// An acknowledgement on another CPU while the line fires: the ISR records who owes
    /// before the raise becomes visible, so an acknowledgement that follows the raise is
    /// always counted and the line is unmasked exactly once.
    #[test]
    fn loom_acknowledgement_right_after_the_raise_is_never_lost() {
        explore(None, || {
            let line = Arc::new(LevelLine::new());
            // Stands in for target 0's port: the ISR raises it after `fired`.
            let raised = Arc::new(AtomicUsize::new(0));
            let unmasks = Arc::new(AtomicUsize::new(0));
            let isr = {
                let (line, raised, unmasks) = (line.clone(), raised.clone(), unmasks.clone());
                thread::spawn(move || {
                    if line.fired(0b1, 100) == Unmask::Now {
                        unmasks.fetch_add(1, Ordering::Relaxed);
                    }
                    raised.store(1, Ordering::Release);
                })
            };
            // The partition acknowledges only an event it has seen.
            if raised.load(Ordering::Acquire) == 1 && line.acknowledged(0) == Unmask::Now {
                unmasks.fetch_add(1, Ordering::Relaxed);
            }
            isr.join().unwrap();
            let acked = unmasks.load(Ordering::Relaxed);
            // Either it acknowledged (and unmasked), or it had not seen the event yet
            // and still owes it.
            assert!(acked == 1 || line.owing() == 0b1);
            assert!(acked <= 1);
        });
    }

    /// Defect 5: the tick finds the first firing's deadline passed; meanwhile the last
    /// acknowledgement unmasks the line and it fires again (deadline not passed). The tick
    /// must not take the new firing's debts: no spurious timeout, no second unmask of a
    /// line nobody acknowledged.
    #[test]
    fn loom_defect5_level_expiry_never_takes_the_next_firings_debt() {
        explore(None, || {
            let line = Arc::new(LevelLine::new());
            assert_eq!(line.fired(0b1, 5), Unmask::No);
            let unmasks = Arc::new(AtomicUsize::new(0));
            let refired = Arc::new(AtomicUsize::new(0));
            let partition = {
                let (line, unmasks, refired) = (line.clone(), unmasks.clone(), refired.clone());
                thread::spawn(move || {
                    if line.acknowledged(0) == Unmask::Now {
                        unmasks.fetch_add(1, Ordering::Relaxed);
                        // Unmasked: the line is still asserted and fires again at once.
                        assert_eq!(line.fired(0b1, 100), Unmask::No);
                        refired.store(1, Ordering::Relaxed);
                    }
                })
            };
            let (late, unmask) = line.expire(10);
            if unmask == Unmask::Now {
                unmasks.fetch_add(1, Ordering::Relaxed);
            }
            partition.join().unwrap();
            assert_eq!(unmasks.load(Ordering::Relaxed), 1, "the first firing unmasked once");
            if refired.load(Ordering::Relaxed) == 1 {
                assert_eq!(late, 0, "no timeout for a firing whose deadline has not passed");
                assert_eq!(line.owing(), 0b1, "the new firing is still owed");
            } else {
                assert_eq!(late, 0b1);
            }
        });
    }

    /// Defect 6: a firing on one CPU arms the watch while the tick on another takes it to
    /// scan the lines. Whatever the interleaving, a line that still owes afterwards is
    /// watched: its deadline is not lost.
    #[test]
    fn loom_defect6_the_acknowledgement_deadline_is_never_lost() {
        explore(None, || {
            let early = Arc::new(LevelLine::new());
            let line = Arc::new(LevelLine::new());
            let watch = Arc::new(AckWatch::new());
            // Another line is already waiting, due at 3: the tick at 4 will scan.
            assert_eq!(early.fired(0b1, 3), Unmask::No);
            watch.watch(3);
            let isr = {
                let (line, watch) = (line.clone(), watch.clone());
                thread::spawn(move || {
                    assert_eq!(line.fired(0b1, 5), Unmask::No);
                    watch.watch(5);
                })
            };
            // The tick at 4 (the engine's expire_acknowledgements).
            if watch.due(4) {
                watch.take();
                for l in [&early, &line] {
                    let _ = l.expire(4);
                    if l.owing() != 0 {
                        watch.watch(l.deadline());
                    }
                }
            }
            isr.join().unwrap();
            assert_eq!(line.owing(), 0b1);
            assert!(watch.due(5), "the owing line's deadline is watched");
        });
    }
}
