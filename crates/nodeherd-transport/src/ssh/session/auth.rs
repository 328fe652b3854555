//! Authentication: the ssh-agent first, then identity files (decrypted with a passphrase asked
//! through the options, cached per options), with the RSA hash the server accepts.
//!
//! Owns: the order of attempts and the auth errors. May not touch: the connection or the host-key
//! check (that is [`super::connect`]).

use super::{
    AgentClient, Arc, ConnectOptions, Handle, HashAlg, Path, PathBuf, Phase, PrivateKey,
    PrivateKeyWithHashAlg, PublicKey, SshError, Target, Verifier, io, keys, known_hosts, protocol,
};

// ---------------------------------------------------------------------------------------------
// Authentication

pub(super) fn default_identity_files() -> Vec<PathBuf> {
    let Some(home) = dirs::home_dir() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .filter(|p| p.exists())
        .collect()
}

pub(super) fn describe(key: &PublicKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        known_hosts::fingerprint(key)
    )
}

/// Why an identity file was not usable; the Display is the note after its path in the
/// authentication error.
#[derive(Debug, thiserror::Error)]
pub(super) enum IdentityError {
    #[error("encrypted, no passphrase available")]
    NoPassphraseHandler,
    #[error("encrypted, passphrase not given")]
    NoPassphrase,
    #[error("cannot decrypt: {0}")]
    Decrypt(keys::Error),
    #[error("missing")]
    Missing,
    #[error("unreadable: {0}")]
    Unreadable(keys::Error),
    #[error("loader failed: {0}")]
    Loader(tokio::task::JoinError),
}

/// Load (and decrypt, asking for the passphrase) an identity file; cached per options.
pub(super) fn load_identity(
    path: &Path,
    opts: &ConnectOptions,
) -> Result<Arc<PrivateKey>, IdentityError> {
    if let Some(k) = opts
        .key_cache
        .lock()
        .ok()
        .and_then(|c| c.get(path).cloned())
    {
        return Ok(k);
    }
    let key = match keys::load_secret_key(path, None) {
        Ok(k) => k,
        Err(keys::Error::KeyIsEncrypted) => {
            let Some(ask) = &opts.passphrase else {
                return Err(IdentityError::NoPassphraseHandler);
            };
            let Some(pass) = ask(path) else {
                return Err(IdentityError::NoPassphrase);
            };
            keys::load_secret_key(path, Some(&pass)).map_err(IdentityError::Decrypt)?
        }
        Err(keys::Error::IO(e)) if e.kind() == io::ErrorKind::NotFound => {
            return Err(IdentityError::Missing);
        }
        Err(e) => return Err(IdentityError::Unreadable(e)),
    };
    let key = Arc::new(key);
    if let Ok(mut c) = opts.key_cache.lock() {
        c.insert(path.to_path_buf(), key.clone());
    }
    Ok(key)
}

pub(super) struct Auth<'a> {
    handle: &'a mut Handle<Verifier>,
    target: &'a Target,
    rsa_hash: Option<Option<HashAlg>>,
}

impl Auth<'_> {
    fn timeout(&self) -> SshError {
        SshError::Timeout {
            host: self.target.name.clone(),
            phase: Phase::Auth,
            after: self.target.connect_timeout,
        }
    }

    async fn rsa_hash(&mut self) -> Result<Option<HashAlg>, SshError> {
        if let Some(h) = self.rsa_hash {
            return Ok(h);
        }
        let best = tokio::time::timeout(
            self.target.connect_timeout,
            self.handle.best_supported_rsa_hash(),
        )
        .await
        .map_err(|_| self.timeout())?
        .map_err(|e| protocol(&self.target.name, e))?
        .flatten();
        self.rsa_hash = Some(best);
        Ok(best)
    }

    async fn hash_for(&mut self, key: &PublicKey) -> Result<Option<HashAlg>, SshError> {
        if key.algorithm().is_rsa() {
            self.rsa_hash().await
        } else {
            Ok(None)
        }
    }

    /// Offer every agent identity; `Ok(true)` once one is accepted.
    async fn agent(
        &mut self,
        socket: Option<&Path>,
        tried: &mut Vec<String>,
    ) -> Result<bool, SshError> {
        let socket = match socket {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("SSH_AUTH_SOCK") {
                Some(p) => PathBuf::from(p),
                None => return Ok(false),
            },
        };
        let mut agent = match AgentClient::connect_uds(&socket).await {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "ssh-agent not usable");
                return Ok(false);
            }
        };
        if let Some(binding) = self.handle.agent_session_binding() {
            if let Err(e) = agent.bind_session(binding, false).await {
                tracing::debug!(error = %e, "ssh-agent session-bind not supported");
            }
        }
        let identities = match agent.request_identities().await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::debug!(error = %e, "ssh-agent would not list identities");
                return Ok(false);
            }
        };
        for id in identities {
            if matches!(id, keys::agent::AgentIdentity::Certificate { .. }) {
                continue; // certificates are not offered
            }
            let key = id.public_key().into_owned();
            let hash = self.hash_for(&key).await?;
            tried.push(format!("agent key {}", describe(&key)));
            let user = self.target.user.clone();
            let attempt = self
                .handle
                .authenticate_publickey_with(user, key, hash, &mut agent);
            match tokio::time::timeout(self.target.connect_timeout, attempt)
                .await
                .map_err(|_| self.timeout())?
            {
                Ok(r) if r.success() => return Ok(true),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "ssh-agent could not sign"),
            }
        }
        Ok(false)
    }

    async fn file(
        &mut self,
        path: &Path,
        opts: &ConnectOptions,
        tried: &mut Vec<String>,
    ) -> Result<bool, SshError> {
        let loaded = {
            let (path, opts) = (path.to_path_buf(), opts.clone());
            tokio::task::spawn_blocking(move || load_identity(&path, &opts))
                .await
                .unwrap_or_else(|e| Err(IdentityError::Loader(e)))
        };
        let key = match loaded {
            Ok(k) => k,
            Err(why) => {
                tried.push(format!("{} ({why})", path.display()));
                return Ok(false);
            }
        };
        let public = key.public_key().clone();
        let hash = self.hash_for(&public).await?;
        tried.push(format!("{} ({})", path.display(), describe(&public)));
        let attempt = self.handle.authenticate_publickey(
            self.target.user.clone(),
            PrivateKeyWithHashAlg::new(key, hash),
        );
        let r = tokio::time::timeout(self.target.connect_timeout, attempt)
            .await
            .map_err(|_| self.timeout())?
            .map_err(|e| protocol(&self.target.name, e))?;
        Ok(r.success())
    }
}

/// Authenticate; `Ok` with the credential the server accepted (`agent key …` or `key file …`).
pub(super) async fn authenticate(
    handle: &mut Handle<Verifier>,
    target: &Target,
    opts: &ConnectOptions,
) -> Result<String, SshError> {
    let mut tried = Vec::new();
    let mut auth = Auth {
        handle,
        target,
        rsa_hash: None,
    };
    // The last attempt is the one the server accepted.
    if opts.use_agent && auth.agent(opts.agent_socket.as_deref(), &mut tried).await? {
        return Ok(tried.pop().unwrap_or_default());
    }
    let files = if target.identity_files.is_empty() {
        default_identity_files()
    } else {
        target.identity_files.clone()
    };
    for f in &files {
        if auth.file(f, opts, &mut tried).await? {
            return Ok(format!("key file {}", tried.pop().unwrap_or_default()));
        }
    }
    Err(SshError::AuthRefused {
        host: target.name.clone(),
        user: target.user.clone(),
        tried,
    })
}
