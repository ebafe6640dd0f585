//! What happened, along time, for the SVG picture: windows, interrupt arrivals per
//! line, upcalls (deliveries) per partition, health-monitor events and restarts.
//!
//! The picture shows `frames` consecutive major frames (numbered from 0, as everywhere),
//! chosen to show what happened:
//! * `--svg-from FRAME`: from that frame;
//! * otherwise, around the **first health-monitor record** of the run (a crash, a
//!   restart, a storm...): `(frames - 1) / 2` frames before the frame it happened in,
//!   that frame, and the rest after it (moved earlier if the run ends first);
//! * and if the run had no health-monitor record, its first frames.
//!
//! Memory stays bounded whatever the run's length: while the first record is awaited,
//! only the first `frames` frames (in case none comes) and the last `frames` before the
//! current one (the frames that may come before it in the picture, with a frame to spare
//! for another CPU's timeline, see below) are kept; once the frames are chosen, only
//! those. A frame keeps at most [`MARKS_PER_FRAME`] marks (more are counted, not kept),
//! and `frames` is at most [`MAX_FRAMES`].
//!
//! Several timelines (one per CPU of a runner, each recording what its CPU did) choose
//! the same frames when they share a [`SharedChoice`] ([`Timeline::with_choice`]): the
//! first record on any of them chooses for all, and each adopts the choice at its next
//! mark. [`Timeline::merge`] makes them one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::region::Role;

/// Most frames a picture shows (the options refuse more).
pub const MAX_FRAMES: u64 = 16;

/// Most marks kept per frame (more are counted in [`Timeline::dropped`]).
pub const MARKS_PER_FRAME: usize = 8192;

/// One event of the timeline. Times are nanoseconds since tick 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Partition `p` ran from tick `start` to tick `end`.
    Window {
        /// Partition.
        p: usize,
        /// First tick.
        start: u64,
        /// Tick it left.
        end: u64,
    },
    /// The clock line fired.
    Clock {
        /// Expiry time.
        t: u64,
    },
    /// The device line fired.
    Device {
        /// When the runner took the packet.
        t: u64,
    },
    /// An upcall into partition `p` for a port of role `role`.
    Upcall {
        /// Partition.
        p: usize,
        /// Injection time.
        t: u64,
        /// The port's role.
        role: Role,
    },
    /// A health-monitor event about partition `p` (`None`: the module).
    Health {
        /// Partition.
        p: Option<usize>,
        /// Time.
        t: u64,
        /// `Kind -> Action`.
        label: String,
    },
    /// Partition `p`'s process was started again.
    Restart {
        /// Partition.
        p: usize,
        /// Time.
        t: u64,
    },
}

/// Why the picture shows the frames it shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Choice {
    /// `--svg-from`.
    Asked,
    /// Around the run's first health-monitor record.
    FirstRecord {
        /// Its tick.
        tick: u64,
        /// Its frame.
        frame: u64,
        /// `Kind -> Action`.
        label: String,
    },
    /// No health-monitor record in the run: its first frames.
    #[default]
    NoRecord,
}

/// The frames chosen, shared by the timelines of several CPUs.
#[derive(Debug, Default)]
pub struct SharedChoice {
    /// The first frame shown, plus one (0: not chosen yet).
    start: AtomicU64,
    /// Why.
    choice: Mutex<Choice>,
}

impl SharedChoice {
    /// Not chosen yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The first frame shown, if chosen.
    fn start(&self) -> Option<u64> {
        self.start.load(Ordering::Acquire).checked_sub(1)
    }

    /// Chooses `start` for `choice`, unless chosen already; the choice in force.
    fn choose(&self, start: u64, choice: Choice) -> (u64, Choice) {
        let mut current = self.choice.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.start() {
            Some(chosen) => (chosen, current.clone()),
            None => {
                *current = choice.clone();
                self.start.store(start.saturating_add(1), Ordering::Release);
                (start, choice)
            }
        }
    }

