//! Shell quoting for remote commands.
//!
//! Owns: turning a program and its arguments into ONE POSIX `sh` command line in which every
//! argument reaches the program as one literal word (sshd hands the line to the user's login
//! shell with `-c`, so this must be POSIX-sh compatible; fish/csh login shells are unsupported).
//! May not touch: the network or sessions; it only builds strings.

use std::borrow::Cow;
use std::fmt;

/// Characters that never need quoting in any position of a POSIX shell word.
fn is_safe_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
        )
}

/// Quote `s` for POSIX `sh` with single quotes; words made only of safe characters stay bare.
///
/// The empty string becomes `''`; a single quote inside becomes `'\''`.
pub fn quote(s: &str) -> Cow<'_, str> {
    if !s.is_empty() && s.bytes().all(is_safe_byte) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Cow::Owned(out)
}

/// Quote a word that stands in command position: additionally a `NAME=value` word would be
/// read by the shell as an assignment, so any `=` forces quotes there.
fn quote_program(s: &str) -> Cow<'_, str> {
    if s.contains('=') {
        Cow::Owned(format!("'{}'", s.replace('\'', "'\\''")))
    } else {
        quote(s)
    }
}

/// One remote command line, built from a program and arguments that are all quoted,
/// plus explicit [`Command::raw`] pieces for shell syntax (pipes, redirections).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Shell words, already quoted (or raw).
    words: Vec<String>,
    /// True when at least one piece was inserted with [`Command::raw`].
    has_raw: bool,
    /// `None`: follow the target's `become_root`; `Some(b)`: explicit choice.
    become_root: Option<bool>,
}

impl Command {
    /// Start a command running `program` (quoted like every other word).
    pub fn new(program: impl AsRef<str>) -> Self {
        Command {
            words: vec![quote_program(program.as_ref()).into_owned()],
            has_raw: false,
            become_root: None,
        }
    }

    /// Append one argument; it reaches the program as one literal word, whatever it contains.
    pub fn arg(mut self, s: impl AsRef<str>) -> Self {
        self.words.push(quote(s.as_ref()).into_owned());
        self
    }

    /// Append several arguments, each quoted.
    pub fn args<I, S>(mut self, iter: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for s in iter {
            self.words.push(quote(s.as_ref()).into_owned());
        }
        self
    }

    /// The explicit escape hatch: insert `s` UNQUOTED, as shell syntax (e.g. `|`, `>`, `2>&1`).
    /// Never pass data that came from outside through here.
    pub fn raw(mut self, s: impl AsRef<str>) -> Self {
        self.words.push(s.as_ref().to_string());
        self.has_raw = true;
        self
    }

    /// Run through `sudo -n --` (non-interactive: fails instead of prompting for a password).
    /// When not called, the session follows the target's `become_root` setting.
    pub fn become_root(mut self, yes: bool) -> Self {
        self.become_root = Some(yes);
        self
    }

    /// The explicit become-root choice, if any.
    pub fn become_root_choice(&self) -> Option<bool> {
        self.become_root
    }

    /// The command line without any sudo prefix.
    fn plain_line(&self) -> String {
        self.words.join(" ")
    }

    /// The command line as sent to the remote shell, with `sudo` when `root` is true.
    ///
    /// A pure argv command is prefixed with `sudo -n --`; a command with raw shell syntax is
    /// wrapped as `sudo -n -- sh -c '<line>'` so that redirections and pipes also run as root.
    pub fn shell_string_with(&self, root: bool) -> String {
        let line = self.plain_line();
        if !root {
            line
        } else if self.has_raw {
            format!("sudo -n -- sh -c {}", quote(&line))
        } else {
            format!("sudo -n -- {line}")
        }
    }

