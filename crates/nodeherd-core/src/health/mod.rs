//! The health probe of every node kind, as data, and the pure judgement of what it saw.
//!
//! Owns: the probe table ([`PROBES`]: which API, on which port, tells whether a node of a kind
//! is healthy), [`probe_for`] (declared probe > client row > role row > the unit alone), the
//! parsers of each API's answers ([`answers`]) and the gate's state machine ([`gate`]).
//! May not touch: the network or SSH (the engine sends the requests this module names and
//! feeds it [`Reading`]s), the terminal, the clock (time arrives as an argument).

pub mod answers;
pub mod gate;

use std::fmt;

use serde::Serialize;

use crate::inventory::{ClientKind, DeclaredProbe, Node, Role};

pub use gate::{Check, Gate, Reading};

/// The API a probe asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `/eth/v1/node/{health,version,syncing}` on `rest_port`.
    BeaconApi,
    /// JSON-RPC on `rpc_port`: `web3_clientVersion`, `eth_syncing`, `eth_blockNumber`, `net_peerCount`.
    EthJsonRpc,
    /// CometBFT RPC `/status` on `rpc_port`.
    CometBft,
    /// Substrate JSON-RPC on `rpc_port`: `system_health`, `system_version`, `chain_getHeader`.
    Substrate,
    /// nwaku REST `/health` on `rpc_port` (or `rest_port`).
    Nwaku,
    /// A validator client: its metrics page (alive, version) and its keymanager (answering).
    Validator,
}

impl Api {
    /// How messages name it.
    pub fn label(self) -> &'static str {
        match self {
            Api::BeaconApi => "the Beacon API",
            Api::EthJsonRpc => "JSON-RPC",
            Api::CometBft => "the CometBFT RPC",
            Api::Substrate => "the Substrate JSON-RPC",
            Api::Nwaku => "the nwaku REST API",
            Api::Validator => "the validator client",
        }
    }

    /// What advances while the node works, when the API reports such a number.
    pub fn progress(self) -> Option<&'static str> {
        match self {
            Api::BeaconApi => Some("head slot"),
            Api::EthJsonRpc => Some("block number"),
            Api::CometBft => Some("block height"),
            Api::Substrate => Some("best block"),
            Api::Nwaku | Api::Validator => None,
        }
    }
}

/// Which inventory port an API is reached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortField {
    Rest,
    Rpc,
    /// `rpc_port`, else `rest_port`.
    RpcOrRest,
    /// The validator client reads `metrics_port` and `keymanager_port` itself.
    Own,
}

/// Which nodes a row is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    Client(ClientKind),
    Role(Role),
}

/// One row of the probe table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeRow {
    pub matches: Match,
    pub api: Api,
    pub port: PortField,
}

/// The probe table: client rows first (they win), then role rows. A node no row fits, or
/// whose row's port is not set, is gated on its unit alone.
pub const PROBES: &[ProbeRow] = &[
    ProbeRow {
        matches: Match::Client(ClientKind::Cosmos),
        api: Api::CometBft,
        port: PortField::Rpc,
    },
    ProbeRow {
        matches: Match::Client(ClientKind::Substrate),
        api: Api::Substrate,
        port: PortField::Rpc,
    },
    ProbeRow {
        matches: Match::Client(ClientKind::Nwaku),
        api: Api::Nwaku,
        port: PortField::RpcOrRest,
    },
    ProbeRow {
        matches: Match::Role(Role::Validator),
        api: Api::Validator,
        port: PortField::Own,
    },
    ProbeRow {
        matches: Match::Role(Role::Beacon),
        api: Api::BeaconApi,
        port: PortField::Rest,
    },
    ProbeRow {
        matches: Match::Role(Role::Execution),
        api: Api::EthJsonRpc,
        port: PortField::Rpc,
    },
];

