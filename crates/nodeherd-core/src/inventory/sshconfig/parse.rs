//! Reads OpenSSH client configuration text into lines with their conditions, expanding `Include`.
//!
//! Owns: the line syntax (`Keyword value`, `Keyword=value`, quotes, comments), `Host` and `Match`
//! blocks as conditions, `Include` (globs in the file name, relative to the including file's
//! base directory; a loop is a problem, at most 256 files in all) through the injected [`Files`],
//! and the per-value checks of the keywords nodeherd uses. May not touch: the file system itself
//! (only through [`Files`]) or what a value means for a host (that is `eval`).

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::pattern;

/// Access to files, injected so that parsing stays pure.
pub trait Files {
    /// The text of a file.
    fn read(&self, path: &Path) -> std::io::Result<String>;
    /// The entries of a directory (full paths).
    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>>;
}

/// One file that was read.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub text: String,
}

/// When the lines of a block apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Before any `Host`/`Match` line, and `Host *`-like blocks are `Host` too.
    Always,
    /// `Host p1 p2 !p3`: matched against the name given (the alias).
    Host(Vec<String>),
    /// `Match host a,b` / `Match originalhost a` / `Match all`, criteria all required.
    Match(Vec<Criterion>),
    /// A `Match` with a criterion nodeherd does not evaluate: the block is skipped.
    Unsupported {
        reason: String,
        file: usize,
        line: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    All,
    Host { negate: bool, list: String },
    OriginalHost { negate: bool, list: String },
}

/// One `Keyword value...` line.
#[derive(Debug, Clone)]
pub struct Line {
    pub file: usize,
    /// 1-based line number.
    pub line: usize,
    /// Byte range of the line in its file.
    pub span: Range<usize>,
    /// Keyword, lowercased.
    pub key: String,
    pub args: Vec<String>,
    /// Index into [`Parsed::conds`].
    pub cond: usize,
}

/// A mistake in a file, with its place.
#[derive(Debug, Clone)]
pub struct SshProblem {
    pub file: usize,
    pub line: usize,
    pub span: Range<usize>,
    pub message: String,
    pub help: String,
}

#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub files: Vec<ConfigFile>,
    pub conds: Vec<Cond>,
    pub lines: Vec<Line>,
    pub problems: Vec<SshProblem>,
}

const MAX_DEPTH: usize = 16;
/// Files read in all (roots and includes): includes that fan out (`Include a a`, or every file of
/// a folder including the folder) would otherwise grow exponentially with the depth.
const MAX_FILES: usize = 256;

/// Reads `roots` in order (e.g. `~/.ssh/config` then `/etc/ssh/ssh_config`); each root's relative
/// `Include`s are taken from `base` of that root (`~/.ssh` and `/etc/ssh`). A root that does not
/// exist is skipped, as OpenSSH does.
pub fn read(roots: &[(PathBuf, PathBuf)], home: &Path, files: &dyn Files) -> Parsed {
    let mut p = Parsed::default();
    for (path, base) in roots {
        p.conds.push(Cond::Always);
        let cond = p.conds.len() - 1;
        match files.read(path) {
            Ok(text) => file(&mut p, (files, home), path, text, base, cond, &[]),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => p.problems.push(SshProblem {
                file: usize::MAX,
                line: 0,
                span: 0..0,
                message: format!("cannot read ssh config {}: {e}", path.display()),
                help: "make it readable, or set NODEHERD_SSH_CONFIG=none to ignore ssh config"
                    .into(),
            }),
        }
    }
    p
}

fn file(
    p: &mut Parsed,
    (files, home): (&dyn Files, &Path),
    path: &Path,
    text: String,
    base: &Path,
    cond: usize,
    including: &[&Path],
) {
    let fi = p.files.len();
    p.files.push(ConfigFile {
        path: path.to_path_buf(),
        text: text.clone(),
    });
    let mut cond = cond;
    let mut start = 0;
    for (n, raw) in text.split_inclusive('\n').enumerate() {
        let span = start..start + raw.trim_end().len();
        start += raw.len();
        let Some((key, args)) = split_line(raw) else {
            continue;
        };
        let at = |message: String, help: &str| SshProblem {
            file: fi,
            line: n + 1,
            span: span.clone(),
            message,
            help: help.to_string(),
        };
        match key.as_str() {
            "host" => {
                p.conds.push(Cond::Host(args));
                cond = p.conds.len() - 1;
            }
            "match" => {
                p.conds.push(match match_cond(&args) {
                    Ok(c) => Cond::Match(c),
                    Err(reason) => Cond::Unsupported {
                        reason,
                        file: fi,
                        line: n + 1,
                    },
                });
                cond = p.conds.len() - 1;
            }
            "include" => {
                if including.len() >= MAX_DEPTH {
                    p.problems.push(at(
                        "Include nested too deeply".into(),
                        "an included file includes itself?",
                    ));
                    continue;
                }
                let chain: Vec<&Path> = including.iter().copied().chain([path]).collect();
                for a in &args {
                    for inc in include_paths(a, base, home, files) {
                        if chain.contains(&inc.as_path()) {
                            p.problems.push(at(
                                format!("Include loop: {} includes itself", inc.display()),
                                "remove this Include, or narrow its pattern so it does not match the file",
                            ));
                            continue;
                        }
                        if p.files.len() >= MAX_FILES {
                            p.problems.push(at(
                                format!(
                                    "more than {MAX_FILES} files included; {} is not read",
                                    inc.display()
                                ),
                                "do included files include each other?",
                            ));
                            continue;
                        }
                        match files.read(&inc) {
                            Ok(t) => file(p, (files, home), &inc, t, base, cond, &chain),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => p.problems.push(at(
                                format!("cannot read included file {}: {e}", inc.display()),
                                "fix the Include line or the file's permissions",
                            )),
                        }
                    }
                }
            }
            _ => {
                if let Err((m, h)) = check_value(&key, &args) {
                    p.problems.push(at(m, h));
                    continue;
                }
                p.lines.push(Line {
                    file: fi,
                    line: n + 1,
                    span,
                    key,
                    args,
                    cond,
                });
            }
        }
    }
}

