//! Turns the raw files into the resolved model: merges files, checks references, applies precedence.
//!
//! Owns: duplicate hosts/groups across files, group membership (direct, via the host's own
//! `groups`, via nested children), group and jump cycles, precedence
//! (host > groups > the file's `[defaults]` > built-in), conflicts between groups, jump chains,
//! node networks and duplicate ports. May not touch: TOML syntax or per-value checks (`raw`).
//!
//! Groups and precedence: when several groups of a host set a field, a group that is an
//! ancestor (parent, grand-parent...) of another of those groups is overridden by the nearer one;
//! two unrelated groups that set different values are a conflict reported with both places.
//!
//! Jumps: `jump` names a host of the inventory, or is an outside destination written
//! `user@address[:port]`, `address:port` or a dotted DNS name/IP; `""` means no jump host. A
//! bare word that is no host of the inventory is an error. An inherited jump naming the host
//! itself is ignored (the bastion does not jump through itself); an explicit one is a cycle.
//! Those rules live in `jump`.

mod jump;
mod ssh;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;

use crate::inventory::error::{Loc, Problem, ProblemKind, SourceFile};
use crate::inventory::model::{Group, Host};
use crate::inventory::raw::{Conn, RawFile, RawGroup, RawHost, Sp};
use crate::inventory::sshconfig::SshConfig;
use crate::inventory::suggest;
use crate::remote::Target;

/// Built-in defaults (the bottom of the precedence).
pub const DEFAULT_USER: &str = "root";

struct HostEntry<'a> {
    raw: &'a RawHost,
    defaults: &'a Conn,
}

/// Hosts and groups of all files by index, with an index by name.
type Collected<'a> = (
    Vec<HostEntry<'a>>,
    HashMap<&'a str, usize>,
    Vec<&'a RawGroup>,
    HashMap<&'a str, usize>,
);

pub(crate) fn resolve(
    sources: &[SourceFile],
    files: &[RawFile],
    problems: &mut Vec<Problem>,
    ssh: (&SshConfig, usize),
) -> (Vec<Host>, BTreeMap<String, Group>) {
    let mut r = Resolver {
        sources,
        problems,
        ssh,
        seen_conflicts: HashSet::new(),
    };
    let (hosts, host_idx, groups, group_idx) = collect(&mut r, files);
    let host_names: Vec<&str> = hosts.iter().map(|h| h.raw.name.v.as_str()).collect();
    let group_names: Vec<&str> = groups.iter().map(|g| g.name.v.as_str()).collect();
    let (members, children) = r.references(
        &hosts,
        &groups,
        (&host_idx, &host_names),
        (&group_idx, &group_names),
    );
    r.group_cycles(&groups, &children);
    let (ancestors, host_groups) = memberships(&children, &members, hosts.len());

    // Connection settings and nodes of every host.
    let mut bases: Vec<Target> = Vec::new();
    let mut jumps: Vec<Option<(Sp<String>, bool)>> = Vec::new();
    let mut out_hosts: Vec<Host> = Vec::new();
    for (hi, h) in hosts.iter().enumerate() {
        let gs: Vec<(usize, &RawGroup)> = host_groups[hi].iter().map(|&g| (g, groups[g])).collect();
        let (host, jump) = r.host(h, &gs, &ancestors);
        jumps.push(jump);
        bases.push(host.target.clone());
        out_hosts.push(host);
    }

    // Jump chains.
    let jump_to = r.jump_targets(&host_names, &host_idx, &bases, &jumps);
    let mut done: Vec<Option<Target>> = vec![None; hosts.len()];
    for (hi, host) in out_hosts.iter_mut().enumerate() {
        host.target = jump::full_target(hi, &bases, &jump_to, &mut done, 0);
    }
    let out_groups = groups_out(&groups, &host_groups, &host_names);
    (out_hosts, out_groups)
}

