//! Which ports keep a latest context (and a handler entry), and where: the context slots.
//!
//! A table of `64 * W` ports has `64 * CW` slots (`CW` from 0 to `W`, `W` by default: a
//! slot for every port, as before slots existed). A slot holds a port's latest context
//! and its handler entry (40 bytes); a port without one keeps neither: its events are
//! counted and delivered all the same, through the partition's upcall entry, with no
//! context.
//!
//! Which ports have a slot is fixed by the configuration: with a slot for every port
//! (`CW == W`) every port but those configured
//! [`without_context`](crate::PortConfig::without_context); with fewer (`CW < W`) the
//! configured ports that keep a context ([`PortConfig::keep_context`](crate::PortConfig),
//! the default of [`PortConfig::new`](crate::PortConfig::new)), and no other port (a
//! port bound at run time keeps none). The slots go to those ports in port order: the
//! slot of a port is its rank among them, found in O(1) from a bitmap of the ports with a
//! slot (one word per 64 ports) and, per word, the number of slots taken by the words
//! before it. 10 bytes per 64 ports; no loop, no search. With a slot for every port the
//! table uses each port's own slot (its number) and only tests its bit: the rank is the
//! same there but for the ports left without, whose slots stay unused.

use crate::binding::PortConfig;
use crate::id::PORTS_PER_WORD;

use super::PortConfigError;

/// The ports with a slot, and the rank of each word's first one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SlotIndex<const W: usize> {
    /// Bit `b` of word `w` set: port `64 * w + b` has a slot.
    map: [u64; W],
    /// Slots taken by the ports of words `0..w`.
    base: [u16; W],
}

impl<const W: usize> SlotIndex<W> {
    /// No port has a slot.
    pub(super) const EMPTY: Self = Self { map: [0; W], base: [0; W] };

    /// The slots of a table of `64 * W` ports with `slots` of them, for `config`
    /// (validated but for the slots: a port in range, configured once).
    ///
    /// # Errors
    /// [`PortConfigError::TooManyContexts`] naming the first entry that keeps a context
    /// and finds no slot left; [`PortConfigError::ContextWords`] if there are more slots
    /// than ports.
    pub(super) const fn build(
        config: &[PortConfig],
        slots: usize,
    ) -> Result<Self, PortConfigError> {
        let ports = W * PORTS_PER_WORD;
        if slots > ports {
            return Err(PortConfigError::ContextWords);
        }
        let mut map = [0u64; W];
        if slots == ports {
            // A slot for every port, but those configured without a context.
            let mut w = 0;
            while w < W {
                map[w] = u64::MAX;
                w += 1;
            }
        }
        let mut entry = 0;
        while entry < config.len() {
            let port = config[entry].port as usize;
            let (w, bit) = (port / PORTS_PER_WORD, 1u64 << (port % PORTS_PER_WORD));
            if config[entry].keep_context {
                map[w] |= bit;
            } else {
                map[w] &= !bit;
            }
            entry += 1;
        }
        let mut base = [0u16; W];
        let mut taken = 0usize;
        let mut w = 0;
        while w < W {
            base[w] = taken as u16;
            taken += map[w].count_ones() as usize;
            w += 1;
        }
        if taken > slots {
            // The entry that found no slot: the configured port of rank `slots`.
            let mut entry = 0;
            while entry < config.len() {
                let port = config[entry].port as usize;
                if let Some(rank) = Self::rank_in(&map, &base, port)
                    && config[entry].keep_context
                    && rank >= slots
                {
                    return Err(PortConfigError::TooManyContexts { entry });
                }
                entry += 1;
            }
            // Unreachable: with fewer slots than ports only configured ports take one.
            return Err(PortConfigError::ContextWords);
        }
        Ok(Self { map, base })
    }

    /// Whether `port` (below `64 * W`) has a slot.
    #[inline(always)]
    pub(super) const fn has(&self, port: usize) -> bool {
        self.map[port / PORTS_PER_WORD] & (1 << (port % PORTS_PER_WORD)) != 0
    }

    /// The slot of `port` (below `64 * W`), if it has one.
    #[inline(always)]
    pub(super) const fn rank(&self, port: usize) -> Option<usize> {
        Self::rank_in(&self.map, &self.base, port)
    }

    #[inline(always)]
    const fn rank_in(map: &[u64; W], base: &[u16; W], port: usize) -> Option<usize> {
        let (w, b) = (port / PORTS_PER_WORD, port % PORTS_PER_WORD);
        let word = map[w];
        if word & (1 << b) == 0 {
            return None;
        }
        // A word whose every port has a slot (a table with a slot per port) needs no
        // count: the port's place in the word is its rank in it.
        let below =
            if word == u64::MAX { b } else { (word & ((1 << b) - 1)).count_ones() as usize };
        Some(base[w] as usize + below)
    }

