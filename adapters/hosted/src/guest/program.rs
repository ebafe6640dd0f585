//! The partition program: what runs inside each partition process.
//!
//! It maps its region, installs its upcall handler (the real-time upcall signal) and a
//! fault recorder, asks why it started, registers its upcall entry, binds its line,
//! enables interrupts, then sleeps until something happens. All its work is done by the
//! upcall handler, one port at a time, as the kernel delivers them:
//! * timer: `take_count` (the whole count: a clock catching up wants it all), its time
//!   advanced, and every `notify_every` ticks a `notify` on its channel;
//! * hardware line: `acknowledge` one event;
//! * channel, error port: `take_count`; ping: `take_count` then `ping_answer`;
//!
//! then `upcall_return`. The main loop obeys the runner's commands: crash with a real
//! page fault (the `--crash` injection), or finish (the end of the run).
//!
//! `--bare` runs the latency baseline instead: a handler that only stamps the time.

use std::num::NonZeroU64;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};

use super::{CALL_FD, Hypervisor, REGION_FD};
use crate::region::{Command, NO_PORT, Region, Role, SharedRegion};
use crate::sys;

static REGION: AtomicPtr<Region> = AtomicPtr::new(std::ptr::null_mut());
static SOCKET: AtomicI32 = AtomicI32::new(-1);
static LAST_SEQ: AtomicU64 = AtomicU64::new(0);

fn region() -> Option<&'static Region> {
    let ptr = REGION.load(Ordering::Acquire);
    // SAFETY: REGION is only ever set to a `&'static Region` (a leaked mapping).
    unsafe { ptr.as_ref() }
}

/// The doorbell signal the runner sends after leaving a command.
#[must_use]
pub fn doorbell_signal() -> i32 {
    libc::SIGRTMIN() + 1
}

/// The upcall entry token the guest registers.
fn entry_token() -> NonZeroU64 {
    NonZeroU64::new(upcall_handler as *const () as u64).unwrap_or(NonZeroU64::MIN)
}

/// Saves the interrupted code's `errno` on entry to a signal handler and puts it back
/// when dropped (on the handler's way out): the handler's own calls (send, recv,
/// pthread_sigmask...) must not change what the interrupted code reads in it.
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

/// The upcall handler: reads the mailbox, handles the port, returns from the upcall.
extern "C" fn upcall_handler(_signal: libc::c_int) {
    let _errno = SavedErrno::save();
    let now = sys::monotonic_ns();
    let Some(region) = region() else { return };
    let m = &region.mailbox;
    let seq = m.seq.load(Ordering::Acquire);
    if seq == LAST_SEQ.swap(seq, Ordering::AcqRel) {
        return; // Nothing new (a signal for an upcall already handled).
    }
    let stamp = m.stamp_ns.load(Ordering::Relaxed);
    if stamp != 0 && now >= stamp {
        region.push_sample(now - stamp);
    }
    let hv = Hypervisor::new(SOCKET.load(Ordering::Relaxed));
    let port = m.port.load(Ordering::Relaxed);
    let g = &region.guest;
    let errors = |r: &Result<u64, super::CallError>| {
        if r.is_err() {
            g.call_errors.fetch_add(1, Ordering::Relaxed);
        }
    };
    if port != NO_PORT {
        let p = port as u16;
        match region.role(port) {
            Role::Timer => {
                let r = hv.take_count(p);
                errors(&r);
                if let Ok(n) = r {
                    on_ticks(region, &hv, n);
                }
            }
            Role::Line => {
                let r = hv.acknowledge(p);
                errors(&r);
                if r.is_ok() {
                    g.line_events.fetch_add(1, Ordering::Relaxed);
                }
            }
            Role::Ping => {
                errors(&hv.take_count(p));
                let r = hv.ping_answer();
                errors(&r);
                if r.is_ok() {
                    g.pings_answered.fetch_add(1, Ordering::Relaxed);
                }
            }
            role => {
                let r = hv.take_count(p);
                errors(&r);
                let n = r.unwrap_or(0);
                match role {
                    Role::ChannelIn => g.channel_received.fetch_add(n, Ordering::Relaxed),
                    Role::Error => g.errors_seen.fetch_add(n, Ordering::Relaxed),
                    _ => 0,
                };
            }
        }
    }
    g.upcalls.fetch_add(1, Ordering::Relaxed);
    let r = hv.upcall_return();
    errors(&r);
}

