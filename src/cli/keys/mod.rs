//! `nodeherd keys ...`: validator keys through the Keymanager API, and offline `keys generate`.
//!
//! Owns: the argument shapes and the dispatch to one file per subcommand (prompts,
//! confirmations and printing live there). The safety order of every step lives in
//! `nodeherd_engine::keys`. Never prints a token, a password, or a mnemonic (except a NEW
//! mnemonic, once, on the terminal).

mod common;
mod exit;
mod generate;
mod import;
mod list;
mod move_;
mod remove;
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
    /// Import EIP-2335 keystores into a node (after checking no other node has them active).
    Import {
        node: String,
        #[arg(required = true)]
        keystores: Vec<PathBuf>,
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
    },
    /// Move a key: remove from A (slashing data saved), verify, import into B with that data.
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
    },
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
        KeysCmd::Import {
            node,
            keystores,
            password_file,
            slashing_protection,
            i_understand_double_signing_risk,
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
        KeysCmd::Remove { node, pubkeys } => {
            remove::remove(inv, pool, &node, &pubkeys, yes, out).await
        }
        KeysCmd::Move {
            pubkey,
            from,
            to,
            keystore,
            password_file,
            i_understand_double_signing_risk,
        } => {
            move_::move_key(
                inv,
                pool,
                &pubkey,
                &from,
                &to,
                &keystore,
                password_file.as_deref(),
                i_understand_double_signing_risk,
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
