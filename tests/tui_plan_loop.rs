//! The plan screen through the real event loop and its worker (no lab, no root): one host on
//! loopback port 1 (connection refused at once), a playbook declaring it running. `:plan` starts
//! the planning worker (`reconcile::run::gather` + `make_plan`); the node comes back as one that
//! could not be read; `a` then has nothing to apply; a missing playbook is reported on screen.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nodeherd_core::inventory::Inventory;
use nodeherd_transport::ssh::{ConnectOptions, Pool};
use nodeherd_tui::runtime::{Config, Hooks, World, event_loop};
use nodeherd_tui::{App, Msg, buffer_text};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

async fn wait_screen(
    rx: &mut mpsc::UnboundedReceiver<String>,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(s)) if pred(&s) => return s,
            Ok(Some(s)) => last = s,
            _ => panic!("timed out waiting for {what}; last screen:\n{last}"),
        }
    }
}

async fn run(playbook: std::path::PathBuf, expect: &'static str, then_apply: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let inv_path = dir.path().join("inventory.toml");
    std::fs::write(
        &inv_path,
        "[hosts.down-1]\naddress = \"127.0.0.1\"\nport = 1\n\n[hosts.down-1.nodes.demo]\nclient = \"generic\"\nunit = \"nodeherd-demo.service\"\n",
    )
    .expect("write inventory");
    let inv = Arc::new(Inventory::load(&inv_path).expect("inventory"));
    let nodes = inv.node_refs();
    let world = World {
        pool: Arc::new(Pool::new(ConnectOptions::default())),
        inv: inv.clone(),
        nodes: nodes.clone(),
        config: Config {
            poll_every: Duration::from_secs(60),
            metrics: false,
            site_playbook: Some(playbook.clone()),
            ..Config::default()
        },
    };
    let mut app = App::new(&inv, &nodes, false);
    app.plan.playbook = Some(playbook.display().to_string());
    let (tx, rx) = mpsc::unbounded_channel();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<String>();
    let mut hooks = Hooks {
        on_draw: Some(Box::new(move |_: &App, buf: &ratatui::buffer::Buffer| {
            let _ = seen_tx.send(buffer_text(buf));
        })),
        suspend: None,
    };
    let keys = tx.clone();
    let script = tokio::spawn(async move {
        for c in ":plan".chars() {
            let _ = keys.send(key(c));
        }
        let _ = keys.send(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        let s = wait_screen(&mut seen_rx, expect, |s| s.contains(expect)).await;
        if then_apply {
            let _ = keys.send(key('a'));
            wait_screen(&mut seen_rx, "nothing to apply", |s| {
                s.contains("nothing to apply")
            })
            .await;
        }
        let _ = keys.send(key('q'));
        s
    });
    let mut term = Terminal::new(TestBackend::new(120, 30)).expect("backend");
    // A script that fails (a screen that never came) fails the test at once: the loop would
    // otherwise wait for its `q` forever.
    let screen = {
        let looped = event_loop(&mut term, &mut app, &world, tx, rx, &mut hooks);
        tokio::pin!(looped);
        let mut script = script;
        tokio::select! {
            r = &mut looped => {
                r.expect("event loop");
                script.await.expect("script")
            }
            s = &mut script => {
                let s = s.expect("script");
                looped.await.expect("event loop");
                s
            }
        }
    };
    println!("{screen}");
    assert!(app.quit);
    assert!(app.dialog.is_none(), "no dialog for a plan without changes");
}

#[tokio::test]
async fn plan_worker_reports_an_unreadable_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pb = dir.path().join("site.toml");
    std::fs::write(&pb, "[state]\nrunning = true\n").expect("write playbook");
    run(pb, "? down-1/demo", true).await;
}

#[tokio::test]
async fn plan_worker_reports_a_missing_playbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(
        dir.path().join("absent.toml"),
        "cannot read playbook",
        false,
    )
    .await;
}
