//! What every fleet command needs: the loaded inventory, the selection, and an SSH pool; and where the
//! inventory and playbooks are looked for when no path is given: `./inventory` (`./playbooks`), else
//! `$XDG_CONFIG_HOME/nodeherd/inventory` (default `~/.config/nodeherd/...`).

use super::exit;
use nodeherd_core::inventory::{self, Inventory, NodeRef};
use nodeherd_core::selector::Selector;
use nodeherd_transport::ssh::{ConnectOptions, Pool};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A command-line failure that has already been explained to the user: carries the exit code.
#[derive(Debug)]
pub struct Fail(pub i32);

/// Where the default inventory and playbooks are looked for, in order (injected for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDirs {
    /// The working directory (empty for the process's own: paths then stay relative, as typed).
    pub cwd: PathBuf,
    /// `$XDG_CONFIG_HOME/nodeherd`, or `~/.config/nodeherd` (`None` without a home).
    pub user: Option<PathBuf>,
}

impl ConfigDirs {
    /// From the values of `XDG_CONFIG_HOME` and the home directory; a relative or empty
    /// `XDG_CONFIG_HOME` is ignored, as the XDG base directory specification says.
    pub fn new(cwd: PathBuf, xdg_config_home: Option<OsString>, home: Option<PathBuf>) -> Self {
        let base = xdg_config_home
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.map(|h| h.join(".config")));
        ConfigDirs {
            cwd,
            user: base.map(|b| b.join("nodeherd")),
        }
    }

    /// This process's: the working directory, `XDG_CONFIG_HOME`, `HOME`.
    pub fn from_process() -> Self {
        Self::new(
            PathBuf::new(),
            std::env::var_os("XDG_CONFIG_HOME"),
            dirs::home_dir(),
        )
    }

    /// The places `rel` (e.g. `inventory`, `playbooks/site.toml`) is looked for, in order.
    pub fn candidates(&self, rel: &str) -> Vec<PathBuf> {
        let mut out = vec![self.cwd.join(rel)];
        out.extend(self.user.as_ref().map(|u| u.join(rel)));
        out
    }

    /// `rel` under the first place whose top directory (`inventory`, `playbooks`) exists; `Err` with
    /// every path tried when none does.
    pub fn locate(&self, rel: &str) -> Result<PathBuf, Vec<PathBuf>> {
        let top = rel.split('/').next().unwrap_or(rel);
        let tops = self.candidates(top);
        match tops.iter().position(|t| t.exists()) {
            Some(i) => Ok(self.candidates(rel).swap_remove(i)),
            None => Err(tops),
        }
    }
}

/// The places tried for the default inventory when none of them exists (set by [`inventory_path`]).
static INVENTORY_TRIED: OnceLock<Vec<PathBuf>> = OnceLock::new();

/// The inventory to load: `given` (`-i`, `NODEHERD_INVENTORY`) wins; else the first of `./inventory`,
/// `$XDG_CONFIG_HOME/nodeherd/inventory` that exists. When none does, [`load_inventory`] names them all.
pub fn inventory_path(given: Option<PathBuf>, dirs: &ConfigDirs) -> PathBuf {
    if let Some(p) = given {
        return p;
    }
    dirs.locate("inventory").unwrap_or_else(|tried| {
        let first = tried.first().cloned().unwrap_or_else(|| "inventory".into());
        let _ = INVENTORY_TRIED.set(tried);
        first
    })
}

/// A default playbook path such as `playbooks/site.toml`, under the first place whose `playbooks`
/// directory exists (as typed when none does).
pub fn playbook_default(rel: &str) -> PathBuf {
    ConfigDirs::from_process()
        .locate(rel)
        .unwrap_or_else(|_| PathBuf::from(rel))
}

/// Load the inventory or print every problem in it (exit 2).
pub fn load_inventory(path: &Path, color: bool) -> Result<Inventory, Fail> {
    require_found(path)?;
    match Inventory::load(path) {
        Ok(inv) => Ok(inv),
        Err(e) => {
            eprint!("{}", inventory::render(&e, color));
            Err(Fail(exit::USAGE))
        }
    }
}

/// When no `-i` was given and no default inventory exists, say every place looked in (exit 2).
pub fn require_found(path: &Path) -> Result<(), Fail> {
    if let Some(tried) = INVENTORY_TRIED.get().filter(|_| !path.exists()) {
        let list: Vec<String> = tried
            .iter()
            .map(|p| {
                let shown = p.display().to_string();
                if p.is_relative() {
                    format!("./{shown}")
                } else {
                    shown
                }
            })
            .collect();
        eprintln!(
            "error: no inventory found; looked in {} (give -i PATH or set NODEHERD_INVENTORY)",
            list.join(", ")
        );
        return Err(Fail(exit::USAGE));
    }
    Ok(())
}

