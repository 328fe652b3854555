//! Host and node selection in the Ansible habit: `all`, groups, hosts, globs, `!x`, `&x`, lists.
//!
//! Owns: parsing a selector string and evaluating it against an [`Inventory`]. May not touch:
//! files, SSH, the terminal.
//!
//! Grammar: terms separated by `,` or `:`; each term is `[!|&]HOSTPAT[/NODEPAT]`. `HOSTPAT` is
//! `all` or `*`, a group name, a host name, or a glob (`*`, `?`, `[ab]`, `[a-z]`, `[!a]`) matched
//! against host names and group names (a matching group contributes its hosts). `NODEPAT` is a
//! node name or glob. Evaluation: the union of plain terms (all hosts when there are none), then
//! intersected with every `&` term, then minus every `!` term.
//!
//! Safety: every term must match something on its own, so that a typo in an exclusion
//! (`all,!bn-typo`) is an error instead of selecting everything; an empty result is an error too.

use std::collections::BTreeSet;
use std::fmt;

use crate::inventory::suggest;
use crate::inventory::{Inventory, NodeRef};

/// Why a selector cannot be used (defined with the inventory, which reports it too).
pub use crate::inventory::SelectorError;

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    text: String,
    terms: Vec<Term>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Include,
    Intersect,
    Exclude,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    text: String,
    op: Op,
    hosts: Pattern,
    nodes: Option<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    All,
    Exact(String),
    Glob(Glob),
}

impl Pattern {
    fn parse(s: &str) -> Result<Pattern, SelectorError> {
        if s == "all" || s == "*" {
            return Ok(Pattern::All);
        }
        let bad = |reason: String| SelectorError::BadPattern {
            pattern: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(bad("empty pattern".into()));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_.-*?[]!^".contains(*c)))
        {
            return Err(bad(format!("{c:?} is not allowed")));
        }
        if s.contains(['*', '?', '[']) {
            Ok(Pattern::Glob(
                Glob::parse(s).map_err(|e| bad(e.to_string()))?,
            ))
        } else {
            Ok(Pattern::Exact(s.to_string()))
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Exact(s) => s == name,
            Pattern::Glob(g) => g.matches(name),
        }
    }

    fn text(&self) -> &str {
        match self {
            Pattern::All => "all",
            Pattern::Exact(s) => s,
            Pattern::Glob(g) => &g.text,
        }
    }
}

/// Why a glob does not parse (the reason of [`SelectorError::BadPattern`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum GlobError {
    #[error("range {0}-{1} is reversed")]
    Reversed(char, char),
    #[error("'[' without a closing ']'")]
    Unclosed,
    #[error("']' without an opening '['")]
    Unopened,
}

/// A shell-style glob: `*`, `?`, `[abc]`, `[a-z]`, `[!a]` / `[^a]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob {
    text: String,
    toks: Vec<Tok>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    One,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    fn parse(s: &str) -> Result<Glob, GlobError> {
        let mut toks = Vec::new();
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '*' => toks.push(Tok::Any),
                '?' => toks.push(Tok::One),
                '[' => {
                    let negated = matches!(it.peek(), Some('!' | '^'));
                    if negated {
                        it.next();
                    }
                    let mut ranges = Vec::new();
                    let mut closed = false;
                    while let Some(c) = it.next() {
                        if c == ']' && !ranges.is_empty() {
                            closed = true;
                            break;
                        }
                        if it.peek() == Some(&'-') {
                            it.next();
                            match it.next() {
                                Some(']') => {
                                    ranges.push((c, c));
                                    ranges.push(('-', '-'));
                                    closed = true;
                                    break;
                                }
                                Some(hi) if hi >= c => ranges.push((c, hi)),
                                Some(hi) => return Err(GlobError::Reversed(c, hi)),
                                None => break,
                            }
                        } else {
                            ranges.push((c, c));
                        }
                    }
                    if !closed {
                        return Err(GlobError::Unclosed);
                    }
                    toks.push(Tok::Class { negated, ranges });
                }
                ']' => return Err(GlobError::Unopened),
                c => toks.push(Tok::Lit(c)),
            }
        }
        Ok(Glob {
            text: s.to_string(),
            toks,
        })
    }

    fn matches(&self, name: &str) -> bool {
        let s: Vec<char> = name.chars().collect();
        // Iterative matching with one backtrack point for the last `*`.
        let (mut ti, mut si) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            match self.toks.get(ti) {
                Some(Tok::Any) => {
                    star = Some((ti, si));
                    ti += 1;
                    continue;
                }
                Some(t) if tok_matches(t, s[si]) => {
                    ti += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((st, ss)) => {
                    ti = st + 1;
                    si = ss + 1;
                    star = Some((st, ss + 1));
                }
                None => return false,
            }
        }
        self.toks[ti..].iter().all(|t| *t == Tok::Any)
    }
}

