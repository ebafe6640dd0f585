//! A partition whose hypercall socket closes is ended by the runner only if it does not
//! end by itself soon after: a process that is dying (its descriptors are closed before
//! it can be reaped) is reported with its own end, not as misbehaving.
//!
//! This test binary is also the partition program of the run it makes (see
//! `common/selfhost.rs`): the real partition program as partition 0, then
//! * 1 closes its socket and exits with status 7 two milliseconds later: each of its
//!   ends is reported as that exit (`0x200 + 7`), never as [`MISBEHAVED`];
//! * 2 closes its socket and goes on without it: it is cut off and reported as
//!   [`MISBEHAVED`], each time.

#[path = "common/records.rs"]
mod records;
#[path = "common/selfhost.rs"]
mod selfhost;

use std::process::ExitCode;
use std::time::Duration;

use irq_hosted::runner::run::MISBEHAVED;
use records::{only, show};

const NAME: &str = "hosted_a_closed_socket_of_a_dying_partition_is_not_misbehaving";

/// The partition's end of its hypercall socket.
const SOCKET_FD: i32 = 4;

const SYSTEM: &str = r#"
tick_us = 1000
clock_vector = 32
major_frame = 30

[[partition]]
name = "good"
catch_up = "replay"
timer_port = 0
health = { default = "ignore" }
[[partition.port]]
port = 0
source = "timer"

[[partition]]
name = "leaver"
catch_up = "replay"
timer_port = 0
health = { default = "ignore", partition_error = "warm_start" }
[[partition.port]]
port = 0
source = "timer"

[[partition]]
name = "mute"
catch_up = "replay"
timer_port = 0
health = { default = "ignore", partition_error = "warm_start" }
[[partition.port]]
port = 0
source = "timer"

[[window]]
partition = "good"
start = 0
length = 8

[[window]]
partition = "leaver"
start = 10
length = 8

[[window]]
partition = "mute"
start = 20
length = 8
"#;

fn main() -> ExitCode {
    selfhost::main(
        NAME,
        |p| match p {
            "1" => Some(leave()),
            "2" => Some(mute()),
            _ => None,
        },
        hosted_a_closed_socket_of_a_dying_partition_is_not_misbehaving,
    )
}

/// Partition 1: its socket closed, then its exit a little later.
fn leave() -> ExitCode {
    // SAFETY: closes a descriptor this process holds.
    unsafe { libc::close(SOCKET_FD) };
    std::thread::sleep(Duration::from_millis(2));
    ExitCode::from(7)
}

/// Partition 2: its socket closed, then it sleeps until killed.
fn mute() -> ExitCode {
    // SAFETY: closes a descriptor this process holds.
    unsafe { libc::close(SOCKET_FD) };
    loop {
        // SAFETY: plain system call.
        unsafe { libc::pause() };
    }
}

fn hosted_a_closed_socket_of_a_dying_partition_is_not_misbehaving() {
    let summary = selfhost::run(SYSTEM, 10, false);
    let [good, leaver, mute] = &summary.partitions[..] else { panic!("three partitions") };
    assert_eq!((good.restarts, good.hm_events, good.drift, good.lost), (0, 0, 0, 0));
    for (p, detail) in [(leaver, 0x200 + 7), (mute, u64::from(MISBEHAVED))] {
        assert!(p.restarts > 0 && p.hm_events > 0, "{}", show(p));
        only(p, "WarmStart", detail);
    }
}
