//! Starting a partition process inside its own namespaces, with `clone(2)`.
//!
//! The standard library's `Command` cannot put the child itself in a new PID namespace
//! (`unshare(CLONE_NEWPID)` only affects the caller's later children), so the runner
//! clones the child with the namespace flags itself. Everything the child needs is
//! prepared before the clone (its plan: C strings, descriptors, ids); between the clone
//! and the exec the child makes only async-signal-safe system calls and allocates
//! nothing.
//!
//! The handshake, in order:
//! 1. the runner clones the child with every signal blocked; the child closes the
//!    runner's ends of the two pipes and waits on the `go` pipe;
//! 2. the runner writes the child's `uid_map` and `gid_map` (user namespace), places it
//!    in its control groups, then writes one byte on `go`;
//! 3. the child makes `/` private and mounts a fresh `/proc` (mount and PID
//!    namespaces), enters the configured working directory, drops its supplementary
//!    groups and takes the partition's uid and gid, starts a session, asks for SIGKILL
//!    when the runner dies (then checks the `go` pipe is still open: a runner that died
//!    before that would never send it), puts its region and socket at descriptors 3
//!    and 4, marks every other descriptor close-on-exec, unblocks every signal and
//!    execs the program through the descriptor the runner opened;
//! 4. any step that fails writes `[step, errno]` on the `report` pipe and exits 127;
//!    the runner reads `report` until its end (closed by the exec) to know which.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

use crate::guest::{CALL_FD, REGION_FD};
use crate::sys::{SysError, SysResult};

/// The namespaces a partition process is started in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespaces {
    /// User, PID, mount, IPC and network namespaces of its own.
    All,
    /// PID, mount, IPC and network namespaces, no user namespace (a root runner where
    /// user namespaces are refused).
    WithoutUser,
    /// None: it shares the runner's.
    None,
}

impl Namespaces {
    /// The `clone` flags.
    #[must_use]
    pub const fn flags(self) -> i32 {
        let rest = libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWNET;
        match self {
            Self::All => libc::CLONE_NEWUSER | rest,
            Self::WithoutUser => rest,
            Self::None => 0,
        }
    }

    /// Their names, as the summary gives them.
    #[must_use]
    pub const fn names(self) -> &'static [&'static str] {
        match self {
            Self::All => &["user", "pid", "mount", "ipc", "net"],
            Self::WithoutUser => &["pid", "mount", "ipc", "net"],
            Self::None => &[],
        }
    }
}

/// Who the partition runs as, and in which namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Confinement {
    /// Its namespaces.
    pub namespaces: Namespaces,
    /// The uid and gid it takes (the same numbers inside its user namespace and
    /// outside); `None`: the runner's.
    pub ids: Option<(u32, u32)>,
    /// Whether the runner is root (then the child drops its supplementary groups, and
    /// `setgroups` stays allowed in its user namespace so that it can).
    pub root: bool,
}

impl Confinement {
    /// No namespace, the runner's own ids: a plain child process.
    pub const NONE: Self = Self { namespaces: Namespaces::None, ids: None, root: false };
}

/// The steps of the child that can fail, as it reports them.
const STEPS: [&str; 11] = [
    "partition start: read the go-ahead",
    "partition start: make the mounts private",
    "partition start: mount /proc",
    "partition start: enter the working directory",
    "partition start: drop the supplementary groups",
    "partition start: take the partition's gid",
    "partition start: take the partition's uid",
    "partition start: start a session",
    "partition start: move the descriptors",
    "start the partition program",
    "partition start: check the runner",
];

const STEP_GO: u32 = 0;
const STEP_PRIVATE: u32 = 1;
const STEP_PROC: u32 = 2;
const STEP_CWD: u32 = 3;
const STEP_GROUPS: u32 = 4;
const STEP_GID: u32 = 5;
const STEP_UID: u32 = 6;
const STEP_SESSION: u32 = 7;
const STEP_FDS: u32 = 8;
const STEP_EXEC: u32 = 9;
const STEP_RUNNER: u32 = 10;

/// The first descriptor a partition does not need (0 to 2 are stdio, then the region
/// and the socket).
const FIRST_UNNEEDED_FD: u32 = 5;

