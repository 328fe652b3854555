//! The systemd unit a playbook owns for a provisioned node: its definition (`[unit]` sections),
//! validation of every piece, and the unit file text built from them (pure).
//!
//! Owns: the `[unit]` keys and the rendered text. May not touch: the hosts, the network, other
//! playbook sections. Nothing here is run through a shell: the text travels as a command's stdin.

use serde::Deserialize;

/// The marker line every unit file written by nodeherd starts with.
pub const MARKER: &str = "# Managed by nodeherd (written by `nodeherd apply` from a playbook)";

/// A unit definition; every field optional so group/host/node levels merge field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitDef {
    pub description: Option<String>,
    /// The command line; `{current}` (here and in `exec_stop`, `environment`) expands to
    /// `<install_dir>/current`.
    pub exec_start: Option<String>,
    pub exec_stop: Option<String>,
    /// `K=V` entries.
    pub environment: Option<Vec<String>>,
    /// e.g. `"1"` or `"1 SIGTERM"`.
    pub success_exit_status: Option<String>,
    /// The account the node runs as (default: systemd's, root).
    pub user: Option<String>,
    /// Seconds systemd waits for a stop.
    pub timeout_stop_sec: Option<u64>,
}

impl UnitDef {
    /// Fields of `top` replace those of `self`.
    pub fn merge(&mut self, top: &UnitDef) {
        macro_rules! m {
            ($($f:ident),*) => { $( if top.$f.is_some() { self.$f = top.$f.clone(); } )* };
        }
        m!(
            description,
            exec_start,
            exec_stop,
            environment,
            success_exit_status,
            user,
            timeout_stop_sec
        );
    }

    pub fn is_empty(&self) -> bool {
        *self == UnitDef::default()
    }
}

/// Check the pieces of one `[unit]` section (not whether it is complete: see [`check_complete`]).
/// Returns every problem found as `(key, message)`.
pub fn check(d: &UnitDef) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let one_line = |k: &'static str, v: &str, out: &mut Vec<(&'static str, String)>| {
        if v.chars().any(char::is_control) {
            out.push((
                k,
                format!("{k} must be one line without control characters"),
            ));
            return false;
        }
        true
    };
    if let Some(v) = &d.description {
        one_line("description", v, &mut out);
    }
    for (k, v) in [("exec_start", &d.exec_start), ("exec_stop", &d.exec_stop)] {
        let Some(v) = v else { continue };
        if !one_line(k, v, &mut out) {
            continue;
        }
        let t = v.trim_start_matches(['-', '@', ':', '+', '!']);
        if !t.starts_with('/') && !t.starts_with("{current}/") {
            out.push((
                k,
                format!(
                    "{k} must start with an absolute path (got {:?})",
                    first_word(v)
                ),
            ));
        }
        if let Some(bad) = placeholders(v).into_iter().find(|p| p != "current") {
            out.push((
                k,
                format!("{k}: unknown placeholder {{{bad}}}; the only one is {{current}}"),
            ));
        }
    }
    for e in d.environment.iter().flatten() {
        if !one_line("environment", e, &mut out) {
            continue;
        }
        match e.split_once('=') {
            Some((k, _)) if valid_env_name(k) => {
                if let Some(bad) = placeholders(e).into_iter().find(|p| p != "current") {
                    out.push((
                        "environment",
                        format!("environment: unknown placeholder {{{bad}}}; the only one is {{current}}"),
                    ));
                }
            }
            _ => out.push((
                "environment",
                format!("environment entry {e:?} is not NAME=value (NAME: letters, digits, _)"),
            )),
        }
    }
    if let Some(s) = &d.success_exit_status {
        let ok = !s.trim().is_empty()
            && s.split_whitespace().all(|w| {
                w.parse::<u8>().is_ok()
                    || (w.starts_with("SIG")
                        && w.len() > 3
                        && w[3..]
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
            });
        if !ok {
            out.push((
                "success_exit_status",
                format!(
                    "success_exit_status {s:?}: use exit codes 0-255 and signal names, e.g. \"1 SIGTERM\""
                ),
            ));
        }
    }
    if let Some(u) = &d.user {
        let ok = !u.is_empty()
            && u.len() <= 32
            && u.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && !u.starts_with('-');
        if !ok {
            out.push(("user", format!("user {u:?} is not a valid account name")));
        }
    }
    out
}

