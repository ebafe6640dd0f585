//! A partition that finds the device's UDP socket (through `/proc/net/udp`, as any process
//! of the same user can) and sends it forged packets: `u64::MAX` as a sequence number,
//! over and over. The device line takes packets from its generator alone, so nothing
//! forged becomes an interrupt or a count: no packet is counted lost, none more received
//! than sent, and the partitions sharing the line see only the real ones.
//!
//! This test binary is also the partition program of the run it makes (see
//! `common/selfhost.rs`): the real partition program as partitions 0 and 1, the forger as 2.

#[path = "common/selfhost.rs"]
mod selfhost;

use std::net::UdpSocket;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const SYSTEM: &str = r#"
tick_us = 1000
clock_vector = 32
major_frame = 30

[[partition]]
name = "io-a"
catch_up = "replay"
timer_port = 0
health = { default = "ignore" }
[[partition.port]]
port = 0
source = "timer"
[[partition.port]]
port = 1
source = { line = 40 }

[[partition]]
name = "io-b"
catch_up = "replay"
timer_port = 0
health = { default = "ignore" }
[[partition.port]]
port = 0
source = "timer"
[[partition.port]]
port = 1
source = { line = 40 }

[[partition]]
name = "forger"
catch_up = "replay"
timer_port = 0
health = { default = "ignore" }
[[partition.port]]
port = 0
source = "timer"

[[window]]
partition = "io-a"
start = 0
length = 8

[[window]]
partition = "io-b"
start = 10
length = 8

[[window]]
partition = "forger"
start = 20
length = 8

[[route]]
vector = 40
sharing = "shared"
trigger = "edge"
targets = [{ partition = "io-a", port = 1 }, { partition = "io-b", port = 1 }]

[device]
vector = 40
mean_interval_us = 4000
jitter_us = 1000
"#;

fn main() -> ExitCode {
    selfhost::main(
        "hosted_forged_device_packets_are_not_interrupts",
        |p| (p == "2").then(forge),
        hosted_forged_device_packets_are_not_interrupts,
    )
}

/// The UDP ports bound on 127.0.0.1, from `/proc/net/udp`.
fn loopback_udp_ports() -> Vec<u16> {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter_map(|local| local.strip_prefix("0100007F:"))
        .filter_map(|port| u16::from_str_radix(port, 16).ok())
        .collect()
}

/// Sends `u64::MAX` to every loopback UDP port, whenever it runs, for a few seconds.
fn forge() -> ExitCode {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else { return ExitCode::FAILURE };
    let forged = u64::MAX.to_ne_bytes();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        for port in loopback_udp_ports() {
            let _ = socket.send_to(&forged, ("127.0.0.1", port));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // Then it only waits (its window is its own business).
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn hosted_forged_device_packets_are_not_interrupts() {
    let summary = selfhost::run(SYSTEM, 60, false);
    let device = &summary.device;
    assert!(device.packets_sent > 0, "{device:?}");
    assert_eq!(device.packets_lost, 0, "forged sequence numbers counted as lost: {device:?}");
    assert!(
        device.packets_received <= device.packets_sent,
        "forged packets taken as interrupts: {device:?}"
    );
    for p in &summary.partitions[..2] {
        assert!(p.line_events <= device.packets_sent, "{p:?} {device:?}");
        assert_eq!((p.lost, p.drift, p.restarts), (0, 0, 0), "{p:?}");
    }
}