/// How one node is probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
pub enum Probe {
    /// A client API on a loopback port of the host.
    Api { api: Api, port: u16 },
    /// A validator client: metrics page and keymanager, each when configured.
    Validator {
        metrics_port: Option<u16>,
        keymanager_port: Option<u16>,
    },
    /// The inventory's own probe.
    Declared(DeclaredProbe),
    /// Nothing to ask: the unit must stay active, without a restart, for `settle`.
    UnitOnly {
        /// Why there is nothing else (shown in the plan).
        why: String,
    },
}

impl Probe {
    /// Whether the gate waits for the node to settle (unit up, no restart, for `settle`)
    /// rather than for a progress number to advance.
    pub fn settles(&self) -> bool {
        match self {
            Probe::Api { api, .. } => api.progress().is_none(),
            Probe::Validator { .. } | Probe::Declared(_) | Probe::UnitOnly { .. } => true,
        }
    }

    /// The name messages use for what is asked.
    pub fn label(&self) -> &'static str {
        match self {
            Probe::Api { api, .. } => api.label(),
            Probe::Validator { .. } => Api::Validator.label(),
            Probe::Declared(_) => "the declared probe",
            Probe::UnitOnly { .. } => "the unit",
        }
    }
}

/// One line for plans and `status`: what the gate checks.
impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Api { api, port } => {
                let what = match api {
                    Api::BeaconApi => "health 200, version, head slot advancing",
                    Api::EthJsonRpc => {
                        "web3_clientVersion, eth_syncing false, eth_blockNumber advancing"
                    }
                    Api::CometBft => {
                        "/status: node_info.version, catching_up false, latest_block_height advancing"
                    }
                    Api::Substrate => {
                        "system_version, system_health isSyncing false, best block advancing"
                    }
                    Api::Nwaku => "/health answering 200, unit settled",
                    Api::Validator => "metrics and keymanager",
                };
                write!(f, "{} on 127.0.0.1:{port} ({what})", api.label())
            }
            Probe::Validator {
                metrics_port,
                keymanager_port,
            } => {
                f.write_str("validator client: unit settled without a restart")?;
                if let Some(p) = metrics_port {
                    write!(
                        f,
                        ", metrics on 127.0.0.1:{p} answering (version when published)"
                    )?;
                }
                if let Some(p) = keymanager_port {
                    write!(f, ", keymanager on 127.0.0.1:{p} answering")?;
                }
                Ok(())
            }
            Probe::Declared(d) => write!(f, "declared probe: {d}, unit settled"),
            Probe::UnitOnly { why } => write!(f, "unit settled without a restart only ({why})"),
        }
    }
}

/// The probe of `node`: its declared probe, else the first table row that fits and whose port
/// is set, else its unit alone (with why).
pub fn probe_for(node: &Node) -> Probe {
    if let Some(d) = &node.probe {
        return Probe::Declared(d.clone());
    }
    let row = PROBES.iter().find(|r| match r.matches {
        Match::Client(c) => c == node.client,
        Match::Role(role) => role == node.role,
    });
    let Some(row) = row else {
        return Probe::UnitOnly {
            why: format!(
                "a {} node has no API nodeherd knows; declare probe = {{ http = \"http://127.0.0.1:PORT/health\" }} to check more",
                node.client
            ),
        };
    };
    let port = match row.port {
        PortField::Rest => node.rest_port,
        PortField::Rpc => node.rpc_port,
        PortField::RpcOrRest => node.rpc_port.or(node.rest_port),
        PortField::Own => {
            return Probe::Validator {
                metrics_port: node.metrics_port,
                keymanager_port: node.keymanager_port,
            };
        }
    };
    match port {
        Some(port) => Probe::Api { api: row.api, port },
        None => {
            let field = match row.port {
                PortField::Rest => "rest_port",
                _ => "rpc_port",
            };
            Probe::UnitOnly {
                why: format!(
                    "the node has no {field} for {}; set it, or declare a probe",
                    row.api.label()
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests;
