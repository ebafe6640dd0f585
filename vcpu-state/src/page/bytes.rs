//! The page as raw bytes: what an adapter that copies a guest's page (rather than maps
//! it) moves, and exactly what a guest that scribbles over the page produces.

use super::{PAGE_LEN, SharedPage};
use crate::sync::Ordering;

impl SharedPage {
    /// Stores `bytes` over the whole page, field by field in native byte order: exactly
    /// what a guest that writes arbitrary bytes over the page leaves behind. Adapters that
    /// copy a guest's page rather than map it use this too.
    pub fn write_bytes(&self, bytes: &[u8; PAGE_LEN]) {
        let u32_at = |at: usize| {
            let mut b = [0; 4];
            b.copy_from_slice(&bytes[at..at + 4]);
            u32::from_ne_bytes(b)
        };
        let u64_at = |at: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_ne_bytes(b)
        };
        self.version.store(u32_at(Self::VERSION_OFFSET), Ordering::Relaxed);
        self.upcall_mask.store(bytes[Self::UPCALL_MASK_OFFSET], Ordering::Relaxed);
        self.upcall_pending.store(bytes[Self::UPCALL_PENDING_OFFSET], Ordering::Relaxed);
        self.upcall_depth.store(bytes[Self::UPCALL_DEPTH_OFFSET], Ordering::Relaxed);
        self.start_reason.store(bytes[Self::START_REASON_OFFSET], Ordering::Relaxed);
        self.isr_level.store(u32_at(Self::ISR_LEVEL_OFFSET), Ordering::Relaxed);
        self.start_cause.store(u32_at(Self::START_CAUSE_OFFSET), Ordering::Relaxed);
        self.clock_now.store(u64_at(Self::CLOCK_NOW_OFFSET), Ordering::Relaxed);
        self.clock_given.store(u64_at(Self::CLOCK_GIVEN_OFFSET), Ordering::Relaxed);
        self.clock_dropped.store(u64_at(Self::CLOCK_DROPPED_OFFSET), Ordering::Relaxed);
        self.window_end.store(u64_at(Self::WINDOW_END_OFFSET), Ordering::Relaxed);
        self.entries.store(u64_at(Self::ENTRIES_OFFSET), Ordering::Relaxed);
        self.reserved.store(u64_at(Self::RESERVED_OFFSET), Ordering::Release);
    }

    /// The page as bytes, field by field in native byte order (the inverse of
    /// [`write_bytes`](Self::write_bytes)).
    #[must_use]
    pub fn to_bytes(&self) -> [u8; PAGE_LEN] {
        let mut out = [0; PAGE_LEN];
        let mut put = |at: usize, b: &[u8]| out[at..at + b.len()].copy_from_slice(b);
        put(Self::VERSION_OFFSET, &self.version.load(Ordering::Acquire).to_ne_bytes());
        put(Self::UPCALL_MASK_OFFSET, &[self.upcall_mask.load(Ordering::Acquire)]);
        put(Self::UPCALL_PENDING_OFFSET, &[self.upcall_pending.load(Ordering::Acquire)]);
        put(Self::UPCALL_DEPTH_OFFSET, &[self.upcall_depth.load(Ordering::Acquire)]);
        put(Self::START_REASON_OFFSET, &[self.start_reason.load(Ordering::Acquire)]);
        put(Self::ISR_LEVEL_OFFSET, &self.isr_level.load(Ordering::Acquire).to_ne_bytes());
        put(Self::START_CAUSE_OFFSET, &self.start_cause.load(Ordering::Acquire).to_ne_bytes());
        put(Self::CLOCK_NOW_OFFSET, &self.clock_now.load(Ordering::Acquire).to_ne_bytes());
        put(Self::CLOCK_GIVEN_OFFSET, &self.clock_given.load(Ordering::Acquire).to_ne_bytes());
        put(Self::CLOCK_DROPPED_OFFSET, &self.clock_dropped.load(Ordering::Acquire).to_ne_bytes());
        put(Self::WINDOW_END_OFFSET, &self.window_end.load(Ordering::Acquire).to_ne_bytes());
        put(Self::ENTRIES_OFFSET, &self.entries.load(Ordering::Acquire).to_ne_bytes());
        put(Self::RESERVED_OFFSET, &self.reserved.load(Ordering::Acquire).to_ne_bytes());
        out
    }
}
