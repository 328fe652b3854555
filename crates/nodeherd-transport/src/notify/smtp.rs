//! A small async SMTP client: EHLO, STARTTLS (tokio-rustls, platform certificate verification), AUTH PLAIN,
//! MAIL/RCPT/DATA with dot-stuffing, QUIT. Enough to deliver alert e-mails through a submission server.
//!
//! Owns: the SMTP dialogue. May not touch: what the message says (`nodeherd_core::alerts::channels::build_email`),
//! where the password comes from (the caller resolves it). The password never appears in errors.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use nodeherd_core::alerts::channels::{Email, SmtpTls};

/// Each SMTP step must answer within this.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("SMTP {server}: {step}: {message}")]
    Protocol {
        server: String,
        step: &'static str,
        message: String,
    },
    #[error("SMTP {server}: i/o during {step}: {source}")]
    Io {
        server: String,
        step: &'static str,
        source: std::io::Error,
    },
    #[error("SMTP {server}: no answer within {}s during {step}", STEP_TIMEOUT.as_secs())]
    Timeout { server: String, step: &'static str },
}

/// Where and how to deliver.
#[derive(Clone)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// `(username, password)` for AUTH PLAIN (only ever sent after STARTTLS, or to localhost).
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("auth", &self.auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Conn {
    io: BufReader<Box<dyn Io>>,
    server: String,
}

impl Conn {
    /// Read one (possibly multi-line) reply: code and the text lines.
    async fn reply(&mut self, step: &'static str) -> Result<(u16, Vec<String>), SmtpError> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let server = self.server.clone();
            let n = match tokio::time::timeout(STEP_TIMEOUT, self.io.read_line(&mut line)).await {
                Ok(Ok(n)) => n,
                Ok(Err(source)) => {
                    return Err(SmtpError::Io {
                        server,
                        step,
                        source,
                    });
                }
                Err(_) => return Err(SmtpError::Timeout { server, step }),
            };
            if n == 0 || line.len() > 4096 || lines.len() > 100 {
                return Err(self.proto(step, "connection closed or reply too long".into()));
            }
            let line = line.trim_end().to_string();
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| self.proto(step, format!("bad reply {:?}", clip(&line))))?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if last {
                return Ok((code, lines));
            }
        }
    }

    fn proto(&self, step: &'static str, message: String) -> SmtpError {
        SmtpError::Protocol {
            server: self.server.clone(),
            step,
            message,
        }
    }

    async fn send(&mut self, step: &'static str, line: &str) -> Result<(), SmtpError> {
        let data = format!("{line}\r\n");
        self.send_raw(step, data.as_bytes()).await
    }

    async fn send_raw(&mut self, step: &'static str, data: &[u8]) -> Result<(), SmtpError> {
        let io = self.io.get_mut();
        match tokio::time::timeout(STEP_TIMEOUT, async {
            io.write_all(data).await?;
            io.flush().await
        })
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(SmtpError::Io {
                server: self.server.clone(),
                step,
                source,
            }),
            Err(_) => Err(SmtpError::Timeout {
                server: self.server.clone(),
                step,
            }),
        }
    }

    /// Send a command and require a reply code in `ok`.
    async fn cmd(
        &mut self,
        step: &'static str,
        line: &str,
        ok: &[u16],
    ) -> Result<Vec<String>, SmtpError> {
        self.send(step, line).await?;
        self.expect(step, ok).await
    }

    async fn expect(&mut self, step: &'static str, ok: &[u16]) -> Result<Vec<String>, SmtpError> {
        let (code, lines) = self.reply(step).await?;
        if ok.contains(&code) {
            Ok(lines)
        } else {
            Err(self.proto(
                step,
                format!("server answered {code} {}", clip(&lines.join(" "))),
            ))
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Lines starting with `.` get another `.`; bare LFs become CRLF; the message ends with CRLF.
pub fn dot_stuff(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 16);
    for line in message.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

fn is_local(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, tokio_rustls::rustls::Error> {
    use rustls_platform_verifier::ConfigVerifierExt;
    let cfg = tokio_rustls::rustls::ClientConfig::with_platform_verifier()?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// Deliver one e-mail.
pub async fn send(server: &SmtpServer, email: &Email) -> Result<(), SmtpError> {
    let name = format!("{}:{}", server.host, server.port);
    let tcp = tokio::time::timeout(
        STEP_TIMEOUT,
        TcpStream::connect((server.host.as_str(), server.port)),
    )
    .await
    .map_err(|_| SmtpError::Timeout {
        server: name.clone(),
        step: "connect",
    })?
    .map_err(|source| SmtpError::Io {
        server: name.clone(),
        step: "connect",
        source,
    })?;
    let _ = tcp.set_nodelay(true);
    let mut c = Conn {
        io: BufReader::new(Box::new(tcp) as Box<dyn Io>),
        server: name.clone(),
    };
    c.expect("greeting", &[220]).await?;
    let ehlo = "EHLO nodeherd";
    let mut caps = c.cmd("EHLO", ehlo, &[250]).await?;
    match server.tls {
        SmtpTls::Starttls => {
            if !caps.iter().any(|l| l.eq_ignore_ascii_case("STARTTLS")) {
                return Err(c.proto(
                    "STARTTLS",
                    "server does not offer STARTTLS (refusing to send in clear)".into(),
                ));
            }
            c.cmd("STARTTLS", "STARTTLS", &[220]).await?;
            let connector = tls_connector().map_err(|e| c.proto("TLS setup", e.to_string()))?;
            let sni = tokio_rustls::rustls::pki_types::ServerName::try_from(server.host.clone())
                .map_err(|e| c.proto("TLS setup", e.to_string()))?;
            let plain = c.io.into_inner();
            let tls = tokio::time::timeout(STEP_TIMEOUT, connector.connect(sni, plain))
                .await
                .map_err(|_| SmtpError::Timeout {
                    server: name.clone(),
                    step: "TLS handshake",
                })?
                .map_err(|source| SmtpError::Io {
                    server: name.clone(),
                    step: "TLS handshake",
                    source,
                })?;
            c = Conn {
                io: BufReader::new(Box::new(tls) as Box<dyn Io>),
                server: name.clone(),
            };
            caps = c.cmd("EHLO", ehlo, &[250]).await?;
        }
        SmtpTls::None => {
            if server.auth.is_some() && !is_local(&server.host) {
                return Err(c.proto(
                    "AUTH",
                    "refusing to send a password without TLS to a remote server".into(),
                ));
            }
        }
    }
    if let Some((user, pass)) = &server.auth {
        if !caps.iter().any(|l| {
            let u = l.to_ascii_uppercase();
            u.starts_with("AUTH") && u.split([' ', '=']).any(|m| m == "PLAIN")
        }) {
            return Err(c.proto("AUTH", "server does not offer AUTH PLAIN".into()));
        }
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
        // The reply is checked, but the line sent is never put in an error.
        c.cmd("AUTH", &format!("AUTH PLAIN {token}"), &[235])
            .await?;
    }
    let clean = |s: &str| {
        s.chars()
            .filter(|c| !c.is_control() && *c != '<' && *c != '>')
            .collect::<String>()
    };
    let addr = |s: &str| {
        // "Name <a@b>" -> a@b
        let s = s.trim();
        match (s.rfind('<'), s.rfind('>')) {
            (Some(a), Some(b)) if a < b => clean(&s[a + 1..b]),
            _ => clean(s),
        }
    };
    c.cmd(
        "MAIL FROM",
        &format!("MAIL FROM:<{}>", addr(&email.from)),
        &[250],
    )
    .await?;
    for to in &email.to {
        c.cmd("RCPT TO", &format!("RCPT TO:<{}>", addr(to)), &[250, 251])
            .await?;
    }
    c.cmd("DATA", "DATA", &[354]).await?;
    let body = dot_stuff(&email.message);
    let mut payload = body.into_bytes();
    payload.extend_from_slice(b".\r\n");
    c.send_raw("DATA", &payload).await?;
    c.expect("end of DATA", &[250]).await?;
    let _ = c.cmd("QUIT", "QUIT", &[221]).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff("a\r\n.b\n..c"), "a\r\n..b\r\n...c\r\n");
    }

    /// A scripted local SMTP server (no TLS): checks the dialogue and captures the message.
    #[tokio::test]
    async fn delivers_to_a_local_relay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut s = BufReader::new(s);
            let mut log = Vec::new();
            s.get_mut().write_all(b"220 relay ready\r\n").await.unwrap();
            let mut data = false;
            let mut message = String::new();
            loop {
                let mut line = String::new();
                if s.read_line(&mut line).await.unwrap() == 0 {
                    break;
                }
                if data {
                    if line == ".\r\n" {
                        data = false;
                        s.get_mut().write_all(b"250 queued\r\n").await.unwrap();
                    } else {
                        message.push_str(&line);
                    }
                    continue;
                }
                log.push(line.trim_end().to_string());
                let reply: &[u8] = if line.starts_with("EHLO") {
                    b"250-relay\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n"
                } else if line.starts_with("AUTH PLAIN") {
                    b"235 ok\r\n"
                } else if line.starts_with("DATA") {
                    data = true;
                    b"354 go\r\n"
                } else if line.starts_with("QUIT") {
                    s.get_mut().write_all(b"221 bye\r\n").await.unwrap();
                    break;
                } else {
                    b"250 ok\r\n"
                };
                s.get_mut().write_all(reply).await.unwrap();
            }
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
            (log, message)
        });
        let email = Email {
            from: "nodeherd <alerts@example.org>".into(),
            to: vec!["ops@example.org".into(), "b@example.org".into()],
            message: "Subject: x\r\n\r\nline\r\n.dot\r\n".into(),
        };
        send(
            &SmtpServer {
                host: "127.0.0.1".into(),
                port,
                tls: SmtpTls::None,
                auth: Some(("u".into(), "p".into())),
            },
            &email,
        )
        .await
        .unwrap();
        let (log, message) = server.await.unwrap();
        assert_eq!(log[0], "EHLO nodeherd");
        assert_eq!(log[1], "AUTH PLAIN AHUAcA==");
        assert_eq!(log[2], "MAIL FROM:<alerts@example.org>");
        assert_eq!(
            &log[3..5],
            ["RCPT TO:<ops@example.org>", "RCPT TO:<b@example.org>"]
        );
        assert_eq!(log.last().map(String::as_str), Some("QUIT"));
        assert!(message.contains("\r\n..dot\r\n"), "{message:?}");
    }

    #[tokio::test]
    async fn refuses_clear_text_without_starttls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"220 hi\r\n").await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
            s.write_all(b"250 relay\r\n").await.unwrap();
            let _ = s.read(&mut buf).await;
        });
        let e = send(
            &SmtpServer {
                host: "127.0.0.1".into(),
                port,
                tls: SmtpTls::Starttls,
                auth: Some(("u".into(), "secret-pass".into())),
            },
            &Email {
                from: "a@b".into(),
                to: vec!["c@d".into()],
                message: "x".into(),
            },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not offer STARTTLS"), "{e}");
        assert!(!e.contains("secret-pass"));
    }
}
