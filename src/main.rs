//! The `nodeherd` binary: parses arguments, picks the front end, maps results to exit codes.
//! Logic lives in the library (`nodeherd_engine`'s use cases, `nodeherd::cli`, `nodeherd::tui_front`);
//! this file only dispatches.

use clap::{Parser, Subcommand, ValueEnum};
use nodeherd::cli::{self, Output, context::Fail, exit};
use nodeherd_core::facts::systemd::Action;
use std::io::IsTerminal;
use std::path::PathBuf;

mod commands;
use commands::{alerts, apply_args, common, cosmos, lifecycle, metrics, tui};

/// Agentless operator console for blockchain node fleets run as systemd services.
#[derive(Parser, Debug)]
#[command(
    name = "nodeherd",
    version,
    about,
    propagate_version = true,
    after_help = "Exit codes: 0 all done (or nothing to do); 1 at least one host or node failed, \
                  or something asked for was not done (feed unreachable, `--to` version not in the \
                  feed, a confirmation answered no), the reason on stderr; 2 bad usage or \
                  configuration, or a disruptive action without a terminal and without --yes \
                  (nothing was done); 3 another apply holds the lock; 10 plan --detailed-exitcode \
                  found changes pending."
)]
struct Args {
    /// Inventory: a TOML file or a directory of them [default: ./inventory, else
    /// $XDG_CONFIG_HOME/nodeherd/inventory, i.e. ~/.config/nodeherd/inventory]
    #[arg(
        short = 'i',
        long = "inventory",
        value_name = "INVENTORY",
        global = true,
        env = "NODEHERD_INVENTORY"
    )]
    inventory_arg: Option<PathBuf>,
    /// `inventory_arg`, or the default found (`cli::context::inventory_path`).
    #[arg(skip)]
    inventory: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// When to use colours.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Hosts worked on at once [default: 50 for commands that only read (status, plan, metrics,
    /// alerts, doctor, cosmos plan), 10 for those that change hosts (start, stop,
    /// restart, apply, upgrade, rollback, keys, cosmos upgrade, the TUI)].
    #[arg(long, global = true)]
    forks: Option<usize>,
    /// Further restrict the selection (same syntax as SELECTOR).
    #[arg(long, global = true)]
    limit: Option<String>,
    /// Confirm disruptive actions without asking (required without a terminal).
    #[arg(short, long, global = true)]
    yes: bool,
    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// No progress lines on stderr during upgrade, rollback and apply.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Reconcile the fleet with the playbook non-interactively (same as `nodeherd apply`).
    #[arg(long)]
    apply: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

impl Args {
    /// `--forks`, else the default of commands that only read hosts.
    fn read_forks(&self) -> usize {
        self.forks.unwrap_or(nodeherd_engine::fleet::READ_FORKS)
    }

