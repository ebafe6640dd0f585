//! Partition processes: started with their region and hypercall socket at fixed
//! descriptor numbers, stopped at once (they run only inside their windows), killed
//! and reaped by pid.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use crate::guest::{CALL_FD, REGION_FD};
use crate::sys::{self, SysError, SysResult};

/// A started partition process.
#[derive(Debug)]
pub struct Started {
    /// Its pid.
    pub pid: i32,
    /// The runner's end of its hypercall socket.
    pub socket: OwnedFd,
}

/// The first descriptor a partition does not need (0 to 2 are stdio, then the region
/// and the socket).
const FIRST_UNNEEDED_FD: u32 = 5;

/// In the child between fork and exec: the region and the socket at their fixed
/// numbers (through high numbers first, so neither clobbers the other), every other
/// inherited descriptor closed at exec, every signal unblocked, killed if the runner
/// dies (and gone at once if it already has), no core file.
fn child_setup(region: i32, socket: i32, runner: i32) -> std::io::Result<()> {
    let last = || std::io::Error::last_os_error();
    // SAFETY: only async-signal-safe calls on descriptors this child inherited.
    unsafe {
        let high_region = libc::fcntl(region, libc::F_DUPFD, 200);
        let high_socket = libc::fcntl(socket, libc::F_DUPFD, 200);
        if high_region < 0 || high_socket < 0 {
            return Err(last());
        }
        if libc::dup2(high_region, REGION_FD) < 0 || libc::dup2(high_socket, CALL_FD) < 0 {
            return Err(last());
        }
        libc::close(high_region);
        libc::close(high_socket);
        close_unneeded_at_exec();
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&raw mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &raw const set, std::ptr::null_mut());
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // The runner may have died before the line above: then no death signal will
        // ever come (the child was re-parented), so the child must not run at all.
        if libc::getppid() != runner {
            libc::_exit(127);
        }
        let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        libc::setrlimit(libc::RLIMIT_CORE, &raw const none);
    }
    Ok(())
}

/// Marks every descriptor from [`FIRST_UNNEEDED_FD`] up close-on-exec, so a partition
/// inherits nothing but stdio, its region and its socket (whatever the runner itself
/// inherited without close-on-exec included). Marked rather than closed: the standard
/// library's own exec-error pipe must stay open until the exec. Async-signal-safe.
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

/// The argument that turns `irq-hosted` into the partition program: the runner starts
/// its own executable with it, so the one binary `cargo run -p irq-hosted` builds is all
/// a run needs.
pub const PARTITION_MODE: &str = "partition";

/// A program the runner starts as a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The executable.
    pub path: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Whether the partition's number is given after `args` (the built-in demo and the
    /// tests' own binaries take it there; a configured `program` gets it only in the
    /// environment, [`PARTITION_VAR`]).
    pub number_arg: bool,
    /// Environment variables set on top of the runner's.
    pub env: Vec<(String, String)>,
    /// The working directory (default: the runner's).
    pub cwd: Option<PathBuf>,
}

/// The environment variable that holds the partition's number in its program.
pub const PARTITION_VAR: &str = "IRQ_PARTITION";
/// The environment variable that holds the partition's name in its program.
pub const PARTITION_NAME_VAR: &str = "IRQ_PARTITION_NAME";

impl Program {
    /// The built-in demo partition: this executable in [`PARTITION_MODE`].
    ///
    /// # Errors
    /// The running executable cannot be found (`/proc/self/exe`).
    pub fn builtin() -> SysResult<Self> {
        let path = std::env::current_exe().map_err(|e| {
            SysError::new("find the running executable", e.raw_os_error().unwrap_or(libc::ENOENT))
        })?;
        Ok(Self { args: vec![PARTITION_MODE.to_owned()], ..Self::new(path) })
    }

    /// `path`, given the partition's number as its first argument.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), args: Vec::new(), number_arg: true, env: Vec::new(), cwd: None }
    }
}

/// Starts `program` as partition `p` (named `name`) on region memfd `region_fd`, and
/// stops it (SIGSTOP) before it gets far.
///
/// # Errors
/// The socket pair or the process could not be made.
pub fn spawn(program: &Program, p: usize, name: &str, region_fd: i32) -> SysResult<Started> {
    let (mine, theirs) = sys::seqpacket_pair()?;
    let theirs_raw = theirs.as_raw_fd();
    let runner = std::process::id() as i32;
    let mut command = Command::new(&program.path);
    command.args(&program.args);
    if program.number_arg {
        command.arg(p.to_string());
    }
    command.envs(program.env.iter().map(|(k, v)| (k, v)));
    command.env(PARTITION_VAR, p.to_string()).env(PARTITION_NAME_VAR, name);
    if let Some(cwd) = &program.cwd {
        command.current_dir(cwd);
    }
    // A process group of its own: a terminal's Ctrl-C (sent to the runner's foreground
    // group) is the runner's business, never the partitions'.
    command.process_group(0);
    // SAFETY: the closure only makes async-signal-safe calls (see child_setup).
    unsafe {
        command.pre_exec(move || child_setup(region_fd, theirs_raw, runner));
    }
    let child = command.spawn().map_err(|e| {
        SysError::new("start the partition program", e.raw_os_error().unwrap_or(libc::ENOENT))
    })?;
    let pid = child.id() as i32;
    drop(theirs);
    let _ = sys::kill(pid, libc::SIGSTOP);
    Ok(Started { pid, socket: mine })
}

/// Kills `pid` and reaps it.
pub fn kill_and_reap(pid: i32) {
    let _ = sys::kill(pid, libc::SIGKILL);
    let _ = sys::reap(pid);
}
