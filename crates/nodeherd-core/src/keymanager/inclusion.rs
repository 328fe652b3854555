//! Proving a validator went quiet from the chain itself, for beacon nodes that serve no liveness
//! endpoint: the validator's attestation duty in epoch `e` (its committee, from
//! `GET /eth/v1/beacon/states/{state}/committees?epoch=e`) and the attestations packed into the
//! blocks that can include it (`GET /eth/v2/beacon/blocks/{slot}`): its bit set in the
//! `aggregation_bits` of an attestation for its committee and slot means it attested (live); a
//! block of epoch `e` it proposed means live too.
//!
//! Owns: the request paths, the decoding of committees and blocks (SSZ bitlists in hex), which
//! slots must be read, and the pure decision. May not touch: the network, the clock, files.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use serde_json::Value;

/// `GET /eth/v1/beacon/states/{state}/committees?epoch={epoch}`.
pub fn committees_path(state: &str, epoch: u64) -> String {
    format!("/eth/v1/beacon/states/{state}/committees?epoch={epoch}")
}

/// `GET /eth/v2/beacon/blocks/{slot}`.
pub fn block_path(slot: u64) -> String {
    format!("/eth/v2/beacon/blocks/{slot}")
}

/// The slots whose blocks decide epoch `epoch`: the epoch's own (proposals, and attestations
/// included one slot later at the earliest) through the last slot that can still include an
/// attestation of its last slot (`slot + SLOTS_PER_EPOCH`, phase0's inclusion window).
pub fn slots_to_read(epoch: u64, slots_per_epoch: u64) -> RangeInclusive<u64> {
    let s = slots_per_epoch.max(1);
    epoch * s..=(epoch + 2) * s - 1
}

/// A validator's attestation duty in one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duty {
    pub slot: u64,
    /// The committee index within the slot.
    pub committee: u64,
    /// The validator's position in the committee (its bit in `aggregation_bits`).
    pub position: usize,
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// The duties of `indices` from a committees answer
/// (`{"data":[{"index":"0","slot":"8","validators":["3","1"]}, ...]}`). Every committee must
/// lie in `epoch` (slots `epoch*S .. epoch*S+S-1`), except Lodestar 1.5's form, which swaps the
/// two fields: `index` is the slot within the epoch and `slot` the committee index (recognised
/// when, for an epoch after 0, every `slot` lies before the epoch and the `index` values are
/// exactly the slots 0..S-1 of the epoch;
/// captured: `tests/fixtures/beacon/lodestar-1.5.1-inclusion-committees-*`). An index in no
/// committee has no duty (not active) and is absent from the map.
pub fn parse_duties(
    body: &str,
    epoch: u64,
    slots_per_epoch: u64,
    indices: &[u64],
) -> Result<BTreeMap<u64, Duty>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Array(committees) = &v["data"] else {
        return Err("no \"data\" list in the committees answer".into());
    };
    let first = epoch * slots_per_epoch;
    let mut rows = Vec::new();
    for c in committees {
        let (Some(committee), Some(slot), Value::Array(members)) =
            (as_u64(&c["index"]), as_u64(&c["slot"]), &c["validators"])
        else {
            return Err(format!(
                "a committee lacks a decimal index, slot or validators list: {c}"
            ));
        };
        rows.push((committee, slot, members));
    }
    let in_epoch = |s: u64| s >= first && s < first + slots_per_epoch;
    // Lodestar 1.5's form: every slot of the epoch appears as an `index`, every `slot` lies
    // before the epoch.
    let swapped = !rows.iter().all(|r| in_epoch(r.1))
        && epoch > 0
        && rows.iter().all(|r| r.1 < first && r.0 < slots_per_epoch)
        && (0..slots_per_epoch).all(|i| rows.iter().any(|r| r.0 == i));
    let mut out = BTreeMap::new();
    for (committee, slot, members) in rows {
        let (committee, slot) = if swapped {
            (slot, first + committee)
        } else {
            (committee, slot)
        };
        if !in_epoch(slot) {
            return Err(format!(
                "asked for the committees of epoch {epoch}, got one of slot {slot}"
            ));
        }
        for (position, m) in members.iter().enumerate() {
            let Some(index) = as_u64(m) else {
                return Err(format!("a committee member is not a decimal index: {m}"));
            };
            if indices.contains(&index) {
                out.insert(
                    index,
                    Duty {
                        slot,
                        committee,
                        position,
                    },
                );
            }
        }
    }
    Ok(out)
}

