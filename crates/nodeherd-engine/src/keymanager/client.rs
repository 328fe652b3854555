//! The Keymanager API client over an SSH forward. One request = one forward (`Connection: close`).

use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keys::Secret;
use nodeherd_transport::http::{self, Response};
use nodeherd_transport::ssh::{Pool, Session};

use crate::keymanager::error::KeymanagerError;
use crate::keymanager::token::ApiToken;
use nodeherd_core::keymanager::types::{
    Data, DeleteAnswer, DeleteKeystores, DeleteRemoteAnswer, DeleteResult, FeeRecipient, GasLimit,
    Graffiti, ImportAnswer, ImportKeystores, ImportRemoteKeys, ImportResult, KeystoreEntry,
    ListKeystores, ListRemoteKeys, RemoteKeyEntry, RemoteKeyImport, SignedVoluntaryExit,
    error_message, is_eth_address,
};

/// A connected keymanager: the host's SSH session, the port, and the token (memory only).
#[derive(Clone)]
pub struct Keymanager {
    session: Session,
    /// `host/node`, for messages.
    pub node: String,
    port: u16,
    token: ApiToken,
    token_file: String,
}

impl std::fmt::Debug for Keymanager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keymanager")
            .field("node", &self.node)
            .field("port", &self.port)
            .field("token", &self.token)
            .finish()
    }
}

impl Keymanager {
    /// Connect to the node's host (pooled) and read its token file over SSH.
    pub async fn connect(
        pool: &Pool,
        inv: &Inventory,
        r: NodeRef,
    ) -> Result<Keymanager, KeymanagerError> {
        let (host, node) = inv.node(r);
        let label = format!("{}/{}", host.name, node.name);
        let (Some(port), Some(file)) = (node.keymanager_port, node.keymanager_token_file.as_ref())
        else {
            return Err(KeymanagerError::NotConfigured { node: label });
        };
        let session = pool
            .session(&host.target)
            .await
            .map_err(|e| KeymanagerError::Ssh {
                node: label.clone(),
                source: Box::new(e),
            })?;
        let token = ApiToken::read(&session, &label, file).await?;
        Ok(Keymanager {
            session,
            node: label,
            port,
            token,
            token_file: file.to_string_lossy().into_owned(),
        })
    }

    /// The token, for tests that check it never shows up in output.
    #[doc(hidden)]
    pub fn token_for_tests(&self) -> &ApiToken {
        &self.token
    }

