//! Running a scenario: build the engine and the machine, run, check; compare a storm
//! run with the same seed without the storm (and the storm's isolation run with it,
//! delivery by delivery: see `isolation`); shrink a failure to its shortest prefix.

use std::fmt;

use irq_router::Router;
use irq_router::health::HM_LOG_LEN;
use irq_router::vcpu::SharedPage;

use crate::isolation::{Delivery, first_difference};
use crate::machine::{Engine, Sim};
use crate::scenario::Scenario;
use crate::system::{P, STORMING, config_with, port};

/// A broken invariant: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The scheduler step at which it was seen.
    pub step: u64,
    /// The simulated time then.
    pub time: u64,
    /// What broke.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} (t={}): {}", self.step, self.time, self.what)
    }
}

/// How to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Keep the readable trace.
    pub trace: bool,
    /// Stop the scenario after this many steps (then drain and check): a prefix.
    pub limit: Option<u64>,
    /// The storm's isolation run (see the crate's README, "The storm's isolation"): the
    /// storming partition deaf to its storm (its storm port configured masked, no storm
    /// of its channel), the storming line's interrupts taken out of band (at the start of
    /// a step, on a CPU the storm's stream picks, without preemption), the engine's
    /// requests about that line not preemption points; every partition's deliveries
    /// logged ([`Outcome::deliveries`]). With the storm off it is the plain run.
    pub isolated: bool,
    /// Run the engine without context slots and without health-monitor rings of the
    /// partitions' own (`Router<P, 1, C, 0, 0>`, 2,017 bytes a partition), every port
    /// configured without a context: the same invariants must hold.
    pub bare: bool,
}

/// What one run gave.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The hash of the trace (the same scenario always gives the same hash).
    pub hash: u64,
    /// Scheduler steps.
    pub steps: u64,
    /// The first broken invariant, if any.
    pub violation: Option<Violation>,
    /// The readable trace (with [`Options::trace`]).
    pub trace: Vec<String>,
    /// Figures of the run.
    pub summary: Summary,
    /// Per partition, what it was delivered, step by step (with [`Options::isolated`];
    /// else empty).
    pub deliveries: Vec<Vec<Delivery>>,
}

/// Figures of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Upcalls injected, per partition.
    pub upcalls: [u64; P],
    /// Restarts, per partition.
    pub restarts: [u64; P],
    /// Interrupts of the edge line raised into each partition.
    pub line_raised: [u64; P],
    /// Health-monitor records, per partition.
    pub records: [u64; P],
    /// Edges of the edge line's device that reached the controller, and those the
    /// controller lost because the line was masked.
    pub line_edges: (u64, u64),
    /// Health-monitor storm records about partitions other than the storming one.
    pub foreign_storms: u64,
    /// Storm interrupts lost to the budget.
    pub storm_lost: u64,
    /// Kicks of a CPU by another.
    pub remote_kicks: u64,
    /// The module was stopped.
    pub stopped: bool,
    /// Given and dropped ticks of each partition, and whether it restarted or was idled.
    pub time: [(u64, u64, bool); P],
}

thread_local! {
    /// The pages shared with the partitions: one set per thread, reset for each run.
    static PAGES: &'static [SharedPage; P] = Box::leak(Box::new([const { SharedPage::new() }; P]));
}

