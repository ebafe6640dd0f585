//! The runner: owns the router, starts the partition processes, runs the cyclic
//! schedule on a timerfd clock, drives the UDP device line, serves hypercalls, and
//! reports.

pub mod adapter;
pub mod cgroup;
pub mod children;
pub mod console;
pub mod device;
pub mod isolation;
pub mod run;
pub mod sandbox;
pub mod summary;
pub mod timeline;

use std::fmt;

use crate::config::{ConfigFileError, System};
use crate::sys::SysError;

pub use run::Outcome;

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Major frames to run.
    pub frames: u64,
    /// Crash partition `.0` at the start of its window in frame `.1` (from 0).
    pub crash: Option<(usize, u64)>,
    /// Frames the timeline records for the picture (0: none; at most
    /// [`timeline::MAX_FRAMES`]).
    pub svg_frames: u64,
    /// The first frame the picture shows (`None`: around the first health-monitor
    /// record, see [`timeline`]).
    pub svg_from: Option<u64>,
    /// Print the progress line.
    pub progress: bool,
    /// Print what partitions write to their console.
    pub echo_console: bool,
    /// The partition program.
    pub program: children::Program,
    /// The isolation asked for (default: everything the machine gives).
    pub isolation: isolation::Isolation,
}

/// Why a run failed.
#[derive(Debug)]
pub enum RunError {
    /// The configuration.
    Config(ConfigFileError),
    /// A system call.
    Sys(SysError),
    /// Anything else.
    Other(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::Sys(e) => write!(f, "{e}"),
            Self::Other(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for RunError {}

impl From<ConfigFileError> for RunError {
    fn from(e: ConfigFileError) -> Self {
        Self::Config(e)
    }
}

impl From<SysError> for RunError {
    fn from(e: SysError) -> Self {
        Self::Sys(e)
    }
}

/// Runs `system` (1 to 8 partitions: the router's partition count is a const generic,
/// chosen here).
///
/// # Errors
/// As [`run::run`].
pub fn run(system: &System, options: &Options) -> Result<Outcome, RunError> {
    match system.len() {
        1 => run::run::<1>(system, options),
        2 => run::run::<2>(system, options),
        3 => run::run::<3>(system, options),
        4 => run::run::<4>(system, options),
        5 => run::run::<5>(system, options),
        6 => run::run::<6>(system, options),
        7 => run::run::<7>(system, options),
        8 => run::run::<8>(system, options),
        n => Err(RunError::Other(format!("{n} partitions: the hosted runner runs 1 to 8"))),
    }
}

/// Validates `system` for its partition count without running it.
///
/// # Errors
/// The validation error at its entry.
pub fn check(system: &System) -> Result<(), ConfigFileError> {
    macro_rules! check_p {
        ($($n:literal),*) => {
            match system.len() {
                $($n => system.config::<$n>().map(|_| ()),)*
                _ => Ok(()),
            }
        };
    }
    check_p!(1, 2, 3, 4, 5, 6, 7, 8)
}
