//! The memory a partition shares with the runner: one memfd (descriptor [`REGION_FD`]
//! in the partition), mapped by both.
//!
//! At offset 0 the [`SharedPage`] of the vCPU (the flag, start reason, clock), then the
//! [`Mailbox`] of the upcall being delivered, the [`KernelArea`] the runner writes (port
//! roles, warp ledger, commands, when the current window opened), the [`GuestArea`] the
//! partition publishes (its counters) and its latency samples, one ring per
//! [`Arrival`]. Every field is an atomic, so any byte pattern is a valid value and
//! neither side needs more than shared references.
//!
//! Trust: the runner never decides anything from the guest's words; it only reports
//! them in the summary (a partition that scribbles over its area lies only about
//! itself). The kernel reads the page as untrusted, as everywhere.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use irq_router::vcpu::SharedPage;

use super::sys::{self, SysError, SysResult};

/// The descriptor number of the region memfd in a partition process.
pub const REGION_FD: i32 = 3;

/// `port` value of a mailbox or role entry that names no port.
pub const NO_PORT: u64 = u64::MAX;

/// Latency samples kept per run of a partition and per [`Arrival`] (a ring; the oldest
/// are overwritten).
pub const SAMPLES: usize = 8192;

/// Ports whose role the runner describes to the guest (ports 0 to 63: `W = 1`).
pub const ROLE_PORTS: usize = 64;

/// What a port is for, as the runner tells the guest (its "device tree").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Not bound, or nothing the guest handles specially: its count is taken.
    None = 0,
    /// The virtual timer: take the whole count (a clock catching up wants it all).
    Timer = 1,
    /// A hardware line: acknowledge one event at a time.
    Line = 2,
    /// The receiving end of a channel: take the count.
    ChannelIn = 3,
    /// The sending end of a channel (never delivered).
    ChannelOut = 4,
    /// The health monitor's ping: take it and answer.
    Ping = 5,
    /// The error port (health-monitor `Deliver`): take the count.
    Error = 6,
}

impl Role {
    /// The role stored as `raw` (an unknown value is [`Role::None`]).
    #[must_use]
    pub const fn from_raw(raw: u8) -> Self {
        match raw {
            1 => Self::Timer,
            2 => Self::Line,
            3 => Self::ChannelIn,
            4 => Self::ChannelOut,
            5 => Self::Ping,
            6 => Self::Error,
            _ => Self::None,
        }
    }
}

/// How the event an upcall delivers reached the partition: which latency figure its
/// handler's sample belongs to (the mailbox's [`Mailbox::arrival`]).
///
/// A clock tick either finds the partition inside its window (the upcall is made at
/// once: [`InWindow`](Self::InWindow), measured from that tick's expiry) or outside it
/// (the tick waits, and the upcall is made as the partition's next window opens:
/// [`AtEntry`](Self::AtEntry), measured from the expiry of the tick that opened it). The
/// two are reported apart: the second includes the partition's resume (continued,
/// thawed), the first is the path a device interrupt takes to a running partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Arrival {
    /// Not a clock tick's upcall (a call's return, a device line, a channel...): no
    /// latency sample.
    None = 0,
    /// A clock tick that found the partition inside its window: delivered at once.
    InWindow = 1,
    /// Clock ticks that arrived while the partition was outside its window, delivered
    /// at its next entry.
    AtEntry = 2,
}

impl Arrival {
    /// The two kinds that are measured, in the order of [`Region::latency`].
    pub const MEASURED: [Self; 2] = [Self::InWindow, Self::AtEntry];

    /// The kind stored as `raw` (any other value is [`Arrival::None`]).
    #[must_use]
    pub const fn from_raw(raw: u64) -> Self {
        match raw {
            1 => Self::InWindow,
            2 => Self::AtEntry,
            _ => Self::None,
        }
    }

    /// Its ring in [`Region::latency`] (`None` has none).
    #[must_use]
    pub const fn ring(self) -> Option<usize> {
        match self {
            Self::None => None,
            Self::InWindow => Some(0),
            Self::AtEntry => Some(1),
        }
    }
}

