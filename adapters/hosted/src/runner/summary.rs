//! The summary of a run, per partition: time (ticks given, guest time, drift),
//! interrupts (delivered, lost), latency (two figures: ticks delivered inside the
//! window, ticks delivered at the next entry), the health monitor (counts per kind and
//! action, the last few records). Printed as a table or as JSON with the same field
//! names; its size does not grow with the number of health-monitor records.
//!
//! Frames are numbered from 0 everywhere (frame `f` is ticks `f * major_frame` to
//! `(f + 1) * major_frame - 1`), as `--crash PARTITION@FRAME` and the picture number them.

use std::sync::atomic::Ordering;

use irq_router::config::HmKind;
use irq_router::events::{PartitionId, Port};
use irq_router::health::HmRecord;
use irq_router::hypercall::start_reason_from_value;
use irq_router::vcpu::{CatchUpPolicy, StartReason};
use serde::Serialize;

use super::adapter::Hosted;
use super::device::DeviceLine;
use super::isolation::Granted;
use super::run::{CpuStats, Engine};
use crate::config::System;
use crate::region::{Arrival, Region, SharedRegion};

/// Latency samples of each kind kept from a partition's earlier runs, at most (the first
/// ones): a partition that writes full sample buffers and dies at once costs the runner
/// this much memory whatever the number of its restarts.
pub const HARVESTED_SAMPLES: usize = 4 * crate::region::SAMPLES;

/// Health-monitor records shown per partition and for the module (the last ones).
pub const HM_LAST: usize = 5;

/// Distinct details listed per (kind, action) count (the first ones seen).
pub const HM_DETAILS: usize = 8;

/// Counters of a partition's earlier runs (before restarts), kept across them.
#[derive(Clone, Debug, Default)]
pub struct Harvest {
    line_events: u64,
    channel_received: u64,
    channel_sent: u64,
    pings_answered: u64,
    /// Latency samples per measured kind ([`Arrival::MEASURED`]).
    samples: [Vec<u64>; 2],
}

impl Harvest {
    /// Adds what a run of the partition published, before its region is cleared
    /// (saturating: the guest's words are whatever it wrote).
    pub fn add(&mut self, region: &Region) {
        let g = &region.guest;
        let add = |sum: &mut u64, word: &std::sync::atomic::AtomicU64| {
            *sum = sum.saturating_add(word.load(Ordering::Acquire));
        };
        add(&mut self.line_events, &g.line_events);
        add(&mut self.channel_received, &g.channel_received);
        add(&mut self.channel_sent, &g.channel_sent);
        add(&mut self.pings_answered, &g.pings_answered);
        for (kept, arrival) in self.samples.iter_mut().zip(Arrival::MEASURED) {
            let room = HARVESTED_SAMPLES.saturating_sub(kept.len());
            kept.extend(region.samples(arrival).into_iter().take(room));
        }
    }
}

/// The guest's time under warp from its counters: the ticks it handled, plus the ticks
/// the warp events carried, less one per warp event (saturating: any words at all).
#[must_use]
pub const fn warp_time(handled: u64, warp_delta: u64, warp_markers: u64) -> u64 {
    handled.saturating_add(warp_delta).saturating_sub(warp_markers)
}

/// `kernel_time - guest_time - in_flight`, computed without overflow whatever the
/// guest wrote, clamped to the `i64` range.
#[must_use]
pub fn drift(kernel_time: u64, guest_time: u64, in_flight: u64) -> i64 {
    let d = i128::from(kernel_time) - i128::from(guest_time) - i128::from(in_flight);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

/// One health-monitor record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HmEvent {
    /// Kernel tick.
    pub tick: u64,
    /// Its major frame (from 0).
    pub frame: u64,
    /// Kind.
    pub kind: String,
    /// Action taken.
    pub action: String,
    /// Kind-specific detail.
    pub detail: u64,
}

impl HmEvent {
    /// The record `r`, in a schedule of `major_frame` ticks.
    #[must_use]
    pub fn new(r: &HmRecord, major_frame: u64) -> Self {
        Self {
            tick: r.tick,
            frame: r.tick / major_frame.max(1),
            kind: format!("{:?}", r.kind),
            action: format!("{:?}", r.action),
            detail: r.detail,
        }
    }
}

