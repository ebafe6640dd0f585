//! Drift: random cyclic schedules, several partitions, a guest model that applies what it
//! is given. With replay and warp the guest's time equals the kernel's at every entry once
//! it has handled its entry events; with collapse and bounded replay the drift is exactly
//! the documented one, computed here from the schedule alone.

use std::num::{NonZeroU32, NonZeroU64};

use proptest::prelude::{
    Just, ProptestConfig, Strategy, any, prop, prop_assert, prop_oneof, proptest,
};
use vcpu_state::{
    CatchUp, CatchUpPolicy, Doorbell, Nesting, Partition, Resume, SharedPage, StartReason,
    TimeAccount,
};

/// One window (or spare time) of the major frame.
#[derive(Clone, Debug)]
struct Slot {
    /// Partition that runs, `None` for spare time.
    owner: Option<usize>,
    len: u64,
    /// Ticks the partition stays past its window (an overrun).
    late: u64,
    /// Kernel ticks delivered inside the window, as offsets from its start (the kernel
    /// may skip tick interrupts, so they are not every tick).
    ticks: Vec<u64>,
    /// The guest handles live ticks as they come (otherwise they wait for the next entry).
    handles_live: bool,
    /// The guest leaves the window with interrupts disabled.
    leaves_closed: bool,
}

#[derive(Clone, Debug)]
struct Scenario {
    /// Catch-up policy and start tick of each partition.
    partitions: Vec<(CatchUpPolicy, u64)>,
    frame: Vec<Slot>,
    frames: usize,
}

fn policy() -> impl Strategy<Value = CatchUpPolicy> {
    prop_oneof![
        Just(CatchUpPolicy::Replay),
        Just(CatchUpPolicy::Warp),
        Just(CatchUpPolicy::Collapse),
        (1u32..=50).prop_map(|n| CatchUpPolicy::BoundedReplay { max: NonZeroU32::new(n).unwrap() }),
    ]
}

fn slot(partitions: usize) -> impl Strategy<Value = Slot> {
    let owner = prop_oneof![1 => Just(None), 5 => (0..partitions).prop_map(Some)];
    let len = prop_oneof![9 => 1u64..=200, 1 => 1_000u64..=2_000_000];
    let late = prop_oneof![4 => Just(0u64), 1 => 1u64..=5];
    (owner, len, late, prop::collection::vec(any::<u64>(), 0..6), any::<bool>(), any::<bool>())
        .prop_map(|(owner, len, late, raw, handles_live, leaves_closed)| {
            let mut ticks: Vec<u64> = raw.iter().map(|r| r % (len + late + 1)).collect();
            ticks.sort_unstable();
            Slot { owner, len, late, ticks, handles_live, leaves_closed }
        })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (2usize..=5).prop_flat_map(|n| {
        (
            prop::collection::vec((policy(), 0u64..=100), n),
            prop::collection::vec(slot(n), 1..=8),
            1usize..=10,
        )
            .prop_map(|(partitions, frame, frames)| Scenario { partitions, frame, frames })
    })
}

/// A guest that applies what it is given: its time is the ticks and warp deltas it has
/// handled.
#[derive(Default)]
struct GuestModel {
    time: u64,
    timer_pending: u64,
    warp_pending: u64,
}

impl GuestModel {
    fn receive(&mut self, catch_up: CatchUp) {
        match catch_up {
            CatchUp::UpToDate => {}
            CatchUp::Ticks { ticks, .. } => self.timer_pending += ticks.get(),
            CatchUp::Warp { delta } => self.warp_pending += delta.get(),
        }
    }

    fn has_pending(&self) -> bool {
        self.timer_pending + self.warp_pending > 0
    }

    /// The upcall handler: takes the timer port's whole count and the warp event.
    fn handle(&mut self) {
        self.time += self.timer_pending + self.warp_pending;
        self.timer_pending = 0;
        self.warp_pending = 0;
    }
}

struct Part {
    policy: CatchUpPolicy,
    epoch: u64,
    page: SharedPage,
    bell: Doorbell,
    cpu: Partition,
    guest: GuestModel,
    /// Tick of the last exit (or the epoch): the schedule's own record, not the account's.
    last_left: u64,
    /// Drift the documentation promises, summed from the gaps of the schedule.
    expected_drift: u64,
}

/// The documented drift added by an entry that missed `gap` ticks.
fn documented_drift(policy: CatchUpPolicy, gap: u64) -> u64 {
    match policy {
        CatchUpPolicy::Replay | CatchUpPolicy::Warp => 0,
        CatchUpPolicy::Collapse => gap.saturating_sub(1),
        CatchUpPolicy::BoundedReplay { max } => gap - gap.min(u64::from(max.get())),
    }
}

