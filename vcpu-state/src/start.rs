//! Why a partition started, as the kernel publishes it in the shared page.

/// Why the partition is running, as the guest reads it at start (MINIX's init_fresh /
/// init_restart). The cause of a restart is the health-monitor event code irq-router
/// assigns; this crate carries it without interpreting it (0 when the restart was asked
/// for rather than forced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartReason {
    /// First start since the module started.
    Fresh,
    /// Cold restart: event state reset to the configured bindings.
    ColdRestart {
        /// Health-monitor event code that caused it, 0 if none.
        cause: u32,
    },
    /// Warm restart.
    WarmRestart {
        /// Health-monitor event code that caused it, 0 if none.
        cause: u32,
    },
}

/// `start_reason` value of a page nobody has started yet.
pub(crate) const CODE_NONE: u8 = 0;
const CODE_FRESH: u8 = 1;
const CODE_COLD: u8 = 2;
const CODE_WARM: u8 = 3;

impl StartReason {
    /// The `(start_reason, start_cause)` pair stored in the shared page.
    #[must_use]
    pub const fn encode(self) -> (u8, u32) {
        match self {
            Self::Fresh => (CODE_FRESH, 0),
            Self::ColdRestart { cause } => (CODE_COLD, cause),
            Self::WarmRestart { cause } => (CODE_WARM, cause),
        }
    }

    /// Decodes a pair read from the shared page; `None` for a page never started or a
    /// value no kernel writes.
    #[must_use]
    pub const fn decode(reason: u8, cause: u32) -> Option<Self> {
        match reason {
            CODE_FRESH => Some(Self::Fresh),
            CODE_COLD => Some(Self::ColdRestart { cause }),
            CODE_WARM => Some(Self::WarmRestart { cause }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{CODE_NONE, StartReason};

    #[test]
    fn encode_decode_round_trip() {
        for reason in [
            StartReason::Fresh,
            StartReason::ColdRestart { cause: 7 },
            StartReason::WarmRestart { cause: u32::MAX },
        ] {
            let (code, cause) = reason.encode();
            assert_eq!(StartReason::decode(code, cause), Some(reason));
        }
        assert_eq!(StartReason::decode(CODE_NONE, 0), None);
        assert_eq!(StartReason::decode(200, 1), None);
    }
}
