//! Root-gated: the TUI against a real 2-host lab ("nhtui", 10.218.0.0/24, no Lodestar).
//! 1. Scripted whole app: the real event loop and workers with a `TestBackend`, keys injected:
//!    open the fleet, select a node, restart it, confirm, see the PID change in state and on screen.
//! 2. Real terminal: the binary in tmux, keys with send-keys, the screen with capture-pane: rows
//!    present, no crash, `q` quits and the terminal is restored (shell prompt back, no alternate screen).
//!
//! One lab serves both; it is torn down at the end whatever happens.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nodeherd_core::inventory::Inventory;
use nodeherd_lab::{self as lab, LabConfig, naming};
use nodeherd_transport::ssh::{ConnectOptions, Pool};
use nodeherd_tui::runtime::{Config, Hooks, World, event_loop, host_key_handler};
use nodeherd_tui::{App, Msg, buffer_text};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

struct LabGuard(LabConfig);
impl Drop for LabGuard {
    fn drop(&mut self) {
        if let Err(e) = lab::down(&self.0) {
            eprintln!("lab down failed: {e}");
        }
    }
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// What the draw hook reports: the PIDs of the rows, the screen text, and whether every row has
/// host CPU, memory and disk from the metrics worker.
type Seen = (Vec<Option<u32>>, String, bool);

async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    what: &str,
    limit: Duration,
    pred: impl Fn(&Seen) -> bool,
) -> Seen {
    let deadline = Instant::now() + limit;
    let mut last: Option<Seen> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(seen)) => {
                if pred(&seen) {
                    return seen;
                }
                last = Some(seen);
            }
            _ => panic!(
                "timed out waiting for {what}; last screen:\n{}",
                last.map(|s| s.1).unwrap_or_default()
            ),
        }
    }
}

async fn scripted(inv: Inventory) {
    let inv = Arc::new(inv);
    let nodes = inv.node_refs();
    assert_eq!(nodes.len(), 2, "2 hosts with one demo node each");
    let (tx, rx) = mpsc::unbounded_channel();
    let mut opts = ConnectOptions::default();
    opts.on_unknown_key = Some(host_key_handler(tx.clone()));
    let world = World {
        pool: Arc::new(Pool::new(opts)),
        inv: inv.clone(),
        nodes: nodes.clone(),
        config: Config {
            poll_every: Duration::from_secs(2),
            forks: 4,
            log_lines: 20,
            ..Config::default()
        },
    };
    let mut app = App::new(&inv, &nodes, false);
    let mut term = Terminal::new(TestBackend::new(100, 30)).expect("backend");
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Seen>();
    let mut hooks = Hooks {
        on_draw: Some(Box::new(move |app: &App, buf: &ratatui::buffer::Buffer| {
            let pids = app
                .rows
                .iter()
                .map(nodeherd_tui::state::NodeRow::pid)
                .collect();
            let host = app.rows.iter().all(|r| {
                r.metrics.cpu_pct.is_some()
                    && r.metrics.mem_pct.is_some()
                    && r.metrics.disk_pct.is_some()
            });
            let _ = seen_tx.send((pids, buffer_text(buf), host));
        })),
        suspend: None,
    };
    let keys = tx.clone();
    let script = tokio::spawn(async move {
        // the fleet fills in from the poller
        let first = wait_for(
            &mut seen_rx,
            "both nodes running",
            Duration::from_secs(60),
            |s| {
                s.0.iter().all(std::option::Option::is_some)
                    && s.1.matches("active/running").count() == 2
            },
        )
        .await;
        let old = first.0[1].expect("pid");
        // no Lodestar in this lab: the metrics worker still brings the hosts' CPU (from the second
        // poll on), memory and disk through the same pool
        wait_for(
            &mut seen_rx,
            "host cpu/mem/disk from the metrics worker",
            Duration::from_secs(30),
            |s| s.2,
        )
        .await;
        // select the second node, open it, restart it
        keys.send(key('j')).ok();
        keys.send(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)))
            .ok();
        wait_for(&mut seen_rx, "node detail", Duration::from_secs(10), |s| {
            s.1.contains("journal") && s.1.contains(&old.to_string())
        })
        .await;
        keys.send(key('r')).ok();
        let dialog = wait_for(
            &mut seen_rx,
            "confirm dialog",
            Duration::from_secs(10),
            |s| s.1.contains("Restart 1 node on 1 host?"),
        )
        .await;
        assert!(
            dialog.1.contains("nhtui-2"),
            "dialog names the host:\n{}",
            dialog.1
        );
        assert_eq!(dialog.0[1], Some(old), "nothing happens before confirming");
        keys.send(key('y')).ok();
        let done = wait_for(&mut seen_rx, "a new pid", Duration::from_secs(60), |s| {
            s.0[1].is_some_and(|p| p != old) && s.1.contains(&format!("pid {old} → "))
        })
        .await;
        let new = done.0[1].expect("pid");
        assert!(
            done.1.contains(&new.to_string()),
            "new pid on screen:\n{}",
            done.1
        );
        assert_eq!(done.0[0], first.0[0], "the other node was not touched");
        keys.send(key('q')).ok();
        (old, new, done.1)
    });
    let res = tokio::time::timeout(
        Duration::from_secs(150),
        event_loop(&mut term, &mut app, &world, tx, rx, &mut hooks),
    )
    .await;
    let (old, new, screen) = script.await.expect("script");
    res.expect("event loop finished in time")
        .expect("event loop ok");
    assert!(app.quit);
    eprintln!("scripted: restart changed pid {old} -> {new}; last screen:\n{screen}");
    world.pool.close_all().await;
}

