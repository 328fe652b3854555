//! `nodeherd keys ...`: validator keys through the Keymanager API, and offline `keys generate`.
//!
//! Owns: the argument shapes, password and confirmation prompts, and what is printed. The
//! safety order of every step lives in `ops::keys`. Never prints a token, a password, or a
//! mnemonic (except a NEW mnemonic, once, on the terminal).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::context::{self, Fail};
use super::{Output, exit, table};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::types::{DeleteStatus, ImportStatus, normalize_pubkey};
use nodeherd_core::keys::Secret;
use nodeherd_core::keys::keystore::Keystore;
use nodeherd_engine::keymanager::Keymanager;
use nodeherd_engine::keymanager::client::{Setting, SettingKind};
use nodeherd_engine::keys as ops;

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

fn usage(msg: impl std::fmt::Display) -> Fail {
    eprintln!("error: {msg}");
    Fail(exit::USAGE)
}

fn failed(msg: impl std::fmt::Display) -> Fail {
    eprintln!("error: {msg}");
    Fail(exit::FAILED)
}

fn tty() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Ask before a disruptive action: always on a terminal unless `--yes`; `--yes` required otherwise.
fn confirm(what: &str, yes: bool) -> Result<(), Fail> {
    if yes {
        return Ok(());
    }
    if !tty() {
        return Err(usage(format!(
            "{what}: add --yes to confirm (no terminal to ask)"
        )));
    }
    let mut err = std::io::stderr();
    let _ = write!(err, "{what}\nProceed? [y/N] ");
    let _ = err.flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err()
        || !matches!(line.trim(), "y" | "Y" | "yes" | "YES")
    {
        eprintln!("declined; nothing done");
        return Err(Fail(exit::FAILED));
    }
    Ok(())
}

/// A password from a file (trailing newline removed) or the terminal.
fn password(file: Option<&Path>, prompt: &str, twice: bool) -> Result<Secret<String>, Fail> {
    if let Some(f) = file {
        return nodeherd_engine::keys::files::read_password_file(f).map_err(usage);
    }
    if !tty() {
        return Err(usage(
            "no terminal to ask for the password: give --password-file",
        ));
    }
    let a = Secret::new(rpassword::prompt_password(prompt).map_err(failed)?);
    if twice {
        let b = Secret::new(rpassword::prompt_password("Repeat: ").map_err(failed)?);
        if a.expose() != b.expose() {
            return Err(usage("the passwords differ"));
        }
    }
    Ok(a)
}

fn pubkey_arg(s: &str) -> Result<String, Fail> {
    normalize_pubkey(s)
        .ok_or_else(|| usage(format!("{s:?} is not a public key (0x + 96 hex digits)")))
}

fn find(inv: &Inventory, spec: &str) -> Result<NodeRef, Fail> {
    let r = inv.find_node(spec).map_err(usage)?;
    let (_, n) = inv.node(r);
    if n.keymanager_port.is_none() || n.keymanager_token_file.is_none() {
        return Err(usage(format!(
            "{spec} has no keymanager_port and keymanager_token_file in the inventory"
        )));
    }
    Ok(r)
}

async fn connect(
    pool: &nodeherd_transport::ssh::Pool,
    inv: &Inventory,
    r: NodeRef,
) -> Result<Keymanager, Fail> {
    Keymanager::connect(pool, inv, r).await.map_err(failed)
}

