//! EthereumJS (`@ethereumjs/client` from npm, an execution client) in the lab: its installs on
//! the machine (`state_dir/ethereumjs/<version>/`, built once) and what a host that runs it gets
//! (the nodeherd layout, the unit, a dev signer key and a JWT secret).
//!
//! Owns: the package.json, the npm invocation, the launcher `bin/ethereumjs`, the loopback-only
//! preload, the completeness marker, the unit `ethereumjs-el.service` and the host paths below.
//! Callers hold the cache lock around [`ensure`]. Hosts only ever see the installs read-only
//! (bind mounts); `releases/<v>` in a host's layout are links to them, so the upgrade engine can
//! stage new releases beside them and prune them (it removes the link, never the install).
//!
//! May not touch: the hosts' other files, the bridge, the other caches (base, Lodestar).
//! The recipe and its reasons: docs/research/execution-client.md.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::{LabError, base, naming, sys};

/// Versions the lab installs and offers on a host (upgrade and rollback targets).
pub const VERSIONS: [&str; 2] = ["0.10.4", "0.10.5"];
/// The version a host runs at first boot.
pub const CURRENT: &str = "0.10.4";

/// The node's name in the lab inventory, its unit and its paths inside a host.
pub const NODE: &str = "ethereumjs-el";
pub const UNIT: &str = "ethereumjs-el.service";
pub const INSTALL_DIR: &str = "/opt/nodeherd/ethereumjs-el";
pub const DATA_DIR: &str = "/var/lib/ethereumjs";
/// Holds `devkey.hex` (the dev chain's signer, for `--unlock`) and `jwt.hex` (Engine API).
pub const SECRETS_DIR: &str = "/etc/ethereumjs";

pub const RPC_PORT: u16 = 8545;
pub const ENGINE_PORT: u16 = 8551;
pub const METRICS_PORT: u16 = 8000;
pub const P2P_PORT: u16 = 30303;

/// The launcher inside a release; the unit runs `<install_dir>/current/<this>`.
pub const LAUNCHER: &str = "bin/ethereumjs";
/// The `node --import` preload that keeps every listening socket on 127.0.0.1.
pub const PRELOAD: &str = "loopback-only.mjs";
/// The client's entry script inside a release.
pub const ENTRY: &str = "node_modules/@ethereumjs/client/dist/esm/bin/cli.js";
/// Written last, when an install is complete and its launcher ran.
pub const READY_MARKER: &str = ".nodeherd-ready";

/// The preload (captured with the research, tests/fixtures/ethereumjs/lab/).
const PRELOAD_JS: &str = include_str!("../../../tests/fixtures/ethereumjs/lab/loopback-only.mjs");

/// The launcher: finds its release from its own resolved path (`current` is a link), so the
/// unit's executable path needs no variable, and starts the client with the preload.
pub const LAUNCHER_SH: &str = r#"#!/bin/sh
# nodeherd lab: run the EthereumJS client of the release holding this file, listening on
# 127.0.0.1 only (the client hard-codes 0.0.0.0 for p2p and metrics; the preload rewrites it).
here=$(dirname "$(readlink -f "$0")")
release=${here%/bin}
exec node "--import=$release/loopback-only.mjs" "$release/node_modules/@ethereumjs/client/dist/esm/bin/cli.js" "$@"
"#;

