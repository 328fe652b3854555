//! Typed requests and answers of the Keymanager API (keymanager-oapi.yaml). Pure: serde only.
//! Tested on answers captured from a real Lodestar validator client (tests/fixtures/keymanager/).

use serde::{Deserialize, Serialize};

/// `GET /eth/v1/keystores`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ListKeystores {
    pub data: Vec<KeystoreEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct KeystoreEntry {
    pub validating_pubkey: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derivation_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly: Option<bool>,
}

/// `GET /eth/v1/remotekeys`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ListRemoteKeys {
    pub data: Vec<RemoteKeyEntry>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RemoteKeyEntry {
    pub pubkey: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly: Option<bool>,
}

/// `POST /eth/v1/keystores` body. Holds passwords: built, serialised into a zeroized buffer, dropped.
#[derive(Serialize)]
pub struct ImportKeystores<'a> {
    pub keystores: Vec<&'a str>,
    pub passwords: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slashing_protection: Option<&'a str>,
}

/// Status of one keystore in an import answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Imported,
    Duplicate,
    Error,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ImportResult {
    pub status: ImportStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ImportAnswer {
    pub data: Vec<ImportResult>,
}

/// `DELETE /eth/v1/keystores` body.
#[derive(Debug, Serialize)]
pub struct DeleteKeystores<'a> {
    pub pubkeys: Vec<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteStatus {
    /// Removed; its slashing data is in the answer.
    Deleted,
    /// Not active on this client, but slashing data for it exists and is in the answer.
    NotActive,
    /// Unknown to this client (no slashing data).
    NotFound,
    Error,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct DeleteResult {
    pub status: DeleteStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The DELETE answer: per-key status and the EIP-3076 interchange as a JSON string.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct DeleteAnswer {
    pub data: Vec<DeleteResult>,
    pub slashing_protection: String,
}

/// `GET /eth/v1/validator/{pubkey}/feerecipient`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FeeRecipient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubkey: Option<String>,
    pub ethaddress: String,
}

/// `GET /eth/v1/validator/{pubkey}/graffiti`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Graffiti {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubkey: Option<String>,
    pub graffiti: String,
}

/// `GET /eth/v1/validator/{pubkey}/gas_limit` (a decimal string).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct GasLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubkey: Option<String>,
    pub gas_limit: String,
}

/// `{"data": T}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Data<T> {
    pub data: T,
}

/// `POST /eth/v1/validator/{pubkey}/voluntary_exit` answer: a signed exit, not submitted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SignedVoluntaryExit {
    pub message: VoluntaryExit,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct VoluntaryExit {
    pub epoch: String,
    pub validator_index: String,
}

/// An error body: `{"message": ...}` (spec), Lodestar adds `code`/`error`/`statusCode`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// The message of an error body, or the (shortened) raw body.
pub fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(m), ..
        }) => m,
        Ok(ErrorBody { error: Some(e), .. }) => e,
        _ => String::from_utf8_lossy(body).chars().take(300).collect(),
    }
}

/// A BLS public key as the API spells it: `0x` + 96 lowercase hex digits.
pub fn normalize_pubkey(s: &str) -> Option<String> {
    let hex = s.strip_prefix("0x").unwrap_or(s);
    (hex.len() == 96 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("0x{}", hex.to_ascii_lowercase()))
}

/// An execution address: `0x` + 40 hex digits.
pub fn is_eth_address(s: &str) -> bool {
    s.strip_prefix("0x")
        .is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pubkeys_and_addresses() {
        let pk = format!("0x{}", "Ab".repeat(48));
        assert_eq!(
            normalize_pubkey(&pk),
            Some(format!("0x{}", "ab".repeat(48)))
        );
        assert_eq!(
            normalize_pubkey(&"ab".repeat(48)),
            Some(format!("0x{}", "ab".repeat(48)))
        );
        assert_eq!(normalize_pubkey("0x1234"), None);
        assert!(is_eth_address("0x00000000219ab540356cBB839Cbe05303d7705Fa"));
        assert!(!is_eth_address("00000000219ab540356cBB839Cbe05303d7705Fa"));
    }

    #[test]
    fn error_bodies() {
        assert_eq!(error_message(br#"{"message":"bad pubkey"}"#), "bad pubkey");
        assert_eq!(
            error_message(br#"{"statusCode":401,"error":"Unauthorized"}"#),
            "Unauthorized"
        );
        assert_eq!(error_message(b"plain"), "plain");
    }

    #[test]
    fn import_body_shape() {
        let body = ImportKeystores {
            keystores: vec!["{}"],
            passwords: vec!["pw"],
            slashing_protection: None,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"keystores":["{}"],"passwords":["pw"]}"#
        );
    }
}
