//! Reads one inventory file into raw, spanned values: every key and value keeps its location.
//!
//! Owns: walking toml's spanned document (`DeTable`), unknown-field and type checks, and the
//! per-value checks of [`crate::inventory::check`]. Each host, node and group is read on its own so that
//! one bad entry never hides another: the value readers are in `values`, the group/host/node
//! readers in `entries`. May not touch: cross-file rules (duplicates, references,
//! precedence, cycles); those belong to `resolve`.

mod entries;
mod node_values;
mod values;

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::inventory::error::{Loc, Problem, ProblemKind, SourceFile};
use crate::inventory::model::Node;
use crate::remote::HostKeyPolicy;

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sp<T> {
    pub v: T,
    pub loc: Loc,
}

/// Connection fields shared by `[defaults]`, groups and hosts (`network`: groups only).
#[derive(Debug, Clone, Default)]
pub(crate) struct Conn {
    pub user: Option<Sp<String>>,
    pub port: Option<Sp<u16>>,
    pub identity_files: Option<Sp<Vec<PathBuf>>>,
    pub known_hosts: Option<Sp<HostKeyPolicy>>,
    pub known_hosts_file: Option<Sp<PathBuf>>,
    pub become_root: Option<Sp<bool>>,
    pub connect_timeout: Option<Sp<Duration>>,
    pub command_timeout: Option<Sp<Duration>>,
    /// Empty string: no jump host (overrides an inherited one).
    pub jump: Option<Sp<String>>,
    pub network: Option<Sp<String>>,
}

pub(crate) const CONN_FIELDS: [&str; 9] = [
    "user",
    "port",
    "identity_files",
    "known_hosts",
    "known_hosts_file",
    "become",
    "connect_timeout",
    "command_timeout",
    "jump",
];
const TOP_FIELDS: [&str; 3] = ["defaults", "groups", "hosts"];
const GROUP_FIELDS: [&str; 3] = ["hosts", "children", "network"];
const HOST_FIELDS: [&str; 4] = ["address", "groups", "nodes", "platform"];
pub(crate) const NODE_FIELDS: [&str; 19] = [
    "client",
    "role",
    "unit",
    "network",
    "install_dir",
    "data_dir",
    "keystore_dir",
    "rest_port",
    "metrics_port",
    "keymanager_port",
    "keymanager_token_file",
    "release_feed",
    "rpc_port",
    "api_port",
    "daemon",
    "valoper",
    "probe",
    "backup",
    "backup_keep",
];

#[derive(Debug, Clone)]
pub(crate) struct RawGroup {
    pub name: Sp<String>,
    pub hosts: Vec<Sp<String>>,
    pub children: Vec<Sp<String>>,
    pub conn: Conn,
}

#[derive(Debug, Clone)]
pub(crate) struct RawHost {
    pub name: Sp<String>,
    pub address: Option<Sp<String>>,
    /// `address` was written (even if its value was refused).
    pub address_written: bool,
    pub groups: Vec<Sp<String>>,
    pub conn: Conn,
    pub platform: Option<crate::facts::platform::Platform>,
    pub nodes: Vec<RawNode>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawNode {
    pub name: Sp<String>,
    /// The node with `network` still unset; `None` when one of its fields was invalid.
    pub node: Option<Node>,
    pub network: Option<Sp<String>>,
    /// (field name, port) for the duplicate-port check.
    pub ports: Vec<(&'static str, Sp<u16>)>,
}

#[derive(Debug, Clone)]
pub(crate) struct RawFile {
    pub defaults: Conn,
    pub groups: Vec<RawGroup>,
    pub hosts: Vec<RawHost>,
}

type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;
type Val<'i> = Spanned<DeValue<'i>>;

/// Reads one file; a syntax error yields `None` after recording it.
pub(crate) fn read_file(
    sources: &[SourceFile],
    file: usize,
    problems: &mut Vec<Problem>,
) -> Option<RawFile> {
    let src = sources.get(file)?;
    let base = src.base.clone();
    let text = src.text.clone();
    let doc = match DeTable::parse(&text) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let msg = e.message().trim_end().to_string();
            problems.push(
                Problem::at(
                    sources,
                    ProblemKind::Syntax,
                    &Loc { file, span },
                    msg.clone(),
                    format!("TOML syntax error: {msg}"),
                )
                .help("fix the syntax here; the rest of this file was not checked"),
            );
            return None;
        }
    };
    let mut r = Reader {
        sources,
        file,
        base,
        problems,
    };
    let mut raw = RawFile {
        defaults: Conn::default(),
        groups: Vec::new(),
        hosts: Vec::new(),
    };
    for (k, v) in sorted(doc.get_ref()) {
        match k.get_ref().as_ref() {
            "defaults" => {
                if let Some(t) = r.table("the file", "defaults", v) {
                    raw.defaults = r.conn_table("in [defaults]", t, &[]);
                }
            }
            "groups" => {
                if let Some(t) = r.table("the file", "groups", v) {
                    for (gk, gv) in sorted(t) {
                        if let Some(g) = r.group(gk, gv) {
                            raw.groups.push(g);
                        }
                    }
                }
            }
            "hosts" => {
                if let Some(t) = r.table("the file", "hosts", v) {
                    for (hk, hv) in sorted(t) {
                        if let Some(h) = r.host(hk, hv) {
                            raw.hosts.push(h);
                        }
                    }
                }
            }
            _ => r.unknown_field("at the top level", k, &TOP_FIELDS),
        }
    }
    Some(raw)
}

/// Entries of a table in the order they were written (toml's map is sorted by key).
fn sorted<'a, 'i>(t: &'a DeTable<'i>) -> Vec<(&'a Key<'i>, &'a Val<'i>)> {
    let mut v: Vec<_> = t.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

struct Reader<'s> {
    sources: &'s [SourceFile],
    file: usize,
    base: PathBuf,
    problems: &'s mut Vec<Problem>,
}
