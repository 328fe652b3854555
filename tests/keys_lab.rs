//! Root-gated: `nodeherd keys` against a real Lodestar 1.5.1 in the "nhkey" lab (10.219.0.0/24):
//! lodestar-vc (interop keys 0..7, keymanager 5062) and the keyless lodestar-vc2 (5063) on one
//! host. Scenarios run in order on one lab, torn down at the end (`NODEHERD_TEST_KEEP_LAB=1`
//! keeps it). Every nodeherd output is collected and searched for both bearer tokens.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nodeherd_core::keymanager::Interchange;
use nodeherd_core::keys::bls::SecretKey;
use nodeherd_core::keys::keystore::{KdfParams, Keystore};
use nodeherd_lab::{self as lab, LabConfig, naming};
use serde_json::Value;

const VC: &str = "nhkey-1/lodestar-vc";
const VC2: &str = "nhkey-1/lodestar-vc2";
const ADDRESS: &str = "0x00000000219ab540356cBB839Cbe05303d7705Fa";
const PASSWORD: &str = "lab-test-password-1";

struct Ctx {
    cfg: LabConfig,
    dir: PathBuf,
    inventory: PathBuf,
    state: PathBuf,
    /// Every stdout/stderr nodeherd produced.
    log: std::cell::RefCell<String>,
}

impl Ctx {
    fn nodeherd(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_nodeherd"))
            .arg("-i")
            .arg(&self.inventory)
            .args(args)
            .env("XDG_STATE_HOME", &self.state)
            .env_remove("NODEHERD_LOG")
            .output()
            .unwrap_or_else(|e| panic!("cannot run nodeherd: {e}"));
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        self.log
            .borrow_mut()
            .push_str(&format!("$ nodeherd {}\n{o}{e}\n", args.join(" ")));
        (out.status.code().unwrap_or(-1), o, e)
    }

