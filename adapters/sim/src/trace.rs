//! What a run did: a hash of every event (for determinism: the same scenario gives the
//! same hash) and, when asked for, the readable lines.

/// The trace of a run.
#[derive(Clone, Debug)]
pub(crate) struct Trace {
    hash: u64,
    lines: Option<Vec<String>>,
}

impl Trace {
    /// A trace that keeps its lines if `readable`.
    pub(crate) fn new(readable: bool) -> Self {
        Self { hash: 0xcbf2_9ce4_8422_2325, lines: readable.then(Vec::new) }
    }

    /// Mixes `words` into the hash (FNV-1a over 64-bit words).
    pub(crate) fn mix(&mut self, words: &[u64]) {
        for &w in words {
            self.hash = (self.hash ^ w).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Whether lines are kept.
    pub(crate) fn readable(&self) -> bool {
        self.lines.is_some()
    }

    /// Keeps `line` (if lines are kept).
    pub(crate) fn push(&mut self, line: String) {
        if let Some(lines) = &mut self.lines {
            lines.push(line);
        }
    }

    /// The hash so far.
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// The lines kept.
    pub(crate) fn into_lines(self) -> Vec<String> {
        self.lines.unwrap_or_default()
    }
}

/// Notes an event in the state's trace: words for the hash, and a line formatted only
/// when lines are kept.
macro_rules! note {
    ($st:expr, [$($w:expr),* $(,)?], $($fmt:tt)+) => {{
        let st = &mut *$st;
        st.trace.mix(&[st.step, $($w as u64),*]);
        if st.trace.readable() {
            let line = format!("{:>7} t={:<4} {}", st.step, st.time, format!($($fmt)+));
            st.trace.push(line);
        }
    }};
}

pub(crate) use note;
