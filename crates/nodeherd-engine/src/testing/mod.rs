//! Test doubles for the engine's seams: a scripted [`FakeRemote`] behind
//! [`nodeherd_transport::ssh::Session`], and a [`fake_pool`] handing such fakes out.
//!
//! Owns: matching a command's rendered text (exact, prefix, substring or a predicate) to canned
//! stdout/stderr/exit status, recording every command and forward, simulating a lost link, and
//! answering HTTP over forwards (e.g. `/eth/v1/node/health`). May not touch: SSH, the network, or
//! the host's files; compiled only for tests (`cfg(test)` or the `testing` feature).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use nodeherd_core::remote::{Command, Target};
use nodeherd_transport::ssh::{
    BoxStream, ConnectOptions, ConnectionInfo, Connector, Output, Pool, Remote, Session, SshError,
    StreamChunk,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Which commands a rule answers (on the rendered command line, as the host would receive it).
#[derive(Clone)]
pub enum Match {
    Exact(String),
    Prefix(String),
    Contains(String),
    Pred(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl Match {
    /// Every word of `cmd` as rendered (an exact match for a built command).
    pub fn command(cmd: &Command) -> Match {
        Match::Exact(cmd.shell_string_with(false))
    }
    pub fn contains(s: impl Into<String>) -> Match {
        Match::Contains(s.into())
    }
    fn hit(&self, line: &str) -> bool {
        match self {
            Match::Exact(s) => line == s,
            Match::Prefix(s) => line.starts_with(s.as_str()),
            Match::Contains(s) => line.contains(s.as_str()),
            Match::Pred(f) => f(line),
        }
    }
}

/// A canned answer to one command.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The command ran: output and exit status.
    Output {
        stdout: String,
        stderr: String,
        status: u32,
    },
    /// For streams: send `stdout`, then keep running until the caller closes the stream (a held
    /// lock). For plain execs the same as exit 0.
    Hold { stdout: String },
    /// The connection dies now: this and every later call fail with `Disconnected`.
    LoseLink,
}

impl Reply {
    pub fn ok(stdout: impl Into<String>) -> Reply {
        Reply::Output {
            stdout: stdout.into(),
            stderr: String::new(),
            status: 0,
        }
    }
    pub fn fail(status: u32, stderr: impl Into<String>) -> Reply {
        Reply::Output {
            stdout: String::new(),
            stderr: stderr.into(),
            status,
        }
    }
}

/// What a fake HTTP endpoint answers.
#[derive(Debug, Clone)]
pub enum HttpReply {
    Answer(u16, String),
    /// The connection dies when the forward is opened.
    LoseLink,
    /// The forward is refused (nothing listens on the port).
    Refused,
}

/// The commands run so far (rendered lines), passed to dynamic rules.
pub type History = [String];

type Responder = Arc<dyn Fn(&str, &History) -> Reply + Send + Sync>;
type HttpResponder = Arc<dyn Fn(usize, &History) -> HttpReply + Send + Sync>;

/// One call the fake saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Exec(String),
    /// With the bytes sent as stdin (a file's contents for `exec_with_stdin_file`).
    ExecStdin(String, Vec<u8>),
    Stream(String),
    Forward(u16),
}

impl Call {
    /// The command line, for every call but forwards.
    pub fn line(&self) -> Option<&str> {
        match self {
            Call::Exec(l) | Call::ExecStdin(l, _) | Call::Stream(l) => Some(l),
            Call::Forward(_) => None,
        }
    }
}

#[derive(Default)]
struct State {
    rules: Vec<(Match, Responder)>,
    http: HashMap<(u16, String), (usize, HttpResponder)>,
    calls: Vec<Call>,
    lines: Vec<String>,
    info: Option<ConnectionInfo>,
}

/// A scripted host. Rules added later win over earlier ones; an unmatched command exits 0 with
/// no output. Cheap to clone (clones share the script and the record).
#[derive(Clone)]
pub struct FakeRemote {
    target: Target,
    state: Arc<Mutex<State>>,
    closed: Arc<AtomicBool>,
}

impl FakeRemote {
    pub fn new(target: Target) -> FakeRemote {
        FakeRemote {
            target,
            state: Arc::default(),
            closed: Arc::default(),
        }
    }

    /// A fake for a host called `name` (root user, no sudo).
    pub fn named(name: &str) -> FakeRemote {
        FakeRemote::new(Target::new(name, "192.0.2.1", "root"))
    }

    /// The session handle engine code takes.
    pub fn session(&self) -> Session {
        Session::new(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Say this connection was made with `info` (what a real session reports).
    pub fn connected_with(&self, info: ConnectionInfo) -> &Self {
        self.lock().info = Some(info);
        self
    }

    /// Answer commands matching `m` with `reply`.
    pub fn on(&self, m: Match, reply: Reply) -> &Self {
        self.on_with(m, move |_, _| reply.clone())
    }

    /// Answer commands matching `m` with `f(line, history)`.
    pub fn on_with(
        &self,
        m: Match,
        f: impl Fn(&str, &History) -> Reply + Send + Sync + 'static,
    ) -> &Self {
        self.lock().rules.push((m, Arc::new(f)));
        self
    }

    /// Answer `GET path` on `port` (through a forward) with `f(n, history)`, `n` counting
    /// earlier requests to that path.
    pub fn http_with(
        &self,
        port: u16,
        path: &str,
        f: impl Fn(usize, &History) -> HttpReply + Send + Sync + 'static,
    ) -> &Self {
        self.lock()
            .http
            .insert((port, path.to_string()), (0, Arc::new(f)));
        self
    }

    /// Answer the JSON-RPC `method` POSTed to `/` on `port` with `f(n, history)`; the body
    /// given is the whole answer (`{"jsonrpc":"2.0","id":1,"result":...}`).
    pub fn rpc_with(
        &self,
        port: u16,
        method: &str,
        f: impl Fn(usize, &History) -> HttpReply + Send + Sync + 'static,
    ) -> &Self {
        self.http_with(port, &format!("/#{method}"), f)
    }

    /// Answer `GET path` on `port` always the same.
    pub fn http(&self, port: u16, path: &str, status: u16, body: &str) -> &Self {
        let body = body.to_string();
        self.http_with(port, path, move |_, _| {
            HttpReply::Answer(status, body.clone())
        })
    }

    /// Cut the link now.
    pub fn lose_link(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Every command line so far, in order (forwards left out).
    pub fn lines(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Command lines containing `needle`.
    pub fn ran(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    fn render(&self, cmd: &Command) -> String {
        let root = cmd
            .become_root_choice()
            .unwrap_or(self.target.become_root && self.target.user != "root");
        cmd.shell_string_with(root)
    }

    fn gone(&self) -> SshError {
        SshError::Disconnected {
            host: self.target.name.clone(),
        }
    }

    /// Record the call and find its answer.
    fn answer(&self, call: Call, line: &str) -> Result<Reply, SshError> {
        let (responder, history) = {
            let mut st = self.lock();
            st.calls.push(call);
            let history = st.lines.clone();
            st.lines.push(line.to_string());
            if self.closed.load(Ordering::SeqCst) {
                return Err(self.gone());
            }
            let r = st
                .rules
                .iter()
                .rev()
                .find(|(m, _)| m.hit(line))
                .map(|(_, r)| r.clone());
            (r, history)
        };
        let reply = responder.map_or_else(|| Reply::ok(""), |r| r(line, &history));
        if matches!(reply, Reply::LoseLink) {
            self.lose_link();
            return Err(self.gone());
        }
        Ok(reply)
    }

    fn output(line: &str, reply: Reply) -> Output {
        let (stdout, stderr, status) = match reply {
            Reply::Output {
                stdout,
                stderr,
                status,
            } => (stdout, stderr, status),
            Reply::Hold { stdout } => (stdout, String::new(), 0),
            Reply::LoseLink => (String::new(), String::new(), 255),
        };
        Output {
            command: line.to_string(),
            stdout: stdout.into_bytes(),
            stderr: stderr.into_bytes(),
            exit_status: Some(status),
            exit_signal: None,
        }
    }

    async fn serve_http(&self, port: u16) -> Result<BoxStream, SshError> {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let me = self.clone();
        tokio::spawn(async move {
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match server.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&req).into_owned();
            let mut path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
            // A JSON-RPC POST: read its body and key the answer by method (see `rpc_with`).
            let head_end = text.find("\r\n\r\n").map_or(text.len(), |i| i + 4);
            let len = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            let mut body = req[head_end.min(req.len())..].to_vec();
            while body.len() < len {
                match server.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => body.extend_from_slice(&buf[..n]),
                }
            }
            let body = String::from_utf8_lossy(&body);
            if let Some(m) = body
                .split("\"method\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
            {
                path = format!("{path}#{m}");
            }
            let (status, body) = match me.http_reply(port, &path) {
                HttpReply::Answer(s, b) => (s, b),
                HttpReply::LoseLink | HttpReply::Refused => (404, String::new()),
            };
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = server.write_all(resp.as_bytes()).await;
            let _ = server.shutdown().await;
        });
        Ok(Box::new(client))
    }

    fn http_reply(&self, port: u16, path: &str) -> HttpReply {
        let (f, n, history) = {
            let mut st = self.lock();
            let history = st.lines.clone();
            match st.http.get_mut(&(port, path.to_string())) {
                Some((n, f)) => {
                    *n += 1;
                    (f.clone(), *n - 1, history)
                }
                None => return HttpReply::Answer(404, String::new()),
            }
        };
        f(n, &history)
    }

    /// Peek at what the first request to `path` on `port` would get, to decide at open time.
    fn http_open(&self, port: u16) -> Option<HttpReply> {
        let st = self.lock();
        let history = st.lines.clone();
        // A port-wide rule on the empty path decides whether the forward opens at all.
        st.http
            .get(&(port, String::new()))
            .map(|(n, f)| f(*n, &history))
    }
}

impl Remote for FakeRemote {
    fn target(&self) -> &Target {
        &self.target
    }
    fn connection_info(&self) -> Option<ConnectionInfo> {
        self.lock().info.clone()
    }
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.lose_link() })
    }
    fn exec_with_timeout<'a>(
        &'a self,
        cmd: &'a Command,
        _limit: Duration,
    ) -> BoxFuture<'a, Result<Output, SshError>> {
        Box::pin(async move {
            let line = self.render(cmd);
            let reply = self.answer(Call::Exec(line.clone()), &line)?;
            Ok(Self::output(&line, reply))
        })
    }
    fn exec_with_stdin<'a>(
        &'a self,
        cmd: &'a Command,
        stdin: &'a [u8],
    ) -> BoxFuture<'a, Result<Output, SshError>> {
        Box::pin(async move {
            let line = self.render(cmd);
            let reply = self.answer(Call::ExecStdin(line.clone(), stdin.to_vec()), &line)?;
            Ok(Self::output(&line, reply))
        })
    }
    fn exec_with_stdin_file<'a>(
        &'a self,
        cmd: &'a Command,
        mut file: tokio::fs::File,
    ) -> BoxFuture<'a, Result<Output, SshError>> {
        Box::pin(async move {
            let line = self.render(cmd);
            let mut data = Vec::new();
            let _ = file.read_to_end(&mut data).await;
            let reply = self.answer(Call::ExecStdin(line.clone(), data), &line)?;
            Ok(Self::output(&line, reply))
        })
    }
    fn exec_stream<'a>(
        &'a self,
        cmd: &'a Command,
        tx: mpsc::Sender<StreamChunk>,
    ) -> BoxFuture<'a, Result<Option<u32>, SshError>> {
        Box::pin(async move {
            let line = self.render(cmd);
            match self.answer(Call::Stream(line.clone()), &line)? {
                Reply::Hold { stdout } => {
                    if tx
                        .send(StreamChunk::Stdout(stdout.into_bytes()))
                        .await
                        .is_err()
                    {
                        return Ok(None);
                    }
                    tx.closed().await;
                    Ok(None)
                }
                other => {
                    let out = Self::output(&line, other);
                    if !out.stdout.is_empty() {
                        let _ = tx.send(StreamChunk::Stdout(out.stdout)).await;
                    }
                    if !out.stderr.is_empty() {
                        let _ = tx.send(StreamChunk::Stderr(out.stderr)).await;
                    }
                    Ok(out.exit_status)
                }
            }
        })
    }
    fn forward(&self, port: u16) -> BoxFuture<'_, Result<BoxStream, SshError>> {
        Box::pin(async move {
            self.lock().calls.push(Call::Forward(port));
            if self.is_closed() {
                return Err(self.gone());
            }
            match self.http_open(port) {
                Some(HttpReply::LoseLink) => {
                    self.lose_link();
                    Err(self.gone())
                }
                Some(HttpReply::Refused) => Err(SshError::Channel {
                    host: self.target.name.clone(),
                    message: format!("cannot forward to 127.0.0.1:{port}: connection refused"),
                }),
                _ => self.serve_http(port).await,
            }
        })
    }
}

/// A pool whose sessions are the given fakes, by host name (an unknown host is unreachable).
pub fn fake_pool(fakes: &[FakeRemote]) -> Pool {
    let by_name: HashMap<String, FakeRemote> = fakes
        .iter()
        .map(|f| (f.target.name.clone(), f.clone()))
        .collect();
    let by_name = Arc::new(by_name);
    let connector: Connector = Arc::new(move |t: &Target, _o: &ConnectOptions| {
        let found = by_name.get(&t.name).cloned();
        let name = t.name.clone();
        Box::pin(async move {
            found
                .map(|f| f.session())
                .ok_or(SshError::Disconnected { host: name })
        })
    });
    Pool::with_connector(ConnectOptions::default(), connector)
}

/// Point the console's local journal at a temporary directory (once per process), so tests never
/// write to the user's state dir.
pub fn isolate_state() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = std::env::temp_dir().join(format!("nodeherd-test-state-{}", std::process::id()));
        // SAFETY: called once, before the tests of this process read the variable; nothing else
        // in the engine's tests writes the environment.
        unsafe { std::env::set_var("NODEHERD_STATE_DIR", dir) };
    });
}
