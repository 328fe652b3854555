//! Sending notifications to the configured channels and pinging the dead-man URL.
//!
//! Owns: reading secrets at send time (`token_env`/`token_file`, `url_env`/`url_file`), the HTTP client
//! (reqwest, timeouts, no redirects), SMTP delivery via [`crate::notify::smtp`] (lettre), and error messages that never
//! contain a secret (URLs are shown as scheme://host/… only). May not touch: what is sent (pure builders in
//! `nodeherd_core::alerts::channels`), alert state.

pub mod smtp;

use std::time::Duration;

use serde::Serialize;

use nodeherd_core::alerts::channels::{
    self, AlertsConfig, ChannelConfig, ChannelKind, SecretRef, Secrets, redact_url,
};
use nodeherd_core::alerts::{Notification, NotificationKind, alertmanager};

/// A channel must answer within this.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The outcome of one delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub channel: String,
    pub rule: String,
    pub host: String,
    pub node: Option<String>,
    pub kind: NotificationKind,
    /// `None` when delivered; otherwise why not (secret-free).
    pub error: Option<String>,
}

/// Why a secret could not be read (where it was looked for, never what it is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvUnset(String),
    #[error("cannot read {}: {kind}", path.display())]
    Unreadable {
        path: std::path::PathBuf,
        kind: std::io::ErrorKind,
    },
}

/// The HTTP client for channels could not be built (reqwest's reason, without a URL).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientError(reqwest::Error);

/// Why one HTTP request to a channel or the dead-man URL failed (URLs redacted).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Not an HTTP method (the http crate's reason).
    #[error("{0}")]
    Method(String),
    #[error("{shown}: {source}")]
    Send {
        shown: String,
        source: reqwest::Error,
    },
    #[error("{shown}: HTTP {code}")]
    Status { shown: String, code: u16 },
}

/// Why one notification was not delivered to one channel (secret-free).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("channel {label}: {source}")]
    Secret { label: String, source: SecretError },
    #[error("channel {label}: {source}")]
    Smtp {
        label: String,
        source: crate::notify::smtp::SmtpError,
    },
    #[error("{0}")]
    Build(#[from] channels::BuildError),
    #[error("channel {label}: {source}")]
    Http { label: String, source: HttpError },
}

/// Why the dead-man ping failed.
#[derive(Debug, thiserror::Error)]
pub enum DeadmanError {
    #[error("dead-man ping: {0}")]
    Secret(SecretError),
    #[error("dead-man ping: no URL")]
    NoUrl,
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("dead-man ping: {0}")]
    Http(HttpError),
}

/// Read a secret now. Errors say where it was looked for, never what it is.
pub fn resolve(r: &SecretRef) -> Result<Option<String>, SecretError> {
    if let Some(e) = &r.env {
        return match std::env::var(e) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_string())),
            _ => Err(SecretError::EnvUnset(e.clone())),
        };
    }
    if let Some(f) = &r.file {
        return match std::fs::read_to_string(f) {
            Ok(v) => Ok(Some(v.trim().to_string())),
            Err(err) => Err(SecretError::Unreadable {
                path: f.clone(),
                kind: err.kind(),
            }),
        };
    }
    Ok(r.value.clone())
}

/// The HTTP client for channels: timeouts, no redirects (a redirect could carry a token elsewhere).
pub fn client() -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .timeout(SEND_TIMEOUT)
        .connect_timeout(SEND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("nodeherd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ClientError(e.without_url()))
}

async fn send_http(client: &reqwest::Client, req: &channels::HttpRequest) -> Result<(), HttpError> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|e| HttpError::Method(e.to_string()))?;
    let mut rb = client.request(method, &req.url).body(req.body.clone());
    for (k, v) in &req.headers {
        rb = rb.header(k, v);
    }
    let shown = redact_url(&req.url);
    let resp = rb.send().await.map_err(|e| HttpError::Send {
        shown: shown.clone(),
        source: e.without_url(),
    })?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(HttpError::Status {
            shown,
            code: status.as_u16(),
        })
    }
}