/// The latency sample an upcall's handler records, if any: its kind and nanoseconds.
///
/// `stamp_ns` and `arrival` are the mailbox's, `window_open_ns` the kernel area's (when
/// the partition's current window opened), `now_ns` the handler's first reading of
/// `CLOCK_MONOTONIC`. An upcall made before the current window opened, whose handler
/// could only run in this one (the window ended first: the process was stopped before
/// the signal was handled), was delivered at this entry: it counts as
/// [`Arrival::AtEntry`], measured from the window's opening, not from a tick a whole
/// frame ago. Any words at all give an answer, never a panic: no stamp, an unknown kind
/// or a clock before the stamp give none.
#[must_use]
pub const fn latency_sample(
    stamp_ns: u64,
    arrival: u64,
    window_open_ns: u64,
    now_ns: u64,
) -> Option<(Arrival, u64)> {
    let arrival = Arrival::from_raw(arrival);
    if stamp_ns == 0 || matches!(arrival, Arrival::None) {
        return None;
    }
    let (arrival, from) = if stamp_ns < window_open_ns {
        (Arrival::AtEntry, window_open_ns)
    } else {
        (arrival, stamp_ns)
    };
    match now_ns.checked_sub(from) {
        Some(ns) => Some((arrival, ns)),
        None => None,
    }
}

/// The upcall the runner injected (the frame of a real kernel), written before the
/// signal is sent and read by the guest's handler.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Mailbox {
    /// Upcalls injected since the partition started; stored last (Release).
    pub seq: AtomicU64,
    /// The entry the router chose (the hosted guest has one handler: a token).
    pub entry: AtomicU64,
    /// The port delivered, or [`NO_PORT`] for a trap.
    pub port: AtomicU64,
    /// Events pending on the port when it was taken into service.
    pub pending: AtomicU64,
    /// Context: vector.
    pub vector: AtomicU64,
    /// Context: sender (0 the kernel, `p + 1` partition `p`).
    pub sender: AtomicU64,
    /// Context: error code.
    pub error_code: AtomicU64,
    /// Context: faulting address.
    pub fault_address: AtomicU64,
    /// Context: timestamp (kernel tick).
    pub timestamp: AtomicU64,
    /// `CLOCK_MONOTONIC` nanoseconds of the clock expiry being handled when the upcall
    /// was injected (0: injected by something else, no latency sample).
    pub stamp_ns: AtomicU64,
    /// How its event arrived ([`Arrival`] as a number): which latency figure it is.
    pub arrival: AtomicU64,
}

/// What the runner writes for the guest.
#[repr(C)]
#[derive(Debug)]
pub struct KernelArea {
    /// The partition's number.
    pub partition: AtomicU64,
    /// Catch-up policy: 0 replay, 1 warp, 2 collapse, 3 bounded replay.
    pub policy: AtomicU64,
    /// The port of the channel it sends on, or [`NO_PORT`].
    pub notify_port: AtomicU64,
    /// Notify once every this many timer ticks handled (0: never).
    pub notify_every: AtomicU64,
    /// The vector of each `Role::Line` port (one line per partition here), or 0.
    pub line_vector: AtomicU64,
    /// Warp policy: entries that gave a warp event, since the partition started.
    pub warp_markers: AtomicU64,
    /// Warp policy: ticks those events carried, since the partition started.
    pub warp_delta: AtomicU64,
    /// A command for the partition's main loop ([`Command`]).
    pub command: AtomicU64,
    /// `CLOCK_MONOTONIC` nanoseconds of the expiry of the tick that opened the
    /// partition's current (or last) window (0: none yet).
    pub window_open_ns: AtomicU64,
    /// [`Role`] of each port.
    pub roles: [AtomicU8; ROLE_PORTS],
}

/// A command the runner leaves in [`KernelArea::command`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Command {
    /// Nothing.
    None = 0,
    /// Crash now with a real fault (the `--crash` injection).
    Crash = 1,
    /// The run is over: finish the handler in progress, then report quiescent.
    Finish = 2,
}

