//! [`Hosted`]: the `KernelAdapter` of Linux processes. It performs what the router
//! decides: an upcall is the mailbox written then the upcall signal sent; a restart is
//! queued and carried out by the runner once the router call returns (a new process
//! cannot be started from inside the engine); the device line's mask decides whether
//! the runner reads its socket; health-monitor records go to the kernel log kept here.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::console::Console;

use irq_router::adapter::{KernelAdapter, StartMode, Upcall, UpcallFault};
use irq_router::health::HmRecord;

use super::timeline::{Mark, Timeline};
use crate::region::{Arrival, NO_PORT, Region};
use crate::sys;

/// Kernel log records kept (later ones are counted only).
const LOG_LIMIT: usize = 100_000;

/// The hosted kernel's side of the engine.
#[derive(Debug)]
pub struct Hosted {
    /// The kernel tick counter.
    pub now: u64,
    /// Expiry time of the clock interrupt being handled (0 outside one): upcalls it
    /// causes carry it, for the latency samples.
    pub stamp_ns: u64,
    /// How the clock ticks of those upcalls arrived (which latency figure they are).
    pub arrival: Arrival,
    /// `CLOCK_MONOTONIC` time of tick 0.
    pub t0_ns: u64,
    /// Each partition's region.
    pub regions: Vec<&'static Region>,
    /// Each partition's live process.
    pub pids: Vec<Option<i32>>,
    /// Restarts the engine asked for, to carry out after the call.
    pub restarts: Vec<(u16, StartMode)>,
    /// Kicks the engine asked for (the CPU of each).
    pub kicks: Vec<u16>,
    /// The engine stopped the module.
    pub stopped: bool,
    /// Partitions the engine idled.
    pub idled: Vec<bool>,
    /// Masked lines (shared by the CPUs).
    pub lines: Arc<LineMasks>,
    /// The kernel's health-monitor log.
    pub log: Vec<HmRecord>,
    /// Records past the log limit (counted only).
    pub log_dropped: u64,
    /// Upcalls injected per partition.
    pub upcalls: Vec<u64>,
    /// End-of-interrupts.
    pub eois: u64,
    /// The timeline for the picture.
    pub timeline: Timeline,
    /// Partition names, for console lines.
    pub names: Vec<String>,
    /// Print console writes.
    pub echo_console: bool,
    /// Where console writes go (bounded: never blocks the runner).
    pub console: Console,
}

impl Hosted {
    /// An adapter for these partitions.
    #[must_use]
    pub fn new(
        regions: Vec<&'static Region>,
        names: Vec<String>,
        timeline: Timeline,
        lines: Arc<LineMasks>,
    ) -> Self {
        let n = regions.len();
        Self {
            now: 0,
            stamp_ns: 0,
            arrival: Arrival::None,
            t0_ns: 0,
            regions,
            pids: vec![None; n],
            restarts: Vec::new(),
            kicks: Vec::new(),
            stopped: false,
            idled: vec![false; n],
            lines,
            log: Vec::new(),
            log_dropped: 0,
            upcalls: vec![0; n],
            eois: 0,
            timeline,
            names,
            echo_console: true,
            console: Console::new(),
        }
    }

    /// Nanoseconds since tick 0.
    #[must_use]
    pub fn since_start(&self) -> u64 {
        sys::monotonic_ns().saturating_sub(self.t0_ns)
    }
}

/// The lines' masks (a bitmap of the 256 vectors), shared by the CPUs, and the device
/// CPU's wake-up: a line unmasked by another CPU (a level line its last partition
/// acknowledged there) must be polled again at once, not at the device CPU's next tick.
#[derive(Debug, Default)]
pub struct LineMasks {
    masks: [AtomicU64; 4],
    /// An eventfd rung when a masked line is unmasked (`None`: one CPU, whose own loop
    /// looks at the masks again before it waits).
    wake: Option<OwnedFd>,
}

impl LineMasks {
    /// Masks that ring `wake` (an eventfd the device's CPU polls) when a line is
    /// unmasked.
    #[must_use]
    pub fn with_wake(wake: OwnedFd) -> Self {
        Self { masks: Default::default(), wake: Some(wake) }
    }

    /// The eventfd rung when a line is unmasked, if any.
    #[must_use]
    pub fn wake_fd(&self) -> Option<i32> {
        self.wake.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Whether `vector` is masked.
    #[must_use]
    pub fn is_masked(&self, vector: u8) -> bool {
        self.masks[usize::from(vector / 64)].load(Ordering::Acquire) & (1 << (vector % 64)) != 0
    }

    /// Masks (`true`) or unmasks `vector`; unmasking a masked line rings the wake-up
    /// (after the mask is cleared: whoever reads the ring sees the line unmasked).
    pub fn set(&self, vector: u8, masked: bool) {
        let bit = 1 << (vector % 64);
        let word = &self.masks[usize::from(vector / 64)];
        if masked {
            word.fetch_or(bit, Ordering::AcqRel);
        } else if word.fetch_and(!bit, Ordering::AcqRel) & bit != 0
            && let Some(wake) = &self.wake
        {
            sys::ring(wake.as_raw_fd());
        }
    }
}

impl KernelAdapter for Hosted {
    fn now(&self) -> u64 {
        self.now
    }

