//! E-mail delivery through lettre's async SMTP transport (tokio, rustls with the platform verifier):
//! STARTTLS (required when asked: refused if the server does not offer it), implicit TLS ("SMTPS", 465) or
//! none (local relays only), AUTH PLAIN or LOGIN, whichever the server offers first.
//!
//! Owns: turning a channel's SMTP settings into a lettre transport (TLS mode, extra CA file, credentials,
//! timeouts) and the envelope. May not touch: what the message says (`nodeherd_core::alerts::email`),
//! where the password comes from (the caller resolves it). The password never appears in errors or `Debug`.

use std::path::PathBuf;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use nodeherd_core::alerts::channels::{Email, SmtpTls};

/// Each SMTP step (connect, every command) must answer within this.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// Before any byte is sent: the settings or the addresses cannot work.
    #[error("SMTP {server}: {message}")]
    Setup { server: String, message: String },
    /// The CA file named by `ca_file` could not be read or holds no certificate.
    #[error("SMTP {server}: ca_file {}: {message}", path.display())]
    CaFile {
        server: String,
        path: PathBuf,
        message: String,
    },
    /// lettre's error: connection, TLS, a refused command (with the server's answer), a timeout.
    #[error("SMTP {server}: {source}")]
    Send {
        server: String,
        source: lettre::transport::smtp::Error,
    },
}

/// Where and how to deliver.
#[derive(Clone)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Extra CA certificates (PEM) trusted for this server, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// `(username, password)` for AUTH PLAIN/LOGIN (never sent in clear to another host).
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("auth", &self.auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl SmtpServer {
    fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn setup(&self, message: impl Into<String>) -> SmtpError {
        SmtpError::Setup {
            server: self.name(),
            message: message.into(),
        }
    }

    fn tls_parameters(&self) -> Result<TlsParameters, SmtpError> {
        let mut params = TlsParameters::builder(self.host.clone());
        if let Some(path) = &self.ca_file {
            let ca = |message: String| SmtpError::CaFile {
                server: self.name(),
                path: path.clone(),
                message,
            };
            let pem = std::fs::read(path).map_err(|e| ca(e.to_string()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| ca(e.to_string()))?;
            params = params.add_root_certificate(cert);
        }
        params
            .build_rustls()
            .map_err(|e| self.setup(format!("TLS setup: {e}")))
    }

    /// The lettre transport for these settings (no connection yet).
    pub fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, SmtpError> {
        let tls = match self.tls {
            SmtpTls::Starttls => Tls::Required(self.tls_parameters()?),
            SmtpTls::Implicit => Tls::Wrapper(self.tls_parameters()?),
            SmtpTls::None => {
                if self.auth.is_some() && !is_local(&self.host) {
                    return Err(self.setup(
                        "refusing to send a password without TLS to a remote server \
                         (tls = \"none\" is for a relay on localhost)",
                    ));
                }
                Tls::None
            }
        };
        // "dangerous" only means "no TLS preset": the TLS mode is always set just below.
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.clone())
            .port(self.port)
            .tls(tls)
            .timeout(Some(STEP_TIMEOUT))
            .hello_name(ClientId::Domain("nodeherd".into()));
        if let Some((user, pass)) = &self.auth {
            b = b
                .credentials(Credentials::new(user.clone(), pass.clone()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(b.build())
    }
}

fn is_local(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// The bare address of `Name <a@b>` or `a@b`.
fn address(server: &SmtpServer, s: &str) -> Result<Address, SmtpError> {
    let s = s.trim();
    let bare = match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    };
    bare.trim()
        .parse()
        .map_err(|e| server.setup(format!("bad address {bare:?}: {e}")))
}

/// The envelope of `email`: its sender and every recipient.
pub fn envelope(server: &SmtpServer, email: &Email) -> Result<Envelope, SmtpError> {
    let from = address(server, &email.from)?;
    let to = email
        .to
        .iter()
        .map(|t| address(server, t))
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| server.setup(e.to_string()))
}

/// Deliver one e-mail (the message as built, dot-stuffed on the wire by lettre).
pub async fn send(server: &SmtpServer, email: &Email) -> Result<(), SmtpError> {
    let envelope = envelope(server, email)?;
    let transport = server.transport()?;
    transport
        .send_raw(&envelope, email.message.as_bytes())
        .await
        .map(|_| ())
        .map_err(|source| SmtpError::Send {
            server: server.name(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, tls: SmtpTls, auth: bool) -> SmtpServer {
        SmtpServer {
            host: host.into(),
            port: 2525,
            tls,
            ca_file: None,
            auth: auth.then(|| ("u".into(), "secret-pass".into())),
        }
    }

    #[test]
    fn envelope_takes_bare_addresses() {
        let s = server("127.0.0.1", SmtpTls::None, false);
        let e = envelope(
            &s,
            &Email {
                from: "nodeherd <alerts@example.org>".into(),
                to: vec!["ops@example.org".into(), "Bob <b@example.org>".into()],
                message: String::new(),
            },
        )
        .unwrap();
        assert_eq!(e.from().unwrap().to_string(), "alerts@example.org");
        let to: Vec<String> = e.to().iter().map(ToString::to_string).collect();
        assert_eq!(to, ["ops@example.org", "b@example.org"]);
        let bad = envelope(
            &s,
            &Email {
                from: "a@b".into(),
                to: vec!["not an address".into()],
                message: String::new(),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("bad address \"not an address\""), "{bad}");
    }

    #[test]
    fn no_password_in_clear_to_a_remote_host_and_none_in_debug() {
        let e = server("mx.example.org", SmtpTls::None, true)
            .transport()
            .unwrap_err()
            .to_string();
        assert!(e.contains("refusing to send a password without TLS"), "{e}");
        assert!(!e.contains("secret-pass"), "{e}");
        assert!(server("127.0.0.1", SmtpTls::None, true).transport().is_ok());
        let dbg = format!("{:?}", server("mx", SmtpTls::Starttls, true));
        assert!(!dbg.contains("secret-pass"), "{dbg}");
    }

    #[test]
    fn unreadable_ca_file_is_named() {
        let mut s = server("mx", SmtpTls::Implicit, false);
        s.ca_file = Some("/nonexistent/ca.pem".into());
        let e = s.transport().unwrap_err().to_string();
        assert!(
            e.starts_with("SMTP mx:2525: ca_file /nonexistent/ca.pem: "),
            "{e}"
        );
    }
}
