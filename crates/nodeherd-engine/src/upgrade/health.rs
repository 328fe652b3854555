//! The health gate of every node kind: ask what the probe table says, feed the pure gate.
//!
//! Owns: sending each probe's requests through the SSH session (HTTP over a forward to the
//! host's loopback, JSON-RPC POSTs, the declared command) and the unit state, turning answers
//! into [`Reading`]s with the core parsers, and the polling loop. May not touch: what counts as
//! healthy (that is `nodeherd_core::health`), the install layout or the switch.

use nodeherd_core::facts::systemd;
use nodeherd_core::health::answers as ans;
use nodeherd_core::health::{Api, Check, Gate, Probe, Reading, probe_for};
use nodeherd_core::inventory::{DeclaredProbe, Node};
use nodeherd_core::remote::Command;
use nodeherd_transport::http;
use nodeherd_transport::ssh::Session;
use std::time::Duration;
// tokio's clock: the real one in production, a paused one in tests (sleeps and deadlines alike)
use tokio::time::Instant;

/// How often the gate looks.
const POLL: Duration = Duration::from_secs(2);

/// Why a probe's request got no answer; the Display is the text users see.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The forward to the node's API failed.
    #[error("{0}")]
    Forward(#[from] nodeherd_transport::ssh::SshError),
    #[error("{path}: no answer within 10s")]
    NoAnswer { path: String },
    #[error("{0}")]
    Http(#[from] http::HttpError),
}

async fn call(
    session: &Session,
    port: u16,
    path: &str,
    body: Option<&str>,
) -> Result<http::Response, ProbeError> {
    let stream = session.forward(port).await?;
    let req = async {
        match body {
            None => http::get(stream, path, &[]).await,
            Some(b) => {
                let h = [("Content-Type", "application/json")];
                http::request(stream, "POST", path, &h, Some(b.as_bytes())).await
            }
        }
    };
    let what = match body {
        None => path.to_string(),
        Some(b) => b
            .split("\"method\":\"")
            .nth(1)
            .and_then(|m| m.split('"').next())
            .unwrap_or(path)
            .to_string(),
    };
    Ok(tokio::time::timeout(Duration::from_secs(10), req)
        .await
        .map_err(|_| ProbeError::NoAnswer { path: what })??)
}

/// One JSON-RPC call's answer body, or why there was none.
async fn rpc(session: &Session, port: u16, method: &str) -> Result<String, String> {
    let r = call(session, port, "/", Some(&ans::rpc_request(method)))
        .await
        .map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(format!(
            "{method} answered HTTP {}: {}",
            r.status,
            ans::short(&r.text())
        ));
    }
    Ok(r.text())
}

/// Observe `node` once, as its probe says.
pub async fn read(session: &Session, node: &Node, probe: &Probe) -> Reading {
    let mut r = Reading::default();
    match session.exec(&systemd::show_command(&[&node.unit])).await {
        Ok(o) => {
            if let Some(u) = systemd::parse_show(&o.stdout_str()).into_iter().next() {
                r.unit_active = u.is_active();
                r.unit_state.clone_from(&u.sub_state);
                r.main_pid = u.main_pid;
                r.restarts = u.restarts;
            }
        }
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    }
    if !r.unit_active {
        return r;
    }
    match probe {
        Probe::Api { api, port } => read_api(session, *api, *port, &mut r).await,
        Probe::Validator {
            metrics_port,
            keymanager_port,
        } => read_validator(session, *metrics_port, *keymanager_port, &mut r).await,
        Probe::Declared(d) => read_declared(session, d, &mut r).await,
        Probe::UnitOnly { .. } => {}
    }
    r
}

