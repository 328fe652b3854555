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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;

use crate::inventory::error::{Loc, Problem, ProblemKind, SourceFile};
use crate::inventory::model::{Group, Host};
use crate::inventory::raw::{Conn, RawFile, RawGroup, RawHost, Sp};
use crate::inventory::{check, suggest};
use crate::remote::Target;

/// Built-in defaults (the bottom of the precedence).
pub const DEFAULT_USER: &str = "root";

struct HostEntry<'a> {
    raw: &'a RawHost,
    defaults: &'a Conn,
}

pub(crate) fn resolve(
    sources: &[SourceFile],
    files: &[RawFile],
    problems: &mut Vec<Problem>,
) -> (Vec<Host>, BTreeMap<String, Group>) {
    let mut r = Resolver {
        sources,
        problems,
        seen_conflicts: HashSet::new(),
    };

    // Hosts and groups of all files, first definition wins, duplicates reported.
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
    let host_names: Vec<&str> = hosts.iter().map(|h| h.raw.name.v.as_str()).collect();
    let group_names: Vec<&str> = groups.iter().map(|g| g.name.v.as_str()).collect();

    // References between groups and hosts.
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
                    &host_names,
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
                    &group_names,
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
                    &group_names,
                ),
            }
        }
    }
    r.group_cycles(&groups, &children);

    // Ancestors of each group (cycle-safe), and each host's groups incl. ancestors.
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
    for (gi, cs) in children.iter().enumerate() {
        for (ci, _) in cs {
            parents[*ci].push(gi);
        }
    }
    let ancestors: Vec<HashSet<usize>> = (0..groups.len())
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
    let mut host_groups: Vec<Vec<usize>> = vec![Vec::new(); hosts.len()];
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

    // Connection settings and nodes of every host.
    let mut bases: Vec<Target> = Vec::new();
    let mut jumps: Vec<Option<(Sp<String>, bool)>> = Vec::new();
    let mut out_hosts: Vec<Host> = Vec::new();
    for (hi, h) in hosts.iter().enumerate() {
        let gs: Vec<(usize, &RawGroup)> = host_groups[hi].iter().map(|&g| (g, groups[g])).collect();
        let ctx = Ctx {
            host: &h.raw.name.v,
            groups: &gs,
            ancestors: &ancestors,
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
        if let Some(v) = r.pick(&ctx, "user", |c| c.user.as_ref()) {
            t.user = v.v;
        }
        if let Some(v) = r.pick(&ctx, "port", |c| c.port.as_ref()) {
            t.port = v.v;
        }
        if let Some(v) = r.pick(&ctx, "identity_files", |c| c.identity_files.as_ref()) {
            t.identity_files = v.v;
        }
        if let Some(v) = r.pick(&ctx, "known_hosts", |c| c.known_hosts.as_ref()) {
            t.host_key_policy = v.v;
        }
        if let Some(v) = r.pick(&ctx, "known_hosts_file", |c| c.known_hosts_file.as_ref()) {
            t.known_hosts_files.insert(0, v.v);
        }
        if let Some(v) = r.pick(&ctx, "become", |c| c.become_root.as_ref()) {
            t.become_root = v.v;
        }
        if let Some(v) = r.pick(&ctx, "connect_timeout", |c| c.connect_timeout.as_ref()) {
            t.connect_timeout = v.v;
        }
        if let Some(v) = r.pick(&ctx, "command_timeout", |c| c.command_timeout.as_ref()) {
            t.command_timeout = v.v;
        }
        let own_jump = h.raw.conn.jump.is_some();
        jumps.push(
            r.pick(&ctx, "jump", |c| c.jump.as_ref())
                .map(|j| (j, own_jump)),
        );
        bases.push(t.clone());

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
        let groups_out = host_groups[hi]
            .iter()
            .map(|&g| groups[g].name.v.clone())
            .collect();
        out_hosts.push(Host {
            name: h.raw.name.v.clone(),
            target: t,
            groups: groups_out,
            nodes,
        });
    }

    // Jump chains.
    let jump_to = r.jump_targets(&host_names, &host_idx, &bases, &jumps);
    let mut done: Vec<Option<Target>> = vec![None; hosts.len()];
    for (hi, host) in out_hosts.iter_mut().enumerate() {
        host.target = full_target(hi, &bases, &jump_to, &mut done, 0);
    }

    let mut out_groups = BTreeMap::new();
    for (gi, g) in groups.iter().enumerate() {
        let hosts_of: Vec<String> = (0..hosts.len())
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
    (out_hosts, out_groups)
}

/// Where a host's jump goes.
#[derive(Clone)]
enum JumpTo {
    None,
    Host(usize),
    Outside(Box<Target>),
}

fn full_target(
    hi: usize,
    bases: &[Target],
    jump_to: &[JumpTo],
    done: &mut Vec<Option<Target>>,
    depth: usize,
) -> Target {
    if let Some(t) = &done[hi] {
        return t.clone();
    }
    let mut t = bases[hi].clone();
    t.jump = match &jump_to[hi] {
        JumpTo::None => None,
        JumpTo::Outside(o) => Some(o.clone()),
        // Cycles were cut to JumpTo::None before; the depth guard is belt and braces.
        JumpTo::Host(j) if depth < bases.len() => {
            Some(Box::new(full_target(*j, bases, jump_to, done, depth + 1)))
        }
        JumpTo::Host(_) => None,
    };
    done[hi] = Some(t.clone());
    t
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
    problems: &'a mut Vec<Problem>,
    seen_conflicts: HashSet<(String, Loc, Loc)>,
}

impl Resolver<'_> {
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

    /// Interprets every host's jump setting and cuts cycles (reporting them).
    fn jump_targets(
        &mut self,
        host_names: &[&str],
        host_idx: &HashMap<&str, usize>,
        bases: &[Target],
        jumps: &[Option<(Sp<String>, bool)>],
    ) -> Vec<JumpTo> {
        let mut to: Vec<JumpTo> = Vec::new();
        for (hi, j) in jumps.iter().enumerate() {
            let Some((j, own)) = j else {
                to.push(JumpTo::None);
                continue;
            };
            let s = j.v.as_str();
            let dest = if s.is_empty() {
                JumpTo::None
            } else if let Some(&ji) = host_idx.get(s) {
                if ji == hi && !own {
                    JumpTo::None
                } else {
                    JumpTo::Host(ji)
                }
            } else if s.contains(['@', ':', '.']) {
                match outside_jump(s, &bases[hi]) {
                    Ok(t) => JumpTo::Outside(Box::new(t)),
                    Err(inv) => {
                        let p = Problem::at(
                            self.sources,
                            ProblemKind::InvalidValue,
                            &j.loc,
                            inv.short.clone(),
                            format!(
                                "jump \"{s}\" of host \"{}\" is not valid: {}",
                                host_names[hi], inv.why
                            ),
                        )
                        .help(inv.help);
                        self.problems.push(p);
                        JumpTo::None
                    }
                }
            } else {
                let mut help = suggest::did_you_mean(s, host_names.iter())
                    .map(|d| format!("{d} "))
                    .unwrap_or_default();
                help.push_str("jump names a host of the inventory; for a machine outside it write \"user@address[:port]\"");
                let p = Problem::at(
                    self.sources,
                    ProblemKind::UnknownReference,
                    &j.loc,
                    "no such host",
                    format!(
                        "jump host \"{s}\" of host \"{}\" is not defined",
                        host_names[hi]
                    ),
                )
                .help(help);
                self.problems.push(p);
                JumpTo::None
            };
            to.push(dest);
        }
        // Cycles: follow each chain; a host seen twice on one chain closes a cycle.
        let mut reported: HashSet<Vec<usize>> = HashSet::new();
        let mut in_cycle: Vec<usize> = Vec::new();
        for start in 0..to.len() {
            let mut path = vec![start];
            let mut cur = start;
            while let JumpTo::Host(next) = to[cur] {
                if let Some(pos) = path.iter().position(|&p| p == next) {
                    let cycle: Vec<usize> = path[pos..].to_vec();
                    let mut key = cycle.clone();
                    key.sort_unstable();
                    if reported.insert(key) {
                        self.jump_cycle(&cycle, host_names, jumps);
                        in_cycle.extend(&cycle);
                    }
                    break;
                }
                path.push(next);
                cur = next;
            }
        }
        for hi in in_cycle {
            to[hi] = JumpTo::None;
        }
        to
    }

    fn jump_cycle(
        &mut self,
        cycle: &[usize],
        host_names: &[&str],
        jumps: &[Option<(Sp<String>, bool)>],
    ) {
        let names: Vec<&str> = cycle
            .iter()
            .chain(cycle.first())
            .map(|&i| host_names[i])
            .collect();
        let locs: Vec<(usize, &Sp<String>)> = cycle
            .iter()
            .filter_map(|&i| jumps[i].as_ref().map(|(j, _)| (i, j)))
            .collect();
        let Some(((first_host, first), rest)) = locs.split_first() else {
            return;
        };
        let mut p = Problem::at(
            self.sources,
            ProblemKind::Cycle,
            &first.loc,
            format!(
                "\"{}\" jumps through \"{}\"",
                host_names[*first_host], first.v
            ),
            format!("jump hosts form a cycle: {}", names.join(" -> ")),
        );
        let mut seen_locs = vec![first.loc.clone()];
        for (h, j) in rest {
            if !seen_locs.contains(&j.loc) {
                seen_locs.push(j.loc.clone());
                p = p.also(
                    self.sources,
                    &j.loc,
                    format!("\"{}\" jumps through \"{}\"", host_names[*h], j.v),
                );
            }
        }
        self.problems.push(p.help(
            "one host of the chain must be reachable directly; remove or change one of these jumps",
        ));
    }
}

