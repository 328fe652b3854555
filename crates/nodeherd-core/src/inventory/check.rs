//! Pure checks of single inventory values: names, unit names, paths, addresses, users, ports.
//!
//! Owns: what a valid value looks like and *why* an invalid one is refused. Each check returns
//! the cleaned value or an [`Invalid`] with a message and a hint. May not touch: TOML, files.

use std::path::{Component, Path, PathBuf};

/// Why a value was refused: a short label for the span, and a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct Invalid {
    /// The full reason, used in the message.
    pub why: String,
    /// A short form for the label under the value.
    pub short: String,
    pub help: String,
}

impl Invalid {
    pub fn new(why: impl Into<String>, help: impl Into<String>) -> Invalid {
        let why = why.into();
        Invalid {
            short: why.clone(),
            why,
            help: help.into(),
        }
    }

    pub fn short(mut self, short: impl Into<String>) -> Invalid {
        self.short = short.into();
        self
    }
}

fn invalid(why: impl Into<String>, help: impl Into<String>) -> Invalid {
    Invalid::new(why, help)
}

/// Host, node, group and network names: `[A-Za-z0-9][A-Za-z0-9_.-]*`.
pub fn name(s: &str) -> Result<(), Invalid> {
    let help =
        "names start with a letter or digit and contain only letters, digits, '_', '.' and '-'";
    let mut chars = s.chars();
    match chars.next() {
        None => return Err(invalid("empty name", help)),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err(invalid(format!("starts with {c:?}"), help));
        }
        _ => {}
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(invalid(format!("contains {c:?}"), help));
    }
    Ok(())
}

/// systemd unit type suffixes nodeherd accepts as written.
pub const UNIT_SUFFIXES: [&str; 11] = [
    ".service",
    ".target",
    ".socket",
    ".timer",
    ".mount",
    ".path",
    ".slice",
    ".scope",
    ".device",
    ".swap",
    ".automount",
];

/// A systemd unit name; returns it with `.service` appended when it has no type suffix.
pub fn unit(s: &str) -> Result<String, Invalid> {
    let help =
        "a unit name contains only letters, digits and ':_.@-', like \"lodestar-bn.service\"";
    if s.is_empty() {
        return Err(invalid("empty unit name", help));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '@' | '-')))
    {
        return Err(if c.is_control() {
            invalid(format!("contains the control character {c:?}"), help)
        } else if " \t;&|$`<>()'\"\\*?[]{}!#~".contains(c) {
            invalid(
                format!(
                    "contains {c:?}, a shell metacharacter; unit names are passed to remote commands, so they may not carry shell syntax"
                ),
                help,
            )
            .short(format!("shell metacharacter {c:?}"))
        } else {
            invalid(
                format!("contains {c:?}, which systemd does not allow in unit names"),
                help,
            )
        });
    }
    if s.starts_with('-') {
        return Err(invalid(
            "starts with '-', which systemctl would read as an option",
            help,
        ));
    }
    if s.len() > 255 {
        return Err(invalid(
            "longer than 255 characters (the systemd limit)",
            help,
        ));
    }
    if UNIT_SUFFIXES
        .iter()
        .any(|suf| s.ends_with(suf) && s.len() > suf.len())
    {
        Ok(s.to_string())
    } else {
        Ok(format!("{s}.service"))
    }
}

/// An absolute remote path: no control characters, no `..`, not `/` itself.
pub fn remote_dir(s: &str) -> Result<PathBuf, Invalid> {
    let help = "write an absolute path such as \"/opt/nodeherd/lodestar-bn\"";
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(invalid(
            format!("contains the control character {c:?}"),
            help,
        ));
    }
    let p = Path::new(s);
    if !p.is_absolute() {
        return Err(invalid("is not an absolute path", help));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(invalid("contains '..'", help));
    }
    if p.components().all(|c| c == Component::RootDir) {
        return Err(invalid("is the root directory", help));
    }
    Ok(p.to_path_buf())
}

/// A DNS name or an IP address (v4 or v6, optionally in brackets).
pub fn address(s: &str) -> Result<String, Invalid> {
    let help = "write a DNS name or an IP address, like \"203.0.113.10\" or \"bn-1.example.org\"";
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    if inner.is_empty() {
        return Err(invalid("empty address", help));
    }
    if inner.starts_with('-') {
        return Err(invalid(
            "starts with '-', which ssh tools read as an option",
            help,
        ));
    }
    if let Some(c) = inner
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_' | '%')))
    {
        return Err(invalid(format!("contains {c:?}"), help));
    }
    Ok(inner.to_string())
}

/// A remote login name.
pub fn user(s: &str) -> Result<(), Invalid> {
    let help =
        "user names start with a letter or '_' and contain only letters, digits, '_', '.' and '-'";
    let mut chars = s.chars();
    match chars.next() {
        None => return Err(invalid("empty user name", help)),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Err(invalid(format!("starts with {c:?}"), help));
        }
        _ => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        return Err(invalid(format!("contains {c:?}"), help));
    }
    if s.len() > 32 {
        return Err(invalid("longer than 32 characters", help));
    }
    Ok(())
}