fn tmux(sock: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .arg("-L")
        .arg(sock)
        .args(args)
        .output()
        .expect("tmux runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pane(sock: &str) -> String {
    tmux(sock, &["capture-pane", "-p", "-t", "nhtui"])
}

fn wait_pane(sock: &str, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let p = pane(sock);
        if pred(&p) {
            return p;
        }
        assert!(
            Instant::now() <= deadline,
            "timed out waiting for {what}; pane:\n{p}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The status printed by `echo fg-status=$?`: digits after the marker, anywhere on a line (the
/// typed command line itself shows `$?`, not digits).
fn fg_status(pane: &str) -> Option<&str> {
    pane.lines().find_map(|l| {
        let rest = &l[l.find("fg-status=")? + "fg-status=".len()..];
        let digits = rest.trim_end();
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
    })
}

fn real_terminal(inventory: &std::path::Path) {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("real-terminal test skipped: tmux is not installed");
        return;
    }
    let sock = "nhtui-test";
    let _ = tmux(sock, &["kill-server"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux(
        sock,
        &[
            "new-session",
            "-d",
            "-s",
            "nhtui",
            "-x",
            "100",
            "-y",
            "30",
            "env",
            "PS1=nhtui-shell$ ",
            "TERM=xterm-256color",
            "sh",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    if !pane(sock).contains("nhtui-shell$") {
        tmux(sock, &["send-keys", "-t", "nhtui", "Enter"]);
    }
    wait_pane(sock, "shell prompt", Duration::from_secs(20), |p| {
        p.contains("nhtui-shell$")
    });
    let bin = env!("CARGO_BIN_EXE_nodeherd");
    let cmd = format!(
        "{bin} -i {} tui --poll-secs 2; echo rc=$?",
        inventory.display()
    );
    tmux(sock, &["send-keys", "-t", "nhtui", &cmd, "Enter"]);
    let fleet = wait_pane(sock, "fleet rows", Duration::from_secs(60), |p| {
        p.matches("active/running").count() == 2
    });
    for must in ["nhtui-1", "nhtui-2", "Fleet 2/2", "? help"] {
        assert!(fleet.contains(must), "{must} missing:\n{fleet}");
    }
    assert!(
        !fleet.contains("nhtui-shell$"),
        "alternate screen hides the shell:\n{fleet}"
    );
    assert_eq!(
        tmux(sock, &["display", "-p", "-t", "nhtui", "#{alternate_on}"]).trim(),
        "1"
    );
    // ctrl-z: the shell comes back with a normal screen; fg: the TUI redraws
    tmux(sock, &["send-keys", "-t", "nhtui", "C-z"]);
    let stopped = wait_pane(
        sock,
        "suspended to the shell",
        Duration::from_secs(10),
        |p| p.contains("nhtui-shell$") && !p.contains("Fleet 2/2"),
    );
    assert_eq!(
        tmux(sock, &["display", "-p", "-t", "nhtui", "#{alternate_on}"]).trim(),
        "0",
        "suspended TUI left the alternate screen:\n{stopped}"
    );
    tmux(sock, &["send-keys", "-t", "nhtui", "fg", "Enter"]);
    wait_pane(sock, "resumed", Duration::from_secs(10), |p| {
        p.contains("Fleet 2/2") && p.matches("active/running").count() == 2
    });
    // help, back, detail with the journal, back, then quit
    tmux(sock, &["send-keys", "-t", "nhtui", "?"]);
    wait_pane(sock, "help", Duration::from_secs(5), |p| {
        p.contains("restart marked or selected")
    });
    tmux(sock, &["send-keys", "-t", "nhtui", "?"]);
    tmux(sock, &["send-keys", "-t", "nhtui", "Enter"]);
    wait_pane(sock, "detail", Duration::from_secs(15), |p| {
        p.contains("journal") && p.contains("pid")
    });
    tmux(sock, &["send-keys", "-t", "nhtui", "f"]);
    wait_pane(sock, "fleet again", Duration::from_secs(5), |p| {
        p.contains("Fleet 2/2")
    });
    tmux(sock, &["send-keys", "-t", "nhtui", "q"]);
    // gone, and the shell is reading again: its prompt is the last line drawn. Typing ahead of
    // the prompt would put the output on the prompt's line (seen once in CI).
    wait_pane(
        sock,
        "TUI gone and the prompt back",
        Duration::from_secs(10),
        |p| {
            !p.contains("Fleet 2/2")
                && p.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(str::trim_end)
                    == Some("nhtui-shell$")
        },
    );
    // $? of the job brought back with fg is the TUI's exit status. A marker of its own: the
    // command line's `; echo rc=$?` already printed `rc=...` when ctrl-z stopped the job.
    tmux(
        sock,
        &["send-keys", "-t", "nhtui", "echo fg-status=$?", "Enter"],
    );
    let after = wait_pane(sock, "exit status", Duration::from_secs(10), |p| {
        fg_status(p).is_some()
    });
    assert_eq!(fg_status(&after), Some("0"), "clean exit:\n{after}");
    assert!(
        !after.contains("Fleet 2/2"),
        "TUI gone from the screen:\n{after}"
    );
    assert_eq!(
        tmux(sock, &["display", "-p", "-t", "nhtui", "#{alternate_on}"]).trim(),
        "0"
    );
    // the terminal is back in cooked mode: a typed command echoes and runs
    tmux(
        sock,
        &["send-keys", "-t", "nhtui", "echo cooked-$((40+2))", "Enter"],
    );
    wait_pane(sock, "cooked mode", Duration::from_secs(5), |p| {
        p.contains("cooked-42")
    });
    let _ = tmux(sock, &["kill-server"]);
    println!(
        "real terminal: fleet drawn, ctrl-z/fg, help, detail and quit worked, terminal restored"
    );
}

#[test]
fn tui_against_the_lab() {
    if !is_root() {
        println!("tui_against_the_lab skipped: it needs root (a real lab)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let inv_path: PathBuf = dir.path().join("nhtui.toml");
    let cfg = LabConfig {
        name: "nhtui".into(),
        hosts: 2,
        subnet: 218,
        lodestar: false,
        inventory_out: Some(inv_path.clone()),
        ..LabConfig::default()
    };
    let _guard = LabGuard(cfg.clone());
    let report = lab::up(&cfg).expect("lab up");
    assert_eq!(report.hosts.len(), 2);
    assert_eq!(report.hosts[1].name, naming::host_name("nhtui", 2));
    let inv = Inventory::load(&inv_path).expect("lab inventory loads");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(scripted(inv));
    real_terminal(&inv_path);
}
