//! How a notification is named in one line: `[FIRING] unit-not-active on host-1/bn (page)`.
//!
//! Owns: the status word, the `host/node` place, the title and the message every channel and payload builder
//! shares (`channels`, `alertmanager`, the CLI's table). May not touch: channel configuration or
//! delivery formats (that is `channels` and `alertmanager`).

use crate::alerts::engine::{Notification, NotificationKind};
use crate::alerts::rules::Severity;

/// `FIRING` / `RESOLVED`.
pub fn status_word(n: &Notification) -> &'static str {
    match n.kind {
        NotificationKind::Firing => "FIRING",
        NotificationKind::Resolved => "RESOLVED",
    }
}

/// `host/node`, or the host alone for a host-level alert.
pub fn place(n: &Notification) -> String {
    match &n.node {
        Some(node) => format!("{}/{}", n.host, node),
        None => n.host.clone(),
    }
}

/// One-line title: `[FIRING] unit-not-active on host-1/bn (page)`.
pub fn title(n: &Notification) -> String {
    let sev = match n.severity {
        Severity::Page => "page",
        Severity::Warn => "warn",
        Severity::Info => "info",
    };
    format!("[{}] {} on {} ({sev})", status_word(n), n.rule, place(n))
}

/// Title plus the hint (or "resolved" text).
pub fn message(n: &Notification) -> String {
    match n.kind {
        NotificationKind::Firing => format!("{}\n{}", title(n), n.text),
        NotificationKind::Resolved => format!(
            "{}\nresolved after {}",
            title(n),
            humantime::format_duration(
                (n.at - n.since)
                    .to_std()
                    .map(|d| std::time::Duration::from_secs(d.as_secs()))
                    .unwrap_or_default()
            )
        ),
    }
}
