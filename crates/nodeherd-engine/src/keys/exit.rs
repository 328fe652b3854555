//! Voluntary exits: saving a signed exit on the console, signing one locally with the chain
//! facts of the validator host's beacon node, and submitting one to that beacon node.
//!
//! Owns: the exit files under `<state dir>/nodeherd/exits/` and the Beacon API requests an exit
//! needs. May not touch: the keystore's decryption (the front end hands the secret key), the
//! terminal (confirmations are the front end's).

use std::path::{Path, PathBuf};

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::Pool;

use super::{SaveError, ensure_writable_dir, file_label, timestamp, write_new};

/// Save a signed voluntary exit to `<state>/exits/<node>-<pubkey prefix>-<ts>.json`.
pub fn save_exit(
    state_dir: &Path,
    node: &str,
    pubkey: &str,
    json: &str,
) -> Result<PathBuf, SaveError> {
    let dir = state_dir.join("exits");
    ensure_writable_dir(&dir)?;
    let short: String = pubkey.trim_start_matches("0x").chars().take(12).collect();
    let path = dir.join(format!("{}-{short}-{}.json", file_label(node), timestamp()));
    write_new(&path, json).map(|()| path)
}

/// Why the host's beacon node could not give what an exit needs, or refused the exit.
#[derive(Debug, thiserror::Error)]
pub enum BeaconError {
    #[error(
        "{host}: no beacon node with a rest_port in the inventory (the exit needs the validator host's beacon node)"
    )]
    NoBeacon { host: String },
    #[error("{bn}: SSH: {source}")]
    Ssh {
        bn: String,
        #[source]
        source: Box<nodeherd_transport::ssh::SshError>,
    },
    #[error("{bn}: {method} {path}: {source}")]
    Http {
        bn: String,
        method: &'static str,
        path: String,
        #[source]
        source: nodeherd_transport::http::HttpError,
    },
    #[error("{bn}: {method} {path}: no answer within {secs} s")]
    Timeout {
        bn: String,
        method: &'static str,
        path: String,
        secs: u64,
    },
    #[error("{bn}: {method} {path} answered {status}: {message}")]
    Status {
        bn: String,
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error(
        "{bn} does not know validator {pubkey} (404: {message}): not deposited, or not yet seen by the chain"
    )]
    UnknownValidator {
        bn: String,
        pubkey: String,
        message: String,
    },
    #[error("{bn}: {source}")]
    Fact {
        bn: String,
        #[source]
        source: nodeherd_core::keys::exit::ExitError,
    },
    #[error("{bn} refused the exit ({status}): {message}")]
    Refused {
        bn: String,
        status: u16,
        message: String,
    },
}

/// Seconds one Beacon API request may take.
const BEACON_TIMEOUT_SECS: u64 = 15;

/// The beacon node of the validator's host: one with role beacon and a rest_port.
pub(super) struct HostBeacon {
    pub(super) label: String,
    port: u16,
    session: nodeherd_transport::ssh::Session,
}

impl HostBeacon {
    pub(super) async fn find(
        inv: &Inventory,
        pool: &Pool,
        validator: NodeRef,
    ) -> Result<Self, BeaconError> {
        let (host, _) = inv.node(validator);
        let (bn, port) = host
            .nodes
            .iter()
            .find_map(|n| {
                match (
                    n.role == nodeherd_core::inventory::Role::Beacon,
                    n.rest_port,
                ) {
                    (true, Some(p)) => Some((n, p)),
                    _ => None,
                }
            })
            .ok_or_else(|| BeaconError::NoBeacon {
                host: host.name.clone(),
            })?;
        let label = format!("{}/{}", host.name, bn.name);
        let session = pool
            .session(&host.target)
            .await
            .map_err(|e| BeaconError::Ssh {
                bn: label.clone(),
                source: Box::new(e),
            })?;
        Ok(HostBeacon {
            label,
            port,
            session,
        })
    }

