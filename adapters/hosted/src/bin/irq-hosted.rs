//! The hosted runner: `irq-hosted --help`. Started as `irq-hosted partition N ...` it is
//! the built-in partition program instead (the runner starts itself that way).

use irq_hosted::runner::children::PARTITION_MODE;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(PARTITION_MODE) {
        let args: Vec<String> = args.collect();
        return irq_hosted::guest::program::main(&args);
    }
    irq_hosted::cli::main()
}
