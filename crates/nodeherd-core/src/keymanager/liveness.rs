//! Proving a validator key went quiet: the Beacon API's validator liveness requests and answers,
//! the chain's clock (genesis time, seconds per slot, slots per epoch), and the pure decision of
//! a quiet wait: which epoch to judge next, and whether N full epochs after the removal were
//! judged not live, one after the other.
//!
//! Owns: the request shapes (`POST /eth/v1/validator/liveness/{epoch}` of the spec, and the
//! older `GET /eth/v1/validator/liveness?indices=..&epoch=..` that Lodestar 1.5 serves), their
//! decoding, the clock arithmetic, whether a beacon node follows the chain well enough for its
//! answers to prove anything ([`not_following`]) and [`Quiet`]. May not touch: the network, the clock itself
//! (the engine passes the time in), files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The spec's request: `POST /eth/v1/validator/liveness/{epoch}` with the indices as a JSON
/// array of decimal strings. Returns the path and the body.
pub fn standard_request(epoch: u64, indices: &[u64]) -> (String, String) {
    let body: Vec<String> = indices.iter().map(u64::to_string).collect();
    (
        format!("/eth/v1/validator/liveness/{epoch}"),
        serde_json::to_string(&body).unwrap_or_else(|_| "[]".into()),
    )
}

/// The request Lodestar 1.x served before the spec settled:
/// `GET /eth/v1/validator/liveness?indices=I&indices=J&epoch=E`.
pub fn legacy_path(epoch: u64, indices: &[u64]) -> String {
    let mut q: Vec<String> = indices.iter().map(|i| format!("indices={i}")).collect();
    q.push(format!("epoch={epoch}"));
    format!("/eth/v1/validator/liveness?{}", q.join("&"))
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// `{"data":[{"index":"7","is_live":false}, ...]}` -> index -> live. The index may be a string
/// (the spec) or a number; an `epoch` field, when present, must be `epoch`. `Err` says what is
/// wrong with the body.
pub fn parse_liveness(body: &str, epoch: u64) -> Result<BTreeMap<u64, bool>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Array(entries) = &v["data"] else {
        return Err("no \"data\" list in the liveness answer".into());
    };
    let mut out = BTreeMap::new();
    for e in entries {
        let (Some(index), Some(live)) = (as_u64(&e["index"]), e["is_live"].as_bool()) else {
            return Err(format!(
                "a liveness entry lacks a decimal index or a boolean is_live: {e}"
            ));
        };
        if let Some(other) = e.get("epoch").and_then(as_u64).filter(|x| *x != epoch) {
            return Err(format!(
                "asked about epoch {epoch}, the answer is about epoch {other}"
            ));
        }
        out.insert(index, live);
    }
    Ok(out)
}

/// The chain's clock, from `GET /eth/v1/beacon/genesis` and `GET /eth/v1/config/spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    pub genesis_time: u64,
    pub seconds_per_slot: u64,
    pub slots_per_epoch: u64,
}

impl Clock {
    /// Decode the two answers.
    pub fn parse(genesis: &str, spec: &str) -> Result<Clock, String> {
        let g: Value = serde_json::from_str(genesis).map_err(|e| format!("genesis: {e}"))?;
        let s: Value = serde_json::from_str(spec).map_err(|e| format!("spec: {e}"))?;
        let field = |v: &Value, f: &str, what: &str| {
            as_u64(&v["data"][f])
                .filter(|x| *x > 0 || f == "genesis_time")
                .ok_or_else(|| format!("{what} answer has no usable {f}"))
        };
        Ok(Clock {
            genesis_time: field(&g, "genesis_time", "genesis")?,
            seconds_per_slot: field(&s, "SECONDS_PER_SLOT", "spec")?,
            slots_per_epoch: field(&s, "SLOTS_PER_EPOCH", "spec")?,
        })
    }

    pub fn epoch_seconds(&self) -> u64 {
        self.seconds_per_slot * self.slots_per_epoch
    }

    /// The epoch at unix time `now` (0 before genesis).
    pub fn epoch_at(&self, now: u64) -> u64 {
        now.saturating_sub(self.genesis_time) / self.epoch_seconds().max(1)
    }

    /// The unix time epoch `epoch` starts.
    pub fn epoch_start(&self, epoch: u64) -> u64 {
        self.genesis_time + epoch * self.epoch_seconds()
    }
}

