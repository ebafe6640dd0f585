//! For the `hosted_` tests: a partition's figures in a failure message, and the check
//! that all its health-monitor records are one kind of process end.
#![allow(dead_code, reason = "each test file uses a part of this")]

use irq_hosted::runner::summary::PartitionSummary;

/// A partition's figures (its health-monitor records summed up: there can be many).
pub(crate) fn show(p: &PartitionSummary) -> String {
    format!("{p:?}")
}

/// Every health-monitor record of `p` is a `PartitionError` with `detail`, answered by
/// `action`.
pub(crate) fn only(p: &PartitionSummary, action: &str, detail: u64) {
    let [count] = &p.hm_counts[..] else { panic!("one kind of record: {}", show(p)) };
    let seen = (count.kind.as_str(), count.action.as_str(), count.count);
    assert_eq!(seen, ("PartitionError", action, p.hm_events), "{}", show(p));
    assert_eq!((&count.details[..], count.details_more), (&[detail][..], false), "{}", show(p));
    assert!(!p.hm_last.is_empty() && p.hm_last.iter().all(|e| e.detail == detail), "{}", show(p));
}