async fn read_api(session: &Session, api: Api, port: u16, r: &mut Reading) {
    match api {
        Api::BeaconApi => match call(session, port, "/eth/v1/node/health", None).await {
            Ok(h) => {
                r.check = Some(match h.status {
                    200 => Check::Healthy,
                    206 => Check::Syncing,
                    _ => Check::Unhealthy,
                });
                r.said = Some(format!("/eth/v1/node/health answered {}", h.status));
                if let Ok(v) = call(session, port, "/eth/v1/node/version", None).await {
                    r.version = ans::beacon_version(&v.text());
                }
                if let Ok(s) = call(session, port, "/eth/v1/node/syncing", None).await {
                    r.progress = ans::beacon_head_slot(&s.text());
                }
            }
            Err(e) => r.error = Some(e.to_string()),
        },
        Api::EthJsonRpc => read_eth(session, port, r).await,
        Api::CometBft => match call(session, port, "/status", None).await {
            Ok(s) => {
                let body = s.text();
                match ans::comet_status(&body) {
                    Some(st) => {
                        r.check = Some(match st.catching_up {
                            Some(false) => Check::Healthy,
                            Some(true) => Check::Syncing,
                            None => Check::Unhealthy,
                        });
                        // the app's version (what a chain upgrade changes), else CometBFT's
                        r.version = match call(session, port, "/abci_info", None).await {
                            Ok(a) => ans::abci_version(&a.text()).or(st.version),
                            Err(_) => st.version,
                        };
                        r.progress = st.height;
                        r.said = Some(format!("/status: {}", ans::short(&body)));
                    }
                    None => {
                        r.check = Some(Check::Unhealthy);
                        r.said = Some(format!(
                            "/status answered {}: {}",
                            s.status,
                            ans::short(&body)
                        ));
                    }
                }
            }
            Err(e) => r.error = Some(e.to_string()),
        },
        Api::Substrate => read_substrate(session, port, r).await,
        Api::Nwaku => match call(session, port, "/health", None).await {
            Ok(h) => {
                let body = h.text();
                let ready = h.status == 200 && ans::nwaku_ready(&body) != Some(false);
                r.check = Some(if ready {
                    Check::Healthy
                } else {
                    Check::Unhealthy
                });
                r.said = Some(format!(
                    "/health answered {}: {}",
                    h.status,
                    ans::short(&body)
                ));
            }
            Err(e) => r.error = Some(e.to_string()),
        },
        Api::Validator => read_validator(session, None, Some(port), r).await,
    }
}

async fn read_eth(session: &Session, port: u16, r: &mut Reading) {
    let syncing = match rpc(session, port, "eth_syncing").await {
        Ok(b) => b,
        Err(e) => {
            r.error = Some(e);
            return;
        }
    };
    r.check = Some(match ans::eth_syncing(&syncing) {
        Some(false) => Check::Healthy,
        Some(true) => Check::Syncing,
        None => Check::Unhealthy,
    });
    r.said = Some(format!("eth_syncing: {}", ans::short(&syncing)));
    if let Ok(b) = rpc(session, port, "web3_clientVersion").await {
        r.version = ans::rpc_string(&b);
    }
    if let Ok(b) = rpc(session, port, "eth_blockNumber").await {
        r.progress = ans::rpc_quantity(&b);
    }
    if let Ok(b) = rpc(session, port, "net_peerCount").await {
        r.peers = ans::rpc_quantity(&b);
    }
}

async fn read_substrate(session: &Session, port: u16, r: &mut Reading) {
    let health = match rpc(session, port, "system_health").await {
        Ok(b) => b,
        Err(e) => {
            r.error = Some(e);
            return;
        }
    };
    match ans::substrate_health(&health) {
        Some((syncing, peers)) => {
            r.check = Some(if syncing {
                Check::Syncing
            } else {
                Check::Healthy
            });
            r.peers = Some(peers);
        }
        None => r.check = Some(Check::Unhealthy),
    }
    r.said = Some(format!("system_health: {}", ans::short(&health)));
    // system_health's isSyncing can be false while the node is far behind (no peer announced
    // more yet); system_syncState says how far.
    if r.check == Some(Check::Healthy) {
        if let Ok(b) = rpc(session, port, "system_syncState").await {
            if let Some(s) = nodeherd_core::substrate::parse_sync_state(&b) {
                if s.syncing() {
                    r.check = Some(Check::Syncing);
                }
                r.said = Some(format!(
                    "system_health: {}; system_syncState: block {} of {}",
                    ans::short(&health),
                    s.current,
                    s.highest
                ));
            }
        }
    }
    if let Ok(b) = rpc(session, port, "system_version").await {
        r.version = ans::rpc_string(&b);
    }
    if let Ok(b) = rpc(session, port, "chain_getHeader").await {
        r.progress = ans::substrate_best(&b);
    }
}

