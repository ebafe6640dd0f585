//! Health-monitor event kinds, actions and the per-partition table mapping one to the
//! other. Events have a type and no level.

/// The kinds of error the health monitor knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HmKind {
    /// A trap (exception) in the partition.
    Trap = 0,
    /// A trap while the partition was already handling a trap.
    TrapInTrap = 1,
    /// A counting port saturated: events lost.
    PendingOverflow = 2,
    /// A line or channel exceeded its budget for the major frame. For a line (a record
    /// of the module): `detail` is the vector, `extra` the interrupts lost (one record
    /// for the raise that exceeded the budget, one for each that was already on its way
    /// when the line was masked; [`Router::line_lost`](crate::Router::line_lost) counts
    /// them all).
    Storm = 3,
    /// A level line's acknowledgement did not come within its timeout.
    AckTimeout = 4,
    /// The partition did not answer a ping within its bound.
    PingMissed = 5,
    /// A hypercall whose registers could not be decoded (a call refused for its
    /// arguments is answered with its error, not reported).
    IllegalHypercall = 6,
    /// The partition declared an error itself (`exec_stop_error`).
    PartitionError = 7,
    /// The partition ran past the end of its window.
    WindowOverrun = 8,
    /// An upcall could not be injected (no entry, or its stack outside the partition).
    UpcallFault = 9,
    /// A restart the table asked for would exceed its restart limit
    /// ([`HmTable::restart_limit`]): the partition is idled instead. `detail` is the
    /// restarts already made in the window, `extra` the window in major frames. The table's
    /// entry for this kind is not consulted (the action is always idle).
    RestartLimit = 10,
}

impl HmKind {
    /// Number of kinds.
    pub const COUNT: usize = 11;

    /// Every kind, in order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Trap,
        Self::TrapInTrap,
        Self::PendingOverflow,
        Self::Storm,
        Self::AckTimeout,
        Self::PingMissed,
        Self::IllegalHypercall,
        Self::PartitionError,
        Self::WindowOverrun,
        Self::UpcallFault,
        Self::RestartLimit,
    ];
}

/// Most restarts a [`RestartLimit`] may allow in its window.
pub const MAX_RESTART_LIMIT: u16 = 16;

/// How often the health monitor may restart a partition: at most `restarts` restarts in
/// any `frames` consecutive major frames. The restart past it idles the partition (a
/// [`HmKind::RestartLimit`] record): a partition that dies as soon as it starts is
/// stopped instead of being restarted for ever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RestartLimit {
    /// Restarts allowed in the window (1 to [`MAX_RESTART_LIMIT`]).
    pub restarts: u16,
    /// The window, in major frames (at least 1).
    pub frames: u32,
}

/// What the health monitor does about an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HmAction {
    /// Log it only.
    Ignore,
    /// Tell the partition: a trap goes to its fault handler, anything else to its error
    /// port.
    Deliver,
    /// Restart the partition keeping its memory (ARINC 653 warm start).
    WarmStart,
    /// Restart the partition from scratch (cold start): its event state goes back to
    /// the configuration.
    ColdStart,
    /// Stop the partition (idle mode) until the module restarts.
    Idle,
    /// Stop the whole module.
    StopModule,
}

/// A partition's health-monitor table: one action per event kind, and how often its
/// restarts may come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HmTable {
    actions: [HmAction; HmKind::COUNT],
    restart_limit: Option<RestartLimit>,
}

impl HmTable {
    /// Every event just logged.
    pub const IGNORE_ALL: Self = Self::all(HmAction::Ignore);

    /// Every kind mapped to `action`, restarts unlimited.
    pub const fn all(action: HmAction) -> Self {
        Self { actions: [action; HmKind::COUNT], restart_limit: None }
    }

    /// The same table with `kind` mapped to `action`.
    #[must_use]
    pub const fn on(self, kind: HmKind, action: HmAction) -> Self {
        let mut actions = self.actions;
        actions[kind as usize] = action;
        Self { actions, restart_limit: self.restart_limit }
    }

    /// The same table with at most `restarts` restarts in any `frames` consecutive major
    /// frames (validation checks the bounds of [`RestartLimit`]).
    #[must_use]
    pub const fn with_restart_limit(self, restarts: u16, frames: u32) -> Self {
        Self { actions: self.actions, restart_limit: Some(RestartLimit { restarts, frames }) }
    }

    /// The action for `kind` (always idle for [`HmKind::RestartLimit`]).
    pub const fn action(&self, kind: HmKind) -> HmAction {
        match kind {
            HmKind::RestartLimit => HmAction::Idle,
            _ => self.actions[kind as usize],
        }
    }

    /// The restart limit, if any.
    pub const fn restart_limit(&self) -> Option<RestartLimit> {
        self.restart_limit
    }
}

#[cfg(test)]
mod tests {
    use super::{HmAction, HmKind, HmTable};

    #[test]
    fn kinds_index_the_table_in_order() {
        for (i, kind) in HmKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
            if kind == HmKind::RestartLimit {
                assert_eq!(HmTable::IGNORE_ALL.action(kind), HmAction::Idle);
                continue;
            }
            let table = HmTable::IGNORE_ALL.on(kind, HmAction::ColdStart);
            for other in HmKind::ALL {
                let expected = match other {
                    HmKind::RestartLimit => HmAction::Idle,
                    _ if other == kind => HmAction::ColdStart,
                    _ => HmAction::Ignore,
                };
                assert_eq!(table.action(other), expected);
            }
        }
    }
}
