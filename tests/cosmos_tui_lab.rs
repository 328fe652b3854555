//! The TUI's Cosmos screen on a real lab host (lab "nhctui", 10.244.0.0/24; real systemd, real
//! sshd) running a RECORDED STAND-IN of a Cosmos node, `cosmos-standin`
//! (tests/support/cosmos_standin.rs, compiled here with rustc; no real CometBFT or Cosmos SDK
//! binary installs here): the real event loop with its Cosmos watch worker (through a real SSH
//! pool), drawn on a test backend.
//!
//! Scenario (RECORDED): a plan `v19` 2000 blocks ahead, its binary staged in `releases/v19/`, a
//! proposal in its voting period the validator has not voted on, 3 missed blocks of a 100-block
//! window: `C` shows the plan with its countdown, `staged (releases/v19)`, `NOT VOTED`, `3.00%
//! (3/100)`, `ok`; then the validator is jailed and it votes, and `R` shows `JAILED` and `voted`.
//! Needs root: without it, says so and skips. Run: `cargo test --test cosmos_tui_lab` (as root).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nodeherd_lab::LabConfig;
use nodeherd_transport::ssh::{ConnectOptions, Pool};
use nodeherd_tui::runtime::{Config, Hooks, World, event_loop};
use nodeherd_tui::{App, Msg, buffer_text};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

#[path = "support/labsuite.rs"]
mod labsuite;

const DIR: &str = "/opt/nodeherd/gaia";
const HOME: &str = "/var/lib/gaia";
const VALOPER: &str = "cosmosvaloper1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnxz90a2";

struct Ctx {
    cfg: LabConfig,
    inventory: PathBuf,
    dir: PathBuf,
}

