//! OpenSSH patterns: `*` and `?` globs, pattern lists with `!negation`.
//!
//! Owns: matching a name against one pattern or a list. May not touch: anything else.

/// `*` matches any run of characters, `?` one character; ASCII case-insensitive like OpenSSH's
/// host matching.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A list of patterns (`Host a b !c`): false if a negated pattern matches, else true if a
/// positive one matches.
pub fn list<'a>(patterns: impl IntoIterator<Item = &'a str>, name: &str) -> bool {
    let mut hit = false;
    for pat in patterns {
        if let Some(neg) = pat.strip_prefix('!') {
            if glob(neg, name) {
                return false;
            }
        } else if glob(pat, name) {
            hit = true;
        }
    }
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", "bn-1"));
        assert!(glob("bn-?", "BN-1"));
        assert!(!glob("bn-?", "bn-10"));
        assert!(glob("*.example.org", "a.b.example.org"));
        assert!(!glob("*.example.org", "example.org"));
        assert!(glob("10.0.*.1", "10.0.33.1"));
        assert!(glob("config.d*", "config.d"));
    }

    #[test]
    fn lists_with_negation() {
        assert!(list(["bn-*", "!bn-3"], "bn-1"));
        assert!(!list(["bn-*", "!bn-3"], "bn-3"));
        assert!(!list(["!bn-3"], "bn-1"));
        assert!(list(["x", "y"], "y"));
    }
}
