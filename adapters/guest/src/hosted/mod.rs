//! The hosted transport: a partition that is a Linux process run by the hosted runner
//! (`irq-hosted`).
//!
//! What the runner gives the process:
//! * descriptor [`region::REGION_FD`] (3): a sealed memfd holding its
//!   [`Region`] (the shared page at offset 0, the upcall mailbox, the runner's and the
//!   guest's areas);
//! * descriptor [`CALL_FD`] (4): a `SOCK_SEQPACKET` socket. A call is one message of
//!   five native-endian `u64` words, `[number, args[0], args[1], args[2], args[3]]`
//!   (the registers of the ABI); the answer is one message of two words,
//!   `[status, value]`;
//! * upcalls as the real-time signal [`sys::upcall_signal`] (`SIGRTMIN`), the event in
//!   the region's mailbox; the runner's commands (crash on `--crash`, finish at the end)
//!   in the region, rung with [`sys::doorbell_signal`];
//! * its number and name in the environment (`IRQ_PARTITION`, `IRQ_PARTITION_NAME`).
//!
//! [`Partition::attach`] checks and maps all of this; [`Partition::on_upcall`] installs
//! a handler `fn(&Upcall)` (the library reads the mailbox, runs it, then returns from
//! the upcall); [`Partition::run`] waits for upcalls and obeys the runner's commands.
//! The [`Socket`] transport counts what the partition does in the region's guest area
//! (ticks taken on the timer port, line events acknowledged, notifies, pings answered,
//! errors), which the runner reports in its summary; it never trusts those words.

pub mod region;
pub mod sys;

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use irq_router::events::MAX_PORT_WORDS;
use irq_router::hypercall::{RawCall, Request};

use crate::call::{Error, Hypervisor, Transport};
use crate::interrupts::Interrupts;
use crate::upcall::Upcall;
use region::{Command, NO_PORT, REGION_FD, Region, Role};
use sys::{SysError, SysResult};

/// The descriptor number of the hypercall socket in a partition process.
pub const CALL_FD: i32 = 4;

static REGION: AtomicPtr<Region> = AtomicPtr::new(std::ptr::null_mut());
static ATTACHED: AtomicBool = AtomicBool::new(false);
static HANDLER: AtomicUsize = AtomicUsize::new(0);
static LAST_SEQ: AtomicU64 = AtomicU64::new(0);

/// The region, once attached.
fn attached_region() -> Option<&'static Region> {
    let ptr = REGION.load(Ordering::Acquire);
    // SAFETY: REGION is only ever set to a `&'static Region` (a mapping kept for the
    // life of the process).
    unsafe { ptr.as_ref() }
}

/// The hypercall socket: the transport of a hosted partition. Async-signal-safe (the
/// upcall handler calls through it); the upcall signal is blocked while a call is in
/// flight, so a handler's calls and the main program's never interleave on the socket.
#[derive(Clone, Copy, Debug)]
pub struct Socket {
    fd: i32,
}

impl Socket {
    /// The socket at descriptor `fd`.
    #[must_use]
    pub const fn new(fd: i32) -> Self {
        Self { fd }
    }
}

impl Transport for Socket {
    fn enter(&self, call: &RawCall) -> Result<[u64; 2], Error> {
        let transport = |e: SysError| Error::Transport(e.errno());
        let old = sys::block_signals(&[sys::upcall_signal()]).map_err(transport)?;
        let words = [call.number, call.args[0], call.args[1], call.args[2], call.args[3]];
        let result = sys::send_words(self.fd, &words, false).and_then(|()| {
            let mut reply = [0u64; 2];
            match sys::recv_words(self.fd, &mut reply, false)? {
                2 => Ok(reply),
                _ => Err(SysError::new("hypercall reply", libc::EPIPE)),
            }
        });
        sys::restore_signals(&old);
        result.map_err(transport)
    }

    fn observe(&self, request: &Request<MAX_PORT_WORDS>, result: &Result<u64, Error>) {
        if let Some(region) = attached_region() {
            account(region, request, result);
        }
    }
}