/// Hosts and groups of all files, first definition wins, duplicates reported.
fn collect<'a>(r: &mut Resolver<'_>, files: &'a [RawFile]) -> Collected<'a> {
    let mut hosts: Vec<HostEntry> = Vec::new();
    let mut host_idx: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<&RawGroup> = Vec::new();
    let mut group_idx: HashMap<&str, usize> = HashMap::new();
    for f in files {
        for h in &f.hosts {
            if let Some(&first) = host_idx.get(h.name.v.as_str()) {
                r.duplicate("host", &h.name, &hosts[first].raw.name);
            } else {
                host_idx.insert(&h.name.v, hosts.len());
                hosts.push(HostEntry {
                    raw: h,
                    defaults: &f.defaults,
                });
            }
        }
        for g in &f.groups {
            if let Some(&first) = group_idx.get(g.name.v.as_str()) {
                r.duplicate("group", &g.name, &groups[first].name);
            } else {
                group_idx.insert(&g.name.v, groups.len());
                groups.push(g);
            }
        }
    }
    (hosts, host_idx, groups, group_idx)
}

/// Ancestors of each group (cycle-safe), and each host's groups incl. ancestors (sorted).
fn memberships(
    children: &[Vec<(usize, &Sp<String>)>],
    members: &[Vec<usize>],
    n_hosts: usize,
) -> (Vec<HashSet<usize>>, Vec<Vec<usize>>) {
    let n_groups = children.len();
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); n_groups];
    for (gi, cs) in children.iter().enumerate() {
        for (ci, _) in cs {
            parents[*ci].push(gi);
        }
    }
    let ancestors: Vec<HashSet<usize>> = (0..n_groups)
        .map(|g| {
            let mut seen = HashSet::new();
            let mut todo = parents[g].clone();
            while let Some(p) = todo.pop() {
                if p != g && seen.insert(p) {
                    todo.extend(parents[p].iter().copied());
                }
            }
            seen
        })
        .collect();
    let mut host_groups: Vec<Vec<usize>> = vec![Vec::new(); n_hosts];
    for (gi, ms) in members.iter().enumerate() {
        for &hi in ms {
            host_groups[hi].push(gi);
            host_groups[hi].extend(ancestors[gi].iter().copied());
        }
    }
    for hg in &mut host_groups {
        hg.sort_unstable();
        hg.dedup();
    }
    (ancestors, host_groups)
}

/// The resolved groups by name, each with every host in it (directly or through a child).
fn groups_out(
    groups: &[&RawGroup],
    host_groups: &[Vec<usize>],
    host_names: &[&str],
) -> BTreeMap<String, Group> {
    let mut out_groups = BTreeMap::new();
    for (gi, g) in groups.iter().enumerate() {
        let hosts_of: Vec<String> = (0..host_groups.len())
            .filter(|&hi| host_groups[hi].contains(&gi))
            .map(|hi| host_names[hi].to_string())
            .collect();
        out_groups.insert(
            g.name.v.clone(),
            Group {
                name: g.name.v.clone(),
                hosts: hosts_of,
                children: g.children.iter().map(|c| c.v.clone()).collect(),
                network: g.conn.network.as_ref().map(|n| n.v.clone()),
            },
        );
    }
    out_groups
}

struct Ctx<'a> {
    host: &'a str,
    groups: &'a [(usize, &'a RawGroup)],
    ancestors: &'a [HashSet<usize>],
    defaults: &'a Conn,
    own: &'a Conn,
}

impl Clone for Ctx<'_> {
    fn clone(&self) -> Self {
        Ctx { ..*self }
    }
}

struct Resolver<'a> {
    sources: &'a [SourceFile],
    /// The ssh configuration and the index of its first file in `sources`.
    ssh: (&'a SshConfig, usize),
    problems: &'a mut Vec<Problem>,
    seen_conflicts: HashSet<(String, Loc, Loc)>,
}