/// What the guest publishes. Untrusted: reported, never acted upon.
#[repr(C)]
#[derive(Debug, Default)]
pub struct GuestArea {
    /// Timer ticks taken by its handler (sum of `take_count` on the timer port).
    pub ticks_handled: AtomicU64,
    /// Its time in ticks (replay, collapse: the ticks handled; warp: corrected by the
    /// warp ledger).
    pub guest_time: AtomicU64,
    /// Hardware-line events acknowledged.
    pub line_events: AtomicU64,
    /// Channel events received.
    pub channel_received: AtomicU64,
    /// Channel notifies that succeeded.
    pub channel_sent: AtomicU64,
    /// Channel notifies refused (over budget...).
    pub channel_refused: AtomicU64,
    /// Pings answered.
    pub pings_answered: AtomicU64,
    /// Error-port events received.
    pub errors_seen: AtomicU64,
    /// Upcalls handled.
    pub upcalls: AtomicU64,
    /// Hypercalls that answered an error.
    pub call_errors: AtomicU64,
    /// The `start_reason` hypercall's answer, plus one (0: not asked yet).
    pub start_reason: AtomicU64,
    /// The start reason read from the page (`code << 32 | cause`), plus one.
    pub page_start_reason: AtomicU64,
    /// The signal of a fault it took (its fault handler records it before dying).
    pub trap_signal: AtomicU64,
    /// The faulting address of that fault.
    pub trap_address: AtomicU64,
    /// 1 once it finished after [`Command::Finish`].
    pub quiescent: AtomicU64,
}

/// A ring of latency samples (written by the guest, untrusted).
#[repr(C)]
#[derive(Debug)]
pub struct Samples {
    /// Samples written (the ring index is this modulo [`SAMPLES`]).
    pub taken: AtomicU64,
    /// Nanoseconds, saturating at `u32::MAX` (4.29 s).
    pub ns: [AtomicU32; SAMPLES],
}

/// Everything a partition shares with the runner.
#[repr(C)]
#[derive(Debug)]
pub struct Region {
    /// The vCPU page (must stay at offset 0: the router is handed `&region.page`).
    pub page: SharedPage,
    /// The upcall being delivered.
    pub mailbox: Mailbox,
    /// Written by the runner.
    pub kernel: KernelArea,
    /// Written by the guest.
    pub guest: GuestArea,
    /// Clock-expiry-to-handler latency samples, one ring per measured [`Arrival`]
    /// (in the order of [`Arrival::MEASURED`]).
    pub latency: [Samples; 2],
}

/// Bytes mapped for a region: its size rounded up to whole pages.
pub const REGION_LEN: usize = (std::mem::size_of::<Region>() + 4095) & !4095;

impl Region {
    /// Records a latency sample of kind `arrival` (guest side; async-signal-safe:
    /// atomics only). [`Arrival::None`] records nothing.
    pub fn push_sample(&self, arrival: Arrival, ns: u64) {
        let Some(ring) = arrival.ring() else { return };
        let ring = &self.latency[ring];
        let i = ring.taken.fetch_add(1, Ordering::AcqRel);
        let slot = &ring.ns[(i % SAMPLES as u64) as usize];
        slot.store(u32::try_from(ns).unwrap_or(u32::MAX), Ordering::Relaxed);
    }

    /// Records the latency sample of the upcall in the mailbox, whose handler started at
    /// `now_ns` ([`latency_sample`]; guest side, async-signal-safe).
    pub fn record_latency(&self, now_ns: u64) {
        let m = &self.mailbox;
        let stamp = m.stamp_ns.load(Ordering::Acquire);
        let arrival = m.arrival.load(Ordering::Acquire);
        let open = self.kernel.window_open_ns.load(Ordering::Acquire);
        if let Some((arrival, ns)) = latency_sample(stamp, arrival, open, now_ns) {
            self.push_sample(arrival, ns);
        }
    }

