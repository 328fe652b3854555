//! A Cosmos validator's standing: its addresses (bech32: the operator `cosmosvaloper1...`, the
//! account that votes `cosmos1...`, the consensus `cosmosvalcons1...` of its key), and the REST
//! answers the alert rules read: the staking validator (jailed), its signing info (missed blocks,
//! tombstoned), the slashing window, the proposals in their voting period and whether it voted.
//!
//! Owns: bech32 (BIP-173) and those parsers. May not touch: I/O.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GEN: [u32; 5] = [
    0x3b6a_57b2,
    0x2650_8e6d,
    0x1ea1_19fa,
    0x3d42_33dd,
    0x2a14_62b3,
];

fn polymod(values: &[u8]) -> u32 {
    let mut chk: u32 = 1;
    for v in values {
        let b = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(*v);
        for (i, g) in GEN.iter().enumerate() {
            if (b >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn hrp_expand(hrp: &str) -> Vec<u8> {
    let mut v: Vec<u8> = hrp.bytes().map(|b| b >> 5).collect();
    v.push(0);
    v.extend(hrp.bytes().map(|b| b & 31));
    v
}

fn convert(data: &[u8], from: u32, to: u32, pad: bool) -> Option<Vec<u8>> {
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut out = Vec::new();
    let max = (1u32 << to) - 1;
    for d in data {
        if u32::from(*d) >> from != 0 {
            return None;
        }
        acc = (acc << from) | u32::from(*d);
        bits += from;
        while bits >= to {
            bits -= to;
            out.push(u8::try_from((acc >> bits) & max).ok()?);
        }
    }
    if pad {
        if bits > 0 {
            out.push(u8::try_from((acc << (to - bits)) & max).ok()?);
        }
    } else if bits >= from || (acc << (to - bits)) & max != 0 {
        return None;
    }
    Some(out)
}

/// Decode a bech32 string into its human-readable part and its bytes (checksum verified).
pub fn decode(s: &str) -> Option<(String, Vec<u8>)> {
    if s.len() > 200 || (s.to_lowercase() != s && s.to_uppercase() != s) {
        return None;
    }
    let s = s.to_lowercase();
    let pos = s.rfind('1')?;
    if pos == 0 || pos + 7 > s.len() {
        return None;
    }
    let hrp = &s[..pos];
    let mut data = Vec::new();
    for c in s[pos + 1..].bytes() {
        data.push(u8::try_from(CHARSET.iter().position(|x| *x == c)?).ok()?);
    }
    let mut chk = hrp_expand(hrp);
    chk.extend(&data);
    if polymod(&chk) != 1 {
        return None;
    }
    let payload = &data[..data.len() - 6];
    Some((hrp.to_string(), convert(payload, 5, 8, false)?))
}

/// Encode bytes with a human-readable part.
pub fn encode(hrp: &str, bytes: &[u8]) -> String {
    let data = convert(bytes, 8, 5, true).unwrap_or_default();
    let mut v = hrp_expand(hrp);
    v.extend(&data);
    v.extend([0u8; 6]);
    let m = polymod(&v) ^ 1;
    let mut out = format!("{hrp}1");
    for d in &data {
        out.push(char::from(CHARSET[usize::from(*d)]));
    }
    for i in 0..6 {
        let idx = usize::try_from((m >> (5 * (5 - i))) & 31).unwrap_or(0);
        out.push(char::from(CHARSET[idx]));
    }
    out
}

/// The account address that votes for operator `valoper` (`cosmosvaloper1...` -> `cosmos1...`).
pub fn account_of(valoper: &str) -> Option<String> {
    let (hrp, bytes) = decode(valoper)?;
    Some(encode(hrp.strip_suffix("valoper")?, &bytes))
}

/// The consensus address of operator `valoper`'s Ed25519 key (base64, as the staking API gives
/// it): the first 20 bytes of its SHA-256 under the `...valcons` prefix.
pub fn valcons_of(valoper: &str, pubkey_b64: &str) -> Option<String> {
    use base64::Engine as _;
    let (hrp, _) = decode(valoper)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(pubkey_b64.trim())
        .ok()?;
    let addr = &Sha256::digest(&key)[..20];
    Some(encode(
        &format!("{}valcons", hrp.strip_suffix("valoper")?),
        addr,
    ))
}

fn json(body: &str) -> Option<Value> {
    serde_json::from_str(body).ok()
}

fn int(v: &Value) -> Option<u64> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
}

/// `/cosmos/staking/v1beta1/validators/{valoper}`: (jailed, consensus key base64).
pub fn parse_validator(body: &str) -> Option<(bool, String)> {
    let v = json(body)?;
    let val = v.get("validator")?;
    Some((
        val.get("jailed")?.as_bool()?,
        val.pointer("/consensus_pubkey/key")?.as_str()?.to_string(),
    ))
}

/// `/cosmos/slashing/v1beta1/signing_infos/{valcons}`: (missed blocks in the window, tombstoned).
pub fn parse_signing_info(body: &str) -> Option<(u64, bool)> {
    let v = json(body)?;
    let i = v.get("val_signing_info")?;
    Some((
        int(i.get("missed_blocks_counter")?)?,
        i.get("tombstoned")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    ))
}

/// `/cosmos/slashing/v1beta1/params`: `signed_blocks_window`.
pub fn parse_window(body: &str) -> Option<u64> {
    int(json(body)?.pointer("/params/signed_blocks_window")?).filter(|w| *w > 0)
}

/// A proposal in its voting period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Proposal {
    pub id: u64,
    pub title: String,
    pub voting_end: DateTime<Utc>,
}

/// The first page of the proposals in their voting period (`PROPOSAL_STATUS_VOTING_PERIOD`).
pub const VOTING_PROPOSALS: &str = "/cosmos/gov/v1/proposals?proposal_status=2";

/// The path of the page after the one whose `pagination.next_key` was `next_key` (base64,
/// percent-encoded into the query: it holds `+`, `/` and `=`).
pub fn voting_page_path(next_key: &str) -> String {
    let mut q = String::new();
    for b in next_key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            q.push(char::from(b));
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{VOTING_PROPOSALS}&pagination.key={q}")
}

/// `/cosmos/gov/v1/proposals?proposal_status=2` (`PROPOSAL_STATUS_VOTING_PERIOD`): the
/// proposals of one page.
pub fn parse_voting(body: &str) -> Option<Vec<Proposal>> {
    parse_voting_page(body).map(|(p, _)| p)
}

/// One page of the proposals in their voting period and the key of the next page
/// (`pagination.next_key`; none when it is null or empty: the last page).
pub fn parse_voting_page(body: &str) -> Option<(Vec<Proposal>, Option<String>)> {
    let v = json(body)?;
    let next = v
        .pointer("/pagination/next_key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let list = v.get("proposals")?.as_array()?;
    let props = list
        .iter()
        .filter_map(|p| {
            Some(Proposal {
                id: int(p.get("id")?)?,
                title: crate::text::sanitize(p.get("title").and_then(Value::as_str).unwrap_or("")),
                voting_end: DateTime::parse_from_rfc3339(p.get("voting_end_time")?.as_str()?)
                    .ok()?
                    .with_timezone(&Utc),
            })
        })
        .collect();
    Some((props, next))
}

/// `/cosmos/gov/v1/proposals/{id}/votes/{voter}` (status, body): voted (a `vote`), not voted (a
/// not-found error), or unknown.
pub fn parse_voted(status: u16, body: &str) -> Option<bool> {
    let v = json(body)?;
    if status == 200 && v.get("vote").is_some_and(|x| !x.is_null()) {
        return Some(true);
    }
    let code = v.get("code").and_then(Value::as_u64);
    let msg = v.get("message").and_then(Value::as_str).unwrap_or("");
    // gRPC NotFound (5), or InvalidArgument (3) with "not found" as older SDKs answer
    (code == Some(5) || msg.contains("not found")).then_some(false)
}

/// `proposal #12 "Title" ends 2026-01-01T00:00:00Z (in 20h)`.
pub fn describe(p: &Proposal, now: DateTime<Utc>) -> String {
    let left = (p.voting_end - now).num_minutes().max(0);
    format!(
        "proposal #{} \"{}\" ends {} (in {}h {}m), not voted",
        p.id,
        p.title,
        p.voting_end.format("%Y-%m-%dT%H:%M:%SZ"),
        left / 60,
        left % 60
    )
}
