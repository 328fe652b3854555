//! `status`: what every selected node is doing, read in one round trip per host.

use crate::fleet;
use crate::inventory::{Inventory, NodeRef};
use crate::ssh::{Command, Pool, SshError};
use crate::systemd::{self, UnitState};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

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
        self.error.is_none() && self.unit_state.as_ref().is_some_and(|u| u.is_active())
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
        s.push_str(&crate::ssh::quote(&link));
        s.push_str(" || echo");
    }
    for f in unit_files {
        let q = crate::ssh::quote(f);
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
    let clean = systemd::sanitize(name);
    (!clean.is_empty()).then_some(clean)
}

/// Read the status of `nodes`, at most `forks` hosts at once. Never fails as a whole: a host that
/// cannot be reached gives its nodes an `error`.
pub async fn gather(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    forks: usize,
) -> Vec<NodeStatus> {
    gather_with_unit_files(pool, inv, nodes, forks, &BTreeSet::new()).await
}

/// [`gather`], also reading the unit file nodeherd writes (`/etc/systemd/system/<unit>`) of the
/// nodes in `unit_files`, in the same one exec per host.
pub async fn gather_with_unit_files(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    forks: usize,
    unit_files: &BTreeSet<NodeRef>,
) -> Vec<NodeStatus> {
    let groups = super::by_host(nodes);
    let per_host = fleet::run_all(groups, forks, |(h, refs)| async move {
        gather_host(pool, inv, h, &refs, unit_files).await
    })
    .await;
    per_host.into_iter().flat_map(|(_, v)| v).collect()
}

async fn gather_host(
    pool: &Pool,
    inv: &Inventory,
    h: usize,
    refs: &[NodeRef],
    unit_files: &BTreeSet<NodeRef>,
) -> Vec<NodeStatus> {
    let host = &inv.hosts[h];
    let now = Utc::now();
    let blank = |r: &NodeRef, err: Option<String>| {
        let node = &host.nodes[r.node];
        NodeStatus {
            host: host.name.clone(),
            node: node.name.clone(),
            client: node.client.to_string(),
            unit: node.unit.clone(),
            unit_state: None,
            version: None,
            error: err,
            unit_file: None,
            last_log: None,
            checked_at: now,
        }
    };
    let result: Result<Vec<NodeStatus>, SshError> = async {
        let session = pool.session(&host.target).await?;
        let units: Vec<&str> = refs
            .iter()
            .map(|r| host.nodes[r.node].unit.as_str())
            .collect();
        let dirs: Vec<String> = refs
            .iter()
            .map(|r| host.nodes[r.node].install_dir.display().to_string())
            .collect();
        let with_file: Vec<usize> = (0..refs.len())
            .filter(|i| unit_files.contains(&refs[*i]))
            .collect();
        let paths: Vec<String> = with_file
            .iter()
            .map(|i| format!("/etc/systemd/system/{}", host.nodes[refs[*i].node].unit))
            .collect();
        let script = status_script_with_files(&units, &dirs, &paths);
        let out = session
            .exec(&Command::new("sh").arg("-c").arg(&script))
            .await?
            .check(&host.name)?;
        let text = out.stdout_str();
        let (states, versions) = parse_status_output(&text, refs.len());
        let mut files = parse_unit_files(&text, with_file.len()).into_iter();
        let mut file_of: Vec<Option<HostUnitFile>> = vec![None; refs.len()];
        for i in &with_file {
            file_of[*i] = files.next().flatten();
        }
        let mut rows = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            let mut row = blank(r, None);
            let state = states.get(i).cloned();
            row.error = state
                .as_ref()
                .and_then(|s| s.problem())
                .map(|p| systemd::sanitize(&p));
            row.version = versions.get(i).cloned().flatten();
            row.unit_file = file_of[i].take();
            row.unit_state = state;
            rows.push(row);
        }
        // Only for units that are down: their last complaint, to say why.
        for row in rows.iter_mut() {
            let down = row
                .unit_state
                .as_ref()
                .is_some_and(|u| u.exists() && !u.is_active());
            if down {
                let cmd = Command::new("journalctl")
                    .arg("--unit")
                    .arg(&row.unit)
                    .arg("--lines=1")
                    .arg("--priority=warning")
                    .arg("--output=cat")
                    .arg("--no-pager")
                    .arg("--quiet")
                    .become_root(host.target.become_root);
                if let Ok(o) = session.exec(&cmd).await {
                    let line = systemd::sanitize(o.stdout_str().trim());
                    if !line.is_empty() {
                        row.last_log = Some(line);
                    }
                }
            }
        }
        Ok(rows)
    }
    .await;
    match result {
        Ok(rows) => rows,
        Err(e) => {
            let msg = systemd::sanitize(&e.to_string());
            refs.iter().map(|r| blank(r, Some(msg.clone()))).collect()
        }
    }
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
            s.ends_with(r#"; echo @@nodeherd:unitfile; if [ -e '/etc/systemd/system/it'\''s.service' ]; then sed -e 's/^/|/' -- '/etc/systemd/system/it'\''s.service' || echo @@nodeherd:unreadable; echo; else echo @@nodeherd:absent; fi"#),
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
        let text = include_str!("../../tests/fixtures/systemd/status-unitfile-nhtest-3.txt");
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
