//! A validator key as the beacon chain sees it: its index, its status and the type of its
//! withdrawal credentials, decoded from the Beacon API's `/eth/v1/beacon/states/{state}/validators`
//! answer (the list form `{"data":[...]}` and the single form `{"data":{...}}` alike).
//!
//! Owns: that decoding and the naming of withdrawal credential types (0x00 BLS, 0x01 execution
//! address, 0x02 compounding, EIP-7251). May not touch: the network (the engine asks the node
//! through the SSH session), the Keymanager API's own types.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::types::normalize_pubkey;

/// What the chain says of one validator key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnChain {
    /// The validator index (a decimal string, as the Beacon API gives it).
    pub index: String,
    /// The Beacon API status: `pending_initialized`, `active_ongoing`, `exited_unslashed`, ...
    pub status: String,
    /// The withdrawal credentials' prefix and what it means (`0x01 execution`).
    pub withdrawal: String,
    pub slashed: bool,
}

/// The Beacon API's limit on ids in one validators query (`maxItems` in the spec).
pub const MAX_IDS: usize = 30;

/// The request paths that ask the head state for `ids` (pubkeys or indices): the ids as
/// repeated `id=` parameters (the spec's form; Lodestar 1.5 does not split a comma list and
/// answers an empty list to one), at most [`MAX_IDS`] a request.
pub fn validators_paths(ids: &[&str]) -> Vec<String> {
    ids.chunks(MAX_IDS)
        .map(|chunk| {
            let query: Vec<String> = chunk.iter().map(|id| format!("id={id}")).collect();
            format!("/eth/v1/beacon/states/head/validators?{}", query.join("&"))
        })
        .collect()
}

/// The type a withdrawal credential's first byte names (`0x00...`: 32 bytes, hex).
pub fn withdrawal_type(credentials: &str) -> String {
    let hex = credentials.strip_prefix("0x").unwrap_or(credentials);
    match hex.get(..2) {
        Some("00") => "0x00 BLS".into(),
        Some("01") => "0x01 execution".into(),
        Some("02") => "0x02 compounding".into(),
        Some(p) if p.bytes().all(|b| b.is_ascii_hexdigit()) => format!("0x{p} unknown"),
        _ => "unreadable".into(),
    }
}

/// Validators of the answer by normalized pubkey; keys the chain does not know are absent.
/// `Err` when the body is not such an answer (the text says what it lacks).
pub fn parse_validators(body: &str) -> Result<BTreeMap<String, OnChain>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let entries: Vec<&Value> = match &v["data"] {
        Value::Array(a) => a.iter().collect(),
        o @ Value::Object(_) => vec![o],
        _ => return Err("no \"data\" in the validators answer".into()),
    };
    let mut out = BTreeMap::new();
    for e in entries {
        let val = &e["validator"];
        let (Some(pk), Some(index), Some(status)) = (
            val["pubkey"].as_str().and_then(normalize_pubkey),
            e["index"].as_str(),
            e["status"].as_str(),
        ) else {
            return Err("a validator entry lacks its pubkey, index or status".into());
        };
        out.insert(
            pk,
            OnChain {
                index: index.to_string(),
                status: status.to_string(),
                withdrawal: withdrawal_type(val["withdrawal_credentials"].as_str().unwrap_or("")),
                slashed: val["slashed"].as_bool().unwrap_or(false),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real answer of Lodestar 1.5.1 (lab dev chain, interop key 2), single form.
    const LODESTAR_ONE: &str = include_str!(
        "../../../../tests/fixtures/beacon/lodestar-1.5.1-beacon_states_head_validators_2.json"
    );

    #[test]
    fn lodestar_single_answer() {
        let m = parse_validators(LODESTAR_ONE).expect("parses");
        let (pk, v) = m.iter().next().expect("one");
        assert!(pk.starts_with("0xa3a32b0f"), "{pk}");
        assert_eq!(v.index, "2");
        assert_eq!(v.status, "active_ongoing");
        assert_eq!(v.withdrawal, "0x00 BLS");
        assert!(!v.slashed);
    }

    #[test]
    fn list_answer_and_types() {
        // The list form wraps the same entries; built from the real one with its prefix changed.
        let one: Value = serde_json::from_str(LODESTAR_ONE).expect("json");
        let mut e2 = one["data"].clone();
        e2["index"] = "7".into();
        e2["status"] = "exited_unslashed".into();
        e2["validator"]["pubkey"] = format!("0x{}", "ab".repeat(48)).into();
        e2["validator"]["withdrawal_credentials"] = format!("0x01{}", "00".repeat(31)).into();
        let body = serde_json::json!({"data": [one["data"].clone(), e2]}).to_string();
        let m = parse_validators(&body).expect("parses");
        assert_eq!(m.len(), 2);
        let v = &m[&format!("0x{}", "ab".repeat(48))];
        assert_eq!(
            (v.index.as_str(), v.status.as_str()),
            ("7", "exited_unslashed")
        );
        assert_eq!(v.withdrawal, "0x01 execution");
        assert_eq!(withdrawal_type("0x02aa"), "0x02 compounding");
        assert_eq!(withdrawal_type("0x07aa"), "0x07 unknown");
        assert_eq!(withdrawal_type(""), "unreadable");
    }

    #[test]
    fn repeated_ids_at_most_30_a_request() {
        assert_eq!(
            validators_paths(&["0xaa", "7"]),
            ["/eth/v1/beacon/states/head/validators?id=0xaa&id=7"]
        );
        let many: Vec<String> = (0..65).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let paths = validators_paths(&refs);
        assert_eq!(paths.len(), 3);
        assert_eq!(paths[0].matches("id=").count(), 30);
        assert!(
            paths[2].ends_with("?id=60&id=61&id=62&id=63&id=64"),
            "{}",
            paths[2]
        );
        assert!(validators_paths(&[]).is_empty());
    }

    #[test]
    fn not_an_answer() {
        assert!(parse_validators("{\"code\":404}").is_err());
        assert!(parse_validators("<html>").is_err());
        assert!(parse_validators("{\"data\":[{\"index\":\"1\"}]}").is_err());
        assert_eq!(parse_validators("{\"data\":[]}").map(|m| m.len()), Ok(0));
    }
}
