//! Typed requests and answers of the Keymanager API (keymanager-oapi.yaml). Pure: serde only.
//! Tested on answers captured from a real Lodestar validator client (tests/fixtures/keymanager/).
//!
//! May not touch: the network (the transport sends and receives them).

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

/// `POST /eth/v1/remotekeys` body: keys whose signer is a remote signer (Web3Signer) at `url`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportRemoteKeys<'a> {
    pub remote_keys: Vec<RemoteKeyImport<'a>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoteKeyImport<'a> {
    pub pubkey: &'a str,
    pub url: &'a str,
}

/// `DELETE /eth/v1/remotekeys` answer: per-key status only (the remote signer keeps its own
/// slashing protection).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct DeleteRemoteAnswer {
    pub data: Vec<DeleteResult>,
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

/// What an import's per-key error message means, when nodeherd knows: Lodestar refuses a
/// keystore whose lock file exists (`EEXIST: file already exists, open
/// '/var/lib/lodestar-vc2/keystores/0x../voting-keystore.json.lock'`). Returns the message with
/// what it means and what to do (the file, on `host`); `None` for any other message.
pub fn explain_import_message(message: &str, host: &str) -> Option<String> {
    if !message.contains("EEXIST") {
        return None;
    }
    let path = message
        .split('\'')
        .find(|p| p.ends_with(".lock"))
        .or_else(|| {
            message.split_whitespace().find(|w| {
                w.trim_matches(|c| c == ',' || c == '\'' || c == '"')
                    .ends_with(".lock")
            })
        })?
        .trim_matches(|c| c == ',' || c == '\'' || c == '"');
    Some(format!(
        "{message}: the validator client refused the key because the lock file {path} exists on host {host}. Either the client holds it for a key it runs, or an import of this key was interrupted (e.g. a console killed during a move) and left it behind. List the node's keys first: if the key is listed, it is already imported; if not, and no process on {host} holds {path} (`fuser {path}`), delete {path} on {host} and import again"
    ))
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
    fn remote_key_bodies() {
        let b = ImportRemoteKeys {
            remote_keys: vec![RemoteKeyImport {
                pubkey: "0xaa",
                url: "http://10.0.0.5:9000",
            }],
        };
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"remote_keys":[{"pubkey":"0xaa","url":"http://10.0.0.5:9000"}]}"#
        );
        let a: DeleteRemoteAnswer =
            serde_json::from_str(r#"{"data":[{"status":"deleted"},{"status":"not_found"}]}"#)
                .unwrap();
        assert_eq!(a.data[1].status, DeleteStatus::NotFound);
        let i: ImportAnswer = serde_json::from_str(r#"{"data":[{"status":"duplicate"}]}"#).unwrap();
        assert_eq!(i.data[0].status, ImportStatus::Duplicate);
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

#[cfg(test)]
mod captured {
    //! Answers captured from a real Lodestar 1.5.1 (tests/fixtures/keymanager/README.md).
    use super::*;

    fn fixture(name: &str) -> String {
        let p = format!(
            "{}/tests/fixtures/keymanager/{name}",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
        );
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn lodestar_lock_file_refusal_is_explained() {
        // Lodestar 1.5.1's answer to an import whose keystore lock file exists (captured in
        // the lab; tests/fixtures/keymanager/import_lock_eexist.json).
        let a: ImportAnswer =
            serde_json::from_str(&fixture("import_lock_eexist.json")).expect("fixture");
        let m = a.data[0].message.clone().unwrap_or_default();
        let said = explain_import_message(&m, "nhkeys-1").expect("explained");
        let lock = m
            .split('\'')
            .find(|p| p.ends_with(".lock"))
            .expect("the captured message names the lock file");
        assert!(
            lock.starts_with("/var/lib/lodestar-vc2/keystores/0x"),
            "{lock}"
        );
        assert!(
            said.contains(&format!("delete {lock} on nhkeys-1")),
            "{said}"
        );
        assert!(
            said.contains("host nhkeys-1") && said.contains("List the node's keys"),
            "{said}"
        );
        assert!(
            said.starts_with(&m),
            "the client's own words come first: {said}"
        );
        assert_eq!(explain_import_message("duplicate", "h"), None);
        assert_eq!(explain_import_message("EEXIST without a path", "h"), None);
    }

    #[test]
    fn list_keystores_of_lodestar() {
        let l: ListKeystores = serde_json::from_str(&fixture("list_keystores.json")).unwrap();
        assert_eq!(l.data.len(), 8);
        assert_eq!(
            l.data[0].validating_pubkey,
            "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c"
        );
        assert!(l.data.iter().all(|k| k.readonly == Some(false)));
        assert!(
            l.data
                .iter()
                .all(|k| k.derivation_path.as_deref() == Some(""))
        );
        assert!(
            l.data
                .iter()
                .all(|k| normalize_pubkey(&k.validating_pubkey).as_deref()
                    == Some(k.validating_pubkey.as_str()))
        );
        let r: ListRemoteKeys = serde_json::from_str(&fixture("list_remotekeys.json")).unwrap();
        assert!(r.data.is_empty());
    }

    #[test]
    fn settings_of_lodestar() {
        let f: Data<FeeRecipient> =
            serde_json::from_str(&fixture("get_feerecipient.json")).unwrap();
        assert_eq!(f.data.ethaddress, format!("0x{}", "0".repeat(40)));
        let f: Data<FeeRecipient> =
            serde_json::from_str(&fixture("get_feerecipient_set.json")).unwrap();
        assert_eq!(
            f.data.ethaddress,
            "0x00000000219ab540356cbb839cbe05303d7705fa"
        );
        let g: Data<GasLimit> = serde_json::from_str(&fixture("get_gas_limit.json")).unwrap();
        assert_eq!(g.data.gas_limit, "30000000");
        assert!(serde_json::from_str::<Data<Graffiti>>(&fixture("get_graffiti_404.json")).is_err());
        assert!(error_message(fixture("get_graffiti_404.json").as_bytes()).contains("not found"));
        assert!(
            error_message(fixture("voluntary_exit_404.json").as_bytes())
                .contains("voluntary_exit not found")
        );
    }

    #[test]
    fn delete_answer_of_lodestar_carries_an_interchange() {
        let d: DeleteAnswer = serde_json::from_str(&fixture("delete_unknown.json")).unwrap();
        assert_eq!(d.data.len(), 1);
        assert_eq!(d.data[0].status, DeleteStatus::NotActive);
        let i = crate::keymanager::Interchange::parse(&d.slashing_protection).unwrap();
        assert_eq!(i.pubkeys(), vec![format!("0x{}", "ab".repeat(48))]);
        assert_eq!(
            i.metadata.genesis_validators_root,
            "0x270d43e74ce340de4bca2b1936beca0f4f5408d9e78aec4850920baf659d5b69"
        );
    }

    #[test]
    fn auth_errors_of_lodestar() {
        assert_eq!(
            error_message(fixture("unauthorized_401.json").as_bytes()),
            "missing authorization header"
        );
        assert_eq!(
            error_message(fixture("wrong_token_401.json").as_bytes()),
            "invalid authorization header"
        );
    }

    #[test]
    fn signed_exit_shape_from_the_spec() {
        // Not captured: Lodestar 1.5.1 has no voluntary_exit endpoint. The spec's example.
        let j = r#"{"data":{"message":{"epoch":"1","validator_index":"1"},"signature":"0x1b66ac1fb663c9bc59509846d6ec05345bd908eda73e670af888da41af171505cc411d61252fb6cb3fa0017b679f8bb2305b26a285fa2737f175668d0dff91cc1b66ac1fb663c9bc59509846d6ec05345bd908eda73e670af888da41af171505"}}"#;
        let d: Data<SignedVoluntaryExit> = serde_json::from_str(j).unwrap();
        assert_eq!(d.data.message.validator_index, "1");
    }
}
