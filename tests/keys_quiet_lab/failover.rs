//! Failover scenarios: a reachable source fenced, an unreachable one (an address nothing answers
//! on, and a real host whose link is down) refused until `--source-is-fenced`, a failover killed
//! during its wait resumed. Owns: those scenarios. May not touch: the lab's setup.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::moves::assert_quiet_proof;
use crate::{Ctx, PASSWORD, VC, VC2, Watcher, interop};

pub fn failover_args<'a>(from: &'a str, to: &'a str, ks: &'a str, pw: &'a str) -> Vec<&'a str> {
    vec![
        "--json",
        "failover",
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

/// vc holds key 7 (after the moves). Failover to vc2 fences vc: the key out through its
/// keymanager with the slashing data saved, the unit stopped, disabled and masked, no process
/// holding /var/lib/lodestar-vc; then the quiet proof from the chain, then the import into vc2.
pub fn failover_fences_a_reachable_source(ctx: &Ctx) {
    assert_eq!(ctx.holders(), Some((true, false)), "key 7 starts on vc");
    let (ks, pw) = (
        ctx.keystore.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let w = Watcher::start(ctx);
    let (code, out, err) = ctx.nodeherd(&failover_args(VC, VC2, &ks, &pw));
    let (both, _) = w.finish();
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_quiet_proof(&report, 2);
    let steps = report["steps"].to_string();
    assert!(steps.contains("slashing data saved to"), "{steps}");
    // The lab's unit file lives in /etc/systemd/system, where systemd cannot mask it: the
    // fence is then the drop-in whose condition never holds.
    assert!(
        steps.contains("active=inactive") && steps.contains("pid=0"),
        "{steps}"
    );
    assert!(
        steps.contains("enabled=masked") || steps.contains("dropin=loaded"),
        "{steps}"
    );
    assert!(
        steps.contains("no process holds files under /var/lib/lodestar-vc"),
        "{steps}"
    );
    assert!(both.is_empty(), "on both clients at {both:?}");
    // Fenced for good: even a start by hand does not run it.
    let state = ctx.ssh("systemctl start lodestar-vc; sleep 2; systemctl is-active lodestar-vc");
    assert!(state.trim() == "inactive", "{state}");
    let file = report["slashing_file"].as_str().expect("slashing file");
    let saved = std::fs::read_to_string(file).expect("saved slashing data");
    assert!(saved.contains(&ctx.pubkey[2..]), "{saved}");
    // Only vc2 can be asked now (vc is fenced): it has the key.
    let (_, out, _) = ctx.nodeherd(&["--json", "keys", "list", VC2]);
    assert!(out.contains(&ctx.pubkey), "{out}");
    // Bring vc back for the next scenario (no key 7: the keeper runs the others).
    let back = ctx.ssh(
        "rm -f /etc/systemd/system/lodestar-vc.service.d/zz-nodeherd-fenced.conf; systemctl unmask lodestar-vc; systemctl daemon-reload; systemctl enable lodestar-vc; systemctl start lodestar-vc && echo started",
    );
    assert!(back.contains("started"), "{back}");
    let t = Instant::now();
    while ctx.holders() != Some((false, true)) {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "vc did not come back"
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// The source on a host nothing answers on: refused, naming the node and the reason, nothing
/// imported; with --source-is-fenced the key (never deposited: no wait) goes to vc.
pub fn failover_refuses_an_unreachable_source(ctx: &Ctx) {
    let pk = interop::interop_pubkey(1000);
    let ks = interop::interop_keystore(1000, PASSWORD);
    let ks_path = ctx.dir.join("fresh.json");
    std::fs::write(&ks_path, ks).expect("keystore file");
    let mut inv = std::fs::read_to_string(&ctx.inventory).expect("inventory");
    inv.push_str(
        "\n[hosts.nhkeys-ghost]\naddress = \"10.238.0.99\"\n\n[hosts.nhkeys-ghost.nodes.lodestar-vc]\nclient = \"lodestar\"\nrole = \"validator\"\nunit = \"lodestar-vc.service\"\nkeymanager_port = 5062\nkeymanager_token_file = \"/var/lib/lodestar-vc/validator-db/api-token.txt\"\n",
    );
    let ghost_inv = ctx.dir.join("ghost.toml");
    std::fs::write(&ghost_inv, inv).expect("inventory");
    let (ks, pw) = (
        ks_path.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let ghost = "nhkeys-ghost/lodestar-vc";
    let args = failover_args(ghost, VC, &ks, &pw);
    let (code, out, err) = ctx.nodeherd_with(&ghost_inv, &args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(ghost)
            && err.contains("cannot be reached")
            && err.contains("NOT assumed dead")
            && err.contains("--source-is-fenced"),
        "{err}"
    );
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    assert!(!list.contains(&pk), "nothing imported: {list}");
    let mut fenced = args.clone();
    fenced.push("--source-is-fenced");
    let (code, out, err) = ctx.nodeherd_with(&ghost_inv, &fenced);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("--source-is-fenced: taken as powered off"),
        "{out}"
    );
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    assert!(list.contains(&pk), "imported into vc: {list}");
}

/// Key 7 is on vc2 (after the first failover). A failover vc2 -> vc killed with SIGKILL during
/// its wait leaves the key on neither client (vc2 fenced, vc not yet importing); the rerun
/// completes with the fence's slashing data; the key is on vc only.
pub fn failover_killed_during_the_wait_resumes(ctx: &Ctx) {
    assert_eq!(ctx.holders(), Some((false, true)), "key 7 starts on vc2");
    let (ks, pw) = (
        ctx.keystore.to_string_lossy().into_owned(),
        ctx.password_file.to_string_lossy().into_owned(),
    );
    let w = Watcher::start(ctx);
    let mut child = ctx
        .cmd(&ctx.inventory, &failover_args(VC2, VC, &ks, &pw))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn failover");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap_or_default();
        seen.push(line.clone());
        if line.contains("quiet wait: epoch") {
            break;
        }
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(i32::try_from(child.id()).unwrap_or(0), libc::SIGKILL);
    }
    let _ = child.wait();
    assert!(seen.iter().any(|l| l.contains("quiet wait")), "{seen:?}");
    // vc2 is fenced (its keymanager no longer answers): only vc can be listed.
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    assert!(
        !list.contains(&ctx.pubkey),
        "not on vc during the wait: {list}"
    );
    let vc2 = ctx.ssh("systemctl is-active lodestar-vc2");
    assert_eq!(vc2.trim(), "inactive", "vc2 fenced");
    let (code, out, err) = ctx.nodeherd(&failover_args(VC2, VC, &ks, &pw));
    let (both, _) = w.finish();
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["resumed"], true, "{report}");
    assert_quiet_proof(&report, 2);
    assert!(
        report["steps"]
            .to_string()
            .contains("slashing data read back from"),
        "{report}"
    );
    assert!(both.is_empty(), "on both clients at {both:?}");
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    assert!(list.contains(&ctx.pubkey), "on vc: {list}");
    let back = ctx.ssh(
        "rm -f /etc/systemd/system/lodestar-vc2.service.d/zz-nodeherd-fenced.conf; systemctl unmask lodestar-vc2; systemctl daemon-reload; systemctl enable lodestar-vc2; systemctl start lodestar-vc2 && echo started",
    );
    assert!(back.contains("started"), "{back}");
    // The next scenario starts from key 7 on vc: wait until vc2's keymanager answers again
    // (until then `keys list` exits 1: a node that cannot be asked).
    let t = Instant::now();
    while ctx.holders() != Some((true, false)) {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "vc2 did not come back (keys on vc, vc2: {:?})",
            ctx.holders()
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// A validator client declared on host 2 (a real host, sshd and systemd, no Lodestar), the
/// host's link dropped (`ip link set <veth> down`): `failover` from it is refused naming the node,
/// the host and the reason, nothing changes on vc2 and no failover state is left; with
/// `--source-is-fenced` it goes on without touching host 2 (the key, never deposited, needs no
/// wait) and is imported into vc2, then removed again. The link is restored at the end.
pub fn failover_refused_with_the_source_link_down(ctx: &Ctx) {
    let pk = interop::interop_pubkey(1001);
    let ks_path = ctx.dir.join("linkdown.json");
    std::fs::write(&ks_path, interop::interop_keystore(1001, PASSWORD)).expect("keystore file");
    let mut inv = std::fs::read_to_string(&ctx.inventory).expect("inventory");
    assert!(
        inv.contains("[hosts.nhkeys-2]"),
        "the lab has host 2: {inv}"
    );
    inv.push_str(
        "\n[hosts.nhkeys-2.nodes.lodestar-vc]\nclient = \"lodestar\"\nrole = \"validator\"\nunit = \"lodestar-vc.service\"\nkeymanager_port = 5062\nkeymanager_token_file = \"/var/lib/lodestar-vc/validator-db/api-token.txt\"\n",
    );
    let inv_path = ctx.dir.join("linkdown.toml");
    std::fs::write(&inv_path, inv).expect("inventory");
    let source = "nhkeys-2/lodestar-vc";
    let vc2_before = list_of(ctx, VC2);
    assert!(
        ctx.ssh_to(2, "echo up").contains("up"),
        "host 2 answers first"
    );
    let dev = nodeherd_lab::naming::veth_name(&ctx.cfg.name, 2);
    let link = |state: &str| {
        let st = std::process::Command::new("ip")
            .args(["link", "set", &dev, state])
            .status()
            .expect("ip");
        assert!(st.success(), "ip link set {dev} {state}");
    };
    link("down");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (ks, pw) = (
            ks_path.to_string_lossy().into_owned(),
            ctx.password_file.to_string_lossy().into_owned(),
        );
        let args = failover_args(source, VC2, &ks, &pw);
        let t = Instant::now();
        let (code, out, err) = ctx.nodeherd_with(&inv_path, &args);
        let took = t.elapsed();
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            err.contains(source)
                && err.contains("host nhkeys-2 cannot be reached")
                && err.contains("NOT assumed dead")
                && err.contains("--source-is-fenced")
                && err.contains("Nothing was changed"),
            "{err}"
        );
        assert_eq!(list_of(ctx, VC2), vc2_before, "nothing changed on vc2");
        let state = ctx
            .state
            .join("nodeherd/moves/failover-nhkeys-2_lodestar-vc.json");
        assert!(!state.exists(), "no failover recorded: {}", state.display());
        eprintln!("refused after {took:.1?} with the link down");
        let mut fenced = args.clone();
        fenced.push("--source-is-fenced");
        let (code, out, err) = ctx.nodeherd_with(&inv_path, &fenced);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("--source-is-fenced: taken as powered off"),
            "{out}"
        );
        assert!(list_of(ctx, VC2).contains(&pk), "imported into vc2");
    }));
    link("up");
    let t = Instant::now();
    while !ctx.ssh_to(2, "echo up").contains("up") {
        assert!(t.elapsed() < Duration::from_secs(60), "host 2 back");
        std::thread::sleep(Duration::from_secs(1));
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    let (code, out, err) = ctx.nodeherd(&["keys", "remove", VC2, &pk, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!list_of(ctx, VC2).contains(&pk), "removed from vc2 again");
}

/// The pubkeys `node` lists, as `keys list --json` prints them (sorted).
fn list_of(ctx: &Ctx, node: &str) -> Vec<String> {
    let (code, out, err) = ctx.nodeherd(&["--json", "keys", "list", node]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let mut keys: Vec<String> = v["keys"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|k| k["node"] == node)
                .filter_map(|k| k["pubkey"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}