/// Why a beacon node's `/eth/v1/node/syncing` answer cannot prove an epoch quiet, or `None`
/// when it can. `need_head` is the first slot after the blocks the proof reads (the first slot
/// of the epoch after the judged one for the liveness endpoint; one epoch later for the
/// inclusion proof).
///
/// A beacon node that does not follow the chain answers "not live" for every validator, so its
/// silence proves nothing: it must say it is not syncing, and its head must have reached
/// `need_head` (it imported the blocks of the judged epoch and a block after them). Seen in the
/// lab: a Lodestar dev chain whose only other validators were fenced stopped at slot 97, called
/// itself syncing ("waiting for peers") and answered `is_live: false` for every validator.
pub fn not_following(s: &crate::health::answers::Syncing, need_head: u64) -> Option<String> {
    let head = s.head_slot.map_or("?".to_string(), |h| h.to_string());
    match s.is_syncing {
        None => {
            return Some("its syncing answer has no is_syncing: it cannot be trusted".into());
        }
        Some(true) => {
            let behind = s
                .sync_distance
                .map_or(String::new(), |d| format!(", {d} slots behind"));
            return Some(format!("it is syncing (head slot {head}{behind})"));
        }
        Some(false) => {}
    }
    match s.head_slot {
        Some(h) if h >= need_head => None,
        _ => Some(format!(
            "its head slot {head} is before slot {need_head}: it has no block after the epoch judged (the chain or the node stopped)"
        )),
    }
}

/// The state of a quiet wait, kept in the move's state file so a rerun continues it.
///
/// Counting starts at the **second** epoch after the removal ([`Quiet::first_judged`]): the key
/// may have signed in the removal epoch, and beacon nodes count an attestation found in a block
/// as liveness in the *block's* epoch (Lodestar's `seenBlockAttesters.addIndices(blockEpoch,
/// ...)`), so an attestation signed in the removal epoch's last slots, before the removal and
/// included in the next epoch's first blocks, shows the key live in the epoch after the removal.
/// Seen on the lab's Lodestar 1.5.1: "LIVE in epoch 8" for a key removed in epoch 7. An
/// attestation is included at the latest in the epoch after its own (phase0: within
/// SLOTS_PER_EPOCH slots; Deneb, EIP-7045: by the end of the next epoch), so from the second
/// epoch on every live answer is a signature made after the removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quiet {
    /// The epoch the key was removed in (it may have signed in it).
    pub removed_epoch: u64,
    /// How many full epochs must be judged not live, one after the other.
    pub needed: u64,
    /// The epochs judged not live so far, consecutive and ascending.
    pub run: Vec<u64>,
}

/// What a quiet wait does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// `needed` consecutive epochs after the removal were judged not live.
    Done,
    /// Wait until epoch `until` has started, then ask again (`epoch` cannot be judged before).
    Wait { until: u64 },
    /// Ask the beacon node about `epoch` now. `gap`: the run so far is too old to continue
    /// (the beacon node only answers about the current and previous epoch), so it restarts.
    Judge { epoch: u64, gap: bool },
}

/// The key was seen live in `epoch`, after its removal: something else signs with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the key was LIVE in epoch {epoch}, after its removal in epoch {removed_epoch}")]
pub struct SeenLive {
    pub epoch: u64,
    pub removed_epoch: u64,
}

impl Quiet {
    pub fn new(removed_epoch: u64, needed: u64) -> Quiet {
        Quiet {
            removed_epoch,
            needed,
            run: Vec::new(),
        }
    }

    /// The first epoch the wait judges: the second after the removal (see [`Quiet`]).
    pub fn first_judged(&self) -> u64 {
        self.removed_epoch + 2
    }

    /// How many epochs of the run are judged (for "epoch k of N").
    pub fn judged(&self) -> u64 {
        self.run.len() as u64
    }

    /// The next step at clock epoch `current`. An epoch is judged only once the next one has
    /// started (its attestations are out), and only while it is the previous epoch (the window
    /// beacon nodes answer liveness for).
    pub fn next(&self, current: u64) -> Next {
        if self.judged() >= self.needed {
            return Next::Done;
        }
        let want = self.run.last().map_or(self.first_judged(), |e| e + 1);
        if current <= want {
            Next::Wait { until: want + 1 }
        } else if current == want + 1 {
            Next::Judge {
                epoch: want,
                gap: false,
            }
        } else {
            Next::Judge {
                epoch: current - 1,
                gap: true,
            }
        }
    }

