//! Thin, checked wrappers over the Linux system calls the hosted adapter uses: memfd
//! and shared mappings, sequenced-packet socket pairs, timerfd, signalfd, poll,
//! signals and `waitpid`. Each `unsafe` block is one call with its own `SAFETY` line.

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A failed system call: which one, and `errno`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysError {
    what: &'static str,
    errno: i32,
}

impl SysError {
    /// An error of `what` with `errno`.
    #[must_use]
    pub const fn new(what: &'static str, errno: i32) -> Self {
        Self { what, errno }
    }

    /// The last error of `what` (reads `errno`).
    #[must_use]
    pub fn last(what: &'static str) -> Self {
        Self { what, errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0) }
    }

    /// `errno`.
    #[must_use]
    pub const fn errno(&self) -> i32 {
        self.errno
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, std::io::Error::from_raw_os_error(self.errno))
    }
}

impl std::error::Error for SysError {}

/// A system call's result.
pub type SysResult<T> = Result<T, SysError>;

fn check(what: &'static str, ret: i64) -> SysResult<i64> {
    if ret < 0 { Err(SysError::last(what)) } else { Ok(ret) }
}

fn owned(what: &'static str, fd: i32) -> SysResult<OwnedFd> {
    check(what, i64::from(fd))?;
    // SAFETY: `fd` was just returned by the kernel to this call and is owned by no one.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The seals a region memfd carries: its size can change no more, and no seal can be
/// added or removed. A partition holding the descriptor read-write can therefore
/// neither truncate it under the runner's mapping (which would make the runner's next
/// access raise SIGBUS) nor grow it, nor add `F_SEAL_WRITE` to freeze the runner out.
pub const REGION_SEALS: i32 = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

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

/// The seals of the memfd `fd` (`F_GET_SEALS`).
///
/// # Errors
/// `fcntl` failed: `EINVAL` if `fd` is not a file that supports seals (not a memfd).
pub fn seals(fd: BorrowedFd<'_>) -> SysResult<i32> {
    // SAFETY: `fd` is an open descriptor (a BorrowedFd); F_GET_SEALS only reads.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    check("fcntl(F_GET_SEALS)", i64::from(ret)).map(|s| s as i32)
}

/// Whether descriptor number `raw` is open in this process (`fcntl(F_GETFD)`, which
/// claims nothing about who owns it).
#[must_use]
pub fn fd_is_open(raw: i32) -> bool {
    // SAFETY: F_GETFD on any integer only reads the descriptor's flags, or fails with
    // EBADF if no such descriptor is open; it neither uses nor closes it.
    unsafe { libc::fcntl(raw, libc::F_GETFD) >= 0 }
}

/// The socket type (`SOCK_STREAM`, `SOCK_SEQPACKET`...) of the socket `fd`.
///
/// # Errors
/// `getsockopt` failed: `ENOTSOCK` if `fd` is not a socket.
pub fn socket_type(fd: BorrowedFd<'_>) -> SysResult<i32> {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `kind` and `len` are valid, writable, and `len` is the size of `kind`.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut kind).cast(),
            &raw mut len,
        )
    };
    check("getsockopt(SO_TYPE)", i64::from(ret)).map(|_| kind)
}

/// The size of the file behind `fd`.
///
/// # Errors
/// `fstat` failed.
pub fn file_len(fd: BorrowedFd<'_>) -> SysResult<u64> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `stat` is writable memory of the right type for the kernel to fill.
    check("fstat", i64::from(unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) }))?;
    // SAFETY: fstat succeeded, so it initialized `stat` (and it was zeroed anyway).
    let stat = unsafe { stat.assume_init() };
    Ok(u64::try_from(stat.st_size).unwrap_or(0))
}

/// Maps `len` bytes of `fd` shared, readable and writable (until [`unmap`]).
///
/// # Errors
/// `mmap` failed.
pub fn map_shared(fd: BorrowedFd<'_>, len: usize) -> SysResult<*mut u8> {
    // SAFETY: a fresh mapping chosen by the kernel (no address hint) cannot alias any
    // memory Rust knows about.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(SysError::last("mmap"));
    }
    Ok(ptr.cast())
}

