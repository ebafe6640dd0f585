//! Restarts on a CPU's thread, from its own events and from another CPU's: each ended
//! process is reported once, with its own end, and none is left behind.
//!
//! This test binary is also the partition program of the run it makes (see
//! `common/selfhost.rs`). Partition "quitter", on CPU 1, exits with status 7 a moment
//! after it starts: an `exec_stop_error` with code `0x207` declared on its behalf, a cold
//! start. The device's line, taken on CPU 0, raises a port of "quitter" and one of
//! "victim", its neighbour on CPU 1, that hold one event each (neither acknowledges), so
//! the interrupts overflow them: cold starts seen on CPU 0, deferred to CPU 1 and carried
//! out there when it is kicked, both at once. While CPU 1 starts "victim" again, the new
//! "quitter" exits and CPU 0 kicks again: CPU 1's next wake-up finds both a kick that
//! restarts "quitter" and the end of its previous process. That end must be reported as
//! that process's, not taken for the new one's.

#[path = "common/isolated.rs"]
mod isolated;
#[path = "common/selfhost.rs"]
mod selfhost;

use std::process::ExitCode;
use std::time::Duration;

use irq_hosted::runner::summary::PartitionSummary;

const NAME: &str = "hosted_two_cpus_each_restart_reports_its_own_process_end";

const SYSTEM: &str = r#"
tick_us = 1000
clock_vector = 32
cpus = 2
major_frame = 20

[[partition]]
name = "good"
catch_up = "replay"
timer_port = 0
[[partition.port]]
port = 0
source = "timer"

[[partition]]
name = "quitter"
cpu = 1
catch_up = "replay"
timer_port = 0
health = { default = "ignore", partition_error = "cold_start", pending_overflow = "cold_start" }
[[partition.port]]
port = 0
source = "timer"
[[partition.port]]
port = 1
source = { line = 40 }
max = 1

[[partition]]
name = "victim"
cpu = 1
catch_up = "replay"
timer_port = 0
health = { default = "ignore", pending_overflow = "cold_start" }
[[partition.port]]
port = 0
source = "timer"
[[partition.port]]
port = 1
source = { line = 40 }
max = 1

[[window]]
partition = "good"
start = 0
length = 20

[[window]]
partition = "quitter"
start = 0
length = 18

[[window]]
partition = "victim"
start = 18
length = 2

[[route]]
vector = 40
sharing = "shared"
trigger = "edge"
targets = [{ partition = "quitter", port = 1 }, { partition = "victim", port = 1 }]

[device]
cpu = 0
vector = 40
mean_interval_us = 3000
"#;

/// The exit status of every quitter process.
const STATUS: u8 = 7;

fn main() -> ExitCode {
    selfhost::main(NAME, |p| (p == "1").then(quit), test)
}

/// Partition 1: exits with [`STATUS`] a moment after it starts.
fn quit() -> ExitCode {
    std::thread::sleep(Duration::from_micros(300));
    ExitCode::from(STATUS)
}

fn show(p: &PartitionSummary) -> String {
    format!("{p:?} ({} hm events)", p.hm_events)
}

/// Children of this process not reaped (zombies or still running), reaped now.
fn unreaped_children() -> Vec<i32> {
    let mut found = Vec::new();
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid int to fill; no waiting.
        let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG | libc::__WALL) };
        if pid <= 0 {
            return found;
        }
        found.push(pid);
    }
}

fn test() {
    isolated::require(NAME);
    let summary = selfhost::run(SYSTEM, 40, false);
    assert_eq!(summary.frames, 40);
    let quitter = &summary.partitions[1];
    assert!(quitter.restarts > 10, "{}", show(quitter));
    let code = 0x200 + u64::from(STATUS);
    let mut exits = 0;
    for e in &quitter.hm_counts {
        match e.kind.as_str() {
            // Every process exited by itself with STATUS: no other end is reported.
            "PartitionError" => {
                assert_eq!(e.details, [code], "{e:?} in {}", show(quitter));
                assert!(!e.details_more, "{e:?} in {}", show(quitter));
                exits += e.count;
            }
            "PendingOverflow" => {}
            other => panic!("{other} in {}", show(quitter)),
        }
    }
    assert!(exits > 0, "{}", show(quitter));
    // The runner reaped every process it started, on both CPUs.
    let left = unreaped_children();
    assert!(left.is_empty(), "processes of the run not reaped: {left:?}");
    isolated::assert_nothing_left();
}
