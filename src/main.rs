use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "nodeherd",
    version,
    about = "Agentless operator console for blockchain node fleets"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Local practice lab of real hosts (Linux, root).
    Lab(nodeherd::cli::lab::LabArgs),
}

fn main() -> miette::Result<()> {
    match Cli::parse().cmd {
        Cmd::Lab(args) => nodeherd::cli::lab::run(args),
    }
}