    fn ssh(&self, command: &str) -> String {
        let out = Command::new("ssh")
            .arg("-i")
            .arg(naming::client_key(&self.cfg.state_dir))
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                naming::known_hosts_path(&self.cfg).display()
            ))
            .arg(format!("root@{}", naming::host_address(self.cfg.subnet, 1)))
            .arg(command)
            .output();
        match out {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
            Err(e) => format!("cannot run ssh: {e}"),
        }
    }

    /// `keys move PUBKEY --from vc --to vc2 --keystore KS --password-file PW --yes`.
    fn move_vc_to_vc2(
        &self,
        pk: &str,
        keystore: &str,
        password_file: &str,
    ) -> (i32, String, String) {
        self.nodeherd(&[
            "keys",
            "move",
            pk,
            "--from",
            VC,
            "--to",
            VC2,
            "--keystore",
            keystore,
            "--password-file",
            password_file,
            "--yes",
        ])
    }

    /// Pubkeys per node from `keys list --json`.
    fn keys_of(&self, node: &str) -> Vec<String> {
        let (code, out, err) = self.nodeherd(&["--json", "keys", "list", node]);
        assert_eq!(code, 0, "keys list {node}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        v["keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|k| k["node"] == node)
                    .filter_map(|k| k["pubkey"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

type Scenario = (&'static str, fn(&Ctx));

/// The interop secret key i: sha256(i as 32 bytes LE), read little-endian, mod r (via blst).
fn interop_secret(i: u64) -> SecretKey {
    use sha2::Digest;
    let mut le = [0u8; 32];
    le[..8].copy_from_slice(&i.to_le_bytes());
    let h = sha2::Sha256::digest(le);
    let mut scalar = blst::blst_scalar::default();
    let mut be = [0u8; 32];
    // SAFETY: valid pointers to fixed-size buffers of the sizes passed.
    unsafe {
        blst::blst_scalar_from_le_bytes(&raw mut scalar, h.as_ptr(), 32);
        blst::blst_bendian_from_scalar(be.as_mut_ptr(), &raw const scalar);
    }
    SecretKey::from_bytes(&be).unwrap_or_else(|e| panic!("interop key {i}: {e}"))
}

fn pk_hex(sk: &SecretKey) -> String {
    format!("0x{}", sk.public_key().to_hex().trim_start_matches("0x"))
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!(
            "keys_lab skipped: needs root (the lab uses network namespaces and systemd-nspawn)"
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("nodeherd-keys-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cfg = LabConfig {
        name: "nhkey".into(),
        hosts: 1,
        subnet: 219,
        lodestar: true,
        lodestar_hosts: 1,
        extra_vc: true,
        inventory_out: Some(dir.join("inventory.toml")),
        ..LabConfig::default()
    };
    if let Err(e) = lab::down(&cfg) {
        panic!("initial cleanup failed: {e}");
    }
    let t = Instant::now();
    if let Err(e) = lab::up(&cfg) {
        let _ = lab::down(&cfg);
        panic!("lab up failed: {e}");
    }
    eprintln!("lab up in {:.1?}", t.elapsed());
    let ctx = Ctx {
        inventory: dir.join("inventory.toml"),
        state: dir.join("state"),
        dir: dir.clone(),
        cfg: cfg.clone(),
        log: Default::default(),
    };
    let scenarios: Vec<Scenario> = vec![
        (
            "list_shows_the_8_interop_keys",
            list_shows_the_8_interop_keys,
        ),
        (
            "generate_import_with_slashing_data_list",
            generate_import_list,
        ),
        ("guard_refuses_an_interop_key_of_vc_on_vc2", guard_refuses),
        ("remove_saves_slashing_data", remove_saves_slashing_data),
        ("move_generated_key_from_vc_to_vc2", move_generated_key),
        (
            "move_of_interop_key_needs_two_deletes_and_the_quiet_wait",
            move_interop_key_refused,
        ),
        ("settings_set_and_clear", settings_set_and_clear),
        (
            "tui_keys_screen_moves_imports_and_refuses",
            tui_keys_screen_moves_imports_and_refuses,
        ),
        (
            "exit_signed_locally_with_a_keystore",
            exit_signed_locally_with_a_keystore,
        ),
        ("token_never_in_output", token_never_in_output),
    ];
    let mut failed = Vec::new();
    let total = scenarios.len();
    for (name, f) in scenarios {
        let t = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&ctx)));
        match r {
            Ok(()) => println!("test {name} ... ok ({:.1}s)", t.elapsed().as_secs_f64()),
            Err(_) => {
                println!("test {name} ... FAILED ({:.1}s)", t.elapsed().as_secs_f64());
                failed.push(name);
            }
        }
    }
    let _ = std::fs::write(dir.join("output.log"), ctx.log.borrow().as_str());
    if std::env::var_os("NODEHERD_TEST_KEEP_LAB").is_none() {
        if let Err(e) = lab::down(&cfg) {
            eprintln!("lab down failed: {e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("lab kept; files in {}", dir.display());
    }
    // The line every lab suite ends with (tests/support/labsuite.rs).
    println!("{} passed, {} failed", total - failed.len(), failed.len());
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(1);
    }
}

fn list_shows_the_8_interop_keys(ctx: &Ctx) {
    // Both validator clients need a few seconds to open their keymanager after boot.
    let start = Instant::now();
    loop {
        let (code, _, _) = ctx.nodeherd(&["keys", "list"]);
        if code == 0 || start.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    let keys = ctx.keys_of(VC);
    let want: Vec<String> = (0..8).map(|i| pk_hex(&interop_secret(i))).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(
        sorted, want_sorted,
        "lodestar-vc lists the interop keys 0..7"
    );
    assert!(
        ctx.keys_of(VC2).is_empty(),
        "lodestar-vc2 starts without keys"
    );
    let (code, out, _) = ctx.nodeherd(&["keys", "list", VC]);
    assert_eq!(code, 0);
    assert!(out.starts_with("NODE"), "{out}");
    assert!(out.contains(&want[0]), "{out}");
    // The chain's view of each key, from the host's real beacon node: the dev chain's interop
    // validators 0..7 are active from genesis with BLS (0x00) withdrawal credentials.
    assert!(
        out.contains("active_ongoing") && out.contains("0x00 BLS"),
        "{out}"
    );
    let (_, out, err) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let rows = v["keys"].as_array().cloned().unwrap_or_default();
    for (i, pk) in want.iter().enumerate() {
        let row = rows
            .iter()
            .find(|k| k["pubkey"] == pk.as_str())
            .unwrap_or_else(|| panic!("{pk} listed: {out}"));
        assert_eq!(row["chain"]["index"], i.to_string(), "{row}\n{err}");
        assert_eq!(row["chain"]["status"], "active_ongoing", "{row}");
        assert_eq!(row["chain"]["withdrawal"], "0x00 BLS", "{row}");
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// An EIP-2335 keystore of `sk` (fast scrypt: these tests are about the flows, not the KDF)
/// written to `<dir>/<name>`, with the suite's password.
fn fast_keystore(ctx: &Ctx, sk: &SecretKey, index: u32, name: &str) -> PathBuf {
    let path = format!("m/12381/3600/{index}/0/0")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let ks = Keystore::encrypt(
        sk,
        PASSWORD,
        &path,
        &KdfParams::insecure_scrypt_for_tests(1024),
        "",
    )
    .and_then(|k| k.to_json())
    .unwrap_or_else(|e| panic!("{e}"));
    let f = ctx.dir.join(name);
    write(&f, &ks);
    f
}

fn generated_pubkey(ctx: &Ctx) -> (String, PathBuf) {
    let raw = std::fs::read_to_string(ctx.dir.join("generated.json")).unwrap_or_default();
    let v: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
    (
        v["keys"][0]["pubkey"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        PathBuf::from(v["keys"][0]["keystore"].as_str().unwrap_or_default()),
    )
}

fn generate_import_list(ctx: &Ctx) {
    let mn = ctx.dir.join("mnemonic.txt");
    write(
        &mn,
        "test test test test test test test test test test test junk\n",
    );
    let pw = ctx.dir.join("password.txt");
    write(&pw, &format!("{PASSWORD}\n"));
    let out_dir = ctx.dir.join("generated");
    let t = Instant::now();
    let (code, out, err) = ctx.nodeherd(&[
        "--json",
        "keys",
        "generate",
        "--mnemonic-file",
        mn.to_str().unwrap_or_default(),
        "--count",
        "1",
        "--start-index",
        "7",
        "--network",
        "hoodi",
        "--withdrawal-address",
        ADDRESS,
        "--out",
        out_dir.to_str().unwrap_or_default(),
        "--password-file",
        pw.to_str().unwrap_or_default(),
    ]);
    eprintln!("  keys generate (real scrypt): {:.1?}", t.elapsed());
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("junk") && !err.contains("junk"),
        "mnemonic never printed"
    );
    write(&ctx.dir.join("generated.json"), &out);
    let (pk, keystore) = generated_pubkey(ctx);
    assert_eq!(pk.len(), 98, "{out}");

    // Slashing data of the dev chain for the new key.
    let genesis = ctx.ssh("curl -s 127.0.0.1:9596/eth/v1/beacon/genesis");
    let g: Value = serde_json::from_str(&genesis).unwrap_or_else(|e| panic!("{e}: {genesis}"));
    let root = g["data"]["genesis_validators_root"]
        .as_str()
        .unwrap_or_default();
    let sp = ctx.dir.join("slashing-in.json");
    write(
        &sp,
        &format!(
            r#"{{"metadata":{{"interchange_format_version":"5","genesis_validators_root":"{root}"}},"data":[{{"pubkey":"{pk}","signed_blocks":[{{"slot":"5"}}],"signed_attestations":[{{"source_epoch":"0","target_epoch":"2"}}]}}]}}"#
        ),
    );
    let (code, out, err) = ctx.nodeherd(&[
        "keys",
        "import",
        VC2,
        keystore.to_str().unwrap_or_default(),
        "--password-file",
        pw.to_str().unwrap_or_default(),
        "--slashing-protection",
        sp.to_str().unwrap_or_default(),
        "--yes",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Imported"), "{out}");
    assert!(ctx.keys_of(VC2).contains(&pk), "vc2 lists the imported key");
    // a freshly generated key was never deposited: the chain does not know it
    let (_, out, _) = ctx.nodeherd(&["--json", "keys", "list", VC2]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let row = v["keys"]
        .as_array()
        .and_then(|a| a.iter().find(|k| k["pubkey"] == pk.as_str()).cloned())
        .unwrap_or_else(|| panic!("{pk} in {out}"));
    assert_eq!(row["chain_error"], "not on chain", "{row}");
    assert!(!ctx.keys_of(VC).contains(&pk));
}

fn guard_refuses(ctx: &Ctx) {
    let sk = interop_secret(3);
    let f = fast_keystore(ctx, &sk, 3, "interop3.json");
    let pw = ctx.dir.join("password.txt");
    let (code, out, err) = ctx.nodeherd(&[
        "keys",
        "import",
        VC2,
        f.to_str().unwrap_or_default(),
        "--password-file",
        pw.to_str().unwrap_or_default(),
        "--yes",
    ]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!("{} is ACTIVE on {VC}", pk_hex(&sk))),
        "the guard names the node: {err}"
    );
    assert!(!ctx.keys_of(VC2).contains(&pk_hex(&sk)), "nothing imported");
}

fn slashing_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn remove_saves_slashing_data(ctx: &Ctx) {
    let (pk, _) = generated_pubkey(ctx);
    let sdir = ctx.state.join("nodeherd/slashing");
    let before = slashing_files(&sdir).len();
    let (code, out, err) = ctx.nodeherd(&["keys", "remove", VC2, &pk, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Deleted"), "{out}");
    let files = slashing_files(&sdir);
    assert_eq!(files.len(), before + 1, "one new console file");
    let text = std::fs::read_to_string(files.last().unwrap_or(&sdir)).unwrap_or_default();
    let i = Interchange::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(i.pubkeys().contains(&pk), "{text}");
    let rec = i.data.iter().find(|r| r.pubkey == pk);
    assert!(
        rec.is_some_and(|r| r.signed_blocks.iter().any(|b| b.slot == "5")),
        "the imported history came back: {text}"
    );
    let name = files
        .last()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let host_copy = ctx.ssh(&format!("cat /var/lib/nodeherd/slashing/{name}"));
    assert_eq!(host_copy, text, "the host copy is identical");
    assert!(!ctx.keys_of(VC2).contains(&pk));
}

fn move_generated_key(ctx: &Ctx) {
    let (pk, keystore) = generated_pubkey(ctx);
    let pw = ctx.dir.join("password.txt");
    let pw = pw.to_str().unwrap_or_default();
    let ks = keystore.to_str().unwrap_or_default();
    let (code, out, err) =
        ctx.nodeherd(&["keys", "import", VC, ks, "--password-file", pw, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(ctx.keys_of(VC).contains(&pk));
    let (code, out, err) = ctx.move_vc_to_vc2(&pk, ks, pw);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("moved: active on nhkey-1/lodestar-vc2 only"),
        "{out}"
    );
    assert!(
        out.contains("imported into nhkey-1/lodestar-vc2 with nhkey-1/lodestar-vc's slashing data"),
        "{out}"
    );
    assert!(
        !ctx.keys_of(VC).contains(&pk),
        "lodestar-vc no longer has it"
    );
    assert!(ctx.keys_of(VC2).contains(&pk), "lodestar-vc2 has it");
}

/// Lodestar 1.5.1 answers `deleted` for a key given by `--interopIndexes` but keeps listing
/// (and using) it: the move must stop before importing anywhere and say so.
fn move_interop_key_refused(ctx: &Ctx) {
    let sk = interop_secret(5);
    let pk = pk_hex(&sk);
    let f = fast_keystore(ctx, &sk, 5, "interop5.json");
    let pw = ctx.dir.join("password.txt");
    // A wrong keystore for the pubkey is refused before anything is removed.
    let wrong = ctx.dir.join("interop3.json");
    let (code, _, err) = ctx.move_vc_to_vc2(
        &pk,
        wrong.to_str().unwrap_or_default(),
        pw.to_str().unwrap_or_default(),
    );
    assert_ne!(code, 0);
    assert!(err.contains("not"), "{err}");
    assert!(
        ctx.keys_of(VC).contains(&pk),
        "still on vc after the refusal"
    );

    let (code, out, err) = ctx.move_vc_to_vc2(
        &pk,
        f.to_str().unwrap_or_default(),
        pw.to_str().unwrap_or_default(),
    );
    // Lodestar 1.5 keeps a key that has a validator index listed after the first DELETE (its
    // removeSigner short-circuits); the move asks once more, which drops it, and then proves the
    // key quiet on chain (2 epochs) before importing it into vc2 (keys_quiet_lab covers the wait).
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("STILL lists the key after answering deleted: asking it once more"),
        "{out}"
    );
    assert!(out.contains("not live in epochs"), "{out}");
    assert!(ctx.keys_of(VC2).contains(&pk), "imported into vc2");
    assert!(
        !ctx.keys_of(VC).contains(&pk),
        "off vc (until vc restarts: it is on its command line)"
    );
    // vc would load it again at its next start (its command line): take it off vc2 so that no
    // later scenario can find it on two clients, and so that vc2 holds only the generated key
    let (code, out, err) = ctx.nodeherd(&["keys", "remove", VC2, &pk, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!ctx.keys_of(VC2).contains(&pk), "off vc2 again");
}

fn settings_set_and_clear(ctx: &Ctx) {
    let pk = pk_hex(&interop_secret(1));
    let (code, _, err) = ctx.nodeherd(&["keys", "set-fee-recipient", VC, &pk, ADDRESS]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    assert!(out.contains(&ADDRESS.to_lowercase()), "{out}");
    let (code, _, err) = ctx.nodeherd(&["keys", "set-gas-limit", VC, &pk, "36000000"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = ctx.nodeherd(&["keys", "clear-fee-recipient", VC, &pk]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = ctx.nodeherd(&["--json", "keys", "list", VC]);
    assert!(!out.contains(&ADDRESS.to_lowercase()), "{out}");
    // Lodestar 1.5.1 has no graffiti endpoint: a clear error, exit 1.
    let (code, _, err) = ctx.nodeherd(&["keys", "set-graffiti", VC, &pk, "nodeherd"]);
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
}

/// GET on the host's beacon node (curl over the test's own ssh), parsed.
fn bn_get(ctx: &Ctx, path: &str) -> Value {
    let body = ctx.ssh(&format!("curl -s 127.0.0.1:9596{path}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn bytes_of<const N: usize>(v: &Value) -> [u8; N] {
    let s = v.as_str().unwrap_or_default();
    nodeherd_core::keys::hex_decode(s, "test")
        .ok()
        .and_then(|b| b.try_into().ok())
        .unwrap_or_else(|| panic!("not {N} bytes of hex: {v}"))
}

fn num(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
}

fn sha256_pair(a: &[u8], b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

fn pad32(b: &[u8]) -> [u8; 32] {
    let mut c = [0u8; 32];
    c[..b.len()].copy_from_slice(b);
    c
}

/// The exit domain as the test computes it, straight from the beacon node's answers: EIP-7044
/// (Capella's version from Deneb on), else the state's fork at the exit epoch.
fn bn_exit_domain(ctx: &Ctx, epoch: u64) -> [u8; 32] {
    let genesis = bn_get(ctx, "/eth/v1/beacon/genesis");
    let fork = bn_get(ctx, "/eth/v1/beacon/states/head/fork");
    let spec = bn_get(ctx, "/eth/v1/config/spec");
    let gvr: [u8; 32] = bytes_of(&genesis["data"]["genesis_validators_root"]);
    let deneb = spec["data"]["DENEB_FORK_EPOCH"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok());
    let version: [u8; 4] = match deneb {
        Some(d) if epoch >= d => bytes_of(&spec["data"]["CAPELLA_FORK_VERSION"]),
        _ if epoch < num(&fork["data"]["epoch"]) => bytes_of(&fork["data"]["previous_version"]),
        _ => bytes_of(&fork["data"]["current_version"]),
    };
    let fork_data_root = sha256_pair(&pad32(&version), &gvr);
    let mut domain = [0u8; 32];
    domain[..4].copy_from_slice(&[4, 0, 0, 0]);
    domain[4..].copy_from_slice(&fork_data_root[..28]);
    domain
}

fn exit_files(ctx: &Ctx) -> Vec<PathBuf> {
    slashing_files(&ctx.state.join("nodeherd/exits"))
}

fn pool_exits(ctx: &Ctx) -> usize {
    let v = bn_get(ctx, "/eth/v1/beacon/pool/voluntary_exits");
    v["data"]
        .as_array()
        .map_or_else(|| panic!("pool answer: {v}"), Vec::len)
}

/// Lodestar 1.5.1 has no keymanager voluntary_exit endpoint: the exit is signed locally from
/// an EIP-2335 keystore with the beacon node's chain facts, saved, and only submitted with
/// --submit (which the young lab chain refuses: SHARD_COMMITTEE_PERIOD).
fn exit_signed_locally_with_a_keystore(ctx: &Ctx) {
    use nodeherd_core::keys::bls::{self, Signature};
    let keystore_of = |i: u64| {
        let f = fast_keystore(
            ctx,
            &interop_secret(i),
            i as u32,
            &format!("exit-interop{i}.json"),
        );
        f.to_str().unwrap_or_default().to_string()
    };
    let sk = interop_secret(2);
    let pk = pk_hex(&sk);
    let ks = keystore_of(2);
    let pw = ctx.dir.join("exit-password.txt");
    write(&pw, &format!("{PASSWORD}\n"));
    let pw = pw.to_str().unwrap_or_default();
    assert_eq!(pool_exits(ctx), 0, "the pool starts empty");

    // Without --keystore, Lodestar 1.5.1's 404 points to --keystore.
    let (code, _, err) = ctx.nodeherd(&["keys", "exit", VC, &pk]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("404") && err.contains("--keystore FILE"),
        "{err}"
    );

    // A keystore of another key is refused before anything is signed or saved.
    let wrong = keystore_of(4);
    let before = exit_files(ctx).len();
    let (code, out, err) = ctx.nodeherd(&[
        "keys",
        "exit",
        VC,
        &pk,
        "--keystore",
        &wrong,
        "--password-file",
        pw,
        "--json",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("holds {}, not {pk}", pk_hex(&interop_secret(4)))),
        "{err}"
    );
    assert!(out.is_empty(), "{out}");
    assert_eq!(exit_files(ctx).len(), before, "nothing saved");

    let t = Instant::now();
    let (code, out, err) = ctx.nodeherd(&[
        "keys",
        "exit",
        VC,
        &pk,
        "--keystore",
        &ks,
        "--password-file",
        pw,
        "--json",
    ]);
    eprintln!("  keys exit --keystore: {:.1?}", t.elapsed());
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let file = PathBuf::from(v["file"].as_str().unwrap_or_default());
    let saved =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o600), "{}", file.display());
    let signed: Value = serde_json::from_str(&saved).unwrap_or_else(|e| panic!("{e}: {saved}"));
    assert_eq!(
        signed, v["signed_exit"],
        "the saved file is what was printed"
    );
    let bn_validator = bn_get(ctx, &format!("/eth/v1/beacon/states/head/validators/{pk}"));
    let index = num(&signed["message"]["validator_index"]);
    assert_eq!(index, num(&bn_validator["data"]["index"]), "the BN's index");
    let epoch = num(&signed["message"]["epoch"]);
    let head = bn_get(ctx, "/eth/v1/beacon/headers/head");
    let spec = bn_get(ctx, "/eth/v1/config/spec");
    let head_epoch =
        num(&head["data"]["header"]["message"]["slot"]) / num(&spec["data"]["SLOTS_PER_EPOCH"]);
    assert!(
        epoch <= head_epoch && epoch + 2 >= head_epoch,
        "epoch {epoch}, head epoch {head_epoch}"
    );
    let domain = bn_exit_domain(ctx, epoch);
    let exit_root = sha256_pair(&pad32(&epoch.to_le_bytes()), &pad32(&index.to_le_bytes()));
    let signing_root = sha256_pair(&exit_root, &domain);
    let sig = Signature::from_hex(signed["signature"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        bls::verify(&sk.public_key(), &signing_root, &sig),
        "the signature verifies under the domain computed from the BN's answers"
    );
    let tampered = sha256_pair(
        &sha256_pair(
            &pad32(&epoch.to_le_bytes()),
            &pad32(&(index + 1).to_le_bytes()),
        ),
        &domain,
    );
    assert!(
        !bls::verify(&sk.public_key(), &tampered, &sig),
        "and not for another index"
    );
    eprintln!(
        "  exit of validator {index} at epoch {epoch}: fork version {}, domain {}",
        v["fork_version"], v["domain"]
    );
    assert_eq!(pool_exits(ctx), 0, "without --submit nothing is posted");

    // --submit: the young chain refuses; the command says so and keeps the signed exit.
    let before = exit_files(ctx).len();
    let (code, out, err) = ctx.nodeherd(&[
        "keys",
        "exit",
        VC,
        &pk,
        "--keystore",
        &ks,
        "--password-file",
        pw,
        "--submit",
        "--yes",
    ]);
    eprintln!("  submit: {}", err.trim().replace('\n', " | "));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("nhkey-1/lodestar-bn refused the exit ("),
        "{err}"
    );
    let refusal = err
        .split_once("refused the exit (")
        .and_then(|(_, r)| r.split_once("): "))
        .map(|(_, r)| r.lines().next().unwrap_or_default().trim().to_string())
        .unwrap_or_default();
    assert!(
        !refusal.is_empty(),
        "the BN's refusal text is quoted: {err}"
    );
    assert!(err.contains("stays saved in"), "{err}");
    let files = exit_files(ctx);
    assert_eq!(
        files.len(),
        before + 1,
        "the signed exit was saved before submitting"
    );
    assert!(
        files.iter().any(|f| err.contains(&f.display().to_string())),
        "the message names the saved file: {err}"
    );
    // The same exit posted by the test itself: nodeherd quoted the beacon node's own words.
    let text = files
        .last()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_default();
    assert!(
        text.starts_with('{') && !text.contains('\''),
        "saved exit: {text}"
    );
    let direct = ctx.ssh(&format!(
        "printf '%s' '{text}' | curl -s -X POST -H 'Content-Type: application/json' --data-binary @- 127.0.0.1:9596/eth/v1/beacon/pool/voluntary_exits"
    ));
    let direct: Value = serde_json::from_str(&direct).unwrap_or_else(|e| panic!("{e}: {direct}"));
    let bn_message = direct["message"].as_str().unwrap_or_default();
    assert!(!bn_message.is_empty(), "{direct}");
    assert_eq!(refusal, bn_message, "nodeherd quotes the BN's refusal");
    assert_eq!(pool_exits(ctx), 0, "the refused exit is not in the pool");
}

fn token_never_in_output(ctx: &Ctx) {
    let log = ctx.log.borrow();
    assert!(log.len() > 1000, "output was collected");
    for file in [
        "/var/lib/lodestar-vc/validator-db/api-token.txt",
        "/var/lib/lodestar-vc2/validator-db/api-token.txt",
    ] {
        let token = ctx.ssh(&format!("cat {file}"));
        let token = token.trim();
        assert!(token.len() >= 32, "token read from {file}");
        assert!(
            !log.contains(token),
            "the token of {file} appears in nodeherd's output"
        );
        let hex = token.rsplit("0x").next().unwrap_or(token);
        assert!(
            !log.contains(hex),
            "the token's hex appears in nodeherd's output"
        );
    }
    // Nor in any file nodeherd wrote on the console.
    for f in slashing_files(&ctx.state.join("nodeherd/slashing")) {
        let t = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(!t.contains("api-token"), "{}", f.display());
    }
}

/// The TUI's keys screen through the real event loop and workers (a `TestBackend`, keys injected
/// as a person would type them): move the generated key back from vc2 to vc, import a fresh key
/// into vc2, and watch the double-sign guard refuse an interop key of vc, each checked against
/// the nodes themselves with `keys list`. Every screen goes into the collected output, so the
/// token check below covers the TUI too.
fn tui_keys_screen_moves_imports_and_refuses(ctx: &Ctx) {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use nodeherd_core::inventory::Inventory;
    use nodeherd_transport::ssh::{ConnectOptions, Pool};
    use nodeherd_tui::runtime::{Config, Hooks, World, event_loop};
    use nodeherd_tui::{App, Msg, buffer_text};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use std::sync::Arc;
    use tokio::sync::mpsc;

    let (moved_pk, moved_ks) = generated_pubkey(ctx);
    assert!(
        ctx.keys_of(VC2).contains(&moved_pk),
        "the move scenario left it on vc2"
    );
    let pw = ctx.dir.join("password.txt");
    // A fresh key for the import (fast KDF: the TUI path is what is tested here).
    let fresh = SecretKey::from_bytes(&[0x42; 32]).unwrap_or_else(|e| panic!("{e}"));
    let fresh_pk = pk_hex(&fresh);
    let fresh_ks = fast_keystore(ctx, &fresh, 42, "fresh.json");
    let interop3 = ctx.dir.join("interop3.json");
    assert!(interop3.exists(), "written by the guard scenario");

    // SAFETY: set before the runtime starts; no other thread reads the environment now.
    unsafe { std::env::set_var("XDG_STATE_HOME", &ctx.state) };
    let inv = Arc::new(Inventory::load(&ctx.inventory).unwrap_or_else(|e| panic!("{e:?}")));
    let nodes = inv.node_refs();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let screens: Vec<String> = rt.block_on(async {
        let (tx, rx) = mpsc::unbounded_channel();
        let world = World {
            pool: Arc::new(Pool::new(ConnectOptions::default())),
            inv: inv.clone(),
            nodes: nodes.clone(),
            config: Config {
                poll_every: Duration::from_secs(5),
                ..Config::default()
            },
        };
        let mut app = App::new(&inv, &nodes, false);
        let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap_or_else(|e| panic!("{e}"));
        let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(String, bool, usize)>();
        let mut hooks = Hooks {
            on_draw: Some(Box::new(move |app: &App, buf: &ratatui::buffer::Buffer| {
                let flash = app
                    .flash
                    .as_ref()
                    .map(|f| f.text.clone())
                    .unwrap_or_default();
                let text = format!("{}\nflash: {flash}", buffer_text(buf));
                let _ = seen_tx.send((text, app.keys.loading, app.key_entries().len()));
            })),
            suspend: None,
        };
        let keys = tx.clone();
        let typed = move |s: &str| {
            for c in s.chars() {
                let _ = keys.send(Msg::Key(KeyEvent::new(
                    KeyCode::Char(c),
                    KeyModifiers::NONE,
                )));
            }
        };
        let enter = {
            let keys = tx.clone();
            move || {
                let _ = keys.send(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
            }
        };
        let (moved_pk, moved_ks, fresh_ks, interop3, pw) = (
            moved_pk.clone(),
            moved_ks.clone(),
            fresh_ks.clone(),
            interop3.clone(),
            pw.clone(),
        );
        let script = tokio::spawn(async move {
            let mut all = Vec::new();
            let mut wait =
                async |what: &str,
                       limit: u64,
                       pred: &(dyn Fn(&str, bool, usize) -> bool + Sync)| {
                    let deadline = Instant::now() + Duration::from_secs(limit);
                    let mut last = String::new();
                    loop {
                        let left = deadline.saturating_duration_since(Instant::now());
                        match tokio::time::timeout(left, seen_rx.recv()).await {
                            Ok(Some((text, loading, n))) => {
                                let hit = pred(&text, loading, n);
                                last = text;
                                if hit {
                                    all.push(last.clone());
                                    return last;
                                }
                            }
                            _ => panic!("timed out waiting for {what}; last screen:\n{last}"),
                        }
                    }
                };
            typed(":keys");
            enter();
            // vc: 7 interop keys (key 5 was moved away and then removed from vc2); vc2: the
            // generated one
            wait("the keys listed", 60, &|t, loading, n| {
                !loading && n >= 8 && t.contains("lodestar-vc2")
            })
            .await;
            // the generated key is vc2's only key, the last row
            typed("G");
            typed("m");
            wait("the move prompt", 10, &|t, _, _| {
                t.contains(&format!("move {moved_pk} --to"))
            })
            .await;
            typed(&format!(
                "{VC} --keystore {} --password-file {}",
                moved_ks.display(),
                pw.display()
            ));
            enter();
            let dialog = wait("the move dialog", 120, &|t, _, _| {
                t.contains(&format!("Move 1 validator key from {VC2} to {VC}?"))
                    || t.contains("flash: move")
            })
            .await;
            assert!(dialog.contains("Confirm move key"), "{dialog}");
            typed("y");
            let done = wait("the move's result", 180, &|t, _, _| {
                t.contains("flash: moved")
                    || t.contains("NOT completed")
                    || t.contains("flash: move of")
            })
            .await;
            assert!(done.contains(&format!("from {VC2} to {VC}")), "{done}");

            // import a fresh key into vc2
            typed(&format!(
                ":import {VC2} {} --password-file {}",
                fresh_ks.display(),
                pw.display()
            ));
            enter();
            let dialog = wait("the import dialog", 60, &|t, _, _| {
                t.contains(&format!("Import 1 validator key into {VC2}?"))
                    || t.contains("flash: import")
            })
            .await;
            assert!(
                dialog.contains("none of the 1 other validator node"),
                "{dialog}"
            );
            typed("y");
            let done = wait("the import's result", 60, &|t, _, _| {
                t.contains("flash: imported")
                    || t.contains("refused")
                    || t.contains("nothing imported")
            })
            .await;
            assert!(done.contains("flash: imported 0x"), "{done}");

            // the guard: interop key 3 is active on vc, so no dialog opens
            typed(&format!(
                ":import {VC2} {} --password-file {}",
                interop3.display(),
                pw.display()
            ));
            enter();
            let refused = wait("the guard's refusal", 60, &|t, _, _| {
                t.contains("flash: import refused")
            })
            .await;
            assert!(refused.contains(&format!("is ACTIVE on {VC}")), "{refused}");
            assert!(!refused.contains("Confirm import keys"), "{refused}");
            typed("q");
            all
        });
        let res = tokio::time::timeout(
            Duration::from_secs(420),
            event_loop(&mut term, &mut app, &world, tx, rx, &mut hooks),
        )
        .await;
        let screens = script.await.unwrap_or_else(|e| panic!("script: {e}"));
        res.unwrap_or_else(|_| panic!("event loop did not end in time"))
            .unwrap_or_else(|e| panic!("event loop: {e}"));
        world.pool.close_all().await;
        screens
    });
    for s in &screens {
        ctx.log.borrow_mut().push_str(s);
        ctx.log.borrow_mut().push('\n');
    }
    // The nodes agree with what the screen said.
    assert!(ctx.keys_of(VC).contains(&moved_pk), "vc has the moved key");
    assert!(
        !ctx.keys_of(VC2).contains(&moved_pk),
        "vc2 no longer has it"
    );
    assert!(
        ctx.keys_of(VC2).contains(&fresh_pk),
        "vc2 has the imported key"
    );
    assert!(
        !ctx.keys_of(VC2).contains(&pk_hex(&interop_secret(3))),
        "the guard held"
    );
    let sdir = ctx.state.join("nodeherd/slashing");
    assert!(
        slashing_files(&sdir).iter().any(|f| f
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains("lodestar-vc2"))),
        "the move saved vc2's slashing data on the console"
    );
}
