//! A stopped chain proves nothing: the keeper client (interop keys 0..6) is stopped and key 7
//! moved vc2 -> vc with one quiet epoch. With no validator signing, no block comes: Lodestar's
//! head stays behind the clock and it calls itself syncing, while its liveness endpoint answers
//! "not live" for every validator. The wait must refuse to count those answers: the move stops,
//! exit 1, naming the epoch and the beacon node's state, with the key on neither client and the
//! move's state file at `waiting` (a rerun resumes once the chain goes on).
//! Owns: that scenario. Runs last: the lab's chain does not resume after it.
//! May not touch: the lab's setup.

use std::time::Instant;

use serde_json::Value;

use crate::moves::move_args;
use crate::{Ctx, VC, VC2};

pub fn a_stopped_chain_proves_nothing(ctx: &Ctx) {
    assert_eq!(ctx.holders(), Some((false, true)), "key 7 starts on vc2");
    let out = ctx.ssh("systemctl stop lodestar-keeper && echo stopped");
    assert!(out.contains("stopped"), "{out}");
    let (ks, pw) = (
        ctx.keystore.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let mut args = move_args(ctx, VC2, VC, &ks, &pw);
    args.extend(["--quiet-epochs", "1"]);
    let t = Instant::now();
    let (code, out, err) = ctx.nodeherd(&args);
    eprintln!("the move stopped after {:.1?}", t.elapsed());
    assert_eq!(code, 1, "{out}{err}");
    let text = format!("{out}{err}");
    assert!(text.contains("cannot be judged"), "{text}");
    assert!(
        text.contains("nhkeys-1/lodestar-bn: it is syncing")
            || text.contains("nhkeys-1/lodestar-bn: its head slot"),
        "{text}"
    );
    assert!(text.contains("rerun the same command"), "{text}");
    assert!(
        err.contains("not judged yet"),
        "asked again each slot: {err}"
    );
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(
        report["quiet"]["run"].as_array().map(Vec::len),
        Some(0),
        "no epoch counted: {report}"
    );
    assert_eq!(ctx.holders(), Some((false, false)), "on neither client");
    let (_, st) = ctx.move_state();
    assert_eq!(st["phase"], "waiting", "{st}");
}
