//! Control groups: each partition's whole process tree in a group of its own, so that
//! the runner can kill all of it (a forked, `setsid`'d grandchild included), freeze it
//! outside its windows, and bound its processes and memory.
//!
//! The runner makes one directory per run, `irq-hosted-<pid>-<run>`, under its own
//! group in each hierarchy it uses, and one per partition below it (`p<N>`); a new
//! process of the partition is placed in its groups before it may exec, so all it ever
//! starts is inside. Which hierarchies:
//! * the unified (v2) hierarchy where it is mounted and the partition's group there has
//!   `cgroup.kill` and `cgroup.freeze`: killing and freezing; also `pids.max` and
//!   `memory.max` if those controllers are available to the run's group;
//! * otherwise the v1 `freezer` hierarchy for killing (freeze, kill each member, thaw);
//! * the v1 `pids` and `memory` hierarchies for the limits v2 does not give.
//!
//! Everything is removed at the end of the run ([`RunCgroups`]'s `Drop`), members
//! killed first.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::sys;

/// The limits of one partition's process tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Processes and threads at most (`pids.max`).
    pub pids: u32,
    /// Memory at most, MiB (`memory.max`, v1 `memory.limit_in_bytes`).
    pub memory_mib: u64,
}

/// Default `pids` limit.
pub const DEFAULT_PIDS: u32 = 64;
/// Default memory limit, MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 256;
/// Largest `pids` limit accepted (Linux's largest `pid_max`).
pub const MAX_PIDS: u32 = 4 * 1024 * 1024;
/// Smallest memory limit accepted, MiB (below it a program cannot even start).
pub const MIN_MEMORY_MIB: u64 = 4;
/// Largest memory limit accepted, MiB (1 TiB).
pub const MAX_MEMORY_MIB: u64 = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Self { pids: DEFAULT_PIDS, memory_mib: DEFAULT_MEMORY_MIB }
    }
}

/// What a partition's control groups give it, as the summary says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CgroupGrant {
    /// How its whole tree is killed: `"v2"` (`cgroup.kill`), `"v1"` (freezer), or
    /// `None` (no group: only its main process is killed).
    pub kill: Option<String>,
    /// Whether its group is frozen outside its windows (v2 `cgroup.freeze`).
    pub frozen_outside_windows: bool,
    /// Its `pids` limit, if set (and where: `"v2"` or `"v1"`).
    pub pids_max: Option<u32>,
    /// Its memory limit in MiB, if set.
    pub memory_max_mib: Option<u64>,
}

/// One cgroup hierarchy the runner may use.
#[derive(Clone, Debug)]
struct Hierarchy {
    /// The runner's own group there (a directory).
    own: PathBuf,
}

/// The hierarchies of this process, from `/proc/self/mountinfo` and
/// `/proc/self/cgroup`.
#[derive(Clone, Debug, Default)]
struct Mounts {
    unified: Option<Hierarchy>,
    freezer: Option<Hierarchy>,
    pids: Option<Hierarchy>,
    memory: Option<Hierarchy>,
}

fn mounts() -> Mounts {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let groups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut found = Mounts::default();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(point), Some(kind)) = (left.get(3), left.get(4), right.first())
        else {
            continue;
        };
        let options = right.get(2).copied().unwrap_or("");
        let own = |wanted: &dyn Fn(&str) -> bool| {
            let line = groups.lines().find(|l| {
                let mut parts = l.splitn(3, ':');
                let _ = parts.next();
                parts.next().is_some_and(wanted)
            })?;
            let path = line.splitn(3, ':').nth(2)?;
            let relative = path.strip_prefix(root).unwrap_or(path).trim_start_matches('/');
            Some(Hierarchy { own: Path::new(point).join(relative) })
        };
        match *kind {
            "cgroup2" if found.unified.is_none() => found.unified = own(&|c| c.is_empty()),
            "cgroup" => {
                for controller in ["freezer", "pids", "memory"] {
                    if !options.split(',').any(|o| o == controller) {
                        continue;
                    }
                    let mine = own(&|c: &str| c.split(',').any(|x| x == controller));
                    let slot = match controller {
                        "freezer" => &mut found.freezer,
                        "pids" => &mut found.pids,
                        _ => &mut found.memory,
                    };
                    if slot.is_none() {
                        *slot = mine;
                    }
                }
            }
            _ => {}
        }
    }
    found
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new().write(true).open(path)?.write_all(text.as_bytes())
}