    /// One authorised request; 401/403 become [`KeymanagerError::Unauthorized`].
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, KeymanagerError> {
        let stream = self
            .session
            .forward(self.port)
            .await
            .map_err(|e| KeymanagerError::Ssh {
                node: self.node.clone(),
                source: Box::new(e),
            })?;
        let auth = self.token.header_value();
        let mut headers: Vec<(&str, &str)> = vec![
            ("Authorization", auth.expose().as_str()),
            ("Accept", "application/json"),
        ];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let resp = http::request(stream, method, path, &headers, body)
            .await
            .map_err(|e| KeymanagerError::Http {
                node: self.node.clone(),
                source: e,
            })?;
        match resp.status {
            401 | 403 => Err(KeymanagerError::Unauthorized {
                node: self.node.clone(),
                status: resp.status,
                what: if resp.status == 401 {
                    "missing or invalid token"
                } else {
                    "token not allowed"
                },
                file: self.token_file.clone(),
            }),
            _ => Ok(resp),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<T, KeymanagerError> {
        let resp = self.request(method, path, body).await?;
        self.decode(method, path, &resp)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        resp: &Response,
    ) -> Result<T, KeymanagerError> {
        self.check(method, path, resp)?;
        serde_json::from_slice(&resp.body).map_err(|e| KeymanagerError::Decode {
            node: self.node.clone(),
            method: method.into(),
            path: path.into(),
            detail: e.to_string(),
        })
    }

    fn check(&self, method: &str, path: &str, resp: &Response) -> Result<(), KeymanagerError> {
        if (200..300).contains(&resp.status) {
            return Ok(());
        }
        Err(KeymanagerError::Api {
            node: self.node.clone(),
            method: method.into(),
            path: path.into(),
            status: resp.status,
            message: error_message(&resp.body),
        })
    }

    /// `GET /eth/v1/keystores`.
    pub async fn list_keystores(&self) -> Result<Vec<KeystoreEntry>, KeymanagerError> {
        let l: ListKeystores = self.call("GET", "/eth/v1/keystores", None).await?;
        Ok(l.data)
    }

    /// `GET /eth/v1/remotekeys` (404/501 from clients without remote signers count as none).
    pub async fn list_remote_keys(&self) -> Result<Vec<RemoteKeyEntry>, KeymanagerError> {
        let path = "/eth/v1/remotekeys";
        let resp = self.request("GET", path, None).await?;
        if matches!(resp.status, 404 | 501) {
            return Ok(Vec::new());
        }
        let l: ListRemoteKeys = self.decode("GET", path, &resp)?;
        Ok(l.data)
    }

    /// `POST /eth/v1/keystores`: keystores (JSON texts) with their passwords, and optional
    /// EIP-3076 slashing data. The body (with passwords) is zeroized after sending.
    pub async fn import(
        &self,
        keystores: &[String],
        passwords: &[Secret<String>],
        slashing_protection: Option<&str>,
    ) -> Result<Vec<ImportResult>, KeymanagerError> {
        let path = "/eth/v1/keystores";
        let body = ImportKeystores {
            keystores: keystores.iter().map(String::as_str).collect(),
            passwords: passwords.iter().map(|p| p.expose().as_str()).collect(),
            slashing_protection,
        };
        let bytes =
            Zeroizing::new(
                serde_json::to_vec(&body).map_err(|e| KeymanagerError::Decode {
                    node: self.node.clone(),
                    method: "POST".into(),
                    path: path.into(),
                    detail: format!("cannot build the request: {e}"),
                })?,
            );
        drop(body);
        let a: ImportAnswer = self.call("POST", path, Some(&bytes)).await?;
        if a.data.len() != keystores.len() {
            return Err(KeymanagerError::Decode {
                node: self.node.clone(),
                method: "POST".into(),
                path: path.into(),
                detail: format!("{} results for {} keystores", a.data.len(), keystores.len()),
            });
        }
        Ok(a.data)
    }

    /// `DELETE /eth/v1/keystores`. The answer carries the slashing protection interchange:
    /// the caller must save it before doing anything else.
    pub async fn delete(&self, pubkeys: &[String]) -> Result<DeleteAnswer, KeymanagerError> {
        let path = "/eth/v1/keystores";
        let body = serde_json::to_vec(&DeleteKeystores {
            pubkeys: pubkeys.iter().map(String::as_str).collect(),
        })
        .unwrap_or_default();
        let a: DeleteAnswer = self.call("DELETE", path, Some(&body)).await?;
        if a.data.len() != pubkeys.len() {
            return Err(KeymanagerError::Decode {
                node: self.node.clone(),
                method: "DELETE".into(),
                path: path.into(),
                detail: format!("{} results for {} pubkeys", a.data.len(), pubkeys.len()),
            });
        }
        Ok(a)
    }

    /// `POST /eth/v1/remotekeys`: `(pubkey, url)` pairs signed by a remote signer.
    pub async fn import_remote(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<ImportResult>, KeymanagerError> {
        let path = "/eth/v1/remotekeys";
        let body = serde_json::to_vec(&ImportRemoteKeys {
            remote_keys: keys
                .iter()
                .map(|(pubkey, url)| RemoteKeyImport { pubkey, url })
                .collect(),
        })
        .unwrap_or_default();
        let a: ImportAnswer = self.call("POST", path, Some(&body)).await?;
        self.same_count("POST", path, a.data.len(), keys.len())?;
        Ok(a.data)
    }

    /// `DELETE /eth/v1/remotekeys`.
    pub async fn delete_remote(
        &self,
        pubkeys: &[String],
    ) -> Result<Vec<DeleteResult>, KeymanagerError> {
        let path = "/eth/v1/remotekeys";
        let body = serde_json::to_vec(&DeleteKeystores {
            pubkeys: pubkeys.iter().map(String::as_str).collect(),
        })
        .unwrap_or_default();
        let a: DeleteRemoteAnswer = self.call("DELETE", path, Some(&body)).await?;
        self.same_count("DELETE", path, a.data.len(), pubkeys.len())?;
        Ok(a.data)
    }

    fn same_count(
        &self,
        method: &str,
        path: &str,
        got: usize,
        sent: usize,
    ) -> Result<(), KeymanagerError> {
        if got == sent {
            return Ok(());
        }
        Err(KeymanagerError::Decode {
            node: self.node.clone(),
            method: method.into(),
            path: path.into(),
            detail: format!("{got} results for {sent} keys"),
        })
    }

    fn validator_path(pubkey: &str, what: &str) -> String {
        format!("/eth/v1/validator/{pubkey}/{what}")
    }

    pub async fn fee_recipient(&self, pubkey: &str) -> Result<FeeRecipient, KeymanagerError> {
        let d: Data<FeeRecipient> = self
            .call("GET", &Self::validator_path(pubkey, "feerecipient"), None)
            .await?;
        Ok(d.data)
    }

    pub async fn graffiti(&self, pubkey: &str) -> Result<Graffiti, KeymanagerError> {
        let d: Data<Graffiti> = self
            .call("GET", &Self::validator_path(pubkey, "graffiti"), None)
            .await?;
        Ok(d.data)
    }

    pub async fn gas_limit(&self, pubkey: &str) -> Result<GasLimit, KeymanagerError> {
        let d: Data<GasLimit> = self
            .call("GET", &Self::validator_path(pubkey, "gas_limit"), None)
            .await?;
        Ok(d.data)
    }

    /// POST one setting (`feerecipient` {ethaddress}, `graffiti` {graffiti}, `gas_limit` {gas_limit}).
    pub async fn set(&self, pubkey: &str, setting: Setting) -> Result<(), KeymanagerError> {
        let path = Self::validator_path(pubkey, setting.path());
        let body = serde_json::to_vec(&setting.body()).unwrap_or_default();
        let resp = self.request("POST", &path, Some(&body)).await?;
        self.check("POST", &path, &resp)
    }

    /// DELETE one setting (back to the client's default).
    pub async fn clear(&self, pubkey: &str, what: SettingKind) -> Result<(), KeymanagerError> {
        let path = Self::validator_path(pubkey, what.path());
        let resp = self.request("DELETE", &path, None).await?;
        self.check("DELETE", &path, &resp)
    }

    /// `POST /eth/v1/validator/{pubkey}/voluntary_exit[?epoch=E]`: a signed exit, NOT submitted.
    /// Returns the typed exit and the exact JSON text the client gave.
    pub async fn sign_voluntary_exit(
        &self,
        pubkey: &str,
        epoch: Option<u64>,
    ) -> Result<(SignedVoluntaryExit, String), KeymanagerError> {
        let mut path = Self::validator_path(pubkey, "voluntary_exit");
        if let Some(e) = epoch {
            path.push_str(&format!("?epoch={e}"));
        }
        let resp = self.request("POST", &path, None).await?;
        let d: Data<SignedVoluntaryExit> = self.decode("POST", &path, &resp)?;
        let text = serde_json::to_string(&d.data).unwrap_or_default();
        Ok((d.data, text))
    }
}

/// Which per-validator setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    FeeRecipient,
    Graffiti,
    GasLimit,
}

impl SettingKind {
    pub fn path(self) -> &'static str {
        match self {
            SettingKind::FeeRecipient => "feerecipient",
            SettingKind::Graffiti => "graffiti",
            SettingKind::GasLimit => "gas_limit",
        }
    }
}

/// A per-validator setting with its new value (already checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    FeeRecipient(String),
    Graffiti(String),
    GasLimit(u64),
}

