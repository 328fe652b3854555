//! Plain aligned text tables for terminal and pipe output: columns are measured in terminal
//! display width (wide CJK and emoji count two), colour codes count nothing.

/// Render rows under a header, columns padded to the widest cell; the last column is not padded.
/// Cells may carry ANSI colour codes: widths are measured without them.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| visible_len(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(visible_len(c));
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i + 1 < n {
                let pad = widths[i].saturating_sub(visible_len(c)) + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(
            r.iter().map(std::string::String::as_str).collect(),
            &mut out,
        );
    }
    out
}

fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_esc = false;
    for c in s.chars() {
        if in_esc {
            if c.is_ascii_alphabetic() {
                in_esc = false;
            }
        } else if c == '\x1b' {
            in_esc = true;
        } else {
            n += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        }
    }
    n
}

/// Cut text to at most `max` characters, marking the cut with an ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_ignoring_colour() {
        let t = render(
            &["A", "BB"],
            &[
                vec!["\x1b[32mxyz\x1b[0m".into(), "1".into()],
                vec!["q".into(), "2".into()],
            ],
        );
        assert_eq!(t, "A    BB\n\x1b[32mxyz\x1b[0m  1\nq    2\n");
    }

    #[test]
    fn aligns_by_display_width() {
        let t = render(
            &["NAME", "X"],
            &[
                vec!["节点".into(), "1".into()],
                vec!["🚀a".into(), "2".into()],
                vec!["ab".into(), "3".into()],
            ],
        );
        assert_eq!(t, "NAME  X\n节点  1\n🚀a   2\nab    3\n");
    }

    #[test]
    fn clip_marks_cut() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
