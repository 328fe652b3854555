//! The `email` channel against a real SMTP server: aiosmtpd (Debian's `python3-aiosmtpd`, installed by
//! `.ci/run`) started by each test on a loopback port, with a certificate signed by a CA made here with
//! `openssl` (trusted by the channel's `ca_file`, never by switching verification off). The channel is
//! parsed from `alerts.toml` text and sent through `notify::send_one`, as `nodeherd alerts` does.
//! `python3-aiosmtpd` and `openssl` are required: a missing one fails, never skips.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure with its location

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nodeherd_core::alerts::Severity;
use nodeherd_core::alerts::channels::parse_config;
use nodeherd_core::alerts::engine::{Notification, NotificationKind};
use nodeherd_transport::notify;
use serde_json::Value;

const USER: &str = "alerts";
const PASSWORD: &str = "s3cret-smtp-pass";

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (apt-get install openssl)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1/localhost signed by it: (ca.pem, cert.pem, key.pem).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| dir.join(n);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-days",
            "2",
            "-subj",
            "/CN=nodeherd test CA",
        ])
        .args(ec)
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new("openssl")
        .args(["req", "-subj", "/CN=localhost"])
        .args(ec)
        .arg("-keyout")
        .arg(p("srv.key"))
        .arg("-out")
        .arg(p("srv.csr")));
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("srv.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("srv.pem")));
    (p("ca.pem"), p("srv.pem"), p("srv.key"))
}

/// A running aiosmtpd; killed on drop.
struct Smtpd {
    child: Child,
    port: u16,
    spool: PathBuf,
    ca: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtpd {
    fn start(mode: &str) -> Smtpd {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = certificates(dir.path());
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtpd.py");
        // Debian's interpreter: python3-aiosmtpd is installed for it, not for other pythons on PATH.
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args([mode, &port.to_string()])
            .args([&cert, &key, &spool])
            .args([USER, PASSWORD])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "READY",
            "aiosmtpd did not start (apt-get install python3-aiosmtpd)"
        );
        Smtpd {
            child,
            port,
            spool,
            ca,
            dir,
        }
    }

    /// Every message it accepted, in order.
    fn received(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.spool)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    /// The `[[channel]]` of an `alerts.toml` for this server (`extra` adds/overrides keys).
    fn channel_toml(&self, host: &str, password: &str, extra: &str) -> String {
        let pass = self.dir.path().join("smtp-password");
        std::fs::write(&pass, format!("{password}\n")).unwrap();
        format!(
            "[[channel]]\ntype = \"email\"\nsmtp_host = \"{host}\"\nsmtp_port = {}\n\
             from = \"nodeherd <nodeherd@example.org>\"\nto = [\"ops@example.org\", \"Oncall <oncall@example.org>\"]\n\
             username = \"{USER}\"\ntoken_file = {:?}\n{extra}",
            self.port,
            pass.display().to_string()
        )
    }

    fn ca_line(&self) -> String {
        format!("ca_file = {:?}\n", self.ca.display().to_string())
    }
}

fn notification() -> Notification {
    Notification {
        kind: NotificationKind::Firing,
        rule: "unit-not-active".into(),
        severity: Severity::Page,
        pages: true,
        host: "bn-1".into(),
        node: Some("lodestar-bn".into()),
        value: Some(".5".into()),
        text: ".leading dot".into(),
        labels: Default::default(),
        since: chrono::Utc::now(),
        at: chrono::Utc::now(),
    }
}

/// Send through the channel configured by `toml`: the delivery error, if any, and how long it took.
fn deliver(toml: &str) -> (Option<String>, Duration) {
    let cfg = parse_config(toml).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = notify::client().unwrap();
    let t = Instant::now();
    let r = rt.block_on(notify::send_one(&client, &cfg.channels[0], &notification()));
    (r.err().map(|e| e.to_string()), t.elapsed())
}

