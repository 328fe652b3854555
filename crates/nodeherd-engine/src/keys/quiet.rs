//! The quiet wait of a move or a failover: after a key was removed from its source, ask the
//! beacon chain whether the validator was live, epoch by epoch, until N full epochs after the
//! removal were judged not live one after the other. Only then may the key be imported elsewhere.
//!
//! Owns: the requests of the wait (validator index, genesis and spec for the clock, liveness in
//! the spec's form, else the older form Lodestar 1.5 serves, else the inclusion proof of
//! [`super::quiet_inclusion`]) through the host's beacon node, its syncing answer before each
//! judged epoch (a node that does not follow the chain proves nothing), the choice between them
//! (`--quiet-proof`), and the loop around [`nodeherd_core::keymanager::liveness::Quiet`]. May not touch: deciding what
//! the answers mean (core), the move's state file (the caller persists through `on_judged`), the
//! terminal (progress goes to the caller's sink).

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::liveness::{self, Clock, Next, Quiet, SeenLive};
use nodeherd_core::keymanager::onchain;
use nodeherd_transport::ssh::Pool;

use super::exit::HostBeacon;

/// One answer of the chain during a wait, as reported (and in `--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LivenessAnswer {
    pub epoch: u64,
    pub index: u64,
    pub live: bool,
    /// The request that was answered (`POST /eth/v1/validator/liveness/12`).
    pub request: String,
}

/// Why a wait ended without its proof.
#[derive(Debug, thiserror::Error)]
pub enum QuietError {
    #[error("{0}")]
    Live(#[from] SeenLive),
    #[error("cannot ask the beacon chain: {0}")]
    Chain(String),
    /// The beacon node did not follow the chain until the epoch could no longer be asked.
    #[error(
        "epoch {epoch} cannot be judged: {why}. A beacon node that does not follow the chain answers \"not live\" for every validator, so its answers prove nothing. Once it follows the chain again (`nodeherd status`), rerun the same command: it resumes the wait"
    )]
    NotFollowing { epoch: u64, why: String },
}

/// What the wait needs from the world: the time, sleeping, and the chain's answer.
pub trait ChainView: Sync {
    fn now(&self) -> u64;
    fn sleep_until(&self, unix: u64) -> impl std::future::Future<Output = ()> + Send;
    /// Epochs beyond the next one that must have begun before an epoch can be judged: 0 for
    /// the liveness endpoint, 1 for the inclusion proof (an attestation of an epoch's last slot
    /// can be included until the end of the following epoch).
    fn lag(&self) -> u64 {
        0
    }
    /// Why the beacon node's answers cannot prove anything now (it is syncing, or its head has
    /// not reached `need_head`, see [`liveness::not_following`]), or `None` when it follows
    /// the chain.
    fn not_following(
        &self,
        need_head: u64,
    ) -> impl std::future::Future<Output = Result<Option<String>, String>> + Send;
    /// One answer per index of `indices` for `epoch`.
    fn is_live(
        &self,
        epoch: u64,
        indices: &[u64],
    ) -> impl std::future::Future<Output = Result<Vec<LivenessAnswer>, String>> + Send;
}

/// Wait until `quiet` is proven for every one of `indices` (an epoch is quiet when none of
/// them was live). `on_judged` is called after each judged epoch with the new
/// state (the caller persists it) and its answer; `progress` gets one line per step.
pub async fn wait_quiet(
    chain: &impl ChainView,
    clock: &Clock,
    indices: &[u64],
    quiet: &mut Quiet,
    on_judged: &mut (dyn FnMut(&Quiet, &[LivenessAnswer]) + Send),
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), QuietError> {
    // An epoch is judged two slots after the next one began (its last attestations are out).
    let margin = 2 * clock.seconds_per_slot;
    let lag = chain.lag();
    loop {
        let current = clock.epoch_at(chain.now());
        // With a lag, the newest epoch whose answer is complete is `lag` epochs further back.
        match quiet.next(current.saturating_sub(lag)) {
            Next::Done => return Ok(()),
            Next::Wait { until } => {
                progress(&format!(
                    "quiet wait: epoch {} of {} after the removal in epoch {}; next answer after epoch {} begins (chain epoch now {current})",
                    quiet.judged() + 1,
                    quiet.needed,
                    quiet.removed_epoch,
                    until + lag
                ));
                chain
                    .sleep_until(clock.epoch_start(until + lag) + margin)
                    .await;
            }
            Next::Judge { epoch, gap } => {
                let ready = clock.epoch_start(epoch + 1 + lag) + margin;
                if chain.now() < ready {
                    chain.sleep_until(ready).await;
                }
                if gap {
                    progress(&format!(
                        "quiet wait: epochs were missed while away; the count restarts at epoch {epoch}"
                    ));
                }
                follow(chain, clock, epoch, lag, progress).await?;
                let answers = chain
                    .is_live(epoch, indices)
                    .await
                    .map_err(QuietError::Chain)?;
                quiet.record(epoch, answers.iter().any(|a| a.live))?;
                progress(&format!(
                    "quiet wait: epoch {epoch}: validator{} {} not live ({} of {} quiet epochs)",
                    if indices.len() == 1 { "" } else { "s" },
                    indices
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    quiet.judged(),
                    quiet.needed
                ));
                on_judged(quiet, &answers);
            }
        }
    }
}