/// Problems of a merged definition that is to be installed.
pub fn check_complete(d: &UnitDef) -> Option<String> {
    if d.exec_start.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Some(
            "no exec_start: a node declared present needs a [unit] with exec_start".into(),
        );
    }
    None
}

/// A unit name nodeherd may write under /etc/systemd/system.
pub fn valid_unit_name(u: &str) -> bool {
    let Some(stem) = u.strip_suffix(".service") else {
        return false;
    };
    !stem.is_empty()
        && !stem.starts_with('.')
        && !stem.starts_with('-')
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'))
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

fn valid_env_name(k: &str) -> bool {
    let mut cs = k.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `{name}` placeholders in `s`.
fn placeholders(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        match after.find('}') {
            Some(j) => {
                out.push(after[..j].to_string());
                rest = &after[j + 1..];
            }
            None => {
                out.push(after.to_string());
                break;
            }
        }
    }
    out
}

/// `%` is systemd's specifier character: written as `%%` so values arrive literally.
fn esc_pct(s: &str) -> String {
    s.replace('%', "%%")
}

fn expand(s: &str, install_dir: &str) -> String {
    esc_pct(&s.replace("{current}", &format!("{install_dir}/current")))
}

/// The unit file text for a checked, complete definition (`check` and `check_complete` passed).
pub fn render(node_key: &str, install_dir: &str, d: &UnitDef) -> String {
    let mut s = String::new();
    s.push_str(MARKER);
    s.push('\n');
    s.push_str(&format!(
        "# node: {}\n",
        node_key.replace(['\n', '\r'], " ")
    ));
    s.push_str("[Unit]\n");
    let desc = d
        .description
        .clone()
        .unwrap_or_else(|| format!("{node_key} (managed by nodeherd)"));
    s.push_str(&format!("Description={}\n", esc_pct(&desc)));
    s.push_str("After=network-online.target\nWants=network-online.target\n\n[Service]\n");
    if let Some(u) = &d.user {
        s.push_str(&format!("User={u}\n"));
    }
    for e in d.environment.iter().flatten() {
        let e = e.replace("{current}", &format!("{install_dir}/current"));
        let q = e.replace('\\', "\\\\").replace('"', "\\\"");
        s.push_str(&format!("Environment=\"{}\"\n", esc_pct(&q)));
    }
    if let Some(x) = &d.exec_start {
        s.push_str(&format!("ExecStart={}\n", expand(x.trim(), install_dir)));
    }
    if let Some(x) = &d.exec_stop {
        s.push_str(&format!("ExecStop={}\n", expand(x.trim(), install_dir)));
    }
    if let Some(x) = &d.success_exit_status {
        s.push_str(&format!("SuccessExitStatus={}\n", x.trim()));
    }
    if let Some(t) = d.timeout_stop_sec {
        s.push_str(&format!("TimeoutStopSec={t}\n"));
    }
    s.push_str("Restart=on-failure\nRestartSec=5\n\n[Install]\nWantedBy=multi-user.target\n");
    s
}

/// The path nodeherd writes a node's unit to (the same as the install's `INSTALL_UNIT` script).
pub fn unit_path(unit: &str) -> String {
    format!("/etc/systemd/system/{unit}")
}

pub use crate::facts::status::HostUnitFile;

/// How the host's unit file compares with the one the playbook renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitDrift {
    /// Equal modulo trailing whitespace on lines and trailing blank lines.
    Same,
    /// The file is nodeherd's (starts with [`MARKER`]) and differs: `summary` names the first
    /// differing line (sanitized, elided).
    Differs { summary: String },
    /// The file is not nodeherd's to rewrite (no marker, absent, unreadable): why, for a no-op.
    NotManaged { why: String },
}