/// How many health-monitor records had one (kind, action).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HmCount {
    /// Kind.
    pub kind: String,
    /// Action taken.
    pub action: String,
    /// Records.
    pub count: u64,
    /// Their distinct details, in the order first seen (at most [`HM_DETAILS`]).
    pub details: Vec<u64>,
    /// Some records had a detail not listed (more than [`HM_DETAILS`] distinct).
    pub details_more: bool,
}

/// The health-monitor records of one partition, or of the module: how many, how many of
/// each (kind, action), and the last [`HM_LAST`] (oldest first). Bounded whatever the
/// number of records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HmSummary {
    /// Records.
    pub events: u64,
    /// Per (kind, action), in the order first seen.
    pub counts: Vec<HmCount>,
    /// The last records, oldest first.
    pub last: Vec<HmEvent>,
}

impl HmSummary {
    /// The summary of `records` (in the order they were logged).
    pub fn of<'a>(records: impl Iterator<Item = &'a HmRecord>, major_frame: u64) -> Self {
        let mut summary = Self::default();
        let mut last = std::collections::VecDeque::with_capacity(HM_LAST);
        for r in records {
            summary.events = summary.events.saturating_add(1);
            let (kind, action) = (format!("{:?}", r.kind), format!("{:?}", r.action));
            let count =
                match summary.counts.iter().position(|c| c.kind == kind && c.action == action) {
                    Some(i) => &mut summary.counts[i],
                    None => {
                        summary.counts.push(HmCount {
                            kind,
                            action,
                            count: 0,
                            details: Vec::new(),
                            details_more: false,
                        });
                        let n = summary.counts.len();
                        &mut summary.counts[n - 1]
                    }
                };
            count.count = count.count.saturating_add(1);
            if !count.details.contains(&r.detail) {
                if count.details.len() < HM_DETAILS {
                    count.details.push(r.detail);
                } else {
                    count.details_more = true;
                }
            }
            if last.len() == HM_LAST {
                last.pop_front();
            }
            last.push_back(r);
        }
        summary.last = last.into_iter().map(|r| HmEvent::new(r, major_frame)).collect();
        summary
    }
}

/// One partition's line of the summary.
#[derive(Clone, Debug, Serialize)]
pub struct PartitionSummary {
    /// Name.
    pub name: String,
    /// Catch-up policy.
    pub catch_up: String,
    /// Ticks the kernel gave it since its last start.
    pub ticks_given: u64,
    /// Kernel ticks since its last start.
    pub kernel_time: u64,
    /// Its time as the guest counted it (the ticks its handler took; for warp,
    /// corrected by the warp events' deltas).
    pub guest_time: u64,
    /// Ticks given but not handled yet, or missed and not given yet (in flight).
    pub in_flight: u64,
    /// Ticks its catch-up policy dropped (collapse, bounded replay).
    pub dropped: u64,
    /// `kernel_time - guest_time - in_flight`: what the guest's clock lost. Equals
    /// `dropped` (zero with replay and warp).
    pub drift: i64,
    /// Events handed to the partition (acknowledged or taken).
    pub delivered: u64,
    /// Events lost (a counting port that saturated).
    pub lost: u64,
    /// Events discarded by a cold start (accounted for, in the health log).
    pub discarded: u64,
    /// Upcalls injected.
    pub upcalls: u64,
    /// Device-line events its handler acknowledged.
    pub line_events: u64,
    /// Channel events it received.
    pub channel_received: u64,
    /// Channel notifies it made.
    pub channel_sent: u64,
    /// Pings it answered.
    pub pings_answered: u64,
    /// Latency samples of clock ticks that found it inside its window (delivered at
    /// once): clock expiry to its handler running.
    pub in_window_samples: usize,
    /// Their median, microseconds.
    pub in_window_p50_us: f64,
    /// Their 99th percentile, microseconds.
    pub in_window_p99_us: f64,
    /// Latency samples of clock ticks delivered at its next entry (they arrived outside
    /// its window, or its window ended before its handler ran): the expiry of the tick
    /// that opened the window to its handler running.
    pub at_entry_samples: usize,
    /// Their median, microseconds.
    pub at_entry_p50_us: f64,
    /// Their 99th percentile, microseconds.
    pub at_entry_p99_us: f64,
    /// Times its process was started again.
    pub restarts: u64,
    /// Why its current process started, as the process itself read it (hypercall).
    pub start_reason: String,
    /// The same, as the process read it in its page.
    pub page_start_reason: String,
    /// Its health-monitor records.
    pub hm_events: u64,
    /// Its records per (kind, action).
    pub hm_counts: Vec<HmCount>,
    /// Its last records (at most [`HM_LAST`], oldest first).
    pub hm_last: Vec<HmEvent>,
    /// Its ARINC 653 mode at the end (`Normal`, `ColdStart`, `WarmStart`, or `Idle` if
    /// its health monitor stopped it).
    pub mode: String,
    /// The isolation it got: namespaces, uid, control groups.
    pub isolation: Granted,
}