/// `Keyword args` or `Keyword=args`; `None` for blank lines and comments.
fn split_line(raw: &str) -> Option<(String, Vec<String>)> {
    let s = raw.trim();
    if s.is_empty() || s.starts_with('#') {
        return None;
    }
    let end = s
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(s.len());
    let key = s[..end].to_ascii_lowercase();
    let mut rest = s[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    Some((key, words(rest)))
}

/// Splits on whitespace, honouring double quotes; stops at an unquoted `#` word.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            '#' if !quoted && !any => break,
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

fn match_cond(args: &[String]) -> Result<Vec<Criterion>, String> {
    let mut crits = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_ascii_lowercase();
        let (negate, word) = match a.strip_prefix('!') {
            Some(w) => (true, w.to_string()),
            None => (false, a.clone()),
        };
        match word.as_str() {
            "all" => {
                crits.push(Criterion::All);
                i += 1;
            }
            "host" | "originalhost" => {
                let Some(list) = args.get(i + 1).cloned() else {
                    return Err(format!("Match {word} without a pattern list"));
                };
                crits.push(if word == "host" {
                    Criterion::Host { negate, list }
                } else {
                    Criterion::OriginalHost { negate, list }
                });
                i += 2;
            }
            other => return Err(format!("Match {other} is not evaluated by nodeherd")),
        }
    }
    Ok(crits)
}

/// The files an `Include` argument names: `~` expanded by the caller's base rules, relative
/// paths under `base`, `*`/`?` in the last component matched against the directory's entries.
fn include_paths(arg: &str, base: &Path, home: &Path, files: &dyn Files) -> Vec<PathBuf> {
    let path = if let Some(rest) = arg.strip_prefix("~/") {
        home.join(rest)
    } else if Path::new(arg).is_absolute() {
        PathBuf::from(arg)
    } else {
        base.join(arg)
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return vec![path];
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut found: Vec<PathBuf> = files
        .list(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| pattern::glob(&name, &n.to_string_lossy()))
        })
        .collect();
    found.sort();
    found
}

/// Checks the values of the keywords nodeherd uses; other keywords pass untouched.
fn check_value(key: &str, args: &[String]) -> Result<(), (String, &'static str)> {
    let first = args.first().map_or("", String::as_str);
    let number = |max: u64| first.parse::<u64>().ok().filter(|n| *n <= max);
    match key {
        "port" => match number(65535) {
            Some(n) if n > 0 => Ok(()),
            _ => Err((
                format!("Port \"{first}\" is not a port number"),
                "write a number from 1 to 65535, like Port 2222",
            )),
        },
        "connecttimeout" | "serveraliveinterval" => match number(86_400) {
            Some(_) => Ok(()),
            None => Err((
                format!("{key} \"{first}\" is not a number of seconds"),
                "write whole seconds, like ConnectTimeout 10",
            )),
        },
        "identitiesonly" => match first.to_ascii_lowercase().as_str() {
            "yes" | "no" => Ok(()),
            _ => Err((
                format!("IdentitiesOnly \"{first}\" is not yes or no"),
                "write IdentitiesOnly yes",
            )),
        },
        "stricthostkeychecking" => match first.to_ascii_lowercase().as_str() {
            "yes" | "no" | "ask" | "accept-new" | "off" => Ok(()),
            _ => Err((
                format!("StrictHostKeyChecking \"{first}\" is not yes, no, ask, accept-new or off"),
                "write StrictHostKeyChecking yes",
            )),
        },
        "hostname" | "user" | "identityfile" | "proxyjump" | "userknownhostsfile"
            if args.is_empty() =>
        {
            Err((format!("{key} has no value"), "give the keyword a value"))
        }
        _ => Ok(()),
    }
}
