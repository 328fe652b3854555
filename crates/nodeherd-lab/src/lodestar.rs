//! Lodestar installs on the machine (`state_dir/lodestar/<version>/`), built once from npm.
//!
//! Owns: the package.json with pinned overrides, the npm invocation, the polyfill file and the
//! completeness marker. Callers hold the cache lock. Hosts only ever see these read-only.
//!
//! May not touch: the hosts' roots, the bridge, other caches.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::units::{LODESTAR_ENTRY, POLYFILL, POLYFILL_JS};
use crate::{LabError, sys};

/// Written last, when an install is complete and `lodestar --version` answered.
pub const READY_MARKER: &str = ".nodeherd-ready";

/// Packages pinned to the requested version (else carets pull 1.44, which does not install).
const LODESTAR_PACKAGES: [&str; 12] = [
    "api",
    "beacon-node",
    "config",
    "db",
    "fork-choice",
    "light-client",
    "params",
    "reqresp",
    "state-transition",
    "types",
    "utils",
    "validator",
];

/// The package.json of one install.
pub fn package_json(version: &str) -> String {
    let mut overrides = serde_json::Map::new();
    for p in LODESTAR_PACKAGES {
        overrides.insert(format!("@lodestar/{p}"), version.into());
    }
    overrides.insert("@multiformats/multiaddr".into(), "11.6.1".into());
    overrides.insert("@libp2p/tcp".into(), "6.1.5".into());
    overrides.insert("mortice".into(), "3.0.1".into());
    let doc = serde_json::json!({
        "name": "nodeherd-lodestar-dist",
        "version": version,
        "private": true,
        "dependencies": { "@chainsafe/lodestar": version },
        "overrides": overrides,
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

pub fn is_ready(dir: &Path) -> bool {
    dir.join(READY_MARKER).exists()
}

/// Runs the installed Lodestar's `--version`; returns its output.
fn version_output(dir: &Path) -> Result<String, LabError> {
    let mut cmd = Command::new("node");
    cmd.arg(format!("--require={}", dir.join(POLYFILL).display()))
        .arg(dir.join(LODESTAR_ENTRY))
        .arg("--version")
        .env("LODESTAR_PRESET", "minimal");
    sys::run_cmd(&mut cmd)
}

/// Installs Lodestar `version` unless already complete. Returns whether it installed.
pub fn ensure(state_dir: &Path, version: &str) -> Result<bool, LabError> {
    let dir = crate::naming::lodestar_dist(state_dir, version);
    if is_ready(&dir) {
        return Ok(false);
    }
    sys::mkdir_p(&dir)?;
    sys::write_file(&dir.join("package.json"), package_json(version))?;
    sys::write_file(&dir.join(POLYFILL), POLYFILL_JS)?;
    let log = dir.join("npm-install.log");
    let lodestar_err = |reason: String| LabError::Lodestar {
        version: version.into(),
        reason,
        log: log.clone(),
    };
    // An install that completed (npm writes node_modules/.package-lock.json at the very end)
    // but was never verified is adopted if it runs; anything else starts from scratch.
    let complete = dir.join("node_modules/.package-lock.json").exists()
        && dir.join(LODESTAR_ENTRY).exists()
        && version_output(&dir).is_ok();
    if !complete {
        let started = Instant::now();
        eprintln!(
            "nodeherd lab: installing Lodestar {version} from npm into {} (once, ~3 min)",
            dir.display()
        );
        sys::remove_tree(&dir.join("node_modules"))?;
        let _ = std::fs::remove_file(dir.join("package-lock.json"));
        let log_file =
            std::fs::File::create(&log).map_err(|e| LabError::io("creating", &log, e))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| LabError::io("opening", &log, e))?;
        let status = Command::new("npm")
            .args([
                "install",
                "--dangerously-allow-all-scripts",
                "--no-audit",
                "--no-fund",
            ])
            .current_dir(&dir)
            // node-gyp builds the native addons against /usr/include/node.
            .env("npm_config_nodedir", "/usr")
            .stdin(std::process::Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .status()
            .map_err(|source| LabError::Spawn {
                command: "npm install".into(),
                source,
            })?;
        if !status.success() {
            return Err(lodestar_err(format!("npm install exited with {status}")));
        }
        eprintln!(
            "nodeherd lab: Lodestar {version} installed in {:.0?}",
            started.elapsed()
        );
    }
    let out = version_output(&dir)
        .map_err(|e| lodestar_err(format!("the installed client does not run: {e}")))?;
    if !out.contains(version) {
        return Err(lodestar_err(format!(
            "`lodestar --version` printed {:?}, expected {version}",
            out.trim()
        )));
    }
    sys::write_file(&dir.join(READY_MARKER), out.trim())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json_pins_everything() {
        let text = package_json("1.5.1");
        let v: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(v["dependencies"]["@chainsafe/lodestar"], "1.5.1");
        let o = &v["overrides"];
        for p in LODESTAR_PACKAGES {
            assert_eq!(o[format!("@lodestar/{p}")], "1.5.1", "{p}");
        }
        assert_eq!(o["@multiformats/multiaddr"], "11.6.1");
        assert_eq!(o["@libp2p/tcp"], "6.1.5");
        assert_eq!(o["mortice"], "3.0.1");
    }
}
