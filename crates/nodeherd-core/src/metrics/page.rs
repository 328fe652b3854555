//! Our own view of a Prometheus text page: only the families a caller names, parsed correctly.
//!
//! Owns: the line pre-filter, the [`Family`]/[`Metric`] types, and [`extract`] (client table -> [`Sample`]).
//! May not touch: I/O (the page arrives as `&str`), the client table's contents (see `crate::metrics::clients`; its types are in [`crate::metrics::schema`]).
//!
//! How the work is split with `prometheus-parse` 0.2.5 (mandated):
//! 1. A pre-filter walks the page once and keeps only `# TYPE`/`# HELP` and sample lines whose name is a
//!    wanted family (or that family plus `_total`, `_bucket`, `_sum`, `_count`, `_created`). A 60-140 KB page
//!    shrinks to a few dozen lines before any regex runs: that is what makes it fit in 100 µs. Lines are
//!    found with `memchr`; a first-byte index limits the name compares; [`extract`] also drops `# HELP`.
//!    Measured (`cargo bench --bench metrics_parse`, thread CPU, 138 KB Lodestar BN page): `extract`
//!    ~67-82 µs, `str::split` alone ~36-40 µs, prometheus-parse on the whole page ~3.1-3.6 ms.
//! 2. Each kept line goes through `prometheus_parse::LineInfo::parse` (the crate's line grammar).
//! 3. What the crate gets wrong is handled here, not hidden:
//!    - names with `:` do not match its `\w+`: such lines come back `Ignored` and are tokenized by
//!      [`split_sample`] here;
//!    - its label parsing splits on `,` and `=` (truncating values) and does not unescape: labels are
//!      always parsed here by a quote-aware parser with `\\`, `\"`, `\n` unescaping; a `}` inside a
//!      quoted value makes the crate's `[^}]+` stop early, which shows up as an unterminated quote and
//!      sends the line to [`split_sample`];
//!    - `Scrape::parse` stamps samples with the current time: `Scrape` is not used; a sample's own
//!      timestamp is kept as `Option<i64>` ms and nothing else is invented.
//!    - `Scrape` also regroups histograms through a `HashMap` (order lost): here samples stay in page order.

use std::collections::BTreeMap;

use prometheus_parse::{LineInfo, SampleType};
use serde::Serialize;

use crate::metrics::schema::{ClientMetrics, Reduce, Signal};

/// Suffixes a sample name may add to its family name.
const SUFFIXES: &[&str] = &["_total", "_bucket", "_sum", "_count", "_created"];

/// Type of a family as declared by `# TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl From<SampleType> for Kind {
    fn from(t: SampleType) -> Self {
        match t {
            SampleType::Counter => Kind::Counter,
            SampleType::Gauge => Kind::Gauge,
            SampleType::Histogram => Kind::Histogram,
            SampleType::Summary => Kind::Summary,
            SampleType::Untyped => Kind::Untyped,
        }
    }
}

impl Kind {
    fn parse(s: &str) -> Kind {
        SampleType::parse(s).into()
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// The sample's own name (`foo`, `foo_total`, `foo_bucket`...).
    pub name: String,
    /// Labels in page order, values unescaped.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// The sample's own timestamp (ms since the epoch), if the page gave one.
    pub timestamp_ms: Option<i64>,
}

impl Metric {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A metric family: `# TYPE`, `# HELP` and its samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Family {
    pub name: String,
    pub kind: Kind,
    pub help: Option<String>,
    pub metrics: Vec<Metric>,
}

/// What [`extract`] read from a page for one client.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    pub values: BTreeMap<Signal, f64>,
    pub version: Option<String>,
}

impl Sample {
    pub fn get(&self, signal: Signal) -> Option<f64> {
        self.values.get(&signal).copied()
    }