fn normalised(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// A line for a message: control characters removed, around the first differing char `at`,
/// at most ~70 characters.
fn excerpt(line: &str, at: usize) -> String {
    let clean = crate::text::sanitize(line);
    let chars: Vec<char> = clean.chars().collect();
    let start = if chars.len() <= 70 {
        0
    } else {
        at.saturating_sub(30).min(chars.len())
    };
    let end = (start + 70).min(chars.len());
    let mut s = String::new();
    if start > 0 {
        s.push_str("...");
    }
    s.extend(&chars[start..end]);
    if end < chars.len() {
        s.push_str("...");
    }
    s
}

fn key_of(line: &str) -> Option<&str> {
    let (k, _) = line.split_once('=')?;
    (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric())).then_some(k)
}

/// Compare the host's unit file with the rendered `want` (pure). Only a file starting with
/// [`MARKER`] can be [`UnitDrift::Differs`]; anything else is never nodeherd's to replace.
pub fn compare(host: &HostUnitFile, unit: &str, want: &str) -> UnitDrift {
    const SILENCE: &str = "add the marker or remove the [unit] section to silence";
    let path = unit_path(unit);
    let text = match host {
        HostUnitFile::Absent => {
            return UnitDrift::NotManaged {
                why: format!(
                    "unit file not managed by nodeherd ({path} does not exist; the unit is loaded from elsewhere); remove the [unit] section to silence"
                ),
            };
        }
        HostUnitFile::Unreadable => {
            return UnitDrift::NotManaged {
                why: format!("unit file {path} could not be read: not compared"),
            };
        }
        HostUnitFile::Text(t) => t,
    };
    let (h, w) = (normalised(text), normalised(want));
    if h.first().map(|l| l.trim()) != Some(MARKER) {
        return UnitDrift::NotManaged {
            why: format!("unit file not managed by nodeherd (no marker); {SILENCE}"),
        };
    }
    let Some(i) = (0..h.len().max(w.len())).find(|i| h.get(*i) != w.get(*i)) else {
        return UnitDrift::Same;
    };
    let n = i + 1;
    let summary = match (h.get(i), w.get(i)) {
        (Some(hl), _) if h[i + 1..] == w[i..] => {
            format!("host has an extra line {n}: \"{}\"", excerpt(hl, 0))
        }
        (_, Some(wl)) if h[i..] == w[i + 1..] => {
            format!(
                "line {n} missing on the host: playbook wants \"{}\"",
                excerpt(wl, 0)
            )
        }
        (Some(hl), Some(wl)) => {
            let at = hl
                .chars()
                .zip(wl.chars())
                .take_while(|(a, b)| a == b)
                .count();
            let what = match (key_of(hl), key_of(wl)) {
                (Some(a), Some(b)) if a == b => format!("{a} differs"),
                _ => format!("line {n} differs"),
            };
            format!(
                "{what}: host has \"{}\", playbook wants \"{}\"",
                excerpt(hl, at),
                excerpt(wl, at)
            )
        }
        (Some(hl), None) => format!("host has an extra line {n}: \"{}\"", excerpt(hl, 0)),
        (None, Some(wl)) => {
            format!(
                "line {n} missing on the host: playbook wants \"{}\"",
                excerpt(wl, 0)
            )
        }
        (None, None) => return UnitDrift::Same,
    };
    UnitDrift::Differs { summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> UnitDef {
        UnitDef {
            description: Some("Lodestar 100% beacon".into()),
            exec_start: Some(
                "/usr/local/bin/node {current}/node_modules/@chainsafe/lodestar/lib/index.js dev"
                    .into(),
            ),
            exec_stop: None,
            environment: Some(vec![
                "LODESTAR_PRESET=minimal".into(),
                "NODE_OPTIONS=--require={current}/polyfill.cjs \"x\"".into(),
            ]),
            success_exit_status: Some("1".into()),
            user: None,
            timeout_stop_sec: Some(30),
        }
    }

    #[test]
    fn renders_expanded_and_escaped() {
        let t = render("h/bn", "/opt/nodeherd/bn", &def());
        assert!(t.starts_with(MARKER), "{t}");
        assert!(t.contains("Description=Lodestar 100%% beacon\n"), "{t}");
        assert!(
            t.contains("ExecStart=/usr/local/bin/node /opt/nodeherd/bn/current/node_modules/@chainsafe/lodestar/lib/index.js dev\n"),
            "{t}"
        );
        // Environment entries are expanded too, and quoted.
        assert!(
            t.contains("Environment=\"NODE_OPTIONS=--require=/opt/nodeherd/bn/current/polyfill.cjs \\\"x\\\"\"\n"),
            "{t}"
        );
        assert!(
            t.contains("SuccessExitStatus=1\nTimeoutStopSec=30\n"),
            "{t}"
        );
        assert!(t.contains("WantedBy=multi-user.target"));
    }

    #[test]
    fn bad_pieces_are_reported() {
        let d = UnitDef {
            description: Some("two\nlines".into()),
            exec_start: Some("node {curent}/x.js".into()),
            exec_stop: Some("/bin/kill $MAINPID".into()),
            environment: Some(vec!["NO VALUE".into(), "1X=y".into(), "OK=fine".into()]),
            success_exit_status: Some("1; rm".into()),
            user: Some("root;".into()),
            timeout_stop_sec: None,
        };
        let p = check(&d);
        let keys: Vec<&str> = p.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            vec![
                "description",
                "exec_start",
                "exec_start",
                "environment",
                "environment",
                "success_exit_status",
                "user"
            ],
            "{p:?}"
        );
        assert!(p[2].1.contains("{curent}"), "{p:?}");
        assert!(check(&def()).is_empty());
        assert!(check_complete(&UnitDef::default()).is_some());
        assert!(check_complete(&def()).is_none());
    }

    #[test]
    fn unit_names() {
        assert!(valid_unit_name("lodestar-bn.service"));
        assert!(valid_unit_name("node@1.service"));
        assert!(!valid_unit_name("../x.service"));
        assert!(!valid_unit_name("a/b.service"));
        assert!(!valid_unit_name("x.timer"));
        assert!(!valid_unit_name(".service"));
    }

    #[test]
    fn merge_is_field_by_field() {
        let mut base = def();
        base.merge(&UnitDef {
            exec_stop: Some("/bin/true".into()),
            ..Default::default()
        });
        assert_eq!(base.exec_stop.as_deref(), Some("/bin/true"));
        assert_eq!(base.success_exit_status.as_deref(), Some("1"));
    }

    #[test]
    fn compare_names_the_first_differing_line() {
        let want = render("h/bn", "/opt/nodeherd/bn", &def());
        let same = HostUnitFile::Text(want.replace('\n', "  \n") + "\n\n");
        assert_eq!(compare(&same, "bn.service", &want), UnitDrift::Same);
        let flag = HostUnitFile::Text(want.replace("index.js dev", "index.js dev --port 9000"));
        let UnitDrift::Differs { summary } = compare(&flag, "bn.service", &want) else {
            panic!("not a difference")
        };
        assert!(
            summary.starts_with("ExecStart differs: host has \"...")
                && summary.contains("dev --port 9000\"")
                && summary.ends_with("lodestar/lib/index.js dev\""),
            "{summary}"
        );
        let extra =
            HostUnitFile::Text(want.replace("[Service]\n", "[Service]\nEnvironment=X=\x1b[31m1\n"));
        let UnitDrift::Differs { summary } = compare(&extra, "bn.service", &want) else {
            panic!("not a difference")
        };
        assert_eq!(summary, "host has an extra line 9: \"Environment=X=1\"");
        let gone = HostUnitFile::Text(want.replace("SuccessExitStatus=1\n", ""));
        let UnitDrift::Differs { summary } = compare(&gone, "bn.service", &want) else {
            panic!("not a difference")
        };
        assert_eq!(
            summary,
            "line 12 missing on the host: playbook wants \"SuccessExitStatus=1\""
        );
    }

    #[test]
    fn files_without_the_marker_are_never_ours() {
        let want = render("h/bn", "/opt/nodeherd/bn", &def());
        let theirs = HostUnitFile::Text(want.replacen(MARKER, "# written by hand", 1));
        match compare(&theirs, "bn.service", &want) {
            UnitDrift::NotManaged { why } => assert!(
                why.contains("not managed by nodeherd (no marker)") && why.contains("to silence"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            compare(&HostUnitFile::Absent, "bn.service", &want),
            UnitDrift::NotManaged { .. }
        ));
        assert!(matches!(
            compare(&HostUnitFile::Unreadable, "bn.service", &want),
            UnitDrift::NotManaged { .. }
        ));
    }
}