fn state_dir() -> Result<PathBuf, Fail> {
    ops::console_state_dir()
        .ok_or_else(|| failed("no state directory (set HOME or XDG_STATE_HOME)"))
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
        return generate(g, out);
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
    match cmd {
        KeysCmd::List { selector } => list(inv, pool, selector.as_deref(), limit, forks, out).await,
        KeysCmd::SetFeeRecipient {
            node,
            pubkey,
            value,
        } => {
            setting(
                inv,
                pool,
                &node,
                &pubkey,
                SettingKind::FeeRecipient,
                Some(&value),
            )
            .await
        }
        KeysCmd::SetGraffiti {
            node,
            pubkey,
            value,
        } => {
            setting(
                inv,
                pool,
                &node,
                &pubkey,
                SettingKind::Graffiti,
                Some(&value),
            )
            .await
        }
        KeysCmd::SetGasLimit {
            node,
            pubkey,
            value,
        } => {
            setting(
                inv,
                pool,
                &node,
                &pubkey,
                SettingKind::GasLimit,
                Some(&value),
            )
            .await
        }
        KeysCmd::ClearFeeRecipient { node, pubkey } => {
            setting(inv, pool, &node, &pubkey, SettingKind::FeeRecipient, None).await
        }
        KeysCmd::ClearGraffiti { node, pubkey } => {
            setting(inv, pool, &node, &pubkey, SettingKind::Graffiti, None).await
        }
        KeysCmd::ClearGasLimit { node, pubkey } => {
            setting(inv, pool, &node, &pubkey, SettingKind::GasLimit, None).await
        }
        KeysCmd::Import {
            node,
            keystores,
            password_file,
            slashing_protection,
            i_understand_double_signing_risk,
        } => {
            import(
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
        KeysCmd::Remove { node, pubkeys } => remove(inv, pool, &node, &pubkeys, yes, out).await,
        KeysCmd::Move {
            pubkey,
            from,
            to,
            keystore,
            password_file,
            i_understand_double_signing_risk,
        } => {
            move_key(
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
                local_exit(
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
            None => voluntary_exit(inv, pool, &node, &pubkey, epoch, submit, yes, out).await,
        },
        KeysCmd::Generate(_) => Ok(exit::OK),
    }
}

async fn list(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    selector: Option<&str>,
    limit: Option<&str>,
    forks: usize,
    out: Output,
) -> Result<i32, Fail> {
    use nodeherd_engine::keys::consensus as cosmos;
    let selected = context::select(inv, selector, limit)?;
    let (nodes, cosmos_nodes) = ops::fleet_nodes(inv, &selected);
    if nodes.is_empty() && cosmos_nodes.is_empty() {
        return Err(usage(
            "no selected node has a keymanager API or is a cosmos node in the inventory",
        ));
    }
    let fleet = ops::list_fleet(pool, inv, &selected, forks, true).await;
    let (results, cosmos_results) = (fleet.validators, fleet.consensus);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (r, res) in results {
        match res {
            Ok(k) => rows.extend(k),
            Err(e) => errors.push((ops::label(inv, r), e.to_string())),
        }
    }
    let mut consensus = Vec::new();
    for (r, res) in cosmos_results {
        match res {
            Ok(c) => consensus.push(c),
            // The error names the node itself.
            Err(e) => errors.push((ops::label(inv, r), e.to_string())),
        }
    }
    let mut risks = ops::double_sign_risks(
        ops::KeyChain::Ethereum,
        rows.iter()
            .map(|k| (k.node.as_str(), k.pubkey.as_str(), None)),
    );
    risks.extend(ops::double_sign_risks(
        ops::KeyChain::Cosmos,
        consensus.iter().map(|c| {
            (
                c.node.as_str(),
                c.key.pubkey.as_str(),
                Some(c.key.address.as_str()),
            )
        }),
    ));
    if out.json {
        let j = serde_json::json!({
            "keys": rows,
            "consensus_keys": consensus,
            "double_sign_risks": risks,
            "errors": errors.iter().map(|(n, e)| serde_json::json!({"node": n, "error": e})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
        if !nodes.is_empty() {
            let body: Vec<Vec<String>> = rows
                .iter()
                .map(|k| {
                    vec![
                        k.node.clone(),
                        k.pubkey.clone(),
                        if k.remote {
                            "remote".into()
                        } else {
                            dash(&k.derivation_path)
                        },
                        k.readonly
                            .map(|b| b.to_string())
                            .unwrap_or_else(|| "-".into()),
                        dash(&k.fee_recipient),
                        dash(&k.graffiti),
                    ]
                })
                .collect();
            print!(
                "{}",
                table::render(
                    &[
                        "NODE",
                        "PUBKEY",
                        "PATH",
                        "READONLY",
                        "FEE RECIPIENT",
                        "GRAFFITI"
                    ],
                    &body
                )
            );
        }
        if !cosmos_nodes.is_empty() {
            if !nodes.is_empty() {
                println!();
            }
            let num = |f: fn(&cosmos::SignState) -> String, c: &cosmos::ConsensusRow| {
                c.state.as_ref().map(f).unwrap_or_else(|| "-".into())
            };
            let body: Vec<Vec<String>> = consensus
                .iter()
                .map(|c| {
                    vec![
                        c.node.clone(),
                        c.key.address.clone(),
                        c.key.pubkey.clone(),
                        c.key
                            .key_type
                            .rsplit('/')
                            .next()
                            .unwrap_or(&c.key.key_type)
                            .to_string(),
                        num(|s| s.height.to_string(), c),
                        num(|s| s.round.to_string(), c),
                        num(|s| s.step.to_string(), c),
                    ]
                })
                .collect();
            print!(
                "{}",
                table::render(
                    &[
                        "NODE",
                        "CONSENSUS ADDRESS",
                        "PUBKEY (BASE64)",
                        "TYPE",
                        "HEIGHT",
                        "ROUND",
                        "STEP"
                    ],
                    &body
                )
            );
        }
        for (n, e) in &errors {
            // keymanager errors already start with the node's name
            if e.starts_with(&format!("{n}: ")) {
                eprintln!("{e}");
            } else {
                eprintln!("{n}: {e}");
            }
        }
    }
    for c in &consensus {
        if let Some(e) = &c.state_error {
            eprintln!("warning: {}: no double-sign protection state: {e}", c.node);
        }
    }
    for r in &risks {
        eprintln!("DOUBLE-SIGN RISK: {r}");
    }
    if !risks.is_empty() {
        eprintln!(
            "if more than one of these nodes signs, the validator is slashed (Ethereum) or tombstoned (Cosmos): \
             stop all but one now, and keep the key on one node only"
        );
    }
    Ok(if errors.is_empty() && risks.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}

async fn setting(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    pubkey: &str,
    kind: SettingKind,
    value: Option<&str>,
) -> Result<i32, Fail> {
    let r = find(inv, node)?;
    let pk = pubkey_arg(pubkey)?;
    let set = value
        .map(|v| Setting::parse(kind, v).map_err(usage))
        .transpose()?;
    let km = connect(pool, inv, r).await?;
    match set {
        Some(s) => km.set(&pk, s).await.map_err(failed)?,
        None => km.clear(&pk, kind).await.map_err(failed)?,
    }
    println!(
        "{}: {} {} for {pk}",
        km.node,
        if value.is_some() { "set" } else { "cleared" },
        kind.path()
    );
    Ok(exit::OK)
}

fn guard_report(problems: &[ops::GuardProblem], override_flag: bool) -> Result<(), Fail> {
    if problems.is_empty() {
        return Ok(());
    }
    for p in problems {
        eprintln!("DOUBLE-SIGN GUARD: {p}");
    }
    if override_flag {
        eprintln!(
            "WARNING: continuing because of --i-understand-double-signing-risk: if two nodes sign with one key, the validator is SLASHED"
        );
        Ok(())
    } else {
        eprintln!(
            "refused: importing a key that is (or may be) active elsewhere risks a slashable double sign. \
             Remove it there first (`nodeherd keys remove` / `keys move`); override only with --i-understand-double-signing-risk"
        );
        Err(Fail(exit::FAILED))
    }
}

#[allow(clippy::too_many_arguments)]
async fn import(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    files: &[PathBuf],
    password_file: Option<&Path>,
    slashing: Option<&Path>,
    risk: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let r = find(inv, node)?;
    // the password is asked (or read) after the guard, never before
    let material = ops::read_import_files(files, None, slashing).map_err(usage)?;
    let pubkeys = material.pubkeys();
    let label = ops::label(inv, r);
    let problems = ops::double_sign_guard(inv, pool, &pubkeys, &[r]).await;
    guard_report(&problems, risk)?;
    let pw = password(password_file, "Keystore password: ", false)?;
    confirm(
        &format!(
            "About to import {} key(s) into {label}: {}",
            pubkeys.len(),
            pubkeys.join(", ")
        ),
        yes,
    )?;
    let results = ops::import_into(
        pool,
        inv,
        r,
        &material.keystores,
        &pw,
        material.slashing.as_deref(),
    )
    .await
    .map_err(failed)?;
    let mut ok = true;
    let mut rows = Vec::new();
    for (pk, res) in pubkeys.iter().zip(&results) {
        ok &= res.status != ImportStatus::Error;
        rows.push(serde_json::json!({"node": label, "pubkey": pk, "status": res.status, "message": res.message}));
        if !out.json {
            println!(
                "{label}  {pk}  {:?}{}",
                res.status,
                res.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            );
        }
    }
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    }
    Ok(if ok { exit::OK } else { exit::FAILED })
}

async fn remove(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    pubkeys: &[String],
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let r = find(inv, node)?;
    let pks: Vec<String> = pubkeys
        .iter()
        .map(|p| pubkey_arg(p))
        .collect::<Result<_, _>>()?;
    let state = state_dir()?;
    let label = ops::label(inv, r);
    confirm(
        &format!(
            "About to REMOVE {} key(s) from {label}: {} (slashing data is saved first)",
            pks.len(),
            pks.join(", ")
        ),
        yes,
    )?;
    let o = ops::remove_from_node(pool, inv, r, &pks, &state)
        .await
        .map_err(failed)?;
    report_remove(&o, &inv.node(r).0.name, out);
    let ok = o.saved()
        && o.slashing_check.is_ok()
        && o.results.iter().all(|(_, s, _)| *s != DeleteStatus::Error);
    Ok(if ok { exit::OK } else { exit::FAILED })
}

fn report_remove(o: &ops::RemoveOutcome, host: &str, out: Output) {
    if !o.saved() {
        // Loud, and the data itself on stdout: it must not be lost.
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!! SLASHING PROTECTION DATA WAS NOT SAVED EVERYWHERE");
        if let Err(e) = &o.console_file {
            eprintln!("!! console copy: {e}");
        }
        if let Err(e) = &o.host_file {
            eprintln!("!! host copy: {e}");
        }
        eprintln!(
            "!! The EIP-3076 data follows on stdout: keep it before importing the key anywhere."
        );
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        println!("{}", o.slashing_protection);
    }
    if let Err(e) = &o.slashing_check {
        eprintln!("WARNING: the slashing data returned by {}: {e}", o.node);
    }
    if out.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({
            "node": o.node,
            "results": o.results.iter().map(|(p, s, m)| serde_json::json!({"pubkey": p, "status": s, "message": m})).collect::<Vec<_>>(),
            "slashing_file": o.console_file.as_ref().ok(),
            "host_slashing_file": o.host_file.as_ref().ok(),
        })).unwrap_or_default());
        return;
    }
    for (p, s, m) in &o.results {
        println!(
            "{}  {p}  {s:?}{}",
            o.node,
            m.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
        );
    }
    if let Ok(p) = &o.console_file {
        println!("slashing protection saved: {}", p.display());
    }
    if let Ok(p) = &o.host_file {
        println!("slashing protection saved on {host}: {p}");
    }
}

#[allow(clippy::too_many_arguments)]
async fn move_key(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    pubkey: &str,
    from: &str,
    to: &str,
    keystore: &Path,
    password_file: Option<&Path>,
    risk: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let pk = pubkey_arg(pubkey)?;
    let a = find(inv, from)?;
    let b = find(inv, to)?;
    if a == b {
        return Err(usage("--from and --to are the same node"));
    }
    let state = state_dir()?;
    let ks = nodeherd_engine::keys::files::read_keystores(&[keystore.to_path_buf()])
        .map_err(usage)?
        .remove(0);
    let pw = password(password_file, "Keystore password: ", false)?;
    // Prove the keystore and password give this very key BEFORE anything is removed.
    nodeherd_engine::keys::files::check_opens_to(&ks, &pw, &pk).map_err(usage)?;
    let text = ks.text;
    confirm(
        &format!(
            "About to MOVE {pk} from {} to {} (remove, save slashing data, verify, import)",
            ops::label(inv, a),
            ops::label(inv, b)
        ),
        yes,
    )?;
    let report = ops::move_key(inv, pool, &pk, a, b, &text, &pw, &state, risk).await;
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for s in &report.steps {
            println!("  - {s}");
        }
        println!("{}", report.state);
    }
    if !report.ok {
        eprintln!("move NOT completed: {}", report.state);
    }
    Ok(if report.ok { exit::OK } else { exit::FAILED })
}

#[allow(clippy::too_many_arguments)]
async fn voluntary_exit(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    pubkey: &str,
    epoch: Option<u64>,
    submit: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let r = find(inv, node)?;
    let pk = pubkey_arg(pubkey)?;
    let state = state_dir()?;
    let km = connect(pool, inv, r).await?;
    let (exit_msg, json) = match km.sign_voluntary_exit(&pk, epoch).await {
        Ok(x) => x,
        Err(e @ nodeherd_engine::keymanager::KeymanagerError::Api { status: 404, .. }) => {
            return Err(failed(format!(
                "{e}\nthis client has no keymanager voluntary_exit endpoint: sign locally with \
                 --keystore FILE (the validator's EIP-2335 keystore; chain facts come from the host's beacon node)"
            )));
        }
        Err(e) => return Err(failed(e)),
    };
    let path = ops::save_exit(&state, &km.node, &pk, &json).map_err(failed)?;
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"signed_exit": exit_msg, "file": path, "signed_by": "keymanager"})
            )
            .unwrap_or_default()
        );
    } else {
        println!(
            "signed voluntary exit of validator {} at epoch {} saved: {}",
            exit_msg.message.validator_index,
            exit_msg.message.epoch,
            path.display()
        );
    }
    submit_saved_exit(
        inv,
        pool,
        r,
        &pk,
        &exit_msg.message.validator_index,
        &json,
        &path,
        submit,
        yes,
        out,
    )
    .await
}

