//! The `status` fact: one batched script per host (every unit's state, where each `current` link
//! points, and the unit files asked for) and the pure parsers of its sections; [`NodeStatus`], what
//! `status` knows about one node.
//!
//! Owns: the status script and the parsers of its sections. May not touch: running the script
//! (the engine does), SSH, the terminal.

use crate::facts::systemd::{self, UnitState};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Marker between the sections of the batched status script.
const CURRENT_MARKER: &str = "@@nodeherd:current";
/// Starts the section of one unit file (only for nodes whose unit file is asked for).
const UNITFILE_MARKER: &str = "@@nodeherd:unitfile";
const UNITFILE_ABSENT: &str = "@@nodeherd:absent";
const UNITFILE_UNREADABLE: &str = "@@nodeherd:unreadable";

/// What a host's unit file holds (a fact of `plan`: the file nodeherd writes for a node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostUnitFile {
    /// No file at that path (the unit, if it exists, is loaded from elsewhere).
    Absent,
    /// The file exists but could not be read.
    Unreadable,
    /// The file's text.
    Text(String),
}

/// Everything `status` knows about one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub host: String,
    pub node: String,
    pub client: String,
    pub unit: String,
    /// None when the host could not be asked.
    pub unit_state: Option<UnitState>,
    /// The version the node's `current` link points at, when the node is managed by nodeherd.
    pub version: Option<String>,
    /// Why this node could not be read, or what is wrong with it (sanitized).
    pub error: Option<String>,
    /// The node's unit file, when it was asked for (`plan`/`apply` of nodes with a `[unit]`).
    #[serde(skip)]
    pub unit_file: Option<HostUnitFile>,
    /// The last warning-or-worse journal line when the unit is not active (sanitized).
    pub last_log: Option<String>,
    pub checked_at: DateTime<Utc>,
}

impl NodeStatus {
    /// A one-word state for tables: active/running, failed, unreachable ...
    pub fn state_word(&self) -> String {
        match &self.unit_state {
            None => "unreachable".into(),
            Some(u) if !u.exists() => "not-found".into(),
            Some(u) => format!("{}/{}", u.active_state, u.sub_state),
        }
    }
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
            && self
                .unit_state
                .as_ref()
                .is_some_and(super::systemd::UnitState::is_active)
    }
}

/// The one command run per host: unit states for all its nodes, then where each `current` points.
pub fn status_script(units: &[&str], install_dirs: &[String]) -> String {
    status_script_with_files(units, install_dirs, &[])
}

/// [`status_script`], then the text of each file in `unit_files`, in order, in one section each
/// (every line of a file prefixed with `|`, so no content can be taken for a marker).
pub fn status_script_with_files(
    units: &[&str],
    install_dirs: &[String],
    unit_files: &[String],
) -> String {
    let mut s = systemd::show_command(units).to_shell_string();
    s.push_str("; echo ");
    s.push_str(CURRENT_MARKER);
    for d in install_dirs {
        let link = format!("{}/current", d.trim_end_matches('/'));
        s.push_str("; readlink -- ");
        s.push_str(&crate::remote::quote(&link));
        s.push_str(" || echo");
    }
    for f in unit_files {
        let q = crate::remote::quote(f);
        s.push_str(&format!(
            "; echo {UNITFILE_MARKER}; if [ -e {q} ]; then sed -e 's/^/|/' -- {q} || echo {UNITFILE_UNREADABLE}; echo; else echo {UNITFILE_ABSENT}; fi"
        ));
    }
    s
}

/// Parse the unit file sections of [`status_script_with_files`] (pure): one per file asked
/// for, in order; None for a section that is missing (output cut short).
pub fn parse_unit_files(text: &str, n: usize) -> Vec<Option<HostUnitFile>> {
    let mut out: Vec<Option<HostUnitFile>> = Vec::new();
    let mut cur: Option<(Vec<&str>, Option<HostUnitFile>)> = None;
    let finish = |c: Option<(Vec<&str>, Option<HostUnitFile>)>| {
        c.map(|(lines, fixed)| {
            fixed.unwrap_or_else(|| {
                let mut t = lines.join("\n");
                t.push('\n');
                HostUnitFile::Text(t)
            })
        })
    };
    for line in text.lines() {
        if line == UNITFILE_MARKER {
            if cur.is_some() {
                out.push(finish(cur.take()));
            }
            cur = Some((Vec::new(), None));
            continue;
        }
        let Some((lines, fixed)) = cur.as_mut() else {
            continue;
        };
        if let Some(l) = line.strip_prefix('|') {
            lines.push(l);
        } else if line == UNITFILE_ABSENT {
            *fixed = Some(HostUnitFile::Absent);
        } else if line == UNITFILE_UNREADABLE {
            *fixed = Some(HostUnitFile::Unreadable);
        }
    }
    if cur.is_some() {
        out.push(finish(cur));
    }
    out.resize(n, None);
    out
}

