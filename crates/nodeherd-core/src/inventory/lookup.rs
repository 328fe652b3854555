//! Why hosts or nodes cannot be found by name or selector: [`SelectorError`].
//!
//! Owns: the error values of [`super::Inventory::find_node`] and of `crate::selector`, with their
//! help texts (close names suggested). May not touch: selector parsing or evaluation (that is
//! `crate::selector`, which depends on the inventory, never the other way).

use std::fmt;

use crate::inventory::suggest;

/// Why a selector cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("empty selector")]
    Empty,
    #[error("bad pattern \"{pattern}\": {reason}")]
    BadPattern { pattern: String, reason: String },
    #[error("\"{term}\" matches no {what}")]
    NoMatch {
        term: String,
        what: &'static str,
        suggestions: Vec<String>,
    },
    #[error(
        "selector \"{selector}\" selects nothing: its exclusions or intersections remove every {what}"
    )]
    NothingLeft {
        selector: String,
        what: &'static str,
    },
    #[error("no node \"{spec}\"")]
    NoSuchNode {
        spec: String,
        suggestions: Vec<String>,
    },
    #[error("node name \"{spec}\" is ambiguous: {}", candidates.join(", "))]
    AmbiguousNode {
        spec: String,
        candidates: Vec<String>,
    },
}

impl miette::Diagnostic for SelectorError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("nodeherd::selector"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let near = |s: &[String]| {
            if s.is_empty() {
                None
            } else {
                Some(format!("did you mean {}?", suggest::quoted_list(s, "or")))
            }
        };
        let h = match self {
            SelectorError::Empty => Some(
                "write `all`, a group, a host, a glob like `bn-*`, or a list like `mainnet,!bn-2`"
                    .into(),
            ),
            SelectorError::BadPattern { .. } => Some(
                "patterns use letters, digits, '_', '.', '-' and the globs * ? [ab] [!a]".into(),
            ),
            SelectorError::NoMatch { suggestions, .. } => near(suggestions).or(Some(
                "`nodeherd check` lists the hosts and groups of the inventory".into(),
            )),
            SelectorError::NothingLeft { .. } => {
                Some("remove an exclusion (`!x`) or an intersection (`&x`)".into())
            }
            SelectorError::NoSuchNode { suggestions, .. } => {
                near(suggestions).or(Some("write host/node".into()))
            }
            SelectorError::AmbiguousNode { .. } => Some("write host/node to pick one".into()),
        };
        h.map(|s: String| Box::new(s) as Box<dyn fmt::Display>)
    }
}
