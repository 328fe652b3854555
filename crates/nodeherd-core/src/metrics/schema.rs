//! The shape of the client table: what a metric tells ([`Signal`]), how a row names a metric family
//! ([`MetricSpec`], [`Matcher`], [`Reduce`], [`VersionLabel`]), a JSON-RPC read ([`RpcSpec`]) and one
//! client's whole entry ([`ClientMetrics`]).
//!
//! Owns: these types only. May not touch: the table's contents ([`super::clients`]), parsing pages
//! ([`super::page`]) or JSON-RPC answers ([`super::eth_rpc`]), any I/O. Every other metrics module
//! depends on this one and it depends on none of them.

use serde::Serialize;

/// What a metric tells the operator. Ordered so that `Sample` iterates stably.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Slot of the head block (consensus clients).
    HeadSlot,
    /// The wall-clock slot; `WallSlot - HeadSlot` is the sync distance.
    WallSlot,
    /// Connected peers.
    Peers,
    FinalizedEpoch,
    /// Client-specific sync state number (Lodestar: 0 Stalled, 1 SyncingFinalized, 2 SyncingHead, 3 Synced).
    SyncStatus,
    /// Head block number (execution clients).
    HeadBlock,
    /// Highest block seen on the network (execution clients).
    HighestBlock,
    /// Block height (CometBFT, Substrate best).
    Height,
    /// Finalized height (Substrate).
    FinalizedHeight,
    /// Seconds to the next validator duty (Nimbus `next_action_wait`).
    NextActionWait,
    /// Seconds to the next proposal (Nimbus; +Inf when unknown).
    NextProposalWait,
    /// Attestations included on chain (validator monitor, cumulative).
    ValidatorHits,
    /// Attestations missed (validator monitor, cumulative).
    ValidatorMisses,
    /// Attestations published by a validator client (cumulative).
    AttestationsPublished,
    /// Number of validators a validator client signs for.
    Validators,
    /// Version: not a number; read from a label, see [`ClientMetrics::version`].
    Version,
}

impl Signal {
    /// Every signal, in order.
    pub const ALL: &'static [Signal] = &[
        Signal::HeadSlot,
        Signal::WallSlot,
        Signal::Peers,
        Signal::FinalizedEpoch,
        Signal::SyncStatus,
        Signal::HeadBlock,
        Signal::HighestBlock,
        Signal::Height,
        Signal::FinalizedHeight,
        Signal::NextActionWait,
        Signal::NextProposalWait,
        Signal::ValidatorHits,
        Signal::ValidatorMisses,
        Signal::AttestationsPublished,
        Signal::Validators,
        Signal::Version,
    ];

    /// snake_case name, used in exposition (`nodeherd_<name>`) and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Signal::HeadSlot => "head_slot",
            Signal::WallSlot => "wall_slot",
            Signal::Peers => "peers",
            Signal::FinalizedEpoch => "finalized_epoch",
            Signal::SyncStatus => "sync_status",
            Signal::HeadBlock => "head_block",
            Signal::HighestBlock => "highest_block",
            Signal::Height => "height",
            Signal::FinalizedHeight => "finalized_height",
            Signal::NextActionWait => "next_action_wait_seconds",
            Signal::NextProposalWait => "next_proposal_wait_seconds",
            Signal::ValidatorHits => "validator_hits",
            Signal::ValidatorMisses => "validator_misses",
            Signal::AttestationsPublished => "attestations_published",
            Signal::Validators => "validators",
            Signal::Version => "version",
        }
    }
}

/// A label that a sample must carry (`status="best"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matcher {
    pub label: &'static str,
    pub value: &'static str,
}

/// How to combine several samples of one family that pass the matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduce {
    /// Sum them (per-status or per-direction peer gauges, per-validator counters).
    Sum,
    /// The largest one.
    Max,
}

/// One row: which family (and which of its samples) carries a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSpec {
    pub signal: Signal,
    /// The family name as in `# TYPE <name>`; samples named `<name>`, `<name>_total`, `<name>_bucket`...
    pub family: &'static str,
    pub matcher: Option<Matcher>,
    pub reduce: Reduce,
}

/// Where the version string lives: a label of a family (`lodestar_version{version="v1.5.1/2115aa7"} 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionLabel {
    pub family: &'static str,
    pub label: &'static str,
}

/// Broad kind of process, for callers that group clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Consensus,
    Execution,
    Cosmos,
    Substrate,
    Waku,
    Generic,
}

/// Everything nodeherd knows about reading one client kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientMetrics {
    /// The kind name ("lodestar", "geth", ..., "generic").
    pub kind: &'static str,
    pub layer: Layer,
    pub metrics: &'static [MetricSpec],
    pub version: Option<VersionLabel>,
    /// Serves `/eth/v1/node/health|syncing|version`.
    pub beacon_api: bool,
    /// Signals read from the Ethereum JSON-RPC on the node's `rpc_port` where the page lacks them
    /// (see `super::eth_rpc`); empty for clients without it.
    pub json_rpc: &'static [RpcSpec],
    /// Default port of the Beacon/REST API, when the client has one.
    pub api_port: Option<u16>,
    /// Default metrics port, when the client has a fixed default.
    pub metrics_port: Option<u16>,
}

impl ClientMetrics {
    /// Every family name this client's table reads (metrics and version), without duplicates.
    pub fn families(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::with_capacity(self.metrics.len() + 1);
        let names = self
            .metrics
            .iter()
            .map(|m| m.family)
            .chain(self.version.map(|v| v.family));
        for name in names {
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }

    /// The spec rows for one signal.
    pub fn specs(&self, signal: Signal) -> impl Iterator<Item = &'static MetricSpec> + '_ {
        self.metrics.iter().filter(move |m| m.signal == signal)
    }
}

/// One JSON-RPC method and the signal its answer gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcSpec {
    pub signal: Signal,
    pub method: &'static str,
}
