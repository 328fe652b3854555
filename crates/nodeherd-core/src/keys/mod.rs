//! Offline validator key material for Ethereum (the pure crypto core of key management).
//!
//! Owns: BIP-39 mnemonics ([`mnemonic`]), EIP-2333/2334 key derivation ([`derive`]), EIP-2335
//! keystores ([`keystore`]), BLS signatures through blst ([`bls`]), deposit data and withdrawal
//! credentials ([`deposit`]), locally signed voluntary exits ([`exit`]), the SSZ roots and signing
//! domains both share ([`ssz`]), and the `keys generate` pipeline that writes keystores plus
//! `deposit_data-<ts>.json` ([`generate`]).
//!
//! May not touch: the network, SSH, any server or the Keymanager API (that is another module's job);
//! the only file system writes are the ones [`generate`] does into the directory it is given.
//! Secrets are held in [`Secret`] (or types wrapping it), whose `Debug` prints `<redacted>` and whose
//! memory is zeroized on drop. No secret is ever part of an error message.

pub mod bls;
pub mod deposit;
pub mod derive;
mod error;
pub mod exit;
pub mod generate;
mod hex;
pub mod keystore;
pub mod mnemonic;
mod pyjson;
mod secret;
pub mod ssz;

pub use error::KeyError;
pub use hex::{decode as hex_decode, encode as hex_encode};
pub use secret::Secret;
