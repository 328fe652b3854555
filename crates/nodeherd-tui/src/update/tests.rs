use crate::fixture;
use crate::keymap::Action;
use crate::state::HostKeyAsk;
use crate::state::Prompt;
use crate::update::*;
use crossterm::event::KeyCode;
use crossterm::event::{KeyEvent, KeyModifiers};
use nodeherd_core::facts::systemd;
use nodeherd_core::inventory::NodeRef;
use tokio::sync::oneshot;

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}
fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}
fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}
fn press(app: &mut App, msgs: Vec<Msg>) -> Vec<Effect> {
    let mut all = Vec::new();
    for m in msgs {
        all.extend(update(app, m, fixture::now()));
    }
    all
}

#[test]
fn restart_asks_first_and_names_the_node() {
    let mut app = fixture::fleet(false);
    let fx = press(&mut app, vec![key('j'), key('j'), key('r')]);
    assert!(fx.is_empty(), "no action before confirmation: {fx:?}");
    let target = app.rows[2].r;
    match &app.dialog {
        Some(Dialog::Confirm { action, nodes }) => {
            assert_eq!(*action, Action::Restart);
            assert_eq!(nodes, &vec![target]);
        }
        other => panic!("expected confirm dialog, got {other:?}"),
    }
    // any other key is ignored while the dialog is open
    assert!(press(&mut app, vec![key('q'), key('j')]).is_empty());
    assert!(!app.quit && app.selected == 2);
    let fx = press(&mut app, vec![key('y')]);
    assert!(
        matches!(&fx[..], [Effect::Act { action: systemd::Action::Restart, nodes }] if nodes == &vec![target]),
        "{fx:?}"
    );
    assert!(app.dialog.is_none());
    assert!(app.busy.contains(&target));
}

#[test]
fn cancel_does_nothing() {
    let mut app = fixture::fleet(false);
    press(&mut app, vec![key('x')]);
    assert!(matches!(
        app.dialog,
        Some(Dialog::Confirm {
            action: Action::Stop,
            ..
        })
    ));
    let fx = press(&mut app, vec![code(KeyCode::Esc)]);
    assert!(fx.is_empty());
    assert!(app.dialog.is_none() && app.busy.is_empty());
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("cancelled"))
    );
}

#[test]
fn marked_nodes_are_the_targets() {
    let mut app = fixture::fleet(false);
    press(&mut app, vec![key(' '), key(' '), key('r')]);
    let Some(Dialog::Confirm { nodes, .. }) = &app.dialog else {
        panic!("no dialog");
    };
    assert_eq!(nodes, &vec![app.rows[0].r, app.rows[1].r]);
    let fx = press(&mut app, vec![key('y')]);
    assert!(matches!(&fx[..], [Effect::Act { nodes, .. }] if nodes.len() == 2));
    assert!(app.marked.is_empty());
}

#[test]
fn start_is_not_confirmed_but_readonly_removes_it() {
    let mut app = fixture::fleet(false);
    let fx = press(&mut app, vec![key('S')]);
    assert!(matches!(
        &fx[..],
        [Effect::Act {
            action: systemd::Action::Start,
            ..
        }]
    ));
    let mut ro = fixture::fleet(true);
    for c in ['S', 'r', 'x'] {
        let fx = press(&mut ro, vec![key(c)]);
        assert!(fx.is_empty(), "{c} acted in readonly: {fx:?}");
        assert!(ro.dialog.is_none(), "{c} opened a dialog in readonly");
    }
    let fx = press(
        &mut ro,
        vec![
            key(':'),
            key('r'),
            key('e'),
            key('s'),
            key('t'),
            key('a'),
            key('r'),
            key('t'),
            code(KeyCode::Enter),
        ],
    );
    assert!(fx.is_empty());
    assert!(ro.dialog.is_none());
    assert!(
        ro.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("readonly"))
    );
}

#[test]
fn open_follows_logs_and_back_stops_them() {
    let mut app = fixture::fleet(false);
    let fx = press(&mut app, vec![key('j'), code(KeyCode::Enter)]);
    let r = app.rows[1].r;
    assert!(matches!(&fx[..], [Effect::FollowLogs(n)] if *n == r));
    assert_eq!(app.screen, Screen::Detail);
    // in detail, r restarts the detail node
    press(&mut app, vec![key('r')]);
    assert!(matches!(&app.dialog, Some(Dialog::Confirm { nodes, .. }) if nodes == &vec![r]));
    press(&mut app, vec![key('n')]);
    let fx = press(&mut app, vec![code(KeyCode::Esc)]);
    assert!(matches!(&fx[..], [Effect::StopLogs]));
    assert_eq!(app.screen, Screen::Fleet);
    assert!(app.log.node.is_none());
}

#[test]
fn log_lines_of_other_nodes_are_ignored_and_pause_freezes() {
    let mut app = fixture::detail();
    let n = app.log.visible().count();
    let other = app.rows[3].r;
    let line = fixture::journal().remove(0);
    update(
        &mut app,
        Msg::LogLine {
            node: other,
            line: line.clone(),
        },
        fixture::now(),
    );
    assert_eq!(app.log.visible().count(), n);
    press(&mut app, vec![key('p')]);
    let me = app.detail.unwrap();
    update(
        &mut app,
        Msg::LogLine {
            node: me,
            line: line.clone(),
        },
        fixture::now(),
    );
    assert_eq!(app.log.visible().count(), n, "paused view must not move");
    press(&mut app, vec![key('p')]);
    assert_eq!(app.log.visible().count(), n + 1);
}