/// Wait until the beacon node follows the chain far enough to judge `epoch` (its head past the
/// blocks the proof reads), asking again every slot; give up when the epoch could no longer be
/// asked (the liveness endpoint answers for the current and the previous epoch only).
async fn follow(
    chain: &impl ChainView,
    clock: &Clock,
    epoch: u64,
    lag: u64,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), QuietError> {
    let need_head = (epoch + 1 + lag) * clock.slots_per_epoch;
    let deadline = clock.epoch_start(epoch + 2 + lag);
    loop {
        let Some(why) = chain
            .not_following(need_head)
            .await
            .map_err(QuietError::Chain)?
        else {
            return Ok(());
        };
        let next = chain.now() + clock.seconds_per_slot;
        if next >= deadline {
            return Err(QuietError::NotFollowing { epoch, why });
        }
        progress(&format!(
            "quiet wait: epoch {epoch} not judged yet: {why}; asking again in a slot"
        ));
        chain.sleep_until(next).await;
    }
}

/// How the wait asks the chain whether a validator was live (`--quiet-proof`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuietProof {
    /// The liveness endpoint where the beacon node serves it (either form), else the inclusion
    /// proof.
    #[default]
    Auto,
    /// The liveness endpoint only.
    Liveness,
    /// The validator's attestation inclusion in the blocks ([`super::quiet_inclusion`]).
    Inclusion,
}

impl std::str::FromStr for QuietProof {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(QuietProof::Auto),
            "liveness" => Ok(QuietProof::Liveness),
            "inclusion" => Ok(QuietProof::Inclusion),
            other => Err(format!(
                "{other:?} is not a quiet proof: auto, liveness or inclusion"
            )),
        }
    }
}

/// The beacon node of a validator's host, for the wait.
pub struct BeaconChain {
    pub(super) beacon: HostBeacon,
    /// The beacon node answered 404/405 to the spec's POST: use the older GET.
    legacy: AtomicBool,
    /// Judge from attestation inclusion (no liveness endpoint, or asked for).
    inclusion: AtomicBool,
    /// Slots per epoch, for the inclusion proof (set with the clock).
    pub(super) slots_per_epoch: std::sync::atomic::AtomicU64,
}

impl BeaconChain {
    pub async fn find(inv: &Inventory, pool: &Pool, node: NodeRef) -> Result<Self, String> {
        let beacon = HostBeacon::find(inv, pool, node)
            .await
            .map_err(|e| e.to_string())?;
        Ok(BeaconChain {
            beacon,
            legacy: AtomicBool::new(false),
            inclusion: AtomicBool::new(false),
            slots_per_epoch: std::sync::atomic::AtomicU64::new(32),
        })
    }

