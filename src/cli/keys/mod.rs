//! `nodeherd keys ...`: validator keys through the Keymanager API, offline `keys generate`, and
//! Substrate session keys (`keys rotate`).
//!
//! Owns: the argument shapes and the dispatch to one file per subcommand (prompts,
//! confirmations and printing live there). The safety order of every step lives in
//! `nodeherd_engine::keys`. Never prints a token, a password, or a mnemonic (except a NEW
//! mnemonic, once, on the terminal).

mod cometbft_failover;
mod common;
mod exit;
pub mod failover;
mod generate;
mod import;
mod list;
mod move_;
mod remote;
mod remove;
mod rotate;
mod settings;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::Output;
use super::context::{self, Fail};
use super::exit as code;
use nodeherd_core::inventory::Inventory;
use nodeherd_engine::keymanager::client::SettingKind;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub cmd: KeysCmd,
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Keys of the selected validator nodes: pubkey, derivation path, readonly, fee recipient,
    /// graffiti; for cosmos nodes the consensus key (public half) and last signed height/round/step.
    /// Exits 1 with a DOUBLE-SIGN RISK line when one key is on two or more listed nodes.
    List { selector: Option<String> },
    /// Set a validator's fee recipient (0x address).
    SetFeeRecipient {
        node: String,
        pubkey: String,
        value: String,
    },
    /// Set a validator's graffiti (at most 32 bytes).
    SetGraffiti {
        node: String,
        pubkey: String,
        value: String,
    },
    /// Set a validator's gas limit.
    SetGasLimit {
        node: String,
        pubkey: String,
        value: String,
    },
    /// Back to the client's default fee recipient.
    ClearFeeRecipient { node: String, pubkey: String },
    /// Back to the client's default graffiti.
    ClearGraffiti { node: String, pubkey: String },
    /// Back to the client's default gas limit.
    ClearGasLimit { node: String, pubkey: String },
    /// Import EIP-2335 keystores into a node (after checking no other node has them active);
    /// with --remote URL, the arguments are pubkeys signed by the remote signer at URL.
    Import {
        node: String,
        /// Keystore files (or, with --remote, pubkeys).
        #[arg(required = true, value_name = "KEYSTORE|PUBKEY")]
        keystores: Vec<PathBuf>,
        /// The keys live on a remote signer (Web3Signer) at this URL: `POST /eth/v1/remotekeys`.
        #[arg(long, value_name = "URL", conflicts_with_all = ["password_file", "slashing_protection"])]
        remote: Option<String>,
        /// The keystores' password (one for all); asked on a terminal otherwise.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// EIP-3076 slashing protection interchange to import with the keys.
        #[arg(long)]
        slashing_protection: Option<PathBuf>,
        /// Import even when a key is active on another node (it WILL be slashed if both sign).
        #[arg(long)]
        i_understand_double_signing_risk: bool,
    },
    /// Remove keys from a node; their slashing protection is saved first (console and host).
    Remove {
        node: String,
        #[arg(required = true)]
        pubkeys: Vec<String>,
        /// Remove remote-signer keys (`DELETE /eth/v1/remotekeys`; the signer keeps its own
        /// slashing protection).
        #[arg(long)]
        remote: bool,
    },
    /// Move a key: remove from A (slashing data saved), verify, wait until the chain shows it
    /// quiet for N full epochs, import into B with that data. Rerun the same command to continue
    /// a move that was interrupted.
    Move {
        pubkey: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// The key's EIP-2335 keystore (the Keymanager API cannot export keys).
        #[arg(long)]
        keystore: PathBuf,
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[arg(long)]
        i_understand_double_signing_risk: bool,
        /// Full epochs the key must be seen not live on chain after its removal before the
        /// import (0: no wait).
        #[arg(long, default_value_t = 2, value_name = "N")]
        quiet_epochs: u64,
        /// How the chain shows the key was not live: the liveness endpoint, else the
        /// validator's attestation inclusion in the blocks (auto); or only one of them.
        #[arg(long, default_value = "auto", value_parser = ["auto", "liveness", "inclusion"])]
        quiet_proof: String,
    },
    /// Substrate nodes (client = "substrate"): new session keys via `author_rotateKeys` on the
    /// node's localhost RPC; prints them and the `session.setKeys(keys, 0x)` extrinsic to submit
    /// (nodeherd signs nothing on chain).
    Rotate { node: String },
    /// Generate keystores and deposit data from a mnemonic (offline).
    Generate(GenerateArgs),
    /// Sign a voluntary exit (through the node's API, or locally with --keystore) and save it;
    /// submit only with --submit.
    Exit {
        node: String,
        pubkey: String,
        /// Exit epoch (default: the current epoch of the host's beacon node, or the client's choice).
        #[arg(long)]
        epoch: Option<u64>,
        /// Sign locally with this EIP-2335 keystore of PUBKEY (for clients without the
        /// keymanager's voluntary_exit endpoint); chain facts come from the host's beacon node.
        #[arg(long)]
        keystore: Option<PathBuf>,
        /// The keystore's password; asked on a terminal otherwise.
        #[arg(long, requires = "keystore")]
        password_file: Option<PathBuf>,
        /// Also submit it to the host's beacon node (asks first). An exit cannot be undone.
        #[arg(long)]
        submit: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["mnemonic_file", "new"])))]
