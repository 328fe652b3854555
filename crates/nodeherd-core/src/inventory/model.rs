//! The resolved inventory model: hosts, their nodes, groups, and the client/role vocabularies.
//!
//! Owns: the public data types other modules build on. Everything here is already validated
//! and fully resolved (no inheritance left to apply). May not touch: files, TOML, SSH.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::remote::{HostKeyPolicy, Target};

/// A host of the inventory with its fully resolved SSH target and its nodes.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    /// Connection settings after precedence (host > groups > file defaults > built-in).
    #[serde(serialize_with = "serialize_target")]
    pub target: Target,
    /// Every group the host belongs to, including parents of nested groups, in definition order.
    pub groups: Vec<String>,
    /// `platform = "linux/aarch64"`: wins over detection, and is checked against the host.
    pub platform: Option<crate::facts::platform::Platform>,
    pub nodes: Vec<Node>,
    /// Where each connection setting came from (`check --explain`).
    #[serde(skip)]
    pub origins: Vec<Origin>,
    /// What was read but not applied, and why (skipped `Match` blocks, looser host-key checks).
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// One connection setting of a host and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub setting: &'static str,
    pub value: String,
    /// `inventory`, `ssh_config` or `default`.
    pub source: &'static str,
    /// `file:line` (none for a default).
    pub place: Option<String>,
}

impl Host {
    /// The Beacon API port that serves `node`: its own `rest_port`, else that of a beacon or
    /// consensus node on the same host (a validator client's usual beacon node).
    pub fn beacon_api_port(&self, node: &Node) -> Option<u16> {
        node.rest_port.or_else(|| {
            self.nodes
                .iter()
                .filter(|n| matches!(n.role, Role::Beacon | Role::Consensus))
                .find_map(|n| n.rest_port)
        })
    }
}

/// One blockchain client process on a host, managed as a systemd unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub name: String,
    pub client: ClientKind,
    pub role: Role,
    /// Full systemd unit name, always with a type suffix (`.service` appended when absent).
    pub unit: String,
    pub network: Option<String>,
    pub install_dir: PathBuf,
    pub data_dir: Option<PathBuf>,
    pub rest_port: Option<u16>,
    pub metrics_port: Option<u16>,
    pub keymanager_port: Option<u16>,
    pub keymanager_token_file: Option<PathBuf>,
    pub release_feed: Option<String>,
    /// The client's own RPC on the host: execution JSON-RPC, CometBFT RPC, Substrate JSON-RPC,
    /// nwaku REST.
    pub rpc_port: Option<u16>,
    /// The Cosmos SDK REST API (`api_port = 1317`) on the host, for cosmos nodes.
    pub api_port: Option<u16>,
    /// The chain daemon's program name (`daemon = "gaiad"`): the file a chain upgrade stages
    /// (`releases/<upgrade>/<daemon>`, Cosmovisor's `upgrades/<upgrade>/bin/<daemon>`).
    pub daemon: Option<String>,
    /// A Cosmos validator's operator address (`valoper = "cosmosvaloper1..."`): what the
    /// jailed, missed-blocks and governance alert rules ask about.
    pub valoper: Option<String>,
    /// A Substrate node's keystore directory (`keystore_dir`, its `--keystore-path`); without
    /// it, every `<data_dir>/chains/*/keystore` (the node's default under its `--base-path`).
    pub keystore_dir: Option<PathBuf>,
    /// A health check the operator declares (`probe = { http = "...", status = 200 }` or
    /// `probe = { command = "...", status = 0 }`); it replaces the client's own probe.
    pub probe: Option<DeclaredProbe>,
    /// What is saved of `data_dir` before a version switch.
    pub backup: Backup,
    /// Backups kept on the host (oldest pruned first).
    pub backup_keep: usize,
}

/// A health check declared in the inventory, run on the host through the SSH session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DeclaredProbe {
    /// `GET http://127.0.0.1:<port><path>` through a forward; healthy when it answers `status`.
    Http {
        port: u16,
        path: String,
        status: u16,
    },
    /// `sh -c <command>` on the host; healthy when it exits with `status`.
    Command { command: String, status: i32 },
}

impl fmt::Display for DeclaredProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeclaredProbe::Http { port, path, status } => {
                write!(f, "GET http://127.0.0.1:{port}{path} -> {status}")
            }
            DeclaredProbe::Command { command, status } => write!(f, "`{command}` exits {status}"),
        }
    }
}

/// `backup = "none" | "snapshot" | "copy"`: what is saved of the data dir before a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backup {
    /// Nothing is saved (the default: a data dir can be hundreds of GB).
    #[default]
    None,
    /// A copy-on-write snapshot where the filesystem has one (reflink, btrfs), else a copy.
    Snapshot,
    /// A full copy (`cp -a`), after checking the free space.
    Copy,
}

impl Backup {
    pub const ALL: [Backup; 3] = [Backup::None, Backup::Snapshot, Backup::Copy];

