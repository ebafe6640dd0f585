//! Priority levels: contiguous ranges of a partition's ports that share one priority,
//! as the configuration gives them, and their validation.
//!
//! A partition's configuration may group its ports into up to [`MAX_PRIORITY_LEVELS`]
//! levels, each a contiguous range of ports `start..end`, in increasing order and not
//! overlapping; a port outside every level is a level of its own. The tables keep them
//! but do not use them yet: every port is still served in the order of its number, the
//! lowest first (which is also what a table without levels will keep doing).

use crate::partition::PortConfigError;

/// Most priority levels a partition may have (as many as Xen's FIFO event-channel ABI).
pub const MAX_PRIORITY_LEVELS: usize = 16;

/// One priority level of a partition: ports `start..end` share a priority. Up to
/// [`MAX_PRIORITY_LEVELS`] per partition, in increasing order and not overlapping; a port
/// outside every level is a level of its own. (Configuration only so far: the tables
/// still serve every port in the order of its number.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PriorityLevel {
    /// First port of the level.
    pub start: u16,
    /// One past its last port.
    pub end: u16,
}

impl PriorityLevel {
    /// The level of ports `start..end`.
    pub const fn new(start: u16, end: u16) -> Self {
        Self { start, end }
    }

    /// Whether `port` belongs to this level.
    pub const fn contains(self, port: u16) -> bool {
        self.start <= port && port < self.end
    }
}

/// Checks a partition's levels for a table of `ports` ports.
pub(crate) const fn validate(
    levels: &[PriorityLevel],
    ports: usize,
) -> Result<(), PortConfigError> {
    if levels.len() > MAX_PRIORITY_LEVELS {
        return Err(PortConfigError::TooManyLevels);
    }
    let mut level = 0;
    while level < levels.len() {
        let this = levels[level];
        if this.start >= this.end || this.end as usize > ports {
            return Err(PortConfigError::LevelRange { level });
        }
        if level > 0 && this.start < levels[level - 1].end {
            return Err(PortConfigError::LevelOrder { level });
        }
        level += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{MAX_PRIORITY_LEVELS, PriorityLevel, validate};
    use crate::partition::PortConfigError;

    #[test]
    fn levels_must_be_non_empty_in_range_increasing_and_at_most_16() {
        let l = PriorityLevel::new;
        assert_eq!(validate(&[], 64), Ok(()));
        assert_eq!(validate(&[l(0, 64)], 64), Ok(()));
        assert_eq!(validate(&[l(0, 2), l(2, 4), l(10, 11)], 64), Ok(()));
        assert_eq!(validate(&[l(0, 65)], 64), Err(PortConfigError::LevelRange { level: 0 }));
        assert_eq!(
            validate(&[l(0, 2), l(5, 5)], 64),
            Err(PortConfigError::LevelRange { level: 1 })
        );
        assert_eq!(
            validate(&[l(0, 2), l(6, 5)], 64),
            Err(PortConfigError::LevelRange { level: 1 })
        );
        assert_eq!(
            validate(&[l(0, 4), l(3, 8)], 64),
            Err(PortConfigError::LevelOrder { level: 1 })
        );
        assert_eq!(
            validate(&[l(8, 9), l(0, 4)], 64),
            Err(PortConfigError::LevelOrder { level: 1 })
        );
        let many: [PriorityLevel; MAX_PRIORITY_LEVELS + 1] =
            core::array::from_fn(|i| l(i as u16, i as u16 + 1));
        assert_eq!(validate(&many[..MAX_PRIORITY_LEVELS], 64), Ok(()));
        assert_eq!(validate(&many, 64), Err(PortConfigError::TooManyLevels));
    }
}