    /// The choice in force, if any.
    fn chosen(&self) -> Option<(u64, Choice)> {
        let current = self.choice.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.start().map(|start| (start, current.clone()))
    }
}

/// The time of a mark, in nanoseconds since tick 0 (a window: its first tick's).
const fn time_of(mark: &Mark, tick_ns: u64) -> u64 {
    match mark {
        Mark::Window { start, .. } => start.saturating_mul(tick_ns),
        Mark::Clock { t }
        | Mark::Device { t }
        | Mark::Upcall { t, .. }
        | Mark::Health { t, .. }
        | Mark::Restart { t, .. } => *t,
    }
}

/// The marks of one frame.
#[derive(Clone, Debug, Default)]
struct FrameMarks {
    frame: u64,
    marks: Vec<Mark>,
}

/// The recorded timeline.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Nanoseconds per tick.
    pub tick_ns: u64,
    /// Ticks per major frame.
    pub frame_ticks: u64,
    /// Frames the run was asked for.
    run_frames: u64,
    /// Frames the picture shows (0: nothing is recorded).
    want: u64,
    /// The first frame shown, once chosen.
    start: Option<u64>,
    choice: Choice,
    /// Kept frames, in increasing frame order.
    kept: Vec<FrameMarks>,
    /// The latest frame a mark was recorded for.
    latest: u64,
    /// Marks not kept because their frame was full.
    dropped: u64,
    /// The choice, shared with the other CPUs' timelines.
    shared: Arc<SharedChoice>,
}

impl Timeline {
    /// A timeline for a picture of `frames` frames (at most [`MAX_FRAMES`]; 0 records
    /// nothing) of a run of `run_frames` frames of `frame_ticks` ticks of `tick_ns`,
    /// from frame `from` if given, else around the first health-monitor record.
    #[must_use]
    pub fn new(
        frames: u64,
        from: Option<u64>,
        run_frames: u64,
        frame_ticks: u64,
        tick_ns: u64,
    ) -> Self {
        let shared = Arc::new(SharedChoice::new());
        Self::with_choice(frames, from, run_frames, frame_ticks, tick_ns, shared)
    }

    /// As [`new`](Self::new), choosing its frames with the other timelines that share
    /// `shared` (one per CPU: give each the same `frames`, `from` and `shared`).
    #[must_use]
    pub fn with_choice(
        frames: u64,
        from: Option<u64>,
        run_frames: u64,
        frame_ticks: u64,
        tick_ns: u64,
        shared: Arc<SharedChoice>,
    ) -> Self {
        let want = frames.min(MAX_FRAMES).min(run_frames);
        let (start, choice) = match from {
            Some(f) => (Some(f), Choice::Asked),
            None => match shared.chosen() {
                Some((start, choice)) => (Some(start), choice),
                None => (None, Choice::NoRecord),
            },
        };
        Self {
            tick_ns,
            frame_ticks: frame_ticks.max(1),
            run_frames,
            want,
            start,
            choice,
            kept: Vec::new(),
            latest: 0,
            dropped: 0,
            shared,
        }
    }

