//! A partition that exits as soon as it starts is restarted by its health monitor only as
//! often as its restart limit allows; the restart past it idles the partition, with a
//! `RestartLimit` record. The other partition is unaffected.
//!
//! This test binary (a plain `main`, no test harness) is also the partition program of the
//! run it makes: started with `QUITTER_ENV` set, it runs the real partition program as
//! partition 0 and exits at once as partition 1.

use std::process::ExitCode;

use irq_hosted::runner::children::Program;
use irq_hosted::runner::summary::PartitionSummary;
use irq_hosted::runner::{self, Options};

/// Set in the environment of the partition processes: "run as a partition".
const QUITTER_ENV: &str = "IRQ_HOSTED_TEST_QUITTER";

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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os(QUITTER_ENV).is_some() {
        return match args.first().map(String::as_str) {
            Some("1") => ExitCode::SUCCESS,
            _ => irq_hosted::guest::program::main(&args),
        };
    }
    hosted_restart_limit_idles_a_partition_that_keeps_dying();
    println!("test hosted_restart_limit_idles_a_partition_that_keeps_dying ... ok");
    ExitCode::SUCCESS
}

fn show(p: &PartitionSummary) -> String {
    format!("{p:?}")
}

fn hosted_restart_limit_idles_a_partition_that_keeps_dying() {
    // SAFETY: alarm and setenv before any other thread of this process exists.
    unsafe {
        libc::alarm(60);
        std::env::set_var(QUITTER_ENV, "1");
    }
    let system = irq_hosted::config::load("quitter.toml", SYSTEM).expect("the configuration");
    let options = Options {
        frames: 12,
        crash: None,
        svg_frames: 0,
        progress: false,
        echo_console: false,
        program: Program::new(std::env::current_exe().expect("this test binary")),
    };
    let summary = runner::run(&system, &options).expect("the run completes").summary;
    let [good, quitter] = &summary.partitions[..] else { panic!("two partitions") };
    assert_eq!(good.restarts, 0, "{}", show(good));
    assert!(good.hm_events.is_empty(), "{}", show(good));
    assert_eq!((good.drift, good.lost), (0, 0), "{}", show(good));
    // Three restarts, then the fourth death idles it: it is never started again.
    assert_eq!(quitter.restarts, 3, "{}", show(quitter));
    assert_eq!(quitter.mode, "Idle", "{}", show(quitter));
    assert_eq!(good.mode, "Normal", "{}", show(good));
    let events: Vec<(&str, &str)> =
        quitter.hm_events.iter().map(|e| (e.kind.as_str(), e.action.as_str())).collect();
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
    // SAFETY: cancels this process's alarm.
    unsafe { libc::alarm(0) };
}
