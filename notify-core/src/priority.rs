//! Priority levels (see [`PriorityLevel`] for what they do): their validation, and why
//! they are contiguous ranges.
//!
//! The lookup stays O(1) (see `partition/index.rs` and `partition/round_robin.rs`): the
//! lowest ready bit overall gives the highest-priority level with something deliverable;
//! inside it, the search from the cursor to the level's end follows the summary word, and
//! the wrap needs no search at all, because the lowest ready port of the partition is the
//! first ready port of the level from its start.
//!
//! Why contiguous ranges rather than a priority per port (Xen's FIFO ABI gives each event
//! channel one of 16 priorities): a port's priority is already its number here, and the
//! ready index is ordered by number. With ranges, the lowest ready bit still finds the
//! highest ready level and the level's ports are one run of ready bits; a priority per
//! port would need a ready index per level (16 summary words and 16 sets of ready words
//! per partition) to stay O(1). A partition that wants a set of ports at one priority
//! numbers them next to each other.

use crate::partition::PortConfigError;

/// Most priority levels a partition may have (as many as Xen's FIFO event-channel ABI).
pub const MAX_PRIORITY_LEVELS: usize = 16;

/// One priority level of a partition: ports `start..end` share a priority and are served
/// round-robin.
///
/// Without levels, a partition's ports are served in strict priority order, the lowest
/// number first: every port is a level of its own, and a port raised again as soon as it
/// is acknowledged keeps every port above it waiting. A partition's configuration may
/// group ports into up to [`MAX_PRIORITY_LEVELS`] levels, each a contiguous range of ports,
/// in increasing order and not overlapping:
///
/// * **Between levels, priority stays strict** and follows the port numbers: a level is
///   served before every port above its range and after every port below it. A port
///   outside every level is a level of its own, so the default (no level configured) is
///   exactly the fixed priority of the lowest port first.
/// * **Inside a level, ports are served round-robin**: each level has a cursor, the port
///   after the one of the level last taken into service
///   ([`begin_service`](crate::PartitionEvents::begin_service)); the level's next port is
///   the first deliverable one from the cursor to the level's end, else (wrapping) from
///   its start. So a port that stays deliverable in a level of `n` ports is taken into
///   service within `n` deliveries of its level, however busy the others are.
///
/// [`next_deliverable`](crate::PartitionEvents::next_deliverable) stays O(1).
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

/// The level `port` belongs to, if any.
pub(crate) const fn level_of(levels: &[PriorityLevel], port: u16) -> Option<usize> {
    let mut level = 0;
    while level < levels.len() {
        if levels[level].contains(port) {
            return Some(level);
        }
        level += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{MAX_PRIORITY_LEVELS, PriorityLevel, level_of, validate};
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

    #[test]
    fn a_port_belongs_to_the_level_whose_range_holds_it() {
        let levels = [PriorityLevel::new(2, 4), PriorityLevel::new(4, 5)];
        let found: [Option<usize>; 6] = core::array::from_fn(|p| level_of(&levels, p as u16));
        assert_eq!(found, [None, None, Some(0), Some(0), Some(1), None]);
    }
}
