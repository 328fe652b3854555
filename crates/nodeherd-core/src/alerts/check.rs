//! The shape and values of an alerts file (`playbooks/alerts.toml`), checked before it is read:
//! `[[rule]]`, `[[channel]]` and `[deadman]`, every problem at once, each at its span, in the
//! inventory's wording and types.
//!
//! Owns: which keys each section has, what each value allows, and [`check_file`] (the one entry
//! point: check, then read with `channels::parse_config`). May not touch: what rules and channels
//! do (`rules`, `channels`, `engine`), files (callers pass the text).

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use crate::alerts::channels::{AlertsConfig, parse_config};
use crate::inventory::filecheck::{FileCheck, Val, field, in_order};
use crate::inventory::{ConfigError, Problem, ProblemKind};

const TOP: [&str; 3] = ["rule", "channel", "deadman"];
const RULE: [&str; 6] = ["name", "condition", "for", "severity", "labels", "hint"];
const SEVERITIES: [&str; 3] = ["info", "warn", "page"];
/// Conditions written as a plain name.
const NAMED: [&str; 8] = [
    "unit_not_active",
    "head_not_advancing",
    "not_synced",
    "missed_attestations_rising",
    "host_unreachable",
    "upgrade_available",
    "upgrade_failed",
    "validator_jailed",
];
/// Conditions written as a one-key table with a threshold, and the range it allows.
const THRESHOLDS: [(&str, f64, f64); 8] = [
    ("peers_below", 0.0, f64::MAX),
    ("cosmos_plan_not_staged_within", 0.0, f64::MAX),
    ("cosmos_missed_switch_after", 0.0, f64::MAX),
    ("no_new_block_for", 0.0, f64::MAX),
    ("missed_blocks_above", 0.0, 100.0),
    ("proposal_not_voted_within", 0.0, f64::MAX),
    ("disk_above", 0.0, 100.0),
    ("memory_above", 0.0, 100.0),
];
const PLACEHOLDERS: [&str; 4] = ["host", "node", "value", "rule"];
const CHANNEL: [&str; 9] = [
    "type",
    "name",
    "url",
    "url_env",
    "url_file",
    "token_env",
    "token_file",
    "min_severity",
    "resolved",
];
const TYPES: [&str; 7] = [
    "webhook",
    "alertmanager",
    "slack",
    "discord",
    "telegram",
    "ntfy",
    "email",
];
const DEADMAN: [&str; 3] = ["url", "url_env", "url_file"];

/// Checks and reads an alerts file named `name`: every problem at once, or the configuration.
pub fn check_file(name: &str, text: &str) -> Result<AlertsConfig, ConfigError> {
    let what = format!("alerts file {name}");
    let mut fc = FileCheck::new(name, text);
    let whole = fc.text.clone();
    match DeTable::parse(&whole) {
        Ok(doc) => check_doc(&mut fc, doc.get_ref()),
        Err(e) => fc.syntax(&e),
    }
    if !fc.problems.is_empty() {
        return Err(ConfigError::of("alerts", &what, fc.problems));
    }
    parse_config(text).map_err(|e| {
        // The checks above accept only what reads; this is a last resort.
        let p = Problem::in_text(
            name,
            &whole,
            ProblemKind::InvalidValue,
            0..0,
            "in this file",
            e.to_string(),
        )
        .help("see docs/metrics-alerts.md for the format");
        ConfigError::of("alerts", &what, vec![p])
    })
}

fn check_doc(fc: &mut FileCheck, doc: &DeTable<'_>) {
    let mut names: Vec<(String, Range<usize>)> = Vec::new();
    for (k, v) in in_order(doc) {
        match k.get_ref().as_ref() {
            "rule" => {
                for (i, t) in tables(fc, "rule", v).into_iter().enumerate() {
                    rule(fc, i + 1, t, &mut names);
                }
            }
            "channel" => {
                for (i, t) in tables(fc, "channel", v).into_iter().enumerate() {
                    channel(fc, i + 1, t);
                }
            }
            "deadman" => {
                if let Some(t) = fc.table("at the top level", "deadman", v) {
                    deadman(fc, t, v.span());
                }
            }
            _ => fc.unknown_field("at the top level of an alerts file", k, &TOP),
        }
    }
}

/// The tables of `[[key]]`, each with its span.
fn tables<'a, 'i>(
    fc: &mut FileCheck,
    key: &str,
    v: &'a Val<'i>,
) -> Vec<(&'a DeTable<'i>, Range<usize>)> {
    let example = format!("[[{key}]] (one per {key})");
    let DeValue::Array(a) = v.get_ref() else {
        fc.wrong_type(
            "at the top level",
            key,
            &format!("a list of [[{key}]] tables"),
            &example,
            v,
        );
        return Vec::new();
    };
    a.iter()
        .filter_map(|item| match item.get_ref() {
            DeValue::Table(t) => Some((t, item.span())),
            _ => {
                fc.wrong_type(
                    "at the top level",
                    &format!("each {key}"),
                    "a table",
                    &example,
                    item,
                );
                None
            }
        })
        .collect()
}

