//! OpenSSH known_hosts files: parsing, checking a server key, appending a new one.
//!
//! Owns: the known_hosts text format (plain names, comma lists, `[host]:port`, hashed
//! `|1|salt|hmac`, `*`/`?` wildcards, `!negation`, `@revoked`, `@cert-authority`) and
//! OpenSSH-style fingerprints. Parsing is pure; only [`check`] reads and [`append`] writes files.
//! May not touch: the network, sessions, or any policy decision (accept/refuse is the caller's).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use russh::keys::{HashAlg, PublicKey};

/// The result of looking a server key up in the known_hosts files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// This exact key is recorded for this host.
    Known { file: PathBuf, line: usize },
    /// No key of this type is recorded for this host.
    Unknown,
    /// Another key of the same type is recorded for this host: possibly an attack.
    Changed {
        file: PathBuf,
        line: usize,
        stored_fingerprint: String,
    },
    /// The key is marked `@revoked`.
    Revoked { file: PathBuf, line: usize },
}

/// A `@marker` at the start of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Revoked,
    CertAuthority,
}

/// The host part of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPatterns {
    /// `|1|salt|hash`: HMAC-SHA1 of the looked-up name keyed with the salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Comma-separated patterns, possibly negated with `!`.
    Patterns(Vec<String>),
}

/// One parsed key line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// 1-based line number in its file.
    pub line: usize,
    pub marker: Option<Marker>,
    pub hosts: HostPatterns,
    pub key: PublicKey,
}

/// A line that could not be understood (it is ignored, as OpenSSH does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// The name a host is recorded under: `host` for port 22, `[host]:port` otherwise.
pub fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// OpenSSH's fingerprint form: `SHA256:` and unpadded base64 of the key blob's SHA-256.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Parse known_hosts text. Blank lines and comments are skipped; bad lines are reported.
pub fn parse(text: &str) -> (Vec<Entry>, Vec<BadLine>) {
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_line(trimmed) {
            Ok((marker, hosts, key)) => entries.push(Entry {
                line,
                marker,
                hosts,
                key,
            }),
            Err(reason) => bad.push(BadLine {
                line,
                reason: reason.to_string(),
            }),
        }
    }
    (entries, bad)
}

/// Why one known_hosts line was skipped (shown as `BadLine::reason`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum LineError {
    #[error("empty line")]
    Empty,
    #[error("unknown marker {0}")]
    UnknownMarker(String),
    #[error("marker without host patterns")]
    NoHosts,
    #[error("missing key type")]
    NoKeyType,
    #[error("missing key data")]
    NoKeyData,
    #[error("bad {key_type} key: {reason}")]
    Key { key_type: String, reason: String },
    #[error("hashed host without hash")]
    NoHash,
    #[error("bad hashed salt: {0}")]
    Salt(String),
    #[error("bad hashed host: {0}")]
    Hash(String),
    #[error("hashed host is not a SHA-1 HMAC")]
    NotHmac,
    #[error("unsupported hashed host format")]
    HashFormat,
}

fn parse_line(line: &str) -> Result<(Option<Marker>, HostPatterns, PublicKey), LineError> {
    let mut fields = line.split_whitespace();
    let mut first = fields.next().ok_or(LineError::Empty)?;
    let marker = match first {
        "@revoked" => Some(Marker::Revoked),
        "@cert-authority" => Some(Marker::CertAuthority),
        m if m.starts_with('@') => return Err(LineError::UnknownMarker(m.to_string())),
        _ => None,
    };
    if marker.is_some() {
        first = fields.next().ok_or(LineError::NoHosts)?;
    }
    let hosts = parse_hosts(first)?;
    let key_type = fields.next().ok_or(LineError::NoKeyType)?;
    let blob = fields.next().ok_or(LineError::NoKeyData)?;
    let key =
        PublicKey::from_openssh(&format!("{key_type} {blob}")).map_err(|e| LineError::Key {
            key_type: key_type.to_string(),
            reason: e.to_string(),
        })?;
    Ok((marker, hosts, key))
}

