//! Cleaning text that came from a server before anything shows or stores it.
//!
//! Owns: [`sanitize`], the one rule for what of a server's text may reach a terminal. May not
//! touch: anything else (no I/O, no parsing of what the text means).

/// Remove ANSI escape sequences and control characters from text that came from a server, so it
/// can never move the cursor, change colours or retitle the terminal. Tabs become spaces.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: ESC [ params final(0x40..=0x7e)
                Some('[') => {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: ESC ] ... (BEL | ESC \)
                Some(']') => {
                    chars.next();
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\t' => out.push(' '),
            c if c.is_control() => {}
            // C1 controls are covered by is_control; also drop bidi overrides that can disguise text.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_escapes_and_controls() {
        assert_eq!(sanitize("a\u{1b}]0;pwned\u{7}b"), "ab");
        assert_eq!(sanitize("x\u{1b}[2J\u{1b}[Hy\r\n"), "xy");
        assert_eq!(sanitize("tab\there"), "tab here");
        assert_eq!(sanitize("\u{202e}evil"), "evil");
        assert_eq!(sanitize("héllo ✓"), "héllo ✓");
    }
}
