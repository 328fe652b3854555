//! The OpenSSH configuration below the inventory: fills what no inventory level set, records
//! where every connection setting came from, and resolves `ProxyJump` hops through it.
//!
//! Owns: precedence between the inventory and ssh_config (inventory > ssh_config > built-in),
//! the rule that ssh_config never loosens host-key checking, the origins shown by
//! `check --explain`, and jump chains written in ssh_config (comma lists, aliases). May not
//! touch: parsing ssh_config (`inventory::sshconfig`) or the inventory's own precedence.

use std::time::Duration;

use super::Resolver;
use crate::inventory::check;
use crate::inventory::error::{Loc, Problem, ProblemKind};
use crate::inventory::model::Origin;
use crate::inventory::raw::Sp;
use crate::inventory::sshconfig::{Settings, Tokens, Value, eval};
use crate::remote::{HostKeyPolicy, Target};

/// Jump chains longer than this are cut (and reported) as a loop.
const MAX_HOPS: usize = 8;

/// What the inventory itself set for a host: (setting, where).
pub(super) type InventorySet = Vec<(&'static str, Loc)>;

impl Resolver<'_> {
    fn place(&self, loc: &Loc) -> String {
        let Some(f) = self.sources.get(loc.file) else {
            return "?".into();
        };
        let line = f.text[..loc.span.start.min(f.text.len())]
            .matches('\n')
            .count()
            + 1;
        format!("{}:{line}", f.name)
    }

    fn ssh_loc(&self, v: &Value) -> Loc {
        Loc {
            file: self.ssh.1 + v.file,
            span: v.span.clone(),
        }
    }

    /// Fills `t` from ssh_config where the inventory set nothing, and returns the origins, the
    /// notes, and the ssh_config `ProxyJump` (when the inventory set no jump).
    pub(super) fn ssh_fill(
        &mut self,
        (name, address_written): (&Sp<String>, bool),
        t: &mut Target,
        inv: &InventorySet,
        inv_jump: bool,
    ) -> (Vec<Origin>, Vec<String>, Option<Sp<String>>) {
        let s: Settings = self.ssh.0.settings(&name.v);
        let mut origins = Vec::new();
        let mut notes: Vec<String> = s
            .skipped
            .iter()
            .map(|(f, l, why)| format!("{}: block skipped: {why}", self.ssh.0.place(*f, *l)))
            .collect();
        let from_inv = |k: &str| inv.iter().find(|(n, _)| *n == k).map(|(_, l)| l.clone());
        let mut push = |setting: &'static str, value: String, source: &'static str, place| {
            origins.push(Origin {
                setting,
                value,
                source,
                place,
            });
        };

        // address, user, port first: the path tokens need them.
        self.ssh_address((name, address_written), &s, t, (&from_inv, &mut push));
        macro_rules! simple {
            ($setting:literal, $inv:literal, $key:literal, $shown:expr, $apply:expr) => {
                if let Some(l) = from_inv($inv) {
                    push($setting, $shown(&*t), "inventory", Some(self.place(&l)));
                } else if let Some(v) = s.get($key) {
                    $apply(&mut *t, v);
                    push(
                        $setting,
                        $shown(&*t),
                        "ssh_config",
                        Some(self.ssh.0.place(v.file, v.line)),
                    );
                } else {
                    push($setting, $shown(&*t), "default", None);
                }
            };
        }
        simple!(
            "user",
            "user",
            "user",
            |t: &Target| t.user.clone(),
            |t: &mut Target, v: &Value| {
                t.user = v.first().to_string();
            }
        );
        simple!(
            "port",
            "port",
            "port",
            |t: &Target| t.port.to_string(),
            |t: &mut Target, v: &Value| {
                t.port = v.first().parse().unwrap_or(t.port);
            }
        );
        simple!(
            "connect_timeout",
            "connect_timeout",
            "connecttimeout",
            |t: &Target| format!("{}s", t.connect_timeout.as_secs()),
            |t: &mut Target, v: &Value| {
                t.connect_timeout = Duration::from_secs(v.first().parse().unwrap_or(10));
            }
        );
        simple!(
            "keepalive_interval",
            "-",
            "serveraliveinterval",
            |t: &Target| format!("{}s", t.keepalive_interval.as_secs()),
            |t: &mut Target, v: &Value| {
                if let Ok(n @ 1..) = v.first().parse::<u64>() {
                    t.keepalive_interval = Duration::from_secs(n);
                }
            }
        );
        self.ssh_keys(&name.v, &s, t, (&from_inv, &mut push), &mut notes);
        for (setting, key) in [("become", "become"), ("command_timeout", "command_timeout")] {
            let value = if setting == "become" {
                t.become_root.to_string()
            } else {
                format!("{}s", t.command_timeout.as_secs())
            };
            match from_inv(key) {
                Some(l) => push(setting, value, "inventory", Some(self.place(&l))),
                None => push(setting, value, "default", None),
            }
        }
        let jump = if inv_jump {
            None
        } else {
            s.get("proxyjump").map(|v| Sp {
                v: if v.first().eq_ignore_ascii_case("none") {
                    String::new()
                } else {
                    v.first().to_string()
                },
                loc: self.ssh_loc(v),
            })
        };
        (origins, notes, jump)
    }

    /// The address: the inventory's, else ssh_config's HostName, else a missing-address problem.
    #[allow(clippy::type_complexity)]
    fn ssh_address(
        &mut self,
        (name, address_written): (&Sp<String>, bool),
        s: &Settings,
        t: &mut Target,
        (from_inv, push): (
            &dyn Fn(&str) -> Option<Loc>,
            &mut dyn FnMut(&'static str, String, &'static str, Option<String>),
        ),
    ) {
        if let Some(l) = from_inv("address") {
            push(
                "address",
                t.address.clone(),
                "inventory",
                Some(self.place(&l)),
            );
        } else if let Some(v) = s.get("hostname") {
            let tokens = self.tokens(&name.v, &name.v, t);
            match check::address(&eval::expand(v.first(), &tokens)) {
                Ok(a) => t.address = a,
                Err(e) => self.ssh_problem(v, format!("HostName: {}", e.why), e.help),
            }
            push(
                "address",
                t.address.clone(),
                "ssh_config",
                Some(self.ssh.0.place(v.file, v.line)),
            );
        } else if !address_written {
            let p = Problem::at(
                self.sources,
                ProblemKind::MissingField,
                &name.loc,
                "this host has no address",
                format!("host \"{}\" has no address", name.v),
            )
            .help(format!(
                "add address = \"203.0.113.10\" (a DNS name or IP) under [hosts.{}], or a `Host {}` block with HostName in your ssh config",
                name.v, name.v
            ));
            self.problems.push(p);
        }
    }

    /// Identity files, known_hosts files and the host-key policy (the path tokens need the
    /// address, user and port already set).
    #[allow(clippy::type_complexity)]
    fn ssh_keys(
        &self,
        alias: &str,
        s: &Settings,
        t: &mut Target,
        (from_inv, push): (
            &dyn Fn(&str) -> Option<Loc>,
            &mut dyn FnMut(&'static str, String, &'static str, Option<String>),
        ),
        notes: &mut Vec<String>,
    ) {
        let name = alias;
        let now = t.clone();
        let tokens = self.tokens(name, &now.address, &now);
        // Identity files: IdentityFile accumulates.
        let shown_ids = |t: &Target| {
            t.identity_files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        if let Some(l) = from_inv("identity_files") {
            push(
                "identity_files",
                shown_ids(t),
                "inventory",
                Some(self.place(&l)),
            );
        } else if s.identity_files.is_empty() {
            push("identity_files", "(ssh-agent only)".into(), "default", None);
        } else {
            t.identity_files = s
                .identity_files
                .iter()
                .map(|v| eval::expand_path(v.first(), &tokens))
                .collect();
            let places: Vec<String> = s
                .identity_files
                .iter()
                .map(|v| self.ssh.0.place(v.file, v.line))
                .collect();
            push(
                "identity_files",
                shown_ids(t),
                "ssh_config",
                Some(places.join(", ")),
            );
        }
        let shown_kh = |t: &Target| {
            t.known_hosts_files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        if let Some(l) = from_inv("known_hosts_file") {
            push(
                "known_hosts_files",
                shown_kh(t),
                "inventory",
                Some(self.place(&l)),
            );
        } else if let Some(v) = s.get("userknownhostsfile") {
            t.known_hosts_files = v
                .args
                .iter()
                .map(|a| eval::expand_path(a, &tokens))
                .collect();
            push(
                "known_hosts_files",
                shown_kh(t),
                "ssh_config",
                Some(self.ssh.0.place(v.file, v.line)),
            );
        } else {
            push("known_hosts_files", shown_kh(t), "default", None);
        }
        let policy = |t: &Target| match t.host_key_policy {
            HostKeyPolicy::Strict => "strict".to_string(),
            HostKeyPolicy::AcceptNew => "accept-new".to_string(),
        };
        let shk = s.get("stricthostkeychecking");
        if let Some(v) = shk.filter(|v| !v.first().eq_ignore_ascii_case("yes")) {
            notes.push(format!(
                "{}: StrictHostKeyChecking {} is not applied: ssh_config never makes nodeherd's host-key check looser",
                self.ssh.0.place(v.file, v.line),
                v.first()
            ));
        }
        if let Some(l) = from_inv("known_hosts") {
            push(
                "host_key_policy",
                policy(t),
                "inventory",
                Some(self.place(&l)),
            );
        } else if let Some(v) = shk.filter(|v| v.first().eq_ignore_ascii_case("yes")) {
            push(
                "host_key_policy",
                policy(t),
                "ssh_config",
                Some(self.ssh.0.place(v.file, v.line)),
            );
        } else {
            push("host_key_policy", policy(t), "default", None);
        }
        if let Some(v) = s
            .get("identitiesonly")
            .filter(|v| v.first().eq_ignore_ascii_case("yes"))
        {
            notes.push(format!(
                "{}: IdentitiesOnly yes is not applied: nodeherd offers the ssh-agent's keys before the identity files",
                self.ssh.0.place(v.file, v.line)
            ));
        }
    }

    fn tokens<'t>(&'t self, alias: &'t str, hostname: &'t str, t: &'t Target) -> Tokens<'t> {
        Tokens {
            alias,
            hostname,
            port: t.port,
            remote_user: &t.user,
            local_user: &self.ssh.0.local_user,
            home: &self.ssh.0.home,
        }
    }

    fn ssh_problem(&mut self, v: &Value, message: String, help: String) {
        let loc = self.ssh_loc(v);
        let p = Problem::at(
            self.sources,
            ProblemKind::InvalidValue,
            &loc,
            "here",
            message,
        )
        .help(help);
        self.problems.push(p);
    }

    /// A jump written as ssh_config aliases (`bastion`, `a,b`, `ops@bastion:2222`): `None` when
    /// the ssh config says nothing about any hop (the caller then reads it as an address).
    pub(super) fn ssh_jump(&self, s: &str, via: &Target) -> Option<Result<Target, String>> {
        let hops: Vec<&str> = s.split(',').map(str::trim).collect();
        let known = |h: &str| {
            let st = self.ssh.0.settings(hop_parts(h).1);
            !st.values.is_empty() || !st.identity_files.is_empty()
        };
        if hops.len() == 1 && !known(hops[0]) {
            return None;
        }
        Some(self.ssh_chain(&hops, via, 0))
    }

    fn ssh_chain(&self, hops: &[&str], via: &Target, depth: usize) -> Result<Target, String> {
        if depth > MAX_HOPS {
            return Err(format!(
                "ProxyJump chain longer than {MAX_HOPS} hops (a loop?)"
            ));
        }
        let Some((last, rest)) = hops.split_last() else {
            return Err("empty ProxyJump".into());
        };
        let (user, host, port) = hop_parts(last);
        let st = self.ssh.0.settings(host);
        let mut t = via.clone();
        t.name = host.to_string();
        t.jump = None;
        t.become_root = false;
        t.port = 22;
        if let Some(v) = st.get("user") {
            t.user = v.first().to_string();
        }
        if let Some(u) = user {
            t.user = u.to_string();
        }
        if let Some(v) = st.get("port") {
            t.port = v.first().parse().unwrap_or(22);
        }
        if let Some(p) = port {
            t.port = p
                .parse()
                .map_err(|_| format!("port \"{p}\" of \"{last}\" is not a number"))?;
        }
        let hostname = st
            .get("hostname")
            .map_or_else(|| host.to_string(), |v| v.first().replace("%h", host));
        t.address = check::address(&hostname).map_err(|e| e.why)?;
        let tokens = self.tokens(host, &t.address, &t);
        let ids: Vec<_> = st
            .identity_files
            .iter()
            .map(|v| eval::expand_path(v.first(), &tokens))
            .collect();
        let kh: Option<Vec<_>> = st.get("userknownhostsfile").map(|v| {
            v.args
                .iter()
                .map(|a| eval::expand_path(a, &tokens))
                .collect()
        });
        if !ids.is_empty() {
            t.identity_files = ids;
        }
        if let Some(kh) = kh {
            t.known_hosts_files = kh;
        }
        if let Some(v) = st.get("connecttimeout") {
            t.connect_timeout = Duration::from_secs(v.first().parse().unwrap_or(10));
        }
        let next: Vec<&str> = if rest.is_empty() {
            st.get("proxyjump")
                .filter(|v| !v.first().eq_ignore_ascii_case("none"))
                .map(|v| v.first().split(',').map(str::trim).collect())
                .unwrap_or_default()
        } else {
            rest.to_vec()
        };
        if !next.is_empty() {
            t.jump = Some(Box::new(self.ssh_chain(&next, via, depth + 1)?));
        }
        Ok(t)
    }
}

/// `user@host:port` into its parts.
fn hop_parts(s: &str) -> (Option<&str>, &str, Option<&str>) {
    let (user, rest) = match s.split_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, s),
    };
    match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (user, h, Some(p)),
        _ => (user, rest, None),
    }
}
