//! The `irq-hosted` command line.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::config::{self, System};
use crate::runner::{self, Options, timeline};

/// Runs a partitioned system of Linux processes with the interrupt-virtualization
/// subsystem in the middle, for a number of major frames, then prints a summary.
/// Frames are numbered from 0 (frame F is ticks F * major_frame to
/// (F + 1) * major_frame - 1), here and in everything the runner prints.
#[derive(Debug, Parser)]
#[command(name = "irq-hosted", version)]
pub struct Cli {
    /// Major frames to run: frames 0 to N-1 [default: 50].
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// The configuration file (default: the one shipped, config/default.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the summary as JSON (same field names as the table).
    #[arg(long)]
    pub json: bool,
    /// Write a timeline picture (SVG) to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Frames the picture shows, 1 to 16 [default: 3, or the run's frames if fewer].
    #[arg(long, value_name = "N")]
    pub svg_frames: Option<u64>,
    /// The first frame the picture shows [default: the frames around the first
    /// health-monitor record, or the first frames if there is none].
    #[arg(long, value_name = "FRAME")]
    pub svg_from: Option<u64>,
    /// Crash a partition (by name or number) with a real page fault at the start of
    /// its window in frame FRAME (from 0): PARTITION@FRAME.
    #[arg(long, value_name = "PARTITION@FRAME")]
    pub crash: Option<String>,
    /// Check the configuration (and the options given with it) and exit.
    #[arg(long)]
    pub check: bool,
    /// Measure clock-expiry-to-handler latency against a bare-signal baseline.
    #[arg(long)]
    pub bench_latency: bool,
    /// No progress line, no partition console output.
    #[arg(long)]
    pub quiet: bool,
    /// Run the runner under SCHED_FIFO at this priority (2 to 99) and the partitions
    /// one below it, so that ticks and upcalls do not wait behind the machine's other
    /// work (needs CAP_SYS_NICE, or an RLIMIT_RTPRIO that allows the priority). With
    /// --bench-latency, the baseline's processes likewise.
    #[arg(long, value_name = "PRIORITY", value_parser = clap::value_parser!(u8).range(2..=99))]
    pub realtime: Option<u8>,
}

/// Frames run when `--frames` is not given.
pub const DEFAULT_FRAMES: u64 = 50;

/// Frames the picture shows when `--svg-frames` is not given (fewer if the run is
/// shorter).
pub const DEFAULT_SVG_FRAMES: u64 = 3;

/// An option that cannot take effect: refused (exit status 2), never ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptionError {
    /// `--frames 0`: nothing would run.
    NoFrames,
    /// `option` has no effect together with `with` (`--check`, `--bench-latency`).
    Pointless {
        /// The option refused.
        option: &'static str,
        /// The option it cannot go with.
        with: &'static str,
    },
    /// `option` only sets something `needs` asks for.
    Needs {
        /// The option refused.
        option: &'static str,
        /// The option it needs.
        needs: &'static str,
    },
    /// `--svg-frames N`: 0, more than the picture can show, or more than the run has.
    SvgFrames {
        /// N.
        frames: u64,
        /// The run's frames.
        run: u64,
    },
    /// `--svg-from FRAME`: frames `from` to `from + shown - 1` are not all in the run.
    SvgFrom {
        /// FRAME.
        from: u64,
        /// Frames the picture shows.
        shown: u64,
        /// The run's frames.
        run: u64,
    },
    /// `--crash SPEC` is not `PARTITION@FRAME`.
    CrashSyntax {
        /// What was given.
        spec: String,
        /// What is wrong.
        why: &'static str,
    },
    /// `--crash SPEC` names no partition.
    CrashPartition {
        /// What was given.
        spec: String,
        /// The partition names.
        known: Vec<String>,
    },
    /// `--crash SPEC`: its frame is not in the run.
    CrashFrame {
        /// What was given.
        spec: String,
        /// The frame asked for.
        frame: u64,
        /// The run's frames.
        run: u64,
    },
    /// `--crash SPEC`: the partition has no window, so it never runs to crash.
    CrashNoWindow {
        /// What was given.
        spec: String,
        /// The partition.
        name: String,
    },
}