    /// Record the answer for `epoch`. Live is an error (never import then); a quiet epoch that
    /// does not follow the run restarts it. Epochs before [`Quiet::first_judged`] neither count
    /// nor stop the wait (live there may be a signature from before the removal).
    pub fn record(&mut self, epoch: u64, live: bool) -> Result<(), SeenLive> {
        if epoch < self.first_judged() {
            return Ok(());
        }
        if live {
            return Err(SeenLive {
                epoch,
                removed_epoch: self.removed_epoch,
            });
        }
        match self.run.last() {
            Some(l) if *l + 1 == epoch => self.run.push(epoch),
            Some(l) if *l >= epoch => {}
            _ => {
                self.run.clear();
                self.run.push(epoch);
            }
        }
        Ok(())
    }
}

/// The validator client flag that turns on the client's own doppelganger protection, by the
/// client's inventory name (`None`: the client has none nodeherd knows of).
pub fn doppelganger_flag(client: &str) -> Option<&'static str> {
    match client {
        "lodestar" => Some("--doppelgangerProtection"),
        "lighthouse" => Some("--enable-doppelganger-protection"),
        "teku" => Some("--doppelganger-detection-enabled"),
        "prysm" => Some("--enable-doppelganger"),
        "nimbus" => Some("--doppelganger-detection"),
        _ => None,
    }
}

