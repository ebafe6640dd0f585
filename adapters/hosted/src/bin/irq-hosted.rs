//! The hosted runner: `irq-hosted --help`.

fn main() -> std::process::ExitCode {
    irq_hosted::cli::main()
}