/// A TCP port, 1..=65535.
pub fn port(n: i64) -> Result<u16, Invalid> {
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(invalid(
            format!("{n} is not a TCP port"),
            "ports are between 1 and 65535",
        )),
    }
}

/// A release feed: an http(s) URL or an absolute local path.
pub fn release_feed(s: &str) -> Result<(), Invalid> {
    let help = "write an https:// URL or an absolute path";
    if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid("contains whitespace or control characters", help));
    }
    let is_url = ["https://", "http://"]
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|r| !r.is_empty()));
    if is_url || Path::new(s).is_absolute() {
        Ok(())
    } else {
        Err(invalid(
            "is neither an http(s) URL nor an absolute path",
            help,
        ))
    }
}

/// Expands `~` and makes a local path absolute relative to `base` (the inventory file's directory).
pub fn local_path(s: &str, base: &Path) -> Result<PathBuf, Invalid> {
    let help = "write a path like \"~/.ssh/id_ed25519\" or one relative to the inventory file";
    if s.is_empty() {
        return Err(invalid("empty path", help));
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(invalid(
            format!("contains the control character {c:?}"),
            help,
        ));
    }
    let expanded = if s == "~" || s.starts_with("~/") {
        match dirs::home_dir() {
            Some(home) => home.join(s.trim_start_matches('~').trim_start_matches('/')),
            None => return Err(invalid("uses '~' but the home directory is unknown", help)),
        }
    } else if s.starts_with('~') {
        return Err(invalid("'~user' paths are not supported", help));
    } else {
        PathBuf::from(s)
    };
    Ok(if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("bn-1").is_ok());
        assert!(name("a.b_c-9").is_ok());
        assert!(name("").is_err());
        assert!(name("-x").is_err());
        assert!(name("a b").is_err());
        assert!(name("a/b").is_err());
    }

    #[test]
    fn units() {
        assert_eq!(unit("lodestar-bn").unwrap(), "lodestar-bn.service");
        assert_eq!(unit("lodestar-bn.service").unwrap(), "lodestar-bn.service");
        assert_eq!(unit("multi-user.target").unwrap(), "multi-user.target");
        assert_eq!(unit("getty@tty1.service").unwrap(), "getty@tty1.service");
        assert_eq!(unit("foo.bar").unwrap(), "foo.bar.service");
        let e = unit("x; rm -rf /").unwrap_err();
        assert!(e.why.contains("shell metacharacter"), "{e:?}");
        assert!(unit("$(reboot)").unwrap_err().why.contains("'$'"));
        assert!(unit("a\nb").unwrap_err().why.contains("control"));
        assert!(unit("--now").unwrap_err().why.contains("option"));
        assert!(unit(".service").is_ok()); // becomes ".service.service"; systemd will say it does not exist
        assert!(unit("").is_err());
    }

    #[test]
    fn remote_dirs() {
        assert!(remote_dir("/opt/nodeherd/x").is_ok());
        assert!(remote_dir("opt/x").is_err());
        assert!(remote_dir("/").is_err());
        assert!(remote_dir("/opt/../etc").is_err());
        assert!(remote_dir("/opt/\u{1b}[31m").is_err());
    }

    #[test]
    fn addresses_users_ports() {
        assert_eq!(address("203.0.113.10").unwrap(), "203.0.113.10");
        assert_eq!(address("[2001:db8::1]").unwrap(), "2001:db8::1");
        assert!(address("-oProxyCommand=x").is_err());
        assert!(address("a b").is_err());
        assert!(user("ops").is_ok());
        assert!(user("-l").is_err());
        assert!(user("a;b").is_err());
        assert_eq!(port(22).unwrap(), 22);
        assert!(port(0).is_err());
        assert!(port(65536).is_err());
        assert!(port(-1).is_err());
    }

    #[test]
    fn local_paths() {
        let base = Path::new("/etc/nodeherd");
        assert_eq!(
            local_path("known_hosts", base).unwrap(),
            PathBuf::from("/etc/nodeherd/known_hosts")
        );
        assert_eq!(local_path("/k", base).unwrap(), PathBuf::from("/k"));
        if let Some(home) = dirs::home_dir() {
            assert_eq!(local_path("~/.ssh/id", base).unwrap(), home.join(".ssh/id"));
        }
        assert!(local_path("~bob/x", base).is_err());
    }

    #[test]
    fn feeds() {
        assert!(release_feed("https://api.github.com/repos/x/y/releases").is_ok());
        assert!(release_feed("/srv/feed.json").is_ok());
        assert!(release_feed("feed.json").is_err());
        assert!(release_feed("https://").is_err());
    }
}
