//! Notification channels: the `[[channel]]` / `[deadman]` configuration of `playbooks/alerts.toml` and pure
//! builders of what each channel is sent (HTTP request or e-mail), so payloads are tested without a network.
//!
//! Owns: [`AlertsConfig`] (rules + channels + dead-man from one file), [`ChannelConfig`], [`SecretRef`],
//! [`build_request`], [`build_email`], [`redact_url`]. May not touch: I/O: secrets are resolved by the
//! caller at send time and handed in as [`Secrets`]; sending is `nodeherd_transport::notify`.
//!
//! ```toml
//! [[channel]]
//! type = "slack"                      # webhook | alertmanager | slack | discord | telegram | ntfy | email
//! url_env = "SLACK_WEBHOOK_URL"       # the webhook URL is a secret: url_env / url_file (or url)
//! min_severity = "warn"               # info | warn | page (default warn: info goes nowhere)
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::alerts::engine::{Notification, NotificationKind};
use crate::alerts::rules::{Rule, RulesError, Severity, default_rules, parse_rules};

pub use crate::alerts::email::{Email, build_email};
pub use crate::alerts::wording::{message, status_word, title};

/// Where a secret comes from: read at send time, never printed. `value` inline is allowed but discouraged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    #[serde(default, skip_serializing)]
    pub value: Option<String>,
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

impl SecretRef {
    pub fn is_set(&self) -> bool {
        self.value.is_some() || self.env.is_some() || self.file.is_some()
    }
    /// Where it comes from, for messages (never the value).
    pub fn describe(&self) -> String {
        match (&self.env, &self.file, &self.value) {
            (Some(e), _, _) => format!("environment variable {e}"),
            (_, Some(f), _) => format!("file {}", f.display()),
            (_, _, Some(_)) => "the alerts file".into(),
            _ => "nowhere".into(),
        }
    }
}

/// The kinds of channel and their own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChannelKind {
    /// JSON POST of the notification to any URL; optional `Authorization: Bearer <token>`.
    /// `format = "alertmanager"` sends the Alertmanager webhook payload instead of nodeherd's own.
    Webhook {
        #[serde(default)]
        format: WebhookFormat,
    },
    /// An Alertmanager (`url = "http://127.0.0.1:9093"`): `POST /api/v2/alerts`, firing alerts re-sent
    /// every round (see `alerts::alertmanager`).
    Alertmanager {
        /// `generatorURL`/`externalURL` of the alerts (default `nodeherd://HOST/NODE?rule=RULE`).
        external_url: Option<String>,
    },
    /// Slack incoming webhook (`{"text": ...}`).
    Slack,
    /// Discord webhook (`{"content": ...}`, mentions disabled).
    Discord,
    /// Telegram bot API `sendMessage`; the token is the bot token.
    Telegram {
        chat_id: String,
        #[serde(default = "telegram_api")]
        api_base: String,
    },
    /// ntfy: POST the text to the topic URL with Title/Priority/Tags headers; optional bearer token.
    Ntfy,
    /// SMTP: port 587 and STARTTLS by default; implicit TLS by default on port 465 (`tls` overrides;
    /// `tls = "none"` only for a local relay). The password is the channel's `token_env`/`token_file`.
    Email {
        smtp_host: String,
        #[serde(default = "smtp_port")]
        smtp_port: u16,
        /// `starttls`, `implicit` or `none`; unset: [`SmtpTls::for_port`].
        tls: Option<SmtpTls>,
        /// A PEM file of extra CA certificates to trust for this server (e.g. a private CA), besides
        /// the system's; certificate checks are never switched off.
        ca_file: Option<PathBuf>,
        from: String,
        to: Vec<String>,
        username: Option<String>,
    },
}

fn telegram_api() -> String {
    "https://api.telegram.org".into()
}

fn smtp_port() -> u16 {
    587
}

/// The body a `webhook` channel sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// nodeherd's own JSON (`"version": 1`).
    #[default]
    Nodeherd,
    /// The Alertmanager webhook payload (`"version": "4"`, receiver = the channel's label).
    Alertmanager,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required; refused if the server does not offer it).
    Starttls,
    /// TLS from the first byte ("SMTPS", port 465).
    Implicit,
    /// No TLS: only for a relay on localhost (a password is never sent this way to another host).
    None,
}