/// Resolve a selector (`all` when none) to nodes, or explain why it matches nothing (exit 2).
pub fn select(
    inv: &Inventory,
    selector: Option<&str>,
    limit: Option<&str>,
) -> Result<Vec<NodeRef>, Fail> {
    narrow(selector, limit, |sel| sel.select_nodes(inv))
}

/// Resolve a selector (`all` when none) to host indices, hosts without nodes included.
pub fn select_hosts(
    inv: &Inventory,
    selector: Option<&str>,
    limit: Option<&str>,
) -> Result<Vec<usize>, Fail> {
    narrow(selector, limit, |sel| sel.select_hosts(inv))
}

/// What `selector` picks, less what `limit` (when given) does not; a bad selector is exit 2.
fn narrow<T: PartialEq, E: std::fmt::Display>(
    selector: Option<&str>,
    limit: Option<&str>,
    pick_with: impl Fn(&Selector) -> Result<Vec<T>, E>,
) -> Result<Vec<T>, Fail> {
    let pick = |s: &str| -> Result<Vec<T>, Fail> {
        Selector::parse(s)
            .map_err(|e| e.to_string())
            .and_then(|sel| pick_with(&sel).map_err(|e| e.to_string()))
            .map_err(|e| {
                eprintln!("error: {e}");
                Fail(exit::USAGE)
            })
    };
    let mut picked = pick(selector.unwrap_or("all"))?;
    if let Some(l) = limit {
        let allowed = pick(l)?;
        picked.retain(|x| allowed.contains(x));
    }
    Ok(picked)
}

/// An SSH pool whose passphrase questions go to the terminal when there is one.
pub fn pool() -> Pool {
    let mut opts = ConnectOptions::default();
    if std::io::stdin().is_terminal() {
        opts.passphrase = Some(Arc::new(|path: &Path| {
            rpassword::prompt_password(format!("Passphrase for {}: ", path.display())).ok()
        }));
    }
    Pool::new(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_config_home_wins_over_home_and_must_be_absolute() {
        let d = ConfigDirs::new("w".into(), Some("/x/cfg".into()), Some("/home/u".into()));
        assert_eq!(d.user, Some(PathBuf::from("/x/cfg/nodeherd")));
        let d = ConfigDirs::new("w".into(), Some("rel/cfg".into()), Some("/home/u".into()));
        assert_eq!(d.user, Some(PathBuf::from("/home/u/.config/nodeherd")));
        let d = ConfigDirs::new("w".into(), Some("".into()), Some("/home/u".into()));
        assert_eq!(d.user, Some(PathBuf::from("/home/u/.config/nodeherd")));
        let d = ConfigDirs::new("w".into(), None, None);
        assert_eq!(d.user, None);
        assert_eq!(d.candidates("inventory"), [PathBuf::from("w/inventory")]);
    }

    #[test]
    fn the_working_directory_first_then_the_user_config() {
        let tmp = tempfile::tempdir().unwrap();
        let cwd = tmp.path().join("work");
        let cfg = tmp.path().join("cfg");
        std::fs::create_dir_all(&cwd).unwrap();
        let d = ConfigDirs::new(cwd.clone(), Some(cfg.clone().into()), None);
        let tried = d.locate("inventory").unwrap_err();
        assert_eq!(
            tried,
            [cwd.join("inventory"), cfg.join("nodeherd/inventory")]
        );
        assert_eq!(
            d.locate("playbooks/site.toml").unwrap_err(),
            [cwd.join("playbooks"), cfg.join("nodeherd/playbooks")]
        );
        std::fs::create_dir_all(cfg.join("nodeherd/inventory")).unwrap();
        std::fs::create_dir_all(cfg.join("nodeherd/playbooks")).unwrap();
        assert_eq!(
            d.locate("inventory").unwrap(),
            cfg.join("nodeherd/inventory")
        );
        assert_eq!(
            d.locate("playbooks/site.toml").unwrap(),
            cfg.join("nodeherd/playbooks/site.toml")
        );
        std::fs::create_dir_all(cwd.join("inventory")).unwrap();
        assert_eq!(d.locate("inventory").unwrap(), cwd.join("inventory"));
        // a path given on the command line is taken as is
        assert_eq!(
            inventory_path(Some("/given".into()), &d),
            PathBuf::from("/given")
        );
        assert_eq!(inventory_path(None, &d), cwd.join("inventory"));
    }
}
