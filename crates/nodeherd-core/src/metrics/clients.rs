//! Per-client knowledge of what to read from a metrics page, as data.
//!
//! Owns: the static table [`CLIENTS`] (signal -> metric family + optional label matcher), whether the
//! client serves the Beacon node API, and the default ports as the clients document them.
//! May not touch: I/O, parsing (see [`crate::metrics::page`]), the inventory's `ClientKind` (callers map it to the
//! `&str` kind names used here).
//!
//! Sources: the Lodestar rows are checked against real pages of Lodestar 1.5.1 (tests/fixtures/metrics);
//! the other names come from `docs/domain.md` and the clients' own metric definitions and dashboards.
//! Names that are not verified against a real page of that client are marked `unverified` below.

use super::eth_rpc::ETH_JSON_RPC;
pub use super::schema::{
    ClientMetrics, Layer, Matcher, MetricSpec, Reduce, RpcSpec, Signal, VersionLabel,
};

const fn m(signal: Signal, family: &'static str) -> MetricSpec {
    MetricSpec {
        signal,
        family,
        matcher: None,
        reduce: Reduce::Sum,
    }
}

const fn ml(
    signal: Signal,
    family: &'static str,
    label: &'static str,
    value: &'static str,
) -> MetricSpec {
    MetricSpec {
        signal,
        family,
        matcher: Some(Matcher { label, value }),
        reduce: Reduce::Sum,
    }
}

const fn max(signal: Signal, family: &'static str) -> MetricSpec {
    MetricSpec {
        signal,
        family,
        matcher: None,
        reduce: Reduce::Max,
    }
}

use Signal::{
    AttestationsPublished, FinalizedEpoch, FinalizedHeight, HeadBlock, HeadSlot, Height,
    HighestBlock, NextActionWait, NextProposalWait, Peers, SyncStatus, ValidatorHits,
    ValidatorMisses, Validators, WallSlot,
};

// Validator monitor families: same names in Lodestar (verified), Lighthouse and Nimbus (their sources).
const VM_HIT: &str = "validator_monitor_prev_epoch_on_chain_attester_hit_total";
const VM_MISS: &str = "validator_monitor_prev_epoch_on_chain_attester_miss_total";