/// Descriptors the child moves its own to before putting the region and the socket at
/// 3 and 4 (so neither clobbers the other, nor a pipe).
const HIGH_FD: i32 = 200;

/// Everything the child needs, prepared by the runner before the clone.
struct Plan {
    path: CString,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    cwd: Option<CString>,
    /// The executable, opened by the runner (`O_PATH`): the child execs it through this
    /// descriptor, so the partition's uid needs no access to the directories above it.
    exe: i32,
    /// `None`: a probe (every step but the exec, then exit 0).
    fds: Option<(i32, i32)>,
    go: i32,
    go_runner_end: i32,
    report: i32,
    report_runner_end: i32,
    namespaces: Namespaces,
    ids: Option<(u32, u32)>,
    drop_groups: bool,
}

/// The strings the [`Plan`]'s pointers point into (kept alive until the child has
/// exec'd or failed).
struct Strings {
    _argv: Vec<CString>,
    _envp: Vec<CString>,
}

fn cstring(what: &'static str, bytes: Vec<u8>) -> SysResult<CString> {
    CString::new(bytes).map_err(|_| SysError::new(what, libc::EINVAL))
}

fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
}

/// A child to start: the program, its arguments and environment, and where it runs.
#[derive(Debug)]
pub struct Launch<'a> {
    /// The executable.
    pub path: &'a std::path::Path,
    /// `argv`, the program name first.
    pub argv: Vec<OsString>,
    /// Variables set on top of the runner's environment.
    pub env: Vec<(OsString, OsString)>,
    /// The working directory (default: the runner's).
    pub cwd: Option<&'a std::path::Path>,
}

/// A started child: its pid (in the runner's PID namespace).
#[derive(Debug)]
pub struct Child {
    /// Its pid.
    pub pid: i32,
}

/// Starts `launch` in `confinement` with `region` and `socket` as its descriptors 3 and
/// 4; `place(pid)` runs before the child may go on (its control groups). The child has
/// exec'd when this returns.
///
/// # Errors
/// A pipe, the clone, the id maps or `place` failed (the child is then killed and
/// reaped), or a step of the child did (the step's name and its `errno`).
pub fn start(
    launch: &Launch<'_>,
    confinement: Confinement,
    region: i32,
    socket: i32,
    place: &mut dyn FnMut(i32) -> SysResult<()>,
) -> SysResult<Child> {
    run_child(Some(launch), confinement, Some((region, socket)), place)
}

/// Runs every step of a partition's start in `confinement` but the exec, in a child
/// that then exits: whether the machine gives these namespaces and ids.
///
/// # Errors
/// As [`start`].
pub fn probe(confinement: Confinement) -> SysResult<()> {
    let child = run_child(None, confinement, None, &mut |_| Ok(()))?;
    match crate::sys::reap(child.pid) {
        Some(crate::sys::Ended::Exited(0)) => Ok(()),
        _ => Err(SysError::new("partition start probe", libc::ECHILD)),
    }
}

fn environment(launch: &Launch<'_>) -> SysResult<Vec<CString>> {
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for (key, value) in &launch.env {
        vars.retain(|(k, _)| k != key);
        vars.push((key.clone(), value.clone()));
    }
    vars.into_iter()
        .map(|(k, v)| {
            let mut bytes = k.into_vec();
            bytes.push(b'=');
            bytes.extend(v.into_vec());
            cstring("partition environment", bytes)
        })
        .collect()
}

fn pipe() -> SysResult<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SysError::last("pipe2"));
    }
    // SAFETY: both were just returned by the kernel and are owned by no one else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Stack of the cloned child until its exec (it runs [`child`] only).
const STACK_LEN: usize = 256 * 1024;

