//! Configuration diagnostics: one [`Problem`] per mistake, all of a file set's problems gathered in
//! a [`ConfigError`] (the inventory's is [`InventoryError`]; playbooks and `alerts.toml` use the
//! same types).
//!
//! Owns: the typed problem kinds, their miette presentation (file, exact span, quoted value,
//! a hint; long lines cut by [`super::excerpt`]) and [`render`]. May not touch: parsing or
//! resolution logic (they only build problems).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};

use super::excerpt::{Excerpt, clean, line_col};

/// The class of a configuration problem; tests and tools can match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// The file could not be read, or the path holds no inventory.
    Io,
    /// The TOML itself does not parse (stops that file only).
    Syntax,
    /// A key that the format does not have.
    UnknownField,
    /// A value of the wrong TOML type.
    WrongType,
    /// A value of the right type that is not acceptable (bad port, unit, path, client...).
    InvalidValue,
    /// A required field is absent.
    MissingField,
    /// A name that does not refer to anything (jump host, group member, child group).
    UnknownReference,
    /// The same host or group defined twice, or two nodes of a host on one port.
    Duplicate,
    /// Jump hosts or nested groups that loop.
    Cycle,
    /// Two groups of one host disagree on a setting.
    Conflict,
    /// A secondary location attached to another problem.
    Note,
}

impl ProblemKind {
    /// The kind's name in codes and `--json` (`unknown_field`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::Io => "io",
            ProblemKind::Syntax => "syntax",
            ProblemKind::UnknownField => "unknown_field",
            ProblemKind::WrongType => "wrong_type",
            ProblemKind::InvalidValue => "invalid_value",
            ProblemKind::MissingField => "missing_field",
            ProblemKind::UnknownReference => "unknown_reference",
            ProblemKind::Duplicate => "duplicate",
            ProblemKind::Cycle => "cycle",
            ProblemKind::Conflict => "conflict",
            ProblemKind::Note => "note",
        }
    }
}

/// One inventory file's text, shared by every problem that points into it.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
    /// Absolute directory of the file: relative paths inside it are relative to this.
    pub base: std::path::PathBuf,
}

/// A place in one of the inventory's files.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Loc {
    pub file: usize,
    pub span: Range<usize>,
}

/// One mistake in a configuration file, pointing at the exact key or value.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    pub help: Option<String>,
    /// What kind of file (`inventory`, `playbook`, `alerts`): the first part of the code.
    domain: &'static str,
    /// The file's name and whole text, when the problem has a place.
    file: Option<(String, Arc<str>)>,
    /// Labels as written: text and span in the whole text (the first is primary).
    marks: Vec<(String, Range<usize>)>,
    /// What a report shows: the file's excerpt and the labels mapped into it.
    source: Option<Excerpt>,
    labels: Vec<LabeledSpan>,
    /// Where in `source` (for sorting: file index and offset).
    order: (usize, usize),
    related: Vec<Problem>,
}

