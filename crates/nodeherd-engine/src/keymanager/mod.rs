//! Ethereum Keymanager API client (ethereum/keymanager-APIs), reached ONLY through an SSH
//! direct-tcpip forward to the node's `127.0.0.1:<keymanager_port>`.
//!
//! Owns: the typed requests and answers ([`types`]), the EIP-3076 interchange ([`interchange`]),
//! the bearer token read over SSH and held in memory only ([`token`]), and the client
//! ([`client`]). May not touch: the terminal, the console's files, or any decision about
//! which keys to move (that is `ops::keys`). The token never appears in `Debug`, errors or logs.

pub mod client;
pub mod error;

pub mod token;

pub use client::Keymanager;
pub use error::KeymanagerError;
pub use nodeherd_core::keymanager::{Interchange, interchange, types};
pub use token::ApiToken;