#[allow(clippy::too_many_lines, reason = "the runner's side of the handshake, in order")]
fn run_child(
    launch: Option<&Launch<'_>>,
    confinement: Confinement,
    fds: Option<(i32, i32)>,
    place: &mut dyn FnMut(i32) -> SysResult<()>,
) -> SysResult<Child> {
    let (path, argv, envp, cwd) = match launch {
        Some(l) => (
            cstring("partition program path", l.path.as_os_str().to_owned().into_vec())?,
            l.argv
                .iter()
                .map(|a| cstring("partition argument", a.clone().into_vec()))
                .collect::<SysResult<Vec<_>>>()?,
            environment(l)?,
            l.cwd
                .map(|c| {
                    cstring("partition working directory", c.as_os_str().to_owned().into_vec())
                })
                .transpose()?,
        ),
        None => (cstring("probe", b"/".to_vec())?, Vec::new(), Vec::new(), None),
    };
    // The executable, opened by the runner (O_PATH: no read access needed).
    let exe = if launch.is_some() {
        // SAFETY: `path` is a valid NUL-terminated string.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(SysError::last("start the partition program"));
        }
        // SAFETY: just returned by the kernel, owned by no one else.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    } else {
        None
    };
    let (go_child, go_runner) = pipe()?;
    let (report_runner, report_child) = pipe()?;
    let plan = Plan {
        argv: pointers(&argv),
        envp: pointers(&envp),
        path,
        cwd,
        exe: exe.as_ref().map_or(-1, AsRawFd::as_raw_fd),
        fds,
        go: go_child.as_raw_fd(),
        go_runner_end: go_runner.as_raw_fd(),
        report: report_child.as_raw_fd(),
        report_runner_end: report_runner.as_raw_fd(),
        namespaces: confinement.namespaces,
        ids: confinement.ids,
        drop_groups: confinement.root && confinement.ids.is_some(),
    };
    let _strings = Strings { _argv: argv, _envp: envp };
    // SAFETY: a fresh anonymous mapping chosen by the kernel aliases nothing.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(SysError::last("mmap (partition start stack)"));
    }
    // Every signal blocked across the clone: the child must not run a handler of the
    // runner's (it unblocks them all just before its exec).
    let all = {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
        // SAFETY: `set` is a sigset_t being initialized; sigfillset only writes it.
        unsafe {
            libc::sigfillset(set.as_mut_ptr());
            set.assume_init()
        }
    };
    let mut old = all;
    // SAFETY: both are valid sigset_t values.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const all, &raw mut old) };
    let flags = confinement.namespaces.flags() | libc::SIGCHLD;
    // SAFETY: `child` only makes async-signal-safe calls on the plan, which outlives
    // the call (the child has its own copy of this address space: no CLONE_VM); the
    // stack is STACK_LEN writable bytes, and the top of it is passed (stacks grow down
    // on Linux x86_64 and aarch64), 16-byte aligned as mmap returns it page-aligned.
    let pid = unsafe {
        libc::clone(
            child,
            stack.cast::<u8>().add(STACK_LEN).cast(),
            flags,
            std::ptr::from_ref(&plan).cast_mut().cast(),
        )
    };
    let clone_error = SysError::last("clone");
    // SAFETY: `old` is the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old, std::ptr::null_mut()) };
    // SAFETY: the mapping made above; the child has its own copy (or does not exist).
    unsafe { libc::munmap(stack, STACK_LEN) };
    if pid < 0 {
        return Err(clone_error);
    }
    drop(go_child);
    drop(report_child);
    let abandon = |e: SysError| {
        let _ = crate::sys::kill(pid, libc::SIGKILL);
        let _ = crate::sys::reap(pid);
        e
    };
    if confinement.namespaces == Namespaces::All {
        write_id_maps(pid, confinement).map_err(abandon)?;
    }
    place(pid).map_err(abandon)?;
    let go = [1u8];
    // SAFETY: `go` is one readable byte.
    if unsafe { libc::write(go_runner.as_raw_fd(), go.as_ptr().cast(), 1) } != 1 {
        return Err(abandon(SysError::last("partition start: send the go-ahead")));
    }
    // The report: nothing before its end (the exec closed it), or [step, errno].
    let mut report = [0u8; 8];
    let mut got = 0;
    while got < report.len() {
        // SAFETY: the rest of `report` is writable.
        let n = unsafe {
            libc::read(report_runner.as_raw_fd(), report[got..].as_mut_ptr().cast(), 8 - got)
        };
        if n < 0 && SysError::last("read").errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    drop(go_runner);
    if got == 8 {
        let step = u32::from_ne_bytes([report[0], report[1], report[2], report[3]]);
        let errno = i32::from_ne_bytes([report[4], report[5], report[6], report[7]]);
        let _ = crate::sys::reap(pid);
        let what = STEPS.get(step as usize).copied().unwrap_or("partition start");
        return Err(SysError::new(what, errno));
    }
    Ok(Child { pid })
}