fn tok_matches(t: &Tok, c: char) -> bool {
    match t {
        Tok::Lit(l) => *l == c,
        Tok::One => true,
        Tok::Any => true,
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
    }
}

impl Selector {
    /// Parses a selector such as `mainnet,!bn-2`, `bn-*/lodestar-*` or `all:&holesky`.
    pub fn parse(s: &str) -> Result<Selector, SelectorError> {
        let mut terms = Vec::new();
        for raw in split_terms(s) {
            let t = raw.trim();
            if t.is_empty() {
                continue;
            }
            let (op, rest) = match t.as_bytes()[0] {
                b'!' => (Op::Exclude, &t[1..]),
                b'&' => (Op::Intersect, &t[1..]),
                _ => (Op::Include, t),
            };
            let (h, n) = match rest.split_once('/') {
                Some((h, n)) => (h, Some(n)),
                None => (rest, None),
            };
            let hosts = Pattern::parse(h)?;
            let nodes = n.map(Pattern::parse).transpose()?;
            terms.push(Term {
                text: t.to_string(),
                op,
                hosts,
                nodes,
            });
        }
        if terms.is_empty() {
            return Err(SelectorError::Empty);
        }
        Ok(Selector {
            text: s.trim().to_string(),
            terms,
        })
    }

    /// Whether any term picks nodes (`pat/node`).
    pub fn picks_nodes(&self) -> bool {
        self.terms.iter().any(|t| t.nodes.is_some())
    }

    /// Indices of the selected hosts in inventory order. With node patterns, the hosts of the
    /// selected nodes.
    pub fn select_hosts(&self, inv: &Inventory) -> Result<Vec<usize>, SelectorError> {
        if self.picks_nodes() {
            let mut hosts: Vec<usize> = self.select_nodes(inv)?.iter().map(|r| r.host).collect();
            hosts.dedup();
            return Ok(hosts);
        }
        let all: BTreeSet<usize> = (0..inv.hosts.len()).collect();
        let sets: Vec<(Op, BTreeSet<usize>)> = self
            .terms
            .iter()
            .map(|t| Ok((t.op, term_hosts(t, inv)?)))
            .collect::<Result<_, SelectorError>>()?;
        let out = combine(all, sets);
        if out.is_empty() {
            return Err(SelectorError::NothingLeft {
                selector: self.text.clone(),
                what: "host",
            });
        }
        Ok(out.into_iter().collect())
    }