/// Counts a call in the guest area (atomics only: async-signal-safe; wrapping: never a
/// panic, whatever the words hold).
fn account(region: &Region, request: &Request<MAX_PORT_WORDS>, result: &Result<u64, Error>) {
    let g = &region.guest;
    let add = |a: &AtomicU64, n: u64| a.fetch_add(n, Ordering::Relaxed);
    match (request, result) {
        (Request::Notify { .. }, Ok(_)) => add(&g.channel_sent, 1),
        (Request::Notify { .. }, Err(_)) => add(&g.channel_refused, 1),
        (_, Err(_)) => add(&g.call_errors, 1),
        (Request::TakeCount { port }, Ok(n)) => match region.role(u64::from(port.raw())) {
            Role::Timer => {
                on_ticks(region, *n);
                0
            }
            Role::ChannelIn => add(&g.channel_received, *n),
            Role::Error => add(&g.errors_seen, *n),
            _ => 0,
        },
        (Request::Acknowledge { port }, Ok(_))
            if region.role(u64::from(port.raw())) == Role::Line =>
        {
            add(&g.line_events, 1)
        }
        (Request::PingAnswer, Ok(_)) => add(&g.pings_answered, 1),
        (Request::StartReason, Ok(value)) => {
            g.start_reason.store(value.wrapping_add(1), Ordering::Release);
            0
        }
        _ => 0,
    };
}

/// `n` timer ticks taken: the guest's time moves (warp: corrected by the runner's
/// ledger, one event per entry standing for the ticks it carried).
fn on_ticks(region: &Region, n: u64) {
    let g = &region.guest;
    let k = &region.kernel;
    let handled = g.ticks_handled.fetch_add(n, Ordering::AcqRel).wrapping_add(n);
    let time = if k.policy.load(Ordering::Acquire) == 1 {
        handled
            .saturating_add(k.warp_delta.load(Ordering::Acquire))
            .saturating_sub(k.warp_markers.load(Ordering::Acquire))
    } else {
        handled
    };
    g.guest_time.store(time, Ordering::Release);
}

/// The hypercalls of this process (usable anywhere, the upcall handler included).
#[must_use]
pub const fn hypervisor() -> Hypervisor<Socket> {
    Hypervisor::new(Socket::new(CALL_FD))
}

/// A partition process attached to what the runner gave it.
#[derive(Debug)]
pub struct Partition {
    region: &'static Region,
    hv: Hypervisor<Socket>,
}

/// Why [`Partition::attach`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// No region at descriptor 3, or not the runner's (run the program through the
    /// runner).
    Region(SysError),
    /// No hypercall socket at descriptor 4.
    Socket(SysError),
    /// A signal handler could not be installed.
    Signals(SysError),
}

impl std::fmt::Display for AttachError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Region(e) => write!(f, "no region (run it through irq-hosted): {e}"),
            Self::Socket(e) => write!(f, "no hypercall socket (run it through irq-hosted): {e}"),
            Self::Signals(e) => write!(f, "signal handlers: {e}"),
        }
    }
}

impl std::error::Error for AttachError {}

