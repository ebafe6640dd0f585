//! Thin, checked wrappers over the Linux system calls the hosted adapter uses: memfd
//! and shared mappings, sequenced-packet socket pairs, timerfd, signalfd, poll,
//! signals, pidfds, eventfds, CPU affinity, real-time scheduling and `waitpid`. Each `unsafe` block is one call with its own `SAFETY` line.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub use irq_guest::hosted::sys::{
    REGION_SEALS, SysError, SysResult, block_signals, check, fd_is_open, file_len, kill,
    map_shared, monotonic_ns, recv_words, restore_signals, seals, send_words, sigset, socket_type,
    unmap, upcall_signal,
};

fn owned(what: &'static str, fd: i32) -> SysResult<OwnedFd> {
    check(what, i64::from(fd))?;
    // SAFETY: `fd` was just returned by the kernel to this call and is owned by no one.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A close-on-exec memfd of `len` zero bytes, sealed with [`REGION_SEALS`] (its size
/// is fixed for good before any other process can see it).
///
/// # Errors
/// `memfd_create`, `ftruncate` or `fcntl(F_ADD_SEALS)` failed.
pub fn memfd(name: &str, len: usize) -> SysResult<OwnedFd> {
    let name = CString::new(name).map_err(|_| SysError::new("memfd name", libc::EINVAL))?;
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let fd = owned("memfd_create", unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
    let len = libc::off_t::try_from(len).map_err(|_| SysError::new("memfd size", libc::EINVAL))?;
    // SAFETY: `fd` is an open memfd.
    check("ftruncate", i64::from(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }))?;
    // SAFETY: `fd` is an open memfd created with MFD_ALLOW_SEALING.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, REGION_SEALS) };
    check("fcntl(F_ADD_SEALS)", i64::from(ret))?;
    Ok(fd)
}

/// A close-on-exec `SOCK_SEQPACKET` pair (message boundaries kept, in order).
///
/// # Errors
/// `socketpair` failed.
pub fn seqpacket_pair() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    let kind = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two descriptors the call writes.
    let ret = unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, fds.as_mut_ptr()) };
    check("socketpair", i64::from(ret))?;
    Ok((owned("socketpair", fds[0])?, owned("socketpair", fds[1])?))
}

fn timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as _,
    }
}

/// A non-blocking `CLOCK_MONOTONIC` timerfd firing every `period_ns` from `start_ns`
/// (absolute), so expiry `k` (from 1) is at `start_ns + k * period_ns` exactly.
///
/// # Errors
/// `timerfd_create` or `timerfd_settime` failed.
pub fn periodic_timer(start_ns: u64, period_ns: u64) -> SysResult<OwnedFd> {
    let flags = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
    // SAFETY: plain system call with constant arguments.
    let fd =
        owned("timerfd_create", unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) })?;
    let spec = libc::itimerspec {
        it_interval: timespec(period_ns),
        it_value: timespec(start_ns + period_ns),
    };
    // SAFETY: `spec` is a valid itimerspec; the old value is not asked for.
    let ret = unsafe {
        libc::timerfd_settime(
            fd.as_raw_fd(),
            libc::TFD_TIMER_ABSTIME,
            &raw const spec,
            std::ptr::null_mut(),
        )
    };
    check("timerfd_settime", i64::from(ret))?;
    Ok(fd)
}

/// Expirations since the last read (0 if none: the timerfd is non-blocking).
///
/// # Errors
/// `read` failed otherwise.
pub fn read_timer(fd: i32) -> SysResult<u64> {
    let mut n = 0u64;
    // SAFETY: `n` is 8 writable bytes, what a timerfd read returns.
    let ret = unsafe { libc::read(fd, (&raw mut n).cast(), 8) };
    match check("read timerfd", ret as i64) {
        Err(e) if e.errno() == libc::EAGAIN || e.errno() == libc::EINTR => Ok(0),
        Err(e) => Err(e),
        Ok(_) => Ok(n),
    }
}

