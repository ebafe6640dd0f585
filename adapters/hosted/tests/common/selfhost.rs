//! For the `hosted_` tests whose binary is also the program of the partitions it runs (a
//! plain `main`, no test harness): started by the runner, with `PARTITION_ENV` set, the
//! binary is a partition; otherwise it is the test.

use std::process::ExitCode;

use irq_hosted::runner::children::Program;
use irq_hosted::runner::isolation::Isolation;
use irq_hosted::runner::summary::Summary;
use irq_hosted::runner::{self, Options};

/// Set in the environment of the partition processes: "run as a partition".
const PARTITION_ENV: &str = "IRQ_HOSTED_TEST_PARTITION";

/// The binary's `main`. As partition `p` (its first argument), `partition(p)` if it gives
/// an exit code, else the built-in partition program. As the test: `test`, under a 60 s
/// alarm (a runner that hangs fails the test), then its line in the harness's format.
pub(crate) fn main(name: &str, partition: fn(&str) -> Option<ExitCode>, test: fn()) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::env::var_os(PARTITION_ENV).is_some() {
        let p = args.first().map_or("", String::as_str);
        return partition(p).unwrap_or_else(|| irq_hosted::guest::program::main(&args));
    }
    // SAFETY: alarm and setenv before any other thread of this process exists.
    unsafe {
        libc::alarm(60);
        std::env::set_var(PARTITION_ENV, "1");
    }
    test();
    // SAFETY: cancels this process's alarm.
    unsafe { libc::alarm(0) };
    println!("test {name} ... ok");
    ExitCode::SUCCESS
}

/// Runs the system of `toml` for `frames` major frames with this binary as every
/// partition's program; its summary.
pub(crate) fn run(toml: &str, frames: u64, echo_console: bool) -> Summary {
    let system = irq_hosted::config::load("test.toml", toml).expect("the configuration");
    let options = Options {
        frames,
        crash: None,
        svg_frames: 0,
        svg_from: None,
        progress: false,
        echo_console,
        program: Program::new(std::env::current_exe().expect("this test binary")),
        isolation: Isolation::FULL,
    };
    runner::run(&system, &options).expect("the run completes").summary
}
