//! The steps of a CometBFT failover ([`super::cometbft_failover`] runs them in order): the
//! checks before anything changes (target synced and not a validator, same chain, the validator
//! in the set, the double-sign guard), the fence of the source, the quiet proof, reading the key
//! and last-sign state into memory, writing them to the target, and the proof that it signs.
//!
//! Owns: each step's requests and its verdict. May not touch: the order and the state file
//! (`cometbft_failover`), the key checks and host scripts (`cometbft_key`), the terminal.

use std::time::Duration;

use nodeherd_core::cosmos::signing::NodeSelf;
use nodeherd_core::keys::Secret;
use nodeherd_core::remote::Command;
use nodeherd_transport::ssh::Session;

use super::cometbft_chain::Rpc;
use super::cometbft_key::{
    PrivValidatorKey, StateFile, read_key_command, state_to_write, write_command,
};
use super::cometbft_run::{Ctx, Phase};
use super::consensus::{self, key_paths};
use super::{label, timestamp};

/// Before anything changes: TARGET synced, not a validator, on the chain of SOURCE, the
/// validator in its validator set, the key on no other node.
pub(super) async fn checks(
    c: &mut Ctx<'_>,
    target: &Rpc,
    tself: &NodeSelf,
    source: Option<&Session>,
    address: &str,
    pubkey: &str,
) -> Result<(), String> {
    let refuse = |why: String| format!("refused: {why}; nothing was changed");
    if tself.catching_up {
        return Err(refuse(format!("{} is catching up (not synced)", c.b)));
    }
    if tself.voting_power > 0 {
        return Err(refuse(format!(
            "{} is a validator itself ({} signs with voting power {})",
            c.b, tself.address, tself.voting_power
        )));
    }
    c.steps.push(format!(
        "{}: synced at height {} on chain {}, a full node (its own key {} has no voting power)",
        c.b, tself.height, tself.chain_id, tself.address
    ));
    if source.is_some() {
        match Rpc::of(c.inv, c.pool, c.from).await {
            Ok(r) => match r.status().await {
                Ok(s) if s.chain_id != tself.chain_id => {
                    return Err(refuse(format!(
                        "{} is on chain {} and {} on chain {}",
                        c.a, s.chain_id, c.b, tself.chain_id
                    )));
                }
                Ok(_) => c.steps.push(format!("{}: same chain id", c.a)),
                Err(e) => c.steps.push(format!(
                    "{e}: chain id of {} not compared (the validator set of {} is checked below)",
                    c.a, c.b
                )),
            },
            Err(e) => c.steps.push(e),
        }
    }
    let power = target.power_of(address).await.map_err(refuse)?;
    if power == 0 {
        return Err(refuse(format!(
            "validator {address} is not in the validator set of chain {} as {} sees it",
            tself.chain_id, c.b
        )));
    }
    c.steps.push(format!(
        "{address} is in the validator set (voting power {power})"
    ));
    guard(c, pubkey, address).await.map_err(refuse)
}

/// The double-sign guard: the key on no cosmos node but SOURCE (`keys list`'s reading); a node
/// that cannot be read might hold it.
async fn guard(c: &mut Ctx<'_>, pubkey: &str, address: &str) -> Result<(), String> {
    for r in consensus::cosmos_nodes(c.inv) {
        if r == c.from {
            continue;
        }
        let who = label(c.inv, r);
        match consensus::read_node(c.pool, c.inv, r).await {
            Ok(row) if row.key.pubkey == pubkey => {
                return Err(format!(
                    "double-sign guard: {who} already has the consensus key of {address}"
                ));
            }
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "double-sign guard: {who} cannot be read ({e}): it might hold the key"
                ));
            }
        }
    }
    c.steps
        .push("double-sign guard: no other cosmos node has the key".into());
    Ok(())
}