/// A non-blocking signalfd for `signals` (which the caller has blocked).
///
/// # Errors
/// `signalfd` failed.
pub fn signal_fd(signals: &[i32]) -> SysResult<OwnedFd> {
    let set = sigset(signals);
    // SAFETY: `set` is a valid sigset_t; -1 asks for a new descriptor.
    owned("signalfd", unsafe {
        libc::signalfd(-1, &raw const set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC)
    })
}

/// The signals waiting on a signalfd (empty if none).
#[must_use]
pub fn read_signals(fd: i32) -> Vec<i32> {
    let mut out = Vec::new();
    loop {
        let mut info = std::mem::MaybeUninit::<libc::signalfd_siginfo>::zeroed();
        let len = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: `info` is writable memory of one signalfd_siginfo.
        let ret = unsafe { libc::read(fd, info.as_mut_ptr().cast(), len) };
        if ret as usize != len {
            return out;
        }
        // SAFETY: the kernel filled the whole structure (checked above).
        out.push(unsafe { info.assume_init() }.ssi_signo as i32);
    }
}

/// `poll` with a timeout in milliseconds (-1: none); `EINTR` counts as no event.
///
/// # Errors
/// `poll` failed otherwise.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> SysResult<usize> {
    // SAFETY: `fds` is a valid, writable array of its length.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    match check("poll", i64::from(ret)) {
        Err(e) if e.errno() == libc::EINTR => Ok(0),
        other => other.map(|n| n as usize),
    }
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Killed(i32),
}

/// Reaps child `pid` if it has ended, without waiting; `None` if it has not (or is
/// not a child of this process).
#[must_use]
pub fn reap_if_ended(pid: i32) -> Option<Ended> {
    let mut status = 0;
    // SAFETY: `status` is a valid int to fill.
    let ret = unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) };
    (ret == pid).then(|| decode_status(status))
}

/// A close-on-exec pidfd of process `pid` (readable once it has ended). Taken while the
/// process is an unreaped child, it names that process and no other.
///
/// # Errors
/// `pidfd_open` failed.
pub fn pidfd(pid: i32) -> SysResult<OwnedFd> {
    // SAFETY: plain system call; no memory is passed.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    check("pidfd_open", ret)?;
    owned("pidfd_open", ret as i32)
}

/// A non-blocking, close-on-exec eventfd: one CPU's doorbell, rung by the others.
///
/// # Errors
/// `eventfd` failed.
pub fn event_fd() -> SysResult<OwnedFd> {
    // SAFETY: plain system call with constant arguments.
    owned("eventfd", unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })
}

/// Rings eventfd `fd` (its counter saturating at the kernel's limit is still rung).
pub fn ring(fd: i32) {
    let one = 1u64;
    // SAFETY: `one` is 8 readable bytes, what an eventfd write takes.
    let _ = unsafe { libc::write(fd, (&raw const one).cast(), 8) };
}

/// Whether eventfd `fd` was rung since the last call (which resets it).
#[must_use]
pub fn take_ring(fd: i32) -> bool {
    let mut n = 0u64;
    // SAFETY: `n` is 8 writable bytes, what an eventfd read returns.
    let ret = unsafe { libc::read(fd, (&raw mut n).cast(), 8) };
    ret == 8 && n > 0
}

/// Binds the calling thread (and the processes it starts later) to host CPU `cpu`.
///
/// # Errors
/// `sched_setaffinity` failed (`cpu` is not one the process may use).
pub fn pin_thread(cpu: usize) -> SysResult<()> {
    // SAFETY: an all-zero cpu_set_t is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(SysError::new("sched_setaffinity", libc::EINVAL));
    }
    // SAFETY: `cpu` is below CPU_SETSIZE, inside the set.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid cpu_set_t of `size` bytes; 0 is the calling thread.
    let ret = unsafe { libc::sched_setaffinity(0, size, &raw const set) };
    check("sched_setaffinity", i64::from(ret)).map(|_| ())
}

/// The calling thread's priority if it runs under `SCHED_FIFO`.
#[must_use]
pub fn fifo_priority() -> Option<i32> {
    // SAFETY: 0 is the calling thread; no pointer.
    let policy = unsafe { libc::sched_getscheduler(0) };
    if policy != libc::SCHED_FIFO {
        return None;
    }
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a writable sched_param; 0 is the calling thread.
    let ret = unsafe { libc::sched_getparam(0, &raw mut param) };
    (ret == 0).then_some(param.sched_priority)
}