    /// The selected nodes in inventory order.
    pub fn select_nodes(&self, inv: &Inventory) -> Result<Vec<NodeRef>, SelectorError> {
        let all: BTreeSet<NodeRef> = inv.node_refs().into_iter().collect();
        let mut sets = Vec::new();
        for t in &self.terms {
            let hosts = term_hosts(t, inv)?;
            let nodes: BTreeSet<NodeRef> = all
                .iter()
                .filter(|r| hosts.contains(&r.host))
                .filter(|r| {
                    t.nodes
                        .as_ref()
                        .is_none_or(|p| p.matches(&inv.node(**r).1.name))
                })
                .copied()
                .collect();
            if nodes.is_empty() {
                let near = match &t.nodes {
                    Some(p) => {
                        let names: Vec<&str> = all
                            .iter()
                            .filter(|r| hosts.contains(&r.host))
                            .map(|r| inv.node(*r).1.name.as_str())
                            .collect();
                        suggest::closest(p.text(), names)
                    }
                    None => Vec::new(),
                };
                return Err(SelectorError::NoMatch {
                    term: t.text.clone(),
                    what: "node",
                    suggestions: near,
                });
            }
            sets.push((t.op, nodes));
        }
        let out = combine(all, sets);
        if out.is_empty() {
            return Err(SelectorError::NothingLeft {
                selector: self.text.clone(),
                what: "node",
            });
        }
        Ok(out.into_iter().collect())
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

/// Splits on `,` and `:` outside of `[...]` classes.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth = true,
            ']' => depth = false,
            ',' | ':' if !depth => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Hosts a term's host pattern matches (groups contribute their hosts); an error when none.
fn term_hosts(t: &Term, inv: &Inventory) -> Result<BTreeSet<usize>, SelectorError> {
    let mut set = BTreeSet::new();
    for (hi, h) in inv.hosts.iter().enumerate() {
        if t.hosts.matches(&h.name) {
            set.insert(hi);
        }
    }
    if t.hosts != Pattern::All {
        let index: std::collections::HashMap<&str, usize> = inv
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.as_str(), i))
            .collect();
        for g in inv.groups.values().filter(|g| t.hosts.matches(&g.name)) {
            set.extend(
                g.hosts
                    .iter()
                    .filter_map(|name| index.get(name.as_str()).copied()),
            );
        }
    }
    if set.is_empty() {
        let names = inv
            .hosts
            .iter()
            .map(|h| h.name.as_str())
            .chain(inv.groups.keys().map(String::as_str));
        let near = suggest::closest(t.hosts.text(), names);
        let what = if inv.hosts.is_empty() {
            "host (the inventory has none)"
        } else {
            "host or group"
        };
        return Err(SelectorError::NoMatch {
            term: t.text.clone(),
            what,
            suggestions: near,
        });
    }
    Ok(set)
}