    /// Wall-clock slot minus head slot, when both are known.
    pub fn sync_distance(&self) -> Option<f64> {
        Some(self.get(Signal::WallSlot)? - self.get(Signal::HeadSlot)?)
    }
}

/// The wanted family names, indexed by first byte so that a line is compared only with the names that
/// start like it.
struct Wanted<'a> {
    names: &'a [&'a str],
    by_first: [Vec<u32>; 256],
    /// Keep `# HELP` lines ([`extract`] does not need them).
    help: bool,
}

impl<'a> Wanted<'a> {
    fn new(names: &'a [&'a str]) -> Self {
        let mut by_first: [Vec<u32>; 256] = std::array::from_fn(|_| Vec::new());
        for (i, n) in names.iter().enumerate() {
            if let (Some(&b), Ok(i)) = (n.as_bytes().first(), u32::try_from(i)) {
                by_first[usize::from(b)].push(i);
            }
        }
        Wanted {
            names,
            by_first,
            help: true,
        }
    }

    /// Does a name at the start of `s` (ended by blank, `{` or end of line) belong to a wanted family?
    fn starts(&self, s: &[u8]) -> bool {
        let Some(&first) = s.first() else {
            return false;
        };
        self.by_first[usize::from(first)].iter().any(|&i| {
            let w = self.names[i as usize].as_bytes();
            s.starts_with(w) && {
                let tail = &s[w.len()..];
                ends_name(tail)
                    || SUFFIXES
                        .iter()
                        .any(|x| tail.starts_with(x.as_bytes()) && ends_name(&tail[x.len()..]))
            }
        })
    }

    /// The pre-filter's test for one line (without its `\n`).
    fn line(&self, line: &str) -> bool {
        let b = line.as_bytes();
        match b.first() {
            None => false,
            Some(b'#') => {
                if b.len() > 7 && &b[..7] == b"# TYPE " {
                    self.starts(&b[7..])
                } else if b.len() > 7 && &b[..7] == b"# HELP " {
                    self.help && self.starts(&b[7..])
                } else {
                    // rare spellings (`#  TYPE`, tabs): tokenize; other comments are skipped
                    let mut it = line[1..].split_whitespace();
                    let keep = match it.next() {
                        Some("TYPE") => true,
                        Some("HELP") => self.help,
                        _ => false,
                    };
                    keep && it.next().is_some_and(|n| self.starts(n.as_bytes()))
                }
            }
            Some(_) => self.starts(b),
        }
    }
}

fn ends_name(tail: &[u8]) -> bool {
    matches!(tail.first(), None | Some(b' ' | b'\t' | b'{' | b'\r'))
}

/// The name a `# TYPE`/`# HELP` line or a sample line is about.
fn line_name(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    match b.first()? {
        b'#' => {
            let mut it = line[1..].split_whitespace();
            it.next()?;
            it.next()
        }
        _ => {
            let end = b
                .iter()
                .position(|&c| c == b'{' || c == b' ' || c == b'\t')
                .unwrap_or(b.len());
            Some(&line[..end])
        }
    }
}

/// Lines of the page that belong to the wanted families (the fast pre-filter): one pass, a first-byte
/// index, and a prefix compare with only the names that share that first byte.
pub fn select_lines<'a>(
    page: &'a str,
    wanted: &'a [&'a str],
) -> impl Iterator<Item = &'a str> + 'a {
    let w = Wanted::new(wanted);
    lines(page).filter(move |line| w.line(line))
}

/// The page's lines without their `\n`, found with SIMD `memchr` (std's `split` is several times slower).
fn lines(page: &str) -> impl Iterator<Item = &str> + '_ {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', page.as_bytes());
    std::iter::from_fn(move || {
        let end = match ends.next() {
            Some(e) => e,
            None if start < page.len() => page.len(),
            None => return None,
        };
        // `\n` is ASCII, so both ends are char boundaries
        let line = page.get(start..end)?;
        start = end + 1;
        Some(line)
    })
}

/// Parse the families named in `wanted` out of a text page, in page order. Lines of other families are
/// never parsed. Malformed lines are skipped.
pub fn families(page: &str, wanted: &[&str]) -> Vec<Family> {
    families_with(page, Wanted::new(wanted))
}