/// Enters the window and delivers the guest's pending entry events the way a guest gets
/// them: an upcall at entry if it is open, or "upcall pending" after its sti if it is
/// closed. Returns what entry missed.
fn enter_and_handle(p: &mut Part, now: u64, budget: u64) -> Result<u64, String> {
    let Part { page, bell, cpu, guest, .. } = p;
    let entered = cpu
        .enter(page, bell, now, budget, |entry| {
            guest.receive(entry.catch_up);
            guest.has_pending()
        })
        .map_err(|e| e.to_string())?;
    let deliverable = guest.has_pending();
    let resume = match entered.resume {
        Resume::Flagged => {
            if !deliverable || !page.guest().upcall_pending() {
                return Err("flagged without a deliverable event or upcall pending".into());
            }
            if !page.guest().sti() {
                return Err("sti did not report the pending upcall".into());
            }
            cpu.vcpu_mut().deliver(page, bell, || guest.has_pending()).map_err(|e| e.to_string())?
        }
        other => other,
    };
    match resume {
        Resume::Upcall { depth: 1 } => {
            guest.handle();
            let after = cpu.vcpu_mut().upcall_return(page, bell, || guest.has_pending());
            if after != Ok(Resume::Run) {
                return Err(format!("return from upcall: {after:?}"));
            }
        }
        Resume::Run if !deliverable => {}
        other => return Err(format!("unexpected {other:?}, deliverable {deliverable}")),
    }
    Ok(entered.entry.missed)
}