#[test]
fn search_filters_the_log_live() {
    let mut app = fixture::detail();
    press(&mut app, vec![key('/'), key('e'), key('r'), key('r')]);
    assert_eq!(app.log.search.as_deref(), Some("err"));
    assert!(
        app.log
            .visible()
            .all(|l| l.message.to_lowercase().contains("err"))
    );
    press(&mut app, vec![code(KeyCode::Enter)]);
    assert!(app.prompt.is_none() && app.log.search.is_some());
    press(&mut app, vec![code(KeyCode::Esc)]);
    assert!(app.log.search.is_none());
    assert_eq!(
        app.screen,
        Screen::Detail,
        "first esc clears the search only"
    );
}

#[test]
fn filter_narrows_the_table_and_esc_clears() {
    let mut app = fixture::fleet(false);
    press(&mut app, vec![key('/'), key('g'), key('e'), key('t')]);
    assert_eq!(app.view.len(), 1);
    assert_eq!(app.selected_row().map(|r| r.node.as_str()), Some("geth"));
    press(&mut app, vec![code(KeyCode::Enter)]);
    assert_eq!(app.filter, "get");
    press(&mut app, vec![code(KeyCode::Esc)]);
    assert_eq!(app.view.len(), 6);
}

#[test]
fn command_prompt_switches_screens_and_quits() {
    let mut app = fixture::fleet(false);
    press(
        &mut app,
        vec![
            key(':'),
            key('a'),
            key('l'),
            key('e'),
            key('r'),
            key('t'),
            key('s'),
            code(KeyCode::Enter),
        ],
    );
    assert_eq!(app.screen, Screen::Alerts);
    press(&mut app, vec![key(':'), key('z'), code(KeyCode::Enter)]);
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("unknown command"))
    );
    let fx = press(&mut app, vec![key(':'), key('q'), code(KeyCode::Enter)]);
    assert!(matches!(&fx[..], [Effect::Quit]));
    assert!(app.quit);
}

#[test]
fn ctrl_c_quits_from_anywhere_and_ctrl_z_suspends() {
    let mut app = fixture::fleet(false);
    let fx = press(&mut app, vec![ctrl('z')]);
    assert!(matches!(&fx[..], [Effect::Suspend]));
    press(&mut app, vec![key('/')]);
    let fx = press(&mut app, vec![ctrl('c')]);
    assert!(matches!(&fx[..], [Effect::Quit]));
}

#[test]
fn host_key_questions_queue_and_get_answers() {
    let mut app = fixture::fleet(false);
    let ask = |h: &str| HostKeyAsk {
        host: h.into(),
        address: "10.213.0.11".into(),
        port: 22,
        key_type: "ssh-ed25519".into(),
        fingerprint: "SHA256:abc".into(),
    };
    let (t1, _r1) = oneshot::channel();
    let (t2, _r2) = oneshot::channel();
    update(
        &mut app,
        Msg::HostKeyQuestion {
            ask: ask("a"),
            reply: t1,
        },
        fixture::now(),
    );
    update(
        &mut app,
        Msg::HostKeyQuestion {
            ask: ask("b"),
            reply: t2,
        },
        fixture::now(),
    );
    assert_eq!(app.pending_keys.len(), 1);
    let fx = press(&mut app, vec![key('y')]);
    assert!(matches!(
        &fx[..],
        [Effect::AnswerHostKey { accept: true, .. }]
    ));
    assert!(matches!(&app.dialog, Some(Dialog::HostKey { ask, .. }) if ask.host == "b"));
    let fx = press(&mut app, vec![key('n')]);
    assert!(matches!(
        &fx[..],
        [Effect::AnswerHostKey { accept: false, .. }]
    ));
    assert!(app.dialog.is_none());
}

#[test]
fn quitting_refuses_open_host_key_questions() {
    let mut app = fixture::fleet(false);
    let (t1, _r1) = oneshot::channel();
    let ask = HostKeyAsk {
        host: "a".into(),
        address: "x".into(),
        port: 22,
        key_type: "k".into(),
        fingerprint: "f".into(),
    };
    update(
        &mut app,
        Msg::HostKeyQuestion { ask, reply: t1 },
        fixture::now(),
    );
    let fx = update(&mut app, Msg::Terminate, fixture::now());
    assert!(matches!(
        &fx[..],
        [Effect::AnswerHostKey { accept: false, .. }, Effect::Quit]
    ));
}

#[test]
fn action_done_updates_pid_and_flashes_it() {
    let mut app = fixture::fleet(false);
    let r = app.rows[4].clone();
    app.busy.insert(r.r);
    let after = fixture::unit(&r.unit, "active", "running", Some(9999), 1);
    let outcome = nodeherd_engine::lifecycle::ActionOutcome {
        host: r.host.clone(),
        node: r.node.clone(),
        unit: r.unit.clone(),
        action: systemd::Action::Restart,
        ok: true,
        after: Some(after),
        error: None,
        took: std::time::Duration::from_millis(300),
    };
    let fx = update(
        &mut app,
        Msg::ActionDone {
            action: systemd::Action::Restart,
            outcomes: vec![outcome],
        },
        fixture::now(),
    );
    assert!(matches!(&fx[..], [Effect::PollNow]));
    assert_eq!(app.rows[4].pid(), Some(9999));
    assert!(app.busy.is_empty());
    let text = &app.flash.as_ref().unwrap().text;
    assert!(text.contains("455") && text.contains("9999"), "{text}");
}

