//! Jump hosts: what each host's `jump` names, the cycles among them, and the final chains.
//!
//! Owns: reading a jump as an inventory host or an outside destination (`user@address[:port]`),
//! reporting unknown jump hosts and jump cycles (then cut), and building each host's full
//! [`Target`] with its chain. May not touch: precedence (which `jump` applies is decided before,
//! in `resolve`) or anything else of a host.

use std::collections::{HashMap, HashSet};

use super::Resolver;
use crate::inventory::error::{Problem, ProblemKind};
use crate::inventory::raw::Sp;
use crate::inventory::{check, suggest};
use crate::remote::Target;

/// Where a host's jump goes.
#[derive(Clone)]
pub(super) enum JumpTo {
    None,
    Host(usize),
    Outside(Box<Target>),
}

/// A host's target with its whole jump chain (memoised in `done`).
pub(super) fn full_target(
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

impl Resolver<'_> {
    /// Interprets every host's jump setting and cuts cycles (reporting them).
    pub(super) fn jump_targets(
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
            } else if let Some(res) = self.ssh_jump(s, &bases[hi]) {
                match res {
                    Ok(t) => JumpTo::Outside(Box::new(t)),
                    Err(why) => {
                        let p = Problem::at(
                            self.sources,
                            ProblemKind::InvalidValue,
                            &j.loc,
                            "this jump",
                            format!(
                                "jump \"{s}\" of host \"{}\" is not valid: {why}",
                                host_names[hi]
                            ),
                        )
                        .help("each hop is an ssh_config alias or user@address[:port]");
                        self.problems.push(p);
                        JumpTo::None
                    }
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
