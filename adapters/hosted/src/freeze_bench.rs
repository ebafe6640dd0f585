//! The cost of stopping a partition at a window switch (`irq-hosted --bench-latency`,
//! after the latency rounds): SIGSTOP/SIGCONT against freezing its control group
//! (v2 `cgroup.freeze`, v1 `freezer.state`).
//!
//! * Runner side: the time of the call itself (what a window switch costs the runner's
//!   one thread), and the time until the target is stopped (SIGSTOP: `waitid`
//!   `WSTOPPED`; v2: `frozen 1` in `cgroup.events`; v1: `FROZEN` in `freezer.state`),
//!   on a process that spins (the worst case: it must be interrupted on its CPU).
//! * Guest side: the hosted system with two partitions in 1-tick windows, so that every
//!   tick enters a partition that was just stopped: clock expiry to its handler, with the
//!   group frozen outside the windows or not (A B A B).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config;
use crate::runner::cgroup::own_freezer_groups;
use crate::runner::isolation::Isolation;
use crate::runner::{self, Options, children};

const SWITCHES: usize = 500;

/// Two partitions, 1-tick windows: every tick is a window switch.
const ALTERNATING: &str = r#"
tick_us = 1000
clock_vector = 32
major_frame = 2
[[partition]]
name = "a"
catch_up = "replay"
timer_port = 0
[[partition.port]]
port = 0
source = "timer"
[[partition]]
name = "b"
catch_up = "replay"
timer_port = 0
[[partition.port]]
port = 0
source = "timer"
[[window]]
partition = "a"
start = 0
length = 1
[[window]]
partition = "b"
start = 1
length = 1
"#;

fn us(mut v: Vec<u64>) -> (f64, f64) {
    v.sort_unstable();
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let q = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    (q(0.5), q(0.99))
}

/// A child that spins until killed.
fn spinner() -> Option<i32> {
    // SAFETY: fork in the bench's single thread; the child only spins.
    match unsafe { libc::fork() } {
        0 => loop {
            std::hint::spin_loop();
        },
        pid if pid > 0 => Some(pid),
        _ => None,
    }
}

/// Request and until-stopped times, ns, of `SWITCHES` stop/continue cycles.
struct Cycle {
    request: Vec<u64>,
    stopped: Vec<u64>,
    resume: Vec<u64>,
}