#[test]
fn status_batch_fills_rows_by_name_and_keeps_selection() {
    let mut app = fixture::fleet(false);
    press(&mut app, vec![key('j'), key('j'), key('j')]);
    let sel = app.selected_row().unwrap().r;
    let mut batch = Vec::new();
    let r = app.rows[0].clone();
    batch.push(fixture::status(&r, None, None, Some("connection refused")));
    update(&mut app, Msg::StatusBatch(batch), fixture::now());
    assert_eq!(app.rows[0].health(), crate::state::Health::Unreachable);
    press(&mut app, vec![key('s')]); // sort by state: the unreachable row moves up
    assert_eq!(
        app.selected_row().unwrap().r,
        sel,
        "selection follows the node"
    );
    assert_eq!(app.rows[app.view[0]].r, r.r);
}

#[test]
fn tick_expires_the_flash() {
    let mut app = fixture::fleet(false);
    press(&mut app, vec![key('s')]);
    assert!(app.flash.is_some());
    update(
        &mut app,
        Msg::Tick,
        fixture::now() + Duration::seconds(FLASH_SECS + 1),
    );
    assert!(app.flash.is_none());
}

#[test]
fn metrics_messages_fill_the_row_and_the_fleet_shows_them() {
    use crate::state::NodeMetrics;
    let mut app = fixture::fleet(false);
    let i = app.row_index("lab-1", "demo").expect("row");
    assert!(app.rows[i].metrics.head_slot.is_none());
    let mut s = nodeherd_core::metrics::series::Series::new(10);
    s.push(1, 5.0);
    s.push(2, 6.0);
    let m = NodeMetrics {
        head_slot: Some(424_242),
        sync_distance: Some(9),
        peers: Some(31),
        cpu_pct: Some(55.0),
        mem_pct: Some(22.0),
        disk_pct: Some(77.0),
        series: vec![("peers".into(), s)],
    };
    app.dirty = false;
    let fx = update(
        &mut app,
        Msg::Metrics {
            host: "lab-1".into(),
            node: "demo".into(),
            metrics: m,
        },
        fixture::now(),
    );
    assert!(fx.is_empty() && app.dirty);
    let row = &app.rows[i];
    assert_eq!(row.metrics.head_slot, Some(424_242));
    assert_eq!(row.metrics.peers, Some(31));
    assert_eq!(row.metrics.series.len(), 1);
    // sync distance 9 makes it a syncing node in the pulse
    assert_eq!(row.health(), crate::state::Health::Syncing);
    // a node that is not in the session is ignored
    update(
        &mut app,
        Msg::Metrics {
            host: "nope".into(),
            node: "demo".into(),
            metrics: NodeMetrics::default(),
        },
        fixture::now(),
    );
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 48)).expect("tb");
    let frame = t
        .draw(|f| crate::views::draw(f, &app, fixture::now()))
        .expect("draw");
    let text = crate::buffer_text(frame.buffer);
    let line = text
        .lines()
        .find(|l| l.contains("lab-1") && l.contains(" demo "))
        .expect("row on screen");
    for want in ["424242", "31", "55%", "22%", "77%"] {
        assert!(line.contains(want), "{want} missing in {line:?}");
    }
}

#[test]
fn host_level_alerts_count_on_every_node_of_the_host_and_notices_flash() {
    use crate::state::{AlertRow, AlertState};
    let mut app = fixture::fleet(false);
    let a = |node: &str| AlertRow {
        state: AlertState::Firing,
        severity: "warn".into(),
        rule: "disk_high".into(),
        host: "lab-1".into(),
        node: node.into(),
        since: fixture::now(),
        summary: String::new(),
    };
    update(
        &mut app,
        Msg::Alerts(vec![a(""), a("demo")]),
        fixture::now(),
    );
    let demo = app.row_index("lab-1", "demo").expect("row");
    let demo2 = app.row_index("lab-1", "demo-2").expect("row");
    assert_eq!(app.rows[demo].alerts, 2);
    assert_eq!(app.rows[demo2].alerts, 1);
    update(
        &mut app,
        Msg::Notice {
            text: "alerts: bad\u{1b}[31m file".into(),
            error: true,
        },
        fixture::now(),
    );
    let f = app.flash.as_ref().expect("flash");
    assert!(f.error && !f.text.contains('\u{1b}'), "{f:?}");
}

