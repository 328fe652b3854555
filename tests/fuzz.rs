//! Fuzzing on stable Rust: every parser of outside text (inventory, ssh_config, selectors, playbooks,
//! alerts, `systemctl show`, journals, host facts, metrics pages, known_hosts, release feeds, Beacon and
//! Keymanager answers, keystores) is fed seeded mutations of real files, long lines, unicode,
//! truncations and random bytes. Property: no panic, no call over the time bound, and the round trips
//! each target asserts. A bounded count runs in every `cargo test`; `NODEHERD_FUZZ_CASES=100000
//! cargo test --release --test fuzz` runs longer (docs/fuzzing.md). Every failing input is kept under
//! `tests/fixtures/fuzz/<target>/` and replayed by `replay_kept_inputs`.

#[path = "fuzz/config.rs"]
mod config;
#[path = "fuzz/facts.rs"]
mod facts;
#[path = "fuzz/harness.rs"]
mod harness;
#[path = "fuzz/tree.rs"]
mod tree;
#[path = "fuzz/wire.rs"]
mod wire;

use harness::{Target, fuzz, replay};

const TARGETS: &[&Target] = &[
    &config::INVENTORY,
    &config::INVENTORY_REPORT,
    &config::SSH_CONFIG,
    &config::SELECTOR,
    &config::PLAYBOOK,
    &config::PLAYBOOK_REPORT,
    &config::ALERTS,
    &facts::SYSTEMD_SHOW,
    &facts::JOURNAL_LINES,
    &facts::HOST_FACTS,
    &facts::HISTORY,
    &facts::METRICS_PAGE,
    &wire::KNOWN_HOSTS,
    &wire::RELEASE_FEED,
    &wire::BEACON_API,
    &wire::KEYMANAGER_API,
    &wire::KEYSTORE,
];

#[test]
fn every_kept_input_folder_has_a_target() {
    assert_eq!(harness::orphans(TARGETS), Vec::<String>::new());
}

#[test]
fn the_generator_is_seeded() {
    let corpus = vec![b"[hosts.a]\naddress = \"10.0.0.1\"\n".to_vec()];
    let mut a = harness::Gen::new(7, &corpus, &["x"], 4096);
    let mut b = harness::Gen::new(7, &corpus, &["x"], 4096);
    let first: Vec<Vec<u8>> = (0..50).map(|_| a.input()).collect();
    assert_eq!(first, (0..50).map(|_| b.input()).collect::<Vec<_>>());
    assert!(first.iter().all(|i| i.len() <= 4096));
    assert!(
        first.iter().any(|i| i.len() > 1000),
        "some inputs carry a long line"
    );
}

#[test]
fn structured_mutants_keep_their_syntax() {
    let toml_file =
        std::fs::read(harness::root().join("inventory/examples/production.toml")).expect("read");
    let json_file = std::fs::read(harness::root().join("tests/fixtures/keys/eip2335-scrypt.json"))
        .expect("read");
    let mut rng = harness::Rng::new(3);
    let (mut toml_ok, mut json_ok, mut changed) = (0, 0, 0);
    for _ in 0..100 {
        let t = tree::mutant(&mut rng, tree::Shape::Toml, &toml_file).expect("the example parses");
        toml_ok += usize::from(toml::from_str::<toml::Table>(&String::from_utf8_lossy(&t)).is_ok());
        let j = tree::mutant(&mut rng, tree::Shape::Json, &json_file).expect("the keystore parses");
        json_ok += usize::from(serde_json::from_slice::<serde_json::Value>(&j).is_ok());
        let original: serde_json::Value = serde_json::from_slice(&json_file).expect("json");
        changed +=
            usize::from(serde_json::from_slice::<serde_json::Value>(&j).ok() != Some(original));
    }
    assert_eq!((toml_ok, json_ok), (100, 100));
    assert!(
        changed >= 90,
        "only {changed} of 100 mutants differ from the file"
    );
}

#[test]
fn the_runner_catches_panics_and_hangs() {
    fn panics(b: &[u8]) {
        assert!(!b.starts_with(b"boom"), "boom");
    }
    fn hangs(b: &[u8]) {
        if b == b"loop" {
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
    }
    let mut r = harness::Runner::new(panics);
    assert!(r.call(b"fine").is_ok());
    let f = r.call(b"boom and more text").unwrap_err();
    assert!(
        matches!(&f, harness::Failure::Panic(m) if m.contains("boom")),
        "{f:?}"
    );
    assert_eq!(r.shrink(b"boom and more text", &f), b"boom");
    let mut r = harness::Runner::with_limit(hangs, std::time::Duration::from_millis(300));
    assert_eq!(r.call(b"loop"), Err(harness::Failure::Hang));
    assert!(
        r.call(b"fine").is_ok(),
        "a new worker replaces the stuck one"
    );
}

/// Per target: the fuzz run, and the replay of its kept inputs.
macro_rules! fuzz_tests {
    ($($fuzz:ident, $replay:ident => $target:expr),* $(,)?) => {
        $(
            #[test]
            fn $fuzz() {
                fuzz(&$target);
            }

            #[test]
            fn $replay() {
                replay(&$target);
            }
        )*
    };
}

fuzz_tests! {
    fuzz_inventory, replay_inventory => config::INVENTORY,
    fuzz_ssh_config, replay_ssh_config => config::SSH_CONFIG,
    fuzz_selector, replay_selector => config::SELECTOR,
    fuzz_playbook, replay_playbook => config::PLAYBOOK,
    fuzz_alerts, replay_alerts => config::ALERTS,
    fuzz_systemd_show, replay_systemd_show => facts::SYSTEMD_SHOW,
    fuzz_journal_lines, replay_journal_lines => facts::JOURNAL_LINES,
    fuzz_host_facts, replay_host_facts => facts::HOST_FACTS,
    fuzz_history, replay_history => facts::HISTORY,
    fuzz_metrics_page, replay_metrics_page => facts::METRICS_PAGE,
    fuzz_known_hosts, replay_known_hosts => wire::KNOWN_HOSTS,
    fuzz_release_feed, replay_release_feed => wire::RELEASE_FEED,
    fuzz_beacon_api, replay_beacon_api => wire::BEACON_API,
    fuzz_keymanager_api, replay_keymanager_api => wire::KEYMANAGER_API,
    fuzz_keystore, replay_keystore => wire::KEYSTORE,
}

// miette 7.6's graphical handler panics ("Formatting argument out of range", graphical.rs:1159) when
// an error points into a line longer than 65535 columns: issue #15 item 13, fixed by the `check`
// work, not here. The inputs that found it are kept; these four run once that fix lands.

#[test]
fn fuzz_inventory_report() {
    fuzz(&config::INVENTORY_REPORT);
}

#[test]
fn replay_inventory_report() {
    replay(&config::INVENTORY_REPORT);
}

#[test]
fn fuzz_playbook_report() {
    fuzz(&config::PLAYBOOK_REPORT);
}

#[test]
fn replay_playbook_report() {
    replay(&config::PLAYBOOK_REPORT);
}
