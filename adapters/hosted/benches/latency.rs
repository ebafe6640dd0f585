//! Latency benchmark (not a timed test): runs `irq-hosted --bench-latency`, which
//! measures clock-expiry-to-guest-handler latency against a bare-signal baseline in
//! the same run and prints the figures.

fn main() {
    let exe = env!("CARGO_BIN_EXE_irq-hosted");
    let status = std::process::Command::new(exe).arg("--bench-latency").status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            eprintln!("irq-hosted --bench-latency failed: {s}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("cannot run {exe}: {e}");
            std::process::exit(1);
        }
    }
}