#[test]
fn releases_load_on_demand_once_and_fill_the_upgrade_badges() {
    let mut app = fixture::fleet(false);
    app.rows[0].upgrade = None;
    let mut cmd = vec![key(':')];
    cmd.extend("releases".chars().map(key));
    cmd.push(code(KeyCode::Enter));
    let fx = press(&mut app, cmd);
    assert_eq!(app.screen, Screen::Releases);
    assert!(matches!(fx.as_slice(), [Effect::LoadReleases]), "{fx:?}");
    assert!(app.releases.loading && app.releases.data.is_none());
    // R while loading starts nothing more
    assert!(press(&mut app, vec![key('R')]).is_empty());
    update(
        &mut app,
        Msg::Releases(Ok(fixture::release_rows())),
        fixture::now(),
    );
    assert!(!app.releases.loading);
    assert_eq!(app.releases.data.as_ref().map(Vec::len), Some(4));
    assert_eq!(app.rows[0].upgrade.as_deref(), Some("1.6.0"));
    assert_eq!(app.rows[1].upgrade, None);
    press(
        &mut app,
        vec![key('j'), key('j'), key('j'), key('j'), key('j')],
    );
    assert_eq!(app.releases_selected, 3);
    // a failed reload keeps the old rows and reports the error
    let fx = press(&mut app, vec![key('R')]);
    assert!(matches!(fx.as_slice(), [Effect::LoadReleases]), "{fx:?}");
    update(
        &mut app,
        Msg::Releases(Err("feed down".into())),
        fixture::now(),
    );
    assert_eq!(app.releases.data.as_ref().map(Vec::len), Some(4));
    assert_eq!(app.releases.error.as_deref(), Some("feed down"));
    press(&mut app, vec![key('f')]);
    assert_eq!(app.screen, Screen::Fleet);
}

fn keys_screen() -> App {
    let mut app = fixture::fleet(false);
    let mut cmd = vec![key(':')];
    cmd.extend("keys".chars().map(key));
    cmd.push(code(KeyCode::Enter));
    let fx = press(&mut app, cmd);
    assert_eq!(app.screen, Screen::Keys);
    assert!(matches!(fx.as_slice(), [Effect::LoadKeys]), "{fx:?}");
    assert!(app.keys.loading);
    update(&mut app, Msg::Keys(fixture::node_keys()), fixture::now());
    assert!(!app.keys.loading);
    assert_eq!(app.key_entries().len(), 3);
    app
}

#[test]
fn remove_key_asks_naming_node_and_pubkey_then_removes_on_yes() {
    let mut app = keys_screen();
    // nothing happens before the confirmation
    let fx = press(&mut app, vec![key('d')]);
    assert!(fx.is_empty(), "{fx:?}");
    match &app.dialog {
        Some(Dialog::RemoveKey { key }) => {
            assert_eq!(
                (key.host.as_str(), key.node.as_str()),
                ("eth-a1", "lodestar-vc")
            );
            assert_eq!(key.pubkey, fixture::PUBKEYS[0]);
        }
        other => panic!("expected the remove dialog, got {other:?}"),
    }
    // other keys are ignored while it is open
    assert!(press(&mut app, vec![key('j'), key('q'), key('d')]).is_empty());
    assert!(!app.quit && app.keys_selected == 0);
    let fx = press(&mut app, vec![key('y')]);
    match fx.as_slice() {
        [Effect::RemoveKey { node, pubkey }] => {
            assert_eq!(*node, app.rows[1].r);
            assert_eq!(pubkey, fixture::PUBKEYS[0]);
        }
        other => panic!("expected one RemoveKey effect, got {other:?}"),
    }
    assert!(app.dialog.is_none());
    assert!(app.keys_removing.contains(fixture::PUBKEYS[0]));
    // a second remove of the same key while it runs is refused
    assert!(press(&mut app, vec![key('d')]).is_empty());
    assert!(app.dialog.is_none());
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("already"))
    );
    // the result lands in the flash line and the list is fetched again
    let fx = update(
        &mut app,
        Msg::KeyRemoved {
            pubkey: fixture::PUBKEYS[0].into(),
            ok: true,
            text: "removed 0xa99a76…e44c from eth-a1/lodestar-vc; slashing data saved".into(),
        },
        fixture::now(),
    );
    assert!(matches!(fx.as_slice(), [Effect::LoadKeys]), "{fx:?}");
    assert!(app.keys_removing.is_empty());
    let f = app.flash.as_ref().expect("flash");
    assert!(!f.error && f.text.starts_with("removed 0xa99a76"), "{f:?}");
}

#[test]
fn remove_key_cancel_readonly_remote_and_readonly_keys() {
    // n cancels
    let mut app = keys_screen();
    press(&mut app, vec![key('d')]);
    assert!(press(&mut app, vec![key('n')]).is_empty());
    assert!(app.dialog.is_none() && app.keys_removing.is_empty());
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("cancelled"))
    );
    // esc cancels too
    press(&mut app, vec![key('d')]);
    assert!(press(&mut app, vec![code(KeyCode::Esc)]).is_empty());
    assert!(app.dialog.is_none());
    // a read-only key (the second) and a remote one (the third) are refused without a dialog
    for k in [1usize, 2] {
        app.keys_selected = k;
        assert!(press(&mut app, vec![key('d')]).is_empty());
        assert!(app.dialog.is_none(), "key {k}");
        assert!(app.flash.as_ref().is_some_and(|f| f.error));
    }
    // --readonly: no binding at all, and even a dialog left over cannot remove
    let mut ro = fixture::keys(true);
    assert!(press(&mut ro, vec![key('d')]).is_empty());
    assert!(ro.dialog.is_none());
    let key0 = ro.selected_key().cloned().expect("key");
    ro.dialog = Some(Dialog::RemoveKey { key: key0 });
    assert!(press(&mut ro, vec![key('y')]).is_empty());
    assert!(ro.keys_removing.is_empty());
}

fn type_line(app: &mut App, text: &str) -> Vec<Effect> {
    let mut keys: Vec<Msg> = text.chars().map(key).collect();
    keys.push(code(KeyCode::Enter));
    press(app, keys)
}

