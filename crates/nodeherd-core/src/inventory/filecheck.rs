//! Checking one configuration file other than the inventory (a playbook, `alerts.toml`) against
//! its shape, with the inventory's problems and wording: unknown fields with a suggestion, wrong
//! types naming what was written, invalid values, missing fields; all of them, each at its span.
//!
//! Owns: [`FileCheck`] (the file, the problems found so far, readers of one spanned toml value).
//! May not touch: what a file means (its module says which fields exist and what they allow),
//! the file system (callers pass the text).

use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{Problem, ProblemKind};
use super::suggest;

/// A key of a spanned toml table.
pub(crate) type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;
/// A value of a spanned toml table.
pub(crate) type Val<'i> = Spanned<DeValue<'i>>;

/// One file being checked: its name, text and the problems found in it.
pub(crate) struct FileCheck {
    pub name: String,
    pub text: Arc<str>,
    pub problems: Vec<Problem>,
}

impl FileCheck {
    pub(crate) fn new(name: &str, text: &str) -> FileCheck {
        FileCheck {
            name: name.to_string(),
            text: text.into(),
            problems: Vec::new(),
        }
    }

    /// Records a TOML syntax error (the rest of the file is then not checked). Callers parse
    /// a clone of `text` with `DeTable::parse`, so the document can borrow it while problems are
    /// pushed here.
    pub(crate) fn syntax(&mut self, e: &toml::de::Error) {
        let msg = e.message().trim_end().to_string();
        let span = e.span().unwrap_or(0..0);
        self.problem(
            ProblemKind::Syntax,
            span,
            msg.clone(),
            format!("TOML syntax error: {msg}"),
            "fix the syntax here; the rest of this file was not checked",
        );
    }

    pub(crate) fn problem(
        &mut self,
        kind: ProblemKind,
        span: Range<usize>,
        label: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let p = Problem::in_text(&self.name, &self.text, kind, span, label, message).help(help);
        self.problems.push(p);
    }

    /// The value as written, on one line and at most 40 characters.
    pub(crate) fn shown(&self, span: Range<usize>) -> String {
        let text = self.text.get(span).unwrap_or("");
        let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let chars: Vec<char> = one_line.chars().filter(|c| !c.is_control()).collect();
        if chars.len() > 40 {
            format!("{}...", chars[..37].iter().collect::<String>())
        } else {
            chars.into_iter().collect()
        }
    }

    pub(crate) fn unknown_field(&mut self, ctx: &str, k: &Key<'_>, valid: &[&str]) {
        let name = k.get_ref().as_ref();
        let list = valid.join(", ");
        let help = match suggest::did_you_mean(name, valid.iter()) {
            Some(dym) => format!("{dym} valid fields here: {list}"),
            None => format!("valid fields here: {list}"),
        };
        self.problem(
            ProblemKind::UnknownField,
            k.span(),
            "unknown field",
            format!("unknown field \"{name}\" {ctx}"),
            help,
        );
    }

    /// `key` in `ctx` must be `expected` (e.g. "a string"); `example` is a line that would do.
    pub(crate) fn wrong_type(
        &mut self,
        ctx: &str,
        key: &str,
        expected: &str,
        example: &str,
        v: &Val<'_>,
    ) {
        let found = v.get_ref().type_str();
        let a = article(found);
        let shown = self.shown(v.span());
        self.problem(
            ProblemKind::WrongType,
            v.span(),
            format!("this is {a} {found}"),
            format!("{key} {ctx} must be {expected}, not {a} {found}: {shown}"),
            format!("write it like: {example}"),
        );
    }

    /// `key` in `ctx` has a value of the right type that is not acceptable.
    pub(crate) fn invalid(
        &mut self,
        ctx: &str,
        key: &str,
        span: Range<usize>,
        why: &str,
        help: impl Into<String>,
    ) {
        let shown = self.shown(span.clone());
        self.problem(
            ProblemKind::InvalidValue,
            span,
            why.to_string(),
            format!("{key} {shown} {ctx} {why}"),
            help,
        );
    }

    /// A required field is absent from the table written at `span`.
    pub(crate) fn missing(&mut self, ctx: &str, key: &str, span: Range<usize>, example: &str) {
        self.problem(
            ProblemKind::MissingField,
            span,
            format!("no {key} here"),
            format!("{ctx} has no {key}"),
            format!("add a line like: {example}"),
        );
    }

    pub(crate) fn table<'a, 'i>(
        &mut self,
        ctx: &str,
        key: &str,
        v: &'a Val<'i>,
    ) -> Option<&'a DeTable<'i>> {
        if let DeValue::Table(t) = v.get_ref() {
            Some(t)
        } else {
            self.wrong_type(ctx, key, "a table", &format!("[{key}]"), v);
            None
        }
    }

    pub(crate) fn string<'a>(
        &mut self,
        ctx: &str,
        key: &str,
        example: &str,
        v: &'a Val<'_>,
    ) -> Option<&'a str> {
        if let DeValue::String(s) = v.get_ref() {
            Some(s.as_ref())
        } else {
            self.wrong_type(ctx, key, "a string", example, v);
            None
        }
    }

    pub(crate) fn boolean(&mut self, ctx: &str, key: &str, v: &Val<'_>) -> Option<bool> {
        if let DeValue::Boolean(b) = v.get_ref() {
            Some(*b)
        } else {
            self.wrong_type(ctx, key, "true or false", &format!("{key} = true"), v);
            None
        }
    }

    /// A whole number within `range`.
    pub(crate) fn integer(
        &mut self,
        ctx: &str,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        v: &Val<'_>,
    ) -> Option<i64> {
        let example = format!("{key} = {}", range.start().max(&1));
        let DeValue::Integer(i) = v.get_ref() else {
            self.wrong_type(ctx, key, "a whole number", &example, v);
            return None;
        };
        let n = i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok();
        match n.filter(|n| range.contains(n)) {
            Some(n) => Some(n),
            None => {
                let (lo, hi) = (range.start(), range.end());
                let why = if *hi == i64::MAX {
                    format!("must be at least {lo}")
                } else {
                    format!("must be within {lo}-{hi}")
                };
                self.invalid(ctx, key, v.span(), &why, format!("write e.g. {example}"));
                None
            }
        }
    }

    /// An array of strings.
    pub(crate) fn strings<'a>(
        &mut self,
        ctx: &str,
        key: &str,
        example: &str,
        v: &'a Val<'_>,
    ) -> Option<Vec<(&'a str, Range<usize>)>> {
        let DeValue::Array(a) = v.get_ref() else {
            self.wrong_type(ctx, key, "a list of strings", example, v);
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in &**a {
            match item.get_ref() {
                DeValue::String(s) => out.push((s.as_ref(), item.span())),
                _ => {
                    let each = format!("each entry of {key}");
                    self.wrong_type(ctx, &each, "a string", example, item);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}

/// Entries of a table in the order they were written (toml's map is sorted by key).
pub(crate) fn in_order<'a, 'i>(t: &'a DeTable<'i>) -> Vec<(&'a Key<'i>, &'a Val<'i>)> {
    let mut v: Vec<_> = t.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

/// The field `key` of `t`, if written.
pub(crate) fn field<'a, 'i>(t: &'a DeTable<'i>, key: &str) -> Option<&'a Val<'i>> {
    t.iter().find(|(k, _)| k.get_ref() == key).map(|(_, v)| v)
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
