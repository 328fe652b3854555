//! The site: a playbook with the fleet's declared state, loaded once the same way for every
//! front end, and its plan (facts gathered over SSH, then the pure planner).
//!
//! Owns: reading the site playbook (its policy sections and its declared state) and planning it.
//! May not touch: how a problem is shown (the CLI renders reports, the TUI flattens them to one
//! line), the lock and running a plan (that is `crate::apply`).

use std::path::{Path, PathBuf};

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::plan::apply::Plan;
use nodeherd_core::plan::desired::{DesiredState, StateError};
use nodeherd_core::playbook::{Playbook, PlaybookError};
use nodeherd_transport::ssh::Pool;

use crate::apply::run::{self, Gathered};
use crate::upgrade::engine::Options;

/// A loaded site playbook: its policy and its declared state.
#[derive(Debug, Clone)]
pub struct Site {
    pub playbook: Playbook,
    pub desired: DesiredState,
}

/// Why a site playbook could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The playbook's policy sections are wrong (or the file cannot be read as a playbook).
    #[error("{0}")]
    Playbook(Box<PlaybookError>),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The declared state does not fit the inventory: every problem at once.
    #[error("{0}")]
    Desired(StateError),
}

impl SiteError {
    /// One line: the error and each problem after a `; `.
    pub fn one_line(&self) -> String {
        if let SiteError::Playbook(e) = self {
            return e.one_line();
        }
        let mut s = self.to_string();
        if let SiteError::Desired(e) = self {
            for p in &e.problems {
                s.push_str(&format!("; {}", p.message));
            }
        }
        s
    }
}

/// Load the site playbook at `path` against `inv`: the playbook, then its declared state.
pub fn load(path: &Path, inv: &Inventory) -> Result<Site, SiteError> {
    let playbook = Playbook::load(path).map_err(|e| SiteError::Playbook(Box::new(e)))?;
    let text = std::fs::read_to_string(path).map_err(|source| SiteError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let desired = DesiredState::parse(&[(path.display().to_string(), text)], inv)
        .map_err(SiteError::Desired)?;
    Ok(Site { playbook, desired })
}

/// A plan of the site for `nodes`, with what it was made from (an apply runs exactly this).
pub struct SitePlan {
    pub plan: Plan,
    pub refs: Vec<NodeRef>,
    pub gathered: Gathered,
}

/// Gather the facts of `nodes` (at most `forks` hosts at once) and plan the site.
pub async fn plan(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    forks: usize,
    site: &Site,
    opts: &Options,
) -> SitePlan {
    let gathered = run::gather(pool, inv, nodes, forks, &site.playbook, &site.desired, opts).await;
    let (plan, refs) = run::make_plan(inv, &gathered, &site.desired);
    SitePlan {
        plan,
        refs,
        gathered,
    }
}
