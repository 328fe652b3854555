//! The inclusion proof of the quiet wait: whether validators were live in an epoch, judged from
//! the chain itself for beacon nodes that serve no liveness endpoint (or when asked with
//! `--quiet-proof inclusion`): the blocks that can include the epoch's attestations and the
//! validators' committees, read through the host's beacon node.
//!
//! Owns: those requests (which state the committees are asked of, blocks of empty slots
//! skipped). May not touch: decoding and the decision (core `keymanager::inclusion`), the wait's
//! loop (`quiet`).

use std::sync::atomic::Ordering;

use nodeherd_core::keymanager::inclusion::{self, BlockSeen};

use super::quiet::{BeaconChain, LivenessAnswer};

impl BeaconChain {
    /// One answer per index for `epoch`, from its blocks and committees.
    pub(super) async fn included(
        &self,
        epoch: u64,
        indices: &[u64],
    ) -> Result<Vec<LivenessAnswer>, String> {
        let label = &self.beacon.label;
        let spe = self.slots_per_epoch.load(Ordering::Relaxed).max(1);
        let range = inclusion::slots_to_read(epoch, spe);
        let mut blocks = Vec::new();
        for slot in range.clone() {
            let path = inclusion::block_path(slot);
            let r = self.req("GET", &path, None).await?;
            match r.status {
                200 => blocks.push(
                    inclusion::parse_block(&r.text())
                        .map_err(|e| format!("{label}: GET {path}: {e}"))?,
                ),
                404 => {} // an empty slot
                s => {
                    return Err(format!(
                        "{label}: GET {path} answered {s}: {}",
                        nodeherd_core::keymanager::types::error_message(&r.body)
                    ));
                }
            }
        }
        let (committees, duties) = self.duties(epoch, spe, indices, &blocks).await?;
        let verdicts = inclusion::judge(epoch, spe, indices, &duties, &blocks);
        Ok(verdicts
            .into_iter()
            .map(|v| LivenessAnswer {
                epoch,
                index: v.index,
                live: v.live,
                request: format!(
                    "inclusion: GET {committees} and GET /eth/v2/beacon/blocks/{}..={} ({} blocks): {}",
                    range.start(),
                    range.end(),
                    blocks.len(),
                    v.evidence
                ),
            })
            .collect())
    }

    /// The duties of `indices` in `epoch`, asked of the first state that answers for that
    /// epoch: `head` (it knows the previous, current and next epoch's committees), the first
    /// slot of the next epoch, the epoch's first slot, then the post-states of the blocks read.
    async fn duties(
        &self,
        epoch: u64,
        spe: u64,
        indices: &[u64],
        blocks: &[BlockSeen],
    ) -> Result<(String, std::collections::BTreeMap<u64, inclusion::Duty>), String> {
        let label = &self.beacon.label;
        let mut states = vec![
            "head".to_string(),
            ((epoch + 1) * spe).to_string(),
            (epoch * spe).to_string(),
        ];
        states.extend(
            blocks
                .iter()
                .filter(|b| b.slot < (epoch + 2) * spe && !b.state_root.is_empty())
                .map(|b| b.state_root.clone()),
        );
        let mut last = String::new();
        for state in states.iter().take(8) {
            let path = inclusion::committees_path(state, epoch);
            let r = self.req("GET", &path, None).await?;
            if r.status != 200 {
                last = format!(
                    "GET {path} answered {}: {}",
                    r.status,
                    nodeherd_core::keymanager::types::error_message(&r.body)
                );
                continue;
            }
            let d = inclusion::parse_duties(&r.text(), epoch, spe, indices)
                .map_err(|e| format!("{label}: GET {path}: {e}"))?;
            return Ok((path, d));
        }
        Err(format!(
            "{label}: no state answered the committees of epoch {epoch} (last: {last})"
        ))
    }
}