/// Send one notification to one channel.
pub async fn send_one(
    client: &reqwest::Client,
    c: &ChannelConfig,
    n: &Notification,
) -> Result<(), DeliveryError> {
    let label = c.label();
    let secret = |source| DeliveryError::Secret {
        label: label.clone(),
        source,
    };
    let url = resolve(&c.url_ref()).map_err(secret)?;
    let token = resolve(&c.token_ref()).map_err(secret)?;
    match &c.kind {
        ChannelKind::Email {
            smtp_host,
            smtp_port,
            tls,
            ca_file,
            from,
            to,
            username,
        } => {
            let id = format!(
                "{}.{}.{}@nodeherd",
                n.at.timestamp(),
                n.rule,
                rand::random::<u32>()
            );
            let email = channels::build_email(from, to, n, &id);
            let server = crate::notify::smtp::SmtpServer {
                host: smtp_host.clone(),
                port: *smtp_port,
                tls: channels::SmtpTls::for_port(*smtp_port, *tls),
                ca_file: ca_file.clone(),
                auth: match (username, token) {
                    (Some(u), Some(p)) => Some((u.clone(), p)),
                    _ => None,
                },
            };
            crate::notify::smtp::send(&server, &email)
                .await
                .map_err(|source| DeliveryError::Smtp { label, source })
        }
        _ => {
            let req = channels::build_request(c, n, &Secrets { url, token })?;
            send_http(client, &req)
                .await
                .map_err(|source| DeliveryError::Http { label, source })
        }
    }
}

/// Send every notification to every channel that wants it (channels in parallel per notification).
pub async fn deliver(cfg: &AlertsConfig, notifications: &[Notification]) -> Vec<Delivery> {
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            let e = e.to_string();
            return notifications
                .iter()
                .flat_map(|n| {
                    cfg.channels
                        .iter()
                        .filter(|c| c.wants(n))
                        .map(|c| delivery(c, n, Some(e.clone())))
                        .collect::<Vec<_>>()
                })
                .collect();
        }
    };
    let mut out = Vec::new();
    for n in notifications {
        let sends = cfg.channels.iter().filter(|c| c.wants(n)).map(|c| {
            let client = &client;
            async move {
                let error = send_one(client, c, n).await.err().map(|e| e.to_string());
                delivery(c, n, error)
            }
        });
        out.extend(futures::future::join_all(sends).await);
    }
    out
}

/// Re-post still-firing alerts (`batch`, from `alerts::alertmanager::refresh`) to every `alertmanager`
/// channel that wants them, one `POST /api/v2/alerts` per channel, so the Alertmanager keeps them active.
/// One delivery per alert and channel.
pub async fn refresh_alertmanagers(cfg: &AlertsConfig, batch: &[Notification]) -> Vec<Delivery> {
    let channels: Vec<&ChannelConfig> = cfg
        .channels
        .iter()
        .filter(|c| matches!(c.kind, ChannelKind::Alertmanager { .. }))
        .collect();
    if channels.is_empty() || batch.is_empty() {
        return Vec::new();
    }
    let client = client();
    let mut out = Vec::new();
    for c in channels {
        let ChannelKind::Alertmanager { external_url } = &c.kind else {
            continue;
        };
        let mine: Vec<Notification> = batch.iter().filter(|n| c.wants(n)).cloned().collect();
        if mine.is_empty() {
            continue;
        }
        let error = match &client {
            Err(e) => Some(e.to_string()),
            Ok(client) => post_alertmanager(client, c, &mine, external_url.as_deref())
                .await
                .err()
                .map(|e| e.to_string()),
        };
        out.extend(mine.iter().map(|n| delivery(c, n, error.clone())));
    }
    out
}

