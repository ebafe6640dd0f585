//! What isolation the runner asks for ([`Isolation`]), what this machine gives
//! ([`probe`], tried once per process), and what each partition got ([`Granted`], in
//! the summary).
//!
//! A root runner puts each partition in user, PID, mount, IPC and network namespaces
//! of its own, as uid and gid [`PARTITION_ID_BASE`]` + p` (the same numbers inside its
//! user namespace and outside, no capability left after its exec), in control groups of
//! its own ([`super::cgroup`]). An unprivileged runner maps its own uid and gid instead.
//! Where the machine refuses a part, the runner says so once on stderr and runs with
//! what it has: a root runner without user namespaces still gives the other four and
//! the uid; without any namespace, the uid alone (so a partition still cannot signal
//! the runner or another partition).

use std::sync::{Once, OnceLock};

use serde::Serialize;

use super::cgroup::CgroupGrant;
use super::sandbox::{self, Confinement, Namespaces};
use crate::sys::SysError;

/// The uid and gid of partition 0 under a root runner (partition `p` gets this plus
/// `p`): far above the ranges distributions give to users and to containers' subordinate
/// ids.
pub const PARTITION_ID_BASE: u32 = 0x4000_0000;

/// What the runner asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Isolation {
    /// Namespaces (and a uid of its own under a root runner) for each partition.
    pub namespaces: bool,
    /// A control group for each partition's tree (kill, limits).
    pub cgroups: bool,
    /// Freeze a partition's group outside its windows (cgroup v2 only), on top of
    /// stopping its main process.
    pub freeze_windows: bool,
}

impl Isolation {
    /// Everything the machine gives.
    pub const FULL: Self = Self { namespaces: true, cgroups: true, freeze_windows: true };
    /// Nothing: partitions as plain child processes of the runner's user.
    pub const NONE: Self = Self { namespaces: false, cgroups: false, freeze_windows: false };
}

impl Default for Isolation {
    fn default() -> Self {
        Self::FULL
    }
}

/// What this machine gives (tried once per process).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// The confinement partitions can get (the best one that worked).
    pub confinement: Confinement,
    /// Why the best one failed, if it did.
    pub refused: Option<SysError>,
}

/// Whether the runner is root.
#[must_use]
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The confinements to try, best first.
fn candidates(root: bool) -> Vec<Confinement> {
    let ids = root.then_some((PARTITION_ID_BASE, PARTITION_ID_BASE));
    let mut list = vec![Confinement { namespaces: Namespaces::All, ids, root }];
    if root {
        list.push(Confinement { namespaces: Namespaces::WithoutUser, ids, root });
    }
    list.push(Confinement { namespaces: Namespaces::None, ids, root });
    list
}

/// What the machine gives: the first confinement whose probe child went through
/// every step of a partition's start (tried once per process).
pub fn probe() -> Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    *PROBE.get_or_init(|| {
        let mut refused = None;
        for confinement in candidates(is_root()) {
            match sandbox::probe(confinement) {
                Ok(()) => return Probe { confinement, refused },
                Err(e) => {
                    refused.get_or_insert(e);
                }
            }
        }
        Probe { confinement: Confinement::NONE, refused }
    })
}

/// The confinement of partition `p` for what the runner asks (its own uid under a root
/// runner).
#[must_use]
pub fn confinement(isolation: Isolation, p: usize) -> Confinement {
    if !isolation.namespaces {
        return Confinement::NONE;
    }
    let mut c = probe().confinement;
    if let Some((uid, gid)) = c.ids {
        let p = u32::try_from(p).unwrap_or(0);
        c.ids = Some((uid.saturating_add(p), gid.saturating_add(p)));
    }
    c
}

/// Says once per process, on stderr, what isolation the machine refused.
pub fn warn_once(missing: &[String]) {
    static WARNED: Once = Once::new();
    if missing.is_empty() {
        return;
    }
    WARNED.call_once(|| {
        eprintln!(
            "irq-hosted: partitions run with less isolation than asked: {} (see the summary's `isolation`)",
            missing.join("; ")
        );
    });
}

/// What the machine refuses of the namespaces, for [`warn_once`].
#[must_use]
pub fn namespaces_missing(isolation: Isolation) -> Option<String> {
    if !isolation.namespaces {
        return None;
    }
    let probe = probe();
    let got = probe.confinement.namespaces;
    (got != Namespaces::All).then(|| {
        let why = probe.refused.map_or_else(String::new, |e| format!(" ({e})"));
        match got {
            Namespaces::WithoutUser => format!("no user namespace{why}"),
            _ => format!("no namespaces{why}"),
        }
    })
}

/// What one partition got, as the summary says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Granted {
    /// Its namespaces (`user`, `pid`, `mount`, `ipc`, `net`).
    pub namespaces: Vec<String>,
    /// The uid it runs as (`None`: the runner's).
    pub uid: Option<u32>,
    /// Its control groups.
    pub cgroup: CgroupGrant,
}

impl Granted {
    /// The namespaces and uid of `confinement`, with `cgroup`.
    #[must_use]
    pub fn new(confinement: Confinement, cgroup: CgroupGrant) -> Self {
        Self {
            namespaces: confinement.namespaces.names().iter().map(|&n| n.to_owned()).collect(),
            uid: confinement.ids.map(|(uid, _)| uid),
            cgroup,
        }
    }

    /// One line: `namespaces user,pid,mount,ipc,net; uid 1073741824; cgroup kill v2,
    /// frozen outside windows, pids 64, memory 256 MiB`.
    #[must_use]
    pub fn line(&self) -> String {
        let ns = if self.namespaces.is_empty() {
            "no namespaces".to_owned()
        } else {
            format!("namespaces {}", self.namespaces.join(","))
        };
        let uid = self.uid.map_or_else(|| "the runner's uid".to_owned(), |u| format!("uid {u}"));
        let c = &self.cgroup;
        let cgroup = match &c.kill {
            None => "no cgroup kill".to_owned(),
            Some(v) => format!("cgroup kill {v}"),
        };
        let mut parts = vec![ns, uid, cgroup];
        if c.frozen_outside_windows {
            parts.push("frozen outside windows".to_owned());
        }
        parts.push(c.pids_max.map_or_else(|| "no pids limit".to_owned(), |n| format!("pids {n}")));
        parts.push(
            c.memory_max_mib
                .map_or_else(|| "no memory limit".to_owned(), |m| format!("memory {m} MiB")),
        );
        parts.join(", ")
    }

    /// Whether it got every namespace and a group that kills its whole tree.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.namespaces.len() == Namespaces::All.names().len() && self.cgroup.kill.is_some()
    }
}

/// What a run would give its partitions here: namespaces, and control groups that kill
/// the whole tree and bound it (tried by making and removing a run's groups). For the
/// tests that need them: they report themselves ignored without.
#[must_use]
pub fn available() -> (bool, bool) {
    let namespaces = probe().confinement.namespaces == Namespaces::All;
    let cgroups = super::cgroup::RunCgroups::create(&[super::cgroup::Limits::default()]);
    let grant = &cgroups.partitions[0].grant;
    let full = grant.kill.is_some() && grant.pids_max.is_some() && grant.memory_max_mib.is_some();
    (namespaces, full)
}