fn combine<T: Ord + Copy>(all: BTreeSet<T>, sets: Vec<(Op, BTreeSet<T>)>) -> BTreeSet<T> {
    let has_include = sets.iter().any(|(op, _)| *op == Op::Include);
    let mut out: BTreeSet<T> = if has_include {
        sets.iter()
            .filter(|(op, _)| *op == Op::Include)
            .flat_map(|(_, s)| s.iter().copied())
            .collect()
    } else {
        all
    };
    for (op, s) in &sets {
        match op {
            Op::Intersect => out.retain(|x| s.contains(x)),
            Op::Exclude => out.retain(|x| !s.contains(x)),
            Op::Include => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn inv() -> Inventory {
        let text = r#"
[groups.mainnet]
hosts = ["bn-1", "bn-2"]
children = ["canary"]
[groups.canary]
hosts = ["bn-3"]
[groups.holesky]
hosts = ["hk-1"]

[hosts.bastion]
address = "198.51.100.1"
[hosts.bn-1]
address = "10.0.0.1"
[hosts.bn-1.nodes.lodestar-bn]
client = "lodestar"
[hosts.bn-1.nodes.lodestar-vc]
client = "lodestar"
role = "validator"
[hosts.bn-2]
address = "10.0.0.2"
[hosts.bn-2.nodes.nimbus]
client = "nimbus"
[hosts.bn-3]
address = "10.0.0.3"
[hosts.bn-3.nodes.lodestar-bn]
client = "lodestar"
[hosts.hk-1]
address = "10.0.1.1"
[hosts.hk-1.nodes.geth]
client = "geth"
"#;
        match Inventory::from_sources(vec![(PathBuf::from("/inv/hosts.toml"), text.to_string())]) {
            Ok(i) => i,
            Err(e) => panic!("{}", crate::inventory::render(&e, false)),
        }
    }

    fn hosts(sel: &str) -> Result<Vec<String>, SelectorError> {
        let inv = inv();
        let s = Selector::parse(sel)?;
        Ok(s.select_hosts(&inv)?
            .into_iter()
            .map(|i| inv.hosts[i].name.clone())
            .collect())
    }

    fn nodes(sel: &str) -> Result<Vec<String>, SelectorError> {
        let inv = inv();
        let s = Selector::parse(sel)?;
        Ok(s.select_nodes(&inv)?
            .into_iter()
            .map(|r| {
                let (h, n) = inv.node(r);
                format!("{}/{}", h.name, n.name)
            })
            .collect())
    }

    #[test]
    fn all_and_star() {
        let every = vec!["bastion", "bn-1", "bn-2", "bn-3", "hk-1"];
        assert_eq!(hosts("all").unwrap(), every);
        assert_eq!(hosts("*").unwrap(), every);
    }

    #[test]
    fn group_includes_nested_children() {
        assert_eq!(hosts("mainnet").unwrap(), vec!["bn-1", "bn-2", "bn-3"]);
        assert_eq!(hosts("canary").unwrap(), vec!["bn-3"]);
    }

    #[test]
    fn host_name() {
        assert_eq!(hosts("bn-2").unwrap(), vec!["bn-2"]);
    }

    #[test]
    fn globs() {
        assert_eq!(hosts("bn-*").unwrap(), vec!["bn-1", "bn-2", "bn-3"]);
        assert_eq!(hosts("bn-?").unwrap(), vec!["bn-1", "bn-2", "bn-3"]);
        assert_eq!(hosts("bn-[13]").unwrap(), vec!["bn-1", "bn-3"]);
        assert_eq!(hosts("bn-[1-2]").unwrap(), vec!["bn-1", "bn-2"]);
        assert_eq!(hosts("bn-[!1]").unwrap(), vec!["bn-2", "bn-3"]);
        assert_eq!(hosts("*-1").unwrap(), vec!["bn-1", "hk-1"]);
        // A glob matching a group name brings the group's hosts.
        assert_eq!(hosts("hole*").unwrap(), vec!["hk-1"]);
    }

    #[test]
    fn exclusion_and_intersection() {
        assert_eq!(hosts("mainnet,!bn-2").unwrap(), vec!["bn-1", "bn-3"]);
        assert_eq!(hosts("!mainnet").unwrap(), vec!["bastion", "hk-1"]);
        assert_eq!(hosts("all,&mainnet,!canary").unwrap(), vec!["bn-1", "bn-2"]);
        assert_eq!(hosts("bn-*:&canary").unwrap(), vec!["bn-3"]);
    }

    #[test]
    fn lists_keep_inventory_order_without_duplicates() {
        assert_eq!(
            hosts("hk-1,bn-1,bn-*,bn-1").unwrap(),
            vec!["bn-1", "bn-2", "bn-3", "hk-1"]
        );
        assert_eq!(hosts("hk-1:bastion").unwrap(), vec!["bastion", "hk-1"]);
        assert_eq!(hosts(" bn-1 , bn-2 ").unwrap(), vec!["bn-1", "bn-2"]);
    }

    #[test]
    fn node_patterns() {
        assert_eq!(nodes("bn-1/lodestar-vc").unwrap(), vec!["bn-1/lodestar-vc"]);
        assert_eq!(
            nodes("all/lodestar-*").unwrap(),
            vec!["bn-1/lodestar-bn", "bn-1/lodestar-vc", "bn-3/lodestar-bn"]
        );
        assert_eq!(
            nodes("mainnet/*-bn").unwrap(),
            vec!["bn-1/lodestar-bn", "bn-3/lodestar-bn"]
        );
        assert_eq!(
            nodes("mainnet,!bn-1/lodestar-vc").unwrap(),
            vec!["bn-1/lodestar-bn", "bn-2/nimbus", "bn-3/lodestar-bn"]
        );
        // Hosts of a node selection: the hosts that own a selected node.
        assert_eq!(hosts("*/lodestar-bn").unwrap(), vec!["bn-1", "bn-3"]);
        // Without node pattern, select_nodes gives every node of the hosts.
        assert_eq!(
            nodes("bn-1").unwrap(),
            vec!["bn-1/lodestar-bn", "bn-1/lodestar-vc"]
        );
    }

    #[test]
    fn no_match_suggests_closest_names() {
        match hosts("bn-9") {
            Err(SelectorError::NoMatch {
                term, suggestions, ..
            }) => {
                assert_eq!(term, "bn-9");
                assert_eq!(suggestions, vec!["bn-1", "bn-2", "bn-3"]);
            }
            other => panic!("{other:?}"),
        }
        match hosts("mainet") {
            Err(SelectorError::NoMatch { suggestions, .. }) => {
                assert_eq!(suggestions[0], "mainnet");
            }
            other => panic!("{other:?}"),
        }
        match nodes("bn-1/lodestar-bm") {
            Err(SelectorError::NoMatch {
                what: "node",
                suggestions,
                ..
            }) => {
                assert_eq!(suggestions, vec!["lodestar-bn", "lodestar-vc"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_typo_in_an_exclusion_is_an_error_not_everything() {
        assert!(matches!(
            hosts("all,!bn-typo"),
            Err(SelectorError::NoMatch { .. })
        ));
    }

    #[test]
    fn selecting_nothing_is_an_error() {
        assert!(matches!(
            hosts("bn-1,!bn-1"),
            Err(SelectorError::NothingLeft { .. })
        ));
        assert!(matches!(
            hosts("bastion,&mainnet"),
            Err(SelectorError::NothingLeft { .. })
        ));
        // bastion has no nodes.
        assert!(matches!(
            nodes("bastion"),
            Err(SelectorError::NoMatch { what: "node", .. })
        ));
    }

    #[test]
    fn parse_errors() {
        assert_eq!(Selector::parse(""), Err(SelectorError::Empty));
        assert_eq!(Selector::parse(" , "), Err(SelectorError::Empty));
        assert!(matches!(
            Selector::parse("bn-[1"),
            Err(SelectorError::BadPattern { .. })
        ));
        assert!(matches!(
            Selector::parse("bn 1"),
            Err(SelectorError::BadPattern { .. })
        ));
        assert!(matches!(
            Selector::parse("bn-1;reboot"),
            Err(SelectorError::BadPattern { .. })
        ));
        assert!(matches!(
            Selector::parse("!"),
            Err(SelectorError::BadPattern { .. })
        ));
        assert!(matches!(
            Selector::parse("/x"),
            Err(SelectorError::BadPattern { .. })
        ));
    }

    #[test]
    fn glob_matcher() {
        let g = |p: &str, s: &str| Glob::parse(p).unwrap().matches(s);
        assert!(g("*", ""));
        assert!(g("a*b*c", "aXXbYYc"));
        assert!(!g("a*b*c", "aXXbYY"));
        assert!(g("*a", "aaa"));
        assert!(g("[a-c]?", "bz"));
        assert!(!g("[^a-c]?", "bz"));
        assert!(g("x[-]", "x-"));
        assert!(Glob::parse("[z-a]").is_err());
    }

    #[test]
    fn find_node_by_name_or_host_slash_name() {
        let inv = inv();
        let r = inv.find_node("bn-2/nimbus").unwrap();
        assert_eq!(inv.node(r).1.name, "nimbus");
        let r = inv.find_node("geth").unwrap();
        assert_eq!(inv.node(r).0.name, "hk-1");
        match inv.find_node("lodestar-bn") {
            Err(SelectorError::AmbiguousNode { candidates, .. }) => {
                assert_eq!(candidates, vec!["bn-1/lodestar-bn", "bn-3/lodestar-bn"]);
            }
            other => panic!("{other:?}"),
        }
        match inv.find_node("gteh") {
            Err(SelectorError::NoSuchNode { suggestions, .. }) => {
                assert_eq!(suggestions, vec!["hk-1/geth"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
