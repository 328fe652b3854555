//! Every TUI screen at 80x24 and 160x48 from fixed state, as text snapshots in `snapshots/`.
//! The views are pure, so the same state always draws the same screen.

use nodeherd_tui::fixture;
use nodeherd_tui::keymap::Action;
use nodeherd_tui::state::{App, Dialog, HostKeyAsk, Prompt, Screen};
use nodeherd_tui::{buffer_text, views};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    let frame = t
        .draw(|f| views::draw(f, app, fixture::now()))
        .expect("draw");
    buffer_text(frame.buffer)
}

fn snap(name: &str, app: &App) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (w, h) in SIZES {
            let text = screen(app, w, h);
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}'),
                "{name}: control bytes reached the screen"
            );
            insta::assert_snapshot!(format!("tui_{name}_{w}x{h}"), text);
        }
    });
}

#[test]
fn fleet_normal() {
    snap("fleet", &fixture::fleet(false));
}

#[test]
fn fleet_empty_inventory() {
    snap("fleet_empty", &fixture::empty());
}

#[test]
fn fleet_unreachable_host_and_failed_unit() {
    let app = fixture::fleet_with_problems();
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        assert!(text.contains("unreachable"), "{text}");
        assert!(text.contains("failed/failed"), "{text}");
        assert!(text.contains("down 3"), "{text}");
    }
    snap("fleet_problems", &app);
}

#[test]
fn fleet_marked_and_busy() {
    let mut app = fixture::fleet(false);
    app.marked.insert(app.rows[2].r);
    app.marked.insert(app.rows[3].r);
    app.busy.insert(app.rows[4].r);
    app.selected = 3;
    snap("fleet_marked", &app);
}

#[test]
fn detail_with_log_strips_escapes() {
    let app = fixture::detail();
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        assert!(
            text.contains("error: injected escape sequences stripped"),
            "{text}"
        );
        assert!(
            !text.contains("pwned"),
            "OSC title text must not be shown: {text}"
        );
        assert!(text.contains("812"), "pid shown: {text}");
    }
    snap("detail", &app);
}

#[test]
fn detail_paused_wrapped_searching() {
    let mut app = fixture::detail();
    app.log.wrap = true;
    app.log.paused_at = Some(app.log.next_seq);
    app.log.search = Some("a".into());
    snap("detail_wrap_search", &app);
}

#[test]
fn alerts_screen() {
    let mut app = fixture::fleet(false);
    app.alerts = fixture::alerts();
    app.screen = Screen::Alerts;
    app.back = vec![Screen::Fleet];
    snap("alerts", &app);
    let mut empty = fixture::fleet(false);
    empty.screen = Screen::Alerts;
    snap("alerts_empty", &empty);
}

#[test]
fn confirm_dialog_names_hosts_and_nodes() {
    let mut app = fixture::fleet(false);
    let nodes = vec![app.rows[0].r, app.rows[2].r, app.rows[4].r];
    app.dialog = Some(Dialog::Confirm {
        action: Action::Restart,
        nodes,
    });
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        for must in [
            "Restart 3 nodes on 3 hosts?",
            "eth-a1",
            "eth-a2",
            "lab-1",
            "geth",
            "y restart",
        ] {
            assert!(text.contains(must), "{must} missing: {text}");
        }
    }
    snap("confirm", &app);
}