impl Partition {
    /// Attaches to the region and socket the runner gave this process, installs the
    /// fault recorder (a fault's signal and address go to the runner before the process
    /// dies of it) and records the start reason the page shows. Once per process: a
    /// second call answers the same partition.
    ///
    /// # Errors
    /// The descriptors are not the runner's, or a handler cannot be installed.
    pub fn attach() -> Result<Self, AttachError> {
        if ATTACHED.load(Ordering::Acquire)
            && let Some(region) = attached_region()
        {
            return Ok(Self { region, hv: hypervisor() });
        }
        let (fd, region) = region::inherit(REGION_FD).map_err(AttachError::Region)?;
        check_call_socket(CALL_FD).map_err(AttachError::Socket)?;
        // The mapping and its descriptor live as long as the process.
        std::mem::forget(fd);
        REGION.store(std::ptr::from_ref(region).cast_mut(), Ordering::Release);
        ATTACHED.store(true, Ordering::Release);
        // The doorbell only interrupts the wait in `run`: blocked except there.
        sys::block_signals(&[sys::doorbell_signal()]).map_err(AttachError::Signals)?;
        sys::install(sys::doorbell_signal(), noop as *const () as usize, libc::SA_RESTART)
            .map_err(AttachError::Signals)?;
        let recorder = libc::SA_SIGINFO | libc::SA_RESETHAND;
        for signal in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
            sys::install(signal, fault_recorder as *const () as usize, recorder)
                .map_err(AttachError::Signals)?;
        }
        if let Some(reason) = region.page.guest().start_reason() {
            let (code, cause) = reason.encode();
            let value = (u64::from(code) << 32) | u64::from(cause);
            region.guest.page_start_reason.store(value + 1, Ordering::Release);
        }
        Ok(Self { region, hv: hypervisor() })
    }

    /// The hypercalls.
    #[must_use]
    pub const fn hypervisor(&self) -> &Hypervisor<Socket> {
        &self.hv
    }

    /// The virtual interrupt flag and ISR level, through the shared page.
    #[must_use]
    pub const fn interrupts(&self) -> Interrupts<'_, Socket> {
        Interrupts::new(&self.region.page, &self.hv)
    }

    /// The region shared with the runner.
    #[must_use]
    pub const fn region(&self) -> &'static Region {
        self.region
    }

    /// The partition's number.
    #[must_use]
    pub fn number(&self) -> u64 {
        self.region.kernel.partition.load(Ordering::Acquire)
    }

    /// What `port` is for, as the runner's configuration says.
    #[must_use]
    pub fn role(&self, port: u32) -> Role {
        self.region.role(u64::from(port))
    }

    /// The ports that have `role`, in order.
    pub fn ports(&self, role: Role) -> impl Iterator<Item = u32> + '_ {
        (0..region::ROLE_PORTS as u32).filter(move |&p| self.role(p) == role)
    }

    /// The hardware vector of the partition's line ports, if it has one.
    #[must_use]
    pub fn line_vector(&self) -> Option<u8> {
        u8::try_from(self.region.kernel.line_vector.load(Ordering::Acquire))
            .ok()
            .filter(|&v| v != 0)
    }

    /// The sending channel port the runner's configuration gives the partition, and how
    /// often (in timer ticks handled) the demo notifies on it.
    #[must_use]
    pub fn notify_port(&self) -> Option<(u32, u64)> {
        let port = self.region.kernel.notify_port.load(Ordering::Acquire);
        let every = self.region.kernel.notify_every.load(Ordering::Acquire);
        u32::try_from(port).ok().filter(|_| port != NO_PORT).map(|p| (p, every))
    }

    /// Installs `handler` as the upcall handler and returns the entry to register with
    /// [`Hypervisor::register_upcall`]. The library reads the mailbox, records the
    /// clock-to-handler latency (in the ring of its [`region::Arrival`]: see
    /// [`region::latency_sample`]), runs `handler` with the upcall, then returns from the
    /// upcall. `handler` runs as a signal handler: it may use the hypercalls and atomics,
    /// nothing that allocates or locks.
    ///
    /// # Errors
    /// The signal handler could not be installed.
    pub fn on_upcall(&self, handler: fn(&Upcall)) -> SysResult<NonZeroU64> {
        HANDLER.store(handler as usize, Ordering::Release);
        sys::install(sys::upcall_signal(), upcall_entry as *const () as usize, libc::SA_RESTART)?;
        Ok(NonZeroU64::new(upcall_entry as *const () as u64).unwrap_or(NonZeroU64::MIN))
    }

    /// Waits for upcalls for ever, obeying the runner's commands: at the end of the run
    /// it reports itself quiescent (the runner then ends the process); on the runner's
    /// `--crash` it faults for real.
    pub fn run(&self) -> ! {
        let mask = sys::sigset(&[]);
        loop {
            match self.region.kernel.command.load(Ordering::Acquire) {
                c if c == Command::Crash as u64 => crash(),
                c if c == Command::Finish as u64 => {
                    self.region.guest.quiescent.store(1, Ordering::Release);
                }
                _ => {}
            }
            // SAFETY: `mask` is a valid sigset_t; sigsuspend returns after a handler ran.
            unsafe { libc::sigsuspend(&raw const mask) };
        }
    }
}

/// Saves the interrupted code's `errno` on entry to a signal handler and puts it back
/// when dropped: the handler's own calls must not change what the interrupted code
/// reads in it.
struct SavedErrno(libc::c_int);