impl SmtpTls {
    /// `set` when given, else implicit TLS on port 465 and STARTTLS on any other port.
    pub fn for_port(port: u16, set: Option<SmtpTls>) -> SmtpTls {
        set.unwrap_or(if port == 465 {
            SmtpTls::Implicit
        } else {
            SmtpTls::Starttls
        })
    }
}

/// One `[[channel]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelConfig {
    /// Shown in messages; defaults to the type.
    pub name: Option<String>,
    #[serde(flatten)]
    pub kind: ChannelKind,
    /// The URL (webhook, Slack, Discord, ntfy topic). Slack/Discord URLs are secrets: prefer `url_env`.
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    /// Bearer token (webhook, ntfy), bot token (Telegram), password (email).
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// Notifications below this severity are not sent here.
    #[serde(default = "default_min")]
    pub min_severity: Severity,
    /// Also send RESOLVED messages (default true).
    #[serde(default = "yes")]
    pub resolved: bool,
}

fn default_min() -> Severity {
    Severity::Warn
}

fn yes() -> bool {
    true
}

impl ChannelConfig {
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.type_name().into())
    }
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ChannelKind::Webhook { .. } => "webhook",
            ChannelKind::Alertmanager { .. } => "alertmanager",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Telegram { .. } => "telegram",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Email { .. } => "email",
        }
    }
    pub fn url_ref(&self) -> SecretRef {
        SecretRef {
            value: self.url.clone(),
            env: self.url_env.clone(),
            file: self.url_file.clone(),
        }
    }
    pub fn token_ref(&self) -> SecretRef {
        SecretRef {
            value: None,
            env: self.token_env.clone(),
            file: self.token_file.clone(),
        }
    }
    /// Whether `n` goes to this channel.
    pub fn wants(&self, n: &Notification) -> bool {
        n.severity >= self.min_severity && (n.kind == NotificationKind::Firing || self.resolved)
    }
    fn needs_url(&self) -> bool {
        !matches!(
            self.kind,
            ChannelKind::Telegram { .. } | ChannelKind::Email { .. }
        )
    }
    fn needs_token(&self) -> bool {
        matches!(self.kind, ChannelKind::Telegram { .. })
    }
}

/// `[deadman]`: a "still alive" URL hit (GET) on every `nodeherd alerts` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadMan {
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
}

impl DeadMan {
    pub fn url_ref(&self) -> SecretRef {
        SecretRef {
            value: self.url.clone(),
            env: self.url_env.clone(),
            file: self.url_file.clone(),
        }
    }
}

/// Everything `playbooks/alerts.toml` holds.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    pub rules: Vec<Rule>,
    /// True when the file had no `[[rule]]` and the built-in defaults are used.
    pub default_rules: bool,
    pub channels: Vec<ChannelConfig>,
    pub deadman: Option<DeadMan>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            rules: default_rules(),
            default_rules: true,
            channels: Vec::new(),
            deadman: None,
        }
    }
}

