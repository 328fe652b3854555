//! Lodestar refuses to import a key whose keystore lock file exists (what an import cut short
//! leaves behind): the raw answer of its keymanager is captured (the source of
//! `tests/fixtures/keymanager/import_lock_eexist.json`), and `nodeherd keys import` says what it
//! means and which file on which host to delete. Owns: that scenario.

use crate::{Ctx, PASSWORD, VC2, interop};

pub fn import_refused_by_a_lock_file(ctx: &Ctx) {
    let pk = interop::interop_pubkey(1002);
    let ks_path = ctx.dir.join("locked.json");
    let ks = interop::interop_keystore(1002, PASSWORD);
    std::fs::write(&ks_path, &ks).expect("keystore file");
    let dir = format!("/var/lib/lodestar-vc2/keystores/{pk}");
    let lock = format!("{dir}/voting-keystore.json.lock");
    let made = ctx.ssh(&format!(
        "ls -d /var/lib/lodestar-vc2/keystores >/dev/null && mkdir -p {dir} && touch {lock} && echo made"
    ));
    assert!(made.contains("made"), "{made}");
    // The keymanager's own answer, as Lodestar sends it (captured for the unit test).
    let body = serde_json::json!({"keystores": [ks], "passwords": [PASSWORD]}).to_string();
    let body_file = ctx.dir.join("locked-body.json");
    std::fs::write(&body_file, &body).expect("body");
    let raw = std::process::Command::new("ssh")
        .args(nodeherd_lab::host::ssh_args(
            &nodeherd_lab::naming::client_key(&ctx.cfg.state_dir),
            &nodeherd_lab::naming::known_hosts_path(&ctx.cfg),
            "root",
            &nodeherd_lab::naming::host_address(ctx.cfg.subnet, 1),
        ))
        .arg("curl -s -X POST -H \"Authorization: Bearer $(cat /var/lib/lodestar-vc2/validator-db/api-token.txt)\" -H 'Content-Type: application/json' --data-binary @- http://127.0.0.1:5063/eth/v1/keystores")
        .stdin(std::fs::File::open(&body_file).expect("body file"))
        .output()
        .expect("ssh");
    let raw = String::from_utf8_lossy(&raw.stdout).into_owned();
    std::fs::write(ctx.captured().join("import_lock_eexist.json"), &raw).expect("save");
    eprintln!("keymanager answer: {raw}");
    assert!(raw.contains("EEXIST") && raw.contains(&lock), "{raw}");
    let pw = ctx.password_file.to_string_lossy().into_owned();
    let (code, out, err) = ctx.nodeherd(&[
        "keys",
        "import",
        VC2,
        &ks_path.to_string_lossy(),
        "--password-file",
        &pw,
        "--yes",
    ]);
    let said = format!("{out}{err}");
    assert_ne!(code, 0, "{said}");
    assert!(
        said.contains(&format!("the lock file {lock} exists on host nhkeys-1"))
            && said.contains(&format!("delete {lock} on nhkeys-1")),
        "{said}"
    );
    // Doing what it says: the import then goes through.
    ctx.ssh(&format!("rm -f {lock}"));
    let (code, out, err) = ctx.nodeherd(&[
        "keys",
        "import",
        VC2,
        &ks_path.to_string_lossy(),
        "--password-file",
        &pw,
        "--yes",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = ctx.nodeherd(&["keys", "remove", VC2, &pk, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
}