    /// The latency samples of kind `arrival` currently held, in nanoseconds (at most
    /// [`SAMPLES`], whatever the guest wrote).
    #[must_use]
    pub fn samples(&self, arrival: Arrival) -> Vec<u64> {
        let Some(ring) = arrival.ring() else { return Vec::new() };
        let ring = &self.latency[ring];
        let n = ring.taken.load(Ordering::Acquire).min(SAMPLES as u64) as usize;
        ring.ns[..n].iter().map(|s| u64::from(s.load(Ordering::Relaxed))).collect()
    }

    /// The port's role.
    #[must_use]
    pub fn role(&self, port: u64) -> Role {
        match usize::try_from(port).ok().and_then(|p| self.kernel.roles.get(p)) {
            Some(role) => Role::from_raw(role.load(Ordering::Acquire)),
            None => Role::None,
        }
    }

    /// Clears everything but the page (a restart: the new process starts from zero).
    pub fn clear_for_restart(&self) {
        let zero = |a: &AtomicU64| a.store(0, Ordering::Relaxed);
        let m = &self.mailbox;
        for a in [
            &m.seq,
            &m.entry,
            &m.pending,
            &m.vector,
            &m.sender,
            &m.error_code,
            &m.fault_address,
            &m.timestamp,
            &m.stamp_ns,
            &m.arrival,
        ] {
            zero(a);
        }
        m.port.store(NO_PORT, Ordering::Relaxed);
        let g = &self.guest;
        for a in [
            &g.ticks_handled,
            &g.guest_time,
            &g.line_events,
            &g.channel_received,
            &g.channel_sent,
            &g.channel_refused,
            &g.pings_answered,
            &g.errors_seen,
            &g.upcalls,
            &g.call_errors,
            &g.start_reason,
            &g.page_start_reason,
            &g.trap_signal,
            &g.trap_address,
            &g.quiescent,
            &self.latency[0].taken,
            &self.latency[1].taken,
        ] {
            zero(a);
        }
        for a in [&self.kernel.warp_markers, &self.kernel.warp_delta, &self.kernel.command] {
            zero(a);
        }
        std::sync::atomic::fence(Ordering::Release);
    }
}

/// Maps the memfd a partition inherited as file descriptor `raw` (guest side).
///
/// The descriptor is checked before it is taken: it must be open, a memfd carrying the
/// runner's seals ([`sys::REGION_SEALS`]: its size can no longer change under the
/// mapping) and at least [`REGION_LEN`] bytes long. A program run on its own (nothing
/// there, or some unrelated file) fails here cleanly. The mapping lives as long as the
/// process.
///
/// # Errors
/// `EBADF`: nothing open at `raw`; `EINVAL`: not a sealed memfd of the right size; or a
/// failed system call.
pub fn inherit(raw: i32) -> SysResult<(OwnedFd, &'static Region)> {
    if !sys::fd_is_open(raw) {
        return Err(SysError::new("region descriptor", libc::EBADF));
    }
    // SAFETY: `raw` is open (checked just above) and nothing in this
    // single-threaded start-up closes it while the borrow lives.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
    let seals = match sys::seals(borrowed) {
        Ok(seals) => seals,
        Err(e) if e.errno() == libc::EINVAL => {
            return Err(SysError::new("region descriptor is not a memfd", libc::EINVAL));
        }
        Err(e) => return Err(e),
    };
    if seals & sys::REGION_SEALS != sys::REGION_SEALS {
        return Err(SysError::new("region memfd is not sealed", libc::EINVAL));
    }
    if sys::file_len(borrowed)? < REGION_LEN as u64 {
        return Err(SysError::new("region size", libc::EINVAL));
    }
    // SAFETY: the runner passes this descriptor number to the partition program it
    // starts and nothing else in the partition owns it; it was checked above to be
    // an open, sealed memfd (not some descriptor the program merely inherited).
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let region = map(fd.as_fd())?;
    Ok((fd, region))
}