/// The timer handler's work for `n` ticks taken.
fn on_ticks(region: &Region, hv: &Hypervisor, n: u64) {
    let g = &region.guest;
    let k = &region.kernel;
    // Wrapping: a handler must never panic, whatever the counters hold.
    let before = g.ticks_handled.fetch_add(n, Ordering::AcqRel);
    let handled = before.wrapping_add(n);
    let time = if k.policy.load(Ordering::Acquire) == 1 {
        // Warp: one event per entry stands for the ticks the ledger says it carried.
        handled
            .saturating_add(k.warp_delta.load(Ordering::Acquire))
            .saturating_sub(k.warp_markers.load(Ordering::Acquire))
    } else {
        handled
    };
    g.guest_time.store(time, Ordering::Release);
    let every = k.notify_every.load(Ordering::Relaxed);
    let out = k.notify_port.load(Ordering::Relaxed);
    if every > 0 && out != NO_PORT && before / every != handled / every {
        match hv.notify(out as u16) {
            Ok(_) => g.channel_sent.fetch_add(1, Ordering::Relaxed),
            Err(_) => g.channel_refused.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// The baseline handler: stamps the latency, nothing else.
extern "C" fn bare_handler(_signal: libc::c_int) {
    let _errno = SavedErrno::save();
    let now = sys::monotonic_ns();
    let Some(region) = region() else { return };
    let stamp = region.mailbox.stamp_ns.load(Ordering::Acquire);
    if stamp != 0 && now >= stamp {
        region.push_sample(now - stamp);
    }
    region.guest.upcalls.fetch_add(1, Ordering::Relaxed);
}

/// Records a fault for the runner, then lets it kill the process (the handler is reset
/// to the default action, so the faulting instruction faults again and the process
/// dies by the signal).
extern "C" fn fault_recorder(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _ctx: *mut libc::c_void,
) {
    if let Some(region) = region() {
        // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
        let addr = unsafe { (*info).si_addr() } as u64;
        region.guest.trap_address.store(addr, Ordering::Relaxed);
        region.guest.trap_signal.store(signal as u64, Ordering::Release);
    }
}

fn install(signal: i32, handler: usize, flags: i32) -> Result<(), sys::SysError> {
    let mut action = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: `action` is zeroed memory of a sigaction, a valid value to fill in.
    let mut action = unsafe { action.assume_init_mut().to_owned() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: `action` is a valid sigaction whose handler is an `extern "C"` function
    // that only uses atomics and async-signal-safe calls.
    let ret = unsafe { libc::sigaction(signal, &raw const action, std::ptr::null_mut()) };
    if ret != 0 { Err(sys::SysError::last("sigaction")) } else { Ok(()) }
}

/// A real page fault: a write to a page mapped without access.
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

fn wait_mask() -> libc::sigset_t {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `set` is a sigset_t being initialized; these only write it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    }
}

/// Runs the partition program; `args` are the program's arguments (its number, or
/// `--bare`).
#[must_use]
pub fn main(args: &[String]) -> ExitCode {
    let bare = args.iter().any(|a| a == "--bare");
    let shared = match SharedRegion::inherit(REGION_FD) {
        Ok(shared) => shared,
        Err(e) => {
            eprintln!("irq-hosted partition: no region (run it through irq-hosted): {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = check_call_socket(CALL_FD) {
        eprintln!("irq-hosted partition: no hypercall socket (run it through irq-hosted): {e}");
        return ExitCode::FAILURE;
    }
    let region = shared.region();
    REGION.store(std::ptr::from_ref(region).cast_mut(), Ordering::Release);
    SOCKET.store(CALL_FD, Ordering::Release);
    // The doorbell only interrupts the wait below: blocked except inside it.
    if sys::block_signals(&[doorbell_signal()]).is_err() {
        return ExitCode::FAILURE;
    }
    let upcall = if bare {
        bare_handler as *const () as usize
    } else {
        upcall_handler as *const () as usize
    };
    let doorbell = noop as *const () as usize;
    let mut ok = install(sys::upcall_signal(), upcall, libc::SA_RESTART).is_ok();
    ok &= install(doorbell_signal(), doorbell, libc::SA_RESTART).is_ok();
    let recorder = libc::SA_SIGINFO | libc::SA_RESETHAND;
    for signal in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
        ok &= install(signal, fault_recorder as *const () as usize, recorder).is_ok();
    }
    if !ok {
        return ExitCode::FAILURE;
    }
    if !bare {
        start(region);
    }
    let mask = wait_mask();
    loop {
        match region.kernel.command.load(Ordering::Acquire) {
            c if c == Command::Crash as u64 => crash(),
            c if c == Command::Finish as u64 => region.guest.quiescent.store(1, Ordering::Release),
            _ => {}
        }
        // SAFETY: `mask` is a valid sigset_t; sigsuspend returns after a handler ran.
        unsafe { libc::sigsuspend(&raw const mask) };
    }
}

extern "C" fn noop(_signal: libc::c_int) {}

/// Checks the hypercall socket is there: an open `SOCK_SEQPACKET` socket at `raw`.
fn check_call_socket(raw: i32) -> Result<(), sys::SysError> {
    if !sys::fd_is_open(raw) {
        return Err(sys::SysError::new("hypercall socket", libc::EBADF));
    }
    // SAFETY: `raw` is open (checked just above) and nothing closes it meanwhile.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
    match sys::socket_type(borrowed) {
        Ok(libc::SOCK_SEQPACKET) => Ok(()),
        Ok(_) => Err(sys::SysError::new("hypercall socket type", libc::EPROTOTYPE)),
        Err(e) => Err(e),
    }
}

/// The start-up calls: start reason, console greeting, upcall entry, line, enable.
fn start(region: &Region) {
    let hv = Hypervisor::new(CALL_FD);
    let g = &region.guest;
    let p = region.kernel.partition.load(Ordering::Acquire);
    if let Some(reason) = region.page.guest().start_reason() {
        let (code, cause) = reason.encode();
        g.page_start_reason
            .store(((u64::from(code) << 32) | u64::from(cause)) + 1, Ordering::Release);
    }
    let reason = hv.start_reason();
    if let Ok((value, _)) = reason {
        g.start_reason.store(value + 1, Ordering::Release);
    }
    let text = match reason {
        Ok((_, Some(r))) => format!("partition {p} (pid {}) started: {r:?}\n", std::process::id()),
        _ => format!("partition {p} started, reason unknown\n"),
    };
    let _ = hv.console_write(text.as_bytes());
    let _ = hv.register_upcall(Some(entry_token()));
    let vector = region.kernel.line_vector.load(Ordering::Acquire);
    for port in 0..crate::region::ROLE_PORTS as u64 {
        if region.role(port) == Role::Line {
            // The configuration binds it already (AlreadyBound): asking is harmless.
            if let Ok(v) = u8::try_from(vector) {
                let _ = hv.request_irq(v, port as u16);
            }
        }
    }
    if hv.enable_irqs().is_err() {
        g.call_errors.fetch_add(1, Ordering::Relaxed);
    }
}
