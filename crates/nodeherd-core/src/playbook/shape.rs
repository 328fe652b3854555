//! The shape of a playbook file, checked before it is read: which sections and `[upgrade]` keys
//! exist, and the type and range of each value; every problem at once, each at its span.
//!
//! Owns: the list of playbook sections and `[upgrade]` keys, and the wording of their problems
//! (through the inventory's [`FileCheck`]). May not touch: what the values mean (durations,
//! versions, windows: `super::check_value` says), what the `[state]`/`[unit]` values mean
//! (`crate::plan::desired`; only their keys and types are checked here), files.

use toml::de::{DeTable, DeValue};

use crate::inventory::ProblemKind;
use crate::inventory::filecheck::{FileCheck, Val, in_order};

/// The sections a playbook may have at the top level.
const TOP: [&str; 6] = ["upgrade", "state", "unit", "groups", "hosts", "nodes"];
/// The sections a group, host or node of a playbook may have.
const PER: [&str; 3] = ["upgrade", "state", "unit"];

/// The `[upgrade]` keys and what each takes.
const UPGRADE: [(&str, Expect); 18] = [
    ("channel", Expect::Str("channel = \"stable\"")),
    ("pin", Expect::Str("pin = \"~1.5\"")),
    ("delay", Expect::Str("delay = \"14d\"")),
    ("jitter", Expect::Str("jitter = \"6h\"")),
    ("critical", Expect::Strs("critical = [\"1.5.2\"]")),
    ("auto_upgrade", Expect::Bool),
    (
        "windows",
        Expect::Strs("windows = [\"Mon-Fri 08:00-18:00 UTC\"]"),
    ),
    ("canary", Expect::Canary),
    ("serial", Expect::Int(0, i64::MAX)),
    ("max_fail_percent", Expect::Int(0, 100)),
    ("health_timeout", Expect::Str("health_timeout = \"3m\"")),
    ("settle", Expect::Str("settle = \"30s\"")),
    ("confirm_timeout", Expect::Str("confirm_timeout = \"5m\"")),
    ("min_quiet", Expect::Str("min_quiet = \"60s\"")),
    ("max_wait", Expect::Str("max_wait = \"10m\"")),
    ("keep", Expect::Int(0, i64::MAX)),
    ("accept_syncing", Expect::Bool),
    (
        "release_feed",
        Expect::Str("release_feed = \"https://example.org/feed.json\""),
    ),
];

