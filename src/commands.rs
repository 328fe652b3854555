//! The binary's per-command glue (part of `src/main.rs`'s crate, not of the library): turns the
//! parsed arguments of one subcommand into the call of its front end in `nodeherd::cli`.
//!
//! Owns: argument plumbing only (which defaults, which `--forks`). May not touch: any use case
//! (those are in the library's `cli` and the engine).

use super::{AlertsCmd, Args, CosmosCmd};
use nodeherd::cli::{self, Output, context::Fail};
use nodeherd_core::facts::systemd::Action;

/// `nodeherd alerts`: one evaluation round, or `alerts silence`.
pub(super) async fn alerts(
    args: &Args,
    selector: Option<&str>,
    file: Option<&std::path::Path>,
    action: Option<AlertsCmd>,
    out: Output,
) -> Result<i32, Fail> {
    let inv = args.inventory.as_path();
    let limit = args.limit.as_deref();
    match action {
        Some(AlertsCmd::Silence { spec, duration }) => {
            cli::alerts::silence(&spec, duration, file, out)
        }
        None => cli::alerts::run(inv, selector, limit, args.read_forks(), file, out).await,
    }
}

/// `nodeherd metrics`: served (`--serve`) or printed once in the chosen format.
pub(super) async fn metrics(
    args: &Args,
    selector: Option<&str>,
    prometheus: bool,
    serve: Option<String>,
    min_interval: std::time::Duration,
    out: Output,
) -> Result<i32, Fail> {
    let inv = args.inventory.as_path();
    let limit = args.limit.as_deref();
    if let Some(addr) = serve {
        cli::metrics::serve(
            inv,
            selector,
            limit,
            args.read_forks(),
            &addr,
            min_interval,
            out,
        )
        .await
    } else {
        let format = if prometheus {
            cli::metrics::Format::Prometheus
        } else if out.json {
            cli::metrics::Format::Json
        } else {
            cli::metrics::Format::Table
        };
        cli::metrics::run(inv, selector, limit, args.read_forks(), format, out).await
    }
}

/// `nodeherd tui` (and `nodeherd` alone on a terminal), launched beside the CLI.
pub(super) async fn tui(
    args: &Args,
    selector: Option<&str>,
    readonly: bool,
    (poll_secs, poll_budget): (u64, f64),
    playbook: Option<&std::path::Path>,
) -> Result<i32, Fail> {
    let inv = args.inventory.as_path();
    let limit = args.limit.as_deref();
    nodeherd::tui_front::run(nodeherd::tui_front::TuiArgs {
        inventory: inv,
        selector,
        limit,
        forks: args.write_forks(),
        readonly,
        poll_every: std::time::Duration::from_secs(poll_secs.max(1)),
        poll_budget: poll_budget / 100.0,
        playbook,
    })
    .await
}

pub(super) async fn lifecycle(
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
        args.write_forks(),
        args.yes,
        out,
    )
    .await
}

pub(super) async fn cosmos(args: &Args, cmd: CosmosCmd, out: Output) -> Result<i32, Fail> {
    match cmd {
        CosmosCmd::Plan { selector } => {
            cli::cosmos::plan(
                common(args, selector.as_deref(), None, out),
                args.read_forks(),
            )
            .await
        }
        CosmosCmd::Upgrade {
            selector,
            wait_lock,
            playbook,
        } => {
            let c = common(args, selector.as_deref(), playbook.as_deref(), out);
            cli::cosmos::upgrade(c, args.write_forks(), wait_lock).await
        }
    }
}

pub(super) fn common<'a>(
    args: &'a Args,
    selector: Option<&'a str>,
    playbook: Option<&'a std::path::Path>,
    out: Output,
) -> cli::targets::Common<'a> {
    cli::targets::Common {
        inventory: args.inventory.as_path(),
        selector,
        limit: args.limit.as_deref(),
        playbook,
        yes: args.yes,
        out,
    }
}

pub(super) fn apply_args<'a>(
    args: &'a Args,
    selector: Option<&'a str>,
    playbook: Option<&'a std::path::Path>,
    alerts: Option<&'a std::path::Path>,
    out: Output,
) -> cli::apply::Args<'a> {
    cli::apply::Args {
        inventory: args.inventory.as_path(),
        selector,
        limit: args.limit.as_deref(),
        playbook,
        forks: args.write_forks(),
        yes: args.yes,
        out,
        alerts,
    }
}
