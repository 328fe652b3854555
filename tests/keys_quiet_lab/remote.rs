//! Remote-signer keys on the real Lodestar: import, list, the guard, removal. Owns: that
//! scenario.

use serde_json::Value;

use crate::{Ctx, PASSWORD, VC, VC2, interop};

/// A remote-signer key on vc2 (the URL answers nothing: Lodestar lists it anyway); the guard
/// refuses it for vc as a remote key and as a local keystore; removal takes it off.
pub fn remote_keys(ctx: &Ctx) {
    let pk = interop::interop_pubkey(2000);
    let url = "http://10.238.0.1:9000";
    let (code, out, err) = ctx.nodeherd(&["keys", "import", VC2, "--remote", url, &pk, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported"), "{out}");
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC2]);
    let v: Value = serde_json::from_str(&list).unwrap_or_else(|e| panic!("{e}: {list}"));
    let row = v["keys"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|k| k["pubkey"] == pk.as_str() && k["remote"] == true)
                .cloned()
        })
        .unwrap_or_else(|| panic!("remote key not listed as remote: {list}"));
    assert_eq!(row["node"], VC2, "{row}");
    let (_, table, _) = ctx.nodeherd(&["keys", "list", VC2]);
    assert!(table.contains("remote"), "{table}");
    // Remote on vc2: refused for vc as a remote key ...
    let (code, _, err) = ctx.nodeherd(&["keys", "import", VC, "--remote", url, &pk, "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("DOUBLE-SIGN GUARD") && err.contains(VC2),
        "{err}"
    );
    // ... and as a local keystore.
    let ks = interop::interop_keystore(2000, PASSWORD);
    let ks_path = ctx.dir.join("remote-local.json");
    std::fs::write(&ks_path, ks).expect("keystore file");
    let pw = ctx.password_file.to_string_lossy().into_owned();
    let (code, _, err) = ctx.nodeherd(&[
        "keys",
        "import",
        VC,
        &ks_path.to_string_lossy(),
        "--password-file",
        &pw,
        "--yes",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(VC2), "{err}");
    let (code, out, err) = ctx.nodeherd(&["keys", "remove", VC2, "--remote", &pk, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("deleted"), "{out}");
    let (_, list, _) = ctx.nodeherd(&["--json", "keys", "list", VC2]);
    assert!(!list.contains(&pk), "{list}");
}
