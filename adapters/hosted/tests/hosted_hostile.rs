//! Hostile partitions: a partition is untrusted, and nothing it does may crash, hang or
//! corrupt the runner or the other partitions.
//!
//! This test binary is also the partition program of the run it makes (see
//! `common/selfhost.rs`): the real partition program as partition 0 and an attack as
//! partitions 1 and 2:
//! * 1 tries to resize its region memfd under the runner's mapping (truncating it
//!   would make the runner's next access raise SIGBUS), to seal it against writes, and
//!   checks it inherited no descriptor beyond its region and socket; it then exits with
//!   a bit set per attack that worked (so exit status 0: every attack refused);
//! * 2 sends calls without ever reading the answers (which used to freeze the runner
//!   on its blocking send once the socket's queue was full).

#[path = "common/records.rs"]
mod records;
#[path = "common/selfhost.rs"]
mod selfhost;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use irq_hosted::region::REGION_LEN;
use irq_hosted::runner::run::MISBEHAVED;
use irq_hosted::runner::summary::PartitionSummary;
use irq_router::hypercall::{Request, encode_request};
use records::{only, show};

/// A descriptor the runner leaks to its children unless they close it at exec.
const LEAKED_FD: i32 = 100;

const SYSTEM: &str = r#"
tick_us = 1000
clock_vector = 32
major_frame = 30

[[partition]]
name = "good"
catch_up = "replay"
timer_port = 0
health = { default = "ignore", trap = "cold_start", partition_error = "warm_start" }
[[partition.port]]
port = 0
source = "timer"

[[partition]]
name = "resizer"
catch_up = "replay"
timer_port = 0
health = { default = "ignore", trap = "cold_start", partition_error = "warm_start" }
[[partition.port]]
port = 0
source = "timer"

[[partition]]
name = "flooder"
catch_up = "replay"
timer_port = 0
health = { default = "ignore", trap = "cold_start", partition_error = "warm_start" }
[[partition.port]]
port = 0
source = "timer"

[[window]]
partition = "good"
start = 0
length = 8

[[window]]
partition = "resizer"
start = 10
length = 8

[[window]]
partition = "flooder"
start = 20
length = 8
"#;

fn main() -> ExitCode {
    selfhost::main(
        "hosted_hostile_partitions_cannot_hurt_the_runner",
        |p| match p {
            "1" => Some(resize()),
            "2" => Some(flood()),
            _ => None,
        },
        hosted_hostile_partitions_cannot_hurt_the_runner,
    )
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Partition 1's attacks on its region memfd (descriptor 3).
fn resize() -> ExitCode {
    let mut worked = 0u8;
    for (bit, len) in [(2, REGION_LEN as libc::off_t * 2), (1, 0)] {
        // SAFETY: an attack on a descriptor this process holds; refused by the seals.
        if unsafe { libc::ftruncate(3, len) } == 0 || errno() != libc::EPERM {
            worked |= bit;
        }
    }
    // SAFETY: as above; F_SEAL_SEAL refuses any new seal.
    if unsafe { libc::fcntl(3, libc::F_ADD_SEALS, libc::F_SEAL_WRITE) } == 0 {
        worked |= 4;
    }
    // SAFETY: F_GETFD only reads a descriptor's flags (or fails: not open).
    if (5..1024).any(|fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0) {
        worked |= 8;
    }
    ExitCode::from(worked)
}

/// Partition 2: calls sent, answers never read; then sleeps until killed.
fn flood() -> ExitCode {
    // A legal call (an illegal one is answered too, and logged as such).
    let call = encode_request::<1>(&Request::ReadClock);
    let words = [call.number, call.args[0], call.args[1], call.args[2], call.args[3]];
    for _ in 0..1000 {
        // SAFETY: `words` is valid for its length in bytes.
        let sent = unsafe {
            libc::send(4, words.as_ptr().cast(), std::mem::size_of_val(&words), libc::MSG_NOSIGNAL)
        };
        if sent < 0 {
            break;
        }
    }
    loop {
        // SAFETY: plain system call.
        unsafe { libc::pause() };
    }
}

fn assert_clean(p: &PartitionSummary) {
    assert_eq!(p.restarts, 0, "{}", show(p));
    assert_eq!(p.hm_events, 0, "{}", show(p));
    assert_eq!(p.drift, 0, "{}", show(p));
    assert_eq!(p.lost, 0, "{}", show(p));
    assert!(p.guest_time > 0, "{}", show(p));
    assert!(p.in_flight <= 30, "{}", show(p));
}

fn hosted_hostile_partitions_cannot_hurt_the_runner() {
    // A descriptor without close-on-exec, which the partitions must not inherit.
    // SAFETY: plain system call; the new descriptor is this process's.
    let leaked = unsafe { libc::fcntl(0, libc::F_DUPFD, LEAKED_FD) };
    assert!(leaked >= LEAKED_FD, "a descriptor to leak");
    let started = Instant::now();
    let summary = selfhost::run(SYSTEM, 10, false);
    assert!(started.elapsed() < Duration::from_secs(20), "the runner never waited on them");
    assert_eq!(summary.frames, 10);
    assert!(!summary.interrupted);
    let [good, resizer, flooder] = &summary.partitions[..] else { panic!("three partitions") };
    assert_clean(good);
    // The resizer got nowhere: each of its processes exited with status 0 (every
    // attack refused), declared to its health monitor, which restarted it.
    assert!(resizer.restarts > 0, "{}", show(resizer));
    assert!(resizer.hm_events > 0, "{}", show(resizer));
    only(resizer, "WarmStart", 0x200);
    // The flooder was cut off (killed, declared misbehaving) and restarted, each time.
    assert!(flooder.restarts > 0, "{}", show(flooder));
    assert!(flooder.hm_events > 0, "{}", show(flooder));
    only(flooder, "WarmStart", u64::from(MISBEHAVED));
    // SAFETY: closes a descriptor of this process.
    unsafe { libc::close(leaked) };
}
