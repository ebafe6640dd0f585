//! Partition processes: started with their region and hypercall socket at fixed
//! descriptor numbers, in their namespaces and control groups ([`super::sandbox`]),
//! stopped at once (they run only inside their windows), killed and reaped by pid.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use super::cgroup::PartitionCgroup;
use super::sandbox::{self, Confinement, Launch};
use crate::sys::{self, SysError, SysResult};

/// A started partition process.
#[derive(Debug)]
pub struct Started {
    /// Its pid.
    pub pid: i32,
    /// The runner's end of its hypercall socket.
    pub socket: OwnedFd,
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

/// Starts `program` as partition `p` (named `name`) on region memfd `region_fd`, in
/// `confinement` and, if given, in the control groups `cgroup` (placed there before it
/// may exec), and stops it (SIGSTOP) before it gets far. If the calling thread runs
/// under `SCHED_FIFO` at priority P, the partition runs under it at P - 1 (under
/// `SCHED_OTHER` for P = 1), set before it may exec.
///
/// # Errors
/// The socket pair or the process could not be made.
pub fn spawn(
    program: &Program,
    p: usize,
    name: &str,
    region_fd: i32,
    confinement: Confinement,
    cgroup: Option<&PartitionCgroup>,
) -> SysResult<Started> {
    let (mine, theirs) = sys::seqpacket_pair()?;
    let mut argv: Vec<OsString> = vec![program.path.as_os_str().to_owned()];
    argv.extend(program.args.iter().map(OsString::from));
    if program.number_arg {
        argv.push(p.to_string().into());
    }
    let mut env: Vec<(OsString, OsString)> =
        program.env.iter().map(|(k, v)| (k.into(), v.into())).collect();
    env.push((PARTITION_VAR.into(), p.to_string().into()));
    env.push((PARTITION_NAME_VAR.into(), name.into()));
    let launch = Launch { path: &program.path, argv, env, cwd: program.cwd.as_deref() };
    // Under SCHED_FIFO (`--realtime`), the partition runs one priority below the runner:
    // the runner's clock preempts it, never the other way round.
    let priority = sys::fifo_priority();
    let mut place = |pid: i32| {
        if let Some(runner) = priority {
            sys::set_fifo(pid, (runner > 1).then(|| runner - 1))?;
        }
        cgroup.map_or(Ok(()), |c| c.place(pid))
    };
    let child = sandbox::start(&launch, confinement, region_fd, theirs.as_raw_fd(), &mut place)?;
    drop(theirs);
    let _ = sys::kill(child.pid, libc::SIGSTOP);
    Ok(Started { pid: child.pid, socket: mine })
}

/// Kills `pid` and reaps it.
pub fn kill_and_reap(pid: i32) {
    let _ = sys::kill(pid, libc::SIGKILL);
    let _ = sys::reap(pid);
}