    /// Ports with a slot.
    pub(super) const fn len(&self) -> usize {
        let mut n = 0;
        let mut w = 0;
        while w < W {
            n += self.map[w].count_ones() as usize;
            w += 1;
        }
        n
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use proptest::prelude::{any, prop_assert_eq, proptest};

    use super::SlotIndex;
    use crate::PortConfigError;
    use crate::binding::{Binding, PortConfig, Source};

    fn port(p: u16, keep: bool) -> PortConfig {
        let c = PortConfig::new(p, Binding::counting(Source::Timer));
        if keep { c } else { c.without_context() }
    }

    #[test]
    fn a_slot_per_port_is_the_port_itself() {
        let index = SlotIndex::<2>::build(&[], 128).unwrap();
        for p in 0..128 {
            assert_eq!(index.rank(p), Some(p));
        }
        assert_eq!(index.len(), 128);
    }

    #[test]
    fn a_port_configured_without_context_has_no_slot_even_with_one_for_every_port() {
        let config = [port(3, false), port(70, true)];
        let index = SlotIndex::<2>::build(&config, 128).unwrap();
        assert_eq!(index.rank(3), None);
        assert_eq!(index.rank(2), Some(2));
        assert_eq!(index.rank(4), Some(3), "the ranks close up");
        assert_eq!(index.rank(70), Some(69));
        assert_eq!(index.len(), 127);
    }

    #[test]
    fn fewer_slots_go_to_the_configured_ports_in_port_order() {
        let config = [port(100, true), port(5, true), port(6, false), port(64, true)];
        let index = SlotIndex::<2>::build(&config, 64).unwrap();
        assert_eq!(index.rank(5), Some(0));
        assert_eq!(index.rank(64), Some(1));
        assert_eq!(index.rank(100), Some(2));
        for p in [0, 6, 7, 63, 65, 127] {
            assert_eq!(index.rank(p), None, "port {p}");
        }
        let none = SlotIndex::<1>::build(&[port(1, false)], 0).unwrap();
        assert_eq!((none.rank(1), none.rank(0), none.len()), (None, None, 0));
    }

    #[test]
    fn too_few_slots_name_the_first_entry_left_without_one() {
        // No slot: the first entry keeping a context is refused.
        let config = [port(9, false), port(2, true)];
        assert_eq!(
            SlotIndex::<1>::build(&config, 0),
            Err(PortConfigError::TooManyContexts { entry: 1 })
        );
        // One slot over ports 2, 5 and 9: port 2 takes it; entry 1 (port 9) is the first
        // entry, in configuration order, left without one.
        let config = [port(2, true), port(9, true), port(5, true)];
        assert_eq!(
            SlotIndex::<1>::build(&config, 1),
            Err(PortConfigError::TooManyContexts { entry: 1 })
        );
        // With 64 slots over 128 ports, 65 ports keeping one: the 65th in port order.
        let many: Vec<_> = (0..65).map(|p| port(127 - p, true)).collect();
        assert_eq!(
            SlotIndex::<2>::build(&many, 64),
            Err(PortConfigError::TooManyContexts { entry: 0 })
        );
        assert_eq!(SlotIndex::<1>::build(&[], 128), Err(PortConfigError::ContextWords));
    }

    proptest! {
        /// The rank found in O(1) is the port's place among the ports with a slot, counted
        /// one by one; every slot is used once.
        #[test]
        fn rank_is_the_count_of_slotted_ports_below(
            keeps in proptest::collection::vec((0u16..256, any::<bool>()), 0..300),
            full in any::<bool>(),
        ) {
            let mut seen = [false; 256];
            let config: Vec<_> = keeps
                .into_iter()
                .filter(|&(p, _)| !core::mem::replace(&mut seen[usize::from(p)], true))
                .map(|(p, keep)| port(p, keep))
                .collect();
            let slotted = |p: usize| match config.iter().find(|c| usize::from(c.port) == p) {
                Some(c) => c.keep_context,
                None => full,
            };
            let wanted = (0..256).filter(|&p| slotted(p)).count();
            let slots = if full { 256 } else { wanted };
            let index = SlotIndex::<4>::build(&config, slots).unwrap();
            prop_assert_eq!(index.len(), wanted);
            let mut next = 0;
            for p in 0..256 {
                if slotted(p) {
                    prop_assert_eq!(index.rank(p), Some(next));
                    next += 1;
                } else {
                    prop_assert_eq!(index.rank(p), None);
                }
            }
            if !full && wanted > 0 {
                let short = SlotIndex::<4>::build(&config, wanted - 1);
                let last = (0..256).rev().find(|&p| slotted(p)).unwrap();
                let entry = config.iter().position(|c| usize::from(c.port) == last).unwrap();
                prop_assert_eq!(short, Err(PortConfigError::TooManyContexts { entry }));
            }
        }
    }
}