#[test]
fn import_prompts_checks_then_confirms_naming_node_and_keys() {
    let mut app = keys_screen();
    // i opens the :import prompt for the selected key's node; nothing else happens
    assert!(press(&mut app, vec![key('i')]).is_empty());
    assert_eq!(
        app.prompt,
        Some(Prompt::Command("import eth-a1/lodestar-vc ".into()))
    );
    // the operator names the target node and the files: the line is replaced entirely
    app.prompt = Some(Prompt::Command(String::new()));
    let fx = type_line(
        &mut app,
        "import lab-1/demo-2 k0.json k1.json --password-file pw.txt --slashing-protection sp.json",
    );
    match fx.as_slice() {
        [Effect::CheckImport(c)] => {
            assert_eq!(c.node, NodeRef { host: 3, node: 1 });
            assert_eq!(c.files.len(), 2);
            assert_eq!(c.slashing.as_deref(), Some(std::path::Path::new("sp.json")));
        }
        other => panic!("expected one CheckImport, got {other:?}"),
    }
    assert!(app.dialog.is_none() && app.keys_checking);
    // a second command while the check runs is refused
    assert!(type_line(&mut app, ":import lab-1/demo-2 k.json --password-file pw").is_empty());
    // the check's answer opens the dialog; y imports exactly what was shown
    update(
        &mut app,
        Msg::ImportChecked(Ok(fixture::import_ask())),
        fixture::now(),
    );
    assert!(matches!(app.dialog, Some(Dialog::ImportKeys(_))));
    assert!(!app.keys_checking);
    let fx = press(&mut app, vec![key('y')]);
    match fx.as_slice() {
        [Effect::ImportKeys(ask)] => assert_eq!(*ask, fixture::import_ask()),
        other => panic!("expected one ImportKeys, got {other:?}"),
    }
    assert!(app.dialog.is_none());
    let fx = update(
        &mut app,
        Msg::KeysImported {
            ok: false,
            text: "lab-1/demo-2 refused 0xa99a76…e44c (wrong password)".into(),
        },
        fixture::now(),
    );
    assert!(matches!(fx.as_slice(), [Effect::LoadKeys]), "{fx:?}");
    let f = app.flash.as_ref().expect("flash");
    assert!(f.error && f.text.contains("refused"), "{f:?}");
}

#[test]
fn import_refusals_never_open_a_dialog() {
    let mut app = keys_screen();
    // the guard's refusal (or an unreadable file) arrives as an error: flash, no dialog
    app.keys_checking = true;
    update(
        &mut app,
        Msg::ImportChecked(Err(
            "import refused by the double-sign guard: 0xa99a… is ACTIVE on eth-a1/lodestar-vc"
                .into(),
        )),
        fixture::now(),
    );
    assert!(app.dialog.is_none() && !app.keys_checking);
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("ACTIVE on"))
    );
    // bad command lines say what is wrong, and nothing is checked
    for line in [
        ":import lab-1/demo-2 k.json",
        ":import nowhere/vc k.json --password-file pw",
        ":import",
    ] {
        assert!(type_line(&mut app, line).is_empty(), "{line}");
        assert!(app.flash.as_ref().is_some_and(|f| f.error), "{line}");
        assert!(!app.keys_checking);
    }
    // n cancels a checked import
    update(
        &mut app,
        Msg::ImportChecked(Ok(fixture::import_ask())),
        fixture::now(),
    );
    assert!(press(&mut app, vec![key('n')]).is_empty());
    assert!(app.dialog.is_none());
    // --readonly: no i, :import refused, and a leftover dialog cannot import
    let mut ro = fixture::keys(true);
    assert!(press(&mut ro, vec![key('i')]).is_empty());
    assert!(ro.prompt.is_none());
    assert!(type_line(&mut ro, ":import lab-1/demo-2 k.json --password-file pw").is_empty());
    assert!(
        ro.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("readonly"))
    );
    ro.dialog = Some(Dialog::ImportKeys(fixture::import_ask()));
    assert!(press(&mut ro, vec![key('y')]).is_empty());
    update(
        &mut ro,
        Msg::ImportChecked(Ok(fixture::import_ask())),
        fixture::now(),
    );
    assert!(ro.dialog.is_none());
}

