//! `nodeherd lab up|status|down|prepare`: the front end of [`nodeherd_lab`].
//!
//! Owns argument parsing and printing for the lab; all logic lives in `nodeherd_lab`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use miette::IntoDiagnostic as _;

use nodeherd_lab::{self as lab, LabConfig};

/// Manage the local practice lab (Linux, root).
#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    cmd: LabCmd,
}

/// Which lab (shared by every subcommand).
#[derive(Debug, Args, Clone)]
pub struct LabSelect {
    /// Lab name (prefix of host, interface and cgroup names).
    #[arg(long, default_value = lab::DEFAULT_NAME)]
    name: String,
    /// Where caches and lab state live.
    #[arg(long, default_value = lab::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum LabCmd {
    /// Create (or extend) the lab and write its inventory.
    Up {
        /// Number of hosts.
        #[arg(default_value_t = 3)]
        hosts: usize,
        /// Do not install or run Lodestar.
        #[arg(long)]
        no_lodestar: bool,
        /// How many hosts run Lodestar (beacon node + validator client).
        #[arg(long, default_value_t = 1)]
        lodestar_hosts: usize,
        /// Also run a keyless second validator client `lodestar-vc2` on host 1 (keymanager 5063).
        #[arg(long)]
        extra_vc: bool,
        /// How many hosts run EthereumJS (an execution client, `ethereumjs-el`, in the nodeherd layout).
        #[arg(long, default_value_t = 0)]
        ethereumjs_hosts: usize,
        /// Do not serve the lab's release feed (Lodestar 1.4.2 and 1.5.1 from host 1, port 8089).
        #[arg(long)]
        no_feed: bool,
        /// Second octet of the lab network 10.X.0.0/24.
        #[arg(long, default_value_t = 213)]
        subnet: u8,
        /// Write the inventory here (default: inventory/lab.toml for the lab "nhlab").
        #[arg(long, value_name = "PATH")]
        write_inventory: Option<PathBuf>,
        #[command(flatten)]
        select: LabSelect,
    },
    /// Show the lab's hosts.
    Status {
        #[arg(long, default_value_t = 213)]
        subnet: u8,
        #[command(flatten)]
        select: LabSelect,
    },
    /// Stop the lab and remove everything it created (caches and host keys are kept).
    Down {
        #[arg(long, default_value_t = 213)]
        subnet: u8,
        #[command(flatten)]
        select: LabSelect,
    },
    /// Build the caches only (Debian base, client key, Lodestar and EthereumJS installs).
    Prepare {
        /// Skip the Lodestar installs.
        #[arg(long)]
        no_lodestar: bool,
        /// Skip the EthereumJS installs.
        #[arg(long)]
        no_ethereumjs: bool,
        #[command(flatten)]
        select: LabSelect,
    },
}

fn config(select: &LabSelect, subnet: u8) -> LabConfig {
    LabConfig {
        name: select.name.clone(),
        subnet,
        state_dir: select.state_dir.clone(),
        ..LabConfig::default()
    }
}

pub fn run(args: LabArgs) -> miette::Result<()> {
    match args.cmd {
        LabCmd::Up {
            hosts,
            no_lodestar,
            lodestar_hosts,
            extra_vc,
            ethereumjs_hosts,
            no_feed,
            subnet,
            write_inventory,
            select,
        } => {
            let cfg = LabConfig {
                hosts,
                lodestar: !no_lodestar,
                lodestar_hosts,
                inventory_out: write_inventory,
                extra_vc,
                ethereumjs_hosts,
                feed: !no_feed,
                ..config(&select, subnet)
            };
            let report = lab::up(&cfg).into_diagnostic()?;
            for h in &report.hosts {
                println!(
                    "{:<12} {:<15} {}{}{}",
                    h.name,
                    h.address,
                    if h.started {
                        "started"
                    } else {
                        "already running"
                    },
                    if h.lodestar && h.extra_vc {
                        "  (lodestar-bn, lodestar-vc, lodestar-vc2)"
                    } else if h.lodestar {
                        "  (lodestar-bn, lodestar-vc)"
                    } else {
                        ""
                    },
                    if h.ethereumjs {
                        "  (ethereumjs-el)"
                    } else {
                        ""
                    }
                );
            }
            println!("inventory:   {}", report.inventory.display());
            println!("known_hosts: {}", report.known_hosts.display());
            println!("ssh key:     {}", report.client_key.display());
            if lab::feed::serves_feed(&cfg) {
                println!("release feed: {}", lab::feed::feed_url(cfg.subnet));
            }
            println!("lab {} up in {:.1?}", cfg.name, report.elapsed);
            Ok(())
        }
        LabCmd::Status { subnet, select } => {
            let cfg = config(&select, subnet);
            let hosts = lab::status(&cfg).into_diagnostic()?;
            if hosts.is_empty() {
                println!("lab {}: no hosts", cfg.name);
            }
            for h in hosts {
                println!(
                    "{:<12} {:<15} {:<8} ssh {}",
                    h.name,
                    h.address,
                    if h.running { "running" } else { "stopped" },
                    if h.ssh_open { "open" } else { "closed" }
                );
            }
            Ok(())
        }
        LabCmd::Down { subnet, select } => {
            let cfg = config(&select, subnet);
            let t = std::time::Instant::now();
            lab::down(&cfg).into_diagnostic()?;
            println!("lab {} down in {:.1?}", cfg.name, t.elapsed());
            Ok(())
        }
        LabCmd::Prepare {
            no_lodestar,
            no_ethereumjs,
            select,
        } => {
            let cfg = LabConfig {
                lodestar: !no_lodestar,
                ethereumjs: !no_ethereumjs,
                ..config(&select, 213)
            };
            let t = std::time::Instant::now();
            lab::prepare(&cfg).into_diagnostic()?;
            println!(
                "lab caches ready in {} ({:.1?})",
                cfg.state_dir.display(),
                t.elapsed()
            );
            Ok(())
        }
    }
}