/// Unmaps `len` bytes at `ptr`, a mapping [`map_shared`] made.
///
/// # Safety
/// `ptr` and `len` are those of a live [`map_shared`] mapping, and nothing refers to
/// its memory any more (no reference into it is used after this call).
pub unsafe fn unmap(ptr: *mut u8, len: usize) {
    // SAFETY: the caller's contract: a whole mapping nobody uses any more.
    unsafe { libc::munmap(ptr.cast(), len) };
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

/// Sends `words` as one message; retries on `EINTR`. With `nonblocking`, a full
/// queue is the error `EAGAIN` instead of a wait (the runner never waits for a
/// partition: one that does not read its answers must not freeze it). A closed peer
/// is `EPIPE`, never SIGPIPE.
///
/// # Errors
/// `send` failed (the peer is gone: `EPIPE`/`ECONNRESET`; its queue is full: `EAGAIN`).
pub fn send_words(fd: i32, words: &[u64], nonblocking: bool) -> SysResult<()> {
    let flags = libc::MSG_NOSIGNAL | if nonblocking { libc::MSG_DONTWAIT } else { 0 };
    loop {
        // SAFETY: the buffer is `words`, valid for its length in bytes; MSG_NOSIGNAL
        // keeps a closed peer from raising SIGPIPE.
        let ret =
            unsafe { libc::send(fd, words.as_ptr().cast(), std::mem::size_of_val(words), flags) };
        match check("send", ret as i64) {
            Err(e) if e.errno == libc::EINTR => continue,
            Err(e) => return Err(e),
            Ok(_) => return Ok(()),
        }
    }
}

/// Receives one message into `words`; returns how many whole words arrived (0 at end
/// of stream). With `nonblocking`, `EAGAIN` is an error. Retries on `EINTR`.
///
/// # Errors
/// `recv` failed.
pub fn recv_words(fd: i32, words: &mut [u64], nonblocking: bool) -> SysResult<usize> {
    let flags = if nonblocking { libc::MSG_DONTWAIT } else { 0 };
    loop {
        // SAFETY: the buffer is `words`, writable for its length in bytes.
        let ret = unsafe {
            libc::recv(fd, words.as_mut_ptr().cast(), std::mem::size_of_val(words), flags)
        };
        match check("recv", ret as i64) {
            Err(e) if e.errno == libc::EINTR => continue,
            Err(e) => return Err(e),
            Ok(n) => return Ok(n as usize / 8),
        }
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds (async-signal-safe).
#[must_use]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to fill; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
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
        Err(e) if e.errno == libc::EAGAIN || e.errno == libc::EINTR => Ok(0),
        Err(e) => Err(e),
        Ok(_) => Ok(n),
    }
}

fn sigset(signals: &[i32]) -> libc::sigset_t {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `set` is a sigset_t to initialize; sigemptyset/sigaddset only write it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &s in signals {
            libc::sigaddset(set.as_mut_ptr(), s);
        }
        set.assume_init()
    }
}

/// Blocks `signals` in the calling thread (threads it starts inherit the mask);
/// returns the previous mask.
///
/// # Errors
/// `pthread_sigmask` failed.
pub fn block_signals(signals: &[i32]) -> SysResult<libc::sigset_t> {
    let set = sigset(signals);
    let mut old = sigset(&[]);
    // SAFETY: both sets are valid sigset_t values.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, &raw mut old) };
    if ret != 0 {
        return Err(SysError::new("pthread_sigmask", ret));
    }
    Ok(old)
}

/// Restores a mask [`block_signals`] returned.
pub fn restore_signals(old: &libc::sigset_t) {
    // SAFETY: `old` is a valid sigset_t; async-signal-safe.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
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
        Err(e) if e.errno == libc::EINTR => Ok(0),
        other => other.map(|n| n as usize),
    }
}

/// Sends `signal` to process `pid` (an error for a process that is gone).
///
/// # Errors
/// `kill` failed.
pub fn kill(pid: i32, signal: i32) -> SysResult<()> {
    // SAFETY: plain system call; `pid` is a child of this process.
    check("kill", i64::from(unsafe { libc::kill(pid, signal) })).map(|_| ())
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Killed(i32),
}

/// Reaps one ended child without waiting; `None` if none has ended.
#[must_use]
pub fn reap_any() -> Option<(i32, Ended)> {
    let mut status = 0;
    // SAFETY: `status` is a valid int to fill.
    let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    Some((pid, decode_status(status)))
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
        if ret < 0 && SysError::last("waitpid").errno == libc::EINTR {
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

/// The real-time signal that carries upcalls.
#[must_use]
pub fn upcall_signal() -> i32 {
    libc::SIGRTMIN()
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