    pub fn as_str(self) -> &'static str {
        match self {
            Backup::None => "none",
            Backup::Snapshot => "snapshot",
            Backup::Copy => "copy",
        }
    }

    pub fn from_name(s: &str) -> Option<Backup> {
        Backup::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// A named group of hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub name: String,
    /// All member hosts (direct, via the hosts' own `groups`, and via child groups), inventory order.
    pub hosts: Vec<String>,
    /// Direct child groups as written.
    pub children: Vec<String>,
    /// The default network this group gives to the nodes of its hosts.
    pub network: Option<String>,
}

/// Index of one node: `inventory.hosts[host].nodes[node]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct NodeRef {
    pub host: usize,
    pub node: usize,
}

/// The blockchain client software a node runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Lodestar,
    Nimbus,
    Lighthouse,
    Teku,
    Prysm,
    Geth,
    Nethermind,
    Besu,
    Reth,
    /// EthereumJS, the TypeScript execution client (`@ethereumjs/client` on npm).
    Ethereumjs,
    Cosmos,
    Substrate,
    Nwaku,
    Generic,
}

impl ClientKind {
    pub const ALL: [ClientKind; 14] = [
        ClientKind::Lodestar,
        ClientKind::Nimbus,
        ClientKind::Lighthouse,
        ClientKind::Teku,
        ClientKind::Prysm,
        ClientKind::Geth,
        ClientKind::Nethermind,
        ClientKind::Besu,
        ClientKind::Reth,
        ClientKind::Ethereumjs,
        ClientKind::Cosmos,
        ClientKind::Substrate,
        ClientKind::Nwaku,
        ClientKind::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Lodestar => "lodestar",
            ClientKind::Nimbus => "nimbus",
            ClientKind::Lighthouse => "lighthouse",
            ClientKind::Teku => "teku",
            ClientKind::Prysm => "prysm",
            ClientKind::Geth => "geth",
            ClientKind::Nethermind => "nethermind",
            ClientKind::Besu => "besu",
            ClientKind::Reth => "reth",
            ClientKind::Ethereumjs => "ethereumjs",
            ClientKind::Cosmos => "cosmos",
            ClientKind::Substrate => "substrate",
            ClientKind::Nwaku => "nwaku",
            ClientKind::Generic => "generic",
        }
    }

    /// Parses the inventory spelling (lowercase).
    pub fn from_name(s: &str) -> Option<ClientKind> {
        ClientKind::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// An Ethereum consensus-layer client.
    pub fn is_consensus(self) -> bool {
        matches!(
            self,
            ClientKind::Lodestar
                | ClientKind::Nimbus
                | ClientKind::Lighthouse
                | ClientKind::Teku
                | ClientKind::Prysm
        )
    }

    /// An Ethereum execution-layer client.
    pub fn is_execution(self) -> bool {
        matches!(
            self,
            ClientKind::Geth
                | ClientKind::Nethermind
                | ClientKind::Besu
                | ClientKind::Reth
                | ClientKind::Ethereumjs
        )
    }

    /// The role a node of this client has when the inventory does not say.
    pub fn default_role(self) -> Role {
        if self.is_consensus() {
            Role::Beacon
        } else if self.is_execution() {
            Role::Execution
        } else if self == ClientKind::Cosmos {
            Role::Consensus
        } else {
            Role::Other
        }
    }
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a node does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Beacon,
    Validator,
    Execution,
    Consensus,
    Other,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Beacon,
        Role::Validator,
        Role::Execution,
        Role::Consensus,
        Role::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Beacon => "beacon",
            Role::Validator => "validator",
            Role::Execution => "execution",
            Role::Consensus => "consensus",
            Role::Other => "other",
        }
    }

    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What JSON output shows of a [`Target`] (which is not `Serialize` itself).
#[derive(Serialize)]
struct TargetSummary<'a> {
    address: &'a str,
    port: u16,
    user: &'a str,
    /// Jump hosts from the first hop to the last, as `user@address:port`.
    jump: Vec<String>,
    host_key_policy: HostKeyPolicy,
    known_hosts_files: &'a [PathBuf],
    identity_files: &'a [PathBuf],
    #[serde(rename = "become")]
    become_root: bool,
    connect_timeout_secs: f64,
    command_timeout_secs: f64,
}

/// The jump chain of a target, first hop first.
pub fn jump_chain(target: &Target) -> Vec<&Target> {
    let mut chain = Vec::new();
    let mut cur = target.jump.as_deref();
    while let Some(j) = cur {
        chain.push(j);
        cur = j.jump.as_deref();
    }
    chain.reverse();
    chain
}

fn serialize_target<S: serde::Serializer>(t: &Target, s: S) -> Result<S::Ok, S::Error> {
    let secs = |d: Duration| d.as_secs_f64();
    TargetSummary {
        address: &t.address,
        port: t.port,
        user: &t.user,
        jump: jump_chain(t)
            .iter()
            .map(|j| format!("{}@{}:{}", j.user, j.address, j.port))
            .collect(),
        host_key_policy: t.host_key_policy,
        known_hosts_files: &t.known_hosts_files,
        identity_files: &t.identity_files,
        become_root: t.become_root,
        connect_timeout_secs: secs(t.connect_timeout),
        command_timeout_secs: secs(t.command_timeout),
    }
    .serialize(s)
}