impl Resolver<'_> {
    /// References between groups and hosts: each group's direct hosts (from the group's `hosts`
    /// and the hosts' `groups`) and child groups; unknown names are reported.
    #[allow(clippy::type_complexity)]
    fn references<'a>(
        &mut self,
        hosts: &[HostEntry<'a>],
        groups: &[&'a RawGroup],
        (host_idx, host_names): (&HashMap<&str, usize>, &[&str]),
        (group_idx, group_names): (&HashMap<&str, usize>, &[&str]),
    ) -> (Vec<Vec<usize>>, Vec<Vec<(usize, &'a Sp<String>)>>) {
        let r = self;
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); groups.len()]; // direct hosts per group
        let mut children: Vec<Vec<(usize, &Sp<String>)>> = vec![Vec::new(); groups.len()];
        for (gi, g) in groups.iter().enumerate() {
            for h in &g.hosts {
                match host_idx.get(h.v.as_str()) {
                    Some(&hi) => members[gi].push(hi),
                    None => r.unknown_ref(
                        h,
                        &format!("host \"{}\" of group \"{}\" is not defined", h.v, g.name.v),
                        "no such host",
                        host_names,
                    ),
                }
            }
            for c in &g.children {
                match group_idx.get(c.v.as_str()) {
                    Some(&ci) => children[gi].push((ci, c)),
                    None => r.unknown_ref(
                        c,
                        &format!(
                            "child group \"{}\" of group \"{}\" is not defined",
                            c.v, g.name.v
                        ),
                        "no such group",
                        group_names,
                    ),
                }
            }
        }
        for (hi, h) in hosts.iter().enumerate() {
            for g in &h.raw.groups {
                match group_idx.get(g.v.as_str()) {
                    Some(&gi) => members[gi].push(hi),
                    None => r.unknown_ref(
                        g,
                        &format!(
                            "group \"{}\" of host \"{}\" is not defined",
                            g.v, h.raw.name.v
                        ),
                        "no such group",
                        group_names,
                    ),
                }
            }
        }
        (members, children)
    }

    /// One host: its connection settings by precedence, its nodes (with their networks), and
    /// the `jump` that applies (with whether the host set it itself). Its target has no jump
    /// chain yet.
    fn host(
        &mut self,
        h: &HostEntry<'_>,
        gs: &[(usize, &RawGroup)],
        ancestors: &[HashSet<usize>],
    ) -> (Host, Option<(Sp<String>, bool)>) {
        let r = self;
        let ctx = Ctx {
            host: &h.raw.name.v,
            groups: gs,
            ancestors,
            defaults: h.defaults,
            own: &h.raw.conn,
        };
        let mut t = Target::new(
            &h.raw.name.v,
            h.raw
                .address
                .as_ref()
                .map(|a| a.v.clone())
                .unwrap_or_default(),
            DEFAULT_USER,
        );
        let mut inv: ssh::InventorySet = Vec::new();
        if let Some(a) = &h.raw.address {
            inv.push(("address", a.loc.clone()));
        }
        if let Some(v) = r.pick(&ctx, "user", |c| c.user.as_ref()) {
            inv.push(("user", v.loc));
            t.user = v.v;
        }
        if let Some(v) = r.pick(&ctx, "port", |c| c.port.as_ref()) {
            inv.push(("port", v.loc));
            t.port = v.v;
        }
        if let Some(v) = r.pick(&ctx, "identity_files", |c| c.identity_files.as_ref()) {
            inv.push(("identity_files", v.loc));
            t.identity_files = v.v;
        }
        if let Some(v) = r.pick(&ctx, "known_hosts", |c| c.known_hosts.as_ref()) {
            inv.push(("known_hosts", v.loc));
            t.host_key_policy = v.v;
        }
        if let Some(v) = r.pick(&ctx, "known_hosts_file", |c| c.known_hosts_file.as_ref()) {
            inv.push(("known_hosts_file", v.loc));
            t.known_hosts_files.insert(0, v.v);
        }
        if let Some(v) = r.pick(&ctx, "become", |c| c.become_root.as_ref()) {
            inv.push(("become", v.loc));
            t.become_root = v.v;
        }
        if let Some(v) = r.pick(&ctx, "connect_timeout", |c| c.connect_timeout.as_ref()) {
            inv.push(("connect_timeout", v.loc));
            t.connect_timeout = v.v;
        }
        if let Some(v) = r.pick(&ctx, "command_timeout", |c| c.command_timeout.as_ref()) {
            inv.push(("command_timeout", v.loc));
            t.command_timeout = v.v;
        }
        let own_jump = h.raw.conn.jump.is_some();
        let jump = r
            .pick(&ctx, "jump", |c| c.jump.as_ref())
            .map(|j| (j, own_jump));
        let (origins, notes, ssh_jump) = r.ssh_fill(
            (&h.raw.name, h.raw.address_written),
            &mut t,
            &inv,
            jump.is_some(),
        );
        let jump = jump.or(ssh_jump.map(|j| (j, true)));

        let needs_group_network = h.raw.nodes.iter().any(|n| n.network.is_none());
        let group_network = if needs_group_network {
            let no_own = Conn::default();
            let nctx = Ctx {
                own: &no_own,
                defaults: &no_own,
                ..ctx
            };
            r.pick(&nctx, "network", |c| c.network.as_ref())
                .map(|n| n.v)
        } else {
            None
        };
        r.duplicate_ports(h.raw);
        let nodes = h
            .raw
            .nodes
            .iter()
            .filter_map(|n| {
                let mut node = n.node.clone()?;
                node.network = n
                    .network
                    .as_ref()
                    .map(|s| s.v.clone())
                    .or_else(|| group_network.clone());
                Some(node)
            })
            .collect();
        let groups_out = gs.iter().map(|(_, g)| g.name.v.clone()).collect();
        let host = Host {
            name: h.raw.name.v.clone(),
            target: t,
            groups: groups_out,
            platform: h.raw.platform.clone(),
            nodes,
            origins,
            notes,
        };
        (host, jump)
    }

    fn duplicate(&mut self, what: &str, again: &Sp<String>, first: &Sp<String>) {
        let p = Problem::at(
            self.sources,
            ProblemKind::Duplicate,
            &again.loc,
            format!("{what} \"{}\" defined again here", again.v),
            format!("{what} \"{}\" is defined twice", again.v),
        )
        .also(self.sources, &first.loc, "first defined here")
        .help(format!(
            "{what} names must be unique across all inventory files; rename or remove one of them"
        ));
        self.problems.push(p);
    }

    fn unknown_ref(&mut self, at: &Sp<String>, message: &str, label: &str, known: &[&str]) {
        let help = match suggest::did_you_mean(&at.v, known.iter()) {
            Some(d) => d,
            None if known.is_empty() => "none are defined".to_string(),
            None => format!("defined: {}", known.join(", ")),
        };
        let p = Problem::at(
            self.sources,
            ProblemKind::UnknownReference,
            &at.loc,
            label,
            message,
        )
        .help(help);
        self.problems.push(p);
    }

    /// Applies precedence for one field: host > groups (nearest wins) > file defaults.
    fn pick<T: Clone + PartialEq + Debug>(
        &mut self,
        ctx: &Ctx,
        field: &str,
        get: impl Fn(&Conn) -> Option<&Sp<T>>,
    ) -> Option<Sp<T>> {
        if let Some(v) = get(ctx.own) {
            return Some(v.clone());
        }
        let set: Vec<(usize, &RawGroup, &Sp<T>)> = ctx
            .groups
            .iter()
            .filter_map(|(gi, g)| get(&g.conn).map(|v| (*gi, *g, v)))
            .collect();
        // Drop groups that are ancestors of another group setting the field: the nearer one wins.
        let nearest: Vec<&(usize, &RawGroup, &Sp<T>)> = set
            .iter()
            .filter(|(gi, _, _)| {
                !set.iter()
                    .any(|(other, _, _)| ctx.ancestors[*other].contains(gi))
            })
            .collect();
        if let Some(first) = nearest.first() {
            if let Some(other) = nearest.iter().find(|o| o.2.v != first.2.v) {
                let key = (field.to_string(), first.2.loc.clone(), other.2.loc.clone());
                if self.seen_conflicts.insert(key) {
                    let p = Problem::at(
                        self.sources,
                        ProblemKind::Conflict,
                        &first.2.loc,
                        format!("group \"{}\" sets {field} = {}", first.1.name.v, show(&first.2.v)),
                        format!(
                            "groups \"{}\" and \"{}\" of host \"{}\" set different values for {field}",
                            first.1.name.v, other.1.name.v, ctx.host
                        ),
                    )
                    .also(self.sources, &other.2.loc, format!("group \"{}\" sets {field} = {}", other.1.name.v, show(&other.2.v)))
                    .help(format!(
                        "set {field} on host \"{}\" itself, or make the groups agree (or nest one group in the other)",
                        ctx.host
                    ));
                    self.problems.push(p);
                }
            }
            return Some(first.2.clone());
        }
        get(ctx.defaults).cloned()
    }

    fn group_cycles(&mut self, groups: &[&RawGroup], children: &[Vec<(usize, &Sp<String>)>]) {
        let mut reported: HashSet<Vec<usize>> = HashSet::new();
        for start in 0..groups.len() {
            // Depth-first walk from `start`, looking for a path back to it.
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            let mut on_path: Vec<usize> = vec![start];
            let mut visited: HashSet<usize> = HashSet::new();
            while let Some(top) = stack.last_mut() {
                let g = top.0;
                if let Some(&(c, sp)) = children[g].get(top.1) {
                    top.1 += 1;
                    if c == start {
                        let mut key = on_path.clone();
                        key.sort_unstable();
                        if reported.insert(key) {
                            let names: Vec<&str> = on_path
                                .iter()
                                .chain([&start])
                                .map(|&i| groups[i].name.v.as_str())
                                .collect();
                            let p = Problem::at(
                                self.sources,
                                ProblemKind::Cycle,
                                &sp.loc,
                                "closes the cycle",
                                format!("groups form a cycle: {}", names.join(" -> ")),
                            )
                            .help(format!(
                                "a group cannot contain itself; remove \"{}\" from the children of \"{}\"",
                                sp.v, groups[g].name.v
                            ));
                            self.problems.push(p);
                        }
                    } else if visited.insert(c) {
                        stack.push((c, 0));
                        on_path.push(c);
                    }
                } else {
                    stack.pop();
                    on_path.pop();
                }
            }
        }
    }

    fn duplicate_ports(&mut self, h: &RawHost) {
        let mut seen: HashMap<u16, (String, &str, &Loc)> = HashMap::new();
        for n in &h.nodes {
            for (field, p) in &n.ports {
                if let Some((first_node, first_field, first_loc)) = seen.get(&p.v) {
                    let pr = Problem::at(
                        self.sources,
                        ProblemKind::Duplicate,
                        &p.loc,
                        format!("{field} of \"{}\"", n.name.v),
                        format!("port {} is used twice on host \"{}\"", p.v, h.name.v),
                    )
                    .also(
                        self.sources,
                        first_loc,
                        format!("already the {first_field} of \"{first_node}\""),
                    )
                    .help(
                        "two services cannot listen on one localhost port; give each its own port",
                    );
                    self.problems.push(pr);
                } else {
                    seen.insert(p.v, (n.name.v.clone(), field, &p.loc));
                }
            }
        }
    }
}

fn show<T: Debug>(v: &T) -> String {
    format!("{v:?}")
}
