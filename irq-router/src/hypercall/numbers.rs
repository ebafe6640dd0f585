//! The call numbers: the stable half of the ABI. A number, once given, keeps its meaning
//! for ever; new calls take new numbers.

/// The number of a hypercall, as the partition puts it in the number register.
///
/// The discriminants are the ABI: they are never changed or reused. Every number comes
/// with the count of argument registers it reads ([`arg_count`](Self::arg_count)); the
/// registers past that count are reserved and must be zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u64)]
pub enum CallNumber {
    /// `abi_version`: the ABI version the kernel speaks.
    AbiVersion = 0,
    /// `request_irq`: bind a hardware vector to one of the caller's ports.
    RequestIrq = 1,
    /// `detach_irq`: unbind a hardware vector from the caller.
    DetachIrq = 2,
    /// `enable_irqs`: set the virtual interrupt flag (sti).
    EnableIrqs = 3,
    /// `disable_irqs`: clear the virtual interrupt flag (cli).
    DisableIrqs = 4,
    /// `flash`: enable, deliver what is due, disable.
    Flash = 5,
    /// `set_isr_level`: set the ISR level, answering the previous one.
    SetIsrLevel = 6,
    /// `idle`: give up the rest of the window until an event is deliverable.
    Idle = 7,
    /// `acknowledge`: end service of one event of a port.
    Acknowledge = 8,
    /// `take_count`: end service of a port taking its whole count.
    TakeCount = 9,
    /// `mask`: mask a port.
    Mask = 10,
    /// `unmask`: unmask a port.
    Unmask = 11,
    /// `notify`: notify the channel whose source end is the caller's port.
    Notify = 12,
    /// `read_clock`: the partition's clock, in ticks.
    ReadClock = 13,
    /// `register_upcall`: set or clear the upcall entry point.
    RegisterUpcall = 14,
    /// `register_fault_handler`: set or clear the fault handler.
    RegisterFaultHandler = 15,
    /// `register_port_handler`: set or clear one port's own handler.
    RegisterPortHandler = 16,
    /// `console_write`: write bytes from the partition's memory to the console.
    ConsoleWrite = 17,
    /// `exec_stop_error`: the partition declares an error to the health monitor.
    ExecStopError = 18,
    /// `start_reason`: why the partition is running.
    StartReason = 19,
    /// `upcall_return`: return from an upcall to the interrupted context.
    UpcallReturn = 20,
    /// `ping_answer`: answer the health monitor's ping.
    PingAnswer = 21,
}

impl CallNumber {
    /// Number of calls this ABI version defines.
    pub const COUNT: usize = 22;

    /// Every call, in number order (`ALL[n]` has number `n`).
    pub const ALL: [Self; Self::COUNT] = [
        Self::AbiVersion,
        Self::RequestIrq,
        Self::DetachIrq,
        Self::EnableIrqs,
        Self::DisableIrqs,
        Self::Flash,
        Self::SetIsrLevel,
        Self::Idle,
        Self::Acknowledge,
        Self::TakeCount,
        Self::Mask,
        Self::Unmask,
        Self::Notify,
        Self::ReadClock,
        Self::RegisterUpcall,
        Self::RegisterFaultHandler,
        Self::RegisterPortHandler,
        Self::ConsoleWrite,
        Self::ExecStopError,
        Self::StartReason,
        Self::UpcallReturn,
        Self::PingAnswer,
    ];

    /// The call with number `raw`, or `None` if this ABI version has no such call.
    #[must_use]
    pub const fn from_raw(raw: u64) -> Option<Self> {
        if raw < Self::COUNT as u64 { Some(Self::ALL[raw as usize]) } else { None }
    }

    /// The number, as it goes in the number register.
    #[must_use]
    #[inline]
    pub const fn raw(self) -> u64 {
        self as u64
    }

    /// The call's name in `docs/hypercalls.md` and in guest libraries.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::AbiVersion => "abi_version",
            Self::RequestIrq => "request_irq",
            Self::DetachIrq => "detach_irq",
            Self::EnableIrqs => "enable_irqs",
            Self::DisableIrqs => "disable_irqs",
            Self::Flash => "flash",
            Self::SetIsrLevel => "set_isr_level",
            Self::Idle => "idle",
            Self::Acknowledge => "acknowledge",
            Self::TakeCount => "take_count",
            Self::Mask => "mask",
            Self::Unmask => "unmask",
            Self::Notify => "notify",
            Self::ReadClock => "read_clock",
            Self::RegisterUpcall => "register_upcall",
            Self::RegisterFaultHandler => "register_fault_handler",
            Self::RegisterPortHandler => "register_port_handler",
            Self::ConsoleWrite => "console_write",
            Self::ExecStopError => "exec_stop_error",
            Self::StartReason => "start_reason",
            Self::UpcallReturn => "upcall_return",
            Self::PingAnswer => "ping_answer",
        }
    }

    /// How many argument registers the call reads, from `args[0]` on. The others are
    /// reserved: they must be zero, or the call fails with
    /// [`HypercallError::ReservedArgument`](super::HypercallError::ReservedArgument).
    #[must_use]
    pub const fn arg_count(self) -> usize {
        match self {
            Self::AbiVersion
            | Self::EnableIrqs
            | Self::DisableIrqs
            | Self::Flash
            | Self::Idle
            | Self::ReadClock
            | Self::StartReason
            | Self::UpcallReturn
            | Self::PingAnswer => 0,
            Self::DetachIrq
            | Self::SetIsrLevel
            | Self::Acknowledge
            | Self::TakeCount
            | Self::Mask
            | Self::Unmask
            | Self::Notify
            | Self::RegisterUpcall
            | Self::RegisterFaultHandler
            | Self::ExecStopError => 1,
            Self::RequestIrq | Self::RegisterPortHandler | Self::ConsoleWrite => 2,
        }
    }
}