#[test]
fn host_key_prompt() {
    let mut app = fixture::fleet(false);
    app.dialog = Some(Dialog::HostKey {
        ask: HostKeyAsk {
            host: "eth-a2".into(),
            address: "10.213.0.12".into(),
            port: 22,
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:q2P0m7Yb9mYx3dD1WlQ0f6c9X5oE8bqvY8l2cQm1Zt4\u{1b}[2J".into(),
        },
        reply: None,
    });
    snap("hostkey", &app);
}

#[test]
fn help_full_and_readonly() {
    let mut app = fixture::fleet(false);
    app.screen = Screen::Help;
    app.back = vec![Screen::Fleet];
    let text = screen(&app, 160, 48);
    assert!(text.contains("restart marked or selected nodes"));
    snap("help", &app);
    let mut ro = fixture::fleet(true);
    ro.screen = Screen::Help;
    ro.back = vec![Screen::Fleet];
    let text = screen(&ro, 160, 48);
    assert!(!text.contains("restart") && !text.contains("stop ") && text.contains("READONLY"));
    snap("help_readonly", &ro);
}

#[test]
fn prompts_active() {
    let mut app = fixture::fleet(false);
    app.prompt = Some(Prompt::Filter("eth".into()));
    app.filter = "eth".into();
    app.refresh_view();
    snap("filter_prompt", &app);
    let mut app = fixture::fleet(false);
    app.prompt = Some(Prompt::Command("alerts".into()));
    snap("command_prompt", &app);
}

#[test]
fn readonly_fleet_hint_bar_has_no_actions() {
    let app = fixture::fleet(true);
    let text = screen(&app, 160, 48);
    assert!(text.contains("READONLY"));
    assert!(!text.contains("restart") && !text.contains(" stop"));
    snap("fleet_readonly", &app);
}

/// docs/tui.md carries the key table generated from the keymap; `NODEHERD_WRITE_DOCS=1` rewrites it.
#[test]
fn docs_key_table_matches_the_keymap() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tui.md");
    let doc = std::fs::read_to_string(path).expect("docs/tui.md");
    let (begin, end) = ("<!-- keys:begin -->\n", "<!-- keys:end -->");
    let (Some(a), Some(b)) = (doc.find(begin), doc.find(end)) else {
        panic!("docs/tui.md lacks the keys markers");
    };
    let table = nodeherd_tui::keymap::Keymap::new(false).markdown();
    let current = &doc[a + begin.len()..b];
    if std::env::var_os("NODEHERD_WRITE_DOCS").is_some() {
        let new = format!("{}{}{}", &doc[..a + begin.len()], table, &doc[b..]);
        std::fs::write(path, new).expect("write docs");
        return;
    }
    assert_eq!(
        current, table,
        "docs/tui.md key table is stale: run with NODEHERD_WRITE_DOCS=1"
    );
}

#[test]
fn releases_loaded_loading_failed_and_empty() {
    let app = fixture::releases();
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        assert!(text.contains("1 upgrade ready"), "{text}");
        assert!(
            text.contains("in 2d 3h"),
            "countdown of the next version:\n{text}"
        );
        assert!(
            text.contains("too young"),
            "why of the selected row:\n{text}"
        );
    }
    snap("releases", &app);

    let mut loading = fixture::fleet(false);
    loading.screen = Screen::Releases;
    loading.releases.loading = true;
    snap("releases_loading", &loading);

    let mut failed = fixture::fleet(false);
    failed.screen = Screen::Releases;
    failed.releases.error = Some("playbooks/upgrade-policy.toml: unknown key `pinn`".into());
    snap("releases_failed", &failed);

    let mut empty = fixture::fleet(false);
    empty.screen = Screen::Releases;
    empty.releases.data = Some(Vec::new());
    empty.releases.at = Some(fixture::now());
    snap("releases_empty", &empty);
}