    /// Settle how epochs are judged: `Inclusion` as asked; otherwise one liveness request for
    /// `index` in the current epoch, in the spec's form then the older one; when both answer
    /// 404/405 (no such endpoint), `Auto` falls back to the inclusion proof and `Liveness`
    /// fails. Returns the proof's name for the steps.
    pub async fn choose_proof(
        &self,
        asked: QuietProof,
        clock: &Clock,
        index: u64,
    ) -> Result<&'static str, String> {
        self.slots_per_epoch
            .store(clock.slots_per_epoch, Ordering::Relaxed);
        if asked == QuietProof::Inclusion {
            self.inclusion.store(true, Ordering::Relaxed);
            return Ok("attestation inclusion (--quiet-proof inclusion)");
        }
        let epoch = clock.epoch_at(self.now());
        let (path, body) = liveness::standard_request(epoch, &[index]);
        let r = self.req("POST", &path, Some(body.as_bytes())).await?;
        if !matches!(r.status, 404 | 405) {
            return Ok("the liveness endpoint (POST /eth/v1/validator/liveness/{epoch})");
        }
        let p = liveness::legacy_path(epoch, &[index]);
        let r = self.req("GET", &p, None).await?;
        if !matches!(r.status, 404 | 405) {
            self.legacy.store(true, Ordering::Relaxed);
            return Ok(
                "the liveness endpoint (GET /eth/v1/validator/liveness?indices=..&epoch=..)",
            );
        }
        if asked == QuietProof::Liveness {
            return Err(format!(
                "{} serves no liveness endpoint (both forms answered 404/405) and --quiet-proof liveness was asked",
                self.beacon.label
            ));
        }
        self.inclusion.store(true, Ordering::Relaxed);
        Ok(
            "attestation inclusion (the beacon node serves no liveness endpoint: both forms answered 404/405)",
        )
    }

    pub(super) async fn req(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<nodeherd_transport::http::Response, String> {
        self.beacon
            .request(method, path, body)
            .await
            .map_err(|e| e.to_string())
    }

    /// `host/node` of the beacon node.
    pub fn label(&self) -> &str {
        &self.beacon.label
    }

    /// The chain's clock.
    pub async fn clock(&self) -> Result<Clock, String> {
        let g = self
            .beacon
            .get("/eth/v1/beacon/genesis")
            .await
            .map_err(|e| e.to_string())?;
        let s = self
            .beacon
            .get("/eth/v1/config/spec")
            .await
            .map_err(|e| e.to_string())?;
        Clock::parse(&g, &s).map_err(|e| format!("{}: {e}", self.beacon.label))
    }

    /// The validator index of `pubkey`; `None` when the chain does not know the key.
    pub async fn index_of(&self, pubkey: &str) -> Result<Option<u64>, String> {
        let path = onchain::validators_paths(&[pubkey]).remove(0);
        let r = self
            .beacon
            .request("GET", &path, None)
            .await
            .map_err(|e| e.to_string())?;
        if r.status == 404 {
            return Ok(None);
        }
        if r.status != 200 {
            return Err(format!(
                "{}: GET {path} answered {}",
                self.beacon.label, r.status
            ));
        }
        let known = onchain::parse_validators(&r.text())?;
        match known.get(pubkey) {
            None => Ok(None),
            Some(c) => c
                .index
                .parse()
                .map(Some)
                .map_err(|_| format!("index {:?} is not a number", c.index)),
        }
    }
}

impl ChainView for BeaconChain {
    fn now(&self) -> u64 {
        u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
    }

    fn sleep_until(&self, unix: u64) -> impl std::future::Future<Output = ()> + Send {
        let wait = unix.saturating_sub(self.now());
        tokio::time::sleep(std::time::Duration::from_secs(wait))
    }

    fn lag(&self) -> u64 {
        u64::from(self.inclusion.load(Ordering::Relaxed))
    }

    async fn not_following(&self, need_head: u64) -> Result<Option<String>, String> {
        let label = &self.beacon.label;
        let r = self.req("GET", "/eth/v1/node/syncing", None).await?;
        if r.status != 200 {
            return Ok(Some(format!(
                "{label}: GET /eth/v1/node/syncing answered {}",
                r.status
            )));
        }
        let Some(s) = nodeherd_core::health::answers::parse_syncing(&r.body) else {
            return Ok(Some(format!(
                "{label}: GET /eth/v1/node/syncing: not the Beacon API's answer"
            )));
        };
        Ok(liveness::not_following(&s, need_head).map(|why| format!("{label}: {why}")))
    }