#[test]
fn move_prompts_with_the_selected_key_checks_then_confirms() {
    let mut app = keys_screen();
    assert!(press(&mut app, vec![key('m')]).is_empty());
    let prefill = format!("move {} --to ", fixture::PUBKEYS[0]);
    assert_eq!(app.prompt, Some(Prompt::Command(prefill)));
    let fx = type_line(
        &mut app,
        "lab-1/demo-2 --keystore k0.json --password-file pw.txt",
    );
    match fx.as_slice() {
        [Effect::CheckMove(c)] => {
            assert_eq!(c.pubkey, fixture::PUBKEYS[0]);
            assert_eq!(
                c.from,
                NodeRef { host: 0, node: 1 },
                "the node that lists the key"
            );
            assert_eq!(c.to, NodeRef { host: 3, node: 1 });
        }
        other => panic!("expected one CheckMove, got {other:?}"),
    }
    update(
        &mut app,
        Msg::MoveChecked(Ok(fixture::move_ask())),
        fixture::now(),
    );
    assert!(matches!(app.dialog, Some(Dialog::MoveKey(_))));
    let fx = press(&mut app, vec![key('y')]);
    assert!(
        matches!(fx.as_slice(), [Effect::MoveKey(a)] if *a == fixture::move_ask()),
        "{fx:?}"
    );
    assert!(app.keys_removing.contains(fixture::PUBKEYS[0]));
    // the key is busy: neither a remove nor another move of it starts
    assert!(press(&mut app, vec![key('d')]).is_empty());
    assert!(app.dialog.is_none());
    app.prompt = Some(Prompt::Command(format!(
        "move {} --to lab-1/demo-2 --keystore k --password-file p",
        fixture::PUBKEYS[0]
    )));
    assert!(press(&mut app, vec![code(KeyCode::Enter)]).is_empty());
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("already running"))
    );
    let fx = update(
        &mut app,
        Msg::KeyMoved {
            pubkey: fixture::PUBKEYS[0].into(),
            ok: true,
            text: "moved 0xa99a76…e44c from eth-a1/lodestar-vc to lab-1/demo-2".into(),
        },
        fixture::now(),
    );
    assert!(matches!(fx.as_slice(), [Effect::LoadKeys]), "{fx:?}");
    assert!(app.keys_removing.is_empty());
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| !f.error && f.text.starts_with("moved"))
    );
}

#[test]
fn cosmos_consensus_keys_are_listed_but_never_removed_moved_or_import_targets() {
    let mut app = keys_screen();
    update(
        &mut app,
        Msg::Keys(fixture::node_keys_with_cosmos()),
        fixture::now(),
    );
    // the entries: 3 of eth-a1/lodestar-vc, then the three gaiad keys
    app.keys_selected = 3;
    assert!(app.selected_key().is_some_and(|k| k.cosmos.is_some()));
    for k in ['d', 'm'] {
        assert!(press(&mut app, vec![key(k)]).is_empty());
        assert!(app.dialog.is_none() && app.prompt.is_none(), "{k}");
        assert!(
            app.flash
                .as_ref()
                .is_some_and(|f| f.error && f.text.contains("CometBFT consensus key")),
            "{k}: {:?}",
            app.flash
        );
    }
    // i with a consensus key selected pre-fills a Keymanager node, never the CometBFT one
    assert!(press(&mut app, vec![key('i')]).is_empty());
    assert_eq!(
        app.prompt,
        Some(Prompt::Command("import eth-a1/lodestar-vc ".into()))
    );
    app.prompt = None;
    assert!(type_line(&mut app, ":import cosmos-1/gaiad k.json --password-file pw").is_empty());
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("is not a validator node"))
    );
    // the risk itself is computed from what is listed
    let risks = crate::feed::double_sign_risks(&fixture::node_keys_with_cosmos());
    assert_eq!(risks.len(), 1);
    assert_eq!(risks[0].nodes, vec!["cosmos-1/gaiad", "cosmos-2/gaiad"]);
    assert!(crate::feed::double_sign_risks(&fixture::node_keys()).is_empty());
}

#[test]
fn move_refuses_read_only_and_remote_keys_and_readonly_mode() {
    let mut app = keys_screen();
    for k in [1usize, 2] {
        app.keys_selected = k;
        assert!(press(&mut app, vec![key('m')]).is_empty());
        assert!(app.prompt.is_none(), "key {k}");
        assert!(app.flash.as_ref().is_some_and(|f| f.error));
    }
    let mut ro = fixture::keys(true);
    assert!(press(&mut ro, vec![key('m')]).is_empty());
    assert!(ro.prompt.is_none());
    ro.dialog = Some(Dialog::MoveKey(fixture::move_ask()));
    assert!(press(&mut ro, vec![key('y')]).is_empty());
    assert!(ro.keys_removing.is_empty());
}

#[test]
fn plan_command_loads_a_plan_only_with_a_playbook() {
    let mut app = fixture::fleet(false);
    let mut cmd = vec![key(':')];
    cmd.extend("plan".chars().map(key));
    cmd.push(code(KeyCode::Enter));
    let fx = press(&mut app, cmd);
    assert_eq!(app.screen, Screen::Plan);
    assert!(fx.is_empty(), "no playbook: nothing to plan: {fx:?}");
    let mut app = fixture::fleet(false);
    app.plan.playbook = Some("playbooks/site.toml".into());
    let mut cmd = vec![key(':')];
    cmd.extend("plan".chars().map(key));
    cmd.push(code(KeyCode::Enter));
    let fx = press(&mut app, cmd);
    assert!(matches!(fx.as_slice(), [Effect::LoadPlan]), "{fx:?}");
    assert!(app.plan.plan.loading);
    // a second R while planning does not start another
    assert!(press(&mut app, vec![key('R')]).is_empty());
    let p = fixture::plan();
    let fx = update(
        &mut app,
        Msg::Plan(Ok((p.clone(), fixture::plan_inputs(&p)))),
        fixture::now(),
    );
    assert!(fx.is_empty());
    assert!(!app.plan.plan.loading && app.plan.inputs.is_some());
    assert_eq!(app.plan.plan.data.as_ref(), Some(&p));
}

