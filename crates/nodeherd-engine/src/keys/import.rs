//! Importing keystores into one node: the files read and checked the same way for every front
//! end, then `POST /eth/v1/keystores` with what was read.
//!
//! Owns: reading the import's files (keystores, password file, EIP-3076 file), sending them and
//! journaling the import on the node's host (pubkeys and statuses only).
//! May not touch: the double-sign decision (the guard is [`super::double_sign_guard`]; whether
//! to override it is the front end's), the terminal (password prompts, confirmations).

use std::path::{Path, PathBuf};

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keymanager::types::ImportResult;
use nodeherd_core::keys::Secret;
use nodeherd_transport::ssh::Pool;

use super::files::{self, FileError, KeystoreFile};
use crate::keymanager::{Keymanager, KeymanagerError};

/// What an import sends: the keystores as read, their password (when read from a file), the
/// EIP-3076 text.
#[derive(Debug)]
pub struct ImportFiles {
    pub keystores: Vec<KeystoreFile>,
    pub password: Option<Secret<String>>,
    pub slashing: Option<String>,
}

impl ImportFiles {
    /// The keystores' pubkeys, in the order of the files.
    pub fn pubkeys(&self) -> Vec<String> {
        self.keystores.iter().map(|k| k.pubkey.clone()).collect()
    }
}

/// Read and check an import's files, in this order: the keystores (each EIP-2335 with its
/// pubkey, no key twice), the password file when given, the slashing file when given.
pub fn read_import_files(
    keystores: &[PathBuf],
    password_file: Option<&Path>,
    slashing: Option<&Path>,
) -> Result<ImportFiles, FileError> {
    Ok(ImportFiles {
        keystores: files::read_keystores(keystores)?,
        password: password_file.map(files::read_password_file).transpose()?,
        slashing: slashing.map(files::read_slashing).transpose()?,
    })
}

/// Why nothing (or not everything) was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The node's Keymanager API could not be reached: nothing was sent.
    #[error("{0}")]
    Connect(KeymanagerError),
    /// The import request failed.
    #[error("{0}")]
    Import(KeymanagerError),
}

/// Import keystores (already read and checked) into one node with one password for all of them,
/// and journal it on the node's host. The double-sign guard must have run before; confirmation
/// is the front end's job.
pub async fn import_into(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    keystores: &[KeystoreFile],
    password: &Secret<String>,
    slashing: Option<&str>,
) -> Result<Vec<ImportResult>, ImportError> {
    let res = send(pool, inv, r, keystores, password, slashing).await;
    let pubkeys: Vec<String> = keystores.iter().map(|k| k.pubkey.clone()).collect();
    let line = super::lines::import_line(
        &nodeherd_core::journal::who(),
        &crate::record::node_key(inv, r),
        &pubkeys,
        slashing.is_some(),
        &res,
    );
    let _ = crate::record::record_on(pool, inv, r, &line).await;
    res
}

async fn send(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    keystores: &[KeystoreFile],
    password: &Secret<String>,
    slashing: Option<&str>,
) -> Result<Vec<ImportResult>, ImportError> {
    let km = Keymanager::connect(pool, inv, r)
        .await
        .map_err(ImportError::Connect)?;
    let texts: Vec<String> = keystores.iter().map(|k| k.text.clone()).collect();
    let passwords: Vec<Secret<String>> = texts.iter().map(|_| password.clone()).collect();
    super::import(&km, &texts, &passwords, slashing)
        .await
        .map_err(ImportError::Import)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeRemote, Match, Reply, fake_pool, isolate_state};

    const TOKEN: &str = "api-token-0x0123456789abcdef0123456789abcdef";
    const PASSWORD: &str = "correct horse battery staple";
    const PK: &str = "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c";

    fn inventory(keymanager: bool) -> Inventory {
        let km = if keymanager {
            "keymanager_port = 5062\nkeymanager_token_file = \"/var/lib/vc/api-token.txt\"\n"
        } else {
            ""
        };
        let text = format!(
            "[defaults]\nuser = \"root\"\n[hosts.h1]\naddress = \"192.0.2.1\"\n[hosts.h1.nodes.vc]\nclient = \"lodestar\"\nrole = \"validator\"\nunit = \"lodestar-vc.service\"\nnetwork = \"dev\"\n{km}"
        );
        Inventory::from_sources(vec![(PathBuf::from("/t/h.toml"), text)]).unwrap()
    }

    fn keystore() -> KeystoreFile {
        KeystoreFile {
            path: PathBuf::from("/k/keystore-0.json"),
            text: r#"{"crypto":{"cipher":{"message":"c1pherT3xtSecret"}},"pubkey":"a99a"}"#.into(),
            pubkey: PK.into(),
        }
    }

    #[tokio::test]
    async fn an_import_is_journaled_on_the_host_without_any_secret() {
        isolate_state();
        let f = FakeRemote::named("h1");
        f.on(Match::contains("api-token.txt"), Reply::ok(TOKEN));
        f.http(
            5062,
            "/eth/v1/keystores",
            200,
            r#"{"data":[{"status":"imported","message":""}]}"#,
        );
        let pool = fake_pool(std::slice::from_ref(&f));
        let inv = inventory(true);
        let r = NodeRef { host: 0, node: 0 };
        let res = import_into(
            &pool,
            &inv,
            r,
            &[keystore()],
            &Secret::new(PASSWORD.to_string()),
            Some(r#"{"metadata":{},"data":[]}"#),
        )
        .await
        .unwrap();
        assert_eq!(res.len(), 1);
        let j: Vec<String> = f
            .lines()
            .into_iter()
            .filter(|l| l.contains("journal.jsonl"))
            .collect();
        assert_eq!(j.len(), 1, "{:?}", f.lines());
        assert!(j[0].contains(r#""action":"key-import""#), "{}", j[0]);
        assert!(j[0].contains(r#""node":"h1/vc""#) && j[0].contains(r#""result":"ok""#));
        assert!(j[0].contains("0xa99a76ed…e44c imported"), "{}", j[0]);
        for secret in [TOKEN, PASSWORD, "c1pherT3xtSecret", "metadata"] {
            assert!(!j[0].contains(secret), "{secret} leaked: {}", j[0]);
        }
    }

    #[tokio::test]
    async fn an_import_that_could_not_start_is_journaled_as_refused() {
        isolate_state();
        let f = FakeRemote::named("h1");
        let pool = fake_pool(std::slice::from_ref(&f));
        let inv = inventory(false);
        let r = NodeRef { host: 0, node: 0 };
        let res = import_into(
            &pool,
            &inv,
            r,
            &[keystore()],
            &Secret::new(PASSWORD.into()),
            None,
        )
        .await;
        assert!(matches!(res, Err(ImportError::Connect(_))));
        let j = f.lines();
        assert_eq!(j.len(), 1, "only the journal line: {j:?}");
        assert!(j[0].contains(r#""result":"refused""#) && j[0].contains("nothing sent"));
    }
}