/// Maps [`REGION_LEN`] bytes of the region memfd `fd`, shared. The mapping lives until
/// it is unmapped with [`sys::unmap`] (the runner's release at the end of a run, whose
/// caller guarantees no reference is used afterwards) or for ever (a partition).
///
/// # Errors
/// `mmap` failed.
pub fn map(fd: BorrowedFd<'_>) -> SysResult<&'static Region> {
    let ptr = sys::map_shared(fd, REGION_LEN)?;
    // SAFETY: `ptr` is a page-aligned, readable and writable shared mapping of
    // REGION_LEN >= size_of::<Region>() bytes that stays mapped until an unmap whose
    // caller guarantees no reference is used afterwards (or for ever). Its memory stays backed for as long: the memfd is
    // sealed against shrinking (F_SEAL_SHRINK, checked by `inherit` on the guest side)
    // and against new seals (F_SEAL_SEAL), so no process holding the descriptor can
    // truncate it under the mapping (an access past the end of a memfd raises SIGBUS)
    // or freeze it with F_SEAL_WRITE; punching a hole only zeroes pages, which is just
    // another byte pattern. Region is repr(C) and made only of atomics, for which every
    // byte pattern (zero included: a fresh memfd) is a valid value, and atomics are the
    // only way either process touches it, so sharing it with another process is sound.
    Ok(unsafe { &*ptr.cast::<Region>() })
}

#[cfg(test)]
mod tests {
    use super::{Arrival, REGION_LEN, Region, SharedPage, latency_sample};

    #[test]
    fn the_page_is_at_offset_zero_and_the_region_fits() {
        assert_eq!(std::mem::offset_of!(Region, page), 0);
        assert_eq!(std::mem::size_of::<SharedPage>(), irq_router::vcpu::PAGE_LEN);
        assert!(std::mem::size_of::<Region>() <= REGION_LEN);
    }

    #[test]
    fn arrival_round_trips_and_any_other_word_is_none() {
        for arrival in [Arrival::None, Arrival::InWindow, Arrival::AtEntry] {
            assert_eq!(Arrival::from_raw(arrival as u64), arrival);
        }
        for raw in [3, 255, u64::MAX] {
            assert_eq!(Arrival::from_raw(raw), Arrival::None);
        }
        assert_eq!(Arrival::MEASURED.map(Arrival::ring), [Some(0), Some(1)]);
        assert_eq!(Arrival::None.ring(), None);
    }

    #[test]
    fn a_sample_is_measured_from_its_tick_or_from_the_window_it_was_delivered_in() {
        let (open, tick) = (100_000_000, 104_000_000);
        let in_window = Arrival::InWindow as u64;
        let at_entry = Arrival::AtEntry as u64;
        // A tick inside the window: from its expiry.
        assert_eq!(latency_sample(tick, in_window, open, tick + 50), Some((Arrival::InWindow, 50)));
        // The upcall made as the window opened: from the opening.
        assert_eq!(latency_sample(open, at_entry, open, open + 80), Some((Arrival::AtEntry, 80)));
        // Made in an earlier window, handled only in this one (the window ended before
        // the handler ran): delivered at this entry, measured from it.
        let earlier = open - 33_000_000;
        assert_eq!(
            latency_sample(earlier, in_window, open, open + 90),
            Some((Arrival::AtEntry, 90))
        );
        // Never a window yet (the latency benchmark's bare path): as stamped.
        assert_eq!(latency_sample(tick, in_window, 0, tick + 7), Some((Arrival::InWindow, 7)));
    }

    #[test]
    fn any_mailbox_words_give_a_sample_or_none_never_a_panic() {
        // No stamp, no kind, an unknown kind: nothing.
        assert_eq!(latency_sample(0, Arrival::InWindow as u64, 0, 10), None);
        assert_eq!(latency_sample(5, Arrival::None as u64, 0, 10), None);
        assert_eq!(latency_sample(5, u64::MAX, 0, 10), None);
        // A clock before the stamp (a scribbled stamp): nothing.
        assert_eq!(latency_sample(u64::MAX, Arrival::InWindow as u64, 0, 10), None);
        assert_eq!(latency_sample(5, Arrival::InWindow as u64, u64::MAX, 10), None);
        // Extremes do not overflow.
        assert_eq!(
            latency_sample(1, Arrival::AtEntry as u64, 0, u64::MAX),
            Some((Arrival::AtEntry, u64::MAX - 1))
        );
    }
}
