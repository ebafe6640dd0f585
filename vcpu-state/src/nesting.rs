//! How deep upcalls may nest.

use crate::error::Error;

/// Deepest upcall nesting a [`Nesting`] may allow.
pub const MAX_NESTING: u8 = 8;

/// How many upcalls may be in progress at once. [`Nesting::NONE`] (the default) allows
/// one: no upcall is injected while the guest is inside its handler, even if the handler
/// re-enabled interrupts; the next one comes at return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nesting(u8);

impl Nesting {
    /// One upcall at a time.
    pub const NONE: Self = Self(1);

    /// At most `max_depth` upcalls in progress, from 1 (no nesting) to [`MAX_NESTING`].
    ///
    /// # Errors
    /// [`Error::NestingOutOfRange`] for 0 or more than [`MAX_NESTING`].
    pub const fn bounded(max_depth: u8) -> Result<Self, Error> {
        if max_depth == 0 || max_depth > MAX_NESTING {
            Err(Error::NestingOutOfRange { requested: max_depth })
        } else {
            Ok(Self(max_depth))
        }
    }

    /// Most upcalls in progress at once.
    #[must_use]
    pub const fn max_depth(self) -> u8 {
        self.0
    }
}

impl Default for Nesting {
    fn default() -> Self {
        Self::NONE
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_NESTING, Nesting};
    use crate::error::Error;

    #[test]
    fn depth_is_bounded() {
        assert_eq!(Nesting::default().max_depth(), 1);
        assert_eq!(Nesting::bounded(0), Err(Error::NestingOutOfRange { requested: 0 }));
        assert_eq!(Nesting::bounded(MAX_NESTING).map(Nesting::max_depth), Ok(MAX_NESTING));
        assert_eq!(
            Nesting::bounded(MAX_NESTING + 1),
            Err(Error::NestingOutOfRange { requested: MAX_NESTING + 1 })
        );
    }
}
