//! `nodeherd tui [SELECTOR]` (and `nodeherd` alone on a terminal): launching the full-screen
//! console, at the binary's level beside the CLI (the CLI never references the TUI).
//!
//! Owns: turning flags into a TUI session: inventory, selection, the log file, exit codes.
//! May use the CLI's shared helpers (`cli::context` for loading and selecting, `cli::exit`).
//! May not touch: the terminal itself (that is `nodeherd_tui::runtime`), any use case's logic
//! (that is `nodeherd_engine`).

use crate::cli::context::{self, Fail};
use crate::cli::exit;
use nodeherd_tui::{self as tui, Config};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where the TUI's log goes while the terminal is in use: `$XDG_STATE_HOME/nodeherd/tui.log`
/// (or the cache dir, or the temp dir).
pub fn log_path() -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::cache_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("nodeherd")
        .join("tui.log")
}

/// Send tracing to [`log_path`] instead of stderr (never to the screen while the TUI is up).
pub fn init_file_logging(filter: tracing_subscriber::EnvFilter) -> Option<PathBuf> {
    let path = log_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init()
        .ok()?;
    Some(path)
}

pub struct TuiArgs<'a> {
    pub inventory: &'a Path,
    pub selector: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub forks: usize,
    pub readonly: bool,
    pub poll_every: Duration,
    /// The share of one core the polls may cost (`--poll-budget`, percent / 100).
    pub poll_budget: f64,
    /// `-p`: the playbook of the plan screen, and of the releases screen's upgrade policy.
    pub playbook: Option<&'a Path>,
}

/// The releases screen's upgrade policy, read as `nodeherd upgrade -p` reads it: the playbook
/// given with `-p` (or NODEHERD_PLAYBOOK) when there is one, else playbooks/upgrade-policy.toml
/// when it exists; None: the built-in default policy.
pub fn policy_playbook(given: Option<&Path>) -> Option<PathBuf> {
    given.map(Path::to_path_buf).or_else(|| {
        Some(context::playbook_default(
            crate::cli::targets::DEFAULT_PLAYBOOK,
        ))
        .filter(|p| p.exists())
    })
}

/// The plan screen's playbook: `-p`, else NODEHERD_PLAYBOOK, else playbooks/site.toml when it
/// exists; None: the screen says there is no playbook.
pub fn site_playbook(flag: Option<&Path>, env: Option<PathBuf>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or(env).or_else(|| {
        Some(context::playbook_default(
            crate::cli::apply::DEFAULT_PLAYBOOK,
        ))
        .filter(|p| p.exists())
    })
}

pub async fn run(a: TuiArgs<'_>) -> Result<i32, Fail> {
    let inv = context::load_inventory(a.inventory, true)?;
    let nodes = context::select(&inv, a.selector, a.limit)?;
    let mut app = tui::App::new(&inv, &nodes, a.readonly);
    let site = site_playbook(
        a.playbook,
        std::env::var_os("NODEHERD_PLAYBOOK").map(PathBuf::from),
    );
    app.plan.playbook = site.as_ref().map(|p| p.display().to_string());
    let config = Config {
        poll_every: a.poll_every,
        poll_budget: a.poll_budget,
        forks: a.forks,
        alerts_file: Some(context::playbook_default(
            nodeherd_engine::alerts::DEFAULT_ALERTS_FILE,
        )),
        alerts_state: nodeherd_engine::alerts::state_file().ok(),
        playbook: policy_playbook(a.playbook),
        site_playbook: site,
        ..Config::default()
    };
    let connect = context::pool().options().clone();
    match tui::runtime::run_terminal(app, Arc::new(inv), nodes, config, connect).await {
        Ok(()) => Ok(exit::OK),
        Err(tui::TuiError::NotATerminal) => {
            eprintln!("error: {}", tui::TuiError::NotATerminal);
            Err(Fail(exit::USAGE))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(Fail(exit::FAILED))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_playbook_flag_then_env_then_site_toml() {
        let flag = Path::new("pb/flag.toml");
        assert_eq!(
            site_playbook(Some(flag), Some(PathBuf::from("pb/env.toml"))),
            Some(PathBuf::from("pb/flag.toml"))
        );
        assert_eq!(
            site_playbook(None, Some(PathBuf::from("pb/env.toml"))),
            Some(PathBuf::from("pb/env.toml"))
        );
        // neither: playbooks/site.toml only when it exists (relative to the working directory)
        let default = context::playbook_default(crate::cli::apply::DEFAULT_PLAYBOOK);
        let expect = default.exists().then_some(default);
        assert_eq!(site_playbook(None, None), expect);
    }

    #[test]
    fn policy_playbook_is_the_given_one_before_the_default() {
        // `nodeherd tui -p playbooks/lab.toml` upgrades and rolls back under lab.toml's [upgrade],
        // as `nodeherd upgrade -p playbooks/lab.toml` does (it used upgrade-policy.toml regardless)
        let given = Path::new("playbooks/lab.toml");
        assert_eq!(policy_playbook(Some(given)), Some(given.to_path_buf()));
        let default = context::playbook_default(crate::cli::targets::DEFAULT_PLAYBOOK);
        assert_eq!(
            policy_playbook(None),
            default.exists().then_some(default.clone())
        );
    }
}
