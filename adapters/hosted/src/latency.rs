//! The latency benchmark (`irq-hosted --bench-latency`): from the clock line's expiry
//! (the timerfd's absolute expiry time) to the guest's handler running inside the
//! partition process, p50 and p99, against a baseline measured in the same run.
//!
//! * Baseline ("bare"): the same runner-side loop (poll on a 1 ms timerfd, read it,
//!   write the expiry time into the mailbox, send the upcall signal) into a bare
//!   process whose handler only stamps the time. Nothing in between.
//! * Hosted: the full system, one partition whose window covers the whole frame, so
//!   every tick is an interrupt delivered through the router to the partition's
//!   handler (which then takes the count and returns from the upcall by hypercall).
//!   Its **in-window** figure (ticks that found the partition running, delivered at
//!   once) is what compares with the baseline; the tick that opens each frame's window
//!   again (an exit and an entry: SIGSTOP, SIGCONT) is the **at-entry** figure, shown
//!   apart.
//! * Two CPUs: the same on a system of two CPUs, one such partition each, both runner
//!   threads (pinned) taking their ticks at the same instants: each partition's
//!   in-window figure.
//!
//! The three alternate (A B A B) so that machine noise hits both alike.

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use crate::config;
use crate::region::{Arrival, SharedRegion};
use crate::runner::sandbox::Confinement;
use crate::runner::{self, Options, children};
use crate::sys;

/// One partition owning the whole frame: every tick is delivered at once.
const ONE_PARTITION: &str = r#"
tick_us = 1000
clock_vector = 32
major_frame = 40
[[partition]]
name = "solo"
catch_up = "replay"
timer_port = 0
[[partition.port]]
port = 0
source = "timer"
[[window]]
partition = "solo"
start = 0
length = 40
"#;

/// Two CPUs, one partition each owning its CPU's whole frame: every tick of each CPU is
/// delivered at once, by its own runner thread, both at the same instants.
const TWO_CPUS: &str = r#"
tick_us = 1000
clock_vector = 32
major_frame = 40
cpus = 2
[[partition]]
name = "solo0"
cpu = 0
catch_up = "replay"
timer_port = 0
[[partition.port]]
port = 0
source = "timer"
[[partition]]
name = "solo1"
cpu = 1
catch_up = "replay"
timer_port = 0
[[partition.port]]
port = 0
source = "timer"
[[window]]
partition = "solo0"
start = 0
length = 40
[[window]]
partition = "solo1"
start = 0
length = 40
"#;

const TICKS: u64 = 2000;

fn quantiles(mut v: Vec<u64>) -> (usize, f64, f64) {
    v.sort_unstable();
    let q = |q: f64| {
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        v[i] as f64 / 1000.0
    };
    (v.len(), q(0.5), q(0.99))
}

/// The baseline: samples in nanoseconds.
fn bare(ticks: u64) -> Result<Vec<u64>, String> {
    let shared = SharedRegion::create("irq-hosted-bare").map_err(|e| e.to_string())?;
    let region = shared.region();
    let mut program = children::Program::builtin().map_err(|e| e.to_string())?;
    program.args.push("--bare".to_owned());
    let started = children::spawn(&program, 0, "bare", shared.raw_fd(), Confinement::NONE, None)
        .map_err(|e| e.to_string())?;
    let _ = sys::kill(started.pid, libc::SIGCONT);
    let period = 1_000_000;
    let start = sys::monotonic_ns() + 20_000_000;
    let timer = sys::periodic_timer(start, period).map_err(|e| e.to_string())?;
    let mut seen = 0u64;
    let mut fds = [libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&timer),
        events: libc::POLLIN,
        revents: 0,
    }];
    while seen < ticks {
        let _ = sys::poll(&mut fds, 100);
        let n = sys::read_timer(fds[0].fd).map_err(|e| e.to_string())?;
        if n == 0 {
            continue;
        }
        seen += n;
        region.mailbox.stamp_ns.store(start + seen * period, Ordering::Relaxed);
        region.mailbox.arrival.store(Arrival::InWindow as u64, Ordering::Relaxed);
        region.mailbox.seq.fetch_add(1, Ordering::Release);
        let _ = sys::kill(started.pid, sys::upcall_signal());
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    children::kill_and_reap(started.pid);
    let samples = region.samples(Arrival::InWindow);
    // SAFETY: `region` is not used again (the process that shared it is gone too).
    unsafe { shared.release() };
    Ok(samples)
}