fn families_with(page: &str, wanted: Wanted<'_>) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for raw in lines(page).filter(|l| wanted.line(l)) {
        let line = raw.trim();
        match classify(line) {
            Line::Help { name, doc } => family_mut(&mut out, name).help = Some(unescape_help(doc)),
            Line::Type { name, kind } => family_mut(&mut out, name).kind = kind,
            Line::Sample(metric) => {
                // a sample extends the family whose TYPE line came last, if its suffix fits that type
                let name = match out.last() {
                    Some(f) if belongs(f, &metric.name) => f.name.clone(),
                    _ => metric.name.clone(),
                };
                family_mut(&mut out, &name).metrics.push(metric);
            }
            Line::Skip => {}
        }
    }
    out.retain(|f| wanted.names.contains(&f.name.as_str()));
    out
}

/// Whether a sample named `name` is part of family `f` (Prometheus text and OpenMetrics suffixes).
fn belongs(f: &Family, name: &str) -> bool {
    let Some(suffix) = name.strip_prefix(f.name.as_str()) else {
        return false;
    };
    let allowed: &[&str] = match f.kind {
        Kind::Counter => &["", "_total", "_created"],
        Kind::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
        Kind::Summary => &["", "_sum", "_count", "_created"],
        Kind::Gauge | Kind::Untyped => &[""],
    };
    allowed.contains(&suffix)
}

fn family_mut<'f>(out: &'f mut Vec<Family>, name: &str) -> &'f mut Family {
    let idx = match out.iter().position(|f| f.name == name) {
        Some(i) => i,
        None => {
            out.push(Family {
                name: name.to_string(),
                kind: Kind::Untyped,
                help: None,
                metrics: Vec::new(),
            });
            out.len() - 1
        }
    };
    &mut out[idx]
}

enum Line<'a> {
    Help { name: &'a str, doc: &'a str },
    Type { name: &'a str, kind: Kind },
    Sample(Metric),
    Skip,
}

/// One line: prometheus-parse first, our own tokenizer where the crate is known to be wrong.
fn classify(line: &str) -> Line<'_> {
    match LineInfo::parse(line) {
        LineInfo::Doc { metric_name, doc } => Line::Help {
            name: metric_name,
            doc,
        },
        // the crate renames histograms to `<name>_bucket`; the family name is read from the line itself
        LineInfo::Type { sample_type, .. } => match line_name(line) {
            Some(name) => Line::Type {
                name,
                kind: sample_type.into(),
            },
            None => Line::Skip,
        },
        LineInfo::Sample {
            metric_name,
            labels,
            value,
            timestamp,
        } => {
            let parsed = match labels {
                None => Some(Vec::new()),
                Some(l) => parse_labels(l),
            };
            match (parsed, parse_value(value)) {
                (Some(labels), Some(value)) => Line::Sample(Metric {
                    name: metric_name.to_string(),
                    labels,
                    value,
                    timestamp_ms: timestamp.and_then(|t| t.parse().ok()),
                }),
                // labels cut short by the crate's `[^}]+`, or an odd value: tokenize ourselves
                _ => own_line(line),
            }
        }
        LineInfo::Empty => Line::Skip,
        LineInfo::Ignored => own_line(line),
    }
}

/// Lines the crate cannot read: `:` in names, `}` in label values, HELP with an empty text.
fn own_line(line: &str) -> Line<'_> {
    if let Some(rest) = line.strip_prefix("# HELP ") {
        let rest = rest.trim_start();
        let (name, doc) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
        return Line::Help {
            name,
            doc: doc.trim_start(),
        };
    }
    if let Some(rest) = line.strip_prefix("# TYPE ") {
        let mut it = rest.split_whitespace();
        return match (it.next(), it.next()) {
            (Some(name), Some(kind)) => Line::Type {
                name,
                kind: Kind::parse(kind),
            },
            _ => Line::Skip,
        };
    }
    if line.starts_with('#') {
        return Line::Skip;
    }
    match split_sample(line) {
        Some(m) => Line::Sample(m),
        None => Line::Skip,
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphabetic() || b == b'_' || b == b':' || (i > 0 && b.is_ascii_digit())
        })
}

