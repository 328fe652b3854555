//! Importing keystores into one node: the files read and checked the same way for every front
//! end, then `POST /eth/v1/keystores` with what was read.
//!
//! Owns: reading the import's files (keystores, password file, EIP-3076 file) and sending them.
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

/// Import keystores (already read and checked) into one node with one password for all of them.
/// The double-sign guard must have run before; confirmation is the front end's job.
pub async fn import_into(
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