/// Puts thread or process `pid` (0: the calling thread) under `SCHED_FIFO` at
/// `priority`, or back under `SCHED_OTHER` for `None`.
///
/// # Errors
/// `sched_setscheduler` failed: `EPERM` without `CAP_SYS_NICE` (or an `RLIMIT_RTPRIO`
/// that allows it), `EINVAL` for a priority outside 1 to 99.
pub fn set_fifo(pid: i32, priority: Option<i32>) -> SysResult<()> {
    let (policy, priority) = priority.map_or((libc::SCHED_OTHER, 0), |p| (libc::SCHED_FIFO, p));
    let param = libc::sched_param { sched_priority: priority };
    // SAFETY: `param` is a valid sched_param, read only.
    let ret = unsafe { libc::sched_setscheduler(pid, policy, &raw const param) };
    check("sched_setscheduler", i64::from(ret)).map(|_| ())
}

/// The host CPUs the process may run on, in order.
#[must_use]
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a writable cpu_set_t of `size` bytes; 0 is the calling thread.
    let ret = unsafe { libc::sched_getaffinity(0, size, &raw mut set) };
    if ret != 0 {
        return vec![0];
    }
    // SAFETY: every `c` is below CPU_SETSIZE, inside the set.
    (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect()
}

/// Waits for child `pid` to end and reaps it.
#[must_use]
pub fn reap(pid: i32) -> Option<Ended> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid int to fill.
        let ret = unsafe { libc::waitpid(pid, &raw mut status, 0) };
        if ret == pid {
            return Some(decode_status(status));
        }
        if ret < 0 && SysError::last("waitpid").errno() == libc::EINTR {
            continue;
        }
        return None;
    }
}

fn decode_status(status: i32) -> Ended {
    if libc::WIFSIGNALED(status) {
        Ended::Killed(libc::WTERMSIG(status))
    } else {
        Ended::Exited(libc::WEXITSTATUS(status))
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, AsRawFd};

    use super::{REGION_SEALS, file_len, memfd, seals, send_words, seqpacket_pair};

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    #[test]
    fn a_region_memfd_is_sealed_against_resizing() {
        let fd = memfd("irq-hosted-seal-test", 8192).expect("memfd");
        assert_eq!(seals(fd.as_fd()).expect("seals") & REGION_SEALS, REGION_SEALS);
        // What a hostile partition holding the descriptor read-write would try.
        for len in [0, 4096, 1 << 20] {
            // SAFETY: `fd` is an open memfd; the call is refused.
            let ret = unsafe { libc::ftruncate(fd.as_raw_fd(), len) };
            assert_eq!((ret, errno()), (-1, libc::EPERM), "ftruncate to {len}");
        }
        // SAFETY: as above; F_SEAL_SEAL refuses any further seal.
        let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_WRITE) };
        assert_eq!((ret, errno()), (-1, libc::EPERM), "no new seal");
        // Reopening it through /proc gives the same inode, seals included.
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let again = std::fs::OpenOptions::new().write(true).open(path).expect("reopen");
        assert!(again.set_len(0).is_err(), "truncating a reopened descriptor is refused too");
        assert_eq!(file_len(fd.as_fd()).expect("fstat"), 8192);
    }

    #[test]
    fn a_full_queue_is_eagain_without_blocking() {
        let (runner, guest) = seqpacket_pair().expect("socketpair");
        let mut refused = None;
        // The guest never reads: the runner's answers pile up until the queue is full.
        for sent in 0..10_000 {
            if let Err(e) = send_words(runner.as_raw_fd(), &[1, 2], true) {
                refused = Some((sent, e.errno()));
                break;
            }
        }
        let (sent, errno) = refused.expect("the queue fills");
        assert_eq!(errno, libc::EAGAIN);
        assert!(sent > 0);
        drop(guest);
        let e = send_words(runner.as_raw_fd(), &[1, 2], true).expect_err("peer gone");
        assert!([libc::EPIPE, libc::ECONNRESET].contains(&e.errno()), "{e}");
    }
}
