//! Inventory diagnostics: one [`Problem`] per mistake, all of them gathered in [`InventoryError`].
//!
//! Owns: the typed problem kinds, their miette presentation (file, exact span, quoted value,
//! a hint) and [`render`]. May not touch: parsing or resolution logic (they only build problems).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode,
};

/// The class of an inventory problem; tests and tools can match on it.
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
    fn code(self) -> &'static str {
        match self {
            ProblemKind::Io => "inventory::io",
            ProblemKind::Syntax => "inventory::syntax",
            ProblemKind::UnknownField => "inventory::unknown_field",
            ProblemKind::WrongType => "inventory::wrong_type",
            ProblemKind::InvalidValue => "inventory::invalid_value",
            ProblemKind::MissingField => "inventory::missing_field",
            ProblemKind::UnknownReference => "inventory::unknown_reference",
            ProblemKind::Duplicate => "inventory::duplicate",
            ProblemKind::Cycle => "inventory::cycle",
            ProblemKind::Conflict => "inventory::conflict",
            ProblemKind::Note => "inventory::note",
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

/// One mistake in the inventory, pointing at the exact key or value.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    pub help: Option<String>,
    source: Option<NamedSource<Arc<str>>>,
    /// Where in `source` (for sorting: file index and offset).
    order: (usize, usize),
    labels: Vec<LabeledSpan>,
    related: Vec<Problem>,
}

impl Problem {
    /// A problem that has no place in a file (unreadable path, empty directory).
    pub(crate) fn without_source(kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            message: clean(message),
            help: None,
            source: None,
            order: (usize::MAX, 0),
            labels: Vec::new(),
            related: Vec::new(),
        }
    }

    /// A problem at `loc`, labelled `label`.
    pub(crate) fn at(
        sources: &[SourceFile],
        kind: ProblemKind,
        loc: &Loc,
        label: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        let source = sources
            .get(loc.file)
            .map(|f| NamedSource::new(&f.name, f.text.clone()).with_language("toml"));
        Problem {
            kind,
            message: clean(message),
            help: None,
            source,
            order: (loc.file, loc.span.start),
            labels: vec![LabeledSpan::new_primary_with_span(
                Some(label.into()),
                to_span(&loc.span),
            )],
            related: Vec::new(),
        }
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
        if self.order.0 == loc.file {
            self.labels
                .push(LabeledSpan::new_with_span(Some(label), to_span(&loc.span)));
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
        self.source.as_ref().map(miette::NamedSource::name)
    }

    pub(crate) fn sort_key(&self) -> (usize, usize) {
        self.order
    }
}

/// Escapes control characters (ESC, newlines...) so a value quoted in a message cannot drive the terminal.
fn clean(s: impl Into<String>) -> String {
    let s = s.into();
    if !s.chars().any(char::is_control) {
        return s;
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect()
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
        Some(Box::new(self.kind.code()))
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

/// Every problem found in an inventory (never empty), in file and line order.
#[derive(Debug, Clone, thiserror::Error, Diagnostic)]
#[error("{} problem{} in the inventory", problems.len(), if problems.len() == 1 { "" } else { "s" })]
#[diagnostic(code(nodeherd::inventory))]
pub struct InventoryError {
    #[related]
    pub problems: Vec<Problem>,
}

impl InventoryError {
    pub(crate) fn new(mut problems: Vec<Problem>) -> InventoryError {
        problems.sort_by_key(Problem::sort_key);
        InventoryError { problems }
    }
}

/// Renders every problem with miette's graphical handler at a fixed width of 100 columns:
/// unicode and colours when `color`, plain ASCII otherwise (logs, pipes, snapshots).
pub fn render(err: &InventoryError, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::none()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    if handler.render_report(&mut out, err).is_err() {
        // Rendering into a String cannot fail in practice; fall back to plain messages.
        out = err.problems.iter().map(|p| format!("{p}\n")).collect();
    }
    out
}
