//! Who signs on a CometBFT chain: the signatures of a block's commit (`/commit?height=H`), the
//! node's own validator (`/status` `validator_info`) and chain id (`node_info.network`), and the
//! validator set (`/validators`). A failover's quiet proof and its check that the target signs
//! are read from these answers.
//!
//! Owns: those parsers (pure). May not touch: I/O (the engine sends the requests).

use serde_json::Value;

/// The signatures of one block's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub height: u64,
    /// Upper-case hex addresses of every validator whose signature is in the commit
    /// (`block_id_flag` 2, a vote for the block, or 3, a vote for nil: both were signed).
    pub signers: Vec<String>,
}

impl Commit {
    /// Whether `address` (hex, any case) signed this commit.
    pub fn signed_by(&self, address: &str) -> bool {
        self.signers.iter().any(|s| s.eq_ignore_ascii_case(address))
    }
}

/// What a node's `/status` says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSelf {
    /// `node_info.network`: the chain id.
    pub chain_id: String,
    /// `validator_info.address`, upper-case: the key this node signs with (a full node has one
    /// too, outside the validator set).
    pub address: String,
    /// `validator_info.voting_power`: 0 unless the node's key is in the validator set.
    pub voting_power: u64,
    pub height: u64,
    pub catching_up: bool,
}

fn json(body: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(body).map_err(|_| "not JSON".to_string())?;
    if let Some(e) = v.get("error") {
        let msg = e
            .get("data")
            .or_else(|| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("an error");
        return Err(format!("the RPC answered an error: {}", short(msg)));
    }
    Ok(v.get("result").cloned().unwrap_or(v))
}

fn short(s: &str) -> String {
    crate::text::sanitize(&s.chars().take(160).collect::<String>())
}

fn int(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
}

fn hex_address(s: &str) -> Option<String> {
    (s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_uppercase())
}

/// CometBFT RPC `/commit?height=H` (with or without the JSON-RPC envelope).
pub fn parse_commit(body: &str) -> Result<Commit, String> {
    let r = json(body)?;
    let c = r
        .pointer("/signed_header/commit")
        .ok_or("no signed_header.commit")?;
    let height = int(c.get("height")).ok_or("no commit height")?;
    let sigs = c
        .get("signatures")
        .and_then(Value::as_array)
        .ok_or("no commit signatures")?;
    let mut signers = Vec::new();
    for s in sigs {
        let flag = s
            .get("block_id_flag")
            .and_then(Value::as_u64)
            .ok_or("a signature without block_id_flag")?;
        if flag == 2 || flag == 3 {
            let a = s
                .get("validator_address")
                .and_then(Value::as_str)
                .and_then(hex_address)
                .ok_or("a signature without a 20-byte validator_address")?;
            signers.push(a);
        }
    }
    Ok(Commit { height, signers })
}

/// CometBFT RPC `/status`: the chain id, the node's own validator address and power, its head.
pub fn parse_node_self(body: &str) -> Result<NodeSelf, String> {
    let r = json(body)?;
    let chain_id = r
        .pointer("/node_info/network")
        .and_then(Value::as_str)
        .ok_or("no node_info.network")?
        .to_string();
    let vi = r.get("validator_info").ok_or("no validator_info")?;
    let address = vi
        .get("address")
        .and_then(Value::as_str)
        .and_then(hex_address)
        .ok_or("validator_info.address is not 20 bytes of hex")?;
    let voting_power = int(vi.get("voting_power")).ok_or("no validator_info.voting_power")?;
    let s = r.get("sync_info").ok_or("no sync_info")?;
    Ok(NodeSelf {
        chain_id,
        address,
        voting_power,
        height: int(s.get("latest_block_height")).ok_or("no latest_block_height")?,
        catching_up: s
            .get("catching_up")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// CometBFT RPC `/validators` (one page): (address, voting power) of each validator.
pub fn parse_validators(body: &str) -> Result<Vec<(String, u64)>, String> {
    let r = json(body)?;
    r.get("validators")
        .and_then(Value::as_array)
        .ok_or("no validators")?
        .iter()
        .map(|v| {
            let a = v
                .get("address")
                .and_then(Value::as_str)
                .and_then(hex_address)
                .ok_or("a validator without a 20-byte address")?;
            let p = int(v.get("voting_power")).ok_or("a validator without voting_power")?;
            Ok((a, p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("tests/fixtures/cosmos")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn commit_signers_are_the_commit_and_nil_votes() {
        let c = parse_commit(&fixture("commit.json")).unwrap();
        assert_eq!(c.height, 20739651);
        assert_eq!(
            c.signers,
            vec![
                "000001E443FD237E4B616E2FA69DF4EE3D49A94F",
                "B00A6323737F321EB0B8D59C6FD497A14B60938A",
                "E74FBE24164CFC4F88E311C3AC92E63D0DC310D8"
            ]
        );
        assert!(c.signed_by("e74fbe24164cfc4f88e311c3ac92e63d0dc310d8"));
        assert!(!c.signed_by("E74FBE24164CFC4F88E311C3AC92E63D0DC310D9"));
    }

    #[test]
    fn bad_commits_are_errors_never_an_empty_commit() {
        for bad in [
            "",
            "{}",
            r#"{"result":{"signed_header":{"commit":{"height":"5"}}}}"#,
            r#"{"result":{"signed_header":{"commit":{"height":"5","signatures":[{"validator_address":"E74FBE24164CFC4F88E311C3AC92E63D0DC310D8"}]}}}}"#,
            r#"{"result":{"signed_header":{"commit":{"height":"5","signatures":[{"block_id_flag":2,"validator_address":"E74F"}]}}}}"#,
        ] {
            assert!(parse_commit(bad).is_err(), "accepted {bad:?}");
        }
        let e = parse_commit(r#"{"jsonrpc":"2.0","id":-1,"error":{"code":-32603,"message":"Internal error","data":"height 9 must be less than or equal to the current blockchain height 8"}}"#).unwrap_err();
        assert!(e.contains("height 9 must be less"), "{e}");
    }

    #[test]
    fn status_says_the_chain_and_the_nodes_own_key() {
        let s = parse_node_self(&fixture("status.json")).unwrap();
        assert_eq!(s.chain_id, "cosmoshub-4");
        assert_eq!(s.address, "E74FBE24164CFC4F88E311C3AC92E63D0DC310D8");
        assert_eq!(s.voting_power, 0);
        assert_eq!(s.height, 20739650);
        assert!(!s.catching_up);
        assert!(parse_node_self(r#"{"result":{"node_info":{"network":"x"}}}"#).is_err());
    }

    #[test]
    fn validator_set() {
        let v = parse_validators(&fixture("validators.json")).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[1],
            ("E74FBE24164CFC4F88E311C3AC92E63D0DC310D8".to_string(), 10)
        );
        assert!(parse_validators(r#"{"result":{}}"#).is_err());
    }
}