fn rule(
    fc: &mut FileCheck,
    n: usize,
    (t, span): (&DeTable<'_>, Range<usize>),
    names: &mut Vec<(String, Range<usize>)>,
) {
    let ctx = match field(t, "name").and_then(|v| v.get_ref().as_str()) {
        Some(name) => format!("in rule \"{name}\""),
        None => format!("in rule #{n}"),
    };
    for (k, v) in in_order(t) {
        let key = k.get_ref().as_ref();
        match key {
            "name" => {
                if let Some(name) = fc.string(&ctx, key, "name = \"disk-full\"", v) {
                    if name.trim().is_empty() {
                        fc.invalid(
                            &ctx,
                            key,
                            v.span(),
                            "is empty",
                            "give the rule a name, e.g. name = \"disk-full\"",
                        );
                    } else if let Some((_, first)) = names.iter().find(|(o, _)| o == name) {
                        let (line, _) = line_of(&fc.text, first.start);
                        fc.problem(
                            ProblemKind::Duplicate,
                            v.span(),
                            "used before",
                            format!("rule name \"{name}\" is used twice (first on line {line})"),
                            "give each rule its own name: silences and alerts refer to it",
                        );
                    } else {
                        names.push((name.to_string(), v.span()));
                    }
                }
            }
            "condition" => condition(fc, &ctx, v),
            "for" => {
                if let Some(s) = fc.string(&ctx, key, "for = \"10m\"", v) {
                    if humantime::parse_duration(s.trim()).is_err() {
                        fc.invalid(
                            &ctx,
                            key,
                            v.span(),
                            "is not a duration",
                            "write e.g. \"5m\", \"90s\" or \"0s\"",
                        );
                    }
                }
            }
            "severity" => choice(fc, &ctx, key, &SEVERITIES, "severity = \"warn\"", v),
            "labels" => {
                if let Some(lt) = fc.table(&ctx, key, v) {
                    for (_, lv) in in_order(lt) {
                        fc.string(&ctx, "each label", "labels = { team = \"infra\" }", lv);
                    }
                }
            }
            "hint" => {
                if let Some(h) = fc.string(&ctx, key, "hint = \"disk {value}% on {host}\"", v) {
                    for ph in placeholders(h) {
                        if !PLACEHOLDERS.contains(&ph) {
                            let why = format!("has the unknown placeholder {{{ph}}}");
                            fc.invalid(
                                &ctx,
                                key,
                                v.span(),
                                &why,
                                "placeholders are {host} {node} {value} {rule}",
                            );
                        }
                    }
                }
            }
            _ => fc.unknown_field(&ctx, k, &RULE),
        }
    }
    for (key, example) in [
        ("name", "name = \"disk-full\""),
        ("condition", "condition = \"unit_not_active\""),
        ("severity", "severity = \"warn\""),
    ] {
        if field(t, key).is_none() {
            fc.missing(&format!("rule #{n}"), key, span.clone(), example);
        }
    }
}

fn condition(fc: &mut FileCheck, ctx: &str, v: &Val<'_>) {
    let thresholds: Vec<&str> = THRESHOLDS.iter().map(|(n, _, _)| *n).collect();
    let forms = format!(
        "condition = \"unit_not_active\" (one of {}) or condition = {{ disk_above = 90 }} (one of {})",
        NAMED.join(", "),
        thresholds.join(", ")
    );
    match v.get_ref() {
        DeValue::String(s) => {
            if !NAMED.contains(&s.as_ref()) {
                let why = if thresholds.contains(&s.as_ref()) {
                    format!("needs a threshold: {{ {s} = ... }}")
                } else {
                    "is not a condition".to_string()
                };
                let help = match crate::inventory::suggest::did_you_mean(
                    s,
                    NAMED.iter().chain(&thresholds),
                ) {
                    Some(d) => format!("{d} write {forms}"),
                    None => format!("write {forms}"),
                };
                fc.invalid(ctx, "condition", v.span(), &why, help);
            }
        }
        DeValue::Table(t) if t.len() == 1 => {
            for (k, tv) in in_order(t) {
                let Some((_, lo, hi)) = THRESHOLDS.iter().find(|(n, _, _)| *n == k.get_ref())
                else {
                    fc.unknown_field(&format!("in the condition {ctx}"), k, &thresholds);
                    continue;
                };
                let n = match tv.get_ref() {
                    DeValue::Integer(i) => i.as_str().replace('_', "").parse::<f64>().ok(),
                    DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
                    _ => {
                        fc.wrong_type(
                            ctx,
                            k.get_ref(),
                            "a number",
                            &format!("{{ {} = 90 }}", k.get_ref()),
                            tv,
                        );
                        continue;
                    }
                };
                if !n.is_some_and(|n| n.is_finite() && n >= *lo && n <= *hi) {
                    let why = if *hi == f64::MAX {
                        format!("must be at least {lo}")
                    } else {
                        format!("must be within {lo}-{hi}")
                    };
                    fc.invalid(ctx, k.get_ref(), tv.span(), &why, format!("write {forms}"));
                }
            }
        }
        other => {
            let found = other.type_str();
            let shown = fc.shown(v.span());
            fc.problem(
                ProblemKind::WrongType,
                v.span(),
                format!("this is not a condition ({found})"),
                format!("condition {ctx} must be a condition name or a one-key table with a threshold: {shown}"),
                format!("write {forms}"),
            );
        }
    }
}

fn channel(fc: &mut FileCheck, n: usize, (t, span): (&DeTable<'_>, Range<usize>)) {
    let ty = field(t, "type").and_then(|v| v.get_ref().as_str());
    let label = field(t, "name").and_then(|v| v.get_ref().as_str()).or(ty);
    let who = match label {
        Some(l) => format!("channel #{n} ({l})"),
        None => format!("channel #{n}"),
    };
    let ctx = format!("in {who}");
    let own: &[&str] = match ty {
        Some("webhook") => &["format"],
        Some("alertmanager") => &["external_url"],
        Some("telegram") => &["chat_id", "api_base"],
        Some("email") => &["smtp_host", "smtp_port", "tls", "from", "to", "username"],
        _ => &[],
    };
    let valid: Vec<&str> = CHANNEL.iter().chain(own).copied().collect();
    for (k, v) in in_order(t) {
        let key = k.get_ref().as_ref();
        if !valid.contains(&key) {
            fc.unknown_field(&ctx, k, &valid);
            continue;
        }
        match key {
            "type" => choice(fc, &ctx, key, &TYPES, "type = \"slack\"", v),
            "min_severity" => choice(fc, &ctx, key, &SEVERITIES, "min_severity = \"warn\"", v),
            "format" => choice(
                fc,
                &ctx,
                key,
                &["nodeherd", "alertmanager"],
                "format = \"alertmanager\"",
                v,
            ),
            "tls" => choice(
                fc,
                &ctx,
                key,
                &["starttls", "none"],
                "tls = \"starttls\"",
                v,
            ),
            "resolved" => {
                fc.boolean(&ctx, key, v);
            }
            "smtp_port" => {
                fc.integer(&ctx, key, 1..=65535, v);
            }
            "to" => {
                if fc
                    .strings(&ctx, key, "to = [\"ops@example.org\"]", v)
                    .is_some_and(|l| l.is_empty())
                {
                    fc.invalid(
                        &ctx,
                        key,
                        v.span(),
                        "is empty",
                        "list at least one address, e.g. to = [\"ops@example.org\"]",
                    );
                }
            }
            _ => {
                fc.string(&ctx, key, &format!("{key} = \"...\""), v);
            }
        }
    }
    let has = |keys: &[&str]| keys.iter().any(|k| field(t, k).is_some());
    let mut required: Vec<(&str, &str)> = vec![("type", "type = \"slack\"")];
    match ty {
        Some("telegram") => required.extend([("chat_id", "chat_id = \"-100123\"")]),
        Some("email") => required.extend([
            ("smtp_host", "smtp_host = \"smtp.example.org\""),
            ("from", "from = \"nodeherd@example.org\""),
            ("to", "to = [\"ops@example.org\"]"),
        ]),
        _ => {}
    }
    for (key, example) in required {
        if field(t, key).is_none() {
            fc.missing(&format!("channel #{n}"), key, span.clone(), example);
        }
    }
    let needs_url = !matches!(ty, Some("telegram" | "email") | None);
    if needs_url && !has(&["url", "url_env", "url_file"]) {
        fc.missing(
            &who,
            "url, url_env or url_file",
            span.clone(),
            "url_env = \"SLACK_WEBHOOK_URL\"",
        );
    }
    if ty == Some("telegram") && !has(&["token_env", "token_file"]) {
        fc.missing(
            &who,
            "token_env or token_file",
            span,
            "token_env = \"TELEGRAM_BOT_TOKEN\"",
        );
    }
}

fn deadman(fc: &mut FileCheck, t: &DeTable<'_>, span: Range<usize>) {
    let ctx = "in [deadman]";
    for (k, v) in in_order(t) {
        if DEADMAN.contains(&k.get_ref().as_ref()) {
            fc.string(ctx, k.get_ref(), "url_env = \"HEALTHCHECK_URL\"", v);
        } else {
            fc.unknown_field(ctx, k, &DEADMAN);
        }
    }
    if DEADMAN.iter().all(|k| field(t, k).is_none()) {
        fc.missing(
            "[deadman]",
            "url, url_env or url_file",
            span,
            "url_env = \"HEALTHCHECK_URL\"",
        );
    }
}

/// A string that must be one of `allowed`.
fn choice(fc: &mut FileCheck, ctx: &str, key: &str, allowed: &[&str], example: &str, v: &Val<'_>) {
    if let Some(s) = fc.string(ctx, key, example, v) {
        if !allowed.contains(&s) {
            let list = allowed.join(", ");
            let help = match crate::inventory::suggest::did_you_mean(s, allowed.iter()) {
                Some(d) => format!("{d} {key} is one of: {list}"),
                None => format!("{key} is one of: {list}"),
            };
            fc.invalid(ctx, key, v.span(), &format!("is not one of {list}"), help);
        }
    }
}

fn placeholders(s: &str) -> impl Iterator<Item = &str> {
    s.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

fn line_of(text: &str, offset: usize) -> (usize, usize) {
    let (l, c) = crate::inventory::line_col(text, offset);
    (l + 1, c + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(e: &ConfigError) -> Vec<usize> {
        e.problems.iter().map(|p| p.location().unwrap().1).collect()
    }

    #[test]
    fn every_problem_at_once_with_its_line_and_a_hint() {
        let text = "\
[[rule]]
name = \"down\"
condition = \"unit_not_activ\"
severity = \"loud\"
for = \"5 parsecs\"

[[rule]]
name = \"down\"
condition = { disk_above = 120 }
severity = \"warn\"
hint = \"{hots}\"
sevrity = \"page\"

[[channel]]
type = \"pager\"

[[channel]]
type = \"email\"
smtp_port = 70000

[deadman]
uri = \"x\"
";
        let e = check_file("alerts.toml", text).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} problems in alerts file alerts.toml", e.problems.len())
        );
        assert_eq!(
            lines(&e),
            vec![3, 4, 5, 8, 9, 11, 12, 14, 15, 17, 17, 17, 19, 21, 22],
            "{}",
            e.one_line()
        );
        assert!(e.problems.iter().all(|p| p.help.is_some()));
        let all = e.one_line();
        assert!(
            all.contains("did you mean \"unit_not_active\"?")
                || e.problems[0]
                    .help
                    .as_deref()
                    .unwrap()
                    .contains("unit_not_active"),
            "{all}"
        );
        assert!(all.contains("used twice (first on line 2)"), "{all}");
        assert!(all.contains("within 0-100"), "{all}");
        assert!(all.contains("{hots}"), "{all}");
        assert!(!all.contains("variant"), "{all}");
        assert_eq!(e.problems[0].code_name(), "alerts::invalid_value");
    }

    #[test]
    fn conditions_in_the_operators_words() {
        let bad = |c: &str| {
            let text = format!("[[rule]]\nname = \"x\"\nseverity = \"page\"\ncondition = {c}\n");
            let e = check_file("a.toml", &text).unwrap_err();
            assert_eq!(lines(&e), vec![4], "{c}: {}", e.one_line());
            e.problems[0].message.clone()
        };
        assert!(bad("\"disk_above\"").contains("needs a threshold"));
        assert!(bad("3").contains("a condition name or a one-key table"));
        assert!(bad("{ peers_below = -1 }").contains("at least 0"));
        assert!(bad("{ no_new_block_for = -5 }").contains("at least 0"));
        assert!(bad("{ disk_above = \"90\" }").contains("must be a number"));
        assert!(bad("{ disk_abov = 90 }").contains("unknown field \"disk_abov\""));
    }

    #[test]
    fn a_good_file_reads_as_before() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../playbooks/alerts.toml"
        ))
        .unwrap();
        let cfg = check_file("alerts.toml", &text).unwrap();
        assert_eq!(cfg, parse_config(&text).unwrap());
        let minimal =
            "[[channel]]\ntype = \"slack\"\nurl_env = \"S\"\n[deadman]\nurl_env = \"D\"\n";
        assert_eq!(check_file("a.toml", minimal).unwrap().channels.len(), 1);
        let e = check_file("a.toml", "[[channel]]\ntype = \"telegram\"\n").unwrap_err();
        assert_eq!(e.problems.len(), 2, "{}", e.one_line());
    }
}
