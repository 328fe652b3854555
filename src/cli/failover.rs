//! `nodeherd failover SOURCE --to TARGET`: a validator client's keys (or a CometBFT validator's
//! consensus key, for `client = "cosmos"` nodes) moved to another node with the source fenced
//! first.
//!
//! Owns: the command's argument shape. May not touch: the steps (that is
//! `nodeherd_engine::keys::failover`) and the run itself, the keystore checks, the confirmation
//! and the printing (`cli::keys::failover::run` and `cli::keys::cometbft_failover`, beside the other key commands).

use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct FailoverArgs {
    /// The validator client to fence (`host/node`).
    pub source: String,
    /// The validator client that takes the keys over.
    #[arg(long)]
    pub to: String,
    /// The EIP-2335 keystores of the keys to fail over (the Keymanager API cannot export keys);
    /// required for validator clients, refused for cosmos nodes.
    #[arg(long = "keystore", num_args = 1..)]
    pub keystores: Vec<PathBuf>,
    /// One password for every keystore; asked on a terminal otherwise.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// The source host cannot be reached and YOU powered it off (or made sure it can never sign
    /// again): go on without touching it. Never given by default: an unreachable host may still sign.
    #[arg(long)]
    pub source_is_fenced: bool,
    /// EIP-3076 data to import when the source gives none (it cannot be reached).
    #[arg(long)]
    pub slashing_protection: Option<PathBuf>,
    /// Full epochs the keys must be seen not live on chain after the fencing (0: no wait).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub quiet_epochs: u64,
    /// How the chain shows the keys were not live: the liveness endpoint, else attestation
    /// inclusion in the blocks (auto); or only one of them.
    #[arg(long, default_value = "auto", value_parser = ["auto", "liveness", "inclusion"])]
    pub quiet_proof: String,
    #[arg(long)]
    pub i_understand_double_signing_risk: bool,
    /// Cosmos: a copy of SOURCE's `config/priv_validator_key.json`, needed with
    /// --source-is-fenced (the key of an unreachable source cannot be read). Read into memory only.
    #[arg(long, value_name = "FILE")]
    pub priv_validator_key: Option<PathBuf>,
    /// Cosmos: a copy of SOURCE's `data/priv_validator_state.json` when it cannot be reached.
    #[arg(long, value_name = "FILE")]
    pub priv_validator_state: Option<PathBuf>,
    /// Cosmos: blocks the chain must commit after the fence without the validator's signature.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub quiet_blocks: u64,
    /// Cosmos: blocks within which TARGET must sign once started with the key.
    #[arg(long, default_value_t = 10, value_name = "M")]
    pub sign_blocks: u64,
}
