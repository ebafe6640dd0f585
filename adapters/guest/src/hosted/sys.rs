//! The system calls a partition process makes (and the runner shares): checked
//! wrappers, each `unsafe` block one call with its own `SAFETY` line. Everything used
//! from the upcall handler is async-signal-safe.

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd};

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

/// `ret`, or the last error of `what` when it is negative.
///
/// # Errors
/// `ret < 0`: `errno` at the time of the call.
pub fn check(what: &'static str, ret: i64) -> SysResult<i64> {
    if ret < 0 { Err(SysError::last(what)) } else { Ok(ret) }
}

/// The seals a region memfd carries: its size can change no more, and no seal can be
/// added or removed. A partition holding the descriptor read-write can therefore
/// neither truncate it under the runner's mapping (which would make the runner's next
/// access raise SIGBUS) nor grow it, nor add `F_SEAL_WRITE` to freeze the runner out.
pub const REGION_SEALS: i32 = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

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

/// The set of `signals`.
#[must_use]
pub fn sigset(signals: &[i32]) -> libc::sigset_t {
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

/// Sends `signal` to process `pid` (an error for a process that is gone).
///
/// # Errors
/// `kill` failed.
pub fn kill(pid: i32, signal: i32) -> SysResult<()> {
    // SAFETY: plain system call; `pid` is a child of this process.
    check("kill", i64::from(unsafe { libc::kill(pid, signal) })).map(|_| ())
}

/// The real-time signal that carries upcalls.
#[must_use]
pub fn upcall_signal() -> i32 {
    libc::SIGRTMIN()
}

/// The real-time signal the runner sends after leaving a command for the partition's
/// main loop (the doorbell).
#[must_use]
pub fn doorbell_signal() -> i32 {
    libc::SIGRTMIN() + 1
}

/// Installs `handler` (a `extern "C" fn(c_int)`, or with `SA_SIGINFO` a three-argument
/// one, as an address) for `signal` with `flags`.
///
/// # Errors
/// `sigaction` failed.
pub fn install(signal: i32, handler: usize, flags: i32) -> SysResult<()> {
    let mut action = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: `action` is zeroed memory of a sigaction, a valid value to fill in.
    let mut action = unsafe { action.assume_init_mut().to_owned() };
    action.sa_sigaction = handler;
    action.sa_flags = flags;
    // SAFETY: `action` is a valid sigaction; the caller's handler is an `extern "C"`
    // function that only makes async-signal-safe calls.
    let ret = unsafe { libc::sigaction(signal, &raw const action, std::ptr::null_mut()) };
    check("sigaction", i64::from(ret)).map(|_| ())
}
