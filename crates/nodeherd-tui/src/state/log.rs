//! The live log of the node shown in detail.
//!
//! Owns: [`LogView`]: the capped line buffer, pause, scroll, wrap and search. May not touch: the
//! journal follow itself (a worker) or drawing.

use std::collections::VecDeque;

use super::LOG_CAP;
use nodeherd_core::facts::systemd::JournalLine;
use nodeherd_core::inventory::NodeRef;

/// The live log of the node shown in detail.
#[derive(Debug, Clone, Default)]
pub struct LogView {
    pub node: Option<NodeRef>,
    /// Oldest first; each line with its sequence number.
    pub lines: VecDeque<(u64, JournalLine)>,
    pub next_seq: u64,
    /// When paused, only lines with seq below this are shown.
    pub paused_at: Option<u64>,
    pub wrap: bool,
    /// Lines scrolled up from the end.
    pub scroll: usize,
    /// Only lines containing this (case-insensitive) are shown, with matches highlighted.
    pub search: Option<String>,
    /// Following, ended, or the error that ended it.
    pub ended: Option<String>,
}

impl LogView {
    pub fn push(&mut self, line: JournalLine) {
        if self.lines.len() == LOG_CAP {
            self.lines.pop_front();
        }
        self.lines.push_back((self.next_seq, line));
        self.next_seq += 1;
    }
    /// The lines the view shows: up to the pause point, matching the search.
    pub fn visible(&self) -> impl Iterator<Item = &JournalLine> {
        let end = self.paused_at.unwrap_or(u64::MAX);
        let needle = self.search.as_ref().map(|s| s.to_lowercase());
        self.lines
            .iter()
            .filter(move |(seq, l)| {
                *seq < end
                    && needle
                        .as_ref()
                        .is_none_or(|n| l.message.to_lowercase().contains(n))
            })
            .map(|(_, l)| l)
    }
}