async fn post_alertmanager(
    client: &reqwest::Client,
    c: &ChannelConfig,
    batch: &[Notification],
    external_url: Option<&str>,
) -> Result<(), DeliveryError> {
    let label = c.label();
    let url = resolve(&c.url_ref())
        .map_err(|source| DeliveryError::Secret {
            label: label.clone(),
            source,
        })?
        .ok_or_else(|| channels::BuildError::NoUrl {
            channel: label.clone(),
            from: c.url_ref().describe(),
        })?;
    let req = channels::HttpRequest {
        method: "POST",
        url: format!("{}/api/v2/alerts", url.trim_end_matches('/')),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: serde_json::to_vec(&alertmanager::api_body(batch, external_url)).unwrap_or_default(),
    };
    send_http(client, &req)
        .await
        .map_err(|source| DeliveryError::Http { label, source })
}

fn delivery(c: &ChannelConfig, n: &Notification, error: Option<String>) -> Delivery {
    Delivery {
        channel: c.label(),
        rule: n.rule.clone(),
        host: n.host.clone(),
        node: n.node.clone(),
        kind: n.kind,
        error,
    }
}

/// Hit the dead-man URL (GET). `Ok(false)` when none is configured.
pub async fn ping_deadman(cfg: &AlertsConfig) -> Result<bool, DeadmanError> {
    let Some(d) = &cfg.deadman else {
        return Ok(false);
    };
    let url = resolve(&d.url_ref())
        .map_err(DeadmanError::Secret)?
        .ok_or(DeadmanError::NoUrl)?;
    let client = client()?;
    let req = channels::HttpRequest {
        method: "GET",
        url,
        headers: vec![],
        body: vec![],
    };
    send_http(&client, &req)
        .await
        .map(|()| true)
        .map_err(DeadmanError::Http)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodeherd_core::alerts::Severity;
    use nodeherd_core::alerts::channels::parse_config;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn secrets_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok");
        std::fs::write(&f, "abc\n").unwrap();
        let r = SecretRef {
            file: Some(f.clone()),
            ..Default::default()
        };
        assert_eq!(resolve(&r).unwrap().as_deref(), Some("abc"));
        let missing = SecretRef {
            env: Some("NODEHERD_TEST_SURELY_UNSET_VAR".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&missing).unwrap_err().to_string(),
            "environment variable NODEHERD_TEST_SURELY_UNSET_VAR is not set"
        );
    }

    /// A webhook with a bearer token reaches a local receiver; an error does not show the URL's path.
    #[tokio::test]
    async fn webhook_reaches_local_receiver_and_errors_are_redacted() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            loop {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(p) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() >= p + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            s.write_all(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&got).to_string()
        });
        let dir = tempfile::tempdir().unwrap();
        let tok = dir.path().join("t");
        std::fs::write(&tok, "tok-123").unwrap();
        let cfg = parse_config(&format!(
            "[[channel]]\ntype = \"webhook\"\nurl = \"http://{addr}/secret-path/xyz\"\ntoken_file = {:?}\n",
            tok.display().to_string()
        ))
        .unwrap();
        let n = Notification {
            kind: NotificationKind::Firing,
            rule: "r".into(),
            severity: Severity::Page,
            pages: true,
            host: "h".into(),
            node: None,
            value: None,
            text: "t".into(),
            labels: Default::default(),
            since: chrono::Utc::now(),
            at: chrono::Utc::now(),
        };
        let d = deliver(&cfg, &[n]).await;
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /secret-path/xyz HTTP/1.1"), "{req}");
        assert!(
            req.contains("authorization: Bearer tok-123")
                || req.contains("Authorization: Bearer tok-123"),
            "{req}"
        );
        let err = d[0].error.clone().unwrap();
        assert!(err.contains("HTTP 500"), "{err}");
        assert!(
            !err.contains("secret-path") && !err.contains("tok-123"),
            "{err}"
        );
    }
}
