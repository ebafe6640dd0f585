//! The memory a partition shares with the runner: one memfd (descriptor [`REGION_FD`]
//! in the partition), mapped by both.
//!
//! At offset 0 the [`SharedPage`] of the vCPU (the flag, start reason, clock), then the
//! [`Mailbox`] of the upcall being delivered, the [`KernelArea`] the runner writes (port
//! roles, warp ledger, commands) and the [`GuestArea`] the partition publishes (its
//! counters and latency samples). Every field is an atomic, so any byte pattern is a
//! valid value and neither side needs more than shared references.
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

/// Latency samples kept per run of a partition (a ring; the oldest are overwritten).
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
    /// Latency samples written (the ring index is this modulo [`SAMPLES`]).
    pub samples_taken: AtomicU64,
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
    /// Latency samples in nanoseconds (saturating at `u32::MAX`), a ring.
    pub samples: [AtomicU32; SAMPLES],
}

/// Bytes mapped for a region: its size rounded up to whole pages.
pub const REGION_LEN: usize = (std::mem::size_of::<Region>() + 4095) & !4095;

impl Region {
    /// Records a latency sample (guest side; async-signal-safe: atomics only).
    pub fn push_sample(&self, ns: u64) {
        let i = self.guest.samples_taken.fetch_add(1, Ordering::AcqRel);
        let slot = &self.samples[(i % SAMPLES as u64) as usize];
        slot.store(u32::try_from(ns).unwrap_or(u32::MAX), Ordering::Relaxed);
    }

    /// The latency samples currently held, in nanoseconds.
    #[must_use]
    pub fn samples(&self) -> Vec<u64> {
        let n = self.guest.samples_taken.load(Ordering::Acquire).min(SAMPLES as u64) as usize;
        self.samples[..n].iter().map(|s| u64::from(s.load(Ordering::Relaxed))).collect()
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
            &g.samples_taken,
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
    use super::{REGION_LEN, Region, SharedPage};

    #[test]
    fn the_page_is_at_offset_zero_and_the_region_fits() {
        assert_eq!(std::mem::offset_of!(Region, page), 0);
        assert_eq!(std::mem::size_of::<SharedPage>(), irq_router::vcpu::PAGE_LEN);
        assert!(std::mem::size_of::<Region>() <= REGION_LEN);
    }
}