/// Stop, disable, mask SOURCE's unit; no process may hold its home.
pub(super) async fn fence_source(c: &mut Ctx<'_>, session: &Session) -> Result<(), String> {
    let (host, node) = c.inv.node(c.from);
    let become_root = host.target.become_root;
    c.progress(format!(
        "fencing {}: stop, disable, mask {}",
        c.a, node.unit
    ));
    match super::fence::fence_unit(session, &node.unit, become_root).await {
        Ok(line) => c.steps.push(format!("{}: fenced: {line}", c.a)),
        Err(line) => {
            c.steps.push(format!("{}: {line}", c.a));
            return Err(format!(
                "UNCERTAIN: {} could not be fenced ({line}); the key was NOT written to {}; fence it by hand, then rerun with --source-is-fenced --priv-validator-key FILE",
                c.a, c.b
            ));
        }
    }
    let home = node.data_dir.clone().unwrap_or_default();
    match super::fence::holders(session, &home, become_root).await {
        Ok(None) => {
            c.steps.push(format!(
                "{}: no process holds files under {}",
                c.a,
                home.display()
            ));
            Ok(())
        }
        Ok(Some(who)) => Err(format!(
            "refused: on {} a process still holds {} ({who}); stop it (it may be signing), then rerun; the key was NOT written to {}",
            c.a,
            home.display(),
            c.b
        )),
        Err(e) => Err(format!(
            "UNCERTAIN: cannot check the processes on {}: {e}; the key was NOT written to {}",
            c.a, c.b
        )),
    }
}

/// N consecutive heights after the fence committed without the validator's signature.
pub(super) async fn quiet_proof(
    c: &mut Ctx<'_>,
    target: &Rpc,
    address: &str,
) -> Result<(), String> {
    let Some(fence) = c.saved.as_ref().and_then(|s| s.fence_height) else {
        return Err(format!(
            "the state file has no fence height; {}",
            c.where_now()
        ));
    };
    for h in fence + 1..=fence + c.opts.quiet_blocks {
        if c.saved.as_ref().is_some_and(|s| s.quiet.contains(&h)) {
            continue;
        }
        // The commit of h is final once h+1 is made.
        target
            .wait_head(h + 1, c.opts.stall)
            .await
            .map_err(|e| format!("{e}; {}", c.where_now()))?;
        let commit = target
            .commit(h)
            .await
            .map_err(|e| format!("{e}; {}", c.where_now()))?;
        if commit.signed_by(address) {
            c.steps.push(format!(
                "block {h}: signed by {address} AFTER the fence of {}",
                c.a
            ));
            return Err(format!(
                "refused: the validator signed block {h} after {} was fenced: something else signs with its key; the key was NOT written to {}",
                c.a, c.b
            ));
        }
        if let Some(s) = c.saved.as_mut() {
            s.quiet.push(h);
        }
        let n = c.saved.as_ref().map_or(0, |s| s.quiet.len());
        c.progress(format!(
            "quiet proof: block {h} committed without {address} ({n} of {})",
            c.opts.quiet_blocks
        ));
        c.save(Phase::Quiet)?;
    }
    Ok(())
}

/// The whole key file of node `r` over `session`, into memory.
async fn read_whole_key(
    c: &Ctx<'_>,
    session: &Session,
    r: nodeherd_core::inventory::NodeRef,
) -> Result<PrivValidatorKey, String> {
    let (host, node) = c.inv.node(r);
    let who = label(c.inv, r);
    let (file, _) = key_paths(&node.data_dir.clone().unwrap_or_default());
    let cmd = read_key_command(&file, host.target.become_root);
    let mut out = session
        .exec(&cmd)
        .await
        .map_err(|e| format!("{who}: cannot read its key: {e}"))?;
    let text = Secret::new(String::from_utf8_lossy(&out.stdout).into_owned());
    zeroize::Zeroize::zeroize(&mut out.stdout);
    if !out.success() {
        return Err(format!("{who}: cannot read {}", file.display()));
    }
    PrivValidatorKey::parse(text).map_err(|e| format!("{who}: {}: {e}", file.display()))
}

/// The whole key: from SOURCE's home (it is fenced) or the operator's copy; on a rerun after
/// SOURCE's copy was removed, from TARGET (where it was written and read back first).
pub(super) async fn full_key(
    c: &mut Ctx<'_>,
    source: Option<&Session>,
    target: &Rpc,
    address: &str,
) -> Result<PrivValidatorKey, String> {
    let key = match source {
        Some(s) => match read_whole_key(c, s, c.from).await {
            Ok(k) => k,
            Err(e) if c.resumed => {
                c.steps
                    .push(format!("{e}: a rerun: reading it from {}", c.b));
                read_whole_key(c, &target.session, c.to)
                    .await
                    .map_err(|e| format!("{e}; {}", c.where_now()))?
            }
            Err(e) => return Err(format!("{e}; {}", c.where_now())),
        },
        None => match &c.opts.priv_validator_key {
            Some(t) => PrivValidatorKey::parse(t.clone())
                .map_err(|e| format!("--priv-validator-key: {e}"))?,
            None => {
                return Err(format!(
                    "no key: give --priv-validator-key FILE; {}",
                    c.where_now()
                ));
            }
        },
    };
    if key.address != address {
        return Err(format!(
            "the key read is {}, not {address}; {}",
            key.address,
            c.where_now()
        ));
    }
    c.steps.push(format!(
        "key of {address} read into memory (never written on the console)"
    ));
    Ok(key)
}