/// Sign the exit locally with the validator's keystore: the keystore must hold PUBKEY (checked
/// before the password is asked, and again after decryption); the chain facts and the validator
/// index come from the host's beacon node; the exit is verified before it is saved.
#[allow(clippy::too_many_arguments)]
async fn local_exit(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    node: &str,
    pubkey: &str,
    keystore: &Path,
    password_file: Option<&Path>,
    epoch: Option<u64>,
    submit: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let r = inv.find_node(node).map_err(usage)?;
    let pk = pubkey_arg(pubkey)?;
    let state = state_dir()?;
    let text = std::fs::read_to_string(keystore)
        .map_err(|e| usage(format!("cannot read {}: {e}", keystore.display())))?;
    let ks =
        Keystore::from_json(&text).map_err(|e| usage(format!("{}: {e}", keystore.display())))?;
    let hex_of = |p: &nodeherd_core::keys::bls::PublicKey| format!("0x{}", p.to_hex());
    // The declared pubkey first: a wrong file is refused before the password is even asked.
    if let Some(declared) = ks
        .public_key()
        .map_err(|e| usage(format!("{}: {e}", keystore.display())))?
    {
        if hex_of(&declared) != pk {
            return Err(usage(format!(
                "{} holds {}, not {pk}: nothing signed",
                keystore.display(),
                hex_of(&declared)
            )));
        }
    }
    let pw = password(password_file, "Keystore password: ", false)?;
    let sk = ks
        .decrypt_secret_key(pw.expose())
        .map_err(|e| usage(format!("{}: {e}", keystore.display())))?;
    drop(pw);
    if hex_of(&sk.public_key()) != pk {
        return Err(usage(format!(
            "{} holds {}, not {pk}: nothing signed",
            keystore.display(),
            hex_of(&sk.public_key())
        )));
    }
    let signed = ops::sign_exit_locally(inv, pool, r, &sk, epoch).await;
    drop(sk);
    let le = signed.map_err(|e| failed(format!("{e}; nothing signed or saved")))?;
    let json = le.signed.to_json();
    let label = ops::label(inv, r);
    let path = ops::save_exit(&state, &label, &pk, &json).map_err(failed)?;
    let index = le.signed.message.validator_index.to_string();
    let hex4 = |b: &[u8]| format!("0x{}", nodeherd_core::keys::hex_encode(b));
    if out.json {
        let signed_exit: serde_json::Value =
            serde_json::from_str(&json).unwrap_or(serde_json::Value::Null);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "signed_exit": signed_exit,
                "file": path,
                "signed_by": "keystore",
                "beacon_node": le.beacon,
                "validator_status": le.validator.status,
                "fork_version": hex4(&le.fork_version),
                "genesis_validators_root": hex4(&le.chain.genesis_validators_root),
                "domain": hex4(&le.domain),
            }))
            .unwrap_or_default()
        );
    } else {
        println!(
            "signed voluntary exit of validator {index} at epoch {} (fork version {}, facts from {}) saved: {}",
            le.signed.message.epoch,
            hex4(&le.fork_version),
            le.beacon,
            path.display()
        );
    }
    submit_saved_exit(inv, pool, r, &pk, &index, &json, &path, submit, yes, out).await
}

