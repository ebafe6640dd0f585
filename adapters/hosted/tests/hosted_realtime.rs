//! `--realtime P`: the runner's threads run under `SCHED_FIFO` at P, the partitions one
//! below (P - 1, set before they exec), so a tick is never queued behind the machine's
//! other work and the runner's clock preempts a partition, never the other way round.
//! Read from `/proc` while the run goes on; a priority out of range, or with `--check`,
//! is refused. Without the right to use `SCHED_FIFO` (CAP_SYS_NICE or RLIMIT_RTPRIO) the
//! test reports itself ignored (a failure with `--include-ignored`, as CI runs it).

#[path = "common/isolated.rs"]
mod isolated;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NAME: &str = "hosted_realtime_runs_partitions_one_below_the_runner";
const PRIORITY: i32 = 20;
const SCHED_FIFO: i64 = 1;

/// A task's scheduling policy and real-time priority.
type Sched = (i64, i64);

fn runner() -> Command {
    Command::new(env!("CARGO_BIN_EXE_irq-hosted"))
}

/// (policy, real-time priority) of task `stat` (`/proc/.../stat`), and its parent.
fn sched(stat: &str) -> Option<(i64, i64, i32)> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3; ppid 4, rt_priority 40, policy 41.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<i64>().ok());
    Some((field(41)?, field(40)?, i32::try_from(field(4)?).ok()?))
}

/// Whether this process may use SCHED_FIFO at `PRIORITY` (tried on a thread of its own).
fn allowed() -> bool {
    std::thread::spawn(|| {
        let param = libc::sched_param { sched_priority: PRIORITY };
        // SAFETY: a valid sched_param; 0 is this short-lived thread.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &raw const param) == 0 }
    })
    .join()
    .unwrap_or(false)
}

fn refused(args: &[&str], what: &str) {
    let out = runner().args(args).output().expect("the runner starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: no summary");
    assert!(stderr.contains(what), "{args:?}: {what:?} in {stderr}");
}

fn main() {
    refused(&["--realtime", "1"], "2..=99");
    refused(&["--realtime", "100"], "2..=99");
    refused(&["--realtime", "20", "--check"], "--realtime: has no effect with --check");
    isolated::require(NAME);
    if !allowed() {
        let why = "SCHED_FIFO is not allowed here (CAP_SYS_NICE or RLIMIT_RTPRIO)";
        assert!(
            !std::env::args().any(|a| a == "--include-ignored" || a == "--ignored"),
            "{NAME}: {why}"
        );
        println!("test {NAME} ... ignored, {why}");
        return;
    }

    let child = runner()
        .args(["--realtime", &PRIORITY.to_string(), "--frames", "60", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the runner starts");
    let runner_pid = child.id() as i32;
    let mut threads: Vec<Sched> = Vec::new();
    let mut partitions: Vec<Sched> = Vec::new();
    let fifo = |tasks: &[Sched], priority: i32| {
        tasks.iter().all(|&t| t == (SCHED_FIFO, i64::from(priority)))
    };
    // A partition is seen at the runner's priority only between its clone and the
    // lowering, before it execs: look again until all four are seen settled.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(partitions.len() == 4 && fifo(&partitions, PRIORITY - 1)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let tasks = std::fs::read_dir(format!("/proc/{runner_pid}/task"));
        threads = tasks
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
            .filter_map(|s| sched(&s))
            .map(|(policy, priority, _)| (policy, priority))
            .collect();
        partitions = std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter_map(|s| sched(&s))
            .filter(|&(_, _, parent)| parent == runner_pid)
            .map(|(policy, priority, _)| (policy, priority))
            .collect();
    }
    let out = child.wait_with_output().expect("the runner ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("partition"), "the summary: {stdout}");
    assert!(!threads.is_empty(), "the runner's threads were seen");
    assert!(fifo(&threads, PRIORITY), "the runner's threads: {threads:?}");
    assert_eq!(partitions.len(), 4, "the default system's four partitions: {partitions:?}");
    assert!(fifo(&partitions, PRIORITY - 1), "the partitions: {partitions:?}");
    isolated::assert_nothing_left();
    println!("test {NAME} ... ok (runner {threads:?}, partitions {partitions:?})");
}