/// SOURCE's last-sign state (read after the fence: no process updates it any more), or the
/// operator's copy; `None` said loudly.
pub(super) async fn source_state(
    c: &mut Ctx<'_>,
    source: Option<&Session>,
) -> Result<Option<StateFile>, String> {
    let Some(s) = source else {
        return match &c.opts.priv_validator_state {
            Some(t) => StateFile::parse(t)
                .map(Some)
                .map_err(|e| format!("--priv-validator-state: {e}; {}", c.where_now())),
            None => {
                c.steps.push(format!(
                    "no last-sign state of {} ({} cannot be reached, no --priv-validator-state): {}'s own is kept",
                    c.a, c.a, c.b
                ));
                Ok(None)
            }
        };
    };
    let (host, node) = c.inv.node(c.from);
    let (_, file) = key_paths(&node.data_dir.clone().unwrap_or_default());
    let o = s
        .exec(&consensus::state_command(&file).become_root(host.target.become_root))
        .await
        .map_err(|e| format!("{}: {e}; {}", c.a, c.where_now()))?;
    if !o.success() {
        return Err(format!(
            "{}: cannot read {}: {}; {}",
            c.a,
            file.display(),
            String::from_utf8_lossy(&o.stderr).trim(),
            c.where_now()
        ));
    }
    let st = StateFile::parse(&o.stdout_str())
        .map_err(|e| format!("{}: {}: {e}; {}", c.a, file.display(), c.where_now()))?;
    c.steps.push(format!(
        "{}: last signed height {} round {} step {}",
        c.a, st.state.height, st.state.round, st.state.step
    ));
    Ok(Some(st))
}