/// After the exit is saved: stop there without `--submit`; otherwise confirm and POST it to the
/// host's beacon node. A refusal says the signed exit stays saved.
#[allow(clippy::too_many_arguments)]
async fn submit_saved_exit(
    inv: &Inventory,
    pool: &nodeherd_transport::ssh::Pool,
    r: NodeRef,
    pk: &str,
    index: &str,
    json: &str,
    path: &Path,
    submit: bool,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    if !submit {
        if !out.json {
            println!("not submitted (add --submit to publish it; an exit cannot be undone)");
        }
        return Ok(exit::OK);
    }
    confirm(
        &format!(
            "About to SUBMIT the voluntary exit of {pk} (validator {index}): this is IRREVERSIBLE"
        ),
        yes,
    )?;
    match ops::submit_exit(inv, pool, r, json).await {
        Ok(bn) => {
            if !out.json {
                println!("submitted to {bn}");
            }
            Ok(exit::OK)
        }
        Err(e) => Err(failed(format!(
            "{e}\nNOT submitted; the signed exit stays saved in {} and may be submitted later \
             (POST it to /eth/v1/beacon/pool/voluntary_exits)",
            path.display()
        ))),
    }
}

fn generate(g: GenerateArgs, out: Output) -> Result<i32, Fail> {
    use nodeherd_core::keys::generate::{GenerateRequest, generate};
    use nodeherd_core::keys::mnemonic::Mnemonic;
    let network = g.network.parse().map_err(usage)?;
    let address = g.withdrawal_address.parse().map_err(usage)?;
    let (mnemonic, is_new) = match &g.mnemonic_file {
        Some(f) => {
            let text = Secret::new(
                std::fs::read_to_string(f)
                    .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?,
            );
            (Mnemonic::parse(text.expose().trim()).map_err(usage)?, false)
        }
        None => {
            if !std::io::stderr().is_terminal() {
                return Err(usage(
                    "--new shows the mnemonic once on the terminal: run it on a terminal (or use --mnemonic-file)",
                ));
            }
            (Mnemonic::generate().map_err(failed)?, true)
        }
    };
    let pw = password(g.password_file.as_deref(), "New keystore password: ", true)?;
    let mut req = GenerateRequest::new(mnemonic, network, address, pw, g.out.clone());
    req.count = g.count;
    req.start_index = g.start_index;
    req.compounding = g.compounding;
    let res = generate(&req).map_err(failed)?;
    if is_new {
        let phrase = req.mnemonic.phrase();
        eprintln!("\nYOUR NEW MNEMONIC (shown once, never written; write it down on paper NOW):\n");
        eprintln!("{}\n", phrase.expose());
    }
    if out.json {
        let keys: Vec<_> = res
            .keys
            .iter()
            .map(|k| serde_json::json!({"index": k.index, "pubkey": format!("0x{}", k.pubkey.to_hex().trim_start_matches("0x")), "keystore": k.keystore_file}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"keys": keys, "deposit_data": res.deposit_data_file})
            )
            .unwrap_or_default()
        );
    } else {
        for k in &res.keys {
            println!(
                "{}  0x{}  {}",
                k.index,
                k.pubkey.to_hex().trim_start_matches("0x"),
                k.keystore_file.display()
            );
        }
        println!("deposit data: {}", res.deposit_data_file.display());
    }
    Ok(exit::OK)
}