/// Parse an alerts file: `[[rule]]` (validated by [`parse_rules`]; none -> built-in defaults),
/// `[[channel]]` and `[deadman]`. All problems are reported at once.
pub fn parse_config(text: &str) -> Result<AlertsConfig, RulesError> {
    let mut table: toml::Table = toml::from_str(text)?;
    let channels = table.remove("channel");
    let deadman = table.remove("deadman");
    let mut problems = Vec::new();
    let channels: Vec<ChannelConfig> = match channels {
        None => Vec::new(),
        Some(v) => match v.try_into() {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("[[channel]]: {e}"));
                Vec::new()
            }
        },
    };
    let deadman: Option<DeadMan> = match deadman {
        None => None,
        Some(v) => match v.try_into() {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(format!("[deadman]: {e}"));
                None
            }
        },
    };
    for (i, c) in channels.iter().enumerate() {
        let who = format!("channel #{} ({})", i + 1, c.label());
        if c.needs_url() && !c.url_ref().is_set() {
            problems.push(format!("{who}: needs url, url_env or url_file"));
        }
        if c.needs_token() && !c.token_ref().is_set() {
            problems.push(format!("{who}: needs token_env or token_file"));
        }
        if let ChannelKind::Email { to, .. } = &c.kind {
            if to.is_empty() {
                problems.push(format!("{who}: needs at least one address in `to`"));
            }
        }
    }
    if deadman.as_ref().is_some_and(|d| !d.url_ref().is_set()) {
        problems.push("[deadman]: needs url, url_env or url_file".into());
    }
    let has_rules = table.contains_key("rule");
    let rules = if has_rules {
        let rest = toml::to_string(&table).map_err(|e| RulesError::Invalid(vec![e.to_string()]));
        match rest.and_then(|t| parse_rules(&t)) {
            Ok(r) => r,
            Err(RulesError::Invalid(p)) => {
                problems.extend(p);
                Vec::new()
            }
            Err(e) => {
                problems.push(e.to_string());
                Vec::new()
            }
        }
    } else {
        if let Some(k) = table.keys().next() {
            problems.push(format!("unknown key {k:?} (known: rule, channel, deadman)"));
        }
        default_rules()
    };
    if !problems.is_empty() {
        return Err(RulesError::Invalid(problems));
    }
    Ok(AlertsConfig {
        rules,
        default_rules: !has_rules,
        channels,
        deadman,
    })
}

// ---------------------------------------------------------------------------------------------
// Payloads

/// Secrets resolved for one send (never logged).
#[derive(Clone, Default)]
pub struct Secrets {
    pub url: Option<String>,
    pub token: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// An HTTP request to make (pure description).
#[derive(Clone, PartialEq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

/// `https://hooks.slack.com/services/T0/B0/XXX` -> `https://hooks.slack.com/…`: scheme and host only
/// (paths, queries and user info of webhook URLs carry secrets).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => return "…".into(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let tail = if rest.len() > authority.len() {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{tail}")
}

/// The generic webhook body (stable, versioned JSON).
pub fn webhook_json(n: &Notification) -> serde_json::Value {
    serde_json::json!({
        "version": 1,
        "source": "nodeherd",
        "status": match n.kind { NotificationKind::Firing => "firing", NotificationKind::Resolved => "resolved" },
        "rule": n.rule,
        "severity": n.severity,
        "pages": n.pages,
        "host": n.host,
        "node": n.node,
        "value": n.value,
        "title": title(n),
        "text": n.text,
        "labels": n.labels,
        "since": n.since,
        "at": n.at,
    })
}

pub fn slack_json(n: &Notification) -> serde_json::Value {
    let icon = match (n.kind, n.severity) {
        (NotificationKind::Resolved, _) => ":white_check_mark:",
        (_, Severity::Page) => ":rotating_light:",
        (_, Severity::Warn) => ":warning:",
        (_, Severity::Info) => ":information_source:",
    };
    serde_json::json!({ "text": format!("{icon} {}", message(n)) })
}

/// Discord limits content to 2000 characters; mentions are disabled so a hint cannot ping @everyone.
pub fn discord_json(n: &Notification) -> serde_json::Value {
    let text: String = message(n).chars().take(2000).collect();
    serde_json::json!({ "content": text, "allowed_mentions": { "parse": [] } })
}

/// Telegram `sendMessage`: only paging alerts make a sound.
pub fn telegram_json(n: &Notification, chat_id: &str) -> serde_json::Value {
    let text: String = message(n).chars().take(4096).collect();
    serde_json::json!({
        "chat_id": chat_id,
        "text": text,
        "disable_notification": !(n.pages && n.kind == NotificationKind::Firing),
    })
}

/// ntfy priority: 5 (urgent) only for paging FIRING; warn 3; info and RESOLVED 2.
pub fn ntfy_headers(n: &Notification) -> Vec<(String, String)> {
    let priority = match (n.kind, n.severity) {
        (NotificationKind::Firing, Severity::Page) => "5",
        (NotificationKind::Firing, Severity::Warn) => "3",
        _ => "2",
    };
    let tags = match n.kind {
        NotificationKind::Firing => "rotating_light",
        NotificationKind::Resolved => "white_check_mark",
    };
    vec![
        ("Title".into(), ascii_header(&title(n))),
        ("Priority".into(), priority.into()),
        ("Tags".into(), tags.into()),
    ]
}