#[test]
fn keys_screen_states_and_remove_import_move_dialogs() {
    let app = fixture::keys(false);
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        assert!(text.contains("3 keys"), "{text}");
        assert!(text.contains("m/12381/3600/0/0/0"), "{text}");
        assert!(text.contains("remove"), "remove in the hint bar:\n{text}");
    }
    assert!(
        screen(&app, 160, 48).contains(fixture::PUBKEYS[0]),
        "full pubkey when wide"
    );
    assert!(
        screen(&app, 80, 24).contains("0xa99a76…e44c"),
        "short pubkey when narrow"
    );
    snap("keys", &app);

    let ro = fixture::keys(true);
    for (w, h) in SIZES {
        assert!(
            !screen(&ro, w, h).contains("remove"),
            "readonly has no remove"
        );
    }
    snap("keys_readonly", &ro);

    let mut loading = fixture::fleet(false);
    loading.screen = Screen::Keys;
    loading.keys.loading = true;
    snap("keys_loading", &loading);

    let mut none = fixture::fleet(false);
    none.screen = Screen::Keys;
    none.keys.data = Some(Vec::new());
    none.keys.at = Some(fixture::now());
    snap("keys_empty", &none);

    let mut dialog = fixture::keys(false);
    let key = dialog.selected_key().cloned().expect("a key");
    dialog.dialog = Some(Dialog::RemoveKey { key });
    for (w, h) in SIZES {
        let text = screen(&dialog, w, h);
        assert!(
            text.contains("Remove 1 validator key from eth-a1/lodestar-vc?"),
            "{text}"
        );
        // the full pubkey, split over two lines
        let (a, b) = fixture::PUBKEYS[0].split_at(50);
        assert!(text.contains(a) && text.contains(b), "{text}");
    }
    snap("keys_remove_confirm", &dialog);

    let mut import = fixture::keys(false);
    import.dialog = Some(Dialog::ImportKeys(fixture::import_ask()));
    for (w, h) in SIZES {
        let text = screen(&import, w, h);
        assert!(
            text.contains("Import 2 validator keys into lab-1/demo-2?"),
            "{text}"
        );
        assert!(
            text.contains("none of the 1 other validator node"),
            "{text}"
        );
        assert!(text.contains("slashing-protection.json"), "{text}");
    }
    snap("keys_import_confirm", &import);

    let mut mv = fixture::keys(false);
    mv.dialog = Some(Dialog::MoveKey(fixture::move_ask()));
    for (w, h) in SIZES {
        let text = screen(&mv, w, h);
        assert!(
            text.contains("Move 1 validator key from eth-a1/lodestar-vc to lab-1/demo-2?"),
            "{text}"
        );
        let (a, b) = fixture::PUBKEYS[0].split_at(50);
        assert!(text.contains(a) && text.contains(b), "{text}");
    }
    snap("keys_move_confirm", &mv);

    // CometBFT validators: consensus keys listed, the one on two nodes flagged on both rows
    let mut cosmos = fixture::keys(false);
    cosmos.keys.data = Some(fixture::node_keys_with_cosmos());
    for (w, h) in SIZES {
        let text = screen(&cosmos, w, h);
        assert!(
            text.contains(
                "DOUBLE-SIGN RISK: consensus key GclWl4hUHXpG0Vcx8w4GsvkDiFx9Bkqgh0z83jglMmU="
            ),
            "{text}"
        );
        // the risk line (wrapped as the width allows) names both nodes
        let risk = &text[text.find("DOUBLE-SIGN RISK").unwrap_or(0)..];
        assert!(
            risk.contains("is on 2 nodes")
                && risk.contains("cosmos-1/gaiad")
                && risk.contains("cosmos-2/gaiad"),
            "{text}"
        );
        assert_eq!(
            text.matches("!!").count(),
            2,
            "both rows flagged, not the third:\n{text}"
        );
        assert!(
            text.contains("h1204/0/3") && text.contains("no state"),
            "{text}"
        );
    }
    snap("keys_cosmos_double_sign_risk", &cosmos);
}