/// The table. Order does not matter; lookup is by `kind`.
pub static CLIENTS: &[ClientMetrics] = &[
    // Lodestar: one kind for both the beacon node and the validator client (each page carries its own part).
    // Verified on real Lodestar 1.5.1 BN and VC pages.
    ClientMetrics {
        kind: "lodestar",
        layer: Layer::Consensus,
        metrics: &[
            m(HeadSlot, "beacon_head_slot"),
            m(WallSlot, "beacon_clock_slot"),
            m(Peers, "libp2p_peers"),
            m(FinalizedEpoch, "beacon_finalized_epoch"),
            m(SyncStatus, "lodestar_sync_status"),
            m(ValidatorHits, VM_HIT),
            m(ValidatorMisses, VM_MISS),
            m(AttestationsPublished, "vc_published_attestations_total"),
            m(Validators, "vc_indices_count"),
        ],
        version: Some(VersionLabel {
            family: "lodestar_version",
            label: "version",
        }),
        beacon_api: true,
        json_rpc: &[],
        api_port: Some(9596),
        metrics_port: Some(8008),
    },
    // Nimbus (unverified here; names from domain.md and the Nimbus guide).
    ClientMetrics {
        kind: "nimbus",
        layer: Layer::Consensus,
        metrics: &[
            m(HeadSlot, "beacon_head_slot"),
            m(WallSlot, "beacon_slot"),
            m(Peers, "nbc_peers"),
            m(FinalizedEpoch, "beacon_finalized_epoch"),
            m(NextActionWait, "next_action_wait"),
            m(NextProposalWait, "next_proposal_wait"),
            m(ValidatorHits, VM_HIT),
            m(ValidatorMisses, VM_MISS),
        ],
        version: Some(VersionLabel {
            family: "version",
            label: "version",
        }),
        beacon_api: true,
        json_rpc: &[],
        api_port: Some(5052),
        metrics_port: Some(8008),
    },
    // Lighthouse (unverified here; names from lighthouse beacon_chain/src/metrics.rs and domain.md).
    // Its validator-monitor counters are per `validator` label: summed.
    ClientMetrics {
        kind: "lighthouse",
        layer: Layer::Consensus,
        metrics: &[
            m(HeadSlot, "beacon_head_state_slot"),
            m(WallSlot, "slotclock_present_slot"),
            m(Peers, "libp2p_peers"),
            m(FinalizedEpoch, "beacon_head_state_finalized_epoch"),
            m(
                ValidatorHits,
                "validator_monitor_prev_epoch_on_chain_attester_hit",
            ),
            m(
                ValidatorMisses,
                "validator_monitor_prev_epoch_on_chain_attester_miss",
            ),
        ],
        version: None,
        beacon_api: true,
        json_rpc: &[],
        api_port: Some(5052),
        metrics_port: Some(5054),
    },
    // Teku (unverified here; names from domain.md).
    ClientMetrics {
        kind: "teku",
        layer: Layer::Consensus,
        metrics: &[
            m(HeadSlot, "beacon_head_slot"),
            m(WallSlot, "beacon_slot"),
            m(Peers, "beacon_peer_count"),
            m(FinalizedEpoch, "beacon_finalized_epoch"),
        ],
        version: None,
        beacon_api: true,
        json_rpc: &[],
        api_port: Some(5051),
        metrics_port: Some(8008),
    },
    // Prysm (unverified here; names from domain.md).
    ClientMetrics {
        kind: "prysm",
        layer: Layer::Consensus,
        metrics: &[
            m(HeadSlot, "beacon_head_slot"),
            m(WallSlot, "beacon_clock_time_slot"),
            ml(Peers, "p2p_peer_count", "state", "Connected"),
            m(FinalizedEpoch, "beacon_finalized_epoch"),
        ],
        version: None,
        beacon_api: true,
        json_rpc: &[],
        api_port: Some(3500),
        metrics_port: Some(8080),
    },
    // Geth (unverified here; domain.md).
    ClientMetrics {
        kind: "geth",
        layer: Layer::Execution,
        metrics: &[m(HeadBlock, "chain_head_block"), m(Peers, "p2p_peers")],
        version: None,
        beacon_api: false,
        json_rpc: ETH_JSON_RPC,
        api_port: Some(8545),
        metrics_port: Some(6060),
    },
    // Nethermind (unverified here; domain.md). No fixed default metrics port.
    ClientMetrics {
        kind: "nethermind",
        layer: Layer::Execution,
        metrics: &[
            m(HeadBlock, "nethermind_blocks"),
            m(Peers, "nethermind_sync_peers"),
        ],
        version: None,
        beacon_api: false,
        json_rpc: ETH_JSON_RPC,
        api_port: Some(8545),
        metrics_port: None,
    },
    // Besu (unverified here; domain.md). `ethereum_best_known_block_number` is the best block seen.
    ClientMetrics {
        kind: "besu",
        layer: Layer::Execution,
        metrics: &[
            m(HeadBlock, "ethereum_blockchain_height"),
            m(HighestBlock, "ethereum_best_known_block_number"),
            m(Peers, "ethereum_peer_count"),
        ],
        version: None,
        beacon_api: false,
        json_rpc: ETH_JSON_RPC,
        api_port: Some(8545),
        metrics_port: Some(9545),
    },
    // Reth (unverified here; domain.md; head from the `Finish` stage checkpoint as reth's dashboards do).
    ClientMetrics {
        kind: "reth",
        layer: Layer::Execution,
        metrics: &[
            ml(HeadBlock, "reth_sync_checkpoint", "stage", "Finish"),
            m(Peers, "reth_network_connected_peers"),
        ],
        version: None,
        beacon_api: false,
        json_rpc: ETH_JSON_RPC,
        api_port: Some(8545),
        metrics_port: None,
    },
    // EthereumJS (real: tests/fixtures/ethereumjs/*/metrics.txt). Its Prometheus page has only
    // process and tx-pool series: head, peers and version come from JSON-RPC on `rpc_port`
    // (real answers: tests/fixtures/ethereumjs/*/*.json, see `eth_rpc`).
    ClientMetrics {
        kind: "ethereumjs",
        layer: Layer::Execution,
        metrics: &[],
        version: None,
        beacon_api: false,
        json_rpc: ETH_JSON_RPC,
        api_port: Some(8545),
        metrics_port: Some(8000),
    },
    // CometBFT (unverified here; domain.md). Chains built on Tendermint < 0.37 use the `tendermint_` prefix.
    ClientMetrics {
        kind: "cometbft",
        layer: Layer::Cosmos,
        metrics: &[
            max(Height, "cometbft_consensus_height"),
            max(Height, "tendermint_consensus_height"),
            m(Peers, "cometbft_p2p_peers"),
            m(Peers, "tendermint_p2p_peers"),
        ],
        version: None,
        beacon_api: false,
        json_rpc: &[],
        api_port: Some(26657),
        metrics_port: Some(26660),
    },
    // Substrate (unverified here; domain.md).
    ClientMetrics {
        kind: "substrate",
        layer: Layer::Substrate,
        metrics: &[
            ml(Height, "substrate_block_height", "status", "best"),
            ml(
                FinalizedHeight,
                "substrate_block_height",
                "status",
                "finalized",
            ),
            m(Peers, "substrate_sub_libp2p_peers_count"),
        ],
        version: Some(VersionLabel {
            family: "substrate_build_info",
            label: "version",
        }),
        beacon_api: false,
        json_rpc: &[],
        api_port: Some(9944),
        metrics_port: Some(9615),
    },
    // nwaku (unverified here; the nim-libp2p peers gauge).
    ClientMetrics {
        kind: "nwaku",
        layer: Layer::Waku,
        metrics: &[m(Peers, "libp2p_peers")],
        version: None,
        beacon_api: false,
        json_rpc: &[],
        api_port: Some(8645),
        metrics_port: Some(8008),
    },
    // Anything else: nothing client-specific; host metrics and unit state still apply.
    GENERIC,
];