/// The device line's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DeviceSummary {
    /// Packets the generator sent.
    pub packets_sent: u64,
    /// Packets taken as interrupts.
    pub packets_received: u64,
    /// Packets missing from the sequence.
    pub packets_lost: u64,
}

/// The whole summary.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Major frames run, numbered 0 to `frames - 1` (the last one only in part if the
    /// run was cut short: see `ticks`).
    pub frames: u64,
    /// Kernel ticks at the end.
    pub ticks: u64,
    /// Clock period, microseconds.
    pub tick_us: u64,
    /// The run was cut short by Ctrl-C.
    pub interrupted: bool,
    /// Per partition.
    pub partitions: Vec<PartitionSummary>,
    /// The device line.
    pub device: DeviceSummary,
    /// Health-monitor records of no partition (line storms).
    pub module_hm_events: u64,
    /// Those per (kind, action).
    pub module_hm_counts: Vec<HmCount>,
    /// The last of those (at most [`HM_LAST`], oldest first).
    pub module_hm_last: Vec<HmEvent>,
    /// Health-monitor records past the kernel log's limit: counted here only (in no
    /// count, last record or `hm_events` above).
    pub log_dropped: u64,
    /// Console lines dropped because stderr did not keep up (the runner never waits).
    pub console_dropped: u64,
    /// The health monitor stopped the module (the runner then exits with status 3).
    pub module_stopped: bool,
    /// What each CPU did.
    pub cpus: Vec<CpuSummary>,
}

/// One CPU's line of the summary.
#[derive(Clone, Debug, Serialize)]
pub struct CpuSummary {
    /// The CPU.
    pub cpu: usize,
    /// The host CPU its thread and partitions were pinned to (`None`: not pinned, one
    /// CPU).
    pub host_cpu: Option<usize>,
    /// Its partitions.
    pub partitions: Vec<String>,
    /// What it did: ticks, kicks sent and taken, device interrupts.
    #[serde(flatten)]
    pub stats: CpuStats,
}

