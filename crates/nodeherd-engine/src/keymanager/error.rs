//! Keymanager errors: typed, each saying what to check. None contains the token.

use nodeherd_transport::http::HttpError;
use nodeherd_transport::ssh::SshError;

#[derive(Debug, thiserror::Error)]
pub enum KeymanagerError {
    #[error("{node}: the inventory gives no keymanager_port / keymanager_token_file for this node")]
    NotConfigured { node: String },
    #[error("{node}: SSH: {source}")]
    Ssh {
        node: String,
        #[source]
        source: Box<SshError>,
    },
    #[error("{node}: keymanager token file {file}: {reason}")]
    TokenFile {
        node: String,
        file: String,
        reason: String,
    },
    #[error("{node}: {source}")]
    Http {
        node: String,
        #[source]
        source: HttpError,
    },
    #[error(
        "{node}: the keymanager refused the token ({status} {what}); check that keymanager_token_file \
         ({file}) is the file this validator client writes, and that the client was not restarted with a new token"
    )]
    Unauthorized {
        node: String,
        status: u16,
        what: &'static str,
        file: String,
    },
    #[error("{node}: {method} {path} answered {status}: {message}")]
    Api {
        node: String,
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{node}: {method} {path}: unexpected answer: {detail}")]
    Decode {
        node: String,
        method: String,
        path: String,
        detail: String,
    },
}