    /// Records `mark`, which happened at tick `now`, if its frame may be shown.
    pub fn record(&mut self, now: u64, mark: Mark) {
        if self.want == 0 {
            return;
        }
        let frame = now / self.frame_ticks;
        if self.start.is_none() {
            let chosen = match &mark {
                // The first record: the frames around it, moved earlier if the run ends
                // first (`frame - (want - 1)` at the earliest: still kept), unless another
                // CPU's timeline chose first.
                Mark::Health { label, .. } => {
                    let start = frame
                        .saturating_sub((self.want - 1) / 2)
                        .min(self.run_frames.saturating_sub(self.want));
                    let choice = Choice::FirstRecord { tick: now, frame, label: label.clone() };
                    Some(self.shared.choose(start, choice))
                }
                _ if self.shared.start().is_some() => self.shared.chosen(),
                _ => None,
            };
            if let Some((start, choice)) = chosen {
                self.choice = choice;
                self.start = Some(start);
                self.prune();
            }
        }
        if !self.keeps(frame) {
            return;
        }
        let at = match self.kept.binary_search_by_key(&frame, |f| f.frame) {
            Ok(at) => at,
            Err(at) => {
                self.kept.insert(at, FrameMarks { frame, marks: Vec::new() });
                if frame > self.latest {
                    self.latest = frame;
                    self.prune();
                }
                // (The prune keeps the frame just made: it is the latest or was kept.)
                self.kept.binary_search_by_key(&frame, |f| f.frame).unwrap_or(at)
            }
        };
        let Some(kept) = self.kept.get_mut(at) else { return };
        if kept.marks.len() < MARKS_PER_FRAME {
            kept.marks.push(mark);
        } else {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// Whether marks of `frame` are kept now.
    fn keeps(&self, frame: u64) -> bool {
        match self.start {
            Some(start) => frame >= start && frame - start < self.want,
            // The first frames, in case no record comes; the last `want` before the
            // latest (`want - 1` may come before the first record in the picture, and
            // one more for another CPU's timeline a frame behind when it chooses).
            None => frame < self.want || frame + self.want >= self.latest,
        }
    }

    fn prune(&mut self) {
        let kept = std::mem::take(&mut self.kept);
        self.kept = kept.into_iter().filter(|f| self.keeps(f.frame)).collect();
    }

    /// The frames the picture shows: the first, and how many.
    #[must_use]
    pub fn shown(&self) -> (u64, u64) {
        let start = self.start.unwrap_or(0);
        (start, self.want.min(self.run_frames.saturating_sub(start)))
    }

    /// Why those frames.
    #[must_use]
    pub const fn choice(&self) -> &Choice {
        &self.choice
    }

    /// The marks of the frames shown, frame by frame, each frame's in the order they
    /// were recorded.
    pub fn marks(&self) -> impl Iterator<Item = &Mark> {
        let (start, n) = self.shown();
        self.kept
            .iter()
            .filter(move |f| f.frame >= start && f.frame - start < n)
            .flat_map(|f| f.marks.iter())
    }

    /// Keeps only the marks `keep` says yes to (for instance: the clock's marks of one
    /// CPU only, before [`merge`](Self::merge)).
    pub fn retain(&mut self, mut keep: impl FnMut(&Mark) -> bool) {
        for f in &mut self.kept {
            f.marks.retain(&mut keep);
        }
    }

    /// The timelines of several CPUs, which shared their choice
    /// ([`with_choice`](Self::with_choice)), as one: each frame's marks together, in time
    /// order. `None` for none.
    #[must_use]
    pub fn merge(timelines: impl IntoIterator<Item = Self>) -> Option<Self> {
        let mut timelines = timelines.into_iter();
        let mut all = timelines.next()?;
        for mut other in timelines {
            if all.start.is_none() && other.start.is_some() {
                all.start = other.start;
                all.choice = other.choice.clone();
            }
            all.latest = all.latest.max(other.latest);
            all.dropped = all.dropped.saturating_add(other.dropped);
            for f in std::mem::take(&mut other.kept) {
                match all.kept.binary_search_by_key(&f.frame, |k| k.frame) {
                    Ok(at) => all.kept[at].marks.extend(f.marks),
                    Err(at) => all.kept.insert(at, f),
                }
            }
        }
        // The choice made last on another CPU may not have reached this one's record.
        if all.start.is_none()
            && let Some((start, choice)) = all.shared.chosen()
        {
            all.start = Some(start);
            all.choice = choice;
        }
        let tick_ns = all.tick_ns;
        for f in &mut all.kept {
            f.marks.sort_by_key(|m| time_of(m, tick_ns));
        }
        all.prune();
        Some(all)
    }

    /// Marks held in memory (every kept frame's).
    #[must_use]
    pub fn held(&self) -> usize {
        self.kept.iter().map(|f| f.marks.len()).sum()
    }

    /// Marks not kept because their frame already had [`MARKS_PER_FRAME`].
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }

    /// One line saying which frames the picture shows and why.
    #[must_use]
    pub fn describe(&self) -> String {
        let (start, n) = self.shown();
        let frames = match n {
            0 => "no frame".to_owned(),
            1 => format!("frame {start}"),
            _ => format!("frames {start} to {}", start + n - 1),
        };
        match &self.choice {
            Choice::Asked => format!("{frames} (--svg-from {start})"),
            Choice::FirstRecord { tick, frame, label } => format!(
                "{frames}, around the first health-monitor record ({label} at tick {tick}, frame {frame})"
            ),
            Choice::NoRecord => {
                format!("{frames}, the first (no health-monitor record in the run)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Choice, MARKS_PER_FRAME, Mark, SharedChoice, Timeline};

    const FRAME: u64 = 40;

    /// A frame's worth of ordinary marks: a clock mark per tick.
    fn frame(t: &mut Timeline, f: u64) {
        for k in f * FRAME..(f + 1) * FRAME {
            t.record(k, Mark::Clock { t: k * 1_000_000 });
        }
    }

    fn health(t: &mut Timeline, tick: u64) {
        let label = "Trap -> ColdStart".to_owned();
        t.record(tick, Mark::Health { p: Some(1), t: tick * 1_000_000, label });
    }

    fn frames_of(t: &Timeline) -> Vec<u64> {
        let mut seen: Vec<u64> = t
            .marks()
            .filter_map(
                |m| if let Mark::Clock { t } = m { Some(t / 1_000_000 / FRAME) } else { None },
            )
            .collect();
        seen.dedup();
        seen
    }

    #[test]
    fn without_a_record_the_first_frames_are_shown_and_memory_stays_bounded() {
        let mut t = Timeline::new(3, None, 100_000, FRAME, 1_000_000);
        for f in 0..10_000 {
            frame(&mut t, f);
            // The first 3 frames and the 3 before the latest, and the latest.
            assert!(t.held() <= 7 * FRAME as usize, "frame {f}: {} marks held", t.held());
        }
        assert_eq!(t.shown(), (0, 3));
        assert_eq!(t.choice(), &Choice::NoRecord);
        assert_eq!(frames_of(&t), [0, 1, 2]);
        assert!(t.describe().starts_with("frames 0 to 2, the first"), "{}", t.describe());
    }

    #[test]
    fn the_first_record_chooses_the_frames_around_it() {
        let mut t = Timeline::new(3, None, 50, FRAME, 1_000_000);
        for f in 0..50 {
            frame(&mut t, f);
            if f == 7 {
                health(&mut t, 7 * FRAME + 12);
            }
            if f == 30 {
                // A later record changes nothing.
                health(&mut t, 30 * FRAME);
            }
            assert!(t.held() <= 7 * FRAME as usize + 1);
        }
        assert_eq!(t.shown(), (6, 3));
        assert_eq!(frames_of(&t), [6, 7, 8]);
        assert_eq!(t.marks().filter(|m| matches!(m, Mark::Health { .. })).count(), 1);
        assert_eq!(
            t.describe(),
            "frames 6 to 8, around the first health-monitor record (Trap -> ColdStart at tick 292, frame 7)"
        );
    }

    #[test]
    fn a_record_near_either_end_of_the_run_still_fills_the_picture() {
        let mut t = Timeline::new(5, None, 10, FRAME, 1_000_000);
        for f in 0..10 {
            frame(&mut t, f);
            if f == 9 {
                health(&mut t, 9 * FRAME + 39);
            }
        }
        assert_eq!(frames_of(&t), [5, 6, 7, 8, 9]);
        let mut t = Timeline::new(5, None, 10, FRAME, 1_000_000);
        health(&mut t, 0);
        for f in 0..10 {
            frame(&mut t, f);
        }
        assert_eq!(frames_of(&t), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn svg_from_keeps_only_the_frames_asked_for() {
        let mut t = Timeline::new(2, Some(4), 1000, FRAME, 1_000_000);
        for f in 0..1000 {
            frame(&mut t, f);
            if f == 1 {
                health(&mut t, FRAME + 3);
            }
            assert!(t.held() <= 2 * FRAME as usize);
        }
        assert_eq!(frames_of(&t), [4, 5]);
        assert_eq!(t.choice(), &Choice::Asked);
        assert_eq!(t.describe(), "frames 4 to 5 (--svg-from 4)");
    }

    #[test]
    fn a_full_frame_counts_what_it_does_not_keep() {
        let mut t = Timeline::new(1, Some(0), 1, FRAME, 1_000_000);
        for i in 0..MARKS_PER_FRAME as u64 + 100 {
            t.record(0, Mark::Device { t: i });
        }
        assert_eq!(t.held(), MARKS_PER_FRAME);
        assert_eq!(t.dropped(), 100);
        // No picture asked for: nothing is kept.
        let mut t = Timeline::new(0, None, 10, FRAME, 1_000_000);
        frame(&mut t, 0);
        health(&mut t, 3);
        assert_eq!(t.held(), 0);
    }

    #[test]
    fn the_timelines_of_several_cpus_choose_the_same_frames_and_merge() {
        let shared = Arc::new(SharedChoice::new());
        let cpu = |shared: &Arc<SharedChoice>| {
            Timeline::with_choice(3, None, 40, FRAME, 1_000_000, Arc::clone(shared))
        };
        let (mut a, mut b) = (cpu(&shared), cpu(&shared));
        for f in 0..40 {
            // CPU b a frame ahead of CPU a, which has the record, in frame 20.
            frame(&mut b, f);
            frame(&mut a, f);
            if f == 20 {
                health(&mut a, 20 * FRAME + 5);
            }
            assert!(a.held() <= 7 * FRAME as usize + 1 && b.held() <= 7 * FRAME as usize);
        }
        assert_eq!((a.shown(), b.shown()), ((19, 3), (19, 3)));
        assert_eq!(frames_of(&b), [19, 20, 21], "CPU b kept the frames CPU a chose");
        // One machine's timeline: CPU b's clock marks are CPU a's again, dropped.
        b.retain(|m| !matches!(m, Mark::Clock { .. }));
        b.record(20 * FRAME + 7, Mark::Device { t: (20 * FRAME + 7) * 1_000_000 });
        let all = Timeline::merge([a, b]).expect("two timelines");
        assert_eq!(frames_of(&all), [19, 20, 21]);
        assert_eq!(
            all.marks().filter(|m| matches!(m, Mark::Clock { .. })).count(),
            3 * FRAME as usize
        );
        let times: Vec<u64> = all
            .marks()
            .filter_map(|m| match m {
                Mark::Clock { t } | Mark::Device { t } | Mark::Health { t, .. } => Some(*t),
                _ => None,
            })
            .collect();
        assert!(times.is_sorted(), "in time order");
        assert_eq!(all.marks().filter(|m| matches!(m, Mark::Device { .. })).count(), 1);
        assert!(all.describe().contains("at tick 805, frame 20"), "{}", all.describe());
        // A CPU that saw no mark after the choice still merges into the choice.
        let shared = Arc::new(SharedChoice::new());
        let (mut a, mut b) = (cpu(&shared), cpu(&shared));
        for f in 0..10 {
            frame(&mut a, f);
            frame(&mut b, f);
        }
        health(&mut a, 9 * FRAME + 39);
        let all = Timeline::merge([b, a]).expect("two timelines");
        assert_eq!(all.shown(), (8, 3));
        assert_eq!(frames_of(&all), [8, 9]);
        // Both CPUs' marks of frames 8 and 9 (their clock marks too: not retained here).
        let clocks = all.marks().filter(|m| matches!(m, Mark::Clock { .. })).count();
        assert_eq!(clocks, 2 * 2 * FRAME as usize);
        assert!(Timeline::merge(std::iter::empty()).is_none());
    }
}