fn parse_hosts(field: &str) -> Result<HostPatterns, LineError> {
    if let Some(rest) = field.strip_prefix("|1|") {
        let (salt, hash) = rest.split_once('|').ok_or(LineError::NoHash)?;
        let salt = STANDARD
            .decode(salt)
            .map_err(|e| LineError::Salt(e.to_string()))?;
        let hash = STANDARD
            .decode(hash)
            .map_err(|e| LineError::Hash(e.to_string()))?;
        if hash.len() != 20 {
            return Err(LineError::NotHmac);
        }
        return Ok(HostPatterns::Hashed { salt, hash });
    }
    if field.starts_with('|') {
        return Err(LineError::HashFormat);
    }
    Ok(HostPatterns::Patterns(
        field
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
    ))
}

/// Glob match with `*` and `?`, ASCII case-insensitive (as OpenSSH matches host names).
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p].eq_ignore_ascii_case(&name[n])) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

impl HostPatterns {
    /// Does this line apply to `name` (as produced by [`host_name`])?
    pub fn matches(&self, name: &str) -> bool {
        match self {
            HostPatterns::Hashed { salt, hash } => {
                let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            HostPatterns::Patterns(patterns) => {
                let mut positive = false;
                for p in patterns {
                    if let Some(neg) = p.strip_prefix('!') {
                        if glob(neg.as_bytes(), name.as_bytes()) {
                            return false;
                        }
                    } else if glob(p.as_bytes(), name.as_bytes()) {
                        positive = true;
                    }
                }
                positive
            }
        }
    }
}

/// Check `key` for `host`/`port` against already parsed files, in order.
/// A revoked key wins over everything, then a known key, then a changed one.
pub fn check_entries<'a>(
    files: impl IntoIterator<Item = (&'a Path, &'a [Entry])>,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Verdict {
    let name = host_name(host, port);
    verdict_of(
        files
            .into_iter()
            .map(|(file, entries)| (file, entries.iter().collect::<Vec<_>>())),
        &name,
        key,
    )
}

/// The verdict over the lines of each file that may apply to `name` (in file order; each is
/// matched again here, so a superset is fine).
fn verdict_of<'a>(
    files: impl IntoIterator<Item = (&'a Path, Vec<&'a Entry>)>,
    name: &str,
    key: &PublicKey,
) -> Verdict {
    let algorithm = key.key_data().algorithm();
    let mut known = None;
    let mut changed = None;
    for (file, entries) in files {
        for e in entries {
            if !e.hosts.matches(name) {
                continue;
            }
            match e.marker {
                Some(Marker::CertAuthority) => continue,
                Some(Marker::Revoked) => {
                    if e.key.key_data() == key.key_data() {
                        return Verdict::Revoked {
                            file: file.to_path_buf(),
                            line: e.line,
                        };
                    }
                }
                None => {
                    if e.key.key_data() == key.key_data() {
                        if known.is_none() {
                            known = Some(Verdict::Known {
                                file: file.to_path_buf(),
                                line: e.line,
                            });
                        }
                    } else if e.key.key_data().algorithm() == algorithm && changed.is_none() {
                        changed = Some(Verdict::Changed {
                            file: file.to_path_buf(),
                            line: e.line,
                            stored_fingerprint: fingerprint(&e.key),
                        });
                    }
                }
            }
        }
    }
    known.or(changed).unwrap_or(Verdict::Unknown)
}

/// A parsed file with an index of its plain host names, so that looking one host up does not
/// scan every line: a fleet's known_hosts has a line per host, and connecting to N hosts then
/// cost N x N pattern matches (3.9 % of the client's CPU for `status` of 1000 hosts). Lines with
/// only plain names (no `*`, `?` or `!`) are indexed under each name, ASCII-lowercased (as
/// [`glob`] compares); hashed and wildcard lines are always scanned.
#[derive(Debug, Default)]
pub struct Indexed {
    entries: Vec<Entry>,
    by_name: HashMap<String, Vec<usize>>,
    scan: Vec<usize>,
}

