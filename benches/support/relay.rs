//! A userspace latency relay for the SSH benches: this kernel has no `sch_netem`, so link latency is
//! emulated in a TCP relay placed between every client and the hosts' sshd.
//!
//! Owns: the relay process (the bench binary re-run with `NODEHERD_RELAY_SPEC` set), its delay
//! and its counters. May not touch: the lab, the clients under test.
//!
//! - One listening address per host on the console side (`127.77.A.B:22`), each forwarding to the
//!   host's real `ADDRESS:22`.
//! - Every chunk read in either direction is delivered `delay` after it was read, in order, with no
//!   bandwidth limit (one-way latency; a round trip costs `2 * delay`).
//! - A new connection waits `2 * delay` before it is connected upstream: the TCP handshake's round
//!   trip, which a relay that accepts locally would otherwise hide.
//! - Counters (all connections, including open ones): connections accepted, bytes each way, and
//!   **exchanges**: the times the byte stream turned from client->server to server->client (the
//!   client said something, then the server answered). On a link with latency each exchange costs
//!   one round trip, so `exchanges / hosts` is the round trips per host a tool needs (the TCP
//!   handshake not included).
//!
//! The relay runs in its own process so its CPU is never counted as a client's. The bench writes a
//! line to its stdin; it answers with one line `conns exchanges up_bytes down_bytes` (totals since
//! it started). EOF on stdin ends it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Environment variable that turns the bench binary into the relay: `LISTEN=UPSTREAM,...`.
pub const SPEC_ENV: &str = "NODEHERD_RELAY_SPEC";
/// One-way delay in milliseconds for the relay process.
pub const DELAY_ENV: &str = "NODEHERD_RELAY_DELAY_MS";

/// The console-side address of host `i` (0-based) behind the relay.
pub fn listen_address(i: usize) -> String {
    format!("127.77.{}.{}", i / 200, 10 + i % 200)
}

/// Totals since the relay started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub conns: u64,
    pub exchanges: u64,
    pub up: u64,
    pub down: u64,
}

impl Counts {
    pub fn since(self, before: Counts) -> Counts {
        Counts {
            conns: self.conns - before.conns,
            exchanges: self.exchanges - before.exchanges,
            up: self.up - before.up,
            down: self.down - before.down,
        }
    }
}

/// The running relay process (a child of the bench), with its control pipe.
pub struct Relay {
    child: Child,
    ctl: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    pub delay: Duration,
}

impl Relay {
    /// Start the relay for `(listen, upstream)` address pairs (port 22 each side).
    pub fn start(pairs: &[(String, String)], delay: Duration) -> Result<Relay, String> {
        let spec: Vec<String> = pairs.iter().map(|(l, u)| format!("{l}={u}")).collect();
        let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
        let mut child = Command::new(exe)
            .env(SPEC_ENV, spec.join(","))
            .env(DELAY_ENV, delay.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the relay: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("relay without pipes".into());
        };
        let relay = Relay {
            child,
            ctl: Mutex::new((stdin, BufReader::new(stdout))),
            delay,
        };
        // the first answer comes once every address listens
        relay.counts()?;
        Ok(relay)
    }

    /// The relay's totals now.
    pub fn counts(&self) -> Result<Counts, String> {
        let mut ctl = self.ctl.lock().map_err(|_| "relay control poisoned")?;
        let (stdin, stdout) = &mut *ctl;
        stdin
            .write_all(b"?\n")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("relay control: {e}"))?;
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(|e| format!("relay control: {e}"))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        match v[..] {
            [conns, exchanges, up, down] => Ok(Counts {
                conns,
                exchanges,
                up,
                down,
            }),
            _ => Err(format!("relay answered {line:?}")),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // SAFETY: kill on the pid of a child we started and have not yet waited for.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The relay process

#[derive(Default)]
struct Totals {
    conns: AtomicU64,
    exchanges: AtomicU64,
    up: AtomicU64,
    down: AtomicU64,
}

const UP: u8 = 1;
const DOWN: u8 = 2;

/// If this process was started as the relay, run it and exit; otherwise return.
pub fn run_if_relay() {
    let Ok(spec) = std::env::var(SPEC_ENV) else {
        return;
    };
    let delay = std::env::var(DELAY_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    let code = match relay_main(&spec, delay) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("relay: {e}");
            1
        }
    };
    std::process::exit(code);
}

fn relay_main(spec: &str, delay: Duration) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let totals = Arc::new(Totals::default());
    let mut pairs = Vec::new();
    for item in spec.split(',').filter(|s| !s.is_empty()) {
        let (l, u) = item
            .split_once('=')
            .ok_or_else(|| format!("bad relay spec item {item:?}"))?;
        pairs.push((l.to_string(), u.to_string()));
    }
    rt.block_on(async {
        for (l, u) in pairs {
            let listener = TcpListener::bind((l.as_str(), 22))
                .await
                .map_err(|e| format!("listen on {l}:22: {e}"))?;
            let totals = totals.clone();
            tokio::spawn(accept_loop(listener, u, delay, totals));
        }
        // control: one line in, one line of totals out; EOF ends the relay
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                if line.is_err() || tx.send(()).is_err() {
                    break;
                }
            }
        });
        while rx.recv().await.is_some() {
            let t = &totals;
            println!(
                "{} {} {} {}",
                t.conns.load(Ordering::SeqCst),
                t.exchanges.load(Ordering::SeqCst),
                t.up.load(Ordering::SeqCst),
                t.down.load(Ordering::SeqCst)
            );
            let _ = std::io::stdout().flush();
        }
        Ok(())
    })
}

async fn accept_loop(listener: TcpListener, upstream: String, delay: Duration, t: Arc<Totals>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        t.conns.fetch_add(1, Ordering::SeqCst);
        let (upstream, t) = (upstream.clone(), t.clone());
        tokio::spawn(async move {
            // the TCP handshake's round trip
            tokio::time::sleep(delay * 2).await;
            let Ok(server) = TcpStream::connect((upstream.as_str(), 22)).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let last = Arc::new(AtomicU8::new(0));
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let a = tokio::spawn(pump(cr, sw, delay, UP, last.clone(), t.clone()));
            let b = tokio::spawn(pump(sr, cw, delay, DOWN, last, t));
            let _ = tokio::join!(a, b);
        });
    }
}

/// Copy one direction: read a chunk, count it, deliver it `delay` after it was read.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    dir: u8,
    last: Arc<AtomicU8>,
    t: Arc<Totals>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let at = tokio::time::Instant::now() + delay;
        let prev = last.swap(dir, Ordering::SeqCst);
        if dir == DOWN && prev == UP {
            t.exchanges.fetch_add(1, Ordering::SeqCst);
        }
        let bytes = if dir == UP { &t.up } else { &t.down };
        bytes.fetch_add(n as u64, Ordering::SeqCst);
        if tx.send((at, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}