#[derive(Debug, Clone, Copy)]
enum Expect {
    Str(&'static str),
    Strs(&'static str),
    Bool,
    Int(i64, i64),
    Canary,
}

/// Checks the whole document; problems go to `fc`.
pub(super) fn check(fc: &mut FileCheck, doc: &DeTable<'_>) {
    for (k, v) in in_order(doc) {
        let key = k.get_ref().as_ref();
        match key {
            "upgrade" => {
                if let Some(t) = fc.table("at the top level", "upgrade", v) {
                    upgrade(fc, "in [upgrade]", t);
                }
            }
            "groups" | "hosts" | "nodes" => {
                let Some(t) = fc.table("at the top level", key, v) else {
                    continue;
                };
                for (name, sv) in in_order(t) {
                    let ctx = format!("in [{key}.\"{}\"]", name.get_ref());
                    let Some(st) = fc.table(&ctx, name.get_ref(), sv) else {
                        continue;
                    };
                    for (sk, sv) in in_order(st) {
                        match sk.get_ref().as_ref() {
                            "upgrade" => {
                                let ctx = format!("in [{key}.\"{}\".upgrade]", name.get_ref());
                                if let Some(u) = fc.table(&ctx, "upgrade", sv) {
                                    upgrade(fc, &ctx, u);
                                }
                            }
                            "state" | "unit" => {
                                let ctx =
                                    format!("in [{key}.\"{}\".{}]", name.get_ref(), sk.get_ref());
                                if let Some(t) = fc.table(&ctx, sk.get_ref(), sv) {
                                    declared(fc, &ctx, sk.get_ref(), t);
                                }
                            }
                            _ => fc.unknown_field(&ctx, sk, &PER),
                        }
                    }
                }
            }
            "state" | "unit" => {
                let ctx = format!("in [{key}]");
                if let Some(t) = fc.table("at the top level", key, v) {
                    declared(fc, &ctx, key, t);
                }
            }
            _ => fc.unknown_field("at the top level of a playbook", k, &TOP),
        }
    }
}

fn upgrade(fc: &mut FileCheck, ctx: &str, t: &DeTable<'_>) {
    let names: Vec<&str> = UPGRADE.iter().map(|(n, _)| *n).collect();
    for (k, v) in in_order(t) {
        let key = k.get_ref().as_ref();
        let Some((_, expect)) = UPGRADE.iter().find(|(n, _)| *n == key) else {
            fc.unknown_field(ctx, k, &names);
            continue;
        };
        match *expect {
            Expect::Str(example) => {
                if let Some(s) = fc.string(ctx, key, example, v) {
                    value(fc, ctx, key, s, v.span());
                }
            }
            Expect::Strs(example) => {
                for (s, span) in fc.strings(ctx, key, example, v).unwrap_or_default() {
                    value(fc, ctx, key, s, span);
                }
            }
            Expect::Bool => {
                fc.boolean(ctx, key, v);
            }
            Expect::Int(lo, hi) => {
                fc.integer(ctx, key, lo..=hi, v);
            }
            Expect::Canary => canary(fc, ctx, v),
        }
    }
}

/// The keys of a `[state]` (`section` = "state") or `[unit]` section and their types; what the
/// values mean is `crate::plan::desired`'s (this keeps serde's wording out of the report).
fn declared(fc: &mut FileCheck, ctx: &str, section: &str, t: &DeTable<'_>) {
    const STATE: [&str; 4] = ["running", "version", "present", "chain_upgrades"];
    const UNIT: [&str; 7] = [
        "description",
        "exec_start",
        "exec_stop",
        "environment",
        "success_exit_status",
        "user",
        "timeout_stop_sec",
    ];
    let valid: &[&str] = if section == "state" { &STATE } else { &UNIT };
    for (k, v) in in_order(t) {
        let key = k.get_ref().as_ref();
        match key {
            _ if !valid.contains(&key) => fc.unknown_field(ctx, k, valid),
            "running" | "present" | "chain_upgrades" => {
                fc.boolean(ctx, key, v);
            }
            "environment" => {
                fc.strings(
                    ctx,
                    key,
                    "environment = [\"NODE_OPTIONS=--max-old-space-size=4096\"]",
                    v,
                );
            }
            "timeout_stop_sec" => {
                fc.integer(ctx, key, 0..=i64::MAX, v);
            }
            "version" => {
                fc.string(
                    ctx,
                    key,
                    "version = \"policy\" (or \"unmanaged\", or \"1.5.1\")",
                    v,
                );
            }
            _ => {
                fc.string(ctx, key, &format!("{key} = \"...\""), v);
            }
        }
    }
}

/// The value of a string key (or one entry of a list), checked by [`super::check_value`].
fn value(fc: &mut FileCheck, ctx: &str, key: &str, v: &str, span: std::ops::Range<usize>) {
    if let Some((why, help)) = super::check_value(key, v) {
        fc.invalid(ctx, key, span, &why, help);
    }
}

/// `canary`: a number of nodes, or a list of node selectors (serde's untagged enum would only
/// say "did not match any variant").
fn canary(fc: &mut FileCheck, ctx: &str, v: &Val<'_>) {
    const FORMS: &str =
        "canary = 1 (the first N nodes) or canary = [\"bn-1/lodestar-bn\"] (these nodes first)";
    match v.get_ref() {
        DeValue::Integer(_) => {
            fc.integer(ctx, "canary", 0..=i64::MAX, v);
        }
        DeValue::Array(_) => {
            fc.strings(ctx, "canary", FORMS, v);
        }
        other => {
            let found = other.type_str();
            let shown = fc.shown(v.span());
            fc.problem(
                ProblemKind::WrongType,
                v.span(),
                format!("this is a {found}"),
                format!(
                    "canary {ctx} must be a number of nodes or a list of node selectors, not a {found}: {shown}"
                ),
                format!("write {FORMS}"),
            );
        }
    }
}