/// One attestation packed into a block: for which slot and committee, and whose bits are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    pub slot: u64,
    pub committee: u64,
    pub bits: Vec<bool>,
}

/// What a block says for the decision: its slot, its proposer, its attestations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSeen {
    pub slot: u64,
    pub proposer: u64,
    /// The block's post-state root (a state id the committees can be asked of).
    pub state_root: String,
    pub attestations: Vec<Packed>,
}

/// An SSZ `Bitlist` in hex (`0x..`): little-endian bits, the highest set bit of the last byte
/// marks the length and is not a member.
pub fn decode_bitlist(hex: &str) -> Result<Vec<bool>, String> {
    let h = hex.strip_prefix("0x").unwrap_or(hex);
    if h.is_empty() || h.len() % 2 != 0 {
        return Err(format!("not a hex bitlist: {hex:?}"));
    }
    let bytes: Vec<u8> = (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("not a hex bitlist: {hex:?}"))?;
    let last = *bytes.last().unwrap_or(&0);
    if last == 0 {
        return Err(format!("a bitlist without its length bit: {hex:?}"));
    }
    let len = (bytes.len() - 1) * 8 + (7 - last.leading_zeros() as usize);
    Ok((0..len).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
}

/// A `GET /eth/v2/beacon/blocks/{slot}` answer (any fork: the fields read are phase0's).
pub fn parse_block(body: &str) -> Result<BlockSeen, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let m = &v["data"]["message"];
    let (Some(slot), Some(proposer)) = (as_u64(&m["slot"]), as_u64(&m["proposer_index"])) else {
        return Err("a block answer without a decimal slot and proposer_index".into());
    };
    let Value::Array(atts) = &m["body"]["attestations"] else {
        return Err(format!("block {slot}: no attestations list"));
    };
    let attestations = atts
        .iter()
        .map(|a| {
            let d = &a["data"];
            match (
                as_u64(&d["slot"]),
                as_u64(&d["index"]),
                a["aggregation_bits"].as_str(),
            ) {
                (Some(slot), Some(committee), Some(bits)) => Ok(Packed {
                    slot,
                    committee,
                    bits: decode_bitlist(bits)?,
                }),
                _ => Err(format!(
                    "block {slot}: an attestation without slot, index or bits"
                )),
            }
        })
        .collect::<Result<_, String>>()?;
    Ok(BlockSeen {
        slot,
        proposer,
        state_root: m["state_root"].as_str().unwrap_or_default().to_string(),
        attestations,
    })
}

/// The verdict on one validator in one epoch, with what it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub index: u64,
    pub live: bool,
    /// "attested for slot 42 committee 0 (bit 3), included in block 43", or why not live.
    pub evidence: String,
}

