//! What the configuration says for one host: first obtained value wins, `IdentityFile`
//! accumulates, as OpenSSH does; and `%` tokens and `~` in paths.
//!
//! Owns: evaluating `Host`/`Match` conditions for a name and collecting the keywords nodeherd
//! uses, each with the file and line it came from. May not touch: reading files (`parse`) or
//! how a value is applied to a target (the inventory's resolver).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::parse::{Cond, Criterion, Parsed};
use super::pattern;

/// The keywords nodeherd reads (lowercase); every other keyword is ignored.
pub const KEYWORDS: [&str; 10] = [
    "hostname",
    "user",
    "port",
    "identityfile",
    "identitiesonly",
    "proxyjump",
    "connecttimeout",
    "serveraliveinterval",
    "userknownhostsfile",
    "stricthostkeychecking",
];

/// A value with the file (index into [`Parsed::files`]) and line it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub args: Vec<String>,
    pub file: usize,
    pub line: usize,
    pub span: std::ops::Range<usize>,
}

impl Value {
    pub fn first(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }
}

/// The settings of one host.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// First value of each keyword except `identityfile`.
    pub values: BTreeMap<&'static str, Value>,
    /// Every `IdentityFile` that applies, in order.
    pub identity_files: Vec<Value>,
    /// Blocks skipped because their `Match` is not evaluated: (file, line, why).
    pub skipped: Vec<(usize, usize, String)>,
}

impl Settings {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }
}

/// Evaluates the configuration for `alias` (the name the operator uses).
pub fn eval(p: &Parsed, alias: &str) -> Settings {
    let mut s = Settings::default();
    let mut cond_ok: Vec<Option<bool>> = vec![None; p.conds.len()];
    for l in &p.lines {
        let ok = match cond_ok[l.cond] {
            Some(ok) => ok,
            None => {
                let ok = cond_matches(&p.conds[l.cond], alias, &s);
                if let Cond::Unsupported { reason, file, line } = &p.conds[l.cond] {
                    s.skipped.push((*file, *line, reason.clone()));
                }
                cond_ok[l.cond] = Some(ok);
                ok
            }
        };
        if !ok {
            continue;
        }
        let Some(key) = KEYWORDS.iter().find(|k| **k == l.key) else {
            continue;
        };
        let v = Value {
            args: l.args.clone(),
            file: l.file,
            line: l.line,
            span: l.span.clone(),
        };
        if *key == "identityfile" {
            if !s.identity_files.contains(&v) {
                s.identity_files.push(v);
            }
        } else {
            s.values.entry(key).or_insert(v);
        }
    }
    s
}

fn cond_matches(c: &Cond, alias: &str, so_far: &Settings) -> bool {
    match c {
        Cond::Always => true,
        Cond::Host(pats) => pattern::list(pats.iter().map(String::as_str), alias),
        Cond::Unsupported { .. } => false,
        Cond::Match(crits) => crits.iter().all(|cr| match cr {
            Criterion::All => true,
            Criterion::Host { negate, list } => {
                let host = so_far
                    .get("hostname")
                    .map_or(alias.to_string(), |h| h.first().replace("%h", alias));
                pattern::list(list.split(','), &host) != *negate
            }
            Criterion::OriginalHost { negate, list } => {
                pattern::list(list.split(','), alias) != *negate
            }
        }),
    }
}

/// The values `%` tokens stand for.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    /// `%n`: the name as given.
    pub alias: &'a str,
    /// `%h`: the host name connected to.
    pub hostname: &'a str,
    /// `%p`
    pub port: u16,
    /// `%r`
    pub remote_user: &'a str,
    /// `%u`
    pub local_user: &'a str,
    /// `%d`, and `~`
    pub home: &'a Path,
}

/// Expands `%h %p %r %u %d %n %%` and a leading `~`; an unknown token is kept as written.
pub fn expand(s: &str, t: &Tokens) -> String {
    let s = match s.strip_prefix("~/") {
        Some(rest) => format!("{}/{rest}", t.home.display()),
        None if s == "~" => t.home.display().to_string(),
        None => s.to_string(),
    };
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(t.hostname),
            Some('n') => out.push_str(t.alias),
            Some('p') => out.push_str(&t.port.to_string()),
            Some('r') => out.push_str(t.remote_user),
            Some('u') => out.push_str(t.local_user),
            Some('d') => out.push_str(&t.home.display().to_string()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Expands a path value.
pub fn expand_path(s: &str, t: &Tokens) -> PathBuf {
    PathBuf::from(expand(s, t))
}
