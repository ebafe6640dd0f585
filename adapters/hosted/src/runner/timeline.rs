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
//! only the first `frames` frames (in case none comes) and the last `frames - 1` before
//! the current one (the frames that may come before it in the picture) are kept; once
//! the frames are chosen, only those. A frame keeps at most [`MARKS_PER_FRAME`] marks
//! (more are counted, not kept), and `frames` is at most [`MAX_FRAMES`].

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
        let want = frames.min(MAX_FRAMES).min(run_frames);
        let (start, choice) = match from {
            Some(f) => (Some(f), Choice::Asked),
            None => (None, Choice::NoRecord),
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
        }
    }

    /// Records `mark`, which happened at tick `now`, if its frame may be shown.
    pub fn record(&mut self, now: u64, mark: Mark) {
        if self.want == 0 {
            return;
        }
        let frame = now / self.frame_ticks;
        if self.start.is_none()
            && let Mark::Health { label, .. } = &mark
        {
            // The first record: the frames around it, moved earlier if the run ends
            // first (`frame - (want - 1)` at the earliest: still kept).
            let start = frame
                .saturating_sub((self.want - 1) / 2)
                .min(self.run_frames.saturating_sub(self.want));
            self.choice = Choice::FirstRecord { tick: now, frame, label: label.clone() };
            self.start = Some(start);
            self.prune();
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
            // The first frames, in case no record comes; the last `want - 1` before the
            // latest, which may come before the first record in the picture.
            None => frame < self.want || frame + (self.want - 1) >= self.latest,
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
    use super::{Choice, MARKS_PER_FRAME, Mark, Timeline};

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
            // The first 3 frames and the 2 before the latest, and the latest.
            assert!(t.held() <= 6 * FRAME as usize, "frame {f}: {} marks held", t.held());
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
            assert!(t.held() <= 6 * FRAME as usize + 1);
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
}