/// A validator client: its metrics page must answer with samples (and names the version when
/// it publishes one); its keymanager must answer at all (401 without the token counts: the
/// token is a secret and is not read for a health check).
async fn read_validator(
    session: &Session,
    metrics_port: Option<u16>,
    keymanager_port: Option<u16>,
    r: &mut Reading,
) {
    let mut problems = Vec::new();
    if let Some(port) = metrics_port {
        match call(session, port, "/metrics", None).await {
            Ok(m) if m.status == 200 && ans::metrics_alive(&m.text()) => {
                r.version = ans::metrics_version(&m.text());
            }
            Ok(m) => problems.push(format!("/metrics answered {} with no samples", m.status)),
            Err(e) => problems.push(format!("metrics: {e}")),
        }
    }
    if let Some(port) = keymanager_port {
        match call(session, port, "/eth/v1/keystores", None).await {
            Ok(k) if matches!(k.status, 200 | 401 | 403) => {}
            Ok(k) => problems.push(format!("keymanager answered {}", k.status)),
            Err(e) => problems.push(format!("keymanager: {e}")),
        }
    }
    if metrics_port.is_none() && keymanager_port.is_none() {
        return;
    }
    if problems.is_empty() {
        r.check = Some(Check::Healthy);
    } else {
        r.check = Some(Check::Unhealthy);
        r.said = Some(problems.join("; "));
    }
}

async fn read_declared(session: &Session, d: &DeclaredProbe, r: &mut Reading) {
    match d {
        DeclaredProbe::Http { port, path, status } => {
            match call(session, *port, path, None).await {
                Ok(h) => {
                    r.check = Some(if h.status == *status {
                        Check::Healthy
                    } else {
                        Check::Unhealthy
                    });
                    r.said = Some(format!(
                        "GET {path} answered {}: {}",
                        h.status,
                        ans::short(&h.text())
                    ));
                }
                Err(e) => r.error = Some(e.to_string()),
            }
        }
        DeclaredProbe::Command { command, status } => {
            let cmd = Command::new("sh").arg("-c").arg(command);
            match session
                .exec_with_timeout(&cmd, Duration::from_secs(30))
                .await
            {
                Ok(o) => {
                    let code = o.exit_status.map_or(-1, |c| i32::try_from(c).unwrap_or(-1));
                    r.check = Some(if code == *status {
                        Check::Healthy
                    } else {
                        Check::Unhealthy
                    });
                    let out = format!("{}{}", o.stdout_str(), String::from_utf8_lossy(&o.stderr));
                    r.said = Some(format!("`{command}` exited {code}: {}", ans::short(&out)));
                }
                Err(e) => r.error = Some(e.to_string()),
            }
        }
    }
}

/// What the gate saw when it gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateFailure {
    pub reason: String,
    pub last: Reading,
}

/// What a gate waits for.
#[derive(Debug, Clone, Copy)]
pub struct GateSpec<'a> {
    /// The version the node must report (when its API reports one).
    pub want: Option<&'a str>,
    pub accept_syncing: bool,
    /// How long a settle-kind node must stay up without a restart (zero: healthy now).
    pub settle: Duration,
    pub timeout: Duration,
}

/// Poll `node` with its probe until the pure gate passes or `timeout`; every 2 s.
pub async fn gate(
    session: &Session,
    node: &Node,
    spec: GateSpec<'_>,
) -> Result<Duration, GateFailure> {
    gate_with(session, node, spec, |_, _| {}).await
}