/// Runs `scenario` once, the storm as the scenario says (`storm` false: off).
pub fn run_once(scenario: &Scenario, storm: bool, options: Options) -> Outcome {
    if options.bare {
        return match scenario.cpus {
            1 => run_on::<1, 0, 0>(scenario, storm, options),
            2 => run_on::<2, 0, 0>(scenario, storm, options),
            3 => run_on::<3, 0, 0>(scenario, storm, options),
            4 => run_on::<4, 0, 0>(scenario, storm, options),
            5 => run_on::<5, 0, 0>(scenario, storm, options),
            6 => run_on::<6, 0, 0>(scenario, storm, options),
            7 => run_on::<7, 0, 0>(scenario, storm, options),
            _ => run_on::<8, 0, 0>(scenario, storm, options),
        };
    }
    match scenario.cpus {
        1 => run_on::<1, 1, HM_LOG_LEN>(scenario, storm, options),
        2 => run_on::<2, 1, HM_LOG_LEN>(scenario, storm, options),
        3 => run_on::<3, 1, HM_LOG_LEN>(scenario, storm, options),
        4 => run_on::<4, 1, HM_LOG_LEN>(scenario, storm, options),
        5 => run_on::<5, 1, HM_LOG_LEN>(scenario, storm, options),
        6 => run_on::<6, 1, HM_LOG_LEN>(scenario, storm, options),
        7 => run_on::<7, 1, HM_LOG_LEN>(scenario, storm, options),
        _ => run_on::<8, 1, HM_LOG_LEN>(scenario, storm, options),
    }
}

fn run_on<const C: usize, const CW: usize, const H: usize>(
    scenario: &Scenario,
    storm: bool,
    options: Options,
) -> Outcome {
    let pages = PAGES.with(|pages| *pages);
    let blank = SharedPage::new().to_bytes();
    for page in pages {
        page.write_bytes(&blank);
    }
    let refs = [&pages[0], &pages[1], &pages[2], &pages[3]];
    let config = config_with(scenario, options.isolated, options.bare);
    let router: Box<Engine<C, CW, H>> = match Router::new(config, refs) {
        Ok(router) => Box::new(router),
        Err(e) => {
            return Outcome {
                hash: 0,
                steps: 0,
                violation: Some(Violation {
                    step: 0,
                    time: 0,
                    what: format!("configuration refused: {e:?}"),
                }),
                trace: Vec::new(),
                summary: Summary::default(),
                deliveries: Vec::new(),
            };
        }
    };
    router.start();
    let sim = Sim::new(&router, pages, scenario, storm, options);
    sim.run(options.limit.unwrap_or(u64::MAX));
    sim.log_end();
    let st = sim.st.into_inner();
    let mut summary = Summary {
        upcalls: st.books.upcalls,
        restarts: st.books.restarts,
        storm_lost: st.books.storm_lost,
        remote_kicks: st.books.remote_kicks,
        stopped: st.stopped,
        ..Summary::default()
    };
    if let Some(line) = st.ctl.get(crate::system::LINE_VECTOR) {
        summary.line_edges = (st.books.line_edges, line.lost_masked);
    }
    summary.foreign_storms = (0..P)
        .filter(|&p| p != STORMING)
        .map(|p| st.books.records[p][irq_router::config::HmKind::Storm as usize])
        .sum();
    for p in 0..P {
        summary.line_raised[p] = st.books.offered[p][usize::from(port::LINE)];
        summary.records[p] = st.books.records[p].iter().sum();
        let time = router.partition_cpu(crate::machine::pid(p)).time().clone();
        let touched = st.books.restarts[p] > 0 || st.books.idled & (1 << p) != 0;
        summary.time[p] = (time.given(), time.dropped(), touched);
    }
    let hash = st.trace.hash();
    let deliveries = st.deliveries.unwrap_or_default();
    Outcome {
        hash,
        steps: st.step,
        violation: st.violation,
        trace: st.trace.into_lines(),
        summary,
        deliveries,
    }
}

/// A failed seed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The scenario.
    pub scenario: Scenario,
    /// What broke.
    pub violation: Violation,
    /// The run that broke it had the storm on (off: the comparison run without it).
    pub storm: bool,
    /// The run that broke it was the storm's isolation run ([`Options::isolated`]; the
    /// run without the storm is one too).
    pub isolated: bool,
    /// It is the comparison of the two runs that failed (it needs both whole).
    pub comparison: bool,
}