#[test]
fn plan_screen_diff_states() {
    let app = fixture::plan_screen(false);
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        assert!(text.contains("~ eth-a1/lodestar-bn"), "{text}");
        assert!(text.contains("1.4.2 -> 1.5.1"), "{text}");
        assert!(text.contains("+ eth-a2/geth"), "{text}");
        assert!(text.contains("- lab-1/demo-2"), "{text}");
        assert!(text.contains("no change"), "no-ops with why:\n{text}");
        assert!(text.contains("? cosmos-1/gaiad"), "unknown node:\n{text}");
        assert!(text.contains("apply"), "apply in the hint bar:\n{text}");
    }
    snap("plan", &app);

    let ro = fixture::plan_screen(true);
    for (w, h) in SIZES {
        assert!(
            !screen(&ro, w, h).contains("apply"),
            "readonly has no apply"
        );
    }

    let mut empty = fixture::plan_screen(false);
    if let Some(p) = empty.plan.plan.data.as_mut() {
        p.changes.clear();
        p.unknown.clear();
    }
    for (w, h) in SIZES {
        assert!(screen(&empty, w, h).contains("Nothing to change"));
    }
    snap("plan_empty", &empty);

    let mut none = fixture::fleet(false);
    none.screen = Screen::Plan;
    for (w, h) in SIZES {
        assert!(screen(&none, w, h).contains("No playbook"));
    }
    snap("plan_no_playbook", &none);

    let running = fixture::plan_running();
    for (w, h) in SIZES {
        let text = screen(&running, w, h);
        assert!(text.contains("gate passed…"), "{text}");
        assert!(text.contains("applying…"), "{text}");
    }
    snap("plan_running", &running);

    let done = fixture::plan_summary();
    for (w, h) in SIZES {
        let text = screen(&done, w, h);
        assert!(
            text.contains("applied 3 change(s): 2 verified, 0 not verified, 1 failed"),
            "{text}"
        );
        assert!(
            text.contains("verified") && text.contains("failed"),
            "{text}"
        );
    }
    snap("plan_summary", &done);

    let mut dialog = fixture::plan_screen(false);
    dialog.dialog = Some(Dialog::Apply {
        changes: fixture::plan().changes,
    });
    for (w, h) in SIZES {
        let text = screen(&dialog, w, h);
        assert!(text.contains("Apply 3 changes on 3 hosts?"), "{text}");
        for n in ["lodestar-bn", "geth", "demo-2"] {
            assert!(text.contains(n), "{n} named:\n{text}");
        }
    }
    snap("plan_confirm", &dialog);
}

#[test]
fn releases_upgrade_confirm_and_progress() {
    let mut app = fixture::releases();
    app.dialog = Some(Dialog::Upgrade(nodeherd_tui::state::UpgradeAsk {
        r: app.rows[0].r,
        host: "eth-a1".into(),
        node: "lodestar-bn".into(),
        rollback: false,
        from: Some("1.5.1".into()),
        to: Some("1.6.0".into()),
    }));
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        assert!(text.contains("Upgrade eth-a1/lodestar-bn?"), "{text}");
        assert!(text.contains("1.5.1  ->  1.6.0"), "{text}");
    }
    snap("releases_upgrade_confirm", &app);

    let mut running = fixture::releases();
    running
        .progress
        .insert("eth-a1/lodestar-bn".into(), "uploading".into());
    for (w, h) in SIZES {
        assert!(screen(&running, w, h).contains("~ uploading…"));
    }
    snap("releases_upgrading", &running);
}

/// An upgrade to an older version is asked as the downgrade it is (issue #15 item 8).
#[test]
fn a_downgrade_is_confirmed_as_a_downgrade() {
    let mut app = fixture::releases();
    app.dialog = Some(Dialog::Upgrade(nodeherd_tui::state::UpgradeAsk {
        r: app.rows[0].r,
        host: "eth-a1".into(),
        node: "lodestar-bn".into(),
        rollback: false,
        from: Some("1.5.1".into()),
        to: Some("1.4.2".into()),
    }));
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        assert!(text.contains("Downgrade eth-a1/lodestar-bn?"), "{text}");
        assert!(text.contains("Confirm downgrade"), "{text}");
        assert!(text.contains("y downgrade"), "{text}");
        assert!(!text.contains("Upgrade eth-a1"), "{text}");
    }
}

#[test]
fn history_screen() {
    let app = fixture::history();
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        assert!(text.contains("8 entries"), "{text}");
        assert!(text.contains("1.14.10 -> 1.14.11"), "{text}");
        assert!(text.contains("cosmos-1: ssh: connection refused"), "{text}");
    }
    // newest first
    let text = screen(&app, 160, 48);
    let apply = text.find("apply").unwrap_or(usize::MAX);
    let first = text.find("1.14.10").unwrap_or(0);
    assert!(apply < first, "newest entry on top:\n{text}");
    // every kind of action reads in full (the ACTION column fits `unit-rewrite`)
    for action in ["unit-rewrite", "key-import", "restart", "backup"] {
        assert!(text.contains(action), "{action}:\n{text}");
    }
    snap("history", &app);

    let mut loading = fixture::fleet(false);
    loading.screen = Screen::History;
    loading.history.loading = true;
    snap("history_loading", &loading);
}