fn main() {
    let Some(mut suite) = labsuite::start("cosmos_tui_lab", |dir| LabConfig {
        name: "nhctui".into(),
        hosts: 1,
        subnet: 244,
        lodestar: false,
        lodestar_hosts: 0,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let dir = suite.dir.clone();
    let inventory = dir.join("cosmos.toml");
    let mut text = std::fs::read_to_string(&suite.report.inventory).expect("lab inventory");
    text.push_str(&format!(
        "\n[hosts.nhctui-1.nodes.gaia]\nclient = \"cosmos\"\nnetwork = \"cosmoshub-4\"\nunit = \"gaia.service\"\ndaemon = \"standind\"\ninstall_dir = \"{DIR}\"\ndata_dir = \"{HOME}\"\nrpc_port = 26657\napi_port = 1317\nvaloper = \"{VALOPER}\"\n"
    ));
    std::fs::write(&inventory, text).expect("inventory");
    let ctx = Ctx {
        cfg: suite.cfg.clone(),
        inventory,
        dir,
    };
    let ready = suite.always("setup_the_standin", || setup(&ctx));
    if ready {
        suite.run(
            "recorded_cosmos_screen_shows_plan_staged_votes_and_signing_and_follows_changes",
            || screen(&ctx),
        );
    }
    let _ = labsuite::root_ssh(&ctx.cfg, 1, "systemctl stop gaia.service");
    suite.finish();
}

fn sh(cfg: &LabConfig, cmd: &str) -> String {
    labsuite::root_sh(cfg, 1, cmd)
}

fn height(cfg: &LabConfig) -> Option<u64> {
    let o = labsuite::root_ssh(cfg, 1, "curl -s -m 2 http://127.0.0.1:26657/status");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
    v.pointer("/result/sync_info/latest_block_height")?
        .as_str()?
        .parse()
        .ok()
}

/// The stand-in as `gaia.service` on v18, `v19` staged, a plan 2000 blocks ahead, one proposal.
fn setup(ctx: &Ctx) {
    let standin = labsuite::build_standin(&ctx.dir, "cosmos_standin", "cosmos-standin");
    let wrapper =
        |v: &str| format!("#!/bin/sh\nexec /usr/local/bin/cosmos-standin --version {v} \"$@\"\n");
    let unit = format!(
        "[Unit]\nDescription=cosmos-standin (a recorded stand-in of a Cosmos node)\n[Service]\nExecStart={DIR}/current/standind --home {HOME} --rpc 26657 --api 1317 --block-ms 500\nRestart=no\n[Install]\nWantedBy=multi-user.target\n"
    );
    let _ = labsuite::root_ssh(
        &ctx.cfg,
        1,
        &format!("systemctl stop gaia.service; rm -rf {DIR} {HOME}"),
    );
    let put = |path: &str, bytes: &[u8], mode: &str| {
        labsuite::put_file(&ctx.cfg, 1, path, bytes, mode);
    };
    put("/usr/local/bin/cosmos-standin", &standin, "0755");
    put(
        &format!("{DIR}/releases/v18/standind"),
        wrapper("v18").as_bytes(),
        "0755",
    );
    put(
        &format!("{DIR}/releases/v19/standind"),
        wrapper("v19").as_bytes(),
        "0755",
    );
    put("/etc/systemd/system/gaia.service", unit.as_bytes(), "0644");
    sh(
        &ctx.cfg,
        &format!(
            "ln -sfn releases/v18 {DIR}/current && mkdir -p {HOME}/data && systemctl daemon-reload && systemctl start gaia.service"
        ),
    );
    let t = Instant::now();
    let h = loop {
        if let Some(h) = height(&ctx.cfg).filter(|h| *h >= 3) {
            break h;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no blocks");
        std::thread::sleep(Duration::from_millis(300));
    };
    let plan = serde_json::json!({"plan": {"name": "v19", "time": "0001-01-01T00:00:00Z", "height": (h + 2000).to_string(), "info": "", "upgraded_client_state": null}});
    put(
        &format!("{HOME}/plan.json"),
        plan.to_string().as_bytes(),
        "0644",
    );
    let end = (chrono::Utc::now() + chrono::Duration::hours(9)).to_rfc3339();
    let props = serde_json::json!({"proposals": [{"id": "957", "title": "Community pool spend", "status": "PROPOSAL_STATUS_VOTING_PERIOD", "voting_end_time": end}], "pagination": {"next_key": null, "total": "1"}});
    put(
        &format!("{HOME}/proposals.json"),
        props.to_string().as_bytes(),
        "0644",
    );
    put(&format!("{HOME}/missed"), b"3", "0644");
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

async fn wait_screen(
    rx: &mut mpsc::UnboundedReceiver<String>,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
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

fn screen(ctx: &Ctx) {
    let inv =
        Arc::new(nodeherd_core::inventory::Inventory::load(&ctx.inventory).expect("inventory"));
    let nodes = inv.node_refs();
    let cfg = ctx.cfg.clone();
    labsuite::runtime().block_on(async move {
        let world = World {
            pool: Arc::new(Pool::new(ConnectOptions::default())),
            inv: inv.clone(),
            nodes: nodes.clone(),
            config: Config {
                poll_every: Duration::from_secs(60),
                metrics: false,
                ..Config::default()
            },
        };
        let mut app = App::new(&inv, &nodes, false);
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
            let t = Instant::now();
            let _ = keys.send(key('C'));
            let first = wait_screen(&mut seen_rx, "the first read", |s| {
                s.contains("upgrade `v19` at height") && s.contains("NOT VOTED")
            })
            .await;
            println!(
                "Cosmos screen filled {:.2}s after C:\n{first}",
                t.elapsed().as_secs_f64()
            );
            for must in [
                "cosmoshub-4",
                "staged (releases/v19)",
                "NOT VOTED, ends in 8h",
                "#957 Community pool spend",
                "3.00% (3/100)",
                "ok",
            ] {
                assert!(first.contains(must), "{must} missing:\n{first}");
            }
            assert!(first.contains(", in ~"), "a countdown:\n{first}");
            // the chain moves on: jailed, and the validator voted; R reads again
            sh(&cfg, &format!("touch {HOME}/jailed {HOME}/voted-957"));
            let t = Instant::now();
            let _ = keys.send(key('R'));
            let second = wait_screen(&mut seen_rx, "JAILED and voted", |s| {
                s.contains("JAILED") && s.contains("voted (ends in")
            })
            .await;
            println!("after R in {:.2}s:\n{second}", t.elapsed().as_secs_f64());
            sh(&cfg, &format!("rm -f {HOME}/jailed {HOME}/voted-957"));
            let _ = keys.send(key('q'));
        });
        let mut term = Terminal::new(TestBackend::new(120, 30)).expect("backend");
        {
            let looped = event_loop(&mut term, &mut app, &world, tx, rx, &mut hooks);
            tokio::pin!(looped);
            let mut script = script;
            tokio::select! {
                r = &mut looped => {
                    r.expect("event loop");
                    script.await.expect("script");
                }
                s = &mut script => {
                    s.expect("script");
                    looped.await.expect("event loop");
                }
            }
        }
        world.pool.close_all().await;
        assert!(app.quit);
    });
}
