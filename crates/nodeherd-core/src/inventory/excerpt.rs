//! What a report shows of a configuration file: the text, with every very long line cut around
//! the places the report points at.
//!
//! Owns: [`Excerpt`] (a `miette::SourceCode` whose `[file:line:col]` header keeps the true column)
//! and the shortening of long lines and long messages. miette's graphical handler pads with
//! `{:width$}`, which panics ("Formatting argument out of range") when a label starts beyond
//! column 65535; a line of tens of kilobytes is also no help to a reader. May not touch: what a
//! problem says (callers build it), parsing.

use std::ops::Range;
use std::sync::Arc;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// Lines longer than this (bytes) are cut in a report.
pub(crate) const LONG_LINE: usize = 240;
/// Bytes kept on each side of a labelled place (and at the start) of a long line.
const KEEP: usize = 40;
/// What stands for the bytes cut out of a line.
const CUT: &str = "…";
/// In messages, labels and hints longer than this (characters), words longer than
/// [`LONG_WORD`] are cut in the middle.
const LONG_TEXT: usize = 300;
const LONG_WORD: usize = 120;

/// A file's text as a report shows it (see the module doc).
#[derive(Debug, Clone)]
pub struct Excerpt {
    name: String,
    text: Arc<str>,
    /// (shown offset of the primary label, its true line, its true byte column).
    primary: Option<(usize, usize, usize)>,
}

impl Excerpt {
    /// The shown text of `text` with `spans` (the first one primary) mapped into it.
    pub(crate) fn new(
        name: &str,
        text: &Arc<str>,
        spans: &[Range<usize>],
    ) -> (Excerpt, Vec<Range<usize>>) {
        let clamp = |r: &Range<usize>| {
            let s = floor(text, r.start.min(text.len()));
            s..floor(text, r.end.clamp(s, text.len()))
        };
        let spans: Vec<Range<usize>> = spans.iter().map(clamp).collect();
        let segments = keep_segments(text, &spans);
        let Some(segments) = segments else {
            let ex = Excerpt {
                name: name.to_string(),
                text: text.clone(),
                primary: None,
            };
            return (ex, spans);
        };
        let mut shown = String::with_capacity(text.len().min(64 * 1024));
        let mut starts = Vec::with_capacity(segments.len());
        let mut prev_end = 0;
        for seg in &segments {
            if seg.start > prev_end {
                shown.push_str(CUT);
            }
            starts.push(shown.len());
            shown.push_str(&text[seg.clone()]);
            prev_end = seg.end;
        }
        if prev_end < text.len() {
            shown.push_str(CUT);
        }
        let map = |o: usize| -> usize {
            let i = segments.partition_point(|s| s.start <= o);
            if i == 0 {
                return 0;
            }
            let (seg, at) = (&segments[i - 1], starts[i - 1]);
            at + o.min(seg.end) - seg.start
        };
        let mapped: Vec<Range<usize>> = spans.iter().map(|r| map(r.start)..map(r.end)).collect();
        let primary = spans.first().map(|r| {
            let (line, col) = line_col(text, r.start);
            (map(r.start), line, col)
        });
        let ex = Excerpt {
            name: name.to_string(),
            text: shown.into(),
            primary,
        };
        (ex, mapped)
    }

    /// `text` as shown with one optional label span (for reports that build their own labels).
    pub(crate) fn one(
        name: &str,
        text: &str,
        span: Option<Range<usize>>,
    ) -> (Excerpt, Option<SourceSpan>) {
        let text: Arc<str> = text.into();
        let spans: Vec<Range<usize>> = span.into_iter().collect();
        let (ex, shown) = Excerpt::new(name, &text, &spans);
        let span = shown.first().map(|r| (r.start, r.end - r.start).into());
        (ex, span)
    }

    /// The file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// 1-based line and column (bytes) in the whole file of a span of this excerpt.
    pub fn place(&self, span: &SourceSpan) -> Option<(usize, usize)> {
        let c = self.read_span(span, 0, 0).ok()?;
        Some((c.line() + 1, c.column() + 1))
    }
}

/// 0-based line and byte column of `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.split(|b| *b == b'\n').count() - 1;
    let col = before.len()
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
    (line, col)
}

