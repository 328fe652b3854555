//! The e-mail a notification becomes: envelope and RFC 5322 message (pure; `date` comes from the
//! notification, the message id is passed in). Re-exported by `alerts::channels`.
//!
//! Owns: [`Email`], [`build_email`]. May not touch: SMTP (`nodeherd_transport::notify::smtp`).

use crate::alerts::engine::{Notification, NotificationKind};
use crate::alerts::wording::{message, title};

/// An e-mail to send: envelope and the RFC 5322 message (CRLF line ends, dot-stuffing is the sender's).
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub from: String,
    pub to: Vec<String>,
    pub message: String,
}

/// Keep header text on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The message for `n` (`date` and `message_id` passed in so the builder stays pure).
pub fn build_email(from: &str, to: &[String], n: &Notification, message_id: &str) -> Email {
    let subject = one_line(&title(n));
    let subject = if subject.is_ascii() {
        subject
    } else {
        use base64::Engine as _;
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(subject.as_bytes())
        )
    };
    let mut m = String::new();
    m.push_str(&format!("From: {}\r\n", one_line(from)));
    m.push_str(&format!(
        "To: {}\r\n",
        to.iter()
            .map(|t| one_line(t))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    m.push_str(&format!("Subject: {subject}\r\n"));
    m.push_str(&format!("Date: {}\r\n", n.at.to_rfc2822()));
    m.push_str(&format!("Message-ID: <{}>\r\n", one_line(message_id)));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    m.push_str("Content-Transfer-Encoding: 8bit\r\n");
    if n.pages && n.kind == NotificationKind::Firing {
        m.push_str("X-Priority: 1\r\n");
    }
    m.push_str("\r\n");
    let body = format!(
        "{}\r\n\r\nrule: {}\r\nseverity: {:?}\r\nhost: {}\r\nnode: {}\r\nvalue: {}\r\nsince: {}\r\n",
        message(n),
        n.rule,
        n.severity,
        n.host,
        n.node.as_deref().unwrap_or("-"),
        n.value.as_deref().unwrap_or("-"),
        n.since.to_rfc3339()
    );
    for line in body.split('\n') {
        m.push_str(line.trim_end_matches('\r'));
        m.push_str("\r\n");
    }
    Email {
        from: from.to_string(),
        to: to.to_vec(),
        message: m,
    }
}