/// Maps the partition's uid and gid (the same numbers inside and outside) in the user
/// namespace of `pid`. An unprivileged runner may map only its own ids, and the gid
/// only once `setgroups` is denied; a root runner leaves `setgroups` allowed so that
/// the child can drop the supplementary groups it inherited (root's).
fn write_id_maps(pid: i32, confinement: Confinement) -> SysResult<()> {
    let (uid, gid) = match confinement.ids {
        Some(ids) => ids,
        // SAFETY: getuid and getgid cannot fail.
        None => unsafe { (libc::getuid(), libc::getgid()) },
    };
    let write = |file: &str, text: String, what: &'static str| {
        std::fs::write(format!("/proc/{pid}/{file}"), text)
            .map_err(|e| SysError::new(what, e.raw_os_error().unwrap_or(libc::EPERM)))
    };
    if !confinement.root {
        write("setgroups", "deny".to_owned(), "write setgroups")?;
    }
    write("uid_map", format!("{uid} {uid} 1\n"), "write uid_map")?;
    write("gid_map", format!("{gid} {gid} 1\n"), "write gid_map")?;
    Ok(())
}

/// Reports `step` with the current `errno` to the runner and exits. Async-signal-safe.
fn fail(report: i32, step: u32) -> ! {
    // SAFETY: __errno_location is the calling thread's errno; write and _exit are
    // async-signal-safe; the buffer is 8 readable bytes.
    unsafe {
        let errno = *libc::__errno_location();
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&step.to_ne_bytes());
        buf[4..].copy_from_slice(&errno.to_ne_bytes());
        libc::write(report, buf.as_ptr().cast(), 8);
        libc::_exit(127)
    }
}

/// Moves `fd` to a descriptor at or above [`HIGH_FD`] (close-on-exec if asked).
fn high(fd: i32, cloexec: bool, report: i32) -> i32 {
    let cmd = if cloexec { libc::F_DUPFD_CLOEXEC } else { libc::F_DUPFD };
    // SAFETY: fcntl on a descriptor this child inherited.
    let new = unsafe { libc::fcntl(fd, cmd, HIGH_FD) };
    if new < 0 {
        fail(report, STEP_FDS);
    }
    new
}