/// `q`-quantile (0..1) of sorted `v`, in microseconds.
fn quantile_us(v: &[u64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    (v[i.min(v.len() - 1)] as f64 / 10.0).round() / 100.0
}

fn reason_text(value_plus_one: u64) -> String {
    let Some(value) = value_plus_one.checked_sub(1) else { return "unknown".to_owned() };
    match start_reason_from_value(value) {
        Some(StartReason::Fresh) => "fresh".to_owned(),
        Some(StartReason::ColdRestart { cause }) => format!("cold restart ({})", cause_text(cause)),
        Some(StartReason::WarmRestart { cause }) => format!("warm restart ({})", cause_text(cause)),
        None => format!("invalid {value:#x}"),
    }
}

fn cause_text(cause: u32) -> String {
    match cause.checked_sub(1).and_then(|c| HmKind::ALL.get(c as usize)) {
        Some(kind) => format!("{kind:?}"),
        None => "asked".to_owned(),
    }
}

fn policy_text(p: CatchUpPolicy) -> String {
    match p {
        CatchUpPolicy::Replay => "replay".to_owned(),
        CatchUpPolicy::Warp => "warp".to_owned(),
        CatchUpPolicy::Collapse => "collapse".to_owned(),
        CatchUpPolicy::BoundedReplay { max } => format!("bounded_replay({max})"),
    }
}

/// Builds the summary at the end of a run (every process stopped or finished).
#[allow(clippy::too_many_arguments, reason = "the pieces of the machine, once")]
#[must_use]
pub fn collect<const P: usize>(
    router: &Engine<P>,
    hosted: &Hosted,
    shared: &[SharedRegion],
    harvest: &[Harvest],
    restarts: &[u64],
    system: &System,
    device: Option<&DeviceLine>,
    interrupted: bool,
    granted: &[Granted],
) -> Summary {
    let end = hosted.now;
    let mut partitions = Vec::new();
    for p in 0..P {
        let Ok(pid) = PartitionId::<P>::new(p as u32) else { continue };
        let cpu = router.partition_cpu(pid);
        let time = cpu.time();
        let region = shared[p].region();
        let g = &region.guest;
        let k = &region.kernel;
        let table = router.events().partition(pid);
        let stats = table.stats();
        let timer_pending = system.partitions[p]
            .timer_port
            .and_then(|port| Port::<1>::new(u32::from(port)).ok())
            .map_or(0, |port| u64::from(table.status(port).pending));
        let handled = g.ticks_handled.load(Ordering::Acquire);
        let guest_time = if time.policy() == CatchUpPolicy::Warp {
            let delta = k.warp_delta.load(Ordering::Acquire);
            warp_time(handled, delta, k.warp_markers.load(Ordering::Acquire))
        } else {
            handled
        };
        let kernel_time = end.saturating_sub(time.epoch());
        let in_flight = timer_pending.saturating_add(time.missed_at(end).unwrap_or(0));
        let drift = drift(kernel_time, guest_time, in_flight);
        let h = &harvest[p];
        let [in_window, at_entry] = Arrival::MEASURED.map(|arrival| {
            let mut samples = arrival.ring().map_or_else(Vec::new, |i| h.samples[i].clone());
            samples.extend(region.samples(arrival));
            samples.sort_unstable();
            samples
        });
        let hm = HmSummary::of(
            hosted.log.iter().filter(|r| r.partition == Some(p as u16)),
            system.schedule.major_frame,
        );
        partitions.push(PartitionSummary {
            name: system.info[p].name.clone(),
            catch_up: policy_text(time.policy()),
            ticks_given: time.given(),
            kernel_time,
            guest_time,
            in_flight,
            dropped: time.dropped(),
            drift,
            delivered: stats.delivered,
            lost: stats.overflowed,
            discarded: stats.discarded,
            upcalls: hosted.upcalls[p],
            line_events: h.line_events.saturating_add(g.line_events.load(Ordering::Acquire)),
            channel_received: h
                .channel_received
                .saturating_add(g.channel_received.load(Ordering::Acquire)),
            channel_sent: h.channel_sent.saturating_add(g.channel_sent.load(Ordering::Acquire)),
            pings_answered: h
                .pings_answered
                .saturating_add(g.pings_answered.load(Ordering::Acquire)),
            in_window_samples: in_window.len(),
            in_window_p50_us: quantile_us(&in_window, 0.5),
            in_window_p99_us: quantile_us(&in_window, 0.99),
            at_entry_samples: at_entry.len(),
            at_entry_p50_us: quantile_us(&at_entry, 0.5),
            at_entry_p99_us: quantile_us(&at_entry, 0.99),
            restarts: restarts[p],
            start_reason: reason_text(g.start_reason.load(Ordering::Acquire)),
            page_start_reason: reason_text(g.page_start_reason.load(Ordering::Acquire)),
            hm_events: hm.events,
            hm_counts: hm.counts,
            hm_last: hm.last,
            mode: format!("{:?}", router.mode(pid)),
            isolation: granted.get(p).cloned().unwrap_or_default(),
        });
    }
    let device = device.map_or_else(DeviceSummary::default, |d| DeviceSummary {
        packets_sent: d.sent(),
        packets_received: d.received,
        packets_lost: d.lost,
    });
    let module = HmSummary::of(
        hosted.log.iter().filter(|r| r.partition.is_none()),
        system.schedule.major_frame,
    );
    Summary {
        frames: end.div_ceil(system.schedule.major_frame.max(1)),
        ticks: end,
        tick_us: system.tick_ns / 1000,
        interrupted,
        partitions,
        device,
        module_hm_events: module.events,
        module_hm_counts: module.counts,
        module_hm_last: module.last,
        log_dropped: hosted.log_dropped,
        console_dropped: hosted.console.dropped,
        module_stopped: hosted.stopped,
        cpus: Vec::new(),
    }
}

fn count_text(c: &HmCount) -> String {
    let details: Vec<String> = c.details.iter().map(u64::to_string).collect();
    let more = if c.details_more { " and more" } else { "" };
    let noun = if c.details.len() == 1 && !c.details_more { "detail" } else { "details" };
    format!("{} -> {} {} ({noun} {}{more})", c.kind, c.action, c.count, details.join(", "))
}

fn event_text(e: &HmEvent) -> String {
    format!(
        "tick {:>6} (frame {}) {} -> {} (detail {})",
        e.tick, e.frame, e.kind, e.action, e.detail
    )
}

/// The health-monitor lines of one partition or of the module: one per (kind, action),
/// then the last records (`prefix` names the fields: `hm` or `module_hm`).
fn hm_lines(out: &mut String, prefix: &str, counts: &[HmCount], last: &[HmEvent]) {
    use std::fmt::Write;
    for c in counts {
        let _ = writeln!(out, "  {prefix}_counts: {}", count_text(c));
    }
    for e in last {
        let _ = writeln!(out, "  {prefix}_last: {}", event_text(e));
    }
}

impl Summary {
    /// The summary as a table: one line per partition; the device; each partition's
    /// isolation; then, for each partition that was restarted, had health-monitor
    /// records or is not in `Normal` mode, its mode, start reason, a line per (kind,
    /// action) and its last [`HM_LAST`] records; then the module's. Its length does not
    /// depend on the number of records.
    #[must_use]
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} frames (0 to {}), {} ticks of {} us{}{}",
            self.frames,
            self.frames.saturating_sub(1),
            self.ticks,
            self.tick_us,
            if self.interrupted { " (interrupted)" } else { "" },
            if self.module_stopped { " (module stopped by the health monitor)" } else { "" }
        );
        let _ = writeln!(
            out,
            "{:<10} {:<9} {:>11} {:>10} {:>9} {:>7} {:>5} {:>9} {:>4} {:>9} {:>11} {:>16} {:>16} {:>16} {:>15} {:>15} {:>8} {:>9}",
            "partition",
            "catch_up",
            "ticks_given",
            "guest_time",
            "in_flight",
            "dropped",
            "drift",
            "delivered",
            "lost",
            "discarded",
            "line_events",
            "channel_received",
            "in_window_p50_us",
            "in_window_p99_us",
            "at_entry_p50_us",
            "at_entry_p99_us",
            "restarts",
            "hm_events"
        );
        for p in &self.partitions {
            let _ = writeln!(
                out,
                "{:<10} {:<9} {:>11} {:>10} {:>9} {:>7} {:>5} {:>9} {:>4} {:>9} {:>11} {:>16} {:>16.1} {:>16.1} {:>15.1} {:>15.1} {:>8} {:>9}",
                p.name,
                p.catch_up,
                p.ticks_given,
                p.guest_time,
                p.in_flight,
                p.dropped,
                p.drift,
                p.delivered,
                p.lost,
                p.discarded,
                p.line_events,
                p.channel_received,
                p.in_window_p50_us,
                p.in_window_p99_us,
                p.at_entry_p50_us,
                p.at_entry_p99_us,
                p.restarts,
                p.hm_events
            );
        }
        let _ = writeln!(
            out,
            "device: {} packets sent, {} received as interrupts, {} lost",
            self.device.packets_sent, self.device.packets_received, self.device.packets_lost
        );
        for c in &self.cpus {
            let host =
                c.host_cpu.map_or_else(|| "not pinned".to_owned(), |h| format!("host cpu {h}"));
            let _ = writeln!(
                out,
                "cpu {} ({host}): {}; {} ticks, {} device irqs, kicks {} sent {} taken",
                c.cpu,
                if c.partitions.is_empty() {
                    "no partition".to_owned()
                } else {
                    c.partitions.join(", ")
                },
                c.stats.ticks,
                c.stats.device_irqs,
                c.stats.kicks_sent,
                c.stats.kicks_taken
            );
        }
        for p in &self.partitions {
            let _ = writeln!(out, "isolation {}: {}", p.name, p.isolation.line());
        }
        for p in &self.partitions {
            if p.restarts > 0 || p.hm_events > 0 || p.mode != "Normal" {
                let _ = writeln!(
                    out,
                    "{}: mode {}, start_reason {}, restarts {}, hm_events {}",
                    p.name, p.mode, p.start_reason, p.restarts, p.hm_events
                );
                hm_lines(&mut out, "hm", &p.hm_counts, &p.hm_last);
            }
        }
        let _ = writeln!(
            out,
            "module: module_hm_events {}, log_dropped {}, console_dropped {}",
            self.module_hm_events, self.log_dropped, self.console_dropped
        );
        hm_lines(&mut out, "module_hm", &self.module_hm_counts, &self.module_hm_last);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use irq_router::config::{HmAction, HmKind};
    use irq_router::health::HmRecord;

    use super::{HARVESTED_SAMPLES, HM_DETAILS, HM_LAST, Harvest, HmSummary, drift, warp_time};
    use crate::region::{Arrival, SAMPLES, SharedRegion};

    #[test]
    fn no_guest_word_overflows_the_summary() {
        assert_eq!(drift(0, u64::MAX, u64::MAX), i64::MIN);
        assert_eq!(drift(u64::MAX, 0, 0), i64::MAX);
        assert_eq!(drift(10, 4, 3), 3);
        assert_eq!(drift(3, 4, 0), -1);
        assert_eq!(warp_time(u64::MAX, u64::MAX, 1), u64::MAX - 1);
        assert_eq!(warp_time(0, 0, u64::MAX), 0);
        assert_eq!(warp_time(10, 5, 2), 13);
        let shared = SharedRegion::create("irq-hosted-summary-test").expect("region");
        let region = shared.region();
        let g = &region.guest;
        for word in [&g.line_events, &g.channel_received, &g.channel_sent, &g.pings_answered] {
            word.store(u64::MAX, Ordering::Release);
        }
        for ring in &region.latency {
            ring.taken.store(u64::MAX, Ordering::Release);
        }
        let mut harvest = Harvest::default();
        // A partition that fills its sample buffers and dies, a thousand times over: what
        // the runner keeps is bounded.
        for _ in 0..1000 {
            harvest.add(region);
        }
        assert_eq!(harvest.line_events, u64::MAX);
        assert_eq!(harvest.pings_answered, u64::MAX);
        for kept in &harvest.samples {
            assert_eq!(kept.len(), HARVESTED_SAMPLES);
        }
        // A sample past u32 saturates; the ring index wraps, never a panic.
        region.latency[0].taken.store(u64::MAX, Ordering::Release);
        region.push_sample(Arrival::InWindow, u64::MAX);
        assert_eq!(region.latency[0].taken.load(Ordering::Acquire), 0, "wrapped");
        let last = (u64::MAX % SAMPLES as u64) as usize;
        assert_eq!(region.latency[0].ns[last].load(Ordering::Acquire), u32::MAX);
        assert_eq!(region.samples(Arrival::InWindow), Vec::<u64>::new());
        region.push_sample(Arrival::AtEntry, 123);
        assert_eq!(region.samples(Arrival::None), Vec::<u64>::new());
        // SAFETY: `region` is not used again.
        unsafe { shared.release() };
    }

    fn record(tick: u64, kind: HmKind, action: HmAction, detail: u64) -> HmRecord {
        HmRecord { tick, partition: Some(1), kind, action, detail, extra: 0, discarded: 0 }
    }

    #[test]
    fn the_health_monitor_summary_is_bounded_whatever_the_records() {
        // 100,000 records: a storm of one kind with ever-changing details, and a few of
        // another kind.
        let mut records: Vec<HmRecord> = (0..100_000)
            .map(|i| record(i, HmKind::WindowOverrun, HmAction::Ignore, i % 1000))
            .collect();
        records.insert(10, record(10, HmKind::Trap, HmAction::ColdStart, 14));
        records.push(record(100_000, HmKind::Trap, HmAction::ColdStart, 14));
        let summary = HmSummary::of(records.iter(), 40);
        assert_eq!(summary.events, 100_002);
        let counts: Vec<_> =
            summary.counts.iter().map(|c| (c.kind.as_str(), c.action.as_str(), c.count)).collect();
        assert_eq!(counts, [("WindowOverrun", "Ignore", 100_000), ("Trap", "ColdStart", 2)]);
        assert_eq!(summary.counts[0].details, (0..HM_DETAILS as u64).collect::<Vec<_>>());
        assert!(summary.counts[0].details_more);
        assert_eq!(
            (&summary.counts[1].details[..], summary.counts[1].details_more),
            (&[14][..], false)
        );
        // The last records, oldest first, each with its frame.
        assert_eq!(summary.last.len(), HM_LAST);
        let ticks: Vec<u64> = summary.last.iter().map(|e| e.tick).collect();
        assert_eq!(ticks, [99_996, 99_997, 99_998, 99_999, 100_000]);
        assert_eq!(summary.last[4].frame, 2_500);
        assert_eq!((summary.last[4].kind.as_str(), summary.last[4].detail), ("Trap", 14));
        // None at all.
        assert_eq!(HmSummary::of(std::iter::empty(), 40), HmSummary::default());
    }
}
