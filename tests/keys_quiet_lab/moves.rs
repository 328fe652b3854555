//! The quiet moves: a move vc -> vc2 waits for two epochs the chain answered not live after the
//! removal; a move back killed during its wait resumes. Owns: those scenarios and the check of a
//! report's quiet proof. May not touch: the lab's setup (keys_quiet_lab.rs).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Instant;

use serde_json::Value;

use crate::{Ctx, MOVED, VC, VC2, Watcher};

pub fn move_args<'a>(
    ctx: &'a Ctx,
    from: &'a str,
    to: &'a str,
    ks: &'a str,
    pw: &'a str,
) -> Vec<&'a str> {
    vec![
        "--json",
        "keys",
        "move",
        &ctx.pubkey,
        "--from",
        from,
        "--to",
        to,
        "--keystore",
        ks,
        "--password-file",
        pw,
        "--yes",
    ]
}

/// The report's liveness answers must prove `needed` quiet epochs after the removal.
pub fn assert_quiet_proof(report: &Value, needed: u64) {
    let quiet = &report["quiet"];
    let removed = quiet["removed_epoch"].as_u64().expect("removed_epoch");
    let run: Vec<u64> = quiet["run"]
        .as_array()
        .expect("run")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(run.len() as u64, needed, "{quiet}");
    assert!(run[0] > removed, "{quiet}");
    assert!(
        run.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive: {quiet}"
    );
    let answers = report["liveness"].as_array().expect("liveness answers");
    for e in &run {
        assert!(
            answers.iter().any(|a| a["epoch"] == *e
                && a["live"] == false
                && a["index"] == MOVED
                && a["request"]
                    .as_str()
                    .is_some_and(|r| r.contains("liveness"))),
            "epoch {e} not answered quiet by the chain: {answers:?}"
        );
    }
}

pub fn move_waits_for_quiet_epochs(ctx: &Ctx) {
    let (ks, pw) = (
        ctx.keystore.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let w = Watcher::start(ctx);
    let t = Instant::now();
    let (code, out, err) = ctx.nodeherd(&move_args(ctx, VC, VC2, &ks, &pw));
    let took = t.elapsed();
    let (both, listings) = w.finish();
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["resumed"], false);
    assert_quiet_proof(&report, 2);
    assert!(
        err.contains("quiet wait: epoch") && err.contains("(2 of 2 quiet epochs)"),
        "progress on stderr: {err}"
    );
    assert!(both.is_empty(), "on both clients at {both:?}");
    assert!(listings >= 5, "the watcher listed {listings} times");
    assert_eq!(ctx.holders(), Some((false, true)), "on vc2 only");
    // The doppelganger check names the unit's flag (the lab's vc2 runs without it).
    let steps = report["steps"].to_string();
    assert!(steps.contains("--doppelgangerProtection"), "{steps}");
    eprintln!("move with 2 quiet epochs took {took:.1?}");
    assert!(ctx.wait_live(400), "the key signs from vc2 after the move");
}

pub fn move_killed_during_the_wait_resumes(ctx: &Ctx) {
    let (ks, pw) = (
        ctx.keystore.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let w = Watcher::start(ctx);
    let mut child = ctx
        .cmd(&ctx.inventory, &move_args(ctx, VC2, VC, &ks, &pw))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn move");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap_or_default();
        seen.push(line.clone());
        if line.contains("quiet wait: epoch") {
            break;
        }
    }
    // SIGKILL during the wait: no cleanup of any kind runs.
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(i32::try_from(child.id()).unwrap_or(0), libc::SIGKILL);
    }
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.contains("quiet wait")),
        "the move never reached its wait: {seen:?}"
    );
    assert_eq!(
        ctx.holders(),
        Some((false, false)),
        "killed in the wait: on neither client"
    );
    let (state_file, st) = ctx.move_state();
    assert_eq!(st["phase"], "waiting", "{st}");
    // A different move of the same key is refused while this one is unfinished.
    let (code, _, err) = ctx.nodeherd(&move_args(ctx, VC, VC2, &ks, &pw));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("finish that move first"), "{err}");
    // The rerun continues and completes.
    let (code, out, err) = ctx.nodeherd(&move_args(ctx, VC2, VC, &ks, &pw));
    let (both, _) = w.finish();
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["resumed"], true, "{report}");
    assert_quiet_proof(&report, 2);
    assert!(both.is_empty(), "on both clients at {both:?}");
    assert_eq!(ctx.holders(), Some((true, false)), "on vc only");
    assert!(!state_file.exists(), "the state file is closed");
}