impl SavedErrno {
    fn save() -> Self {
        // SAFETY: __errno_location returns the calling thread's errno, always a valid
        // int to read (async-signal-safe).
        Self(unsafe { *libc::__errno_location() })
    }
}

impl Drop for SavedErrno {
    fn drop(&mut self) {
        // SAFETY: as in `save`: the calling thread's errno, valid to write.
        unsafe { *libc::__errno_location() = self.0 };
    }
}

/// The upcall signal's handler: the mailbox, the latency sample, the user's handler,
/// the upcall return.
extern "C" fn upcall_entry(_signal: libc::c_int) {
    let _errno = SavedErrno::save();
    let now = sys::monotonic_ns();
    let Some(region) = attached_region() else { return };
    let m = &region.mailbox;
    let seq = m.seq.load(Ordering::Acquire);
    if seq == LAST_SEQ.swap(seq, Ordering::AcqRel) {
        return; // Nothing new (a signal for an upcall already handled).
    }
    region.record_latency(now);
    let upcall = Upcall {
        port: Upcall::port_from_word(m.port.load(Ordering::Relaxed)),
        pending: m.pending.load(Ordering::Relaxed),
        vector: m.vector.load(Ordering::Relaxed),
        error_code: m.error_code.load(Ordering::Relaxed),
        fault_address: m.fault_address.load(Ordering::Relaxed),
        timestamp: m.timestamp.load(Ordering::Relaxed),
        sender: m.sender.load(Ordering::Relaxed),
        entry: m.entry.load(Ordering::Relaxed),
    };
    let handler = HANDLER.load(Ordering::Acquire);
    if handler != 0 {
        // SAFETY: HANDLER is only ever set (in `on_upcall`) from a `fn(&Upcall)`.
        let handler: fn(&Upcall) = unsafe { std::mem::transmute::<usize, fn(&Upcall)>(handler) };
        handler(&upcall);
    }
    region.guest.upcalls.fetch_add(1, Ordering::Relaxed);
    let _ = hypervisor().upcall_return();
}

extern "C" fn noop(_signal: libc::c_int) {}

/// Records a fault for the runner, then lets it kill the process (the handler is reset
/// to the default action, so the faulting instruction faults again and the process
/// dies by the signal).
extern "C" fn fault_recorder(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    if let Some(region) = attached_region() {
        // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
        let addr = unsafe { (*info).si_addr() } as u64;
        region.guest.trap_address.store(addr, Ordering::Relaxed);
        region.guest.trap_signal.store(signal as u64, Ordering::Release);
    }
}

/// A real page fault: a write to a page mapped without access (the runner's `--crash`).
fn crash() -> ! {
    // SAFETY: a fresh mapping with no address hint aliases nothing.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        // No page to fault on: the same signal, raised. The first runs the fault
        // recorder (which resets itself to the default action), the second kills.
        // SAFETY: plain calls; raise and abort are async-signal-safe.
        unsafe {
            libc::raise(libc::SIGSEGV);
            libc::raise(libc::SIGSEGV);
            libc::abort()
        }
    }
    let target = page.cast::<u8>();
    // SAFETY: deliberately not sound to complete: the write faults (the page has no
    // access), the fault recorder runs and the process dies by SIGSEGV before any Rust
    // code observes the write. This is the injected crash of `--crash`.
    unsafe { std::ptr::write_volatile(target, 1) };
    // Unreachable in practice; if the write somehow succeeded, die the same way.
    let _ = sys::kill(std::process::id() as i32, libc::SIGSEGV);
    std::process::abort()
}

/// Checks the hypercall socket is there: an open `SOCK_SEQPACKET` socket at `raw`.
fn check_call_socket(raw: i32) -> SysResult<()> {
    if !sys::fd_is_open(raw) {
        return Err(SysError::new("hypercall socket", libc::EBADF));
    }
    // SAFETY: `raw` is open (checked just above) and nothing closes it meanwhile.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
    match sys::socket_type(borrowed) {
        Ok(libc::SOCK_SEQPACKET) => Ok(()),
        Ok(_) => Err(SysError::new("hypercall socket type", libc::EPROTOTYPE)),
        Err(e) => Err(e),
    }
}
