//! A partition that floods its console while the runner's stderr is stalled (a pipe
//! nobody reads): the runner never waits on it. The run keeps its pace, the other
//! partition is unaffected, and the lines that did not fit are dropped and counted.
//!
//! This test binary is also the partition program of the run it makes (see
//! `common/selfhost.rs`): the real partition program as partition 0, the flood as 1.

#[path = "common/selfhost.rs"]
mod selfhost;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use irq_guest::hosted;

const FRAMES: u64 = 40;
const FRAME_MS: u64 = 20;

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
name = "flooder"
catch_up = "replay"
timer_port = 0
health = { default = "ignore" }
[[partition.port]]
port = 0
source = "timer"

[[window]]
partition = "good"
start = 0
length = 8

[[window]]
partition = "flooder"
start = 10
length = 8
"#;

fn main() -> ExitCode {
    selfhost::main(
        "hosted_a_console_flood_into_a_stalled_stderr_never_blocks_the_runner",
        |p| (p == "1").then(flood),
        hosted_a_console_flood_into_a_stalled_stderr_never_blocks_the_runner,
    )
}

fn flood() -> ExitCode {
    let hv = hosted::hypervisor();
    let line = [b'x'; 200];
    loop {
        let _ = hv.console_write(&line);
    }
}

fn hosted_a_console_flood_into_a_stalled_stderr_never_blocks_the_runner() {
    // SAFETY: pipe and dup2 on this process's descriptors; fd 2 is put back at the end.
    let saved = unsafe {
        let mut fds = [0i32; 2];
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        let saved = libc::dup(2);
        // stderr is now a pipe nobody reads: a write blocks once it holds 64 KiB.
        assert!(libc::dup2(fds[1], 2) >= 0);
        libc::close(fds[1]);
        (saved, fds[0])
    };
    let started = Instant::now();
    let summary = selfhost::run(SYSTEM, FRAMES, true);
    let took = started.elapsed();
    // SAFETY: puts stderr back; closes the pipe's reading end.
    unsafe {
        libc::dup2(saved.0, 2);
        libc::close(saved.0);
        libc::close(saved.1);
    }
    assert!(
        took < Duration::from_millis(3 * FRAMES * FRAME_MS + 2000),
        "the run took {took:?}: the runner waited on its stderr"
    );
    assert!(summary.console_dropped > 0, "the flood did not fill the console queue");
    let good = &summary.partitions[0];
    assert_eq!((good.drift, good.lost, good.restarts), (0, 0, 0), "{good:?}");
    assert!(good.in_flight <= 20, "the good partition kept up: {good:?}");
}