fn cycles(
    stop: &mut dyn FnMut(),
    is_stopped: &mut dyn FnMut() -> bool,
    resume: &mut dyn FnMut(),
) -> Cycle {
    let mut c = Cycle { request: Vec::new(), stopped: Vec::new(), resume: Vec::new() };
    for _ in 0..SWITCHES {
        let t0 = crate::sys::monotonic_ns();
        stop();
        let t1 = crate::sys::monotonic_ns();
        let deadline = Instant::now() + std::time::Duration::from_millis(100);
        while !is_stopped() && Instant::now() < deadline {}
        let t2 = crate::sys::monotonic_ns();
        resume();
        let t3 = crate::sys::monotonic_ns();
        c.request.push(t1 - t0);
        c.stopped.push(t2 - t0);
        c.resume.push(t3 - t2);
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
    c
}

fn print(name: &str, c: Cycle) {
    let (r50, r99) = us(c.request);
    let (s50, s99) = us(c.stopped);
    let (c50, c99) = us(c.resume);
    println!("{name:<14} {r50:>9.1} {r99:>9.1} {s50:>11.1} {s99:>11.1} {c50:>10.1} {c99:>10.1}");
}

fn read(file: &File) -> String {
    let mut buf = [0u8; 256];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A group `name` under `own` with `pid` in it.
fn group(own: &Path, pid: i32) -> Option<PathBuf> {
    let dir = own.join(format!("irq-hosted-bench-{}", std::process::id()));
    std::fs::create_dir(&dir).ok()?;
    if std::fs::write(dir.join("cgroup.procs"), pid.to_string()).is_err() {
        let _ = std::fs::remove_dir(&dir);
        return None;
    }
    Some(dir)
}

fn open_rw(path: &Path) -> Option<File> {
    std::fs::OpenOptions::new().read(true).write(true).open(path).ok()
}

/// The runner-side costs.
fn stop_costs() {
    println!();
    println!(
        "stopping a spinning process, {SWITCHES} cycles (us): the call, until stopped, the resume call"
    );
    println!(
        "{:<14} {:>9} {:>9} {:>11} {:>11} {:>10} {:>10}",
        "how", "call_p50", "call_p99", "stopped_p50", "stopped_p99", "resume_p50", "resume_p99"
    );
    let Some(pid) = spinner() else { return };
    let signal = |s| {
        let _ = crate::sys::kill(pid, s);
    };
    let stopped = || {
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        let flags = libc::WSTOPPED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: `info` is a writable siginfo_t; `pid` is this process's child.
        let ret = unsafe { libc::waitid(libc::P_PID, pid as u32, info.as_mut_ptr(), flags) };
        // SAFETY: waitid zeroed or filled it.
        ret == 0 && unsafe { info.assume_init().si_pid() } == pid
    };
    let c = cycles(&mut || signal(libc::SIGSTOP), &mut { stopped }, &mut || {
        signal(libc::SIGCONT);
        // Consume the stop report, so that the next cycle sees only its own.
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: as above.
        unsafe {
            libc::waitid(libc::P_PID, pid as u32, info.as_mut_ptr(), libc::WSTOPPED | libc::WNOHANG)
        };
    });
    print("SIGSTOP", c);
    let (unified, freezer) = own_freezer_groups();
    if let Some(dir) = unified.as_deref().and_then(|own| group(own, pid)) {
        if let (Some(freeze), Some(events)) =
            (open_rw(&dir.join("cgroup.freeze")), open_rw(&dir.join("cgroup.events")))
        {
            let c = cycles(
                &mut || {
                    let _ = freeze.write_at(b"1", 0);
                },
                &mut || read(&events).contains("frozen 1"),
                &mut || {
                    let _ = freeze.write_at(b"0", 0);
                },
            );
            print("v2 freeze", c);
        }
        if let Some(own) = unified {
            let _ = std::fs::write(own.join("cgroup.procs"), pid.to_string());
        }
        let _ = std::fs::remove_dir(&dir);
    } else {
        println!("v2 freeze      (no cgroup v2 here)");
    }
    if let Some(dir) = freezer.as_deref().and_then(|own| group(own, pid)) {
        if let Some(state) = open_rw(&dir.join("freezer.state")) {
            let c = cycles(
                &mut || {
                    let _ = state.write_at(b"FROZEN", 0);
                },
                &mut || read(&state).starts_with("FROZEN"),
                &mut || {
                    let _ = state.write_at(b"THAWED", 0);
                },
            );
            print("v1 freezer", c);
        }
        if let Some(own) = freezer {
            let _ = std::fs::write(own.join("cgroup.procs"), pid.to_string());
        }
        let _ = std::fs::remove_dir(&dir);
    } else {
        println!("v1 freezer     (no v1 freezer here)");
    }
    children::kill_and_reap(pid);
}

/// The guest-side latency at window entry, frozen outside windows or not.
fn entry_latency(freeze: bool) -> Result<(f64, f64), String> {
    let system = config::load("bench", ALTERNATING).map_err(|e| e.to_string())?;
    let options = Options {
        frames: 1000,
        crash: None,
        svg_frames: 0,
        svg_from: None,
        progress: false,
        echo_console: false,
        program: children::Program::builtin().map_err(|e| e.to_string())?,
        isolation: Isolation { freeze_windows: freeze, ..Isolation::FULL },
    };
    let outcome = runner::run(&system, &options).map_err(|e| e.to_string())?;
    let ps = &outcome.summary.partitions;
    let n = ps.len().max(1) as f64;
    let p50 = ps.iter().map(|p| p.at_entry_p50_us).sum::<f64>() / n;
    let p99 = ps.iter().map(|p| p.at_entry_p99_us).sum::<f64>() / n;
    Ok((p50, p99))
}

/// Prints both measurements.
pub fn main() {
    stop_costs();
    println!();
    println!(
        "window entry: two partitions in 1-tick windows, 2,000 ticks; clock expiry -> handler (us, mean of the two)"
    );
    println!("{:<8} {:<22} {:>10} {:>10}", "round", "stop", "p50_us", "p99_us");
    for round in 1..=2 {
        for (freeze, name) in [(false, "SIGSTOP only"), (true, "SIGSTOP + v2 freeze")] {
            match entry_latency(freeze) {
                Ok((p50, p99)) => println!("{round:<8} {name:<22} {p50:>10.1} {p99:>10.1}"),
                Err(e) => println!("{round:<8} {name:<22} failed: {e}"),
            }
        }
    }
}