fn check_delivered(got: &Value, mechanism: &str) {
    assert_eq!(got["tls"], true, "{got}");
    assert_eq!(got["login"], USER, "{got}");
    assert_eq!(got["mechanism"], mechanism, "{got}");
    assert_eq!(got["mail_from"], "nodeherd@example.org", "{got}");
    assert_eq!(
        got["rcpt_tos"],
        serde_json::json!(["ops@example.org", "oncall@example.org"]),
        "{got}"
    );
    let content = got["content"].as_str().unwrap();
    assert!(
        content.contains("Subject: [FIRING] unit-not-active on bn-1/lodestar-bn (page)\r\n"),
        "{content}"
    );
    // dot-stuffed on the wire by the client, un-stuffed by the server: the line arrives as written
    assert!(content.contains("\r\n.leading dot\r\n"), "{content}");
    assert!(content.contains("\r\nvalue: .5\r\n"), "{content}");
}

#[test]
fn starttls_with_ca_file_delivers_with_auth_plain() {
    let smtpd = Smtpd::start("starttls");
    let (err, took) = deliver(&smtpd.channel_toml("127.0.0.1", PASSWORD, &smtpd.ca_line()));
    assert_eq!(err, None);
    let got = smtpd.received();
    assert_eq!(got.len(), 1);
    check_delivered(&got[0], "PLAIN");
    eprintln!("STARTTLS delivery took {took:?}");
}

#[test]
fn implicit_tls_by_port_465_style_setting_delivers_with_auth_login() {
    let smtpd = Smtpd::start("implicit");
    // `tls = "implicit"`: the default on port 465; this server listens on a free port instead.
    let extra = format!("tls = \"implicit\"\n{}", smtpd.ca_line());
    let (err, took) = deliver(&smtpd.channel_toml("localhost", PASSWORD, &extra));
    assert_eq!(err, None);
    let got = smtpd.received();
    assert_eq!(got.len(), 1);
    check_delivered(&got[0], "LOGIN");
    eprintln!("implicit TLS delivery took {took:?}");
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused() {
    let smtpd = Smtpd::start("starttls");
    let (err, _) = deliver(&smtpd.channel_toml("127.0.0.1", PASSWORD, ""));
    let err = err.expect("delivered without trusting the CA");
    assert!(err.starts_with("channel email: SMTP 127.0.0.1:"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(smtpd.received().is_empty());
    // trusted CA, but the certificate names other hosts
    let (err, _) = deliver(&smtpd.channel_toml("127.0.0.2", PASSWORD, &smtpd.ca_line()));
    assert!(err.is_some(), "a certificate for another name was accepted");
    assert!(smtpd.received().is_empty());
}

#[test]
fn a_wrong_password_is_refused_and_never_shown() {
    let smtpd = Smtpd::start("starttls");
    let (err, _) = deliver(&smtpd.channel_toml("127.0.0.1", "wrong-pass", &smtpd.ca_line()));
    let err = err.expect("delivered with a wrong password");
    assert!(err.contains("535"), "{err}");
    assert!(!err.contains("wrong-pass"), "{err}");
    assert!(smtpd.received().is_empty());
}

#[test]
fn starttls_not_offered_is_refused_before_any_password() {
    let smtpd = Smtpd::start("plain");
    let (err, _) = deliver(&smtpd.channel_toml("127.0.0.1", PASSWORD, &smtpd.ca_line()));
    let err = err.expect("sent without STARTTLS");
    assert!(!err.contains(PASSWORD), "{err}");
    assert!(smtpd.received().is_empty());
}

#[test]
fn tls_none_to_a_local_relay_delivers() {
    let smtpd = Smtpd::start("plain");
    let toml = smtpd
        .channel_toml("127.0.0.1", PASSWORD, "tls = \"none\"\n")
        .replace("username = \"alerts\"\n", "");
    let (err, _) = deliver(&toml);
    assert_eq!(err, None);
    let got = smtpd.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["tls"], false);
    assert_eq!(got[0]["login"], Value::Null);
}