/// Whether a unit's `ExecStart` (as `systemctl show -p ExecStart --value` prints it) turns the
/// flag on: the flag as an argument, alone, `=true` or followed by `true`; `=false` is off.
pub fn flag_on(exec_start: &str, flag: &str) -> bool {
    let words: Vec<&str> = exec_start
        .split(|c: char| c.is_whitespace() || c == ';')
        .collect();
    words.iter().enumerate().any(|(i, w)| {
        if *w == flag {
            words.get(i + 1).is_none_or(|n| *n != "false")
        } else {
            w.strip_prefix(flag)
                .and_then(|r| r.strip_prefix('='))
                .is_some_and(|v| v != "false")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(
            standard_request(12, &[7, 3]),
            (
                "/eth/v1/validator/liveness/12".to_string(),
                "[\"7\",\"3\"]".to_string()
            )
        );
        assert_eq!(
            legacy_path(12, &[7]),
            "/eth/v1/validator/liveness?indices=7&epoch=12"
        );
    }

    #[test]
    fn liveness_answers() {
        // The spec's shape, and Lodestar 1.5's (numbers and an epoch field).
        let m = parse_liveness(
            r#"{"data":[{"index":"7","is_live":false},{"index":"1","is_live":true}]}"#,
            3,
        )
        .unwrap();
        assert_eq!(m.get(&7), Some(&false));
        assert_eq!(m.get(&1), Some(&true));
        let m = parse_liveness(r#"{"data":[{"index":7,"epoch":3,"is_live":true}]}"#, 3).unwrap();
        assert_eq!(m.get(&7), Some(&true));
        assert!(parse_liveness(r#"{"data":[{"index":7,"epoch":4,"is_live":true}]}"#, 3).is_err());
        assert!(parse_liveness(r#"{"data":[{"index":"x","is_live":true}]}"#, 3).is_err());
        assert!(parse_liveness(r#"{"data":[{"index":"7","is_live":"no"}]}"#, 3).is_err());
        assert!(parse_liveness(r#"{"code":400,"message":"epoch"}"#, 3).is_err());
        assert!(parse_liveness("<html>", 3).is_err());
    }

    #[test]
    fn clock() {
        let c = Clock::parse(
            r#"{"data":{"genesis_time":"1000","genesis_validators_root":"0x00"}}"#,
            r#"{"data":{"SECONDS_PER_SLOT":"6","SLOTS_PER_EPOCH":"8"}}"#,
        )
        .unwrap();
        assert_eq!(c.epoch_seconds(), 48);
        assert_eq!(c.epoch_at(999), 0);
        assert_eq!(c.epoch_at(1000 + 47), 0);
        assert_eq!(c.epoch_at(1000 + 48), 1);
        assert_eq!(c.epoch_start(2), 1096);
        assert!(Clock::parse("{\"data\":{}}", "{\"data\":{}}").is_err());
        assert!(
            Clock::parse(
                r#"{"data":{"genesis_time":"1"}}"#,
                r#"{"data":{"SECONDS_PER_SLOT":"0","SLOTS_PER_EPOCH":"8"}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn a_wait_judges_each_epoch_from_the_second_after_the_removal_once_it_is_over() {
        let mut q = Quiet::new(10, 2);
        // Removed in epoch 10: epoch 11 may show a pre-removal attestation included late;
        // epoch 12 is the first to judge, once epoch 13 began.
        assert_eq!(q.first_judged(), 12);
        assert_eq!(q.next(10), Next::Wait { until: 13 });
        assert_eq!(q.next(12), Next::Wait { until: 13 });
        assert_eq!(
            q.next(13),
            Next::Judge {
                epoch: 12,
                gap: false
            }
        );
        q.record(12, false).unwrap();
        assert_eq!(q.judged(), 1);
        assert_eq!(q.next(13), Next::Wait { until: 14 });
        assert_eq!(
            q.next(14),
            Next::Judge {
                epoch: 13,
                gap: false
            }
        );
        q.record(13, false).unwrap();
        assert_eq!(q.next(14), Next::Done);
        assert_eq!(q.run, vec![12, 13]);
    }

    #[test]
    fn live_after_removal_stops_and_a_gap_restarts_the_run() {
        let mut q = Quiet::new(10, 3);
        q.record(12, false).unwrap();
        // The console was away for epochs 13..15: the run cannot continue across them.
        assert_eq!(
            q.next(16),
            Next::Judge {
                epoch: 15,
                gap: true
            }
        );
        q.record(15, false).unwrap();
        assert_eq!(q.run, vec![15]);
        assert_eq!(
            q.record(16, true),
            Err(SeenLive {
                epoch: 16,
                removed_epoch: 10
            })
        );
        // Live in the removal epoch and in the next (a pre-removal attestation included late,
        // counted in the block's epoch) is expected: neither counted nor a stop.
        let mut q = Quiet::new(10, 1);
        q.record(10, true).unwrap();
        q.record(11, true).unwrap();
        q.record(11, false).unwrap();
        assert!(q.run.is_empty());
        // From the second epoch on, live stops the wait.
        assert!(
            q.record(12, true).is_err(),
            "live is never recorded as quiet"
        );
        // A repeated answer does not count twice.
        q.record(12, false).unwrap();
        q.record(12, false).unwrap();
        assert_eq!(q.run, vec![12]);
        assert_eq!(q.next(12), Next::Done);
        // Zero epochs asked: nothing to wait for.
        assert_eq!(Quiet::new(5, 0).next(0), Next::Done);
    }

    #[test]
    fn only_a_beacon_node_that_follows_the_chain_can_prove_quiet() {
        use crate::health::answers::parse_syncing;
        let synced = parse_syncing(
            br#"{"data":{"head_slot":"105","sync_distance":"0","is_syncing":false,"is_optimistic":false}}"#,
        )
        .unwrap();
        assert_eq!(not_following(&synced, 104), None);
        assert_eq!(not_following(&synced, 105), None);
        // Synced by its own word, but no block since the judged epoch: a stopped chain.
        let why = not_following(&synced, 112).unwrap();
        assert!(why.contains("head slot 105 is before slot 112"), "{why}");
        // The lab's stalled Lodestar: syncing, waiting for peers, far behind the clock.
        let stalled = parse_syncing(
            br#"{"data":{"head_slot":"97","sync_distance":"132","is_syncing":true,"is_optimistic":false}}"#,
        )
        .unwrap();
        let why = not_following(&stalled, 104).unwrap();
        assert_eq!(why, "it is syncing (head slot 97, 132 slots behind)");
        let odd = parse_syncing(br#"{"data":{"head_slot":"200"}}"#).unwrap();
        assert!(not_following(&odd, 104).unwrap().contains("no is_syncing"));
    }

    #[test]
    fn doppelganger_flags() {
        let f = doppelganger_flag("lodestar").unwrap();
        assert!(flag_on(
            "{ path=/usr/bin/node ; argv[]=/usr/bin/node index.js validator --doppelgangerProtection --dataDir /x ; }",
            f
        ));
        assert!(flag_on("node validator --doppelgangerProtection=true", f));
        assert!(flag_on("node validator --doppelgangerProtection true", f));
        assert!(!flag_on("node validator --doppelgangerProtection false", f));
        assert!(!flag_on("node validator --doppelgangerProtection=false", f));
        assert!(!flag_on("node validator --dataDir /x", f));
        assert!(!flag_on("node validator --doppelgangerProtectionX", f));
        assert_eq!(doppelganger_flag("geth"), None);
    }
}
