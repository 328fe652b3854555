//! Readers of the node fields that are more than a string or a port: `probe`, `backup`,
//! `backup_keep`.
//!
//! Owns: their accepted spellings and the problem each wrong spelling gets (with its span).
//! May not touch: which fields a node has (that is `entries`) or cross-entry rules.

use std::ops::RangeInclusive;

use toml::de::DeValue;

use super::{Reader, Val, sorted};
use crate::inventory::check::Invalid;
use crate::inventory::model::{Backup, DeclaredProbe};

const PROBE_HELP: &str = "write probe = { http = \"http://127.0.0.1:8080/health\", status = 200 } (a URL on the host's loopback, reached through the SSH session) or probe = { command = \"/usr/local/bin/node-ok\", status = 0 }";

/// The node fields read here, before the node is built.
#[derive(Debug, Default)]
pub(super) struct Extras {
    pub probe: Option<DeclaredProbe>,
    pub backup: Option<Backup>,
    pub backup_keep: Option<usize>,
    pub daemon: Option<String>,
    pub valoper: Option<String>,
}

/// The node fields [`Reader::extra`] reads.
pub(super) const EXTRAS: [&str; 5] = ["probe", "backup", "backup_keep", "daemon", "valoper"];

impl Reader<'_> {
    /// Reads `probe`, `backup`, `backup_keep` or `daemon` into `extra`; false when the value is
    /// wrong (the problem is recorded).
    pub(super) fn extra(&mut self, ctx: &str, key: &str, fv: &Val<'_>, extra: &mut Extras) -> bool {
        match key {
            "probe" => {
                extra.probe = self.probe(ctx, key, fv);
                extra.probe.is_some()
            }
            "backup" => {
                extra.backup = self.backup(ctx, key, fv);
                extra.backup.is_some()
            }
            "valoper" => {
                let s = self.string(ctx, key, fv);
                extra.valoper = s.and_then(|s| {
                    let ok = crate::cosmos::validator::decode(&s.v)
                        .is_some_and(|(hrp, _)| hrp.ends_with("valoper") && hrp.len() > 7);
                    if ok {
                        Some(s.v)
                    } else {
                        let inv = Invalid::new(
                            "not a bech32 validator operator address (`<prefix>valoper1...`)",
                            "copy it from the staking module, e.g. `gaiad keys show KEY --bech val -a`",
                        );
                        self.invalid(ctx, key, &format!("{:?}", s.v), s.loc, inv);
                        None
                    }
                });
                extra.valoper.is_some()
            }
            "daemon" => {
                let s = self.string(ctx, key, fv);
                extra.daemon = s.and_then(|s| match crate::inventory::check::name(&s.v) {
                    Ok(()) => Some(s.v),
                    Err(inv) => {
                        self.invalid(ctx, key, &format!("{:?}", s.v), s.loc, inv);
                        None
                    }
                });
                extra.daemon.is_some()
            }
            _ => {
                extra.backup_keep = self.count(ctx, key, fv, 1..=100);
                extra.backup_keep.is_some()
            }
        }
    }

    /// `probe = { http = "...", status = N }` or `probe = { command = "...", status = N }`.
    pub(super) fn probe(&mut self, ctx: &str, key: &str, fv: &Val<'_>) -> Option<DeclaredProbe> {
        let t = self.table(ctx, key, fv)?;
        let loc = self.loc(fv.span());
        let mut http = None;
        let mut command = None;
        let mut status = None;
        let mut ok = true;
        let pctx = format!("in the probe {ctx}");
        for (k, v) in sorted(t) {
            match k.get_ref().as_ref() {
                "http" => match self.string(&pctx, "http", v) {
                    Some(s) => match loopback_url(&s.v) {
                        Ok(pp) => http = Some(pp),
                        Err(inv) => {
                            ok = false;
                            self.invalid(&pctx, "http", &format!("{:?}", s.v), s.loc, inv);
                        }
                    },
                    None => ok = false,
                },
                "command" => match self.string(&pctx, "command", v) {
                    Some(s) if !s.v.trim().is_empty() && !s.v.contains('\n') => {
                        command = Some(s.v);
                    }
                    Some(s) => {
                        ok = false;
                        let inv = Invalid::new("is empty or spans lines", PROBE_HELP)
                            .short("not one command line");
                        self.invalid(&pctx, "command", &format!("{:?}", s.v), s.loc, inv);
                    }
                    None => ok = false,
                },
                "status" => match self.integer(&pctx, "status", v, 0..=599) {
                    Some(n) => status = Some(n),
                    None => ok = false,
                },
                _ => {
                    ok = false;
                    self.unknown_field(&pctx, k, &["http", "command", "status"]);
                }
            }
        }
        if !ok {
            return None;
        }
        match (http, command) {
            (Some((port, path)), None) => Some(DeclaredProbe::Http {
                port,
                path,
                status: u16::try_from(status.unwrap_or(200)).unwrap_or(200),
            }),
            (None, Some(command)) => Some(DeclaredProbe::Command {
                command,
                status: i32::try_from(status.unwrap_or(0)).unwrap_or(0),
            }),
            (h, _) => {
                let why = if h.is_some() {
                    "declares both http and command"
                } else {
                    "declares neither http nor command"
                };
                let inv = Invalid::new(why, PROBE_HELP).short("one of http or command");
                self.invalid(ctx, key, "this probe", loc, inv);
                None
            }
        }
    }

    /// `backup = "none" | "snapshot" | "copy"`.
    pub(super) fn backup(&mut self, ctx: &str, key: &str, fv: &Val<'_>) -> Option<Backup> {
        let s = self.string(ctx, key, fv)?;
        if let Some(b) = Backup::from_name(&s.v) {
            return Some(b);
        }
        let inv = Invalid::new(
            "is not a backup kind",
            "write backup = \"none\", \"snapshot\" (copy-on-write where the filesystem allows, else a copy) or \"copy\"",
        )
        .short("none, snapshot or copy");
        self.invalid(ctx, key, &format!("{:?}", s.v), s.loc, inv);
        None
    }

    /// A whole number in `range` (counts, statuses).
    pub(super) fn integer(
        &mut self,
        ctx: &str,
        key: &str,
        fv: &Val<'_>,
        range: RangeInclusive<i64>,
    ) -> Option<i64> {
        let DeValue::Integer(i) = fv.get_ref() else {
            self.wrong_type(ctx, key, "an integer", fv);
            return None;
        };
        let n = i64::from_str_radix(i.as_str(), i.radix()).unwrap_or(i64::MAX);
        if range.contains(&n) {
            return Some(n);
        }
        let inv = Invalid::new(
            format!("is outside {}..={}", range.start(), range.end()),
            format!(
                "write a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        );
        self.invalid(ctx, key, &n.to_string(), self.loc(fv.span()), inv);
        None
    }

    /// A count in `range`, as `usize`.
    pub(super) fn count(
        &mut self,
        ctx: &str,
        key: &str,
        fv: &Val<'_>,
        range: RangeInclusive<i64>,
    ) -> Option<usize> {
        self.integer(ctx, key, fv, range)
            .and_then(|n| usize::try_from(n).ok())
    }
}

/// `http://127.0.0.1:8080/health` -> (8080, "/health"). The probe runs through the SSH session,
/// so only the host's loopback can be reached.
fn loopback_url(s: &str) -> Result<(u16, String), Invalid> {
    let rest = s.strip_prefix("http://").ok_or_else(|| {
        Invalid::new("is not an http:// URL", PROBE_HELP).short("not an http:// URL")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => (authority, "80"),
    };
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        return Err(Invalid::new(
            format!("names host {host:?}: the probe reaches only the host's loopback through the SSH session"),
            PROBE_HELP,
        )
        .short("not 127.0.0.1 or localhost"));
    }
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
        Invalid::new(format!("has no valid port ({port:?})"), PROBE_HELP).short("bad port")
    })?;
    if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Invalid::new(
            "the path contains whitespace or control characters",
            PROBE_HELP,
        ));
    }
    Ok((port, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::loopback_url;

    #[test]
    fn loopback_urls() {
        assert_eq!(
            loopback_url("http://127.0.0.1:8080/health").unwrap(),
            (8080, "/health".into())
        );
        assert_eq!(
            loopback_url("http://localhost:9000").unwrap(),
            (9000, "/".into())
        );
        assert!(loopback_url("http://10.0.0.1:8080/").is_err());
        assert!(loopback_url("https://127.0.0.1:8080/").is_err());
        assert!(loopback_url("http://127.0.0.1:0/").is_err());
        assert!(loopback_url("http://127.0.0.1:x/").is_err());
    }
}