/// Parse the output of [`status_script`]: units in order, then one line per install dir.
pub fn parse_status_output(text: &str, n: usize) -> (Vec<UnitState>, Vec<Option<String>>) {
    let (show, rest) = match text.split_once(CURRENT_MARKER) {
        Some((a, b)) => (a, b),
        None => (text, ""),
    };
    let units = systemd::parse_show(show);
    let rest = rest.strip_prefix('\n').unwrap_or(rest);
    let mut versions: Vec<Option<String>> = rest.lines().take(n).map(version_from_link).collect();
    versions.resize(n, None);
    (units, versions)
}

/// `releases/1.5.1` or `/opt/nodeherd/x/releases/1.5.1/` -> `1.5.1`.
pub fn version_from_link(target: &str) -> Option<String> {
    let t = target.trim().trim_end_matches('/');
    if t.is_empty() {
        return None;
    }
    let name = t.rsplit('/').next()?;
    let clean = crate::text::sanitize(name);
    (!clean.is_empty()).then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_quotes_everything() {
        let s = status_script(
            &["a.service", "b c.service"],
            &["/opt/x".into(), "/opt/it's".into()],
        );
        assert!(s.contains("-- a.service 'b c.service'"), "{s}");
        assert!(
            s.contains("readlink -- '/opt/it'\\''s/current' || echo"),
            "{s}"
        );
    }

    #[test]
    fn parse_output_with_missing_links() {
        let text = "Id=a.service\nActiveState=active\nLoadState=loaded\n\nId=b.service\nActiveState=failed\nLoadState=loaded\n\n@@nodeherd:current\n\nreleases/1.5.1\n";
        let (u, v) = parse_status_output(text, 3);
        assert_eq!(u.len(), 2);
        assert_eq!(v, vec![None, Some("1.5.1".to_string()), None]);
    }

    #[test]
    fn version_from_link_shapes() {
        assert_eq!(
            version_from_link("/opt/nodeherd/n/releases/v1.2.3/").as_deref(),
            Some("v1.2.3")
        );
        assert_eq!(version_from_link(""), None);
    }

    #[test]
    fn unit_file_sections_are_framed_and_typed() {
        let s = status_script_with_files(
            &["a.service"],
            &["/opt/a".into()],
            &["/etc/systemd/system/it's.service".into()],
        );
        assert!(
            s.ends_with(r"; echo @@nodeherd:unitfile; if [ -e '/etc/systemd/system/it'\''s.service' ]; then sed -e 's/^/|/' -- '/etc/systemd/system/it'\''s.service' || echo @@nodeherd:unreadable; echo; else echo @@nodeherd:absent; fi"),
            "{s}"
        );
        // A file whose content mimics the framing, one without a final newline, an absent one,
        // an unreadable one; the fourth section is cut off.
        let text = "Id=a.service\n\n@@nodeherd:current\nreleases/1\n@@nodeherd:unitfile\n|# x\n|@@nodeherd:unitfile\n|\n|[Service]\n\n@@nodeherd:unitfile\n|A=1\n@@nodeherd:unitfile\n@@nodeherd:absent\n@@nodeherd:unitfile\nsed: can't read\n@@nodeherd:unreadable\n\n";
        let f = parse_unit_files(text, 5);
        assert_eq!(
            f,
            vec![
                Some(HostUnitFile::Text(
                    "# x\n@@nodeherd:unitfile\n\n[Service]\n".into()
                )),
                Some(HostUnitFile::Text("A=1\n".into())),
                Some(HostUnitFile::Absent),
                Some(HostUnitFile::Unreadable),
                None,
            ]
        );
        let (_, v) = parse_status_output(text, 1);
        assert_eq!(v, vec![Some("1".to_string())]);
    }

    #[test]
    fn unit_files_from_a_lab_host() {
        // Captured on lab host nhtest-3 (tests/lab.rs, unit_file_drift_...): the demo unit as
        // nodeherd renders it, then a path that does not exist.
        let text = include_str!("../../../../tests/fixtures/systemd/status-unitfile-nhtest-3.txt");
        let (units, versions) = parse_status_output(text, 1);
        assert_eq!(units[0].id, "nodeherd-demo.service");
        assert_eq!(versions, vec![None]);
        let f = parse_unit_files(text, 2);
        let Some(HostUnitFile::Text(t)) = &f[0] else {
            panic!("{f:?}")
        };
        assert!(
            t.starts_with("# Managed by nodeherd (written by `nodeherd apply` from a playbook)\n# node: nhtest-3/demo\n[Unit]\n")
                && t.contains("\n\n[Service]\nEnvironment=\"DEMO_MODE=steady\"\nExecStart=/usr/local/bin/nodeherd-demo\n")
                && t.ends_with("[Install]\nWantedBy=multi-user.target\n"),
            "{t}"
        );
        assert_eq!(f[1], Some(HostUnitFile::Absent));
    }
}
