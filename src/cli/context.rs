//! What every fleet command needs: the loaded inventory, the selection, and an SSH pool.

use super::exit;
use nodeherd_core::inventory::{self, Inventory, NodeRef};
use nodeherd_core::selector::Selector;
use nodeherd_transport::ssh::{ConnectOptions, Pool};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

/// A command-line failure that has already been explained to the user: carries the exit code.
#[derive(Debug)]
pub struct Fail(pub i32);

/// Load the inventory or print every problem in it (exit 2).
pub fn load_inventory(path: &Path, color: bool) -> Result<Inventory, Fail> {
    match Inventory::load(path) {
        Ok(inv) => Ok(inv),
        Err(e) => {
            eprint!("{}", inventory::render(&e, color));
            Err(Fail(exit::USAGE))
        }
    }
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