fn floor(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The byte ranges of `text` a report keeps, or `None` when no line is long.
fn keep_segments(text: &str, spans: &[Range<usize>]) -> Option<Vec<Range<usize>>> {
    let mut keep: Vec<Range<usize>> = Vec::new();
    let mut any_long = false;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        if line.len() > LONG_LINE {
            any_long = true;
            keep.push(start..ceil(text, start + KEEP));
            for p in spans.iter().flat_map(|r| [r.start, r.end]) {
                if (start..=end).contains(&p) {
                    let a = floor(text, p.saturating_sub(KEEP).max(start));
                    keep.push(a..ceil(text, (p + KEEP).min(end)));
                }
            }
            if line.ends_with('\n') {
                keep.push(end - 1..end);
            }
        } else {
            keep.push(start..end);
        }
        start = end;
    }
    if !any_long {
        return None;
    }
    keep.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(keep.len());
    for r in keep {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    Some(merged)
}

/// `s` with control characters escaped (so a quoted value cannot drive the terminal) and, when
/// very long, its middle cut out.
pub(crate) fn clean(s: impl Into<String>) -> String {
    let s = s.into();
    let s = if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().collect()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        s
    };
    if s.chars().count() <= LONG_TEXT {
        return s;
    }
    // Cut the long words (quoted values), so the words around them still explain.
    s.split(' ')
        .map(|w| {
            let n = w.chars().count();
            if n <= LONG_WORD {
                return w.to_string();
            }
            let head: String = w.chars().take(LONG_WORD / 2).collect();
            let tail: String = w.chars().skip(n - LONG_WORD / 4).collect();
            let cut = n - LONG_WORD / 2 - LONG_WORD / 4;
            format!("{head}{CUT} ({cut} characters not shown) {CUT}{tail}")
        })
        .collect::<Vec<String>>()
        .join(" ")
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let c = self
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        let (line, column) = match self.primary {
            // The header's place: the true column, not the one in the shortened line.
            Some((at, line, col)) if context_lines_before == 0 && span.offset() == at => {
                (line, col)
            }
            _ => (c.line(), c.column()),
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            c.data(),
            *c.span(),
            line,
            column,
            c.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_shown_whole() {
        let text: Arc<str> = "a = 1\nb = \"x\"\n".into();
        let (ex, spans) = Excerpt::new("f.toml", &text, std::slice::from_ref(&(4..5)));
        assert_eq!(&*ex.text, &*text);
        assert_eq!(spans, vec![4..5]);
    }

    #[test]
    fn long_line_is_cut_around_the_span_with_the_true_column() {
        let pad = " ".repeat(70_000);
        let text: Arc<str> = format!("[a]\n{pad}bad = \"{}\"\nc = 1\n", "y".repeat(50_000)).into();
        let start = 4 + pad.len();
        let (ex, spans) = Excerpt::new("f.toml", &text, std::slice::from_ref(&(start..start + 3)));
        assert!(ex.text.len() < 1000, "{}", ex.text.len());
        assert_eq!(&ex.text[spans[0].clone()], "bad");
        assert_eq!(ex.text.lines().count(), 3, "lines are kept");
        let c = ex.read_span(&(spans[0].start, 3).into(), 0, 0).unwrap();
        assert_eq!((c.line(), c.column()), (1, 70_000));
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let text: Arc<str> = format!("k = \"{}\"\n", "é".repeat(5000)).into();
        let (ex, spans) = Excerpt::new("f.toml", &text, std::slice::from_ref(&(4..text.len() - 1)));
        assert!(ex.text.len() < 400);
        assert!(ex.text[spans[0].clone()].starts_with("\"é"));
    }

    #[test]
    fn long_messages_are_cut_and_control_characters_escaped() {
        let m = clean(format!("bad \u{1b}[31m {}", "z".repeat(10_000)));
        assert!(m.contains("\\u{1b}"));
        assert!(m.chars().count() < 400, "{}", m.len());
        assert!(m.contains("characters not shown"));
        let m = clean(format!("unit \"{}\" is bad: explain", "x".repeat(5000)));
        assert!(m.ends_with("\" is bad: explain"), "{m}");
    }
}
