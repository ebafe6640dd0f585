//! The partition program the hosted runner starts, one process per partition.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    irq_hosted::guest::program::main(&args)
}
