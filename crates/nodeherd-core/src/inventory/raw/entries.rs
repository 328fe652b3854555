//! The entries of one inventory file: a group, a host, and a host's nodes.
//!
//! Owns: which fields each entry has, reading them through the value readers of
//! [`super::values`], the missing-field problems, and building a [`Node`] with its defaults
//! (unit, install dir, role) when every field was valid. May not touch: cross-entry or
//! cross-file rules (duplicates, references, precedence); those belong to `resolve`.

use std::path::PathBuf;

use super::node_values::{EXTRAS, Extras};
use super::{
    CONN_FIELDS, Conn, GROUP_FIELDS, HOST_FIELDS, Key, NODE_FIELDS, RawGroup, RawHost, RawNode,
    Reader, Sp, Val, sorted,
};
use crate::inventory::check;
use crate::inventory::error::{Problem, ProblemKind};
use crate::inventory::model::{ClientKind, Node, Role};
use crate::inventory::suggest;

impl Reader<'_> {
    pub(super) fn group(&mut self, k: &Key<'_>, v: &Val<'_>) -> Option<RawGroup> {
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

    pub(super) fn host(&mut self, k: &Key<'_>, v: &Val<'_>) -> Option<RawHost> {
        let name = self.entry_name("host", k);
        let ctx = format!("in host \"{}\"", name.v);
        let t = self.table(&ctx, "a host", v)?;
        let mut h = RawHost {
            name,
            address: None,
            address_written: t.get("address").is_some(),
            groups: Vec::new(),
            conn: Conn::default(),
            platform: None,
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
                "platform" => {
                    h.platform = self.string(&ctx, key, fv).and_then(|s| {
                        match crate::facts::platform::Platform::parse_declared(&s.v) {
                            Ok(p) => Some(p),
                            Err(e) => {
                                let inv = check::Invalid::new(
                                    e.to_string(),
                                    "write platform = \"linux/x86_64\" or \"linux/aarch64\" (optionally /gnu or /musl), or leave it out to detect it over SSH",
                                )
                                .short("not <os>/<arch>[/<libc>]");
                                self.invalid(&ctx, key, &format!("{:?}", s.v), s.loc, inv);
                                None
                            }
                        }
                    });
                }
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
        Some(h)
    }

    pub(super) fn node(&mut self, host: &str, k: &Key<'_>, v: &Val<'_>) -> Option<RawNode> {
        let name = self.entry_name("node", k);
        let ctx = format!("in node \"{host}/{}\"", name.v);
        let t = self.table(&ctx, "a node", v)?;
        let mut ok = true;
        let mut client = None;
        let mut role = None;
        let mut unit = None;
        let mut network = None;
        let mut install_dir = None;
        let (mut data_dir, mut keystore_dir) = (None, None);
        let (mut token, mut feed) = (None, None);
        let mut extra = Extras::default();
        let mut ports: Vec<(&'static str, Sp<u16>)> = Vec::new();
        for (fk, fv) in sorted(t) {
            let key = fk.get_ref().as_ref();
            match key {
                "client" => match self.client(&ctx, key, fv) {
                    Some(c) => client = Some(c),
                    None => ok = false,
                },
                "role" => match self.role(&ctx, key, fv) {
                    Some(r) => role = Some(r),
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
                "install_dir" | "data_dir" | "keystore_dir" | "keymanager_token_file" => {
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
                        "keystore_dir" => keystore_dir = dir,
                        _ => token = dir,
                    }
                }
                "rest_port" | "metrics_port" | "keymanager_port" | "rpc_port" | "api_port" => {
                    // the field's own &'static name, for the duplicate-port check
                    let field = NODE_FIELDS.iter().copied().find(|f| *f == key);
                    match (self.port(&ctx, key, fv), field) {
                        (Some(p), Some(f)) => ports.push((f, p)),
                        _ => ok = false,
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
                k if EXTRAS.contains(&k) => ok &= self.extra(&ctx, k, fv, &mut extra),
                _ => {
                    ok = false;
                    self.unknown_field(&ctx, fk, &NODE_FIELDS);
                }
            }
        }
        if t.get("client").is_none() {
            ok = false;
            self.no_client(host, &name);
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
                rpc_port: port_of("rpc_port"),
                api_port: port_of("api_port"),
                daemon: extra.daemon,
                valoper: extra.valoper,
                keystore_dir,
                probe: extra.probe,
                backup: extra.backup.unwrap_or_default(),
                backup_keep: extra.backup_keep.unwrap_or(2),
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

    /// The problem of a node without `client`.
    fn no_client(&mut self, host: &str, name: &Sp<String>) {
        let p = Problem::at(
            self.sources,
            ProblemKind::MissingField,
            &name.loc,
            "this node has no client",
            format!("node \"{host}/{}\" has no client", name.v),
        )
        .help("add client = \"lodestar\" (or nimbus, lighthouse, teku, prysm, geth, nethermind, besu, reth, ethereumjs, cosmos, substrate, nwaku, generic)");
        self.push(p);
    }

    /// `client`: a known client kind, or the problem (with the known ones) and `None`.
    fn client(&mut self, ctx: &str, key: &str, fv: &Val<'_>) -> Option<ClientKind> {
        let s = self.string(ctx, key, fv)?;
        match ClientKind::from_name(&s.v) {
            Some(c) => Some(c),
            None => {
                let all: Vec<&str> = ClientKind::ALL.iter().map(|c| c.as_str()).collect();
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
                None
            }
        }
    }

    /// `role`: a known role, or the problem (with the roles) and `None`.
    fn role(&mut self, ctx: &str, key: &str, fv: &Val<'_>) -> Option<Role> {
        let s = self.string(ctx, key, fv)?;
        match Role::from_name(&s.v) {
            Some(r) => Some(r),
            None => {
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
                None
            }
        }
    }
}