/// The hosted system's figures for the one partition.
struct Hosted {
    in_window: (usize, f64, f64),
    at_entry: (usize, f64, f64),
}

/// The hosted system `text`: (samples, p50 us, p99 us) of each partition, in the window
/// and at entry.
fn hosted(text: &str, ticks: u64) -> Result<Vec<Hosted>, String> {
    let system = config::load("bench", text).map_err(|e| e.to_string())?;
    let options = Options {
        frames: ticks / system.schedule.major_frame,
        crash: None,
        svg_frames: 0,
        svg_from: None,
        progress: false,
        echo_console: false,
        program: children::Program::builtin().map_err(|e| e.to_string())?,
        isolation: runner::isolation::Isolation::FULL,
    };
    let outcome = runner::run(&system, &options).map_err(|e| e.to_string())?;
    Ok(outcome
        .summary
        .partitions
        .iter()
        .map(|p| Hosted {
            in_window: (p.in_window_samples, p.in_window_p50_us, p.in_window_p99_us),
            at_entry: (p.at_entry_samples, p.at_entry_p50_us, p.at_entry_p99_us),
        })
        .collect())
}

/// Runs the benchmark and prints the figures.
#[must_use]
pub fn main() -> ExitCode {
    println!("clock expiry -> guest handler running, {TICKS} ticks of 1 ms per round (A B A B)");
    println!("{:<8} {:<18} {:>8} {:>10} {:>10}", "round", "path", "samples", "p50_us", "p99_us");
    let mut bare_p99 = Vec::new();
    let mut hosted_p99 = Vec::new();
    let mut bare_p50 = Vec::new();
    let mut hosted_p50 = Vec::new();
    let (mut two_p50, mut two_p99) = (Vec::new(), Vec::new());
    for round in 1..=2 {
        match bare(TICKS) {
            Ok(samples) => {
                let (n, p50, p99) = quantiles(samples);
                println!("{round:<8} {:<18} {n:>8} {p50:>10.1} {p99:>10.1}", "bare");
                bare_p50.push(p50);
                bare_p99.push(p99);
            }
            Err(e) => {
                eprintln!("bare baseline failed: {e}");
                return ExitCode::FAILURE;
            }
        }
        match hosted(ONE_PARTITION, TICKS).as_deref() {
            Ok([Hosted { in_window: (n, p50, p99), at_entry: (m, e50, e99) }]) => {
                println!("{round:<8} {:<18} {n:>8} {p50:>10.1} {p99:>10.1}", "hosted in-window");
                println!("{round:<8} {:<18} {m:>8} {e50:>10.1} {e99:>10.1}", "hosted at-entry");
                hosted_p50.push(*p50);
                hosted_p99.push(*p99);
            }
            Ok(other) => {
                eprintln!("hosted run: {} partitions in the summary, not 1", other.len());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("hosted run failed: {e}");
                return ExitCode::FAILURE;
            }
        }
        match hosted(TWO_CPUS, TICKS) {
            Ok(cpus) => {
                for (c, Hosted { in_window: (n, p50, p99), .. }) in cpus.iter().enumerate() {
                    let path = format!("2 CPUs, cpu {c}");
                    println!("{round:<8} {path:<18} {n:>8} {p50:>10.1} {p99:>10.1}");
                    two_p50.push(*p50);
                    two_p99.push(*p99);
                }
            }
            Err(e) => {
                eprintln!("hosted run on two CPUs failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (b50, b99, h50, h99) =
        (mean(&bare_p50), mean(&bare_p99), mean(&hosted_p50), mean(&hosted_p99));
    println!(
        "mean of rounds: bare p50 {b50:.1} us p99 {b99:.1} us; hosted in-window p50 {h50:.1} us p99 {h99:.1} us"
    );
    println!(
        "ratio hosted in-window/bare: p50 {:.2}x, p99 {:.2}x (target p99 <= 1.5x)",
        h50 / b50.max(f64::MIN_POSITIVE),
        h99 / b99.max(f64::MIN_POSITIVE)
    );
    let (t50, t99) = (mean(&two_p50), mean(&two_p99));
    println!(
        "two CPUs (each CPU's partition in its window, both CPUs ticking at once): p50 {t50:.1} us p99 {t99:.1} us, ratio to bare p50 {:.2}x, p99 {:.2}x",
        t50 / b50.max(f64::MIN_POSITIVE),
        t99 / b99.max(f64::MIN_POSITIVE)
    );
    crate::freeze_bench::main();
    ExitCode::SUCCESS
}