const GENERIC: ClientMetrics = ClientMetrics {
    kind: "generic",
    layer: Layer::Generic,
    metrics: &[],
    version: None,
    beacon_api: false,
    json_rpc: &[],
    api_port: None,
    metrics_port: None,
};

static GENERIC_REF: ClientMetrics = GENERIC;

/// The table row for a client kind name (case-insensitive); unknown names get the `generic` row.
pub fn for_client(name: &str) -> &'static ClientMetrics {
    CLIENTS
        .iter()
        .find(|c| c.kind.eq_ignore_ascii_case(name))
        .unwrap_or(&GENERIC_REF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_unique_and_found() {
        for c in CLIENTS {
            assert_eq!(for_client(c.kind).kind, c.kind);
            assert_eq!(CLIENTS.iter().filter(|o| o.kind == c.kind).count(), 1);
        }
        assert_eq!(for_client("LODESTAR").kind, "lodestar");
        assert_eq!(for_client("no-such-client").kind, "generic");
    }

    #[test]
    fn consensus_clients_have_head_wall_peers_and_beacon_api() {
        for c in CLIENTS.iter().filter(|c| c.layer == Layer::Consensus) {
            for s in [HeadSlot, WallSlot, Peers, FinalizedEpoch] {
                assert!(c.specs(s).next().is_some(), "{} lacks {s:?}", c.kind);
            }
            assert!(c.beacon_api, "{}", c.kind);
        }
        // From the page or, where it lacks them (EthereumJS), from JSON-RPC.
        for c in CLIENTS.iter().filter(|c| c.layer == Layer::Execution) {
            for s in [HeadBlock, Peers] {
                let on_page = c.specs(s).next().is_some();
                let over_rpc = c.json_rpc.iter().any(|r| r.signal == s);
                assert!(on_page || over_rpc, "{} lacks {s:?}", c.kind);
            }
            assert!(!c.beacon_api);
        }
        let ethjs = for_client("ethereumjs");
        assert!(ethjs.metrics.is_empty() && ethjs.json_rpc == ETH_JSON_RPC);
    }

    #[test]
    fn family_names_are_valid_metric_names() {
        for c in CLIENTS {
            for f in c.families() {
                let ok = f.bytes().enumerate().all(|(i, b)| {
                    b.is_ascii_alphabetic() || b == b'_' || (i > 0 && b.is_ascii_digit())
                });
                assert!(ok && !f.is_empty(), "{}: bad family {f:?}", c.kind);
            }
        }
    }

    #[test]
    fn families_are_deduplicated() {
        let sub = for_client("substrate");
        assert_eq!(
            sub.families(),
            vec![
                "substrate_block_height",
                "substrate_sub_libp2p_peers_count",
                "substrate_build_info"
            ]
        );
    }
}