#[test]
fn apply_asks_first_naming_every_change_then_runs_the_confirmed_plan() {
    let mut app = fixture::plan_screen(false);
    let fx = press(&mut app, vec![key('a')]);
    assert!(
        fx.is_empty(),
        "nothing runs before the confirmation: {fx:?}"
    );
    assert_eq!(app.screen, Screen::Plan, "`a` is apply here, not alerts");
    match &app.dialog {
        Some(Dialog::Apply { changes }) => {
            let names: Vec<String> = changes
                .iter()
                .map(|c| format!("{}/{}", c.host, c.node))
                .collect();
            assert_eq!(names, ["eth-a1/lodestar-bn", "eth-a2/geth", "lab-1/demo-2"]);
        }
        other => panic!("expected the apply dialog, got {other:?}"),
    }
    // other keys are swallowed while it is open
    assert!(press(&mut app, vec![key('q'), key('a')]).is_empty());
    assert!(!app.quit);
    let fx = press(&mut app, vec![key('y')]);
    match fx.as_slice() {
        [Effect::Apply(inputs)] => assert_eq!(inputs.plan, fixture::plan()),
        other => panic!("expected one apply, got {other:?}"),
    }
    assert!(app.plan.applying && app.dialog.is_none());
    assert_eq!(
        app.progress.get("eth-a2/geth").map(String::as_str),
        Some("queued")
    );
    // a second `a` while applying is refused
    assert!(press(&mut app, vec![key('a')]).is_empty());
    assert!(app.dialog.is_none());
    assert!(app.flash.as_ref().is_some_and(|f| f.error));
    // progress events move the rows
    update(
        &mut app,
        Msg::Progress {
            key: "eth-a1/lodestar-bn".into(),
            event: nodeherd_engine::upgrade::engine::Event::Switching,
        },
        fixture::now(),
    );
    assert_eq!(
        app.progress.get("eth-a1/lodestar-bn").map(String::as_str),
        Some("switching")
    );
    let results = fixture::plan_summary().plan.results.unwrap_or_default();
    let fx = update(&mut app, Msg::Applied(Ok(results)), fixture::now());
    assert!(matches!(fx.as_slice(), [Effect::PollNow]), "{fx:?}");
    assert!(!app.plan.applying && app.progress.is_empty());
    assert!(
        app.plan.inputs.is_none(),
        "a finished apply leaves no plan to re-apply"
    );
    let f = app.flash.as_ref().map(|f| (f.text.clone(), f.error));
    assert_eq!(
        f,
        Some(("apply done: 3 change(s), 2 verified, 1 failed".into(), true))
    );
    // and `a` now asks for a fresh plan instead of applying a stale one
    assert!(press(&mut app, vec![key('a')]).is_empty());
    assert!(app.dialog.is_none());
}

#[test]
fn apply_cancelled_does_nothing() {
    let mut app = fixture::plan_screen(false);
    let fx = press(&mut app, vec![key('a'), code(KeyCode::Esc)]);
    assert!(fx.is_empty() && app.dialog.is_none() && !app.plan.applying);
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("cancelled"))
    );
}

#[test]
fn apply_of_an_empty_plan_has_no_dialog() {
    let mut app = fixture::plan_screen(false);
    if let Some(p) = app.plan.plan.data.as_mut() {
        p.changes.clear();
    }
    assert!(press(&mut app, vec![key('a')]).is_empty());
    assert!(app.dialog.is_none());
}

#[test]
fn readonly_plan_screen_cannot_apply() {
    let mut app = fixture::plan_screen(true);
    let fx = press(&mut app, vec![key('a')]);
    assert!(fx.is_empty());
    assert!(app.dialog.is_none());
    // under --readonly `a` is the global binding again: alerts
    assert_eq!(app.screen, Screen::Alerts);
    // a dialog smuggled in by a bug still refuses
    let mut app = fixture::plan_screen(true);
    app.dialog = Some(Dialog::Apply {
        changes: fixture::plan().changes,
    });
    assert!(press(&mut app, vec![key('y')]).is_empty());
    assert!(!app.plan.applying);
}

