//! Text of the systemd units and files the lab installs into every host (pure).
//!
//! Owns: `nodeherd-demo.service`, `lodestar-bn.service`, `lodestar-vc.service`, the managed
//! install layout `/opt/nodeherd/<node>/{releases/<v>,current}` and the Lodestar data paths.
//! Writes nothing itself; [`crate::host`] puts these files into a host's root.
//!
//! May not touch: the machine (callers install the text).

/// The Lodestar version every lab host runs at first boot.
pub const LODESTAR_CURRENT: &str = "1.5.1";
/// All Lodestar versions the lab installs and mounts (upgrade/rollback targets).
pub const LODESTAR_VERSIONS: [&str; 2] = ["1.4.2", "1.5.1"];

/// Where the machine's `node` binary is mounted read-only inside every host.
pub const NODE_IN_HOST: &str = "/usr/local/bin/node";

/// The demo service's unit name.
pub const DEMO_UNIT: &str = "nodeherd-demo.service";
pub const BN_UNIT: &str = "lodestar-bn.service";
pub const VC_UNIT: &str = "lodestar-vc.service";
/// The optional second validator client (no interop keys; see `LabConfig::extra_vc`).
pub const VC2_UNIT: &str = "lodestar-vc2.service";

/// Managed install dirs (hold `releases/<version>` and the `current` symlink).
pub const BN_INSTALL_DIR: &str = "/opt/nodeherd/lodestar-bn";
pub const VC_INSTALL_DIR: &str = "/opt/nodeherd/lodestar-vc";
/// Data dirs of the beacon node and the validator client.
pub const BN_DATA_DIR: &str = "/var/lib/lodestar-bn";
pub const VC_DATA_DIR: &str = "/var/lib/lodestar-vc";
pub const VC2_INSTALL_DIR: &str = "/opt/nodeherd/lodestar-vc2";
pub const VC2_DATA_DIR: &str = "/var/lib/lodestar-vc2";

pub const BN_REST_PORT: u16 = 9596;
pub const BN_METRICS_PORT: u16 = 8008;
pub const VC_METRICS_PORT: u16 = 5064;
pub const VC_KEYMANAGER_PORT: u16 = 5062;
pub const VC2_METRICS_PORT: u16 = 5065;
pub const VC2_KEYMANAGER_PORT: u16 = 5063;

/// The keymanager's bearer token file inside the host (written by the validator client).
pub fn keymanager_token_file() -> String {
    format!("{VC_DATA_DIR}/validator-db/api-token.txt")
}

/// The second validator client's token file.
pub fn keymanager_token_file_vc2() -> String {
    format!("{VC2_DATA_DIR}/validator-db/api-token.txt")
}

/// Entry script of Lodestar relative to an install (`.../current/<this>`).
pub const LODESTAR_ENTRY: &str = "node_modules/@chainsafe/lodestar/lib/index.js";
/// The `Promise.withResolvers` polyfill relative to an install (Node 20 lacks it).
pub const POLYFILL: &str = "polyfill.cjs";

/// The polyfill file's content.
pub const POLYFILL_JS: &str = "if (typeof Promise.withResolvers !== \"function\") { Promise.withResolvers = function () { let resolve, reject; const promise = new Promise((res, rej) => { resolve = res; reject = rej; }); return { promise, resolve, reject }; }; }\n";

/// The demo script, installed at `/usr/local/bin/nodeherd-demo`.
pub const DEMO_SCRIPT_PATH: &str = "/usr/local/bin/nodeherd-demo";
pub const DEMO_SCRIPT: &str = r#"#!/bin/sh
# nodeherd lab demo service: logs a line every few seconds until stopped.
i=0
echo "nodeherd-demo starting (pid $$)"
trap 'echo "nodeherd-demo stopping after $i ticks"; exit 0' TERM INT
while :; do
    i=$((i + 1))
    echo "nodeherd-demo tick $i"
    sleep 3 &
    wait $!
done
"#;

pub fn demo_unit() -> String {
    format!(
        "[Unit]
Description=nodeherd lab demo service (logs a line every few seconds)

[Service]
ExecStart={DEMO_SCRIPT_PATH}
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
"
    )
}

/// Stop command for Lodestar 1.4.2/1.5.1: the first TERM starts a shutdown that hangs, the
/// second one exits at once with status 1. `$MAINPID` is checked (it is 0 for inactive units).
const LODESTAR_EXEC_STOP: &str = r#"/bin/sh -c 'p="$MAINPID"; [ -n "$p" ] && [ "$p" != 0 ] || exit 0; kill -TERM "$p" 2>/dev/null; for i in 1 2 3 4 5 6; do kill -0 "$p" 2>/dev/null || exit 0; sleep 0.5; done; kill -TERM "$p" 2>/dev/null; exit 0'"#;

