//! The console under test: the real `nodeherd` binary, each run with its own state and cache
//! directories (as if on its own machine), its stderr progress lines read as they come so a
//! fault can be injected when a step's line appears. Owns: starting, watching, signalling and
//! reaping console processes. May not touch: the hosts.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Console {
    child: Child,
    lines: Receiver<String>,
    err: Arc<Mutex<String>>,
    out: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// How a console run ended.
#[derive(Debug, Clone)]
pub struct Ended {
    /// `None`: killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ended {
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Said that the node was (or is being) switched back to its old version.
    pub fn says_rolled_back(&self) -> bool {
        let t = self.text();
        t.contains("rolled back") || t.contains("rolled-back") || t.contains("switches back")
    }
}

impl Console {
    /// Start `nodeherd ARGS` with `home` as its HOME, state and cache.
    pub fn start(home: &Path, args: &[String]) -> Console {
        std::fs::create_dir_all(home).expect("console home");
        let mut child = Command::new(env!("CARGO_BIN_EXE_nodeherd"))
            .args(args)
            .env("HOME", home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("USER", "faults")
            .env_remove("NODEHERD_INVENTORY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nodeherd");
        let (tx, lines) = channel();
        let err = Arc::new(Mutex::new(String::new()));
        let out = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let mut stdout = child.stdout.take().expect("stdout");
        let e2 = err.clone();
        let o2 = out.clone();
        let readers = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    e2.lock().expect("lock").push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            }),
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = stdout.read_to_string(&mut s);
                o2.lock().expect("lock").push_str(&s);
            }),
        ];
        Console {
            child,
            lines,
            err,
            out,
            readers,
        }
    }

    /// Wait for a progress line containing `pat`; false when the console ended or `limit` passed.
    pub fn wait_line(&mut self, pat: &str, limit: Duration) -> bool {
        let t = Instant::now();
        loop {
            let left = limit.saturating_sub(t.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(pat) => return true,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    pub fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: a signal to our own child, which has not been reaped yet.
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// Wait for the end (SIGKILL and panic after `limit`: a hung console is a failure).
    pub fn end(mut self, limit: Duration) -> Ended {
        let t = Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                break st;
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                panic!(
                    "the console hung for {limit:?}; its stderr:\n{}",
                    self.err.lock().expect("lock")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let stdout = self.out.lock().expect("lock").clone();
        let stderr = self.err.lock().expect("lock").clone();
        Ended {
            code: status.code(),
            stdout,
            stderr,
        }
    }
}
