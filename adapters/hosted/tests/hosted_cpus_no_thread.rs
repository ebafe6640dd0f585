//! A runner that cannot start one of its CPUs' threads (no task left under its `pids`
//! limit) reports the error and ends: no CPU runs, and none waits for the missing one.
//! (CPU 0's thread, started, used to wait at the start for CPU 1's, which never came: the
//! runner hung.)
//!
//! The runner (the `irq-hosted` binary, on `config/two-cpus.toml`) is started in a `pids`
//! control group of this test's with room for two tasks: its main thread and one more.

#[path = "common/isolated.rs"]
mod isolated;

use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use irq_hosted::runner::cgroup::{self, Limits, RunCgroups};

const NAME: &str = "hosted_two_cpus_a_thread_that_cannot_start_ends_the_run";

fn main() -> ExitCode {
    isolated::require(NAME);
    test();
    println!("test {NAME} ... ok");
    ExitCode::SUCCESS
}

fn test() {
    let mut groups = RunCgroups::create(&[Limits { pids: 2, memory_mib: 256 }]);
    let group = &groups.partitions[0];
    assert_eq!(group.grant.pids_max, Some(2), "a pids group: {:?}", groups.missing);
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/two-cpus.toml");
    // The shell waits for its line, by then in the group, then becomes the runner.
    let mut child = Command::new("/bin/sh")
        .args(["-c", "read go && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_irq-hosted"))
        .args(["--config", config, "--frames", "3", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the shell starts");
    let pid = child.id();
    group.place(pid as i32).expect("the runner in its group");
    let mut go = child.stdin.take().expect("the shell's stdin");
    go.write_all(b"go\n").expect("the go-ahead");
    drop(go);
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let Ok(out) = outcome.recv_timeout(Duration::from_secs(30)) else {
        // SAFETY: plain system call; the pid is this test's child, not reaped yet.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let _ = outcome.recv_timeout(Duration::from_secs(5));
        groups.remove();
        panic!("the runner hung");
    };
    let out = out.expect("the runner's output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the run cannot succeed: {stderr}");
    assert_eq!(out.status.code(), Some(1), "an error, not a panic: {stderr}");
    assert!(stderr.contains("cannot start CPU 1's thread"), "{stderr}");
    groups.remove();
    let left = cgroup::leftovers(pid);
    assert!(left.is_empty(), "the runner's groups left behind: {left:?}");
    // Nor this test's group.
    isolated::assert_nothing_left();
}
