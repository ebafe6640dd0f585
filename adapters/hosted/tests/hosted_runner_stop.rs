//! A partition that stops its parent, `kill(getppid(), SIGSTOP)`, used to stop the runner
//! for good (nothing ever continued it). Each partition now runs in a PID namespace of
//! its own (its parent is outside: `getppid()` is 0, and the runner's pid names nothing
//! there) as a uid of its own, so it can signal neither the runner nor another
//! partition: the run completes on time, the other partition is untouched, and the
//! offender's health monitor sees only what it was configured for (each of its
//! processes exits, `PartitionError`, cold start).
//!
//! This test binary is also the partition program of the run it makes (see
//! `common/selfhost.rs`): the real partition program as partition 0, the attack as 1.

#[path = "common/isolated.rs"]
mod isolated;
#[path = "common/selfhost.rs"]
mod selfhost;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use irq_hosted::runner::summary::PartitionSummary;

const NAME: &str = "hosted_a_partition_cannot_stop_the_runner";

/// The runner's pid, as the test tells its partitions (a partition that knew it before
/// could still not reach it).
const RUNNER_VAR: &str = "IRQ_HOSTED_TEST_RUNNER";

const SYSTEM: &str = r#"
tick_us = 1000
clock_vector = 32
major_frame = 20

[[partition]]
name = "good"
catch_up = "replay"
timer_port = 0
health = { default = "ignore" }
[[partition.port]]
port = 0
source = "timer"

[[partition]]
name = "stopper"
catch_up = "replay"
timer_port = 0
health = { default = "ignore", partition_error = "cold_start" }
[[partition.port]]
port = 0
source = "timer"

[[window]]
partition = "good"
start = 0
length = 8

[[window]]
partition = "stopper"
start = 10
length = 8
"#;

fn main() -> ExitCode {
    selfhost::main(
        NAME,
        |p| (p == "1").then(stop_the_runner),
        hosted_a_partition_cannot_stop_the_runner,
    )
}

/// Partition 1: SIGSTOP to its parent, to the runner by pid, and to every process it
/// may signal; then it exits (status 0).
fn stop_the_runner() -> ExitCode {
    let runner = std::env::var(RUNNER_VAR).ok().and_then(|v| v.parse::<i32>().ok());
    // SAFETY: plain system calls; each attack is refused or reaches only this partition.
    unsafe {
        libc::kill(libc::getppid(), libc::SIGSTOP);
        if let Some(runner) = runner {
            libc::kill(runner, libc::SIGSTOP);
            libc::kill(runner, libc::SIGKILL);
        }
        // Every process it may signal: only ever tried inside a PID namespace of its
        // own (pid 1 there), where that is its own tree, whatever went wrong elsewhere.
        if libc::getpid() == 1 {
            libc::kill(-1, libc::SIGSTOP);
        }
    }
    std::thread::sleep(Duration::from_millis(1));
    ExitCode::SUCCESS
}

fn show(p: &PartitionSummary) -> String {
    format!("{p:?}")
}

fn hosted_a_partition_cannot_stop_the_runner() {
    isolated::require(NAME);
    // SAFETY: set before the run starts any thread or process.
    unsafe { std::env::set_var(RUNNER_VAR, std::process::id().to_string()) };
    let started = Instant::now();
    let summary = selfhost::run(SYSTEM, 20, false);
    assert!(started.elapsed() < Duration::from_secs(20), "the runner was held up");
    assert_eq!(summary.frames, 20);
    let [good, stopper] = &summary.partitions[..] else { panic!("two partitions") };
    assert!(good.isolation.is_full() && stopper.isolation.is_full(), "{good:?} {stopper:?}");
    assert_eq!((good.restarts, good.drift, good.lost), (0, 0, 0), "{}", show(good));
    assert_eq!(good.hm_events, 0, "{}", show(good));
    assert!(good.guest_time > 0 && good.in_flight <= 20, "{}", show(good));
    // Its processes ran and exited, each restarted as configured; nothing else.
    assert!(stopper.restarts > 0, "{}", show(stopper));
    assert_eq!(stopper.restarts, stopper.hm_events, "{}", show(stopper));
    let [count] = &stopper.hm_counts[..] else { panic!("one kind: {}", show(stopper)) };
    let seen = (count.kind.as_str(), count.action.as_str(), count.count);
    assert_eq!(seen, ("PartitionError", "ColdStart", stopper.hm_events), "{}", show(stopper));
    assert_eq!(
        (&count.details[..], count.details_more),
        (&[0x200][..], false),
        "{}",
        show(stopper)
    );
    isolated::assert_nothing_left();
}
