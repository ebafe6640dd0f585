//! The device: a generator thread sending UDP datagrams on loopback at a jittered
//! rate, each carrying a sequence number, to a socket the runner polls. Each datagram
//! the runner takes is one interrupt on the device's line; a gap in the sequence is a
//! packet lost before the kernel saw it.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Device;

/// The runner's side of the device.
#[derive(Debug)]
pub struct DeviceLine {
    /// The socket the runner reads (non-blocking).
    pub socket: UdpSocket,
    /// The line's vector.
    pub vector: u8,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    /// Packets taken.
    pub received: u64,
    /// Packets missing from the sequence.
    pub lost: u64,
    next_seq: u64,
}

/// A small xorshift generator for the jitter (no dependency, seeded from the clock).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

impl DeviceLine {
    /// Binds the runner's socket and starts the generator.
    ///
    /// # Errors
    /// The sockets could not be made.
    pub fn start(device: Device) -> std::io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_nonblocking(true)?;
        let target = socket.local_addr()?;
        let sender = UdpSocket::bind("127.0.0.1:0")?;
        // Connected to the generator: the kernel drops a datagram from any other socket,
        // so a process that finds the port (any process of the user can, in
        // /proc/net/udp) cannot forge interrupts.
        socket.connect(sender.local_addr()?)?;
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (stop2, sent2) = (Arc::clone(&stop), Arc::clone(&sent));
        let thread = std::thread::Builder::new().name("udp-device".into()).spawn(move || {
            let mut rng = crate::sys::monotonic_ns() | 1;
            let mut seq = 0u64;
            while !stop2.load(Ordering::Acquire) {
                let jitter = if device.jitter_us == 0 {
                    0
                } else {
                    next(&mut rng) % (2 * device.jitter_us + 1)
                };
                let us = (device.mean_interval_us + jitter).saturating_sub(device.jitter_us).max(1);
                std::thread::sleep(Duration::from_micros(us));
                if sender.send_to(&seq.to_ne_bytes(), target).is_ok() {
                    seq += 1;
                    sent2.store(seq, Ordering::Release);
                }
            }
        })?;
        Ok(Self {
            socket,
            vector: device.vector,
            stop,
            sent,
            thread: Some(thread),
            received: 0,
            lost: 0,
            next_seq: 0,
        })
    }

    /// Takes one datagram if one is waiting; `true` if it did.
    pub fn take(&mut self) -> bool {
        let mut buf = [0u8; 8];
        match self.socket.recv(&mut buf) {
            Ok(8) => {
                let seq = u64::from_ne_bytes(buf);
                self.lost = self.lost.saturating_add(seq.saturating_sub(self.next_seq));
                self.next_seq = self.next_seq.max(seq.saturating_add(1));
                self.received += 1;
                true
            }
            Ok(_) => true,
            Err(_) => false,
        }
    }

    /// Stops the generator; returns the packets it sent.
    pub fn stop(&mut self) -> u64 {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.sent.load(Ordering::Acquire)
    }

    /// Packets the generator sent so far.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }
}

impl Drop for DeviceLine {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