/// The pids listed in a `cgroup.procs` (empty if it cannot be read).
fn members(procs: &Path) -> Vec<i32> {
    std::fs::read_to_string(procs)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Runs of this process so far (each run's directories are its own).
static RUNS: AtomicU64 = AtomicU64::new(0);

/// The name prefix of this runner's run directories.
fn prefix(pid: u32) -> String {
    format!("irq-hosted-{pid}-")
}

/// How a partition's tree is killed and frozen.
#[derive(Debug)]
enum Freezer {
    /// v2: `cgroup.kill`, and `cgroup.freeze` (kept open).
    V2 { kill: PathBuf, freeze: File },
    /// v1: the freezer's `freezer.state` (kept open).
    V1 { state: File },
}

/// One partition's groups.
#[derive(Debug)]
pub struct PartitionCgroup {
    /// Every directory its processes are placed in.
    dirs: Vec<PathBuf>,
    freezer: Option<Freezer>,
    /// Whether its group is frozen now (v2 only).
    frozen: bool,
    /// What it got.
    pub grant: CgroupGrant,
}

impl PartitionCgroup {
    /// Places process `pid` (and so all it will start) in every group of the partition.
    ///
    /// # Errors
    /// A `cgroup.procs` could not be written.
    pub fn place(&self, pid: i32) -> sys::SysResult<()> {
        for dir in &self.dirs {
            write_file(&dir.join("cgroup.procs"), &pid.to_string()).map_err(|e| {
                sys::SysError::new(
                    "place the partition in its cgroup",
                    e.raw_os_error().unwrap_or(0),
                )
            })?;
        }
        Ok(())
    }

    /// Whether its group can be frozen cheaply (v2).
    #[must_use]
    pub const fn can_freeze(&self) -> bool {
        matches!(self.freezer, Some(Freezer::V2 { .. }))
    }

    /// Freezes (`true`) or thaws its whole tree (v2; nothing with v1, whose freezer is
    /// too slow for a window switch). Does not wait for the tree to be frozen.
    pub fn set_frozen(&mut self, frozen: bool) {
        if self.frozen == frozen {
            return;
        }
        if let Some(Freezer::V2 { freeze, .. }) = &self.freezer {
            let _ = freeze.write_at(if frozen { b"1" } else { b"0" }, 0);
            self.frozen = frozen;
        }
    }

    /// Kills every process in its groups (SIGKILL), without waiting for them to end.
    pub fn kill_all(&mut self) {
        match &self.freezer {
            Some(Freezer::V2 { kill, .. }) => {
                let _ = write_file(kill, "1");
            }
            Some(Freezer::V1 { state }) => {
                // Frozen, nothing forks while its members are listed; the kills land
                // when it thaws.
                let _ = state.write_at(b"FROZEN", 0);
                self.kill_listed();
                let _ = state.write_at(b"THAWED", 0);
            }
            None => self.kill_listed(),
        }
    }

    fn kill_listed(&self) {
        for dir in &self.dirs {
            for pid in members(&dir.join("cgroup.procs")) {
                let _ = sys::kill(pid, libc::SIGKILL);
            }
        }
    }

    /// Whether no process is left in its groups.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.dirs.iter().all(|d| members(&d.join("cgroup.procs")).is_empty())
    }

    /// Kills everything in its groups and waits up to `limit` for them to be empty;
    /// whether they are.
    pub fn kill_and_wait(&mut self, limit: Duration) -> bool {
        self.set_frozen(false);
        let started = Instant::now();
        loop {
            self.kill_all();
            if self.is_empty() {
                return true;
            }
            if started.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The groups of one run: one per partition, removed when dropped.
#[derive(Debug)]
pub struct RunCgroups {
    /// Per partition.
    pub partitions: Vec<PartitionCgroup>,
    /// The run's directories (removed last).
    runs: Vec<PathBuf>,
    /// What could not be had, for the runner's one warning.
    pub missing: Vec<String>,
}

/// Makes `dir` (a fresh directory).
fn make(dir: &Path) -> Result<(), String> {
    std::fs::create_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

impl RunCgroups {
    /// Makes the groups of a run of partitions with these limits. Nothing is fatal:
    /// what cannot be had is left out and said in `missing`.
    #[must_use]
    pub fn create(limits: &[Limits]) -> Self {
        let mounts = mounts();
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}{run}", prefix(std::process::id()));
        let mut this = Self {
            partitions: limits
                .iter()
                .map(|_| PartitionCgroup {
                    dirs: Vec::new(),
                    freezer: None,
                    frozen: false,
                    grant: CgroupGrant::default(),
                })
                .collect(),
            runs: Vec::new(),
            missing: Vec::new(),
        };
        let mut pids_done = false;
        let mut memory_done = false;
        // The unified hierarchy: kill and freeze, and the limits if it has them.
        if let Some(h) = &mounts.unified {
            let run_dir = h.own.join(&name);
            match make(&run_dir) {
                Ok(()) => {
                    this.runs.push(run_dir.clone());
                    let available = std::fs::read_to_string(run_dir.join("cgroup.controllers"))
                        .unwrap_or_default();
                    let has = |c: &str| available.split_whitespace().any(|x| x == c);
                    let mut enable = String::new();
                    for c in ["pids", "memory"] {
                        if has(c) {
                            enable.push_str(&format!("+{c} "));
                        }
                    }
                    let enabled = !enable.is_empty()
                        && write_file(&run_dir.join("cgroup.subtree_control"), enable.trim())
                            .is_ok();
                    pids_done = enabled && has("pids");
                    memory_done = enabled && has("memory");
                    for (p, limit) in limits.iter().enumerate() {
                        let dir = run_dir.join(format!("p{p}"));
                        if let Err(e) = make(&dir) {
                            this.missing.push(e);
                            continue;
                        }
                        let part = &mut this.partitions[p];
                        let kill = dir.join("cgroup.kill");
                        let freeze =
                            std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.freeze"));
                        if let (true, Ok(freeze)) = (kill.exists(), freeze) {
                            part.freezer = Some(Freezer::V2 { kill, freeze });
                            part.grant.kill = Some("v2".to_owned());
                            part.grant.frozen_outside_windows = true;
                        }
                        if pids_done
                            && write_file(&dir.join("pids.max"), &limit.pids.to_string()).is_ok()
                        {
                            part.grant.pids_max = Some(limit.pids);
                        }
                        let bytes = limit.memory_mib.saturating_mul(1 << 20);
                        if memory_done
                            && write_file(&dir.join("memory.max"), &bytes.to_string()).is_ok()
                        {
                            // No way around the limit through swap.
                            let _ = write_file(&dir.join("memory.swap.max"), "0");
                            part.grant.memory_max_mib = Some(limit.memory_mib);
                        }
                        part.dirs.push(dir);
                    }
                }
                Err(e) => this.missing.push(format!("cgroup v2: {e}")),
            }
        }
        // v1: the freezer where v2 did not give kill and freeze; pids and memory where
        // v2 did not give them.
        let v1 = [
            ("freezer", &mounts.freezer, this.partitions.iter().any(|p| p.freezer.is_none())),
            ("pids", &mounts.pids, !pids_done),
            ("memory", &mounts.memory, !memory_done),
        ];
        for (controller, hierarchy, wanted) in v1 {
            if !wanted {
                continue;
            }
            let Some(h) = hierarchy else {
                this.missing.push(format!("no {controller} controller (cgroup v1 or v2)"));
                continue;
            };
            let run_dir = h.own.join(&name);
            if let Err(e) = make(&run_dir) {
                this.missing.push(format!("cgroup v1 {controller}: {e}"));
                continue;
            }
            this.runs.push(run_dir.clone());
            for (p, limit) in limits.iter().enumerate() {
                let part = &mut this.partitions[p];
                if controller == "freezer" && part.freezer.is_some() {
                    continue;
                }
                let dir = run_dir.join(format!("p{p}"));
                if let Err(e) = make(&dir) {
                    this.missing.push(format!("cgroup v1 {controller}: {e}"));
                    continue;
                }
                match controller {
                    "freezer" => {
                        let state = std::fs::OpenOptions::new()
                            .read(true)
                            .write(true)
                            .open(dir.join("freezer.state"));
                        if let Ok(state) = state {
                            part.freezer = Some(Freezer::V1 { state });
                            part.grant.kill = Some("v1".to_owned());
                        }
                    }
                    "pids" => {
                        if write_file(&dir.join("pids.max"), &limit.pids.to_string()).is_ok() {
                            part.grant.pids_max = Some(limit.pids);
                        }
                    }
                    _ => {
                        let bytes = limit.memory_mib.saturating_mul(1 << 20);
                        let file = dir.join("memory.limit_in_bytes");
                        if write_file(&file, &bytes.to_string()).is_ok() {
                            // Memory and swap together bounded the same (where swap
                            // accounting is on).
                            let memsw = dir.join("memory.memsw.limit_in_bytes");
                            let _ = write_file(&memsw, &bytes.to_string());
                            part.grant.memory_max_mib = Some(limit.memory_mib);
                        }
                    }
                }
                part.dirs.push(dir);
            }
        }
        if this.partitions.iter().any(|p| p.grant.kill.is_none()) && this.missing.is_empty() {
            this.missing.push("no cgroup.kill or freezer".to_owned());
        }
        this
    }

    /// Kills what is left in every group, then removes them all (partitions' first).
    /// Waits up to a second per partition for its members to end.
    pub fn remove(&mut self) {
        for part in &mut self.partitions {
            let _ = part.kill_and_wait(Duration::from_secs(1));
            for dir in part.dirs.drain(..) {
                remove_dir(&dir);
            }
            part.freezer = None;
        }
        for dir in self.runs.drain(..).rev() {
            remove_dir(&dir);
        }
    }
}

/// Removes a group's directory, retrying briefly while its last members are being
/// reaped (`EBUSY`).
fn remove_dir(dir: &Path) {
    let started = Instant::now();
    while std::fs::remove_dir(dir).is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY))
        && started.elapsed() < Duration::from_secs(1)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Drop for RunCgroups {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The run directories of runner `pid` still present (after its runs: none).
#[must_use]
pub fn leftovers(pid: u32) -> Vec<PathBuf> {
    let m = mounts();
    let mut out = Vec::new();
    for h in [m.unified, m.freezer, m.pids, m.memory].into_iter().flatten() {
        let Ok(entries) = std::fs::read_dir(&h.own) else { continue };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix(pid)) {
                out.push(entry.path());
            }
        }
    }
    out
}

/// The runner's own group in the unified (v2) hierarchy and in the v1 freezer's, where
/// they are mounted (for the freeze benchmark).
#[must_use]
pub fn own_freezer_groups() -> (Option<PathBuf>, Option<PathBuf>) {
    let m = mounts();
    (m.unified.map(|h| h.own), m.freezer.map(|h| h.own))
}