/// Header values must be single-line; ntfy reads them as ASCII/UTF-8: drop control characters.
fn ascii_header(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// Why a request could not be built (a secret is missing); says where it was looked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("channel {channel}: no URL (looked in {from})")]
    NoUrl { channel: String, from: String },
    #[error("channel {channel}: no token (looked in {from})")]
    NoToken { channel: String, from: String },
    #[error("channel {channel}: e-mail is not sent over HTTP")]
    NotHttp { channel: String },
}

/// The HTTP request for `n` on channel `c` with the resolved secrets.
pub fn build_request(
    c: &ChannelConfig,
    n: &Notification,
    secrets: &Secrets,
) -> Result<HttpRequest, BuildError> {
    let url = || {
        secrets.url.clone().ok_or_else(|| BuildError::NoUrl {
            channel: c.label(),
            from: c.url_ref().describe(),
        })
    };
    let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap_or_default();
    let ct = || ("Content-Type".to_string(), "application/json".to_string());
    let bearer = |h: &mut Vec<(String, String)>| {
        if let Some(t) = &secrets.token {
            h.push(("Authorization".into(), format!("Bearer {}", t.trim())));
        }
    };
    Ok(match &c.kind {
        ChannelKind::Webhook { format } => {
            let mut headers = vec![ct()];
            bearer(&mut headers);
            let body = match format {
                WebhookFormat::Nodeherd => webhook_json(n),
                WebhookFormat::Alertmanager => {
                    crate::alerts::alertmanager::webhook_payload(n, &c.label(), None)
                }
            };
            HttpRequest {
                method: "POST",
                url: url()?,
                headers,
                body: json(body),
            }
        }
        ChannelKind::Alertmanager { external_url } => HttpRequest {
            method: "POST",
            url: format!("{}/api/v2/alerts", url()?.trim_end_matches('/')),
            headers: vec![ct()],
            body: json(crate::alerts::alertmanager::api_body(
                std::slice::from_ref(n),
                external_url.as_deref(),
            )),
        },
        ChannelKind::Slack => HttpRequest {
            method: "POST",
            url: url()?,
            headers: vec![ct()],
            body: json(slack_json(n)),
        },
        ChannelKind::Discord => HttpRequest {
            method: "POST",
            url: url()?,
            headers: vec![ct()],
            body: json(discord_json(n)),
        },
        ChannelKind::Telegram { chat_id, api_base } => {
            let token = secrets
                .token
                .as_deref()
                .ok_or_else(|| BuildError::NoToken {
                    channel: c.label(),
                    from: c.token_ref().describe(),
                })?;
            HttpRequest {
                method: "POST",
                url: format!(
                    "{}/bot{}/sendMessage",
                    api_base.trim_end_matches('/'),
                    token.trim()
                ),
                headers: vec![ct()],
                body: json(telegram_json(n, chat_id)),
            }
        }
        ChannelKind::Ntfy => {
            let mut headers = ntfy_headers(n);
            bearer(&mut headers);
            HttpRequest {
                method: "POST",
                url: url()?,
                headers,
                body: n.text.clone().into_bytes(),
            }
        }
        ChannelKind::Email { .. } => {
            return Err(BuildError::NotHttp { channel: c.label() });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use std::collections::BTreeMap;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn notif(kind: NotificationKind, severity: Severity) -> Notification {
        Notification {
            kind,
            rule: "unit-not-active".into(),
            severity,
            pages: severity == Severity::Page,
            host: "host-1".into(),
            node: Some("lodestar-bn".into()),
            value: None,
            text: "lodestar-bn on host-1 is not running: see `nodeherd logs host-1`".into(),
            labels: BTreeMap::from([("team".to_string(), "infra".to_string())]),
            since: t(0),
            at: t(150),
        }
    }

    fn channel(toml_text: &str) -> ChannelConfig {
        parse_config(toml_text).unwrap().channels.remove(0)
    }

    fn snap(name: &str, req: &HttpRequest) {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&req.body).into())
        });
        let v = serde_json::json!({
            "method": req.method,
            "url": req.url,
            "headers": req.headers,
            "body": body,
        });
        let mut s = insta::Settings::clone_current();
        s.set_snapshot_path(concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/snapshots"
        ));
        s.set_prepend_module_to_snapshot(false);
        s.bind(|| insta::assert_json_snapshot!(name, v));
    }

    fn secrets(url: &str, token: Option<&str>) -> Secrets {
        Secrets {
            url: Some(url.into()),
            token: token.map(str::to_string),
        }
    }

    #[test]
    fn webhook_payload() {
        let c = channel(
            "[[channel]]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\ntoken_env = \"HOOK_TOKEN\"\n",
        );
        let n = notif(NotificationKind::Firing, Severity::Page);
        let r = build_request(
            &c,
            &n,
            &secrets("http://127.0.0.1:9/hook", Some("s3cret\n")),
        )
        .unwrap();
        snap("channel_webhook_firing", &r);
        let resolved = notif(NotificationKind::Resolved, Severity::Page);
        snap(
            "channel_webhook_resolved",
            &build_request(&c, &resolved, &secrets("http://127.0.0.1:9/hook", None)).unwrap(),
        );
    }

    #[test]
    fn slack_and_discord_payloads() {
        let s = channel("[[channel]]\ntype = \"slack\"\nurl_env = \"SLACK_URL\"\n");
        let n = notif(NotificationKind::Firing, Severity::Warn);
        snap(
            "channel_slack_firing",
            &build_request(
                &s,
                &n,
                &secrets("https://hooks.slack.com/services/T/B/X", None),
            )
            .unwrap(),
        );
        let d = channel("[[channel]]\ntype = \"discord\"\nurl_file = \"/etc/nodeherd/discord\"\n");
        let mut loud = notif(NotificationKind::Firing, Severity::Page);
        loud.text = "@everyone ".repeat(300);
        let r = build_request(
            &d,
            &loud,
            &secrets("https://discord.com/api/webhooks/1/x", None),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["content"].as_str().unwrap().chars().count(), 2000);
        snap(
            "channel_discord_resolved",
            &build_request(
                &d,
                &notif(NotificationKind::Resolved, Severity::Page),
                &secrets("https://discord.com/api/webhooks/1/x", None),
            )
            .unwrap(),
        );
    }

    #[test]
    fn telegram_payload_and_missing_token() {
        let c = channel(
            "[[channel]]\ntype = \"telegram\"\nchat_id = \"-100123\"\ntoken_env = \"TG_TOKEN\"\n",
        );
        let info = notif(NotificationKind::Firing, Severity::Info);
        let r = build_request(&c, &info, &secrets("", Some("123:ABC"))).unwrap();
        assert_eq!(r.url, "https://api.telegram.org/bot123:ABC/sendMessage");
        snap("channel_telegram_info_is_silent", &r);
        let page = notif(NotificationKind::Firing, Severity::Page);
        let r = build_request(&c, &page, &secrets("", Some("123:ABC"))).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["disable_notification"], false);
        let e = build_request(&c, &page, &Secrets::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "channel telegram: no token (looked in environment variable TG_TOKEN)"
        );
        // the token never shows in Debug output
        assert!(!format!("{r:?}").contains("ABC"), "{r:?}");
    }

    #[test]
    fn ntfy_priorities() {
        let c = channel(
            "[[channel]]\ntype = \"ntfy\"\nurl = \"https://ntfy.sh/my-topic\"\nmin_severity = \"info\"\n",
        );
        let r = build_request(
            &c,
            &notif(NotificationKind::Firing, Severity::Page),
            &secrets("https://ntfy.sh/my-topic", None),
        )
        .unwrap();
        snap("channel_ntfy_page", &r);
        let prio = |k, s| {
            build_request(&c, &notif(k, s), &secrets("https://ntfy.sh/t", None))
                .unwrap()
                .headers
                .into_iter()
                .find(|(k, _)| k == "Priority")
                .map(|(_, v)| v)
                .unwrap()
        };
        assert_eq!(prio(NotificationKind::Firing, Severity::Warn), "3");
        assert_eq!(prio(NotificationKind::Firing, Severity::Info), "2");
        assert_eq!(prio(NotificationKind::Resolved, Severity::Page), "2");
    }

    #[test]
    fn email_message() {
        let n = notif(NotificationKind::Firing, Severity::Page);
        let e = build_email(
            "nodeherd <alerts@example.org>",
            &["ops@example.org".into()],
            &n,
            "1800000150.unit-not-active@nodeherd",
        );
        assert!(
            e.message
                .contains("\r\nSubject: [FIRING] unit-not-active on host-1/lodestar-bn (page)\r\n")
        );
        assert!(e.message.contains("X-Priority: 1\r\n"));
        assert!(
            !e.message.replace("\r\n", "").contains('\n'),
            "bare LF in message"
        );
        let v = serde_json::json!({ "from": e.from, "to": e.to, "message": e.message.split("\r\n").collect::<Vec<_>>() });
        let mut s = insta::Settings::clone_current();
        s.set_snapshot_path(concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/snapshots"
        ));
        s.set_prepend_module_to_snapshot(false);
        s.bind(|| insta::assert_json_snapshot!("channel_email_firing", v));
    }

    #[test]
    fn email_tls_defaults_by_port_and_keys() {
        let email = |extra: &str| {
            channel(&format!(
                "[[channel]]\ntype = \"email\"\nsmtp_host = \"mx\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n{extra}"
            ))
            .kind
        };
        let tls_of = |k: ChannelKind| match k {
            ChannelKind::Email { smtp_port, tls, .. } => SmtpTls::for_port(smtp_port, tls),
            _ => panic!("not email"),
        };
        assert_eq!(tls_of(email("")), SmtpTls::Starttls);
        assert_eq!(tls_of(email("smtp_port = 465\n")), SmtpTls::Implicit);
        assert_eq!(tls_of(email("smtp_port = 25\n")), SmtpTls::Starttls);
        assert_eq!(
            tls_of(email("smtp_port = 465\ntls = \"starttls\"\n")),
            SmtpTls::Starttls
        );
        assert_eq!(tls_of(email("tls = \"implicit\"\n")), SmtpTls::Implicit);
        assert_eq!(tls_of(email("tls = \"none\"\n")), SmtpTls::None);
        let ChannelKind::Email { ca_file, .. } = email("ca_file = \"/etc/ca.pem\"\n") else {
            panic!("not email")
        };
        assert_eq!(ca_file, Some(PathBuf::from("/etc/ca.pem")));
        let e = parse_config(
            "[[channel]]\ntype = \"email\"\nsmtp_host = \"mx\"\nfrom = \"a@b\"\nto = [\"c@d\"]\ntls = \"ssl\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ssl"), "{e}");
    }

    #[test]
    fn severity_filter_and_resolved_flag() {
        let c = channel("[[channel]]\ntype = \"slack\"\nurl = \"x\"\nresolved = false\n");
        assert!(!c.wants(&notif(NotificationKind::Firing, Severity::Info)));
        assert!(c.wants(&notif(NotificationKind::Firing, Severity::Warn)));
        assert!(!c.wants(&notif(NotificationKind::Resolved, Severity::Page)));
    }

    #[test]
    fn config_problems_are_reported_together() {
        let e = parse_config(
            "[[channel]]\ntype = \"slack\"\n\n[[channel]]\ntype = \"telegram\"\nchat_id = \"1\"\n\n[deadman]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("channel #1 (slack): needs url"), "{e}");
        assert!(e.contains("channel #2 (telegram): needs token_env"), "{e}");
        assert!(e.contains("[deadman]: needs url"), "{e}");
        let e = parse_config("[[channel]]\ntype = \"pager\"\nurl = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pager"), "{e}");
        let ok = parse_config("[deadman]\nurl_env = \"HC\"\n").unwrap();
        assert!(ok.default_rules && !ok.rules.is_empty());
        let custom = parse_config("[[rule]]\nname = \"down\"\ncondition = \"unit_not_active\"\nfor = \"5s\"\nseverity = \"page\"\n").unwrap();
        assert_eq!(custom.rules.len(), 1);
        assert!(!custom.default_rules);
    }

    #[test]
    fn redaction_keeps_scheme_and_host_only() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact_url("https://user:pw@api.telegram.org/bot1:AA/sendMessage?x=1"),
            "https://api.telegram.org/…"
        );
        assert_eq!(redact_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(redact_url("garbage"), "…");
    }
}
