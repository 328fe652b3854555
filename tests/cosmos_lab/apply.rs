//! The chain upgrade from `apply` (RECORDED: against cosmos-standin, a stand-in of a Cosmos
//! node): with `[state] chain_upgrades = true`, `plan` lists a `chain upgrade: stage` step for
//! both nodes once a plan `v21` at height H is published; `apply` stages and verifies the binary
//! before H and switches nothing; at the halt a later `apply` (as from cron) switches both, gated
//! on blocks past H. Meanwhile the chain upgrade alerts: `cosmos-plan-not-staged` fires once when
//! the plan appears and resolves once when `apply` staged it; `cosmos-missed-switch` fires once
//! when the node sat halted and resolves once when `apply` switched it. `releases` shows the
//! plan line, `history` the stage and chain-upgrade lines with their detail in the row.

use super::alerts::alerts_round_values;
use super::{
    Ctx, DIR, HOME, height, hex, labsuite, layout, nodeherd, set_plan, sh, wait_height, wrapper,
};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Run `apply` (or `plan`) with the site playbook; its own alerts state (apply evaluates the
/// default alerts file after a run, which must not touch the rounds this test counts).
fn site(ctx: &Ctx, cmd: &str) -> (i32, String, String) {
    let pb = ctx.dir.join("site.toml");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .arg("-i")
        .arg(&ctx.inventory)
        .args([cmd, "-p", pb.to_str().expect("path")])
        .args(if cmd == "apply" {
            &["--yes"][..]
        } else {
            &[][..]
        })
        .env("NODEHERD_STATE_DIR", ctx.dir.join("state"))
        .env("XDG_CACHE_HOME", ctx.dir.join("cache"))
        .env("XDG_STATE_HOME", ctx.dir.join("apply-xdg-state"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run nodeherd");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn halted_for(ctx: &Ctx, i: usize, name: &str) -> bool {
    labsuite::root_ssh(
        &ctx.cfg,
        i,
        &format!("grep -q '\"name\":\"{name}\"' {HOME}/data/upgrade-info.json"),
    )
    .status
    .success()
}

pub fn apply_chain_upgrade(ctx: &Ctx) {
    std::fs::write(
        ctx.dir.join("site.toml"),
        "[upgrade]\nhealth_timeout = \"60s\"\nconfirm_timeout = \"60s\"\nsettle = \"2s\"\n\n[state]\nchain_upgrades = true\n",
    )
    .expect("site playbook");
    let alerts = ctx.dir.join("chain-alerts.toml");
    std::fs::write(
        &alerts,
        "[[rule]]\nname = \"cosmos-plan-not-staged\"\ncondition = { cosmos_plan_not_staged_within = 1 }\nfor = \"0s\"\nseverity = \"page\"\nhint = \"{node} on {host}: {value}\"\n\n[[rule]]\nname = \"cosmos-missed-switch\"\ncondition = { cosmos_missed_switch_after = 3 }\nfor = \"0s\"\nseverity = \"page\"\nhint = \"{node} on {host}: {value}\"\n",
    )
    .expect("alerts file");
    let round = || alerts_round_values(ctx, &alerts);
    let kinds = |v: &[(String, String, String)]| -> Vec<(String, String)> {
        v.iter().map(|(r, k, _)| (r.clone(), k.clone())).collect()
    };
    let pair = |r: &str, k: &str| vec![(r.to_string(), k.to_string())];
    assert_eq!(round(), vec![], "no plan pending: quiet");
    // the v21 binary and its plan, about 40 s of blocks ahead
    let v21 = ctx.dir.join("standind-v21");
    std::fs::write(&v21, wrapper("v21")).expect("v21");
    let sha = hex(&Sha256::digest(wrapper("v21").as_bytes()));
    let info = serde_json::json!({"binaries": {"linux/amd64": format!("file://{}?checksum=sha256:{sha}", v21.display())}}).to_string();
    let now = (1..=2)
        .filter_map(|i| height(ctx, i))
        .max()
        .expect("heights");
    let h = now + 80;
    for i in 1..=2 {
        set_plan(ctx, i, "v21", h, &info);
    }
    // not staged, the height near: fires once, naming node, plan, height, time left, the fix
    let fired = round();
    assert_eq!(kinds(&fired), pair("cosmos-plan-not-staged", "firing"));
    let v = &fired[0].2;
    println!("cosmos-plan-not-staged: {v}");
    assert!(
        v.starts_with(&format!("upgrade `v21` at height {h} (in ~")),
        "{v}"
    );
    assert!(
        v.ends_with("its binary is not staged in releases/v21/; run `nodeherd cosmos upgrade nhcosmos-1/gaia --yes`"),
        "{v}"
    );
    assert_eq!(round(), vec![], "fires once");
    // `releases` shows the plan line
    let (_, rel, _) = nodeherd(ctx, &["releases"]);
    assert!(
        rel.contains(&format!(
            "nhcosmos-1/gaia: upgrade `v21` at height {h}, in ~"
        )),
        "{rel}"
    );
    // plan: a stage step for each node, nothing changed
    let before: Vec<String> = (1..=2).map(|i| layout(ctx, i)).collect();
    let (code, out, err) = site(ctx, "plan");
    println!("{out}");
    assert_eq!(code, 0, "{out}{err}");
    for i in 1..=2 {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("nhcosmos-{i}/gaia"))
                    && l.contains("chain upgrade: stage v21")),
            "{out}"
        );
    }
    assert_eq!(
        out.matches(&format!("upgrade `v21` at height {h} (~"))
            .count(),
        2,
        "{out}"
    );
    assert_eq!(
        out.matches("its binary is not staged in releases/v21/")
            .count(),
        2,
        "{out}"
    );
    assert_eq!(before, (1..=2).map(|i| layout(ctx, i)).collect::<Vec<_>>());
    // apply before H: staged and verified on both, nothing switched
    let t0 = Instant::now();
    let (code, out, err) = site(ctx, "apply");
    println!(
        "apply (stage) took {:.1}s\n{out}",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{out}{err}");
    for i in 1..=2 {
        let l = layout(ctx, i);
        assert!(l.starts_with("releases/v19"), "switched early: {l}");
        assert!(l.contains("v21"), "{l}");
        let got = sh(
            &ctx.cfg,
            i,
            &format!("sha256sum {DIR}/releases/v21/standind | cut -d' ' -f1"),
        );
        assert_eq!(got, sha);
    }
    assert_eq!(kinds(&round()), pair("cosmos-plan-not-staged", "resolved"));
    assert_eq!(round(), vec![], "resolves once");
    let (code, out, _) = site(ctx, "plan");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "nhcosmos-1/gaia: no change: chain upgrade `v21` staged in releases/v21/; waiting for height {h}"
        )),
        "{out}"
    );
    // the halt: nobody switches it for a while, the missed-switch alert fires once
    let t = Instant::now();
    while !(halted_for(ctx, 1, "v21") && halted_for(ctx, 2, "v21")) {
        assert!(t.elapsed() < Duration::from_secs(90), "no halt at {h}");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(4));
    let fired = round();
    assert_eq!(kinds(&fired), pair("cosmos-missed-switch", "firing"));
    println!("cosmos-missed-switch: {}", fired[0].2);
    assert!(
        fired[0]
            .2
            .starts_with(&format!("upgrade `v21` at height {h}: halted")),
        "{}",
        fired[0].2
    );
    assert!(
        fired[0]
            .2
            .contains("not switched; run `nodeherd cosmos upgrade nhcosmos-1/gaia --yes`"),
        "{}",
        fired[0].2
    );
    assert_eq!(round(), vec![], "fires once");
    assert!(
        layout(ctx, 1).starts_with("releases/v19"),
        "not switched by the alerts"
    );
    // a later apply (as from cron): the switch at the halt on both, gated on blocks past H
    let (code, out, _) = site(ctx, "plan");
    assert!(
        out.contains("chain upgrade: switch to v21"),
        "exit {code}: {out}"
    );
    let t0 = Instant::now();
    let (code, out, err) = site(ctx, "apply");
    println!(
        "apply (switch) took {:.1}s\n{out}",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{out}{err}");
    for i in 1..=2 {
        assert!(
            layout(ctx, i).starts_with("releases/v21"),
            "{}",
            layout(ctx, i)
        );
        assert!(wait_height(ctx, i, h + 2, Duration::from_secs(20)) > h);
        let j = sh(&ctx.cfg, i, "journalctl -u gaia.service --no-pager -o cat");
        assert!(
            j.contains(&format!("applying upgrade \"v21\" at height: {h}")),
            "{j}"
        );
    }
    assert_eq!(kinds(&round()), pair("cosmos-missed-switch", "resolved"));
    assert_eq!(round(), vec![], "resolves once");
    // history: the stage and chain-upgrade lines, their detail in the row
    let (code, hist, err) = nodeherd(ctx, &["history", "nhcosmos-1/gaia"]);
    assert_eq!(code, 0, "{hist}{err}");
    println!("{hist}");
    let short = &sha[..8];
    assert!(
        hist.lines().any(|l| l.contains(" stage ")
            && l.contains(&format!("v21 at height {h}, sha256 {short} verified"))),
        "{hist}"
    );
    assert!(
        hist.lines().any(|l| l.contains("chain-upgrade")
            && l.contains(&format!("v21 at height {h}, sha256 {short}: block "))),
        "{hist}"
    );
    for i in 1..=2 {
        let _ = labsuite::root_ssh(&ctx.cfg, i, &format!("rm -f {HOME}/plan.json"));
    }
}