/// Runs `scenario` with every check: the run itself, and if it storms, the comparison
/// with the same seed without the storm: the edge-line interrupts raised into the other
/// partitions must not change, and in the storm's isolation run ([`Options::isolated`])
/// every other partition's deliveries must be those of the run without the storm, step
/// for step. Returns the trace hash (of the run itself).
///
/// # Errors
/// The first broken invariant.
pub fn check(scenario: &Scenario) -> Result<u64, Box<Failure>> {
    let fail = |violation, storm, isolated, comparison| {
        Box::new(Failure { scenario: scenario.clone(), violation, storm, isolated, comparison })
    };
    let outcome = run_once(scenario, true, Options::default());
    if let Some(v) = outcome.violation {
        return Err(fail(v, true, false, false));
    }
    if scenario.storm && !outcome.summary.stopped {
        // Without the storm, the isolation run is the plain run (and logs deliveries).
        let isolated = Options { isolated: true, ..Options::default() };
        let quiet = run_once(scenario, false, isolated);
        if let Some(v) = quiet.violation {
            return Err(fail(v, false, true, false));
        }
        if let Some(what) = storm_changed(&outcome.summary, &quiet.summary) {
            let what = format!("storm isolation: {what}");
            let v = Violation { step: outcome.steps, time: scenario.ticks(), what };
            return Err(fail(v, true, false, true));
        }
        let alone = run_once(scenario, true, isolated);
        if let Some(v) = alone.violation {
            return Err(fail(v, true, true, false));
        }
        if let Some((p, i, with, without)) = first_difference(&alone.deliveries, &quiet.deliveries)
        {
            let show = |d: Option<Delivery>| {
                d.map_or("nothing (its log ended)".to_string(), |d| d.to_string())
            };
            let what = format!(
                "storm isolation: partition {p}'s delivery {i} differs: with the storm {}; without it {} ({} and {} entries in all)",
                show(with),
                show(without),
                alone.deliveries.get(p).map_or(0, Vec::len),
                quiet.deliveries.get(p).map_or(0, Vec::len),
            );
            let at = [with, without].into_iter().flatten().min_by_key(|d| d.step);
            let (step, time) = at.map_or((alone.steps, scenario.ticks()), |d| (d.step, d.time));
            return Err(fail(Violation { step, time, what }, true, true, true));
        }
    }
    Ok(outcome.hash)
}

/// What the storm changed for the partitions that do not storm, if anything.
fn storm_changed(storm: &Summary, quiet: &Summary) -> Option<String> {
    if quiet.stopped {
        return None;
    }
    if storm.line_edges.0 != quiet.line_edges.0 {
        return Some(format!(
            "the edge line's device fired {} edges with the storm, {} without",
            storm.line_edges.0, quiet.line_edges.0
        ));
    }
    if storm.line_edges.1 != 0 {
        return Some(format!(
            "{} edges of the edge line were lost to a mask during the storm",
            storm.line_edges.1
        ));
    }
    if storm.foreign_storms != quiet.foreign_storms {
        return Some(format!(
            "{} storm records about other partitions with the storm, {} without",
            storm.foreign_storms, quiet.foreign_storms
        ));
    }
    None
}

/// The shortest prefix (in scheduler steps) of `failure`'s scenario that still fails, by
/// bisection on the step count (each prefix is run, drained and checked, with the storm
/// as in the run that failed), and the violation it gives; `u64::MAX` for a failure of
/// the comparison between the two runs, which needs both whole.
pub fn shrink(failure: &Failure) -> (u64, Violation) {
    let scenario = &failure.scenario;
    let storm = failure.storm;
    let isolated = failure.isolated;
    let fails = |limit: u64| {
        let options = Options { trace: false, limit: Some(limit), isolated, bare: false };
        let outcome = run_once(scenario, storm, options);
        outcome.violation
    };
    if failure.comparison {
        return (u64::MAX, failure.violation.clone());
    }
    let mut high = failure.violation.step.max(1);
    let mut best = match fails(high) {
        Some(v) => v,
        None => return (u64::MAX, failure.violation.clone()),
    };
    let mut low = 0;
    while low + 1 < high {
        let mid = low + (high - low) / 2;
        match fails(mid) {
            Some(v) => {
                high = mid;
                best = v;
            }
            None => low = mid,
        }
    }
    (high, best)
}