pub struct GenerateArgs {
    /// Read the mnemonic from this file.
    #[arg(long)]
    pub mnemonic_file: Option<PathBuf>,
    /// Make a new 24-word mnemonic (shown once on the terminal, never written).
    #[arg(long)]
    pub new: bool,
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    #[arg(long, default_value_t = 0)]
    pub start_index: u32,
    /// mainnet, sepolia, holesky, hoodi.
    #[arg(long)]
    pub network: String,
    #[arg(long)]
    pub withdrawal_address: String,
    /// 0x02 (compounding) withdrawal credentials.
    #[arg(long)]
    pub compounding: bool,
    #[arg(long)]
    pub out: PathBuf,
    /// Keystore password; asked twice on a terminal otherwise.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

pub async fn run(
    args: KeysArgs,
    inventory: &Path,
    limit: Option<&str>,
    forks: usize,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    if let KeysCmd::Generate(g) = args.cmd {
        return generate::generate(g, out);
    }
    let inv = context::load_inventory(inventory, out.color)?;
    let pool = context::pool();
    let r = run_fleet(args.cmd, &inv, &pool, limit, forks, yes, out).await;
    pool.close_all().await;
    r
}

async fn run_fleet(
    cmd: KeysCmd,
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    limit: Option<&str>,
    forks: usize,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    if let Some((node, pubkey, kind, value)) = setting_cmd(&cmd) {
        return settings::setting(inv, pool, node, pubkey, kind, value).await;
    }
    match cmd {
        KeysCmd::List { selector } => {
            list::list(inv, pool, selector.as_deref(), limit, forks, out).await
        }
        KeysCmd::Rotate { node } => rotate::rotate(inv, pool, &node, out).await,
        cmd @ KeysCmd::Import { .. } => import_cmd(cmd, inv, pool, yes, out).await,
        KeysCmd::Remove {
            node,
            pubkeys,
            remote: true,
        } => remote::remove(inv, pool, &node, &pubkeys, yes, out).await,
        KeysCmd::Remove {
            node,
            pubkeys,
            remote: false,
        } => remove::remove(inv, pool, &node, &pubkeys, yes, out).await,
        KeysCmd::Move {
            pubkey,
            from,
            to,
            keystore,
            password_file,
            i_understand_double_signing_risk,
            quiet_epochs,
            quiet_proof,
        } => {
            move_::move_key(
                inv,
                pool,
                move_::MoveArgs {
                    pubkey: &pubkey,
                    from: &from,
                    to: &to,
                    keystore: &keystore,
                    password_file: password_file.as_deref(),
                    risk: i_understand_double_signing_risk,
                    quiet_epochs,
                    quiet_proof: quiet_proof.parse().map_err(common::usage)?,
                },
                yes,
                out,
            )
            .await
        }
        KeysCmd::Exit {
            node,
            pubkey,
            epoch,
            keystore,
            password_file,
            submit,
        } => match keystore {
            Some(ks) => {
                exit::local_exit(
                    inv,
                    pool,
                    &node,
                    &pubkey,
                    &ks,
                    password_file.as_deref(),
                    epoch,
                    submit,
                    yes,
                    out,
                )
                .await
            }
            None => exit::voluntary_exit(inv, pool, &node, &pubkey, epoch, submit, yes, out).await,
        },
        _ => Ok(code::OK),
    }
}

/// A set-/clear- subcommand as (node, pubkey, setting, value to set or `None` to clear).
type SettingCmd<'a> = (&'a str, &'a str, SettingKind, Option<&'a str>);

/// A set-/clear- subcommand as a [`SettingCmd`]; `None` for any other subcommand.
fn setting_cmd(cmd: &KeysCmd) -> Option<SettingCmd<'_>> {
    use SettingKind::{FeeRecipient, GasLimit, Graffiti};
    Some(match cmd {
        KeysCmd::SetFeeRecipient {
            node,
            pubkey,
            value,
        } => (node, pubkey, FeeRecipient, Some(value)),
        KeysCmd::SetGraffiti {
            node,
            pubkey,
            value,
        } => (node, pubkey, Graffiti, Some(value)),
        KeysCmd::SetGasLimit {
            node,
            pubkey,
            value,
        } => (node, pubkey, GasLimit, Some(value)),
        KeysCmd::ClearFeeRecipient { node, pubkey } => (node, pubkey, FeeRecipient, None),
        KeysCmd::ClearGraffiti { node, pubkey } => (node, pubkey, Graffiti, None),
        KeysCmd::ClearGasLimit { node, pubkey } => (node, pubkey, GasLimit, None),
        _ => return None,
    })
}

/// `keys import`: keystores, or remote-signer pubkeys with `--remote`.
async fn import_cmd(
    cmd: KeysCmd,
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    match cmd {
        KeysCmd::Import {
            node,
            keystores,
            remote: Some(url),
            i_understand_double_signing_risk,
            ..
        } => {
            let pubkeys: Vec<String> = keystores
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            remote::import(
                inv,
                pool,
                &node,
                &url,
                &pubkeys,
                i_understand_double_signing_risk,
                yes,
                out,
            )
            .await
        }
        KeysCmd::Import {
            node,
            keystores,
            password_file,
            slashing_protection,
            i_understand_double_signing_risk,
            remote: None,
        } => {
            import::import(
                inv,
                pool,
                &node,
                &keystores,
                password_file.as_deref(),
                slashing_protection.as_deref(),
                i_understand_double_signing_risk,
                yes,
                out,
            )
            .await
        }
        // only called with an Import
        _ => Err(Fail(crate::cli::exit::USAGE)),
    }
}
