//! A partition that floods its console while the runner's stderr is stalled (a pipe
//! nobody reads): the runner never waits on it. The run keeps its pace, the other
//! partition is unaffected, and the lines that did not fit are dropped and counted.
//!
//! This test binary (a plain `main`, no test harness) is also the partition program of the
//! run it makes: started with `FLOOD_ENV` set, it runs the real partition program as
//! partition 0 and floods as partition 1.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use irq_hosted::guest::{CALL_FD, Hypervisor};
use irq_hosted::runner::children::Program;
use irq_hosted::runner::{self, Options};

/// Set in the environment of the partition processes: "run as a partition".
const FLOOD_ENV: &str = "IRQ_HOSTED_TEST_CONSOLE_FLOOD";

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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os(FLOOD_ENV).is_some() {
        return match args.first().map(String::as_str) {
            Some("1") => flood(),
            _ => irq_hosted::guest::program::main(&args),
        };
    }
    hosted_a_console_flood_into_a_stalled_stderr_never_blocks_the_runner();
    println!("test hosted_a_console_flood_into_a_stalled_stderr_never_blocks_the_runner ... ok");
    ExitCode::SUCCESS
}

fn flood() -> ExitCode {
    let hv = Hypervisor::new(CALL_FD);
    let line = [b'x'; 200];
    loop {
        let _ = hv.console_write(&line);
    }
}

fn hosted_a_console_flood_into_a_stalled_stderr_never_blocks_the_runner() {
    // SAFETY: alarm, setenv, pipe and dup2 before any other thread of this process exists;
    // fd 2 is put back at the end.
    let saved = unsafe {
        libc::alarm(60);
        std::env::set_var(FLOOD_ENV, "1");
        let mut fds = [0i32; 2];
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        let saved = libc::dup(2);
        // stderr is now a pipe nobody reads: a write blocks once it holds 64 KiB.
        assert!(libc::dup2(fds[1], 2) >= 0);
        libc::close(fds[1]);
        (saved, fds[0])
    };
    let system = irq_hosted::config::load("flood.toml", SYSTEM).expect("the configuration");
    let options = Options {
        frames: FRAMES,
        crash: None,
        svg_frames: 0,
        progress: false,
        echo_console: true,
        program: Program::new(std::env::current_exe().expect("this test binary")),
    };
    let started = Instant::now();
    let summary = runner::run(&system, &options).expect("the run completes").summary;
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
    // SAFETY: cancels this process's alarm.
    unsafe { libc::alarm(0) };
}