/// "frames 0 to N-1" of a run of `run` frames.
fn run_frames(run: u64) -> String {
    format!("--frames {run} runs frames 0 to {}", run.saturating_sub(1))
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoFrames => f.write_str("--frames 0: a run needs at least one frame"),
            Self::Pointless { option, with } => {
                write!(f, "{option}: has no effect with {with}")
            }
            Self::Needs { option, needs } => write!(f, "{option}: needs {needs}"),
            Self::SvgFrames { frames, run } => write!(
                f,
                "--svg-frames {frames}: the picture shows 1 to {} frames, and no more than the run ({})",
                timeline::MAX_FRAMES,
                run_frames(*run)
            ),
            Self::SvgFrom { from, shown, run } => write!(
                f,
                "--svg-from {from}: a picture of {shown} frame{} from frame {from} is not inside the run ({})",
                if *shown == 1 { "" } else { "s" },
                run_frames(*run)
            ),
            Self::CrashSyntax { spec, why } => write!(f, "--crash {spec}: {why}"),
            Self::CrashPartition { spec, known } => {
                write!(f, "--crash {spec}: no such partition (known: {})", known.join(", "))
            }
            Self::CrashFrame { spec, frame, run } => {
                write!(f, "--crash {spec}: frame {frame} is past the run ({})", run_frames(*run))
            }
            Self::CrashNoWindow { spec, name } => write!(
                f,
                "--crash {spec}: partition \"{name}\" has no window in the schedule, so it never runs"
            ),
        }
    }
}

impl std::error::Error for OptionError {}

/// What the command line asks of a run, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Frames to run.
    pub frames: u64,
    /// Crash partition `.0` in frame `.1`.
    pub crash: Option<(usize, u64)>,
    /// Frames the picture shows (0: no picture).
    pub svg_frames: u64,
    /// Its first frame, if asked.
    pub svg_from: Option<u64>,
}

