//! The partitions' console: their lines go to stderr through a bounded queue and a thread
//! of their own, so a stalled stderr (a pipe nobody reads, a terminal on hold) never
//! blocks the runner. A line that does not fit in the queue is dropped and counted.

use std::io::Write;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

/// Lines waiting for stderr, at most.
pub const QUEUE: usize = 256;

/// The console's writing end.
#[derive(Debug)]
pub struct Console {
    queue: Option<SyncSender<String>>,
    /// Lines dropped because the queue was full (stderr not keeping up).
    pub dropped: u64,
}

impl Console {
    /// A console writing to stderr (the writer thread starts with the first line).
    #[must_use]
    pub const fn new() -> Self {
        Self { queue: None, dropped: 0 }
    }

    /// Queues `line` for stderr; drops and counts it if the queue is full. Never blocks.
    pub fn line(&mut self, mut line: String) {
        line.push('\n');
        self.text(line);
    }

    /// Queues `text` for stderr as it is (no newline added); drops and counts it if the
    /// queue is full. Never blocks.
    pub fn text(&mut self, text: String) {
        let queue = match &self.queue {
            Some(queue) => queue,
            None => {
                let (queue, texts) = sync_channel::<String>(QUEUE);
                let writer = std::thread::Builder::new().name("console".into()).spawn(move || {
                    for text in texts {
                        // A failed write (stderr closed) drops the text: nothing to do.
                        let _ = std::io::stderr().lock().write_all(text.as_bytes());
                    }
                });
                if writer.is_err() {
                    self.dropped += 1;
                    return;
                }
                self.queue.insert(queue)
            }
        };
        match queue.try_send(text) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped += 1,
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}