fn run(s: &Scenario) -> Result<(), String> {
    let start = 100;
    let mut parts: Vec<Part> = s
        .partitions
        .iter()
        .map(|&(policy, epoch)| {
            let (page, bell) = (SharedPage::new(), Doorbell::new());
            let mut cpu = Partition::new(policy, Nesting::NONE, epoch);
            let _ = cpu.start(&page, &bell, epoch, StartReason::Fresh);
            Part {
                policy,
                epoch,
                page,
                bell,
                cpu,
                guest: GuestModel::default(),
                last_left: epoch,
                expected_drift: 0,
            }
        })
        .collect();
    let mut now = start;
    for _ in 0..s.frames {
        for slot in &s.frame {
            let Some(owner) = slot.owner else {
                now += slot.len;
                continue;
            };
            let p = &mut parts[owner];
            // Entry.
            let gap = now - p.last_left;
            p.expected_drift += documented_drift(p.policy, gap);
            let missed = enter_and_handle(p, now, slot.len)?;
            if missed != gap {
                return Err(format!("missed {missed} but the schedule says {gap}"));
            }
            // The property: after handling its entry events, the guest's time is the
            // kernel's time minus exactly the documented drift.
            let kernel_time = now - p.epoch;
            if p.guest.time + p.expected_drift != kernel_time {
                return Err(format!(
                    "{:?}: guest {} + drift {} != kernel {kernel_time}",
                    p.policy, p.guest.time, p.expected_drift
                ));
            }
            if matches!(p.policy, CatchUpPolicy::Replay | CatchUpPolicy::Warp)
                && p.guest.time != kernel_time
            {
                return Err(format!("{:?} drifted at tick {now}", p.policy));
            }
            let clock = p.page.guest().clock();
            if (clock.now, clock.dropped, clock.given) != (now, p.expected_drift, p.guest.time) {
                return Err(format!("published clock {clock:?}"));
            }
            // Inside the window: live ticks, maybe past its end.
            let end = now + slot.len;
            let mut overrun_seen = false;
            for &offset in &slot.ticks {
                let tick = p.cpu.tick(now + offset).map_err(|e| e.to_string())?;
                p.guest.timer_pending += tick.ticks;
                let expect = if !overrun_seen && now + offset > end {
                    overrun_seen = true;
                    NonZeroU64::new(now + offset - end)
                } else {
                    None
                };
                if tick.preempt != expect {
                    return Err(format!("tick preempt {:?}, expected {expect:?}", tick.preempt));
                }
                if slot.handles_live {
                    p.guest.handle();
                }
            }
            // Exit, `late` ticks past the end of the window.
            let left = end + slot.late;
            let exit = p.cpu.exit(&p.bell, left).map_err(|e| e.to_string())?;
            p.guest.timer_pending += exit.ticks;
            if exit.ran != slot.len + slot.late || exit.overrun != NonZeroU64::new(slot.late) {
                return Err(format!("exit {exit:?} for {slot:?}"));
            }
            if slot.leaves_closed {
                p.page.guest().cli();
            }
            p.last_left = left;
            now = left;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn drift_is_zero_for_replay_and_warp_and_exactly_documented_otherwise(s in scenario()) {
        let outcome = run(&s);
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

/// The documented drift of a fixed schedule, worked by hand, so the property's own
/// arithmetic is checked against numbers rather than against itself.
#[test]
fn drift_of_a_hand_worked_schedule() {
    // Frame: P0 runs 10 ticks, P1 runs 30 ticks; three frames; both start at tick 0 and
    // the schedule starts at tick 100. P0 misses 100 then 30, 30; P1 misses 110 then 10, 10.
    let max = NonZeroU32::new(20).unwrap();
    let frame = vec![
        Slot {
            owner: Some(0),
            len: 10,
            late: 0,
            ticks: vec![],
            handles_live: true,
            leaves_closed: false,
        },
        Slot {
            owner: Some(1),
            len: 30,
            late: 0,
            ticks: vec![],
            handles_live: true,
            leaves_closed: true,
        },
    ];
    for (p0, p1, drift0, drift1) in [
        (CatchUpPolicy::Replay, CatchUpPolicy::Warp, 0, 0),
        (CatchUpPolicy::Collapse, CatchUpPolicy::Collapse, 99 + 29 + 29, 109 + 9 + 9),
        (
            CatchUpPolicy::BoundedReplay { max },
            CatchUpPolicy::BoundedReplay { max },
            80 + 10 + 10,
            90,
        ),
    ] {
        let s = Scenario { partitions: vec![(p0, 0), (p1, 0)], frame: frame.clone(), frames: 3 };
        assert_eq!(run(&s), Ok(()));
        let mut t0 = TimeAccount::new(p0, 0);
        let mut t1 = TimeAccount::new(p1, 0);
        let mut now = 100;
        for _ in 0..3 {
            let _ = t0.enter(now, 10).unwrap();
            now += 10;
            let _ = t0.exit(now).unwrap();
            let _ = t1.enter(now, 30).unwrap();
            now += 30;
            let _ = t1.exit(now).unwrap();
        }
        assert_eq!((t0.dropped(), t1.dropped()), (drift0, drift1), "{p0:?} {p1:?}");
        assert_eq!(t0.given() + t0.dropped(), now - 30, "P0 last left at the start of P1's window");
        assert_eq!(t1.given() + t1.dropped(), now);
    }
}

/// Drift at the edges of the policies, worked by hand: gaps of exactly 1, N and N + 1.
#[test]
fn drift_at_one_n_and_n_plus_one_missed_ticks() {
    // Frame: P0 runs 1 tick, P1 runs `len` ticks; three frames; both start at tick 100,
    // when the schedule starts. P0 misses 0, then `len`, `len`; P1 misses 1, 1, 1.
    let four = CatchUpPolicy::BoundedReplay { max: NonZeroU32::new(4).unwrap() };
    for (policy, len, drift0, drift1) in [
        (four, 4, 0, 0),                        // m = N: all replayed; m = 1: nothing dropped
        (four, 5, 1 + 1, 0),                    // m = N + 1: one dropped per entry
        (CatchUpPolicy::Collapse, 1, 0, 0),     // m = 1: the one late tick is the tick
        (CatchUpPolicy::Collapse, 4, 3 + 3, 0), // m = 4: one given, three dropped
    ] {
        let slot = |owner, len| Slot {
            owner: Some(owner),
            len,
            late: 0,
            ticks: vec![],
            handles_live: true,
            leaves_closed: false,
        };
        let frame = vec![slot(0, 1), slot(1, len)];
        let s = Scenario { partitions: vec![(policy, 100), (policy, 100)], frame, frames: 3 };
        assert_eq!(run(&s), Ok(()));
        let (mut t0, mut t1) = (TimeAccount::new(policy, 100), TimeAccount::new(policy, 100));
        let mut now = 100;
        for _ in 0..3 {
            let _ = t0.enter(now, 1).unwrap();
            now += 1;
            let _ = t0.exit(now).unwrap();
            let _ = t1.enter(now, len).unwrap();
            now += len;
            let _ = t1.exit(now).unwrap();
        }
        assert_eq!((t0.dropped(), t1.dropped()), (drift0, drift1), "{policy:?}, len {len}");
    }
}
