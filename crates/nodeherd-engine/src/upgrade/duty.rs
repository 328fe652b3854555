//! The safe window: restart a validator-carrying node only when no duty is imminent.
//!
//! Owns: asking Nimbus' `next_action_wait` metric, or the Beacon API duties endpoints (with the
//! validator client's pubkeys from its keymanager; the token is read over SSH, used in one
//! header and never logged or stored), the pure "next duty" arithmetic, and the wait itself
//! (its countdown through a callback, its cancellation through a token).
//! May not touch: the install layout, the unit.

use nodeherd_transport::http;
use nodeherd_transport::ssh::{Command, Session};
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
// tokio's clock: the real one in production, a paused one in tests (sleeps and deadlines alike)
use tokio::time::Instant;

/// A duty of one of the node's validators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Duty {
    pub kind: &'static str,
    pub slot: u64,
    pub validator_index: String,
}

/// Where to ask.
#[derive(Debug, Clone)]
pub enum Source {
    /// A Nimbus metrics port (`next_action_wait`).
    Nimbus { metrics_port: u16 },
    /// A Beacon API plus the keymanager that knows the keys.
    BeaconApi {
        rest_port: u16,
        keymanager_port: u16,
        token_file: String,
    },
}

/// `next_action_wait` in seconds from a metrics page (pure).
pub fn next_action_wait(page: &str) -> Option<f64> {
    page.lines().find_map(|l| {
        let rest = l.strip_prefix("next_action_wait")?;
        let rest = rest.strip_prefix(' ').or_else(|| {
            rest.strip_prefix('{')
                .and_then(|r| r.split_once('}').map(|(_, v)| v))
        })?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The earliest duty at or after `current_slot` (pure).
pub fn next_duty(duties: &[Duty], current_slot: u64) -> Option<&Duty> {
    duties
        .iter()
        .filter(|d| d.slot >= current_slot)
        .min_by_key(|d| d.slot)
}

/// The first slot whose duties are still ahead at `now` (pure): the current slot's duties are
/// done once a third of it has passed (a proposal is made at its start, attestations are due at
/// one third), so from then on the next slot is the first that matters. Without this, a node
/// with a duty in every slot (a small devnet) never finds a quiet moment.
pub fn first_pending_slot(now: u64, genesis: u64, seconds_per_slot: u64) -> u64 {
    let sps = seconds_per_slot.max(1);
    let since = now.saturating_sub(genesis);
    let slot = since / sps;
    if since % sps >= sps.div_ceil(3) {
        slot + 1
    } else {
        slot
    }
}

/// How long to hold a duties query back so that its epoch is the node's too (pure): a Beacon node
/// takes its current epoch with up to 1 s of clock disparity ahead (Lodestar:
/// `min(1, SECONDS_PER_SLOT / 2)`) and refuses proposer duties for any epoch but that one and the
/// next, so a query sent within [`EPOCH_EDGE`] before an epoch boundary (our epoch, its next)
/// is held until half a second after the boundary. `now_ms` is Unix milliseconds.
pub fn hold_before_epoch(
    now_ms: u64,
    genesis: u64,
    seconds_per_slot: u64,
    slots_per_epoch: u64,
) -> Duration {
    let epoch_ms = seconds_per_slot.max(1) * slots_per_epoch.max(1) * 1000;
    let since = now_ms.saturating_sub(genesis * 1000);
    let to_boundary = epoch_ms - since % epoch_ms;
    if to_boundary <= EPOCH_EDGE.as_millis() as u64 {
        Duration::from_millis(to_boundary + 500)
    } else {
        Duration::ZERO
    }
}

/// How close to an epoch boundary a duties query is held back (the node's 1 s clock disparity
/// plus the forward's latency).
pub const EPOCH_EDGE: Duration = Duration::from_secs(2);

/// Proposer duties of `epoch` placed in that epoch (pure): Lodestar 1.5.1 answers the next
/// epoch's proposers with the slots of the current one (`computeStartSlotAtEpoch(stateEpoch)`),
/// which would name a proposal an epoch early; a slot outside `epoch` is moved to the same
/// position inside it.
pub fn in_epoch(mut duties: Vec<Duty>, epoch: u64, slots_per_epoch: u64) -> Vec<Duty> {
    let spe = slots_per_epoch.max(1);
    for d in &mut duties {
        if d.slot / spe != epoch {
            d.slot = epoch * spe + d.slot % spe;
        }
    }
    duties
}

/// Seconds from `now` to the start of `slot` (negative when it started).
pub fn seconds_until(slot: u64, genesis: u64, seconds_per_slot: u64, now: u64) -> i64 {
    (genesis + slot * seconds_per_slot) as i64 - now as i64
}

/// Proposer duties answer -> duties for `pubkeys`.
pub fn parse_proposer(body: &str, pubkeys: &[String]) -> Vec<Duty> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|d| {
                    d["pubkey"]
                        .as_str()
                        .is_some_and(|p| pubkeys.iter().any(|k| k.eq_ignore_ascii_case(p)))
                })
                .filter_map(|d| {
                    Some(Duty {
                        kind: "proposal",
                        slot: d["slot"].as_str()?.parse().ok()?,
                        validator_index: d["validator_index"].as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Attester duties answer -> duties.
pub fn parse_attester(body: &str) -> Vec<Duty> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    Some(Duty {
                        kind: "attestation",
                        slot: d["slot"].as_str()?.parse().ok()?,
                        validator_index: d["validator_index"].as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Why the safe window could not be established; the Display is the text users see.
#[derive(Debug, thiserror::Error)]
pub enum DutyError {
    /// The forward to the node's API failed.
    #[error("{0}")]
    Forward(#[from] nodeherd_transport::ssh::SshError),
    #[error("{path}: no answer")]
    NoAnswer { path: String },
    #[error("{0}")]
    Http(#[from] http::HttpError),
    #[error("{path} answered HTTP {status}")]
    Status { path: String, status: u16 },
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A field or metric the answer lacks.
    #[error("no {0}")]
    Missing(&'static str),
    #[error("cannot read the keymanager token file: {0}")]
    TokenLink(nodeherd_transport::ssh::SshError),
    #[error("cannot read the keymanager token file {0}")]
    Token(String),
    /// The caller cancelled the wait (nothing was changed).
    #[error("cancelled while waiting for a quiet window")]
    Cancelled,
    #[error("no safe window within max_wait {max_wait}s: {blocker} (min_quiet {min_quiet}s)")]
    NoWindow {
        max_wait: u64,
        blocker: String,
        min_quiet: u64,
    },
}

async fn call(
    session: &Session,
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<String, DutyError> {
    let s = session.forward(port).await?;
    let r = tokio::time::timeout(
        Duration::from_secs(15),
        http::request(s, method, path, headers, body),
    )
    .await
    .map_err(|_| DutyError::NoAnswer {
        path: path.to_string(),
    })??;
    if r.status / 100 != 2 {
        return Err(DutyError::Status {
            path: path.to_string(),
            status: r.status,
        });
    }
    Ok(r.text())
}

struct Chain {
    genesis: u64,
    seconds_per_slot: u64,
    slots_per_epoch: u64,
}

async fn chain(session: &Session, port: u16) -> Result<Chain, DutyError> {
    let g: Value = serde_json::from_str(
        &call(session, port, "GET", "/eth/v1/beacon/genesis", &[], None).await?,
    )?;
    let s: Value =
        serde_json::from_str(&call(session, port, "GET", "/eth/v1/config/spec", &[], None).await?)?;
    let num = |v: &Value| v.as_str().and_then(|x| x.parse::<u64>().ok());
    Ok(Chain {
        genesis: num(&g["data"]["genesis_time"]).ok_or(DutyError::Missing("genesis_time"))?,
        seconds_per_slot: num(&s["data"]["SECONDS_PER_SLOT"])
            .ok_or(DutyError::Missing("SECONDS_PER_SLOT"))?,
        slots_per_epoch: num(&s["data"]["SLOTS_PER_EPOCH"])
            .ok_or(DutyError::Missing("SLOTS_PER_EPOCH"))?,
    })
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds until the next duty (None: no duty known in this and the next epoch).
async fn beacon_next(
    session: &Session,
    rest_port: u16,
    km_port: u16,
    token_file: &str,
) -> Result<Option<(Duty, i64)>, DutyError> {
    let tok = session
        .exec(&Command::new("cat").arg(token_file))
        .await
        .map_err(DutyError::TokenLink)?;
    if !tok.success() {
        return Err(DutyError::Token(token_file.to_string()));
    }
    let token = tok.stdout_str().trim().to_string();
    let auth = format!("Bearer {token}");
    let keys: Value = serde_json::from_str(
        &call(
            session,
            km_port,
            "GET",
            "/eth/v1/keystores",
            &[("Authorization", &auth)],
            None,
        )
        .await?,
    )?;
    drop(auth);
    let pubkeys: Vec<String> = keys["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|k| k["validating_pubkey"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if pubkeys.is_empty() {
        return Ok(None);
    }
    let c = chain(session, rest_port).await?;
    // The indices of the node's keys, asked with repeated `id=` parameters: a comma list is not
    // split by Lodestar 1.5, which then answers an empty list and no attester duty was ever seen.
    let ids: Vec<&str> = pubkeys.iter().map(String::as_str).collect();
    let mut indices: Vec<String> = Vec::new();
    for path in nodeherd_core::keymanager::onchain::validators_paths(&ids) {
        let body = call(session, rest_port, "GET", &path, &[], None).await?;
        let known = nodeherd_core::keymanager::onchain::parse_validators(&body)
            .map_err(|_| DutyError::Missing("validators in the validators answer"))?;
        indices.extend(known.into_values().map(|v| v.index));
    }
    // Never ask across an epoch boundary: the node's epoch could already be the next one and
    // it refuses the proposer duties of this one (Lodestar logs a stack trace for each). Held
    // here, right before the duties requests, so the queries above add no latency to it.
    let hold = hold_before_epoch(unix_ms(), c.genesis, c.seconds_per_slot, c.slots_per_epoch);
    tokio::time::sleep(hold).await;
    let now = unix_now();
    let slot = now.saturating_sub(c.genesis) / c.seconds_per_slot.max(1);
    let epoch = slot / c.slots_per_epoch.max(1);
    let mut duties = Vec::new();
    for e in [epoch, epoch + 1] {
        if let Ok(b) = call(
            session,
            rest_port,
            "GET",
            &format!("/eth/v1/validator/duties/proposer/{e}"),
            &[],
            None,
        )
        .await
        {
            duties.extend(in_epoch(parse_proposer(&b, &pubkeys), e, c.slots_per_epoch));
        }
        if !indices.is_empty() {
            let body = serde_json::to_vec(&indices).unwrap_or_default();
            let b = call(
                session,
                rest_port,
                "POST",
                &format!("/eth/v1/validator/duties/attester/{e}"),
                &[("Content-Type", "application/json")],
                Some(&body),
            )
            .await?;
            duties.extend(parse_attester(&b));
        }
    }
    let from = first_pending_slot(now, c.genesis, c.seconds_per_slot);
    Ok(next_duty(&duties, from).cloned().map(|d| {
        let s = seconds_until(d.slot, c.genesis, c.seconds_per_slot, now);
        (d, s)
    }))
}

/// What keeps a quiet window from opening, reported about once a second while waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The duty (or Nimbus' next action) that is too close, without its timing.
    pub blocker: String,
    /// Time until it.
    pub next_in: Duration,
    /// What is left of `max_wait`.
    pub gives_up_in: Duration,
}

/// Wait until no duty falls within `min_quiet`, at most `max_wait`, telling `on_wait` what
/// blocks and how long is left. `Ok(waited)`, `Err(NoWindow)` naming the duty that blocked it,
/// or `Err(Cancelled)` as soon as `cancel` fires (an in-flight query is dropped: it only reads).
pub async fn wait_quiet(
    session: &Session,
    src: &Source,
    (min_quiet, max_wait): (Duration, Duration),
    cancel: &CancellationToken,
    on_wait: impl Fn(Blocked),
) -> Result<Duration, DutyError> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(DutyError::Cancelled),
        r = wait_loop(session, src, min_quiet, max_wait, &on_wait) => r,
    }
}

/// The next blocker within `min_quiet` (`None`: quiet now): its name and seconds until it.
async fn blocker(
    session: &Session,
    src: &Source,
    min_quiet: Duration,
) -> Result<Option<(String, f64)>, DutyError> {
    Ok(match src {
        Source::Nimbus { metrics_port } => {
            let page = call(session, *metrics_port, "GET", "/metrics", &[], None).await?;
            let w = next_action_wait(&page).ok_or(DutyError::Missing("next_action_wait metric"))?;
            (w < min_quiet.as_secs_f64())
                .then(|| ("next validator action (next_action_wait)".to_string(), w))
        }
        Source::BeaconApi {
            rest_port,
            keymanager_port,
            token_file,
        } => match beacon_next(session, *rest_port, *keymanager_port, token_file).await? {
            Some((d, secs)) if secs < min_quiet.as_secs() as i64 => Some((
                format!(
                    "{} duty of validator {} at slot {}",
                    d.kind, d.validator_index, d.slot
                ),
                secs.max(0) as f64,
            )),
            _ => None,
        },
    })
}

async fn wait_loop(
    session: &Session,
    src: &Source,
    min_quiet: Duration,
    max_wait: Duration,
    on_wait: &impl Fn(Blocked),
) -> Result<Duration, DutyError> {
    let start = Instant::now();
    loop {
        let Some((what, secs)) = blocker(session, src, min_quiet).await? else {
            return Ok(start.elapsed());
        };
        let left = max_wait.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(DutyError::NoWindow {
                max_wait: max_wait.as_secs(),
                blocker: format!("{what} in {secs:.0}s"),
                min_quiet: min_quiet.as_secs(),
            });
        }
        // sleep until just after the blocker, telling the countdown every second
        let now = Instant::now();
        let due = now + Duration::from_secs_f64(secs);
        let until = now + Duration::from_secs_f64(secs + 1.0).min(left);
        loop {
            let now = Instant::now();
            if now >= until {
                break;
            }
            on_wait(Blocked {
                blocker: what.clone(),
                next_in: due.saturating_duration_since(now),
                gives_up_in: max_wait.saturating_sub(start.elapsed()),
            });
            tokio::time::sleep((until - now).min(Duration::from_secs(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nimbus_metric() {
        let page =
            "# HELP next_action_wait x\n# TYPE next_action_wait gauge\nnext_action_wait 245.5\n";
        assert_eq!(next_action_wait(page), Some(245.5));
        assert_eq!(next_action_wait("next_action_wait_total 3\n"), None);
    }

    #[test]
    fn duties_and_timing() {
        let prop = r#"{"dependent_root":"0x1","data":[{"pubkey":"0xAA","validator_index":"3","slot":"17"},{"pubkey":"0xbb","validator_index":"4","slot":"18"}]}"#;
        let p = parse_proposer(prop, &["0xaa".to_string()]);
        assert_eq!(p.len(), 1);
        let att = r#"{"data":[{"pubkey":"0xaa","validator_index":"3","committee_index":"0","committee_length":"8","committees_at_slot":"1","validator_committee_index":"0","slot":"16"},{"pubkey":"0xaa","validator_index":"5","slot":"20"}]}"#;
        let mut all = parse_attester(att);
        all.extend(p);
        let d = next_duty(&all, 17).unwrap();
        assert_eq!((d.kind, d.slot), ("proposal", 17));
        assert_eq!(seconds_until(17, 1000, 6, 1100), 2);
        assert!(next_duty(&all, 21).is_none());
    }

    #[test]
    fn a_query_near_an_epoch_boundary_waits_for_it() {
        // genesis 1000 s, 6 s slots, 8 per epoch: epochs start every 48 s (1048 s, 1096 s...)
        let hold = |ms| hold_before_epoch(ms, 1000, 6, 8);
        assert_eq!(hold(1_047_000), Duration::from_millis(1500));
        assert_eq!(hold(1_046_000), Duration::from_millis(2500));
        assert_eq!(hold(1_047_999), Duration::from_millis(501));
        assert_eq!(hold(1_045_999), Duration::ZERO);
        assert_eq!(hold(1_048_000), Duration::ZERO);
        assert_eq!(hold(1_048_500), Duration::ZERO);
        assert_eq!(hold(1_070_000), Duration::ZERO);
        assert_eq!(hold(1_095_000), Duration::from_millis(1500));
    }

    #[test]
    fn next_epoch_proposals_answered_with_current_slots_are_moved_into_their_epoch() {
        let d = |slot| Duty {
            kind: "proposal",
            slot,
            validator_index: "3".into(),
        };
        // Lodestar 1.5.1 asked for epoch 5 while in epoch 4 (8 slots): slots 32..39 come back
        assert_eq!(in_epoch(vec![d(33)], 5, 8), vec![d(41)]);
        // a right answer is kept
        assert_eq!(in_epoch(vec![d(41), d(40)], 5, 8), vec![d(41), d(40)]);
    }

    #[test]
    fn the_current_slot_is_done_after_a_third() {
        // genesis 1000, 6 s slots: slot 10 starts at 1060
        assert_eq!(first_pending_slot(1060, 1000, 6), 10);
        assert_eq!(first_pending_slot(1061, 1000, 6), 10);
        assert_eq!(first_pending_slot(1062, 1000, 6), 11);
        assert_eq!(first_pending_slot(1065, 1000, 6), 11);
        // 12 s slots: a third is 4 s
        assert_eq!(first_pending_slot(1003, 1000, 12), 0);
        assert_eq!(first_pending_slot(1004, 1000, 12), 1);
        assert_eq!(first_pending_slot(900, 1000, 12), 0);
    }
}