    /// The command line, with sudo only if [`Command::become_root`] was set to true.
    pub fn to_shell_string(&self) -> String {
        self.shell_string_with(self.become_root.unwrap_or(false))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_shell_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    const HOSTILE: &[&str] = &[
        "",
        " ",
        "plain",
        "it's",
        "'",
        "''",
        "\"",
        "a\"b'c",
        "$(touch /tmp/nodeherd-quote-pwned)",
        "`touch /tmp/nodeherd-quote-pwned`",
        "${HOME}",
        "$HOME",
        "line1\nline2",
        "\n",
        "a; rm -rf /tmp/nodeherd-nothing",
        "a && b || c",
        "*",
        "/*",
        "?",
        "[a-z]",
        "~",
        "~root",
        "#comment",
        "a|b",
        "a>b",
        "<",
        "\\",
        "\\'",
        "tab\there",
        "-n",
        "--",
        "{a,b}",
        "x=y",
        "héllo wörld ✓",
        "日本語",
        "!",
        "!!",
        "%s",
        "\u{7f}\u{1b}[31m",
    ];

    /// Run the command line through a real `sh -c` and collect the arguments `printf` received.
    fn through_sh(cmd: &Command) -> Vec<Vec<u8>> {
        let line = cmd.to_shell_string();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
        assert!(out.status.success(), "sh failed for {line:?}: {out:?}");
        let mut parts: Vec<Vec<u8>> = out.stdout.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
        // printf '%s\0' ends every argument with NUL, so the last split piece is empty
        assert_eq!(
            parts.pop(),
            Some(Vec::new()),
            "output of {line:?} not NUL-terminated"
        );
        parts
    }

    #[test]
    fn each_hostile_string_is_one_literal_argument() {
        for s in HOSTILE {
            let cmd = Command::new("printf").arg("%s\\0").arg(s);
            let got = through_sh(&cmd);
            assert_eq!(got, vec![s.as_bytes().to_vec()], "for {s:?} via {cmd}");
        }
        assert!(!std::path::Path::new("/tmp/nodeherd-quote-pwned").exists());
    }

    #[test]
    fn all_hostile_strings_together_keep_their_boundaries() {
        let cmd = Command::new("printf").arg("%s\\0").args(HOSTILE.iter());
        let got = through_sh(&cmd);
        let want: Vec<Vec<u8>> = HOSTILE.iter().map(|s| s.as_bytes().to_vec()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn generated_strings_round_trip() {
        // Deterministic pseudo-random strings over an alphabet rich in shell metacharacters.
        let alphabet: Vec<char> = "ab '\"$`\\;|&*?[]{}()<>!#~\n\t=%é✓-".chars().collect();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut strings = Vec::new();
        for _ in 0..200 {
            let len = (next() % 12) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            strings.push(s);
        }
        let cmd = Command::new("printf").arg("%s\\0").args(strings.iter());
        let got = through_sh(&cmd);
        let want: Vec<Vec<u8>> = strings.iter().map(|s| s.as_bytes().to_vec()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn safe_words_stay_bare_and_others_are_quoted() {
        assert_eq!(quote("systemctl"), "systemctl");
        assert_eq!(quote("/var/log/x-1.2_3"), "/var/log/x-1.2_3");
        assert_eq!(quote("key=value,a:b@c+d%"), "key=value,a:b@c+d%");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("é"), "'é'");
    }

    #[test]
    fn raw_is_inserted_unquoted_and_sudo_wraps_it() {
        let cmd = Command::new("cat").raw(">").arg("/tmp/a b");
        assert_eq!(cmd.to_shell_string(), "cat > '/tmp/a b'");
        let root = cmd.clone().become_root(true);
        assert_eq!(
            root.to_shell_string(),
            "sudo -n -- sh -c 'cat > '\\''/tmp/a b'\\'''"
        );
        let plain = Command::new("systemctl")
            .arg("restart")
            .arg("geth")
            .become_root(true);
        assert_eq!(plain.to_string(), "sudo -n -- systemctl restart geth");
    }

    #[test]
    fn program_with_equals_is_not_an_assignment() {
        let cmd = Command::new("A=b");
        assert_eq!(cmd.to_shell_string(), "'A=b'");
    }

    #[test]
    fn raw_pipe_runs_through_sh() {
        let cmd = Command::new("printf")
            .arg("%s\\0")
            .arg("a;b")
            .raw("|")
            .raw("tr")
            .arg("a")
            .arg("x");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd.to_shell_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
        assert_eq!(
            std::ffi::OsStr::from_bytes(&out.stdout),
            std::ffi::OsStr::new("x;b\0")
        );
    }
}
