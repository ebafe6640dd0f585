//! [`Upcall`]: what the kernel hands the upcall handler.

/// The `port` word of an upcall that delivers a trap rather than a port.
pub const NO_PORT: u64 = u64::MAX;

/// One upcall as the handler receives it: the port taken into service (or a trap) and
/// the event's context. The same fields on every transport: the x86 adapter's frame on
/// the partition's stack, the hosted runner's mailbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Upcall {
    /// The port delivered, or `None` for a trap (fault handler).
    pub port: Option<u32>,
    /// Events pending on the port when it was taken into service.
    pub pending: u64,
    /// Interrupt or exception vector of the event's context.
    pub vector: u64,
    /// Error code of a trap.
    pub error_code: u64,
    /// Faulting address (page fault) or faulting instruction of a trap.
    pub fault_address: u64,
    /// Kernel tick at which the event was raised.
    pub timestamp: u64,
    /// Sender: 0 for the kernel, `p + 1` for partition `p` (channels).
    pub sender: u64,
    /// The handler entered (the registered entry, or a port's own handler).
    pub entry: u64,
}

impl Upcall {
    /// The upcall whose `port` word is `port` (a trap for [`NO_PORT`] or a value past any
    /// port number).
    #[must_use]
    pub const fn port_from_word(port: u64) -> Option<u32> {
        if port == NO_PORT || port > u32::MAX as u64 { None } else { Some(port as u32) }
    }

    /// A trap (delivered to the fault handler), not a port.
    #[must_use]
    pub const fn is_trap(&self) -> bool {
        self.port.is_none()
    }
}
