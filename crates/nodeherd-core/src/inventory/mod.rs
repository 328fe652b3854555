//! The inventory: hosts, groups and nodes from TOML files, with precise diagnostics.
//!
//! Owns: the TOML format (a file, or a directory whose `*.toml` files are merged, not
//! recursively), its validation, precedence (host > groups incl. parents > the file's
//! `[defaults]` > built-in), and the resolved model that the rest of nodeherd uses.
//! May not touch: the network, SSH sessions or the terminal. Every problem of every file is
//! reported at once ([`InventoryError`], rendered by [`render`]); a TOML syntax error stops only
//! its own file.
//!
//! Layout: `raw` reads one file into spanned values; `check` holds pure per-value rules;
//! `resolve` merges files and applies precedence; `error` presents problems (the same types serve
//! playbooks and `alerts.toml`), `excerpt` what a report shows of a file, `filecheck` the
//! shape checks of a playbook or `alerts.toml` in the same wording; `model` is the result;
//! `lookup` is why a name or selector finds nothing ([`SelectorError`], also `crate::selector`'s).

mod check;
mod error;
mod excerpt;
pub(crate) mod filecheck;
mod lookup;
mod model;
mod raw;
mod resolve;
pub mod sshconfig;
pub(crate) mod suggest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use error::{ConfigError, InventoryError, Problem, ProblemKind, render, render_diagnostic};
pub use excerpt::Excerpt;
pub(crate) use excerpt::{clean, line_col};
pub use lookup::SelectorError;
pub use model::{
    Backup, ClientKind, DeclaredProbe, Group, Host, Node, NodeRef, Origin, Role, jump_chain,
};
pub use resolve::DEFAULT_USER;

use error::SourceFile;

/// A loaded, validated inventory.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// Hosts in order: files in name order, hosts in the order written.
    pub hosts: Vec<Host>,
    pub groups: BTreeMap<String, Group>,
    /// The files that were read.
    pub sources: Vec<PathBuf>,
}