    async fn is_live(&self, epoch: u64, indices: &[u64]) -> Result<Vec<LivenessAnswer>, String> {
        if self.inclusion.load(Ordering::Relaxed) {
            return self.included(epoch, indices).await;
        }
        let label = &self.beacon.label;
        let (path, body) = liveness::standard_request(epoch, indices);
        let (request, resp) = if self.legacy.load(Ordering::Relaxed) {
            (None, None)
        } else {
            let r = self
                .beacon
                .request("POST", &path, Some(body.as_bytes()))
                .await
                .map_err(|e| e.to_string())?;
            if matches!(r.status, 404 | 405) {
                self.legacy.store(true, Ordering::Relaxed);
                (None, None)
            } else {
                (Some(format!("POST {path}")), Some(r))
            }
        };
        let (request, resp) = match (request, resp) {
            (Some(q), Some(r)) => (q, r),
            _ => {
                let p = liveness::legacy_path(epoch, indices);
                let r = self
                    .beacon
                    .request("GET", &p, None)
                    .await
                    .map_err(|e| e.to_string())?;
                (format!("GET {p}"), r)
            }
        };
        if resp.status != 200 {
            return Err(format!(
                "{label}: {request} answered {}: {}",
                resp.status,
                nodeherd_core::keymanager::types::error_message(&resp.body)
            ));
        }
        let m = liveness::parse_liveness(&resp.text(), epoch)
            .map_err(|e| format!("{label}: {request}: {e}"))?;
        indices
            .iter()
            .map(|index| {
                let live = m.get(index).copied().ok_or_else(|| {
                    format!("{label}: {request}: no answer for validator {index}")
                })?;
                Ok(LivenessAnswer {
                    epoch,
                    index: *index,
                    live,
                    request: request.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicU64;

    /// A chain whose clock jumps to each sleep's end; `live` epochs answer live.
    struct Fake {
        now: AtomicU64,
        live: Vec<u64>,
        asked: Mutex<Vec<(u64, u64)>>,
        lag: u64,
        /// The beacon node says it is syncing until this unix time.
        syncing_until: u64,
    }

    impl Fake {
        fn new(now: u64, live: Vec<u64>, lag: u64) -> Fake {
            Fake {
                now: AtomicU64::new(now),
                live,
                asked: Mutex::default(),
                lag,
                syncing_until: 0,
            }
        }
    }

    impl ChainView for Fake {
        fn lag(&self) -> u64 {
            self.lag
        }
        fn now(&self) -> u64 {
            self.now.load(Ordering::SeqCst)
        }
        fn sleep_until(&self, unix: u64) -> impl std::future::Future<Output = ()> + Send {
            self.now.fetch_max(unix, Ordering::SeqCst);
            std::future::ready(())
        }
        async fn not_following(&self, need_head: u64) -> Result<Option<String>, String> {
            // A following node's head is the clock's slot.
            let head = self.now().saturating_sub(CLOCK.genesis_time) / CLOCK.seconds_per_slot;
            let syncing = self.now() < self.syncing_until;
            let answer = format!(
                r#"{{"data":{{"head_slot":"{head}","sync_distance":"0","is_syncing":{syncing}}}}}"#
            );
            let s = nodeherd_core::health::answers::parse_syncing(answer.as_bytes()).unwrap();
            Ok(liveness::not_following(&s, need_head))
        }
        async fn is_live(
            &self,
            epoch: u64,
            indices: &[u64],
        ) -> Result<Vec<LivenessAnswer>, String> {
            // The beacon node's window: the current and the previous epoch only.
            let current = CLOCK.epoch_at(self.now());
            // (the inclusion proof reads blocks: no window)
            if self.lag == 0 && (epoch + 1 < current || epoch > current + 1) {
                return Err(format!("epoch {epoch} outside the window at {current}"));
            }
            self.asked.lock().unwrap().push((epoch, self.now()));
            // Validator 7 is the one that goes live in the `live` epochs.
            Ok(indices
                .iter()
                .map(|i| LivenessAnswer {
                    epoch,
                    index: *i,
                    live: *i == 7 && self.live.contains(&epoch),
                    request: format!("POST /eth/v1/validator/liveness/{epoch}"),
                })
                .collect())
        }
    }

    const CLOCK: Clock = Clock {
        genesis_time: 1000,
        seconds_per_slot: 6,
        slots_per_epoch: 8,
    };

    fn run(fake: &Fake, quiet: &mut Quiet) -> (Result<(), QuietError>, Vec<String>, usize) {
        let lines = Mutex::new(Vec::new());
        let mut saved = 0;
        let r = futures::executor::block_on(wait_quiet(
            fake,
            &CLOCK,
            &[3, 7],
            quiet,
            &mut |_, _| saved += 1,
            &|l| lines.lock().unwrap().push(l.to_string()),
        ));
        (r, lines.into_inner().unwrap(), saved)
    }

    #[test]
    fn waits_for_two_quiet_epochs_judging_each_after_it_ended() {
        // Removed in epoch 10 (mid-epoch); live in 11 too, as a beacon node says when a
        // pre-removal attestation is included in epoch 11's blocks: epoch 11 is not asked.
        let fake = Fake::new(CLOCK.epoch_start(10) + 20, vec![10, 11], 0);
        let mut q = Quiet::new(10, 2);
        let (r, lines, saved) = run(&fake, &mut q);
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(q.run, vec![12, 13]);
        assert_eq!(saved, 2, "the state is persisted after each judged epoch");
        let asked = fake.asked.lock().unwrap();
        assert_eq!(asked.iter().map(|a| a.0).collect::<Vec<_>>(), vec![12, 13]);
        // Each epoch was asked about only after the next one began, plus two slots.
        for (epoch, at) in asked.iter() {
            assert!(*at >= CLOCK.epoch_start(epoch + 1) + 12, "{epoch} at {at}");
        }
        assert!(
            lines.iter().any(|l| l.contains("epoch 1 of 2")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("(2 of 2 quiet epochs)")),
            "{lines:?}"
        );
    }

    #[test]
    fn the_inclusion_proof_judges_each_epoch_once_the_one_after_it_ended() {
        let fake = Fake::new(CLOCK.epoch_start(10) + 20, vec![], 1);
        let mut q = Quiet::new(10, 2);
        let (r, lines, _) = run(&fake, &mut q);
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(q.run, vec![12, 13]);
        // Epoch e only after epoch e+2 began plus two slots (its attestations can be included
        // until the end of e+1).
        for (epoch, at) in fake.asked.lock().unwrap().iter() {
            assert!(*at >= CLOCK.epoch_start(epoch + 2) + 12, "{epoch} at {at}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains("next answer after epoch 14 begins")),
            "{lines:?}"
        );
    }

    #[test]
    fn an_epoch_is_judged_only_once_the_beacon_node_follows_the_chain() {
        // Syncing until a slot after epoch 12 would be judged: asked again, then judged.
        let judged_at = CLOCK.epoch_start(13) + 12;
        let fake = Fake {
            syncing_until: judged_at + 1,
            ..Fake::new(CLOCK.epoch_start(10) + 20, vec![], 0)
        };
        let mut q = Quiet::new(10, 2);
        let (r, lines, _) = run(&fake, &mut q);
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(q.run, vec![12, 13]);
        assert_eq!(fake.asked.lock().unwrap()[0], (12, judged_at + 6));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("epoch 12 not judged yet: it is syncing")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_beacon_node_that_never_follows_the_chain_proves_nothing() {
        let fake = Fake {
            syncing_until: u64::MAX,
            ..Fake::new(CLOCK.epoch_start(10) + 20, vec![], 0)
        };
        let mut q = Quiet::new(10, 2);
        let (r, _, saved) = run(&fake, &mut q);
        match r {
            Err(e @ QuietError::NotFollowing { epoch: 12, .. }) => {
                let text = e.to_string();
                assert!(text.contains("it is syncing"), "{text}");
                assert!(text.contains("rerun the same command"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        assert!(q.run.is_empty(), "{q:?}");
        assert_eq!(saved, 0);
        assert!(
            fake.asked.lock().unwrap().is_empty(),
            "liveness never asked"
        );
    }

    #[test]
    fn a_live_epoch_after_the_removal_ends_the_wait_without_proof() {
        let fake = Fake::new(CLOCK.epoch_start(10), vec![13], 0);
        let mut q = Quiet::new(10, 3);
        let (r, _, saved) = run(&fake, &mut q);
        match r {
            Err(QuietError::Live(SeenLive { epoch: 13, .. })) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(saved, 1, "epoch 12 was saved, 13 (live) was not");
        assert_eq!(q.run, vec![12]);
    }

    #[test]
    fn a_resumed_wait_keeps_its_run_or_restarts_after_a_gap() {
        // Resumed in time: epoch 11 was judged before the console died, 12 is next.
        let fake = Fake::new(CLOCK.epoch_start(13) + 1, vec![], 0);
        let mut q = Quiet {
            removed_epoch: 10,
            needed: 2,
            run: vec![11],
        };
        assert!(run(&fake, &mut q).0.is_ok());
        assert_eq!(q.run, vec![11, 12]);
        // Resumed long after: the run restarts at the previous epoch and needs two again.
        let fake = Fake::new(CLOCK.epoch_start(30) + 40, vec![], 0);
        let mut q = Quiet {
            removed_epoch: 10,
            needed: 2,
            run: vec![11],
        };
        let (r, lines, _) = run(&fake, &mut q);
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(q.run, vec![29, 30]);
        assert!(
            lines.iter().any(|l| l.contains("restarts at epoch 29")),
            "{lines:?}"
        );
    }
}
