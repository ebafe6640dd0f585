//! A partition that exits as soon as it starts is restarted by its health monitor only as
//! often as its restart limit allows; the restart past it idles the partition, with a
//! `RestartLimit` record. The other partition is unaffected.
//!
//! This test binary is also the partition program of the run it makes (see
//! `common/selfhost.rs`): the real partition program as partition 0; as 1 it exits at once.

#[path = "common/selfhost.rs"]
mod selfhost;

use std::process::ExitCode;

use irq_hosted::runner::summary::PartitionSummary;

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
name = "quitter"
catch_up = "replay"
timer_port = 0
health = { default = "ignore", partition_error = "cold_start", restart_limit = { restarts = 3, frames = 10 } }
[[partition.port]]
port = 0
source = "timer"

[[window]]
partition = "good"
start = 0
length = 8

[[window]]
partition = "quitter"
start = 10
length = 8
"#;

fn main() -> ExitCode {
    selfhost::main(
        "hosted_restart_limit_idles_a_partition_that_keeps_dying",
        |p| (p == "1").then_some(ExitCode::SUCCESS),
        hosted_restart_limit_idles_a_partition_that_keeps_dying,
    )
}

fn show(p: &PartitionSummary) -> String {
    format!("{p:?}")
}

fn hosted_restart_limit_idles_a_partition_that_keeps_dying() {
    let summary = selfhost::run(SYSTEM, 12, false);
    let [good, quitter] = &summary.partitions[..] else { panic!("two partitions") };
    assert_eq!(good.restarts, 0, "{}", show(good));
    assert_eq!(good.hm_events, 0, "{}", show(good));
    assert_eq!((good.drift, good.lost), (0, 0), "{}", show(good));
    // Three restarts, then the fourth death idles it: it is never started again.
    assert_eq!(quitter.restarts, 3, "{}", show(quitter));
    assert_eq!(quitter.mode, "Idle", "{}", show(quitter));
    assert_eq!(good.mode, "Normal", "{}", show(good));
    assert_eq!(quitter.hm_events, 5, "{}", show(quitter));
    let events: Vec<(&str, &str)> =
        quitter.hm_last.iter().map(|e| (e.kind.as_str(), e.action.as_str())).collect();
    assert_eq!(
        events,
        [
            ("PartitionError", "ColdStart"),
            ("PartitionError", "ColdStart"),
            ("PartitionError", "ColdStart"),
            ("RestartLimit", "Idle"),
            ("PartitionError", "Idle"),
        ],
        "{}",
        show(quitter)
    );
    let counts: Vec<(&str, &str, u64)> =
        quitter.hm_counts.iter().map(|c| (c.kind.as_str(), c.action.as_str(), c.count)).collect();
    assert_eq!(
        counts,
        [
            ("PartitionError", "ColdStart", 3),
            ("RestartLimit", "Idle", 1),
            ("PartitionError", "Idle", 1)
        ],
        "{}",
        show(quitter)
    );
}