/// Our own tokenizer of a sample line: `name{labels} value [timestamp]`, quote-aware.
pub fn split_sample(line: &str) -> Option<Metric> {
    let line = line.trim();
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_name(name) {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if rest.starts_with('{') {
        let close = closing_brace(rest)?;
        labels = parse_labels(&rest[1..close])?;
        rest = &rest[close + 1..];
    }
    let mut it = rest.split_whitespace();
    let value = parse_value(it.next()?)?;
    let timestamp_ms = match it.next() {
        Some(t) => Some(t.parse().ok()?),
        None => None,
    };
    if it.next().is_some() {
        return None;
    }
    Some(Metric {
        name: name.to_string(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Index of the `}` closing a label block that starts at `s[0] == '{'`, skipping quoted text.
fn closing_brace(s: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '}' if !in_quotes => return Some(i),
            _ => {}
        }
    }
    None
}

/// `a="x",b="y\"z"` -> pairs, unescaped. `None` when malformed (e.g. an unterminated quote).
pub fn parse_labels(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        if !valid_name(key) || key.contains(':') {
            return None;
        }
        rest = rest[eq + 1..].trim_start();
        rest = rest.strip_prefix('"')?;
        let mut value = String::new();
        let mut end = None;
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return None,
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                c => value.push(c),
            }
        }
        let end = end?;
        out.push((key.to_string(), value));
        rest = rest[end + 1..].trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return None,
        }
    }
    Some(out)
}