    /// `--forks`, else the default of commands that change hosts.
    fn write_forks(&self) -> usize {
        self.forks.unwrap_or(nodeherd_engine::fleet::DEFAULT_FORKS)
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Validate the inventory, the playbooks and the alerts file; print every problem at once.
    Check(cli::check::CheckArgs),
    /// Per host: connect, sudo, systemd, host tools, clock, declared ports, token files; each failure with its fix.
    Doctor {
        /// `all`, a group, a host, a glob, `!exclusion`, `&intersection`, comma lists.
        selector: Option<String>,
    },
    /// Show every node of the selected hosts: unit state, PID, since, version, last error.
    Status {
        /// `all`, a group, a host, a glob, `!exclusion`, `&intersection`, comma lists, `host/node`.
        selector: Option<String>,
    },
    /// Start the nodes' systemd units.
    Start { selector: String },
    /// Stop the nodes' systemd units (asks first on a terminal; --yes without one).
    Stop { selector: String },
    /// Restart the nodes' systemd units (asks first on a terminal; --yes without one).
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
    /// Metrics of the selected nodes (scraped through SSH) and their hosts: table, JSON, Prometheus text.
    Metrics {
        selector: Option<String>,
        /// Print Prometheus text format instead of a table.
        #[arg(long, conflicts_with = "serve")]
        prometheus: bool,
        /// Serve Prometheus text at http://ADDR/metrics (e.g. 127.0.0.1:9464), re-gathering on scrapes.
        #[arg(long, value_name = "ADDR")]
        serve: Option<String>,
        /// With --serve: gather at most this often; scrapes in between get the last page.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        min_interval: std::time::Duration,
    },
    /// Evaluate alert rules (playbooks/alerts.toml) on the selected nodes, notify channels, show alerts.
    #[command(args_conflicts_with_subcommands = true)]
    Alerts {
        selector: Option<String>,
        /// Alerts file (rules, [[channel]], [deadman]); default playbooks/alerts.toml or built-in rules.
        #[arg(long, value_name = "PATH", env = "NODEHERD_ALERTS")]
        file: Option<PathBuf>,
        #[command(subcommand)]
        action: Option<AlertsCmd>,
    },
    /// Per node: the running version, the newest allowed release, when the next becomes eligible, and why.
    Releases {
        selector: Option<String>,
        #[arg(short, long)]
        playbook: Option<PathBuf>,
    },
    /// Upgrade nodes: plan, confirm, canary first, then batches, each switch health-gated and reversible.
    Upgrade {
        selector: String,
        /// Install this version (explicit: the policy delay is not applied).
        #[arg(long)]
        to: Option<String>,
        /// Upgrade even when the node is not healthy and synced before.
        #[arg(long)]
        force_unhealthy: bool,
        /// Wait up to this long for another console's lock (e.g. 10m) instead of refusing.
        #[arg(long, value_parser = humantime::parse_duration)]
        wait_lock: Option<std::time::Duration>,
        /// Playbook with the [upgrade] policy (default: playbooks/upgrade-policy.toml).
        #[arg(short, long)]
        playbook: Option<PathBuf>,
    },
    /// Switch nodes back to their previous release (or --to VERSION), health-gated.
    Rollback {
        selector: String,
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_parser = humantime::parse_duration)]
        wait_lock: Option<std::time::Duration>,
        #[arg(short, long)]
        playbook: Option<PathBuf>,
    },
    /// Cosmos chains: pending upgrade plans (`plan`), the chain upgrade at the halt height (`upgrade`).
    #[command(subcommand)]
    Cosmos(CosmosCmd),
    /// Upgrade and rollback journal of the selected nodes (hosts' journals merged with the local one).
    History { selector: Option<String> },
    /// Connect, gather facts and print what an apply would change (each with its reason) and every no-op.
    Plan {
        selector: Option<String>,
        /// Playbook with the declared state (default playbooks/site.toml, or NODEHERD_PLAYBOOK).
        #[arg(short, long, env = "NODEHERD_PLAYBOOK")]
        playbook: Option<PathBuf>,
        /// Exit 10 when changes are pending (0 when none).
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Plan, lock, apply, verify, notify, report: the fleet brought to its declared state.
    Apply {
        selector: Option<String>,
        #[arg(short, long, env = "NODEHERD_PLAYBOOK")]
        playbook: Option<PathBuf>,
        /// Alerts file evaluated after the apply (default playbooks/alerts.toml when present).
        #[arg(long)]
        alerts: Option<PathBuf>,
    },
    /// Validator keys: list, settings, import, remove, move, generate, voluntary exit.
    Keys(cli::keys::KeysArgs),
    /// Fail a validator client's keys over to another one: fence the source (keys removed with
    /// slashing data saved, unit stopped, disabled, masked), wait until the chain shows them
    /// quiet, import into the target. An unreachable source is refused without --source-is-fenced.
    Failover(cli::failover::FailoverArgs),
    /// A local practice fleet: real systemd + sshd hosts in network namespaces (Linux, root).
    Lab(cli::lab::LabArgs),
    /// Print a shell completion script to stdout (e.g. `nodeherd completions bash > /etc/bash_completion.d/nodeherd`).
    Completions {
        #[arg(value_enum)]
        shell: cli::completions::Shell,
    },
    /// Print the manual page (roff) to stdout: `nodeherd man > /usr/local/share/man/man1/nodeherd.1`.
    Man,
    /// The full-screen console (also what `nodeherd` alone opens on a terminal).
    Tui {
        /// `all` (default), a group, a host, a glob, ... (same syntax as for `status`).
        selector: Option<String>,
        /// Remove every action that changes a server (start, stop, restart) from the session.
        #[arg(long)]
        readonly: bool,
        /// Seconds between two status polls (the shortest; see --poll-budget).
        #[arg(long, default_value_t = 5)]
        poll_secs: u64,
        /// Percent of one core the polls may cost: after a costlier poll (a big fleet) the next
        /// waits longer than --poll-secs, and the screen says so once. 0 turns this off.
        #[arg(long, default_value_t = 2.0)]
        poll_budget: f64,
        /// Playbook with the declared state for the plan screen and the [upgrade] policy of the
        /// releases screen (default NODEHERD_PLAYBOOK, else playbooks/site.toml for the plan and
        /// playbooks/upgrade-policy.toml for upgrades, when they exist).
        #[arg(short, long, env = "NODEHERD_PLAYBOOK")]
        playbook: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum CosmosCmd {
    /// Per Cosmos node: height, block time, the pending upgrade plan and the time left to it.
    Plan { selector: Option<String> },
    /// Stage the pending plan's binary (verified, for the host's platform) and switch the nodes
    /// that halted for it, gated on blocks past the height; run it from cron with --yes.
    Upgrade {
        selector: Option<String>,
        /// Wait up to this long for another console's lock (e.g. 1m) instead of refusing.
        #[arg(long, value_parser = humantime::parse_duration)]
        wait_lock: Option<std::time::Duration>,
        /// Playbook with the [upgrade] settings (timeouts).
        #[arg(short, long)]
        playbook: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum AlertsCmd {
    /// Silence matching alerts for a while: RULE[/HOST[/NODE]] (`*` matches anything).
    Silence {
        spec: String,
        /// How long (e.g. 2h, 30m).
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
    },
}

fn main() {
    cli::pipe::exit_quietly_on_broken_pipe();
    let mut args = Args::parse();
    args.inventory = cli::context::inventory_path(
        args.inventory_arg.take(),
        &cli::context::ConfigDirs::from_process(),
    );
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if args.command.is_none() && args.apply {
        args.command = Some(Cmd::Apply {
            selector: None,
            playbook: std::env::var_os("NODEHERD_PLAYBOOK").map(PathBuf::from),
            alerts: None,
        });
    }
    if args.command.is_none() && tty {
        args.command = Some(Cmd::Tui {
            selector: None,
            readonly: false,
            poll_secs: 5,
            poll_budget: 2.0,
            playbook: None,
        });
    }
    let tui = matches!(args.command, Some(Cmd::Tui { .. }));
    init_logging(args.verbose, tui);
    let out = Output {
        json: args.json,
        color,
        quiet: args.quiet,
    };
    let code = match run(args, out) {
        Ok(c) => c,
        Err(Fail(c)) => c,
    };
    std::process::exit(code);
}

/// Logs go to stderr, or to a file while the TUI owns the terminal.
fn init_logging(verbose: u8, tui: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NODEHERD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("nodeherd={level}")));
    if tui {
        // the file, or nothing: never the screen the TUI draws on
        let _ = nodeherd::tui_front::init_file_logging(filter);
        return;
    }
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
    match cmd {
        Cmd::Completions { shell } => {
            use clap::CommandFactory;
            return Ok(cli::completions::run(Args::command(), shell));
        }
        Cmd::Man => {
            use clap::CommandFactory;
            return Ok(cli::man::run(Args::command()));
        }
        _ => {}
    }
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
    rt.block_on(dispatch(cmd, &args, out))
}

/// Run one command (every one but `lab`) on the async runtime.
async fn dispatch(cmd: Cmd, args: &Args, out: Output) -> Result<i32, Fail> {
    let inv = args.inventory.as_path();
    let limit = args.limit.as_deref();
    match cmd {
        Cmd::Check(c) => cli::check::run(inv, &c, out),
        Cmd::Doctor { selector } => {
            cli::doctor::run(inv, selector.as_deref(), limit, args.read_forks(), out).await
        }
        Cmd::Status { selector } => {
            cli::status::run(inv, selector.as_deref(), limit, args.read_forks(), out).await
        }
        Cmd::Start { selector } => lifecycle(inv, Action::Start, &selector, args, out).await,
        Cmd::Stop { selector } => lifecycle(inv, Action::Stop, &selector, args, out).await,
        Cmd::Restart { selector } => lifecycle(inv, Action::Restart, &selector, args, out).await,
        Cmd::Logs {
            node,
            follow,
            lines,
        } => cli::logs::run(inv, &node, lines, follow, out).await,
        Cmd::Metrics {
            selector,
            prometheus,
            serve,
            min_interval,
        } => {
            metrics(
                args,
                selector.as_deref(),
                prometheus,
                serve,
                min_interval,
                out,
            )
            .await
        }
        Cmd::Alerts {
            selector,
            file,
            action,
        } => alerts(args, selector.as_deref(), file.as_deref(), action, out).await,
        Cmd::Releases { selector, playbook } => {
            cli::releases::releases(common(args, selector.as_deref(), playbook.as_deref(), out))
                .await
        }
        Cmd::Upgrade {
            selector,
            to,
            force_unhealthy,
            wait_lock,
            playbook,
        } => {
            cli::upgrade::upgrade(
                common(args, Some(&selector), playbook.as_deref(), out),
                to.as_deref(),
                force_unhealthy,
                wait_lock,
            )
            .await
        }
        Cmd::Rollback {
            selector,
            to,
            wait_lock,
            playbook,
        } => {
            cli::upgrade::rollback(
                common(args, Some(&selector), playbook.as_deref(), out),
                to.as_deref(),
                wait_lock,
            )
            .await
        }
        Cmd::Plan {
            selector,
            playbook,
            detailed_exitcode,
        } => {
            let mut a = apply_args(args, selector.as_deref(), playbook.as_deref(), None, out);
            a.forks = args.read_forks();
            cli::apply::plan(a, detailed_exitcode).await
        }
        Cmd::Apply {
            selector,
            playbook,
            alerts,
        } => {
            let a = apply_args(
                args,
                selector.as_deref(),
                playbook.as_deref(),
                alerts.as_deref(),
                out,
            );
            cli::apply::apply(a).await
        }
        Cmd::Cosmos(c) => cosmos(args, c, out).await,
        Cmd::History { selector } => {
            cli::upgrade::history(common(args, selector.as_deref(), None, out)).await
        }
        Cmd::Keys(k) => cli::keys::run(k, inv, limit, args.write_forks(), args.yes, out).await,
        Cmd::Failover(f) => cli::keys::failover::run(f, inv, args.yes, out).await,
        Cmd::Lab(_) | Cmd::Completions { .. } | Cmd::Man => Ok(exit::OK),
        Cmd::Tui {
            selector,
            readonly,
            poll_secs,
            poll_budget,
            playbook,
        } => {
            tui(
                args,
                selector.as_deref(),
                readonly,
                (poll_secs, poll_budget),
                playbook.as_deref(),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Args;
    use clap::Parser;

    #[test]
    fn reads_fan_out_wider_than_changes_unless_forks_is_given() {
        let a = Args::parse_from(["nodeherd", "status"]);
        assert_eq!((a.read_forks(), a.write_forks()), (50, 10));
        let a = Args::parse_from(["nodeherd", "--forks", "3", "status"]);
        assert_eq!((a.read_forks(), a.write_forks()), (3, 3));
    }
}
