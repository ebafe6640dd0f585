//! Seeded random streams. Each concern (the scheduler, the devices, the storm, the faults,
//! each guest) draws from a stream of its own, derived from the scenario's seed, so that
//! turning one of them off (the storm, for the comparison run) leaves the others' draws
//! where they were.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One stream.
#[derive(Clone, Debug)]
pub(crate) struct Stream(ChaCha8Rng);

impl Stream {
    /// Stream number `stream` of `seed`.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Self(rng)
    }

    /// A number below `n` (0 if `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.0.random_range(0..n) }
    }

    /// True with probability `permille / 1000`.
    pub(crate) fn permille(&mut self, permille: u16) -> bool {
        permille > 0 && self.below(1000) < u64::from(permille)
    }

    /// Any 64-bit number.
    pub(crate) fn word(&mut self) -> u64 {
        self.0.random()
    }
}

/// Stream numbers.
pub(crate) mod id {
    pub(crate) const SCENARIO: u64 = 1;
    pub(crate) const SCHEDULER: u64 = 2;
    pub(crate) const DEVICES: u64 = 3;
    pub(crate) const STORM: u64 = 4;
    pub(crate) const FAULTS: u64 = 5;
    pub(crate) const IPI: u64 = 6;
    /// Guest `p` draws from `GUEST + p`.
    pub(crate) const GUEST: u64 = 16;
}