/// Why a setting's value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("{0:?} is not an address (0x + 40 hex digits)")]
    NotAnAddress(String),
    #[error("graffiti is {0} bytes; at most 32")]
    GraffitiTooLong(usize),
    #[error("{0:?} is not a positive integer")]
    NotAPositiveInteger(String),
}

impl Setting {
    /// Check a value given on the command line.
    pub fn parse(kind: SettingKind, value: &str) -> Result<Setting, SettingError> {
        match kind {
            SettingKind::FeeRecipient => {
                if is_eth_address(value) {
                    Ok(Setting::FeeRecipient(value.to_string()))
                } else {
                    Err(SettingError::NotAnAddress(value.to_string()))
                }
            }
            SettingKind::Graffiti => {
                if value.len() <= 32 {
                    Ok(Setting::Graffiti(value.to_string()))
                } else {
                    Err(SettingError::GraffitiTooLong(value.len()))
                }
            }
            SettingKind::GasLimit => value
                .parse::<u64>()
                .ok()
                .filter(|g| *g > 0)
                .map(Setting::GasLimit)
                .ok_or_else(|| SettingError::NotAPositiveInteger(value.to_string())),
        }
    }

    pub fn path(&self) -> &'static str {
        self.kind().path()
    }

    pub fn kind(&self) -> SettingKind {
        match self {
            Setting::FeeRecipient(_) => SettingKind::FeeRecipient,
            Setting::Graffiti(_) => SettingKind::Graffiti,
            Setting::GasLimit(_) => SettingKind::GasLimit,
        }
    }

    /// The POST body.
    pub fn body(&self) -> serde_json::Value {
        match self {
            Setting::FeeRecipient(a) => serde_json::json!({ "ethaddress": a }),
            Setting::Graffiti(g) => serde_json::json!({ "graffiti": g }),
            Setting::GasLimit(g) => serde_json::json!({ "gas_limit": g.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_shaped() {
        let a = "0x00000000219ab540356cBB839Cbe05303d7705Fa";
        assert_eq!(
            Setting::parse(SettingKind::FeeRecipient, a).map(|s| s.body()),
            Ok(serde_json::json!({"ethaddress": a}))
        );
        assert!(Setting::parse(SettingKind::FeeRecipient, "0x12").is_err());
        assert!(Setting::parse(SettingKind::Graffiti, &"x".repeat(33)).is_err());
        assert_eq!(
            Setting::parse(SettingKind::GasLimit, "36000000").map(|s| s.body()),
            Ok(serde_json::json!({"gas_limit": "36000000"}))
        );
        assert!(Setting::parse(SettingKind::GasLimit, "0").is_err());
        assert!(Setting::parse(SettingKind::GasLimit, "-1").is_err());
    }
}