    fn kernel_handler(&mut self, _vector: u8) {}

    fn eoi(&mut self, _vector: u8) {
        self.eois += 1;
    }

    fn mask_line(&mut self, vector: u8) {
        self.lines.set(vector, true);
    }

    fn unmask_line(&mut self, vector: u8) {
        self.lines.set(vector, false);
    }

    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        let p = usize::from(partition);
        let Some(region) = self.regions.get(p) else { return Err(UpcallFault::BadEntry) };
        let m = &region.mailbox;
        let port = upcall.port.map_or(NO_PORT, u64::from);
        m.entry.store(upcall.entry.get(), Ordering::Relaxed);
        m.port.store(port, Ordering::Relaxed);
        m.pending.store(u64::from(upcall.pending), Ordering::Relaxed);
        m.vector.store(u64::from(upcall.context.vector), Ordering::Relaxed);
        let sender = match upcall.context.sender {
            irq_router::events::Sender::Kernel => 0,
            irq_router::events::Sender::Partition(s) => u64::from(s) + 1,
        };
        m.sender.store(sender, Ordering::Relaxed);
        m.error_code.store(u64::from(upcall.context.error_code), Ordering::Relaxed);
        m.fault_address.store(upcall.context.fault_address, Ordering::Relaxed);
        m.timestamp.store(upcall.context.timestamp, Ordering::Relaxed);
        m.stamp_ns.store(self.stamp_ns, Ordering::Relaxed);
        m.arrival.store(self.arrival as u64, Ordering::Relaxed);
        m.seq.fetch_add(1, Ordering::Release);
        if let Some(pid) = self.pids[p] {
            // A process that just died is found by SIGCHLD; the upcall is then moot.
            let _ = sys::kill(pid, sys::upcall_signal());
        }
        self.upcalls[p] += 1;
        let (now, t) = (self.now, self.since_start());
        let role = region.role(port);
        self.timeline.record(now, Mark::Upcall { p, t, role });
        Ok(())
    }

    fn kick(&mut self, cpu: u16) {
        self.kicks.push(cpu);
    }

    fn wait(&mut self, _partition: u16) {
        // The partition's process sleeps by itself until a signal; nothing to do.
    }

    fn user_range(&self, _partition: u16, addr: u64, len: u64) -> bool {
        // The partition's own (lower-half, user) address space; console_write reads it
        // with process_vm_readv, which refuses what the process has not mapped.
        const USER_END: u64 = 0x0000_7fff_ffff_f000;
        addr >= 4096 && addr.checked_add(len).is_some_and(|end| end <= USER_END)
    }

    fn console_write(&mut self, partition: u16, addr: u64, len: u64) -> u64 {
        let p = usize::from(partition);
        let Some(pid) = self.pids.get(p).copied().flatten() else { return 0 };
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
        let local = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let remote = libc::iovec { iov_base: addr as *mut libc::c_void, iov_len: buf.len() };
        // SAFETY: `local` describes `buf`, writable for its length; the kernel checks
        // `remote` against the partition's address space.
        let n =
            unsafe { libc::process_vm_readv(pid, &raw const local, 1, &raw const remote, 1, 0) };
        let n = usize::try_from(n).unwrap_or(0);
        if self.echo_console {
            let text = String::from_utf8_lossy(&buf[..n]);
            self.console.line(format!("[{}] {}", self.names[p], text.trim_end()));
        }
        n as u64
    }

    fn restart(&mut self, partition: u16, mode: StartMode) {
        self.restarts.push((partition, mode));
    }

    fn idle(&mut self, partition: u16) {
        let p = usize::from(partition);
        self.idled[p] = true;
        if let Some(pid) = self.pids[p] {
            let _ = sys::kill(pid, libc::SIGSTOP);
        }
    }

    fn stop_module(&mut self) {
        self.stopped = true;
    }

    fn log(&mut self, record: &HmRecord) {
        let (now, t) = (self.now, self.since_start());
        let label = format!("{:?} -> {:?}", record.kind, record.action);
        self.timeline.record(now, Mark::Health { p: record.partition.map(usize::from), t, label });
        if self.log.len() < LOG_LIMIT {
            self.log.push(*record);
        } else {
            self.log_dropped += 1;
        }
    }
}
