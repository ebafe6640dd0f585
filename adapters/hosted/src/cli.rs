//! The `irq-hosted` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::config;
use crate::runner::{self, Options};

/// Runs a partitioned system of Linux processes with the interrupt-virtualization
/// subsystem in the middle, for a number of major frames, then prints a summary.
#[derive(Debug, Parser)]
#[command(name = "irq-hosted", version)]
pub struct Cli {
    /// Major frames to run.
    #[arg(long, default_value_t = 50)]
    pub frames: u64,
    /// The configuration file (default: the one shipped, config/default.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the summary as JSON (same field names as the table).
    #[arg(long)]
    pub json: bool,
    /// Write a timeline picture (SVG) to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Frames the picture shows.
    #[arg(long, default_value_t = 3)]
    pub svg_frames: u64,
    /// Crash a partition (by name or number) with a real page fault at the start of
    /// its window in frame FRAME: PARTITION@FRAME.
    #[arg(long, value_name = "PARTITION@FRAME")]
    pub crash: Option<String>,
    /// Check the configuration and exit.
    #[arg(long)]
    pub check: bool,
    /// Measure clock-expiry-to-handler latency against a bare-signal baseline.
    #[arg(long)]
    pub bench_latency: bool,
    /// No progress line, no partition console output.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_crash(spec: &str, names: &[String]) -> Result<(usize, u64), String> {
    let (who, frame) =
        spec.split_once('@').ok_or_else(|| format!("--crash {spec}: expected PARTITION@FRAME"))?;
    let frame: u64 = frame.parse().map_err(|_| format!("--crash {spec}: FRAME is not a number"))?;
    let p = match names.iter().position(|n| n == who) {
        Some(p) => p,
        None => who.parse::<usize>().ok().filter(|&p| p < names.len()).ok_or_else(|| {
            format!("--crash {spec}: no partition \"{who}\" (known: {})", names.join(", "))
        })?,
    };
    Ok((p, frame))
}

/// Writes to stdout; a closed pipe is not an error worth a panic.
fn print_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// The runner's `main`.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.bench_latency {
        return crate::latency::main();
    }
    let (path, source) = match &cli.config {
        None => ("config/default.toml (built in)".to_owned(), config::DEFAULT_TOML.to_owned()),
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => (path.display().to_string(), text),
            Err(e) => {
                eprintln!("irq-hosted: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    // Relative paths in a file are taken from its directory.
    let base = cli.config.as_deref().and_then(std::path::Path::parent).unwrap_or(".".as_ref());
    let base = if base.as_os_str().is_empty() { ".".as_ref() } else { base };
    let loaded = config::load_in(&path, &source, base);
    let system = match loaded.and_then(|s| runner::check(&s).map(|()| s)) {
        Ok(system) => system,
        Err(e) => {
            eprintln!("irq-hosted: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check {
        eprintln!("{path}: configuration is valid ({} partitions)", system.len());
        return ExitCode::SUCCESS;
    }
    let names: Vec<String> = system.info.iter().map(|i| i.name.clone()).collect();
    let crash = match cli.crash.as_deref().map(|s| parse_crash(s, &names)).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("irq-hosted: {e}");
            return ExitCode::from(2);
        }
    };
    let program = match runner::children::Program::builtin() {
        Ok(program) => program,
        Err(e) => {
            eprintln!("irq-hosted: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = Options {
        frames: cli.frames,
        crash,
        svg_frames: if cli.svg.is_some() { cli.svg_frames.min(cli.frames) } else { 0 },
        progress: !cli.quiet && !cli.json,
        echo_console: !cli.quiet,
        program,
        isolation: runner::isolation::Isolation::FULL,
    };
    let outcome = match runner::run(&system, &options) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("irq-hosted: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.json {
        match serde_json::to_string_pretty(&outcome.summary) {
            Ok(text) => print_out(&format!("{text}\n")),
            Err(e) => {
                eprintln!("irq-hosted: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print_out(&outcome.summary.table());
    }
    if let Some(svg) = &cli.svg {
        let picture = crate::svg::render(&outcome.timeline, &system);
        if let Err(e) = std::fs::write(svg, picture) {
            eprintln!("irq-hosted: cannot write {}: {e}", svg.display());
            return ExitCode::FAILURE;
        }
    }
    if outcome.summary.module_stopped {
        // The health monitor stopped the module: the run failed.
        ExitCode::from(3)
    } else if outcome.summary.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}
