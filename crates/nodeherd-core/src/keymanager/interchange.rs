//! EIP-3076 slashing protection interchange (format version 5): parsing, checking, pubkeys.
//! Pure. Kept as the original text too: nodeherd saves and forwards exactly what the client gave.
//!
//! May not touch: files or the network (callers read or send the text).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Interchange {
    pub metadata: Metadata,
    pub data: Vec<ValidatorRecord>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Metadata {
    pub interchange_format_version: String,
    pub genesis_validators_root: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ValidatorRecord {
    pub pubkey: String,
    #[serde(default)]
    pub signed_blocks: Vec<SignedBlock>,
    #[serde(default)]
    pub signed_attestations: Vec<SignedAttestation>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SignedBlock {
    pub slot: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_root: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SignedAttestation {
    pub source_epoch: String,
    pub target_epoch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_root: Option<String>,
}

/// Why a text is not a valid EIP-3076 interchange (version 5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterchangeError {
    /// Not JSON of the interchange's shape (the serde message).
    #[error("not EIP-3076 JSON: {0}")]
    NotJson(String),
    #[error("interchange_format_version {0:?} is not \"5\"")]
    Version(String),
    #[error("genesis_validators_root {0:?} is not 32 bytes of hex")]
    Root(String),
    #[error("pubkey {0:?} is not 48 bytes of hex")]
    Pubkey(String),
    #[error("block slot {0:?} is not a decimal string")]
    Slot(String),
    #[error("attestation epochs {0:?}/{1:?} are not decimal strings")]
    Epochs(String, String),
}

impl Interchange {
    /// Parses and checks: version "5", a 32-byte root, 48-byte pubkeys, decimal integers.
    pub fn parse(text: &str) -> Result<Interchange, InterchangeError> {
        let i: Interchange =
            serde_json::from_str(text).map_err(|e| InterchangeError::NotJson(e.to_string()))?;
        if i.metadata.interchange_format_version != "5" {
            return Err(InterchangeError::Version(
                i.metadata.interchange_format_version.clone(),
            ));
        }
        let root = &i.metadata.genesis_validators_root;
        if !(root.len() == 66
            && root.starts_with("0x")
            && root[2..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(InterchangeError::Root(root.clone()));
        }
        let dec = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        for r in &i.data {
            if crate::keymanager::types::normalize_pubkey(&r.pubkey).is_none() {
                return Err(InterchangeError::Pubkey(r.pubkey.clone()));
            }
            for b in &r.signed_blocks {
                if !dec(&b.slot) {
                    return Err(InterchangeError::Slot(b.slot.clone()));
                }
            }
            for a in &r.signed_attestations {
                if !dec(&a.source_epoch) || !dec(&a.target_epoch) {
                    return Err(InterchangeError::Epochs(
                        a.source_epoch.clone(),
                        a.target_epoch.clone(),
                    ));
                }
            }
        }
        Ok(i)
    }

    /// The pubkeys it covers (normalised).
    pub fn pubkeys(&self) -> Vec<String> {
        self.data
            .iter()
            .filter_map(|r| crate::keymanager::types::normalize_pubkey(&r.pubkey))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let pk = format!("0x{}", "a1".repeat(48));
        let root = format!("0x{}", "00".repeat(32));
        let ok = format!(
            r#"{{"metadata":{{"interchange_format_version":"5","genesis_validators_root":"{root}"}},"data":[{{"pubkey":"{pk}","signed_blocks":[{{"slot":"81952"}}],"signed_attestations":[{{"source_epoch":"2290","target_epoch":"3007"}}]}}]}}"#
        );
        let i = Interchange::parse(&ok).unwrap();
        assert_eq!(i.pubkeys(), vec![pk.clone()]);
        assert!(Interchange::parse(&ok.replace("\"5\"", "\"4\"")).is_err());
        assert!(Interchange::parse(&ok.replace("\"81952\"", "81952")).is_err());
        assert!(Interchange::parse(&ok.replace(&root, "0x00")).is_err());
        assert!(Interchange::parse("[]").is_err());
    }
}