async fn sh(session: &Session, cmd: &Command, stdin: Option<&[u8]>) -> Result<String, String> {
    let o = match stdin {
        Some(b) => session.exec_with_stdin(cmd, b).await,
        None => session.exec(cmd).await,
    }
    .map_err(|e| e.to_string())?;
    if o.success() {
        Ok(o.stdout_str().trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}

/// Stop `unit`, checked inactive (or failed).
async fn stop_unit(s: &Session, unit: &str, br: bool) -> Result<(), String> {
    let cmd = Command::new("sh")
        .arg("-c")
        .arg("systemctl stop -- \"$1\"; systemctl is-active -- \"$1\" || true")
        .arg("nodeherd")
        .arg(unit)
        .become_root(br);
    let stopped = sh(s, &cmd, None).await?;
    if matches!(stopped.as_str(), "inactive" | "failed") {
        Ok(())
    } else {
        Err(format!("still {stopped}"))
    }
}

/// Stop TARGET, write the key and the higher state, check them, start TARGET.
pub(super) async fn write_target(
    c: &mut Ctx<'_>,
    source: Option<&Session>,
    target: &Rpc,
    key: &PrivValidatorKey,
    src_state: Option<&StateFile>,
) -> Result<(), String> {
    let (host, node) = c.inv.node(c.to);
    let br = host.target.become_root;
    let home = node.data_dir.clone().unwrap_or_default();
    let (key_file, state_file) = key_paths(&home);
    let unit = node.unit.clone();
    let s = &target.session;
    let fail =
        |c: &Ctx<'_>, what: &str, e: String| format!("{}: {what}: {e}; {}", c.b, c.where_now());
    c.progress(format!("{}: stopping {unit} to write the key", c.b));
    stop_unit(s, &unit, br)
        .await
        .map_err(|e| fail(c, "stop", e))?;
    let own = match sh(
        s,
        &consensus::state_command(&state_file).become_root(br),
        None,
    )
    .await
    {
        Ok(t) => StateFile::parse(&t).ok(),
        Err(_) => None,
    };
    let user = sh(
        s,
        &Command::new("systemctl")
            .arg("show")
            .arg("-p")
            .arg("User")
            .arg("--value")
            .arg(&unit),
        None,
    )
    .await
    .unwrap_or_default();
    let ts = timestamp();
    sh(
        s,
        &write_command(&key_file, &user, &ts, br),
        Some(key.bytes()),
    )
    .await
    .map_err(|e| fail(c, "writing the key", e))?;
    c.steps.push(format!(
        "{}: key written to {} (0600, owner {}); the file it replaced kept as {}.before-failover-{ts}",
        c.b,
        key_file.display(),
        if user.is_empty() { "root" } else { user.as_str() },
        key_file.display()
    ));
    match state_to_write(src_state, own.as_ref()) {
        Some(st) => {
            sh(
                s,
                &write_command(&state_file, &user, &ts, br),
                Some(st.text.as_bytes()),
            )
            .await
            .map_err(|e| fail(c, "writing the state", e))?;
            c.state_written = Some(st.state);
            c.steps.push(format!(
                "{}: last-sign state {}/{}/{} written (not below {}'s)",
                c.b, st.state.height, st.state.round, st.state.step, c.a
            ));
        }
        None => c.steps.push(format!(
            "{}: its own last-sign state {} kept (not below {}'s)",
            c.b,
            own.as_ref().map_or("(none)".into(), |o| format!(
                "{}/{}/{}",
                o.state.height, o.state.round, o.state.step
            )),
            c.a
        )),
    }
    let row = consensus::read_node(c.pool, c.inv, c.to)
        .await
        .map_err(|e| fail(c, "reading the key back", e.to_string()))?;
    if row.key.pubkey != key.pubkey {
        return Err(fail(
            c,
            "reading the key back",
            format!("it has {}", row.key.address),
        ));
    }
    remove_from_source(c, source).await?;
    sh(
        s,
        &Command::new("systemctl")
            .arg("start")
            .arg("--")
            .arg(&unit)
            .become_root(br),
        None,
    )
    .await
    .map_err(|e| fail(c, "start", e))?;
    c.progress(format!(
        "{}: started {unit} with the key of {}",
        c.b, key.address
    ));
    Ok(())
}

/// TARGET's `/status` names the validator and a commit within M blocks carries its signature.
pub(super) async fn verify_signing(
    c: &mut Ctx<'_>,
    target: &Rpc,
    address: &str,
) -> Result<(), String> {
    let me = target
        .wait_address(address, Duration::from_secs(120))
        .await
        .map_err(|e| format!("UNCERTAIN: {e}; {}", c.where_now()))?;
    c.steps.push(format!(
        "{}: /status validator_info.address is {address} (voting power {})",
        c.b, me.voting_power
    ));
    for h in me.height + 1..=me.height + c.opts.sign_blocks {
        target
            .wait_head(h + 1, c.opts.stall)
            .await
            .map_err(|e| format!("UNCERTAIN: {e}; {}", c.where_now()))?;
        let commit = target
            .commit(h)
            .await
            .map_err(|e| format!("UNCERTAIN: {e}; {}", c.where_now()))?;
        if commit.signed_by(address) {
            c.signed_at = Some(h);
            c.progress(format!(
                "{}: signs: the commit of block {h} carries {address}",
                c.b
            ));
            return Ok(());
        }
    }
    Err(format!(
        "UNCERTAIN: {} holds the key and runs but did not sign within {} blocks; {}",
        c.b,
        c.opts.sign_blocks,
        c.where_now()
    ))
}

/// The key is on TARGET (read back): remove SOURCE's copy, so that the key is on one node only
/// (an unreachable SOURCE keeps it: said, and `keys list` flags it once it answers).
async fn remove_from_source(c: &mut Ctx<'_>, source: Option<&Session>) -> Result<(), String> {
    let (host, node) = c.inv.node(c.from);
    let (file, _) = key_paths(&node.data_dir.clone().unwrap_or_default());
    let Some(s) = source else {
        c.steps.push(format!(
            "{} cannot be reached: its {} is still there; remove it before that host ever runs again (`keys list` flags it as a DOUBLE-SIGN RISK)",
            c.a,
            file.display()
        ));
        return Ok(());
    };
    let cmd = Command::new("sh")
        .arg("-c")
        .arg("rm -f -- \"$1\" && ! test -e \"$1\"")
        .arg("nodeherd")
        .arg(file.to_string_lossy())
        .become_root(host.target.become_root);
    sh(s, &cmd, None).await.map_err(|e| {
        format!(
            "UNCERTAIN: {} holds the key but it could not be removed from {} ({e}); {} was NOT started; {}",
            c.b,
            c.a,
            c.b,
            c.where_now()
        )
    })?;
    c.steps.push(format!(
        "{}: {} removed (the key is on {} only)",
        c.a,
        file.display(),
        c.b
    ));
    Ok(())
}
