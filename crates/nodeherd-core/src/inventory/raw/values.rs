//! The value readers of one inventory file: types, names, ports, durations, paths, and the
//! connection fields shared by `[defaults]`, groups and hosts.
//!
//! Owns: turning one spanned toml value into a checked, spanned value, and the wording of
//! unknown-field, wrong-type and invalid-value problems. May not touch: the shape of groups,
//! hosts and nodes (that is [`super::entries`]) or anything across entries (`resolve`).

use std::path::PathBuf;
use std::time::Duration;

use toml::de::{DeTable, DeValue};

use super::{CONN_FIELDS, Conn, Key, Reader, Sp, Val, sorted};
use crate::inventory::check::{self, Invalid};
use crate::inventory::error::{Loc, Problem, ProblemKind};
use crate::inventory::suggest;
use crate::remote::HostKeyPolicy;

impl Reader<'_> {
    pub(super) fn loc(&self, span: std::ops::Range<usize>) -> Loc {
        Loc {
            file: self.file,
            span,
        }
    }

    /// The value as written, on one line and at most 40 characters.
    pub(super) fn source_text(&self, span: std::ops::Range<usize>) -> String {
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

    pub(super) fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    pub(super) fn unknown_field(&mut self, ctx: &str, k: &Key<'_>, valid: &[&str]) {
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

    pub(super) fn wrong_type(&mut self, ctx: &str, key: &str, expected: &str, v: &Val<'_>) {
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

    pub(super) fn invalid(&mut self, ctx: &str, key: &str, shown: &str, loc: Loc, inv: Invalid) {
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

    pub(super) fn table<'a, 'i>(
        &mut self,
        ctx: &str,
        key: &str,
        v: &'a Val<'i>,
    ) -> Option<&'a DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(ctx, key, "a table", v);
                None
            }
        }
    }

    pub(super) fn string(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Sp<String>> {
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

    pub(super) fn boolean(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Sp<bool>> {
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

    pub(super) fn port(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Sp<u16>> {
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

    pub(super) fn strings(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Vec<Sp<String>>> {
        let DeValue::Array(a) = v.get_ref() else {
            self.wrong_type(ctx, key, "an array of strings", v);
            return None;
        };
        let mut out = Vec::new();
        for item in a {
            if let Some(s) = self.string(ctx, &format!("each entry of {key}"), item) {
                out.push(s);
            }
        }
        Some(out)
    }

    /// A name-valued string (host, group, network names).
    pub(super) fn name(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Sp<String>> {
        let s = self.string(ctx, key, v)?;
        match check::name(&s.v) {
            Ok(()) => Some(s),
            Err(inv) => {
                self.invalid(ctx, key, &format!("\"{}\"", s.v), s.loc.clone(), inv);
                None
            }
        }
    }

    pub(super) fn names(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Vec<Sp<String>> {
        let mut out = Vec::new();
        for s in self.strings(ctx, key, v).unwrap_or_default() {
            match check::name(&s.v) {
                Ok(()) => out.push(s),
                Err(inv) => {
                    self.invalid(ctx, key, &format!("entry \"{}\"", s.v), s.loc.clone(), inv);
                }
            }
        }
        out
    }

    /// The table key naming an entry (host, group, node), checked as a name.
    pub(super) fn entry_name(&mut self, what: &str, k: &Key<'_>) -> Sp<String> {
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

    pub(super) fn duration(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<Sp<Duration>> {
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

    pub(super) fn local_path(
        &mut self,
        ctx: &str,
        key: &str,
        s: Sp<String>,
    ) -> Option<Sp<PathBuf>> {
        match check::local_path(&s.v, &self.base) {
            Ok(p) => Some(Sp { v: p, loc: s.loc }),
            Err(inv) => {
                self.invalid(ctx, key, &format!("\"{}\"", s.v), s.loc, inv);
                None
            }
        }
    }

    /// Reads one connection field into `conn`; false when `key` is not one.
    pub(super) fn conn_field(
        &mut self,
        ctx: &str,
        conn: &mut Conn,
        k: &Key<'_>,
        v: &Val<'_>,
    ) -> bool {
        let key = k.get_ref().as_ref();
        match key {
            "user" => {
                conn.user = self
                    .string(ctx, key, v)
                    .and_then(|s| match check::user(&s.v) {
                        Ok(()) => Some(s),
                        Err(inv) => {
                            self.invalid(ctx, key, &format!("\"{}\"", s.v), s.loc.clone(), inv);
                            None
                        }
                    });
            }
            "port" => conn.port = self.port(ctx, key, v),
            "identity_files" => {
                let loc = self.loc(v.span());
                if let Some(list) = self.strings(ctx, key, v) {
                    let paths: Vec<PathBuf> = list
                        .into_iter()
                        .filter_map(|s| self.local_path(ctx, key, s))
                        .map(|p| p.v)
                        .collect();
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
                });
            }
            "known_hosts_file" => {
                conn.known_hosts_file = self
                    .string(ctx, key, v)
                    .and_then(|s| self.local_path(ctx, key, s));
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
    pub(super) fn conn_table(&mut self, ctx: &str, t: &DeTable<'_>, extra: &[&str]) -> Conn {
        let mut conn = Conn::default();
        for (k, v) in sorted(t) {
            if !self.conn_field(ctx, &mut conn, k, v) && !extra.contains(&k.get_ref().as_ref()) {
                let valid: Vec<&str> = CONN_FIELDS.iter().chain(extra).copied().collect();
                self.unknown_field(ctx, k, &valid);
            }
        }
        conn
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
        "keystore_dir" => "keystore_dir = \"/var/lib/polkadot/chains/polkadot/keystore\"",
        "rest_port" => "rest_port = 9596",
        "metrics_port" => "metrics_port = 8008",
        "keymanager_port" => "keymanager_port = 5062",
        "keymanager_token_file" => "keymanager_token_file = \"/var/lib/lodestar/api-token.txt\"",
        "release_feed" => {
            "release_feed = \"https://api.github.com/repos/ChainSafe/lodestar/releases\""
        }
        "rpc_port" => "rpc_port = 8545",
        "api_port" => "api_port = 1317",
        "daemon" => "daemon = \"gaiad\"",
        "valoper" => "valoper = \"cosmosvaloper1...\"",
        "probe" => "probe = { http = \"http://127.0.0.1:8080/health\", status = 200 }",
        "http" => "http = \"http://127.0.0.1:8080/health\"",
        "command" => "command = \"/usr/local/bin/node-ok\"",
        "status" => "status = 200",
        "backup" => "backup = \"snapshot\"",
        "backup_keep" => "backup_keep = 2",
        "platform" => "platform = \"linux/x86_64\"",
        "nodes" => "[hosts.bn-1.nodes.lodestar-bn]",
        "a host" => "[hosts.bn-1] with address = \"203.0.113.10\"",
        "a group" => "[groups.mainnet] with hosts = [\"bn-1\"]",
        "a node" => "[hosts.bn-1.nodes.lodestar-bn] with client = \"lodestar\"",
        "defaults" => "[defaults] with user = \"ops\"",
        _ => "see inventory/examples/production.toml",
    }
}
