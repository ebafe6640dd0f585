//! `irq-sim`: runs seeded scenarios of the simulated machine.
//!
//! `cargo run --release -p irq-sim -- --seeds 0..100000` runs a range of seeds with a
//! progress bar; on a failure it prints the seed, the shortest failing prefix and its
//! readable trace. `--seed N --trace` replays one seed and prints its trace.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

use irq_sim::{Options, Scenario, run_once, shrink, sweep};

/// Deterministic simulation of the interrupt-virtualization engine on a multi-CPU machine.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// A range of seeds to run, `START..END`.
    #[arg(long, value_parser = parse_range)]
    seeds: Option<std::ops::Range<u64>>,
    /// One seed to run (with --trace: print its trace).
    #[arg(long)]
    seed: Option<u64>,
    /// A fuzz input to run (a file of the `sim` fuzz target: a seed and a scenario
    /// description, `Scenario::from_bytes`), as --seed runs a seed.
    #[arg(long, conflicts_with_all = ["seed", "seeds", "cpus"])]
    input: Option<std::path::PathBuf>,
    /// CPUs of the machine, 1 to 8 (0: each seed chooses 1, 2 or 4).
    #[arg(long, default_value_t = 0)]
    cpus: usize,
    /// Print the readable trace of the seed run (--seed) or of the shrunk failure.
    #[arg(long)]
    trace: bool,
    /// Worker threads for --seeds (default: the machine's CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Run only this many scheduler steps of the scenario (then drain and check).
    #[arg(long)]
    steps: Option<u64>,
    /// With --seed: run with the storm off (the comparison run of a storming scenario).
    #[arg(long)]
    no_storm: bool,
    /// With --seed: the storm's isolation run (the storming partition deaf to its storm,
    /// the storming line's interrupts out of band; see the README); with --no-storm too:
    /// the run it is compared with.
    #[arg(long)]
    isolated: bool,
}

fn parse_range(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = text.split_once("..").ok_or("expected START..END")?;
    let start = a.parse().map_err(|e| format!("{a}: {e}"))?;
    let end = b.parse().map_err(|e| format!("{b}: {e}"))?;
    if start >= end {
        return Err(format!("empty range {text}"));
    }
    Ok(start..end)
}

fn cpus_of(args: &Args, seed: u64) -> usize {
    if args.cpus == 0 { [1, 2, 4][(seed % 3) as usize] } else { args.cpus.clamp(1, 8) }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let one = match (&args.input, args.seed) {
        (Some(path), _) => match std::fs::read(path) {
            Ok(bytes) => Some(Scenario::from_bytes(&bytes)),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        (None, Some(seed)) => Some(Scenario::from_seed(seed, cpus_of(&args, seed))),
        (None, None) => None,
    };
    if let Some(scenario) = one {
        print!("{scenario}");
        let storm = !args.no_storm;
        let options =
            Options { trace: args.trace, limit: args.steps, isolated: args.isolated, bare: false };
        let outcome = run_once(&scenario, storm, options);
        for line in &outcome.trace {
            println!("{line}");
        }
        println!("{} steps, trace hash {:016x}", outcome.steps, outcome.hash);
        return match outcome.violation {
            Some(v) => {
                println!("FAILED at {v}");
                ExitCode::FAILURE
            }
            None if args.no_storm || args.isolated || args.steps.is_some() => {
                println!("ok");
                ExitCode::SUCCESS
            }
            None => match irq_sim::check(&scenario) {
                Ok(_) => {
                    println!("ok");
                    ExitCode::SUCCESS
                }
                Err(f) => {
                    let which = match (f.comparison, f.storm, f.isolated) {
                        (true, _, false) => " (the comparison with the run without the storm)",
                        (true, _, true) => {
                            " (the isolation run's deliveries against the run without the storm: --isolated, --isolated --no-storm)"
                        }
                        (false, false, _) => " (the run without the storm: --no-storm)",
                        (false, true, true) => " (the storm's isolation run: --isolated)",
                        (false, true, false) => "",
                    };
                    println!("FAILED{which}: {}", f.violation);
                    ExitCode::FAILURE
                }
            },
        };
    }
    let seeds = args.seeds.clone().unwrap_or(0..1000);
    let threads =
        args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bar = ProgressBar::new(seeds.end - seeds.start);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} seeds  {per_sec}  elapsed {elapsed_precise}  eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let result = sweep(seeds.clone(), args.cpus, threads, &|| {}, &|| bar.inc(1));
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} scenarios in {secs:.1} s on {threads} threads: {:.0} scenarios per second (seeds {}..{}, CPUs {}), sweep hash {:016x}",
        result.runs,
        result.runs as f64 / secs.max(1e-9),
        seeds.start,
        seeds.end,
        if args.cpus == 0 { "1, 2 and 4".to_string() } else { args.cpus.to_string() },
        result.hash
    );
    let Some(failure) = result.failure else {
        println!("no invariant broken");
        return ExitCode::SUCCESS;
    };
    let seed = failure.scenario.seed;
    println!(
        "\nFAILED: seed {seed} on {} CPUs{}: {}",
        failure.scenario.cpus,
        match (failure.comparison, failure.storm, failure.isolated) {
            (true, _, true) => " (the storm's isolation run against the run without the storm)",
            (true, _, false) => " (the run with the storm against the run without it)",
            (false, false, _) => " (the comparison run, without the storm)",
            (false, true, true) => " (the storm's isolation run)",
            (false, true, false) => "",
        },
        failure.violation
    );
    print!("{}", failure.scenario);
    let (prefix, violation) = shrink(&failure);
    if prefix == u64::MAX {
        println!(
            "{}",
            if failure.comparison {
                "(the comparison of the run with the storm and the run without it: both whole)"
            } else {
                "(no prefix fails: the failure needs the whole run)"
            }
        );
    } else {
        println!("shortest failing prefix: {prefix} steps: {violation}");
        let options =
            Options { trace: true, limit: Some(prefix), isolated: failure.isolated, bare: false };
        let outcome = run_once(&failure.scenario, failure.storm, options);
        let lines = &outcome.trace;
        let from = lines.len().saturating_sub(if args.trace { usize::MAX } else { 60 });
        println!("trace of the prefix (last {} lines):", lines.len() - from);
        for line in &lines[from..] {
            println!("{line}");
        }
    }
    println!(
        "replay: cargo run --release -p irq-sim -- --seed {seed} --cpus {} --trace{}{}{}",
        failure.scenario.cpus,
        if failure.isolated { " --isolated" } else { "" },
        if failure.storm { "" } else { " --no-storm" },
        if prefix == u64::MAX { String::new() } else { format!(" --steps {prefix}") }
    );
    ExitCode::FAILURE
}