impl Inventory {
    /// Loads a TOML file, or every `*.toml` file of a directory (sorted by name, not recursive).
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let io = |msg: String, help: &str| {
            InventoryError::new(vec![
                Problem::without_source(ProblemKind::Io, msg).help(help),
            ])
        };
        let meta = std::fs::metadata(path).map_err(|e| {
            io(
                format!("cannot read inventory {}: {e}", path.display()),
                "pass a TOML file or a directory of them with -i",
            )
        })?;
        let files: Vec<PathBuf> = if meta.is_dir() {
            let rd = std::fs::read_dir(path).map_err(|e| {
                io(
                    format!("cannot list inventory directory {}: {e}", path.display()),
                    "check the permissions",
                )
            })?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(std::result::Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(io(
                    format!(
                        "inventory directory {} holds no *.toml file",
                        path.display()
                    ),
                    "add a file such as hosts.toml (see inventory/examples/production.toml)",
                ));
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut sources = Vec::new();
        let mut problems = Vec::new();
        for f in &files {
            match std::fs::read_to_string(f) {
                Ok(text) => sources.push((f.clone(), text)),
                Err(e) => problems.push(
                    Problem::without_source(
                        ProblemKind::Io,
                        format!("cannot read {}: {e}", f.display()),
                    )
                    .help("inventory files must be readable UTF-8 text"),
                ),
            }
        }
        Self::build(sources, problems, &sshconfig::SshConfig::load())
    }

    /// Builds an inventory from in-memory files `(path, text)`; paths give names and the base
    /// directory for relative paths inside them.
    pub fn from_sources(sources: Vec<(PathBuf, String)>) -> Result<Inventory, InventoryError> {
        Self::build(sources, Vec::new(), &sshconfig::SshConfig::none())
    }

    /// Like [`Inventory::from_sources`], with an OpenSSH configuration below the inventory.
    pub fn from_sources_with_ssh(
        sources: Vec<(PathBuf, String)>,
        ssh: &sshconfig::SshConfig,
    ) -> Result<Inventory, InventoryError> {
        Self::build(sources, Vec::new(), ssh)
    }

    fn build(
        sources: Vec<(PathBuf, String)>,
        mut problems: Vec<Problem>,
        ssh: &sshconfig::SshConfig,
    ) -> Result<Inventory, InventoryError> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let files: Vec<SourceFile> = sources
            .iter()
            .map(|(p, t)| SourceFile {
                name: p.display().to_string(),
                text: t.as_str().into(),
                base: cwd.join(p.parent().unwrap_or(Path::new(""))),
            })
            .collect();
        let raws: Vec<raw::RawFile> = (0..files.len())
            .filter_map(|i| raw::read_file(&files, i, &mut problems))
            .collect();
        // The ssh config files follow the inventory files, so that problems can point into them.
        let mut files = files;
        let ssh_offset = files.len();
        files.extend(ssh.parsed.files.iter().map(|f| SourceFile {
            name: f.path.display().to_string(),
            text: f.text.as_str().into(),
            base: f.path.parent().unwrap_or(Path::new("/")).to_path_buf(),
        }));
        for sp in &ssh.parsed.problems {
            let p = if sp.file == usize::MAX {
                Problem::without_source(ProblemKind::Io, sp.message.clone())
            } else {
                let loc = error::Loc {
                    file: ssh_offset + sp.file,
                    span: sp.span.clone(),
                };
                Problem::at(
                    &files,
                    ProblemKind::InvalidValue,
                    &loc,
                    "here",
                    sp.message.clone(),
                )
            };
            problems.push(p.help(sp.help.clone()));
        }
        let (hosts, groups) = resolve::resolve(&files, &raws, &mut problems, (ssh, ssh_offset));
        if !problems.is_empty() {
            return Err(InventoryError::new(problems));
        }
        Ok(Inventory {
            hosts,
            groups,
            sources: sources.into_iter().map(|(p, _)| p).collect(),
        })
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// Finds one node by `host/node`, or by `node` alone when only one host has a node of that name.
    pub fn find_node(&self, spec: &str) -> Result<NodeRef, SelectorError> {
        let all = || {
            self.hosts.iter().enumerate().flat_map(|(hi, h)| {
                h.nodes
                    .iter()
                    .enumerate()
                    .map(move |(ni, n)| (NodeRef { host: hi, node: ni }, h, n))
            })
        };
        let found: Vec<(NodeRef, &Host, &Node)> = match spec.split_once('/') {
            Some((h, n)) => all()
                .filter(|(_, host, node)| host.name == h && node.name == n)
                .collect(),
            None => all().filter(|(_, _, node)| node.name == spec).collect(),
        };
        match found.as_slice() {
            [(r, _, _)] => Ok(*r),
            [] => {
                let names: Vec<String> = all()
                    .map(|(_, h, n)| format!("{}/{}", h.name, n.name))
                    .collect();
                let mut near = suggest::closest(spec, &names);
                if !spec.contains('/') {
                    let bare: Vec<&str> = all().map(|(_, _, n)| n.name.as_str()).collect();
                    for b in suggest::closest(spec, &bare) {
                        if let Some(full) = names.iter().find(|f| f.ends_with(&format!("/{b}"))) {
                            if !near.contains(full) {
                                near.push(full.clone());
                            }
                        }
                    }
                }
                Err(SelectorError::NoSuchNode {
                    spec: spec.to_string(),
                    suggestions: near,
                })
            }
            many => Err(SelectorError::AmbiguousNode {
                spec: spec.to_string(),
                candidates: many
                    .iter()
                    .map(|(_, h, n)| format!("{}/{}", h.name, n.name))
                    .collect(),
            }),
        }
    }

    /// The host and node a [`NodeRef`] points to. Panics on a `NodeRef` from another inventory.
    pub fn node(&self, r: NodeRef) -> (&Host, &Node) {
        let h = &self.hosts[r.host];
        (h, &h.nodes[r.node])
    }

    /// Every node of the inventory, in order.
    pub fn node_refs(&self) -> Vec<NodeRef> {
        self.hosts
            .iter()
            .enumerate()
            .flat_map(|(hi, h)| (0..h.nodes.len()).map(move |ni| NodeRef { host: hi, node: ni }))
            .collect()
    }
}

#[cfg(test)]
mod tests;