/// The cloned child, until its exec. Only async-signal-safe calls, no allocation.
extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the runner's `&Plan`, valid in this copy of its address space.
    let plan = unsafe { &*arg.cast::<Plan>() };
    // SAFETY: closes this child's copies of the runner's ends of the pipes.
    unsafe {
        libc::close(plan.go_runner_end);
        libc::close(plan.report_runner_end);
    }
    // The report pipe first: every later failure is told through it.
    let report = high(plan.report, true, plan.report);
    let go = high(plan.go, true, report);
    let mut byte = 0u8;
    loop {
        // SAFETY: one writable byte.
        let n = unsafe { libc::read(go, (&raw mut byte).cast(), 1) };
        if n == 1 {
            break;
        }
        // SAFETY: __errno_location is this thread's errno.
        if n < 0 && unsafe { *libc::__errno_location() } == libc::EINTR {
            continue;
        }
        // The runner is gone, or gave up on this child.
        fail(report, STEP_GO);
    }
    if plan.namespaces != Namespaces::None {
        // SAFETY: mount(2) with valid NUL-terminated strings or null pointers.
        unsafe {
            let none = std::ptr::null();
            let root = c"/".as_ptr();
            if libc::mount(none, root, none, libc::MS_REC | libc::MS_PRIVATE, none.cast()) != 0 {
                fail(report, STEP_PRIVATE);
            }
            let proc_ = c"proc".as_ptr();
            let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            if libc::mount(proc_, c"/proc".as_ptr(), proc_, flags, none.cast()) != 0 {
                fail(report, STEP_PROC);
            }
        }
    }
    if let Some(cwd) = &plan.cwd {
        // SAFETY: `cwd` is a valid NUL-terminated string.
        if unsafe { libc::chdir(cwd.as_ptr()) } != 0 {
            fail(report, STEP_CWD);
        }
    }
    if let Some((uid, gid)) = plan.ids {
        // The system calls themselves, not glibc's wrappers: those apply the change to
        // every thread of the process (POSIX), by signalling each thread in glibc's
        // list and waiting for it. This child has one thread but a copy of the runner's
        // list (its device thread included), so the wrapper could wait for ever on a
        // thread that is not there (seen: a runner blocked on a child stuck in
        // `setgroups`, in `__nptl_setxid`).
        // SAFETY: plain system calls on integers and a null list of length 0.
        unsafe {
            let no_groups = std::ptr::null::<libc::gid_t>();
            if plan.drop_groups && libc::syscall(libc::SYS_setgroups, 0, no_groups) != 0 {
                fail(report, STEP_GROUPS);
            }
            if libc::syscall(libc::SYS_setresgid, gid, gid, gid) != 0 {
                fail(report, STEP_GID);
            }
            if libc::syscall(libc::SYS_setresuid, uid, uid, uid) != 0 {
                fail(report, STEP_UID);
            }
        }
    }
    // SAFETY: plain system calls; the rlimit is a valid value.
    unsafe {
        // A session and process group of its own: a terminal's Ctrl-C (sent to the
        // runner's foreground group) is the runner's business, never the partitions'.
        if libc::setsid() < 0 {
            fail(report, STEP_SESSION);
        }
        // Set after the uid change, which clears it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::setrlimit(libc::RLIMIT_CORE, &raw const none);
    }
    // The runner may have died before the death signal was asked for: then it never
    // comes, so the child must not run at all. The runner holds its end of `go` open
    // until this child has exec'd.
    let mut pfd = libc::pollfd { fd: go, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; no wait (timeout 0).
    let polled = unsafe { libc::poll(&raw mut pfd, 1, 0) };
    if polled < 0 || pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
        fail(report, STEP_RUNNER);
    }
    let Some((region, socket)) = plan.fds else {
        // A probe: everything worked.
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(0) }
    };
    let region = high(region, false, report);
    let socket = high(socket, false, report);
    let exe = high(plan.exe, true, report);
    // SAFETY: dup2 and close on descriptors of this child.
    unsafe {
        if libc::dup2(region, REGION_FD) < 0 || libc::dup2(socket, CALL_FD) < 0 {
            fail(report, STEP_FDS);
        }
        libc::close(region);
        libc::close(socket);
    }
    close_unneeded_at_exec();
    // SAFETY: sigaction with a zeroed action (SIG_DFL) and sigprocmask with a valid
    // set: async-signal-safe. SIGPIPE back to its default (the runner ignores it, as
    // every Rust program does, and an ignored disposition survives exec).
    unsafe {
        let mut action = std::mem::zeroed::<libc::sigaction>();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGPIPE, &raw const action, std::ptr::null_mut());
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&raw mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &raw const set, std::ptr::null_mut());
    }
    // SAFETY: `argv` and `envp` are null-terminated arrays of pointers to NUL-terminated
    // strings the runner keeps alive; on success this never returns.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            exe,
            c"".as_ptr(),
            plan.argv.as_ptr(),
            plan.envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        // A script through a close-on-exec descriptor is ENOENT (its interpreter could
        // not open it): by its path, which the partition's uid must then reach.
        if *libc::__errno_location() == libc::ENOENT {
            libc::execve(plan.path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
        }
    }
    fail(report, STEP_EXEC)
}

/// Marks every descriptor from [`FIRST_UNNEEDED_FD`] up close-on-exec, so a partition
/// inherits nothing but stdio, its region and its socket (whatever the runner itself
/// inherited without close-on-exec included). Async-signal-safe.
fn close_unneeded_at_exec() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags (Linux 5.11+).
    let ret = unsafe {
        libc::syscall(libc::SYS_close_range, FIRST_UNNEEDED_FD, u32::MAX, libc::CLOSE_RANGE_CLOEXEC)
    };
    if ret == 0 {
        return;
    }
    // An older kernel: one descriptor at a time, up to the descriptor limit.
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid rlimit to fill.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } == 0 {
        // No descriptor is above the kernel's default `nr_open` (2^20) in practice.
        i32::try_from(limit.rlim_cur.min(1 << 20)).unwrap_or(1 << 20)
    } else {
        1 << 16
    };
    for fd in FIRST_UNNEEDED_FD as i32..max {
        // SAFETY: F_SETFD on a descriptor number: sets its flag, or fails (EBADF).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}