impl Indexed {
    pub fn new(entries: Vec<Entry>) -> Self {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut scan = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            match &e.hosts {
                HostPatterns::Patterns(ps)
                    if ps
                        .iter()
                        .all(|p| !p.starts_with('!') && !p.contains(['*', '?'])) =>
                {
                    for p in ps {
                        let list = by_name.entry(p.to_ascii_lowercase()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
                _ => scan.push(i),
            }
        }
        Indexed {
            entries,
            by_name,
            scan,
        }
    }

    /// The lines that may apply to `name`, in file order.
    pub fn candidates(&self, name: &str) -> Vec<&Entry> {
        let named = self
            .by_name
            .get(&name.to_ascii_lowercase())
            .map_or(&[][..], Vec::as_slice);
        let mut idx: Vec<usize> = named.iter().chain(&self.scan).copied().collect();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().map(|i| &self.entries[i]).collect()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// Check `key` for `host`/`port` against the known_hosts `files`; a missing file is empty.
/// Files are read on every call (so edits and [`append`]s count at once), but a file's text is
/// parsed only when it differs from the text parsed last time (see [`entries_of`]).
pub fn check(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> Verdict {
    let parsed: Vec<(&Path, Arc<Indexed>)> = files
        .iter()
        .map(|f| {
            let entries = match fs::read_to_string(f) {
                Ok(text) => entries_of(f, text),
                Err(e) => {
                    if e.kind() != io::ErrorKind::NotFound {
                        tracing::warn!(file = %f.display(), error = %e, "cannot read known_hosts file");
                    }
                    Arc::default()
                }
            };
            (f.as_path(), entries)
        })
        .collect();
    let name = host_name(host, port);
    verdict_of(
        parsed.iter().map(|(f, e)| (*f, e.candidates(&name))),
        &name,
        key,
    )
}

/// The parsed entries of `file` whose content is `text`. Parsing decodes every key (~1.3 µs a
/// line); without this, connecting to N hosts listed in one file parsed it N times: quadratic
/// (a 1000-line file cost 2.4 ms per connection). The last parse of each file is kept with its
/// text and reused while the text is the same.
fn entries_of(file: &Path, text: String) -> Arc<Indexed> {
    /// Per file: the text last parsed and its entries.
    type Parsed = HashMap<PathBuf, (String, Arc<Indexed>)>;
    static PARSED: LazyLock<Mutex<Parsed>> = LazyLock::new(Mutex::default);
    if let Ok(cache) = PARSED.lock() {
        if let Some((seen, entries)) = cache.get(file) {
            if *seen == text {
                return entries.clone();
            }
        }
    }
    let (entries, bad) = parse(&text);
    for b in bad {
        tracing::debug!(file = %file.display(), line = b.line, reason = %b.reason, "ignoring known_hosts line");
    }
    let entries = Arc::new(Indexed::new(entries));
    if let Ok(mut cache) = PARSED.lock() {
        cache.insert(file.to_path_buf(), (text, entries.clone()));
    }
    entries
}

/// The line [`append`] writes for `host`/`port`/`key` (without the newline).
pub fn entry_line(host: &str, port: u16, key: &PublicKey) -> String {
    let bare = PublicKey::new(key.key_data().clone(), "");
    let text = bare.to_openssh().unwrap_or_default();
    format!("{} {}", host_name(host, port), text.trim())
}

/// Append `key` for `host`/`port` to `file`, creating its directory (0700) and the file (0600).
pub fn append(file: &Path, host: &str, port: u16, key: &PublicKey) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let needs_newline = match fs::read(file) {
        Ok(existing) => !existing.is_empty() && !existing.ends_with(b"\n"),
        Err(_) => false,
    };
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    let mut line = String::new();
    if needs_newline {
        line.push('\n');
    }
    line.push_str(&entry_line(host, port, key));
    line.push('\n');
    f.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn keygen(dir: &Path, name: &str, kind: &str) -> (PublicKey, String, String) {
        let path = dir.join(name);
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-C", "test-comment", "-f"])
            .arg(&path)
            .status()
            .unwrap_or_else(|e| panic!("ssh-keygen: {e}"));
        assert!(status.success());
        let pub_text = fs::read_to_string(path.with_extension("pub")).unwrap_or_default();
        let key = PublicKey::from_openssh(pub_text.trim())
            .unwrap_or_else(|e| panic!("parse {pub_text}: {e}"));
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(path.with_extension("pub"))
            .output()
            .unwrap_or_else(|e| panic!("ssh-keygen -l: {e}"));
        let fp = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let mut parts = pub_text.split_whitespace();
        let line_key = format!(
            "{} {}",
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        );
        (key, fp, line_key)
    }

    fn keys() -> (tempfile::TempDir, Vec<(PublicKey, String, String)>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let k = vec![
            keygen(dir.path(), "a", "ed25519"),
            keygen(dir.path(), "b", "ed25519"),
            keygen(dir.path(), "c", "ecdsa"),
            keygen(dir.path(), "d", "rsa"),
        ];
        (dir, k)
    }

    fn verdict(text: &str, host: &str, port: u16, key: &PublicKey) -> Verdict {
        let (entries, _) = parse(text);
        check_entries([(Path::new("kh"), entries.as_slice())], host, port, key)
    }

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        let (_d, k) = keys();
        for (key, fp, _) in &k {
            assert!(fp.starts_with("SHA256:"), "{fp}");
            assert_eq!(&fingerprint(key), fp);
        }
    }

    #[test]
    fn plain_comma_list_and_ports() {
        let (_d, k) = keys();
        let (a, _, la) = &k[0];
        let text = format!(
            "# comment\n\nother.example {la}\nfoo,node1.example,10.0.0.1 {la} a comment\n[node2]:2222 {la}\n"
        );
        assert_eq!(
            verdict(&text, "node1.example", 22, a),
            Verdict::Known {
                file: "kh".into(),
                line: 4
            }
        );
        assert_eq!(
            verdict(&text, "10.0.0.1", 22, a),
            Verdict::Known {
                file: "kh".into(),
                line: 4
            }
        );
        assert_eq!(
            verdict(&text, "NODE1.example", 22, a),
            Verdict::Known {
                file: "kh".into(),
                line: 4
            }
        );
        assert_eq!(
            verdict(&text, "node2", 2222, a),
            Verdict::Known {
                file: "kh".into(),
                line: 5
            }
        );
        // port 22 entry does not cover another port and vice versa
        assert_eq!(verdict(&text, "node1.example", 2222, a), Verdict::Unknown);
        assert_eq!(verdict(&text, "node2", 22, a), Verdict::Unknown);
        assert_eq!(verdict(&text, "nowhere", 22, a), Verdict::Unknown);
    }

    #[test]
    fn changed_key_names_line_and_stored_fingerprint() {
        let (_d, k) = keys();
        let (a, fpa, la) = &k[0];
        let (b, _, _) = &k[1];
        let (c, _, _) = &k[2];
        let text = format!("x {la}\nnode {la}\n");
        assert_eq!(
            verdict(&text, "node", 22, b),
            Verdict::Changed {
                file: "kh".into(),
                line: 2,
                stored_fingerprint: fpa.clone()
            }
        );
        // a key of another type is new, not changed (as OpenSSH decides)
        assert_eq!(verdict(&text, "node", 22, c), Verdict::Unknown);
        // known wins over changed when both lines exist
        let (_, _, lb) = &k[1];
        let text2 = format!("node {la}\nnode {lb}\n");
        assert_eq!(
            verdict(&text2, "node", 22, b),
            Verdict::Known {
                file: "kh".into(),
                line: 2
            }
        );
        assert_eq!(
            verdict(&text2, "node", 22, a),
            Verdict::Known {
                file: "kh".into(),
                line: 1
            }
        );
    }

    #[test]
    fn wildcards_and_negation() {
        let (_d, k) = keys();
        let (a, _, la) = &k[0];
        let text = format!("*.lab,!bad.lab {la}\nn?de {la}\n[10.213.*]:2222 {la}\n");
        assert!(matches!(
            verdict(&text, "good.lab", 22, a),
            Verdict::Known { line: 1, .. }
        ));
        assert_eq!(verdict(&text, "bad.lab", 22, a), Verdict::Unknown);
        assert!(matches!(
            verdict(&text, "node", 22, a),
            Verdict::Known { line: 2, .. }
        ));
        assert_eq!(verdict(&text, "noode", 22, a), Verdict::Unknown);
        assert!(matches!(
            verdict(&text, "10.213.0.7", 2222, a),
            Verdict::Known { line: 3, .. }
        ));
        assert!(glob(b"a*b*c", b"aXXbYYc"));
        assert!(!glob(b"a*b*c", b"aXXbYY"));
        assert!(glob(b"*", b""));
    }

    #[test]
    fn an_edited_file_is_parsed_again() {
        // keys of one type have lines of one length: an edit that keeps the size must still count
        let (d, k) = keys();
        let (a, _, la) = &k[0];
        let (b, fpb, lb) = &k[1];
        let file = d.path().join("known_hosts");
        let files = vec![file.clone()];
        fs::write(&file, format!("node {la}\n")).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            check(&files, "node", 22, a),
            Verdict::Known { line: 1, .. }
        ));
        assert!(matches!(
            check(&files, "node", 22, a),
            Verdict::Known { line: 1, .. }
        ));
        fs::write(&file, format!("node {lb}\n")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            check(&files, "node", 22, a),
            Verdict::Changed {
                file: file.clone(),
                line: 1,
                stored_fingerprint: fpb.clone()
            }
        );
        assert!(matches!(
            check(&files, "node", 22, b),
            Verdict::Known { line: 1, .. }
        ));
    }

    #[test]
    fn hashed_hosts_from_ssh_keygen() {
        let (d, k) = keys();
        let (a, _, la) = &k[0];
        let (b, fpb, lb) = &k[1];
        let file = d.path().join("known_hosts");
        fs::write(&file, format!("node1 {la}\n[node2]:2200 {lb}\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        let st = Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(st.status.success());
        let text = fs::read_to_string(&file).unwrap_or_default();
        assert!(text.starts_with("|1|"), "{text}");
        let files = vec![file.clone()];
        assert_eq!(
            check(&files, "node1", 22, a),
            Verdict::Known {
                file: file.clone(),
                line: 1
            }
        );
        assert_eq!(
            check(&files, "node2", 2200, b),
            Verdict::Known {
                file: file.clone(),
                line: 2
            }
        );
        assert_eq!(check(&files, "node2", 22, b), Verdict::Unknown);
        assert_eq!(
            check(&files, "node2", 2200, a),
            Verdict::Changed {
                file: file.clone(),
                line: 2,
                stored_fingerprint: fpb.clone()
            }
        );
    }

    #[test]
    fn revoked_is_refused_and_cert_authority_skipped() {
        let (_d, k) = keys();
        let (a, _, la) = &k[0];
        let (b, _, lb) = &k[1];
        let text = format!("node {la}\n@revoked * {la}\n@cert-authority *.lab {lb}\n");
        assert_eq!(
            verdict(&text, "node", 22, a),
            Verdict::Revoked {
                file: "kh".into(),
                line: 2
            }
        );
        assert_eq!(verdict(&text, "x.lab", 22, b), Verdict::Unknown);
    }

    #[test]
    fn bad_lines_are_reported_not_fatal() {
        let (_d, k) = keys();
        let (a, _, la) = &k[0];
        let text = format!("node ssh-ed25519 !!!notbase64\n@weird node {la}\nnode\nnode {la}\n");
        let (entries, bad) = parse(&text);
        assert_eq!(entries.len(), 1);
        assert_eq!(
            bad.iter().map(|b| b.line).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(matches!(
            verdict(&text, "node", 22, a),
            Verdict::Known { line: 4, .. }
        ));
    }

    #[test]
    fn all_key_types_parse() {
        let (_d, k) = keys();
        for (key, _, line) in &k {
            let (entries, bad) = parse(&format!("h {line}\n"));
            assert!(bad.is_empty(), "{bad:?}");
            assert_eq!(entries[0].key.key_data(), key.key_data());
        }
    }

    #[test]
    fn missing_file_is_empty_and_append_creates_it() {
        let (d, k) = keys();
        let (a, _, _) = &k[0];
        let (c, _, _) = &k[2];
        let file = d.path().join("sub/dir/known_hosts");
        let files = vec![d.path().join("missing"), file.clone()];
        assert_eq!(check(&files, "node", 2222, a), Verdict::Unknown);
        append(&file, "node", 2222, a).unwrap_or_else(|e| panic!("append: {e}"));
        append(&file, "node", 22, c).unwrap_or_else(|e| panic!("append: {e}"));
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&file).map_or(0, |m| m.permissions().mode() & 0o777);
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&file).unwrap_or_default();
        assert!(text.starts_with("[node]:2222 ssh-ed25519 "), "{text}");
        assert!(
            text.lines()
                .nth(1)
                .unwrap_or_default()
                .starts_with("node ecdsa-sha2-nistp256 "),
            "{text}"
        );
        assert!(!text.contains("test-comment"));
        assert_eq!(
            check(&files, "node", 2222, a),
            Verdict::Known {
                file: file.clone(),
                line: 1
            }
        );
        assert_eq!(
            check(&files, "node", 22, c),
            Verdict::Known {
                file: file.clone(),
                line: 2
            }
        );
        // OpenSSH itself agrees with what we wrote
        let out = Command::new("ssh-keygen")
            .arg("-F")
            .arg("[node]:2222")
            .arg("-f")
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{out:?}");
    }

    #[test]
    fn append_adds_missing_newline() {
        let (d, k) = keys();
        let (a, _, la) = &k[0];
        let (b, _, _) = &k[1];
        let file = d.path().join("kh");
        fs::write(&file, format!("other {la}")).unwrap_or_else(|e| panic!("{e}"));
        append(&file, "node", 22, b).unwrap_or_else(|e| panic!("{e}"));
        let files = vec![file.clone()];
        assert_eq!(
            check(&files, "other", 22, a),
            Verdict::Known {
                file: file.clone(),
                line: 1
            }
        );
        assert_eq!(
            check(&files, "node", 22, b),
            Verdict::Known {
                file: file.clone(),
                line: 2
            }
        );
    }
    /// The index is an optimisation only: for every name, port and key it gives the verdict of
    /// the plain scan, over a file mixing plain, upper-case, listed, wildcard, negated, hashed,
    /// revoked and cert-authority lines.
    #[test]
    fn the_index_gives_the_scans_verdict() {
        let (_d, k) = keys();
        let (a, b, c) = (&k[0].2, &k[1].2, &k[2].2);
        let salt = [7u8; 20];
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap_or_else(|e| panic!("{e}"));
        mac.update(b"hashed-host");
        let hash = STANDARD.encode(mac.finalize().into_bytes());
        let hashed = format!("|1|{}|{hash}", STANDARD.encode(salt));
        let text = format!(
            "bn-1 {a}\nBN-2,bn-3 {b}\n*.lab {b}\n!bad.lab,*.lab {c}\n@revoked bn-4 {a}\nbn-4 {a}\n\
             [bn-5]:2222 {b}\nbn-1 {b}\n{hashed} {a}\n@cert-authority *.lab {a}\nbn-?0 {c}\n"
        );
        let (entries, bad) = parse(&text);
        assert!(bad.is_empty(), "{bad:?}");
        let idx = Indexed::new(entries.clone());
        assert_eq!(idx.entries().len(), entries.len());
        // bn-1: its two plain lines plus the five lines that are always scanned
        assert_eq!(
            idx.candidates("bn-1").len(),
            7,
            "{:?}",
            idx.candidates("bn-1")
        );
        let names = [
            "bn-1",
            "BN-1",
            "bn-2",
            "bn-3",
            "x.lab",
            "bad.lab",
            "bn-4",
            "bn-5",
            "hashed-host",
            "bn-10",
            "none",
        ];
        let mut checked = 0;
        for host in names {
            for port in [22, 2222] {
                for (key, _, _) in &k {
                    let scan =
                        check_entries([(Path::new("kh"), entries.as_slice())], host, port, key);
                    let name = host_name(host, port);
                    let indexed =
                        verdict_of([(Path::new("kh"), idx.candidates(&name))], &name, key);
                    assert_eq!(scan, indexed, "{host}:{port}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, names.len() * 2 * k.len());
        // the verdicts are not all the same: the comparison can fail
        let v = |h: &str, key: &PublicKey| verdict(&text, h, 22, key);
        assert!(matches!(v("bn-1", &k[0].0), Verdict::Known { line: 1, .. }));
        assert!(matches!(
            v("bn-4", &k[0].0),
            Verdict::Revoked { line: 5, .. }
        ));
        assert!(matches!(
            v("bn-2", &k[0].0),
            Verdict::Changed { line: 2, .. }
        ));
        assert!(matches!(
            v("hashed-host", &k[0].0),
            Verdict::Known { line: 9, .. }
        ));
    }
}