#[test]
fn upgrade_and_rollback_ask_first_naming_host_node_and_versions() {
    let mut app = fixture::releases();
    // row 0 (eth-a1/lodestar-bn) has an upgrade to 1.6.0
    let fx = press(&mut app, vec![key('u')]);
    assert!(fx.is_empty());
    let r = app.rows[0].r;
    match &app.dialog {
        Some(Dialog::Upgrade(ask)) => {
            assert_eq!(
                (ask.host.as_str(), ask.node.as_str()),
                ("eth-a1", "lodestar-bn")
            );
            assert_eq!(ask.r, r);
            assert!(!ask.rollback);
            assert_eq!(ask.from.as_deref(), Some("1.5.1"));
            assert_eq!(ask.to.as_deref(), Some("1.6.0"));
        }
        other => panic!("expected the upgrade dialog, got {other:?}"),
    }
    let fx = press(&mut app, vec![key('y')]);
    match fx.as_slice() {
        [Effect::Upgrade { node, to }] => assert_eq!((*node, to.as_str()), (r, "1.6.0")),
        other => panic!("expected an upgrade, got {other:?}"),
    }
    assert!(app.upgrading.contains("eth-a1/lodestar-bn"));
    // while it runs, neither u nor b opens another dialog for it
    assert!(press(&mut app, vec![key('u'), key('b')]).is_empty());
    assert!(app.dialog.is_none());
    update(
        &mut app,
        Msg::Progress {
            key: "eth-a1/lodestar-bn".into(),
            event: nodeherd_engine::upgrade::engine::Event::Uploading,
        },
        fixture::now(),
    );
    assert_eq!(
        app.progress.get("eth-a1/lodestar-bn").map(String::as_str),
        Some("uploading")
    );
    let outcome = nodeherd_engine::upgrade::engine::Outcome {
        node: "eth-a1/lodestar-bn".into(),
        action: "upgrade".into(),
        from: Some("1.5.1".into()),
        to: Some("1.6.0".into()),
        status: nodeherd_engine::upgrade::engine::Status::RolledBack,
        detail: "health gate failed: peers 0".into(),
        logs: vec![],
        took: std::time::Duration::from_secs(90),
    };
    let fx = update(
        &mut app,
        Msg::UpgradeDone {
            key: "eth-a1/lodestar-bn".into(),
            rollback: false,
            outcome,
        },
        fixture::now(),
    );
    assert!(fx.iter().any(|e| matches!(e, Effect::PollNow)));
    assert!(fx.iter().any(|e| matches!(e, Effect::LoadReleases)));
    assert!(app.upgrading.is_empty() && app.progress.is_empty());
    let f = app.flash.clone().map(|f| (f.text, f.error));
    assert_eq!(
        f,
        Some((
            "upgrade eth-a1/lodestar-bn 1.5.1 → 1.6.0: rolled-back: health gate failed: peers 0"
                .into(),
            true
        ))
    );
    // rollback of the third row (eth-a2/geth): names `previous` as the target
    let mut app = fixture::releases();
    app.releases_selected = 2;
    assert!(press(&mut app, vec![key('b')]).is_empty());
    match &app.dialog {
        Some(Dialog::Upgrade(ask)) => {
            assert!(ask.rollback);
            assert_eq!(
                ask.to.as_deref(),
                Some("1.14.10"),
                "the host's previous, by name"
            );
            assert_eq!(ask.host, "eth-a2");
        }
        other => panic!("expected the rollback dialog, got {other:?}"),
    }
    assert!(press(&mut app, vec![key('n')]).is_empty());
    assert!(app.upgrading.is_empty());
    assert!(press(&mut app, vec![key('b')]).is_empty());
    let fx = press(&mut app, vec![key('y')]);
    assert!(
        matches!(fx.as_slice(), [Effect::Rollback { to: Some(v), .. }] if v == "1.14.10"),
        "{fx:?}"
    );
    // a node whose host records no previous release: refused with the reason, no dialog
    let mut app = fixture::releases();
    app.releases_selected = 1;
    assert!(press(&mut app, vec![key('b')]).is_empty());
    assert!(app.dialog.is_none());
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("no previous release"))
    );
}

#[test]
fn upgrade_without_an_allowed_version_says_why() {
    let mut app = fixture::releases();
    app.releases_selected = 2;
    assert!(press(&mut app, vec![key('u')]).is_empty());
    assert!(app.dialog.is_none());
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.starts_with("nothing to upgrade on eth-a2/geth"))
    );
}

#[test]
fn readonly_releases_have_no_upgrade_or_rollback() {
    let mut app = fixture::releases();
    app.keymap = crate::keymap::Keymap::new(true);
    app.readonly = true;
    assert!(press(&mut app, vec![key('u'), key('b')]).is_empty());
    assert!(app.dialog.is_none());
}

#[test]
fn history_loads_through_a_worker_and_reloads_on_r() {
    let mut app = fixture::fleet(false);
    let mut cmd = vec![key(':')];
    cmd.extend("history".chars().map(key));
    cmd.push(code(KeyCode::Enter));
    let fx = press(&mut app, cmd);
    assert_eq!(app.screen, Screen::History);
    assert!(matches!(fx.as_slice(), [Effect::LoadHistory]), "{fx:?}");
    update(
        &mut app,
        Msg::History(Ok(crate::state::HistoryData {
            entries: fixture::history_entries(),
            errors: vec![],
        })),
        fixture::now(),
    );
    assert_eq!(app.history.data.as_ref().map(|d| d.entries.len()), Some(8));
    press(&mut app, vec![key('G')]);
    assert_eq!(app.history_selected, 7);
    let fx = press(&mut app, vec![key('R')]);
    assert!(matches!(fx.as_slice(), [Effect::LoadHistory]), "{fx:?}");
}

fn command(app: &mut App, text: &str) -> Vec<Effect> {
    let mut cmd = vec![key(':')];
    cmd.extend(text.chars().map(key));
    cmd.push(code(KeyCode::Enter));
    press(app, cmd)
}

#[test]
fn silence_command_asks_the_runtime_with_an_expiry_and_refuses_bad_input() {
    let mut app = fixture::fleet(true);
    let fx = command(&mut app, "silence peers-low/bn-1 2h");
    match fx.as_slice() {
        [Effect::Silence { spec, until }] => {
            assert_eq!(spec, "peers-low/bn-1");
            assert_eq!(*until, fixture::now() + chrono::Duration::hours(2));
        }
        other => panic!("expected one Silence effect, got {other:?}"),
    }
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| !f.error && f.text.contains("silencing peers-low/bn-1"))
    );
    for bad in [
        "silence",
        "silence peers-low",
        "silence peers-low soon",
        "silence a/b/c/d 2h",
    ] {
        let fx = command(&mut app, bad);
        assert!(fx.is_empty(), "{bad}: {fx:?}");
        assert!(app.flash.as_ref().is_some_and(|f| f.error), "{bad}");
    }
}