/// Like [`gate`], telling `waiting` after each reading that did not pass yet how long the gate
/// has waited and why it has not passed (what the probe last said).
pub async fn gate_with(
    session: &Session,
    node: &Node,
    spec: GateSpec<'_>,
    mut waiting: impl FnMut(Duration, String),
) -> Result<Duration, GateFailure> {
    let start = Instant::now();
    let probe = probe_for(node);
    let mut g = Gate::new(probe.clone(), spec.want, spec.accept_syncing, spec.settle);
    let mut down = 0;
    loop {
        let r = read(session, node, &probe).await;
        // A unit that is dead or failed on two reads in a row (one could fall inside the
        // restart), or a closed session, ends the gate now instead of at its timeout.
        let stopped = !r.unit_active && matches!(r.unit_state.as_str(), "dead" | "failed");
        down = if stopped { down + 1 } else { 0 };
        let early = if session.is_closed() {
            Some("the SSH session to the host is closed".to_string())
        } else if down >= 2 {
            Some(format!(
                "unit {} is {} (read twice): it does not run",
                node.unit, r.unit_state
            ))
        } else {
            None
        };
        if let Some(why) = early {
            return Err(GateFailure {
                reason: format!("gate stopped after {}s: {why}", start.elapsed().as_secs()),
                last: r,
            });
        }
        if g.observe(r, start.elapsed()) {
            return Ok(start.elapsed());
        }
        if g.hopeless() {
            return Err(GateFailure {
                reason: format!(
                    "not healthy after {}s: {}",
                    start.elapsed().as_secs(),
                    g.reason()
                ),
                last: g.last().clone(),
            });
        }
        if start.elapsed() + POLL > spec.timeout {
            break;
        }
        waiting(start.elapsed(), g.reason());
        tokio::time::sleep(POLL).await;
    }
    Err(GateFailure {
        reason: format!(
            "not healthy within {}s: {}",
            spec.timeout.as_secs(),
            g.reason()
        ),
        last: g.last().clone(),
    })
}

#[cfg(test)]
mod substrate_tests {
    //! The Substrate reading through the fake host, with the recorded `system_syncState` shapes
    //! of `tests/fixtures/substrate/`.

    use super::*;
    use crate::testing::{FakeRemote, HttpReply, Match, Reply};
    use nodeherd_core::inventory::{Inventory, NodeRef};
    use std::path::PathBuf;

    const SYNCED: &str = include_str!("../../../../tests/fixtures/substrate/sync_state.json");
    const SYNCING: &str =
        include_str!("../../../../tests/fixtures/substrate/sync_state_syncing.json");

    async fn reading(sync: &'static str) -> Reading {
        let text = "[defaults]\nuser = \"root\"\n[hosts.h1]\naddress = \"192.0.2.1\"\n[hosts.h1.nodes.dot]\nclient = \"substrate\"\nrpc_port = 9944\n";
        let inv = Inventory::from_sources(vec![(PathBuf::from("/t/hosts.toml"), text.into())])
            .unwrap_or_else(|e| panic!("{e:?}"));
        let (_, node) = inv.node(NodeRef { host: 0, node: 0 });
        let f = FakeRemote::named("h1");
        f.on(
            Match::contains("systemctl show"),
            Reply::ok(format!(
                "Id={}\nActiveState=active\nSubState=running\nMainPID=42\nNRestarts=0\n\n",
                node.unit
            )),
        );
        let ok = |r: &'static str| {
            move |_: usize, _: &_| {
                HttpReply::Answer(200, format!(r#"{{"jsonrpc":"2.0","id":1,"result":{r}}}"#))
            }
        };
        f.rpc_with(
            9944,
            "system_health",
            ok(r#"{"peers":3,"isSyncing":false,"shouldHavePeers":true}"#),
        );
        f.rpc_with(9944, "system_version", ok(r#""1.17.1-7ae6f4a1f3""#));
        f.rpc_with(9944, "chain_getHeader", ok(r#"{"number":"0x147c785"}"#));
        f.rpc_with(9944, "system_syncState", move |_, _| {
            HttpReply::Answer(200, sync.to_string())
        });
        read(&f.session(), node, &nodeherd_core::health::probe_for(node)).await
    }

    #[tokio::test]
    async fn far_behind_in_sync_state_is_syncing_even_when_health_says_not() {
        let r = reading(SYNCED).await;
        assert_eq!(r.check, Some(Check::Healthy), "{r:?}");
        assert_eq!(r.peers, Some(3));
        let r = reading(SYNCING).await;
        assert_eq!(r.check, Some(Check::Syncing), "{r:?}");
        let said = r.said.unwrap_or_default();
        assert!(said.contains("block 3198244 of 21482118"), "{said}");
    }
}