pub fn lodestar_bn_unit() -> String {
    let install = BN_INSTALL_DIR;
    format!(
        "[Unit]
Description=Lodestar beacon node (dev chain, managed by nodeherd)
After=network.target

[Service]
Environment=LODESTAR_PRESET=minimal
Environment=NODE_OPTIONS=--require={install}/current/{POLYFILL}
# Every start is a fresh dev chain (--reset): the validator clients follow it (see their PartOf=).
ExecStartPost=-/bin/sh -c 'for u in {VC_UNIT} {VC2_UNIT}; do systemctl --no-block start \"$$u\" 2>/dev/null; done; true'
ExecStart={NODE_IN_HOST} {install}/current/{LODESTAR_ENTRY} dev --genesisValidators 8 --reset --dataDir {BN_DATA_DIR} --rest --rest.address 127.0.0.1 --rest.port {BN_REST_PORT} --rest.namespace '*' --metrics --metrics.address 127.0.0.1 --metrics.port {BN_METRICS_PORT} --listenAddress 127.0.0.1 --port 9000 --enr.ip 127.0.0.1 --logFile none
ExecStop={LODESTAR_EXEC_STOP}
SuccessExitStatus=1
TimeoutStopSec=30
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
"
    )
}

pub fn lodestar_vc_unit() -> String {
    vc_unit(
        VC_INSTALL_DIR,
        "--interopIndexes 0..7 ",
        VC_DATA_DIR,
        VC_METRICS_PORT,
        VC_KEYMANAGER_PORT,
    )
}

/// The second validator client: no keys of its own (they come through its keymanager API).
pub fn lodestar_vc2_unit() -> String {
    vc_unit(
        VC2_INSTALL_DIR,
        "",
        VC2_DATA_DIR,
        VC2_METRICS_PORT,
        VC2_KEYMANAGER_PORT,
    )
}

fn vc_unit(install: &str, keys: &str, data: &str, metrics: u16, keymanager: u16) -> String {
    format!(
        "[Unit]
Description=Lodestar validator client (dev chain, managed by nodeherd)
After=network.target {BN_UNIT}
Wants={BN_UNIT}
# The beacon node starts a new dev chain at every start: stop and restart with it.
PartOf={BN_UNIT}

[Service]
# A new chain has a new genesis: keep the keys and the API token, drop the old chain's slashing DB.
ExecStartPre=/bin/sh -c 'find {data}/validator-db -mindepth 1 ! -name api-token.txt -delete 2>/dev/null; true'
Environment=LODESTAR_PRESET=minimal
Environment=NODE_OPTIONS=--require={install}/current/{POLYFILL}
ExecStart={NODE_IN_HOST} {install}/current/{LODESTAR_ENTRY} validator --network dev {keys}--dataDir {data} --server http://127.0.0.1:{BN_REST_PORT} --metrics --metrics.address 127.0.0.1 --metrics.port {metrics} --keymanager --keymanager.address 127.0.0.1 --keymanager.port {keymanager} --logFile none
ExecStop={LODESTAR_EXEC_STOP}
SuccessExitStatus=1
TimeoutStopSec=30
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_paths_are_literal_and_use_current() {
        for unit in [lodestar_bn_unit(), lodestar_vc_unit()] {
            let exec = unit
                .lines()
                .find(|l| l.starts_with("ExecStart="))
                .unwrap_or_default();
            assert!(exec.starts_with("ExecStart=/usr/local/bin/node /opt/nodeherd/lodestar-"));
            assert!(exec.contains("/current/node_modules/@chainsafe/lodestar/lib/index.js"));
            assert!(
                !exec.contains("${"),
                "systemd does not expand variables in the path"
            );
            assert!(unit.contains("SuccessExitStatus=1"));
            assert!(unit.contains("LODESTAR_PRESET=minimal"));
        }
        assert!(lodestar_bn_unit().contains(" dev --genesisValidators 8 --reset "));
        assert!(lodestar_vc_unit().contains("--keymanager.port 5062"));
        assert!(
            lodestar_vc_unit().contains(" --interopIndexes 0..7 --dataDir /var/lib/lodestar-vc ")
        );
        let vc2 = lodestar_vc2_unit();
        assert!(vc2.contains("--keymanager.port 5063") && vc2.contains("--metrics.port 5065"));
        assert!(vc2.contains(" --network dev --dataDir /var/lib/lodestar-vc2 "));
        assert!(!vc2.contains("interop"));
        assert!(vc2.contains("/opt/nodeherd/lodestar-vc2/current/"));
    }

    #[test]
    fn token_file_is_under_vc_data_dir() {
        assert_eq!(
            keymanager_token_file(),
            "/var/lib/lodestar-vc/validator-db/api-token.txt"
        );
    }
}