/// Judge `indices` in `epoch` from their duties and the blocks of [`slots_to_read`] the chain
/// has (`blocks`; empty slots are simply absent). Live: the validator's attestation for its
/// duty is included in one of them, or it proposed one of the epoch's blocks.
pub fn judge(
    epoch: u64,
    slots_per_epoch: u64,
    indices: &[u64],
    duties: &BTreeMap<u64, Duty>,
    blocks: &[BlockSeen],
) -> Vec<Verdict> {
    let epoch_slots = epoch * slots_per_epoch..(epoch + 1) * slots_per_epoch;
    let range = slots_to_read(epoch, slots_per_epoch);
    let read: Vec<&BlockSeen> = blocks.iter().filter(|b| range.contains(&b.slot)).collect();
    indices
        .iter()
        .map(|&index| {
            if let Some(b) = read
                .iter()
                .find(|b| b.proposer == index && epoch_slots.contains(&b.slot))
            {
                return Verdict {
                    index,
                    live: true,
                    evidence: format!("proposed block {}", b.slot),
                };
            }
            let Some(d) = duties.get(&index) else {
                return Verdict {
                    index,
                    live: false,
                    evidence: format!("in no committee of epoch {epoch} (not active)"),
                };
            };
            let hit = read.iter().find(|b| {
                b.attestations.iter().any(|a| {
                    a.slot == d.slot
                        && a.committee == d.committee
                        && a.bits.get(d.position).copied() == Some(true)
                })
            });
            match hit {
                Some(b) => Verdict {
                    index,
                    live: true,
                    evidence: format!(
                        "attested for slot {} committee {} (bit {}), included in block {}",
                        d.slot, d.committee, d.position, b.slot
                    ),
                },
                None => Verdict {
                    index,
                    live: false,
                    evidence: format!(
                        "its attestation for slot {} committee {} (bit {}) is in none of the {} blocks of slots {}..={}",
                        d.slot,
                        d.committee,
                        d.position,
                        read.len(),
                        range.start(),
                        range.end()
                    ),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = format!(
            "{}/../../tests/fixtures/beacon/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn the_lab_lodestar_answers_judge_validator_7_live_in_epoch_3() {
        // Captured in the lab (tests/fixtures/beacon/README.md): Lodestar 1.5.1's swapped
        // committees, validator 7 attests in slot 26 and is included in block 27.
        let c = fixture("lodestar-1.5.1-inclusion-committees-epoch3-state32.json");
        let d = parse_duties(&c, 3, 8, &[7, 3]).unwrap();
        assert_eq!(
            d.get(&7),
            Some(&Duty {
                slot: 26,
                committee: 0,
                position: 0
            })
        );
        assert_eq!(d.get(&3).map(|x| x.slot), Some(24));
        let b27 = parse_block(&fixture("lodestar-1.5.1-inclusion-block-27.json")).unwrap();
        assert_eq!((b27.slot, b27.proposer), (27, 3));
        assert_eq!(
            b27.attestations,
            vec![Packed {
                slot: 26,
                committee: 0,
                bits: vec![true]
            }]
        );
        let b36 = parse_block(&fixture("lodestar-1.5.1-inclusion-block-36.json")).unwrap();
        let v = judge(3, 8, &[7, 3], &d, &[b27.clone(), b36.clone()]);
        assert!(v[0].live, "{v:?}");
        assert_eq!(
            v[0].evidence,
            "attested for slot 26 committee 0 (bit 0), included in block 27"
        );
        // Validator 3 proposed block 27 (its slot-24 attestation is in block 25, not read).
        assert!(v[1].live, "{v:?}");
        assert_eq!(v[1].evidence, "proposed block 27");
        let v = judge(3, 8, &[3], &d, std::slice::from_ref(&b36));
        assert!(
            !v[0].live
                && v[0]
                    .evidence
                    .contains("none of the 1 blocks of slots 24..=39"),
            "{v:?}"
        );
        // Without block 27, validator 7 is not live in epoch 3; its proposal of block 36 counts
        // for epoch 4 only.
        assert!(!judge(3, 8, &[7], &d, std::slice::from_ref(&b36))[0].live);
        // The same committees asked about another epoch are refused, not reinterpreted.
        assert!(
            parse_duties(&c, 0, 8, &[7]).is_ok(),
            "epoch 0: the spec reading"
        );
        assert!(
            parse_duties(&c, 3, 4, &[7]).is_err(),
            "index 7 is not a slot of a 4-slot epoch"
        );
    }

    #[test]
    fn bitlists() {
        // 0x01: the length bit alone, an empty list; 0x0b = 0b1011: three bits 1,1,0.
        assert_eq!(decode_bitlist("0x01").unwrap(), Vec::<bool>::new());
        assert_eq!(decode_bitlist("0x0b").unwrap(), vec![true, true, false]);
        // 9 bits: 0xff then 0x03 (bit 8 set, length bit at position 9).
        let b = decode_bitlist("0xff03").unwrap();
        assert_eq!(b.len(), 9);
        assert!(b.iter().all(|x| *x));
        assert!(decode_bitlist("0x00").is_err(), "no length bit");
        assert!(decode_bitlist("0x0").is_err());
        assert!(decode_bitlist("0xzz").is_err());
        assert!(decode_bitlist("").is_err());
    }

    #[test]
    fn slots_that_decide_an_epoch() {
        assert_eq!(slots_to_read(5, 8), 40..=55);
        assert_eq!(slots_to_read(0, 32), 0..=63);
        assert_eq!(
            committees_path("head", 5),
            "/eth/v1/beacon/states/head/committees?epoch=5"
        );
        assert_eq!(block_path(41), "/eth/v2/beacon/blocks/41");
    }

    const COMMITTEES: &str = r#"{"execution_optimistic":false,"data":[
        {"index":"0","slot":"40","validators":["3","5"]},
        {"index":"0","slot":"41","validators":["7","0","2"]},
        {"index":"0","slot":"42","validators":["1"]}]}"#;

    fn block(slot: u64, proposer: u64, atts: &[(u64, u64, &str)]) -> String {
        let a: Vec<String> = atts
            .iter()
            .map(|(s, c, bits)| {
                format!(
                    r#"{{"aggregation_bits":"{bits}","data":{{"slot":"{s}","index":"{c}","beacon_block_root":"0x00"}},"signature":"0x00"}}"#
                )
            })
            .collect();
        format!(
            r#"{{"version":"phase0","data":{{"message":{{"slot":"{slot}","proposer_index":"{proposer}","state_root":"0xab","body":{{"attestations":[{}]}}}},"signature":"0x00"}}}}"#,
            a.join(",")
        )
    }

    #[test]
    fn duties_and_blocks_decide() {
        let d = parse_duties(COMMITTEES, 5, 8, &[7, 1, 6]).unwrap();
        assert_eq!(
            d.get(&7),
            Some(&Duty {
                slot: 41,
                committee: 0,
                position: 0
            })
        );
        assert!(!d.contains_key(&6), "in no committee");
        assert!(parse_duties(COMMITTEES, 6, 8, &[7]).is_err(), "wrong epoch");
        assert!(parse_duties(r#"{"data":[{"index":"x"}]}"#, 5, 8, &[7]).is_err());
        assert!(parse_duties("<html>", 5, 8, &[7]).is_err());

        // Validator 7 (bit 0 of slot 41's committee) included in block 43: live. Validator 1
        // (slot 42) never included: not live. Validator 6: no duty.
        let b43 = parse_block(&block(43, 3, &[(41, 0, "0x0d"), (42, 0, "0x02")])).unwrap();
        assert_eq!(b43.attestations[0].bits, vec![true, false, true]);
        let v = judge(5, 8, &[7, 1, 6], &d, std::slice::from_ref(&b43));
        assert!(v[0].live, "{v:?}");
        assert!(v[0].evidence.contains("included in block 43"), "{v:?}");
        assert!(
            !v[1].live && v[1].evidence.contains("none of the 1 blocks"),
            "{v:?}"
        );
        assert!(
            !v[2].live && v[2].evidence.contains("no committee"),
            "{v:?}"
        );

        // Bit 0 clear: validator 7 not included.
        let b = parse_block(&block(43, 3, &[(41, 0, "0x0c")])).unwrap();
        assert!(!judge(5, 8, &[7], &d, &[b])[0].live);
        // The right bit, but for another committee or slot: not its attestation.
        let b = parse_block(&block(43, 3, &[(41, 1, "0x0d"), (40, 0, "0x0d")])).unwrap();
        assert!(!judge(5, 8, &[7], &d, &[b])[0].live);
        // A block outside the slots to read does not count.
        let b = parse_block(&block(56, 3, &[(41, 0, "0x0d")])).unwrap();
        assert!(!judge(5, 8, &[7], &d, &[b])[0].live);
        // Proposing a block of the epoch is live; one of the next epoch is not.
        let b = parse_block(&block(44, 1, &[])).unwrap();
        assert!(judge(5, 8, &[1], &d, &[b])[0].live);
        let b = parse_block(&block(48, 1, &[])).unwrap();
        assert!(!judge(5, 8, &[1], &d, &[b])[0].live);
        assert!(parse_block(r#"{"data":{"message":{"slot":"1"}}}"#).is_err());
        assert!(
            parse_block(&block(43, 3, &[(41, 0, "0x00")])).is_err(),
            "a broken bitlist is an error, never 'not included'"
        );
    }
}