impl Cli {
    /// The options given besides `--bench-latency`, which runs systems of its own.
    fn given_with_bench(&self) -> Option<&'static str> {
        [
            (self.frames.is_some(), "--frames"),
            (self.config.is_some(), "--config"),
            (self.json, "--json"),
            (self.svg.is_some(), "--svg"),
            (self.svg_frames.is_some(), "--svg-frames"),
            (self.svg_from.is_some(), "--svg-from"),
            (self.crash.is_some(), "--crash"),
            (self.check, "--check"),
            (self.quiet, "--quiet"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }

    /// Checks what does not depend on the configuration: every option can take effect.
    ///
    /// # Errors
    /// The first option that cannot, named.
    pub fn check_options(&self) -> Result<(), OptionError> {
        if self.bench_latency {
            return match self.given_with_bench() {
                Some(option) => Err(OptionError::Pointless { option, with: "--bench-latency" }),
                None => Ok(()),
            };
        }
        let run = self.frames.unwrap_or(DEFAULT_FRAMES);
        if run == 0 {
            return Err(OptionError::NoFrames);
        }
        if self.check {
            let outputs = [
                (self.realtime.is_some(), "--realtime"),
                (self.json, "--json"),
                (self.svg.is_some(), "--svg"),
                (self.svg_frames.is_some(), "--svg-frames"),
                (self.svg_from.is_some(), "--svg-from"),
            ];
            if let Some((_, option)) = outputs.into_iter().find(|(given, _)| *given) {
                return Err(OptionError::Pointless { option, with: "--check" });
            }
        }
        if self.svg.is_none() {
            if self.svg_frames.is_some() {
                return Err(OptionError::Needs { option: "--svg-frames", needs: "--svg FILE" });
            }
            if self.svg_from.is_some() {
                return Err(OptionError::Needs { option: "--svg-from", needs: "--svg FILE" });
            }
            return Ok(());
        }
        if let Some(frames) = self.svg_frames
            && (frames == 0 || frames > timeline::MAX_FRAMES || frames > run)
        {
            return Err(OptionError::SvgFrames { frames, run });
        }
        if let Some(from) = self.svg_from {
            let shown = self.svg_frames.unwrap_or(1);
            if from.saturating_add(shown) > run {
                return Err(OptionError::SvgFrom { from, shown, run });
            }
        }
        Ok(())
    }

    /// The run these options ask for on `system` ([`check_options`](Self::check_options)
    /// first).
    ///
    /// # Errors
    /// The first option that cannot take effect, named.
    pub fn plan(&self, system: &System) -> Result<Plan, OptionError> {
        self.check_options()?;
        let frames = self.frames.unwrap_or(DEFAULT_FRAMES);
        let crash = match self.crash.as_deref() {
            Some(spec) => Some(parse_crash(spec, system, frames)?),
            None => None,
        };
        let svg_frames = match (&self.svg, self.svg_frames) {
            (None, _) => 0,
            (Some(_), Some(n)) => n,
            // As many as fit from the first frame shown.
            (Some(_), None) => {
                DEFAULT_SVG_FRAMES.min(frames.saturating_sub(self.svg_from.unwrap_or(0)))
            }
        };
        Ok(Plan { frames, crash, svg_frames, svg_from: self.svg_from })
    }
}

/// `--crash PARTITION@FRAME` on `system`, for a run of `frames` frames.
fn parse_crash(spec: &str, system: &System, frames: u64) -> Result<(usize, u64), OptionError> {
    let syntax = |why| OptionError::CrashSyntax { spec: spec.to_owned(), why };
    let (who, frame) = spec.split_once('@').ok_or_else(|| syntax("expected PARTITION@FRAME"))?;
    let frame: u64 = frame.parse().map_err(|_| syntax("FRAME is not a frame number (from 0)"))?;
    let names: Vec<String> = system.info.iter().map(|i| i.name.clone()).collect();
    let p = match names.iter().position(|n| n == who) {
        Some(p) => p,
        None => who.parse::<usize>().ok().filter(|&p| p < names.len()).ok_or_else(|| {
            OptionError::CrashPartition { spec: spec.to_owned(), known: names.clone() }
        })?,
    };
    if frame >= frames {
        return Err(OptionError::CrashFrame { spec: spec.to_owned(), frame, run: frames });
    }
    if !system.schedule.windows.iter().any(|w| usize::from(w.partition) == p) {
        return Err(OptionError::CrashNoWindow { spec: spec.to_owned(), name: names[p].clone() });
    }
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
    if let Err(e) = cli.check_options() {
        eprintln!("irq-hosted: {e}");
        return ExitCode::from(2);
    }
    if let Some(priority) = cli.realtime
        && let Err(e) = crate::sys::set_fifo(0, Some(i32::from(priority)))
    {
        eprintln!(
            "irq-hosted: --realtime {priority}: {e} (SCHED_FIFO needs CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least {priority})"
        );
        return ExitCode::from(2);
    }
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
    let plan = match cli.plan(&system) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("irq-hosted: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check {
        eprintln!("{path}: configuration is valid ({} partitions)", system.len());
        return ExitCode::SUCCESS;
    }
    let program = match runner::children::Program::builtin() {
        Ok(program) => program,
        Err(e) => {
            eprintln!("irq-hosted: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = Options {
        frames: plan.frames,
        crash: plan.crash,
        svg_frames: plan.svg_frames,
        svg_from: plan.svg_from,
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
        if !cli.quiet {
            eprintln!("irq-hosted: {}: {}", svg.display(), outcome.timeline.describe());
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