impl Problem {
    /// A problem that has no place in a file (unreadable path, empty directory).
    pub(crate) fn without_source(kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            message: clean(message),
            help: None,
            domain: "inventory",
            file: None,
            marks: Vec::new(),
            source: None,
            labels: Vec::new(),
            order: (usize::MAX, 0),
            related: Vec::new(),
        }
    }

    /// A problem at `span` of the file `name` whose whole text is `text`, labelled `label`.
    pub(crate) fn in_text(
        name: &str,
        text: &Arc<str>,
        kind: ProblemKind,
        span: Range<usize>,
        label: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        let mut p = Problem::without_source(kind, message);
        p.order = (0, span.start);
        p.file = Some((name.to_string(), text.clone()));
        p.marks.push((clean(label), span));
        p.show();
        p
    }

    /// The kind of file, shown in the code (`playbook::unknown_field`); `inventory` by default.
    pub(crate) fn domain(mut self, domain: &'static str) -> Problem {
        self.domain = domain;
        for r in &mut self.related {
            r.domain = domain;
        }
        self
    }

    /// Rebuilds what a report shows from the file and the marks.
    fn show(&mut self) {
        let Some((name, text)) = &self.file else {
            return;
        };
        let spans: Vec<Range<usize>> = self.marks.iter().map(|(_, r)| r.clone()).collect();
        let (ex, shown) = Excerpt::new(name, text, &spans);
        self.labels = self
            .marks
            .iter()
            .zip(shown)
            .enumerate()
            .map(|(i, ((label, _), r))| {
                let span = to_span(&r);
                if i == 0 {
                    LabeledSpan::new_primary_with_span(Some(label.clone()), span)
                } else {
                    LabeledSpan::new_with_span(Some(label.clone()), span)
                }
            })
            .collect();
        self.source = Some(ex);
    }

    /// A problem at `loc`, labelled `label`.
    pub(crate) fn at(
        sources: &[SourceFile],
        kind: ProblemKind,
        loc: &Loc,
        label: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        let mut p = match sources.get(loc.file) {
            Some(f) => Problem::in_text(&f.name, &f.text, kind, loc.span.clone(), label, message),
            None => Problem::without_source(kind, message),
        };
        p.order = (loc.file, loc.span.start);
        p
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(clean(help));
        self
    }

    /// Points at a second place: an extra label when it is in the same file, else a related note.
    pub(crate) fn also(
        mut self,
        sources: &[SourceFile],
        loc: &Loc,
        label: impl Into<String>,
    ) -> Problem {
        let label = clean(label);
        if self.order.0 == loc.file && self.file.is_some() {
            self.marks.push((label, loc.span.clone()));
            self.show();
        } else {
            let name = sources.get(loc.file).map_or("?", |f| f.name.as_str());
            let note = Problem::at(
                sources,
                ProblemKind::Note,
                loc,
                label,
                format!("see also {name}"),
            );
            self.related.push(note);
        }
        self
    }

    /// File name this problem points into, if any.
    pub fn file_name(&self) -> Option<&str> {
        self.file.as_ref().map(|(name, _)| name.as_str())
    }

    /// The file, 1-based line and 1-based column (in characters) this problem points at.
    pub fn location(&self) -> Option<(&str, usize, usize)> {
        let (name, text) = self.file.as_ref()?;
        let at = self.marks.first()?.1.start.min(text.len());
        let (line, col) = line_col(text, at);
        let line_start = at - col;
        let chars = text.get(line_start..at).map_or(col, |s| s.chars().count());
        Some((name.as_str(), line + 1, chars + 1))
    }

    /// The code, e.g. `playbook::unknown_field`.
    pub fn code_name(&self) -> String {
        format!("{}::{}", self.domain, self.kind.name())
    }

    /// Other places this problem points at (in other files).
    pub fn related(&self) -> &[Problem] {
        &self.related
    }

    /// `file:line:col: message` (or just the message), for one-line and narrative output.
    pub fn one_line(&self) -> String {
        match self.location() {
            Some((f, l, c)) => format!("{f}:{l}:{c}: {}", self.message),
            None => self.message.clone(),
        }
    }

    pub(crate) fn sort_key(&self) -> (usize, usize) {
        self.order
    }
}

fn to_span(r: &Range<usize>) -> miette::SourceSpan {
    (r.start, r.end.saturating_sub(r.start)).into()
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code_name()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        match self.kind {
            ProblemKind::Note => Some(miette::Severity::Advice),
            _ => Some(miette::Severity::Error),
        }
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|p| p as &dyn Diagnostic)))
        }
    }
}

/// Every problem found in a set of configuration files (never empty), in file and line order.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// What was read: `the inventory`, `playbook playbooks/lab.toml`, ...
    pub what: String,
    /// The first part of the code: `inventory`, `playbook`, `alerts`.
    pub domain: &'static str,
    pub problems: Vec<Problem>,
}

/// The inventory's problems.
pub type InventoryError = ConfigError;

impl ConfigError {
    pub(crate) fn new(problems: Vec<Problem>) -> ConfigError {
        ConfigError::of("inventory", "the inventory", problems)
    }

    /// The problems of `what`, sorted by place, coded `domain::kind`.
    pub(crate) fn of(domain: &'static str, what: &str, problems: Vec<Problem>) -> ConfigError {
        let mut problems: Vec<Problem> = problems.into_iter().map(|p| p.domain(domain)).collect();
        problems.sort_by_key(Problem::sort_key);
        ConfigError {
            what: what.to_string(),
            domain,
            problems,
        }
    }

    /// A file of `domain` that cannot be read.
    pub fn io(domain: &'static str, name: &str, message: &str) -> ConfigError {
        let p = Problem::without_source(ProblemKind::Io, message)
            .help("check the path and its permissions");
        ConfigError::of(domain, name, vec![p])
    }

    /// Every problem as `file:line:col: message`, joined by `; ` (for one-line front ends).
    pub fn one_line(&self) -> String {
        let all: Vec<String> = self.problems.iter().map(Problem::one_line).collect();
        format!("{self}: {}", all.join("; "))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        let s = if n == 1 { "" } else { "s" };
        write!(f, "{n} problem{s} in {}", self.what)
    }
}

impl std::error::Error for ConfigError {}

impl Diagnostic for ConfigError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("nodeherd::{}", self.domain)))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}

/// Renders every problem with miette's graphical handler at a fixed width of 100 columns:
/// unicode and colours when `color`, plain ASCII otherwise (logs, pipes, snapshots).
pub fn render(err: &ConfigError, color: bool) -> String {
    let mut out = render_diagnostic(err, color);
    if out.is_empty() {
        out = err
            .problems
            .iter()
            .map(|p| format!("{}\n", p.one_line()))
            .collect();
    }
    out
}

/// Renders any diagnostic as [`render`] does (empty when the handler fails).
pub fn render_diagnostic(err: &dyn Diagnostic, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::none()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    if handler.render_report(&mut out, err).is_err() {
        out.clear();
    }
    out
}
