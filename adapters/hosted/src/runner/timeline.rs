//! What happened, along time, for the SVG picture: windows, interrupt arrivals per
//! line, upcalls (deliveries) per partition, health-monitor events and restarts.
//! Recorded only up to a tick limit, so memory stays bounded whatever the run length.

use crate::region::Role;

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

/// The recorded timeline.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Events, in the order they happened.
    pub marks: Vec<Mark>,
    /// Record only before this tick.
    pub until_tick: u64,
    /// Nanoseconds per tick.
    pub tick_ns: u64,
}

impl Timeline {
    /// A timeline recording ticks `0..until_tick`.
    #[must_use]
    pub fn new(until_tick: u64, tick_ns: u64) -> Self {
        Self { marks: Vec::new(), until_tick, tick_ns }
    }

    /// Records `mark` if `now` (the current tick) is inside the recorded span.
    pub fn record(&mut self, now: u64, mark: Mark) {
        if now < self.until_tick {
            self.marks.push(mark);
        }
    }
}