#[test]
fn long_plan_keeps_the_cursor_row_on_screen() {
    let mut app = fixture::plan_screen(false);
    if let Some(p) = app.plan.plan.data.as_mut() {
        let c = p.changes[1].clone();
        p.changes = (0..60)
            .map(|i| {
                let mut c = c.clone();
                c.node = format!("node-{i:02}");
                c
            })
            .collect();
    }
    app.plan.selected = 50;
    for (w, h) in SIZES {
        let text = screen(&app, w, h);
        assert!(text.contains("> + eth-a2/node-50"), "{text}");
        assert!(!text.contains("eth-a2/node-00"), "scrolled:\n{text}");
    }
}

/// An upgrade waiting for a quiet window shows the countdown; one in its gate shows the gate
/// (issue #15 item 7).
#[test]
fn releases_waiting_for_a_quiet_window_and_in_the_gate() {
    use nodeherd_engine::upgrade::progress::Step;
    use std::time::Duration;
    let mut app = fixture::releases();
    app.upgrading.insert("eth-a1/lodestar-bn".into());
    app.progress
        .insert("eth-a1/lodestar-bn".into(), "waiting for quiet".into());
    app.waits.insert(
        "eth-a1/lodestar-bn".into(),
        Step::Quiet {
            blocker: "attestation duty of validator 3 at slot 812".into(),
            next_in: Duration::from_secs(7),
            gives_up_in: Duration::from_secs(800),
        },
    );
    let text = screen(&app, 160, 48);
    assert!(
        text.contains(
            "waiting for a quiet window: attestation duty of validator 3 at slot 812 in 7s; gives up in 13m20s"
        ),
        "{text}"
    );
    assert!(
        text.contains("cancel"),
        "the cancel key in the hint bar:\n{text}"
    );
    snap("releases_waiting", &app);

    app.waits.insert(
        "eth-a1/lodestar-bn".into(),
        Step::Gate {
            elapsed: Duration::from_secs(40),
            timeout: Duration::from_secs(150),
            said: "syncing".into(),
        },
    );
    app.switching.insert("eth-a1/lodestar-bn".into());
    assert!(screen(&app, 160, 48).contains("~ gate 40s/150s…"));
    snap("releases_gate", &app);
}

#[test]
fn cosmos_screen_upgrades_proposals_and_signing() {
    let app = fixture::cosmos();
    let text = screen(&app, 160, 48);
    for must in [
        // 150 blocks at 6.2 s, read 20 s ago: 15m 30s - 20 s
        "upgrade `v19` at height 20739800, in ~15m 10s",
        "staged (releases/v19)",
        "NOT STAGED",
        "staged for Cosmovisor",
        "no upgrade pending",
        "voted (ends in 1d 6h)",
        "NOT VOTED, ends in 9h 12m",
        "3.12% (312/10000)",
        "JAILED",
        "no valoper",
        "/status: no answer within 10s",
    ] {
        assert!(text.contains(must), "{must} missing: {text}");
    }
    snap("cosmos", &app);
    // the countdowns move with the clock, between two reads of the watch
    let later = {
        let mut t = Terminal::new(TestBackend::new(160, 48)).expect("test backend");
        let frame = t
            .draw(|f| views::draw(f, &app, fixture::now() + chrono::Duration::seconds(70)))
            .expect("draw");
        buffer_text(frame.buffer)
    };
    assert!(later.contains("in ~14m 0s"), "{later}");
    assert!(later.contains("NOT VOTED, ends in 9h 10m"), "{later}");
    let mut scrolled = fixture::cosmos();
    scrolled.cosmos_scroll = 12;
    snap("cosmos_scrolled", &scrolled);
    let mut loading = fixture::fleet(false);
    loading.screen = Screen::Cosmos;
    loading.cosmos.loading = true;
    snap("cosmos_loading", &loading);
    let mut none = fixture::fleet(false);
    none.screen = Screen::Cosmos;
    none.cosmos.finish(Ok(vec![]), fixture::now());
    snap("cosmos_empty", &none);
}
