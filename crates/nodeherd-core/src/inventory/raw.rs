//! Reads one inventory file into raw, spanned values: every key and value keeps its location.
//!
//! Owns: walking toml's spanned document (`DeTable`), unknown-field and type checks, and the
//! per-value checks of [`crate::inventory::check`]. Each host, node and group is read on its own so that
//! one bad entry never hides another. May not touch: cross-file rules (duplicates, references,
//! precedence, cycles); those belong to `resolve`.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::inventory::check::{self, Invalid};
use crate::inventory::error::{Loc, Problem, ProblemKind, SourceFile};
use crate::inventory::model::{ClientKind, Node, Role};
use crate::inventory::suggest;
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
const HOST_FIELDS: [&str; 3] = ["address", "groups", "nodes"];
pub(crate) const NODE_FIELDS: [&str; 11] = [
    "client",
    "role",
    "unit",
    "network",
    "install_dir",
    "data_dir",
    "rest_port",
    "metrics_port",
    "keymanager_port",
    "keymanager_token_file",
    "release_feed",
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
    pub groups: Vec<Sp<String>>,
    pub conn: Conn,
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

impl Reader<'_> {
    fn loc(&self, span: std::ops::Range<usize>) -> Loc {
        Loc {
            file: self.file,
            span,
        }
    }

    /// The value as written, on one line and at most 40 characters.
    fn source_text(&self, span: std::ops::Range<usize>) -> String {
        let text = self
            .sources
            .get(self.file)
            .and_then(|f| f.text.get(span))
            .unwrap_or("");
        let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let chars: Vec<char> = one_line.chars().filter(|c| !c.is_control()).collect();
        if chars.len() > 40 {
            format!("{}...", chars[..37].iter().collect::<String>())
        } else {
            chars.into_iter().collect()
        }
    }

    fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    fn unknown_field(&mut self, ctx: &str, k: &Key<'_>, valid: &[&str]) {
        let name = k.get_ref().as_ref();
        let list = valid.join(", ");
        let help = match suggest::did_you_mean(name, valid.iter()) {
            Some(dym) => format!("{dym} valid fields here: {list}"),
            None => format!("valid fields here: {list}"),
        };
        let p = Problem::at(
            self.sources,
            ProblemKind::UnknownField,
            &self.loc(k.span()),
            "unknown field",
            format!("unknown field \"{name}\" {ctx}"),
        )
        .help(help);
        self.push(p);
    }

    fn wrong_type(&mut self, ctx: &str, key: &str, expected: &str, v: &Val<'_>) {
        let found = v.get_ref().type_str();
        let shown = self.source_text(v.span());
        let p = Problem::at(
            self.sources,
            ProblemKind::WrongType,
            &self.loc(v.span()),
            format!("this is {} {found}", article(found)),
            format!(
                "{key} {ctx} must be {expected}, not {} {found}: {shown}",
                article(found)
            ),
        )
        .help(format!("write it like: {}", example(key)));
        self.push(p);
    }

    fn invalid(&mut self, ctx: &str, key: &str, shown: &str, loc: Loc, inv: Invalid) {
        let p = Problem::at(
            self.sources,
            ProblemKind::InvalidValue,
            &loc,
            inv.short.clone(),
            [key, shown, ctx, "is not valid:", &inv.why]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
        )
        .help(inv.help);
        self.push(p);
    }

    fn table<'a, 'i>(&mut self, ctx: &str, key: &str, v: &'a Val<'i>) -> Option<&'a DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(ctx, key, "a table", v);
                None
            }
        }
    }

    fn string(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Sp<String>> {
        match v.get_ref() {
            DeValue::String(s) => Some(Sp {
                v: s.to_string(),
                loc: self.loc(v.span()),
            }),
            _ => {
                self.wrong_type(ctx, key, "a string", v);
                None
            }
        }
    }

    fn boolean(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Sp<bool>> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(Sp {
                v: *b,
                loc: self.loc(v.span()),
            }),
            _ => {
                self.wrong_type(ctx, key, "true or false", v);
                None
            }
        }
    }

    fn port(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Sp<u16>> {
        let DeValue::Integer(i) = v.get_ref() else {
            self.wrong_type(ctx, key, "an integer", v);
            return None;
        };
        let loc = self.loc(v.span());
        let n = i64::from_str_radix(i.as_str(), i.radix()).unwrap_or(i64::MAX);
        match check::port(n) {
            Ok(p) => Some(Sp { v: p, loc }),
            Err(inv) => {
                self.invalid(ctx, key, &n.to_string(), loc, inv);
                None
            }
        }
    }

    fn strings(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Vec<Sp<String>>> {
        let DeValue::Array(a) = v.get_ref() else {
            self.wrong_type(ctx, key, "an array of strings", v);
            return None;
        };
        let mut out = Vec::new();
        for item in a.iter() {
            if let Some(s) = self.string(ctx, &format!("each entry of {key}"), item) {
                out.push(s);
            }
        }
        Some(out)
    }

    /// A name-valued string (host, group, network names).
    fn name(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Sp<String>> {
        let s = self.string(ctx, key, v)?;
        match check::name(&s.v) {
            Ok(()) => Some(s),
            Err(inv) => {
                self.invalid(ctx, key, &format!("\"{}\"", s.v), s.loc.clone(), inv);
                None
            }
        }
    }

    fn names(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Vec<Sp<String>> {
        let mut out = Vec::new();
        for s in self.strings(ctx, key, v).unwrap_or_default() {
            match check::name(&s.v) {
                Ok(()) => out.push(s),
                Err(inv) => {
                    self.invalid(ctx, key, &format!("entry \"{}\"", s.v), s.loc.clone(), inv)
                }
            }
        }
        out
    }

    /// The table key naming an entry (host, group, node), checked as a name.
    fn entry_name(&mut self, what: &str, k: &Key<'_>) -> Sp<String> {
        let s = Sp {
            v: k.get_ref().to_string(),
            loc: self.loc(k.span()),
        };
        if let Err(inv) = check::name(&s.v) {
            self.invalid(
                "",
                &format!("{what} name"),
                &format!("\"{}\"", s.v),
                s.loc.clone(),
                inv,
            );
        }
        s
    }

    fn duration(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Sp<Duration>> {
        let s = self.string(ctx, key, v)?;
        match humantime::parse_duration(&s.v) {
            Ok(d) if !d.is_zero() => Some(Sp { v: d, loc: s.loc }),
            Ok(_) => {
                let inv = Invalid::new("a timeout of zero", "use a positive duration like \"10s\"");
                self.invalid(ctx, key, &format!("\"{}\"", s.v), s.loc, inv);
                None
            }
            Err(e) => {
                let inv = Invalid::new(
                    format!("not a duration ({e})"),
                    "write a duration like \"10s\", \"1m 30s\" or \"500ms\"",
                )
                .short("not a duration");
                self.invalid(ctx, key, &format!("\"{}\"", s.v), s.loc, inv);
                None
            }
        }
    }

    fn local_path(&mut self, ctx: &str, key: &str, s: Sp<String>) -> Option<Sp<PathBuf>> {
        match check::local_path(&s.v, &self.base) {
            Ok(p) => Some(Sp { v: p, loc: s.loc }),
            Err(inv) => {
                self.invalid(ctx, key, &format!("\"{}\"", s.v), s.loc, inv);
                None
            }
        }
    }

    /// Reads one connection field into `conn`; false when `key` is not one.
    fn conn_field(&mut self, ctx: &str, conn: &mut Conn, k: &Key<'_>, v: &Val<'_>) -> bool {
        let key = k.get_ref().as_ref();
        match key {
            "user" => {
                conn.user = self.string(ctx, key, v).and_then(|s| match check::user(&s.v) {
                    Ok(()) => Some(s),
                    Err(inv) => {
                        self.invalid(ctx, key, &format!("\"{}\"", s.v), s.loc.clone(), inv);
                        None
                    }
                })
            }
            "port" => conn.port = self.port(ctx, key, v),
            "identity_files" => {
                let loc = self.loc(v.span());
                if let Some(list) = self.strings(ctx, key, v) {
                    let paths: Vec<PathBuf> =
                        list.into_iter().filter_map(|s| self.local_path(ctx, key, s)).map(|p| p.v).collect();
                    conn.identity_files = Some(Sp { v: paths, loc });
                }
            }
            "known_hosts" => {
                conn.known_hosts = self.string(ctx, key, v).and_then(|s| match s.v.as_str() {
                    "strict" => Some(Sp { v: HostKeyPolicy::Strict, loc: s.loc }),
                    "accept-new" => Some(Sp { v: HostKeyPolicy::AcceptNew, loc: s.loc }),
                    other => {
                        let looser = matches!(other, "no" | "off" | "false" | "accept" | "accept-all" | "insecure" | "none" | "ignore");
                        let help = if looser {
                            "nodeherd never accepts unverified host keys; use \"strict\" (default) or \"accept-new\", which records a new key once and refuses changed ones"
                        } else {
                            "use \"strict\" (default) or \"accept-new\""
                        };
                        let inv = Invalid::new("not a host-key policy", help);
                        self.invalid(ctx, key, &format!("\"{other}\""), s.loc, inv);
                        None
                    }
                })
            }
            "known_hosts_file" => {
                conn.known_hosts_file = self.string(ctx, key, v).and_then(|s| self.local_path(ctx, key, s))
            }
            "become" => conn.become_root = self.boolean(ctx, key, v),
            "connect_timeout" => conn.connect_timeout = self.duration(ctx, key, v),
            "command_timeout" => conn.command_timeout = self.duration(ctx, key, v),
            "jump" => conn.jump = self.string(ctx, key, v),
            _ => return false,
        }
        true
    }

    /// `[defaults]` (and the shared part of groups): connection fields plus `extra` ones handled by the caller.
    fn conn_table(&mut self, ctx: &str, t: &DeTable<'_>, extra: &[&str]) -> Conn {
        let mut conn = Conn::default();
        for (k, v) in sorted(t) {
            if !self.conn_field(ctx, &mut conn, k, v) && !extra.contains(&k.get_ref().as_ref()) {
                let valid: Vec<&str> = CONN_FIELDS.iter().chain(extra).copied().collect();
                self.unknown_field(ctx, k, &valid);
            }
        }
        conn
    }

    fn group(&mut self, k: &Key<'_>, v: &Val<'_>) -> Option<RawGroup> {
        let name = self.entry_name("group", k);
        let ctx = format!("in group \"{}\"", name.v);
        let t = self.table(&ctx, "a group", v)?;
        let mut g = RawGroup {
            name,
            hosts: Vec::new(),
            children: Vec::new(),
            conn: Conn::default(),
        };
        for (fk, fv) in sorted(t) {
            let key = fk.get_ref().as_ref();
            match key {
                "hosts" => g.hosts = self.names(&ctx, key, fv),
                "children" => g.children = self.names(&ctx, key, fv),
                "network" => g.conn.network = self.name(&ctx, key, fv),
                _ => {
                    if !self.conn_field(&ctx, &mut g.conn, fk, fv) {
                        let valid: Vec<&str> = GROUP_FIELDS
                            .iter()
                            .chain(CONN_FIELDS.iter())
                            .copied()
                            .collect();
                        self.unknown_field(&ctx, fk, &valid);
                    }
                }
            }
        }
        Some(g)
    }

    fn host(&mut self, k: &Key<'_>, v: &Val<'_>) -> Option<RawHost> {
        let name = self.entry_name("host", k);
        let ctx = format!("in host \"{}\"", name.v);
        let t = self.table(&ctx, "a host", v)?;
        let mut h = RawHost {
            name,
            address: None,
            groups: Vec::new(),
            conn: Conn::default(),
            nodes: Vec::new(),
        };
        for (fk, fv) in sorted(t) {
            let key = fk.get_ref().as_ref();
            match key {
                "address" => {
                    h.address =
                        self.string(&ctx, key, fv)
                            .and_then(|s| match check::address(&s.v) {
                                Ok(a) => Some(Sp { v: a, loc: s.loc }),
                                Err(inv) => {
                                    self.invalid(&ctx, key, &format!("\"{}\"", s.v), s.loc, inv);
                                    None
                                }
                            });
                }
                "groups" => h.groups = self.names(&ctx, key, fv),
                "nodes" => {
                    if let Some(nodes) = self.table(&ctx, key, fv) {
                        for (nk, nv) in sorted(nodes) {
                            if let Some(n) = self.node(&h.name.v, nk, nv) {
                                h.nodes.push(n);
                            }
                        }
                    }
                }
                _ => {
                    if !self.conn_field(&ctx, &mut h.conn, fk, fv) {
                        let valid: Vec<&str> = HOST_FIELDS
                            .iter()
                            .chain(CONN_FIELDS.iter())
                            .copied()
                            .collect();
                        self.unknown_field(&ctx, fk, &valid);
                    }
                }
            }
        }
        let has_address = t.get("address").is_some();
        if !has_address {
            let p = Problem::at(
                self.sources,
                ProblemKind::MissingField,
                &h.name.loc,
                "this host has no address",
                format!("host \"{}\" has no address", h.name.v),
            )
            .help(format!(
                "add address = \"203.0.113.10\" (a DNS name or IP) under [hosts.{}]",
                h.name.v
            ));
            self.push(p);
        }
        Some(h)
    }

    fn node(&mut self, host: &str, k: &Key<'_>, v: &Val<'_>) -> Option<RawNode> {
        let name = self.entry_name("node", k);
        let ctx = format!("in node \"{host}/{}\"", name.v);
        let t = self.table(&ctx, "a node", v)?;
        let mut ok = true;
        let mut client = None;
        let mut role = None;
        let mut unit = None;
        let mut network = None;
        let mut install_dir = None;
        let mut data_dir = None;
        let mut token = None;
        let mut feed = None;
        let mut ports: Vec<(&'static str, Sp<u16>)> = Vec::new();
        for (fk, fv) in sorted(t) {
            let key = fk.get_ref().as_ref();
            match key {
                "client" => match self.string(&ctx, key, fv) {
                    Some(s) => match ClientKind::from_name(&s.v) {
                        Some(c) => client = Some(c),
                        None => {
                            ok = false;
                            let all: Vec<&str> =
                                ClientKind::ALL.iter().map(|c| c.as_str()).collect();
                            let help = match suggest::did_you_mean(&s.v, all.iter()) {
                                Some(d) => format!("{d} known clients: {}", all.join(", ")),
                                None => format!(
                                    "known clients: {} (use \"generic\" for anything else)",
                                    all.join(", ")
                                ),
                            };
                            let p = Problem::at(
                                self.sources,
                                ProblemKind::InvalidValue,
                                &s.loc,
                                "unknown client",
                                format!("client \"{}\" {ctx} is not known", s.v),
                            )
                            .help(help);
                            self.push(p);
                        }
                    },
                    None => ok = false,
                },
                "role" => match self.string(&ctx, key, fv) {
                    Some(s) => match Role::from_name(&s.v) {
                        Some(r) => role = Some(r),
                        None => {
                            ok = false;
                            let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                            let help = match suggest::did_you_mean(&s.v, all.iter()) {
                                Some(d) => format!("{d} roles: {}", all.join(", ")),
                                None => format!("roles: {}", all.join(", ")),
                            };
                            let p = Problem::at(
                                self.sources,
                                ProblemKind::InvalidValue,
                                &s.loc,
                                "unknown role",
                                format!("role \"{}\" {ctx} is not known", s.v),
                            )
                            .help(help);
                            self.push(p);
                        }
                    },
                    None => ok = false,
                },
                "unit" => match self.string(&ctx, key, fv) {
                    Some(s) => match check::unit(&s.v) {
                        Ok(u) => unit = Some(u),
                        Err(inv) => {
                            ok = false;
                            self.invalid(&ctx, key, &format!("{:?}", s.v), s.loc, inv);
                        }
                    },
                    None => ok = false,
                },
                "network" => {
                    network = self.name(&ctx, key, fv);
                    ok &= network.is_some();
                }
                "install_dir" | "data_dir" | "keymanager_token_file" => {
                    let dir =
                        self.string(&ctx, key, fv)
                            .and_then(|s| match check::remote_dir(&s.v) {
                                Ok(p) => Some(p),
                                Err(inv) => {
                                    self.invalid(&ctx, key, &format!("{:?}", s.v), s.loc, inv);
                                    None
                                }
                            });
                    ok &= dir.is_some();
                    match key {
                        "install_dir" => install_dir = dir,
                        "data_dir" => data_dir = dir,
                        _ => token = dir,
                    }
                }
                "rest_port" | "metrics_port" | "keymanager_port" => {
                    match self.port(&ctx, key, fv) {
                        Some(p) => ports.push((
                            match key {
                                "rest_port" => "rest_port",
                                "metrics_port" => "metrics_port",
                                _ => "keymanager_port",
                            },
                            p,
                        )),
                        None => ok = false,
                    }
                }
                "release_feed" => match self.string(&ctx, key, fv) {
                    Some(s) => match check::release_feed(&s.v) {
                        Ok(()) => feed = Some(s.v),
                        Err(inv) => {
                            ok = false;
                            self.invalid(&ctx, key, &format!("{:?}", s.v), s.loc, inv);
                        }
                    },
                    None => ok = false,
                },
                _ => {
                    ok = false;
                    self.unknown_field(&ctx, fk, &NODE_FIELDS);
                }
            }
        }
        if t.get("client").is_none() {
            ok = false;
            let p = Problem::at(
                self.sources,
                ProblemKind::MissingField,
                &name.loc,
                "this node has no client",
                format!("node \"{host}/{}\" has no client", name.v),
            )
            .help("add client = \"lodestar\" (or nimbus, lighthouse, teku, prysm, geth, nethermind, besu, reth, cosmos, substrate, nwaku, generic)");
            self.push(p);
        }
        let port_of = |f: &str| ports.iter().find(|(k, _)| *k == f).map(|(_, p)| p.v);
        let node = match (ok, client) {
            (true, Some(client)) => Some(Node {
                name: name.v.clone(),
                client,
                role: role.unwrap_or(client.default_role()),
                unit: unit.unwrap_or_else(|| format!("{}.service", name.v)),
                network: None,
                install_dir: install_dir
                    .unwrap_or_else(|| PathBuf::from(format!("/opt/nodeherd/{}", name.v))),
                data_dir,
                rest_port: port_of("rest_port"),
                metrics_port: port_of("metrics_port"),
                keymanager_port: port_of("keymanager_port"),
                keymanager_token_file: token,
                release_feed: feed,
            }),
            _ => None,
        };
        Some(RawNode {
            name,
            node,
            network,
            ports,
        })
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// An example line for a field, used in type-mismatch hints.
fn example(key: &str) -> &'static str {
    match key.trim_start_matches("each entry of ") {
        "user" => "user = \"ops\"",
        "port" => "port = 22",
        "identity_files" => "identity_files = [\"~/.ssh/id_ed25519\"]",
        "known_hosts" => "known_hosts = \"strict\"",
        "known_hosts_file" => "known_hosts_file = \"known_hosts\"",
        "become" => "become = true",
        "connect_timeout" => "connect_timeout = \"10s\"",
        "command_timeout" => "command_timeout = \"60s\"",
        "jump" => "jump = \"bastion\"",
        "address" => "address = \"203.0.113.10\"",
        "groups" => "groups = [\"mainnet\"]",
        "hosts" => "hosts = [\"bn-1\", \"bn-2\"]",
        "children" => "children = [\"canary\"]",
        "network" => "network = \"mainnet\"",
        "client" => "client = \"lodestar\"",
        "role" => "role = \"beacon\"",
        "unit" => "unit = \"lodestar-bn.service\"",
        "install_dir" => "install_dir = \"/opt/nodeherd/lodestar-bn\"",
        "data_dir" => "data_dir = \"/var/lib/lodestar\"",
        "rest_port" => "rest_port = 9596",
        "metrics_port" => "metrics_port = 8008",
        "keymanager_port" => "keymanager_port = 5062",
        "keymanager_token_file" => "keymanager_token_file = \"/var/lib/lodestar/api-token.txt\"",
        "release_feed" => {
            "release_feed = \"https://api.github.com/repos/ChainSafe/lodestar/releases\""
        }
        "nodes" => "[hosts.bn-1.nodes.lodestar-bn]",
        "a host" => "[hosts.bn-1] with address = \"203.0.113.10\"",
        "a group" => "[groups.mainnet] with hosts = [\"bn-1\"]",
        "a node" => "[hosts.bn-1.nodes.lodestar-bn] with client = \"lodestar\"",
        "defaults" => "[defaults] with user = \"ops\"",
        _ => "see inventory/examples/production.toml",
    }
}