    /// One request through a fresh SSH forward to `127.0.0.1:<rest_port>` on the host.
    pub(super) async fn request(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<nodeherd_transport::http::Response, BeaconError> {
        let stream = self
            .session
            .forward(self.port)
            .await
            .map_err(|e| BeaconError::Ssh {
                bn: self.label.clone(),
                source: Box::new(e),
            })?;
        let mut headers = vec![("Accept", "application/json")];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        tokio::time::timeout(
            std::time::Duration::from_secs(BEACON_TIMEOUT_SECS),
            nodeherd_transport::http::request(stream, method, path, &headers, body),
        )
        .await
        .map_err(|_| BeaconError::Timeout {
            bn: self.label.clone(),
            method,
            path: path.to_string(),
            secs: BEACON_TIMEOUT_SECS,
        })?
        .map_err(|e| BeaconError::Http {
            bn: self.label.clone(),
            method,
            path: path.to_string(),
            source: e,
        })
    }

    /// A GET that must answer 200; the body as text.
    pub(super) async fn get(&self, path: &str) -> Result<String, BeaconError> {
        let r = self.request("GET", path, None).await?;
        if r.status != 200 {
            return Err(BeaconError::Status {
                bn: self.label.clone(),
                method: "GET",
                path: path.to_string(),
                status: r.status,
                message: nodeherd_core::keymanager::types::error_message(&r.body),
            });
        }
        Ok(r.text())
    }

    fn fact<T>(
        &self,
        r: Result<T, nodeherd_core::keys::exit::ExitError>,
    ) -> Result<T, BeaconError> {
        r.map_err(|source| BeaconError::Fact {
            bn: self.label.clone(),
            source,
        })
    }
}

/// What a locally signed exit stands on, and the exit itself (already verified).
#[derive(Debug, Clone)]
pub struct LocalExit {
    /// `host/node` of the beacon node asked.
    pub beacon: String,
    pub chain: nodeherd_core::keys::exit::ChainFacts,
    pub validator: nodeherd_core::keys::exit::ValidatorFacts,
    pub fork_version: [u8; 4],
    pub domain: [u8; 32],
    pub signed: nodeherd_core::keys::exit::SignedVoluntaryExit,
}

/// Ask the validator host's beacon node for the chain facts and the validator (which must be
/// `pubkey` and `active_ongoing`), then sign the exit at `epoch` (default: the head's epoch)
/// with `sk` and verify it. Nothing is saved or sent here.
pub async fn sign_exit_locally(
    inv: &Inventory,
    pool: &Pool,
    validator: NodeRef,
    sk: &nodeherd_core::keys::bls::SecretKey,
    epoch: Option<u64>,
) -> Result<LocalExit, BeaconError> {
    use nodeherd_core::keys::exit;
    let pubkey = sk.public_key();
    let bn = HostBeacon::find(inv, pool, validator).await?;
    let path = format!("/eth/v1/beacon/states/head/validators/{pubkey}");
    let r = bn.request("GET", &path, None).await?;
    if r.status == 404 {
        return Err(BeaconError::UnknownValidator {
            bn: bn.label.clone(),
            pubkey: pubkey.to_string(),
            message: nodeherd_core::keymanager::types::error_message(&r.body),
        });
    }
    if r.status != 200 {
        return Err(BeaconError::Status {
            bn: bn.label.clone(),
            method: "GET",
            path,
            status: r.status,
            message: nodeherd_core::keymanager::types::error_message(&r.body),
        });
    }
    let v = bn.fact(exit::parse_validator(&r.text()))?;
    bn.fact(exit::check_exitable(&v, &pubkey))?;
    let chain = exit::ChainFacts {
        genesis_validators_root: bn.fact(exit::parse_genesis(
            &bn.get("/eth/v1/beacon/genesis").await?,
        ))?,
        fork: bn.fact(exit::parse_fork(
            &bn.get("/eth/v1/beacon/states/head/fork").await?,
        ))?,
        spec: bn.fact(exit::parse_spec(&bn.get("/eth/v1/config/spec").await?))?,
        head_slot: bn.fact(exit::parse_head_slot(
            &bn.get("/eth/v1/beacon/headers/head").await?,
        ))?,
    };
    let epoch = epoch.unwrap_or_else(|| chain.current_epoch());
    let fork_version = bn.fact(exit::exit_fork_version(&chain.fork, &chain.spec, epoch))?;
    let domain = bn.fact(exit::exit_domain(&chain, epoch))?;
    let signed = exit::sign_exit(
        sk,
        exit::VoluntaryExit {
            epoch,
            validator_index: v.index,
        },
        &domain,
    );
    bn.fact(exit::verify_exit(&pubkey, &signed, &domain))?;
    Ok(LocalExit {
        beacon: bn.label.clone(),
        chain,
        validator: v,
        fork_version,
        domain,
        signed,
    })
}

/// Submit a signed exit to the beacon node of the validator's host
/// (`POST /eth/v1/beacon/pool/voluntary_exits`). `Ok(beacon node label)` when it answered 200.
pub async fn submit_exit(
    inv: &Inventory,
    pool: &Pool,
    validator: NodeRef,
    json: &str,
) -> Result<String, BeaconError> {
    let bn = HostBeacon::find(inv, pool, validator).await?;
    let resp = bn
        .request(
            "POST",
            "/eth/v1/beacon/pool/voluntary_exits",
            Some(json.as_bytes()),
        )
        .await?;
    if resp.status == 200 {
        Ok(bn.label)
    } else {
        Err(BeaconError::Refused {
            bn: bn.label,
            status: resp.status,
            message: nodeherd_core::keymanager::types::error_message(&resp.body),
        })
    }
}