/// Go-style float: `NaN`, `+Inf`, `-Inf`, decimal and exponent forms.
fn parse_value(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// HELP text escapes only `\\` and `\n`.
fn unescape_help(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Read what the client table names from one page.
pub fn extract(page: &str, client: &ClientMetrics) -> Sample {
    let wanted = client.families();
    let fams = families_with(
        page,
        Wanted {
            help: false,
            ..Wanted::new(&wanted)
        },
    );
    let mut sample = Sample::default();
    for spec in client.metrics {
        if sample.values.contains_key(&spec.signal) {
            continue; // an earlier row for this signal already matched
        }
        let Some(fam) = fams.iter().find(|f| f.name == spec.family) else {
            continue;
        };
        let mut values = fam
            .metrics
            .iter()
            .filter(|m| {
                let suffix = m.name.strip_prefix(fam.name.as_str());
                suffix == Some("") || (fam.kind == Kind::Counter && suffix == Some("_total"))
            })
            .filter(|m| {
                spec.matcher
                    .is_none_or(|mt| m.label(mt.label) == Some(mt.value))
            })
            .map(|m| m.value)
            .peekable();
        if values.peek().is_none() {
            continue;
        }
        let v = match spec.reduce {
            Reduce::Sum => values.sum(),
            Reduce::Max => values.fold(f64::NEG_INFINITY, f64::max),
        };
        sample.values.insert(spec.signal, v);
    }
    if let Some(vl) = client.version {
        sample.version = fams
            .iter()
            .filter(|f| f.name == vl.family)
            .flat_map(|f| f.metrics.iter())
            .find_map(|m| m.label(vl.label).map(str::to_string));
    }
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_comma_equals_quote_and_escapes() {
        let l = parse_labels(r#"a="x,y=z",b="say \"hi\"\\n",c="line\nnext""#).unwrap();
        assert_eq!(
            l,
            vec![
                ("a".into(), "x,y=z".into()),
                ("b".into(), "say \"hi\"\\n".into()),
                ("c".into(), "line\nnext".into()),
            ]
        );
        assert!(parse_labels(r#"a="unterminated"#).is_none());
        assert_eq!(parse_labels(r#"a="1","#).unwrap().len(), 1);
    }

    #[test]
    fn crate_limits_are_covered() {
        let page = "# TYPE job:up:sum gauge\n\
                    job:up:sum{x=\"1\"} 3\n\
                    # HELP odd some help with \\\\ and \\n\n\
                    # TYPE odd gauge\n\
                    odd{path=\"/a,b=c\",brace=\"}x} 9\"} 5 1700000000000\n\
                    other 1\n";
        let fams = families(page, &["job:up:sum", "odd"]);
        assert_eq!(fams.len(), 2);
        assert_eq!(fams[0].name, "job:up:sum");
        assert_eq!(fams[0].kind, Kind::Gauge);
        assert_eq!(fams[0].metrics[0].value, 3.0);
        assert_eq!(fams[1].help.as_deref(), Some("some help with \\ and \n"));
        let m = &fams[1].metrics[0];
        assert_eq!(m.label("path"), Some("/a,b=c"));
        assert_eq!(m.label("brace"), Some("}x} 9"));
        assert_eq!(m.value, 5.0);
        assert_eq!(m.timestamp_ms, Some(1_700_000_000_000));
    }

    #[test]
    fn histogram_samples_stay_in_their_family_and_order() {
        let page = "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n\
                    # TYPE h_total_other gauge\nh_total_other 9\n";
        let fams = families(page, &["h"]);
        assert_eq!(fams.len(), 1);
        let names: Vec<&str> = fams[0].metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["h_bucket", "h_bucket", "h_sum", "h_count"]);
        assert_eq!(fams[0].metrics[1].label("le"), Some("+Inf"));
        assert_eq!(fams[0].metrics[1].value, 2.0);
        assert_eq!(fams[0].kind, Kind::Histogram);
    }

    #[test]
    fn prefix_of_another_family_is_not_taken() {
        let page = "libp2p_peers 3\nlibp2p_peers_by_direction{d=\"in\"} 2\nlibp2p_peers_total 7\n";
        let fams = families(page, &["libp2p_peers"]);
        assert_eq!(fams.len(), 1);
        // without a TYPE line saying counter, `libp2p_peers_total` is another family, not ours
        assert_eq!(fams[0].metrics.len(), 1, "{fams:?}");
        let typed = "# TYPE libp2p_peers counter\nlibp2p_peers_total 7\n";
        assert_eq!(families(typed, &["libp2p_peers"])[0].metrics[0].value, 7.0);
    }

    #[test]
    fn line_iterator_matches_split() {
        for page in ["", "a", "a\n", "a\n\nb", "\n", "x\r\ny\n\n"] {
            let ours: Vec<&str> = lines(page).collect();
            let mut std: Vec<&str> = page.split('\n').collect();
            if page.ends_with('\n') || page.is_empty() {
                std.pop(); // split yields a trailing empty piece; it is not a line
            }
            assert_eq!(ours, std, "{page:?}");
        }
    }

    #[test]
    fn prefilter_odd_spacing_and_suffixes() {
        let page = "#  TYPE a gauge\n#\tHELP a tab help\n# a comment about a\na\t1\na_total 2\nab 3\n\
                    # TYPE c counter\nc_total 4\nc_created 5\nc_other 6\n";
        let kept: Vec<&str> = select_lines(page, &["a", "c"]).collect();
        assert_eq!(
            kept,
            [
                "#  TYPE a gauge",
                "#\tHELP a tab help",
                "a\t1",
                "a_total 2",
                "# TYPE c counter",
                "c_total 4",
                "c_created 5"
            ]
        );
        let fams = families(page, &["a", "c"]);
        assert_eq!(fams[0].kind, Kind::Gauge);
        assert_eq!(fams[0].help.as_deref(), Some("tab help"));
        assert_eq!(
            fams[0].metrics.len(),
            1,
            "a_total is not part of a gauge family"
        );
        assert_eq!(fams[1].metrics.len(), 2);
    }

    #[test]
    fn crlf_and_garbage_lines() {
        let page = "a 1\r\na{x=\"y\" 2\r\na{x=\"z\"} nope\r\na{x=\"w\"} NaN\r\n";
        let fams = families(page, &["a"]);
        assert_eq!(fams[0].metrics.len(), 2);
        assert!(fams[0].metrics[1].value.is_nan());
    }
}
