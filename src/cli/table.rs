//! Plain aligned text tables for terminal and pipe output: columns are measured in terminal
//! display width (wide CJK and emoji count two), colour codes count nothing. Nothing is ever cut:
//! a long cell (an error naming a known_hosts file:line, a feed URL, a lock holder) goes under
//! its row on lines of its own, wrapped at spaces, never inside a word: a middle column's cell
//! over [`LONG`] columns, the last column's when it is over [`LONG`] too and the row would end
//! past [`LINE`].
//!
//! Owns: the layout of every CLI table. May not touch: what the cells say.

/// A cell of a middle column longer than this (display columns), or any cell with a line break,
/// goes under its row.
pub const LONG: usize = 60;
/// A row whose long last cell would end past this column has that cell under the row instead.
pub const LINE: usize = 120;
/// Lines under a row wrap at spaces to about this many columns (a longer word stays whole).
pub const WRAP: usize = 100;
const INDENT: &str = "    ";

/// Render rows under a header, columns padded to the widest cell; the last column is not padded.
/// Cells may carry ANSI colour codes: widths are measured without them. A long cell is moved
/// under its row (the last column's text as it is, another column's as `HEADER: text`), and its
/// place in the row says `(below)` unless it is the last column.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let long_middle = |c: &str| visible_len(c) > LONG || c.contains('\n');
    let mut shown: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .take(n)
                .map(|(i, c)| {
                    if i + 1 < n && long_middle(c) {
                        "(below)".into()
                    } else {
                        c.clone()
                    }
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| visible_len(h)).collect();
    for r in &shown {
        for (i, c) in r.iter().enumerate().take(n.saturating_sub(1)) {
            widths[i] = widths[i].max(visible_len(c));
        }
    }
    // The last cell stays in its row when it is short, or when the row still ends by LINE.
    let prefix: usize = widths.iter().take(n.saturating_sub(1)).map(|w| w + 2).sum();
    let mut below: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    for (j, r) in rows.iter().enumerate() {
        for (i, c) in r.iter().enumerate().take(n) {
            let last = i + 1 == n;
            let moved = if last {
                c.contains('\n') || (visible_len(c) > LONG && prefix + visible_len(c) > LINE)
            } else {
                long_middle(c)
            };
            if moved {
                below[j].push(i);
                if last {
                    shown[j][i] = String::new();
                }
            }
        }
    }
    for r in &shown {
        if let Some(c) = r.get(n.wrapping_sub(1)) {
            widths[n - 1] = widths[n - 1].max(visible_len(c));
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
    for ((r, s), moved) in rows.iter().zip(&shown).zip(&below) {
        line(s.iter().map(String::as_str).collect(), &mut out);
        for &i in moved {
            let text = if i + 1 == n {
                r[i].clone()
            } else {
                format!("{}: {}", header[i], r[i])
            };
            for l in wrap(&text, WRAP) {
                out.push_str(INDENT);
                out.push_str(&l);
                out.push('\n');
            }
        }
    }
    out
}

/// Break `text` into lines of at most `width` display columns at spaces (its own line breaks
/// kept); a word longer than `width` stays whole on its own line. Nothing is dropped.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.lines() {
        let mut cur = String::new();
        for word in para.split(' ') {
            if !cur.is_empty() && visible_len(&cur) + 1 + visible_len(word) > width {
                lines.push(std::mem::take(&mut cur));
            } else if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
        }
        lines.push(cur);
    }
    lines
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

/// Cut text to at most `max` characters, marking the cut with an ellipsis: only for cells that
/// are not problems (a long version string, a notification title); never for an error.
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

    /// The errors the issue saw cut with "…" (issue #15 item 5): a changed host key's
    /// known_hosts file:line, a feed URL, a lock holder, each whole under its row.
    #[test]
    fn long_problems_go_whole_under_their_row() {
        let key = "host key of bn-1 (10.0.0.11:22) CHANGED: the stored key is at /home/ops/.ssh/known_hosts:42 (ssh-ed25519 SHA256:Xq9x...); if the change is expected, remove that line";
        let lock = "nhlab-1/lodestar-bn is locked by alice@laptop (pid 4242 on the host) since 2026-11-21T10:00:00Z for `upgrade to 1.5.1`; lease renewed 3s ago (alive)";
        let t = render(
            &["HOST", "NODE", "STATE", "PROBLEM"],
            &[
                vec!["bn-1".into(), "lodestar-bn".into(), "?".into(), key.into()],
                vec!["bn-2".into(), "geth".into(), "active".into(), "ok".into()],
                vec![
                    "nhlab-1".into(),
                    "lodestar-bn".into(),
                    "?".into(),
                    lock.into(),
                ],
            ],
        );
        assert!(!t.contains('…'), "{t}");
        assert!(t.contains("/home/ops/.ssh/known_hosts:42"), "{t}");
        let flat = t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(key) && flat.contains(lock), "{t}");
        assert_eq!(
            t,
            "HOST     NODE         STATE   PROBLEM
bn-1     lodestar-bn  ?
    host key of bn-1 (10.0.0.11:22) CHANGED: the stored key is at /home/ops/.ssh/known_hosts:42
    (ssh-ed25519 SHA256:Xq9x...); if the change is expected, remove that line
bn-2     geth         active  ok
nhlab-1  lodestar-bn  ?
    nhlab-1/lodestar-bn is locked by alice@laptop (pid 4242 on the host) since 2026-11-21T10:00:00Z for
    `upgrade to 1.5.1`; lease renewed 3s ago (alive)
"
        );
    }

    #[test]
    fn a_long_middle_cell_is_named_under_the_row_and_long_words_stay_whole() {
        let url = format!("http://feeds.example.org/{}/releases.json", "x".repeat(120));
        let why = format!("feed unavailable: GET {url}: connection refused");
        let t = render(
            &["NODE", "WHY", "GATE"],
            &[vec!["h/bn".into(), why.clone(), "beacon api".into()]],
        );
        assert!(
            t.starts_with("NODE  WHY      GATE\nh/bn  (below)  beacon api\n"),
            "{t}"
        );
        assert!(
            t.contains(&format!("\n    {url}:\n")),
            "the URL whole on its line: {t}"
        );
        assert!(t.contains("    WHY: feed unavailable: GET\n"), "{t}");
        let multi = render(&["A", "ERR"], &[vec!["x".into(), "first\nsecond".into()]]);
        assert_eq!(multi, "A  ERR\nx\n    first\n    second\n");
    }

    #[test]
    fn a_short_last_cell_stays_in_its_row_and_a_long_one_in_a_narrow_table_too() {
        let wide: Vec<String> = (0..12).map(|i| format!("col{i:02}")).collect();
        let mut header: Vec<&str> = wide.iter().map(String::as_str).collect();
        header.push("PROBLEM");
        let mut row: Vec<String> = wide.clone();
        row.push("port closed: nothing on 5064".into());
        let t = render(&header, std::slice::from_ref(&row));
        assert_eq!(t.lines().count(), 2, "short: in the row, however wide: {t}");
        let reason = "host has an extra line 9: \"Environment=X=1\" (unit file /etc/systemd/system/x.service differs)";
        let t = render(&["NODE", "REASON"], &[vec!["h/x".into(), reason.into()]]);
        assert_eq!(t.lines().count(), 2, "fits by column 120: in the row: {t}");
        let mut row = wide.clone();
        row.push(reason.into());
        let t = render(&header, &[row]);
        assert_eq!(
            t.lines().nth(2),
            Some(format!("    {reason}").as_str()),
            "{t}"
        );
    }

    #[test]
    fn clip_marks_cut() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