/// A jump host outside the inventory: `user@address[:port]`, `address:port`, `[v6]:port` or `address`.
/// It inherits user, keys, known_hosts and timeouts from the host that uses it.
fn outside_jump(s: &str, via: &Target) -> Result<Target, check::Invalid> {
    let (user, rest) = match s.split_once('@') {
        Some((u, r)) => (Some(u), r),
        None => (None, s),
    };
    let (addr, port) = if let Some(r) = rest.strip_prefix('[') {
        match r.split_once(']') {
            Some((a, "")) => (a, None),
            Some((a, p)) => (a, Some(p.strip_prefix(':').unwrap_or(p))),
            None => (rest, None),
        }
    } else if rest.matches(':').count() == 1 {
        let (a, p) = rest.split_once(':').unwrap_or((rest, ""));
        (a, Some(p))
    } else {
        (rest, None)
    };
    let address = check::address(addr)?;
    let mut t = via.clone();
    t.name = s.to_string();
    t.address = address;
    t.port = 22;
    t.jump = None;
    t.become_root = false;
    if let Some(u) = user {
        check::user(u)?;
        t.user = u.to_string();
    }
    if let Some(p) = port {
        let n: i64 = p.parse().map_err(|_| {
            check::Invalid::new(
                format!("port \"{p}\" is not a number"),
                "write user@address:port, like \"ops@198.51.100.7:2222\"",
            )
        })?;
        t.port = check::port(n)?;
    }
    Ok(t)
}

fn show<T: Debug>(v: &T) -> String {
    format!("{v:?}")
}