/// The package.json of one install.
pub fn package_json(version: &str) -> String {
    let doc = serde_json::json!({
        "name": "nodeherd-ethereumjs-dist",
        "version": version,
        "private": true,
        "dependencies": { "@ethereumjs/client": version },
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

pub fn is_ready(dir: &Path) -> bool {
    dir.join(READY_MARKER).exists()
}

/// The version npm actually installed (`node_modules/@ethereumjs/client/package.json`).
fn installed_version(dir: &Path) -> Option<String> {
    let p = dir.join("node_modules/@ethereumjs/client/package.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
    v.get("version")?.as_str().map(str::to_string)
}

/// Runs the install's own launcher with `--version`: it loads the whole module graph (ES
/// imports are static) and exits 0, without starting a node.
fn launcher_runs(dir: &Path) -> Result<String, LabError> {
    sys::run_cmd(Command::new(dir.join(LAUNCHER)).arg("--version"))
}

/// Writes the launcher (executable) and the preload into an install.
fn write_own_files(dir: &Path) -> Result<(), LabError> {
    sys::write_file(&dir.join(PRELOAD), PRELOAD_JS)?;
    sys::write_file(&dir.join(LAUNCHER), LAUNCHER_SH)?;
    base::set_mode(&dir.join(LAUNCHER), 0o755)
}

/// Installs EthereumJS `version` unless already complete. Returns whether it installed.
pub fn ensure(state_dir: &Path, version: &str) -> Result<bool, LabError> {
    let dir = naming::ethereumjs_dist(state_dir, version);
    if is_ready(&dir) {
        return Ok(false);
    }
    sys::mkdir_p(&dir)?;
    sys::write_file(&dir.join("package.json"), package_json(version))?;
    write_own_files(&dir)?;
    let log = dir.join("npm-install.log");
    let fail = |reason: String| LabError::Ethereumjs {
        version: version.into(),
        reason,
        log: log.clone(),
    };
    // An install that completed (npm writes node_modules/.package-lock.json at the very end)
    // with the right version is adopted; anything else starts from scratch.
    let complete = dir.join("node_modules/.package-lock.json").exists()
        && installed_version(&dir).as_deref() == Some(version);
    if !complete {
        let started = Instant::now();
        eprintln!(
            "nodeherd lab: installing EthereumJS {version} from npm into {} (once, ~20 s)",
            dir.display()
        );
        sys::remove_tree(&dir.join("node_modules"))?;
        let _ = std::fs::remove_file(dir.join("package-lock.json"));
        let log_file =
            std::fs::File::create(&log).map_err(|e| LabError::io("creating", &log, e))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| LabError::io("opening", &log, e))?;
        // No install scripts: classic-level ships N-API prebuilds for linux-x64.
        let status = Command::new("npm")
            .args(["install", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .status()
            .map_err(|source| LabError::Spawn {
                command: "npm install".into(),
                source,
            })?;
        if !status.success() {
            return Err(fail(format!("npm install exited with {status}")));
        }
        eprintln!(
            "nodeherd lab: EthereumJS {version} installed in {:.0?}",
            started.elapsed()
        );
    }
    match installed_version(&dir) {
        Some(v) if v == version => {}
        other => {
            return Err(fail(format!(
                "npm installed @ethereumjs/client {other:?}, expected {version}"
            )));
        }
    }
    launcher_runs(&dir).map_err(|e| fail(format!("the installed client does not run: {e}")))?;
    sys::write_file(&dir.join(READY_MARKER), format!("{version}\n"))?;
    Ok(true)
}

/// The unit of the node: a single-node dev chain (clique, a block every 10 s) that keeps its
/// data across restarts (`--unlock` with a fixed signer), on loopback only.
pub fn unit() -> String {
    format!(
        "[Unit]
Description=EthereumJS execution client (dev chain, loopback only, managed by nodeherd)
After=network.target

[Service]
ExecStart={INSTALL_DIR}/current/{LAUNCHER} --dev=poa --unlock {SECRETS_DIR}/devkey.hex --dataDir {DATA_DIR} --rpc --rpcAddr 127.0.0.1 --rpcPort {RPC_PORT} --rpcEngine --rpcEngineAddr 127.0.0.1 --rpcEnginePort {ENGINE_PORT} --jwtSecret {SECRETS_DIR}/jwt.hex --prometheus --prometheusPort {METRICS_PORT} --port {P2P_PORT} --discV4 false --discDns false --maxPeers 0 --logFile false
StateDirectory=ethereumjs
# A clean stop takes 9-10 s.
TimeoutStopSec=30
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
"
    )
}

/// 32 random bytes as hex (a secp256k1 key is valid below the group order: all but ~2^-128).
fn random_hex32() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Puts the node's files into a host's root (not its unit, see [`unit`]): the layout
/// `releases/<v> -> /opt/ethereumjs-dist/<v>` for every version, `current -> releases/CURRENT`,
/// and fresh secrets (the overlay's upper dir, hence the chain, is new at every boot too).
pub fn populate(root: &Path) -> Result<(), LabError> {
    let r = |p: &str| root.join(p.trim_start_matches('/'));
    for v in VERSIONS {
        sys::symlink(
            &naming::ethereumjs_dist_in_host(v),
            &r(&format!("{INSTALL_DIR}/releases/{v}")),
        )?;
    }
    sys::symlink(
        &format!("releases/{CURRENT}"),
        &r(&format!("{INSTALL_DIR}/current")),
    )?;
    for name in ["devkey.hex", "jwt.hex"] {
        let p = r(&format!("{SECRETS_DIR}/{name}"));
        sys::write_file(&p, random_hex32())?;
        base::set_mode(&p, 0o600)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json_pins_the_client() {
        let v: serde_json::Value = match serde_json::from_str(&package_json("0.10.5")) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(v["dependencies"]["@ethereumjs/client"], "0.10.5");
        assert_eq!(
            v["dependencies"].as_object().map(serde_json::Map::len),
            Some(1)
        );
    }

    #[test]
    fn unit_runs_the_current_launcher_on_loopback() {
        let u = unit();
        let exec = u
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .unwrap_or_default();
        assert!(exec.starts_with("ExecStart=/opt/nodeherd/ethereumjs-el/current/bin/ethereumjs "));
        assert!(!exec.contains('$'), "systemd expands no variable here");
        for want in [
            " --dev=poa ",
            " --unlock /etc/ethereumjs/devkey.hex ",
            " --dataDir /var/lib/ethereumjs ",
            " --rpcAddr 127.0.0.1 --rpcPort 8545 ",
            " --rpcEngineAddr 127.0.0.1 --rpcEnginePort 8551 ",
            " --prometheusPort 8000 ",
            " --discV4 false --discDns false --maxPeers 0 ",
        ] {
            assert!(exec.contains(want), "{want} missing in {exec}");
        }
        assert!(u.contains("\nTimeoutStopSec=30\n") && u.contains("\nRestart=on-failure\n"));
    }

    #[test]
    fn launcher_finds_its_release_through_links() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let rel = dir.path().join("dist/0.10.4");
        write_own_files(&rel).unwrap_or_else(|e| panic!("{e}"));
        // A stand-in `node` that prints its arguments.
        let fake = dir.path().join("fakebin");
        sys::write_file(&fake.join("node"), "#!/bin/sh\nprintf '%s\\n' \"$@\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        base::set_mode(&fake.join("node"), 0o755).unwrap_or_else(|e| panic!("{e}"));
        let inst = dir.path().join("opt/releases/0.10.4");
        sys::symlink(&rel.to_string_lossy(), &inst).unwrap_or_else(|e| panic!("{e}"));
        sys::symlink("releases/0.10.4", &dir.path().join("opt/current"))
            .unwrap_or_else(|e| panic!("{e}"));
        let out = Command::new(dir.path().join("opt/current").join(LAUNCHER))
            .arg("--dev=poa")
            .env("PATH", format!("{}:/usr/bin:/bin", fake.display()))
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{out:?}");
        let real = rel.canonicalize().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "--import={r}/loopback-only.mjs\n{r}/{ENTRY}\n--dev=poa\n",
                r = real.display()
            )
        );
        assert!(
            std::fs::read_to_string(rel.join(PRELOAD))
                .unwrap_or_default()
                .contains("127.0.0.1")
        );
    }

    #[test]
    fn populate_links_every_version_and_writes_private_secrets() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        populate(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let r = |p: &str| dir.path().join(p.trim_start_matches('/'));
        for v in VERSIONS {
            let link = std::fs::read_link(r(&format!("{INSTALL_DIR}/releases/{v}")));
            assert_eq!(
                link.ok().map(|p| p.display().to_string()),
                Some(format!("/opt/ethereumjs-dist/{v}"))
            );
        }
        let cur = std::fs::read_link(r(&format!("{INSTALL_DIR}/current")));
        assert_eq!(
            cur.ok().map(|p| p.display().to_string()),
            Some("releases/0.10.4".into())
        );
        let key = r("/etc/ethereumjs/devkey.hex");
        let text = std::fs::read_to_string(&key).unwrap_or_default();
        assert_eq!(text.len(), 64);
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        let mode = std::fs::metadata(&key).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        assert_ne!(
            text,
            std::fs::read_to_string(r("/etc/ethereumjs/jwt.hex")).unwrap_or_default()
        );
    }
}
