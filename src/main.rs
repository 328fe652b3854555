//! The `nodeherd` binary: parses arguments, picks the front end, maps results to exit codes.
//! Logic lives in the library (`nodeherd::ops`, `nodeherd::cli`); this file only dispatches.

use clap::{Parser, Subcommand, ValueEnum};
use nodeherd::cli::{self, Output, context::Fail, exit};
use nodeherd::systemd::Action;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Agentless operator console for blockchain node fleets run as systemd services.
#[derive(Parser, Debug)]
#[command(name = "nodeherd", version, about, propagate_version = true)]
struct Args {
    /// Inventory: a TOML file or a directory of them.
    #[arg(
        short,
        long,
        global = true,
        env = "NODEHERD_INVENTORY",
        default_value = "inventory"
    )]
    inventory: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// When to use colours.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Hosts worked on at once.
    #[arg(long, global = true, default_value_t = nodeherd::fleet::DEFAULT_FORKS)]
    forks: usize,
    /// Further restrict the selection (same syntax as SELECTOR).
    #[arg(long, global = true)]
    limit: Option<String>,
    /// Confirm disruptive actions without asking (required without a terminal).
    #[arg(short, long, global = true)]
    yes: bool,
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Validate the inventory and print every problem at once.
    Check,
    /// Show every node of the selected hosts: unit state, PID, since, version, last error.
    Status {
        /// `all`, a group, a host, a glob, `!exclusion`, `&intersection`, comma lists, `host/node`.
        selector: Option<String>,
    },
    /// Start the nodes' systemd units.
    Start { selector: String },
    /// Stop the nodes' systemd units (asks for confirmation on more than one host).
    Stop { selector: String },
    /// Restart the nodes' systemd units (asks for confirmation on more than one host).
    Restart { selector: String },
    /// Show a node's journal (`host/node`, or the node name when it is unique).
    Logs {
        node: String,
        /// Keep following new lines.
        #[arg(short, long)]
        follow: bool,
        /// How many past lines to show.
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
    },
    /// Validator keys: list, settings, import, remove, move, generate, voluntary exit.
    Keys(cli::keys::KeysArgs),
    /// A local practice fleet: real systemd + sshd hosts in network namespaces (Linux, root).
    Lab(cli::lab::LabArgs),
}

fn main() {
    let args = Args::parse();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    init_logging(args.verbose);
    let out = Output {
        json: args.json,
        color,
    };
    let code = match run(args, out) {
        Ok(c) => c,
        Err(Fail(c)) => c,
    };
    std::process::exit(code);
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NODEHERD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("nodeherd={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(mut args: Args, out: Output) -> Result<i32, Fail> {
    let Some(cmd) = args.command.take() else {
        use clap::CommandFactory;
        let _ = Args::command().print_help();
        return Ok(exit::USAGE);
    };
    if let Cmd::Lab(lab) = cmd {
        return match cli::lab::run(lab) {
            Ok(()) => Ok(exit::OK),
            Err(e) => {
                eprintln!("{e:?}");
                Ok(exit::FAILED)
            }
        };
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            Fail(exit::FAILED)
        })?;
    let inv = args.inventory.as_path();
    let limit = args.limit.as_deref();
    rt.block_on(async {
        match cmd {
            Cmd::Check => cli::check::run(inv, out),
            Cmd::Status { selector } => {
                cli::status::run(inv, selector.as_deref(), limit, args.forks, out).await
            }
            Cmd::Start { selector } => lifecycle(inv, Action::Start, &selector, &args, out).await,
            Cmd::Stop { selector } => lifecycle(inv, Action::Stop, &selector, &args, out).await,
            Cmd::Restart { selector } => {
                lifecycle(inv, Action::Restart, &selector, &args, out).await
            }
            Cmd::Logs {
                node,
                follow,
                lines,
            } => cli::logs::run(inv, &node, lines, follow, out).await,
            Cmd::Keys(k) => cli::keys::run(k, inv, limit, args.yes, out).await,
            Cmd::Lab(_) => Ok(exit::OK),
        }
    })
}

async fn lifecycle(
    inv: &std::path::Path,
    action: Action,
    selector: &str,
    args: &Args,
    out: Output,
) -> Result<i32, Fail> {
    cli::lifecycle::run(
        inv,
        action,
        selector,
        args.limit.as_deref(),
        args.forks,
        args.yes,
        out,
    )
    .await
}
