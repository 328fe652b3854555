//! [`KeyError`]: everything that can go wrong with key material, each saying what to do.
//! No variant ever carries a secret (no mnemonic word, password, seed or secret key).
//!
//! May not touch: anything (it only describes failures).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the mnemonic is not a valid BIP-39 English mnemonic: {reason}; check the words, their order and their spelling"
    )]
    InvalidMnemonic { reason: String },

    #[error(
        "the operating system's random number generator failed: {0}; retry, and do not use a weak source instead"
    )]
    Randomness(String),

    #[error("the seed has {len} bytes; EIP-2333 needs at least 32 (use a BIP-39 seed of 64 bytes)")]
    SeedTooShort { len: usize },

    #[error("invalid derivation path {path:?}: {reason}; expected e.g. m/12381/3600/0/0/0")]
    InvalidPath { path: String, reason: String },

    #[error("not a valid BLS12-381 secret key (it is zero or not below the group order r)")]
    InvalidSecretKey,

    #[error("not a valid BLS12-381 public key: {reason}")]
    InvalidPublicKey { reason: String },

    #[error("not a valid BLS12-381 signature: {reason}")]
    InvalidSignature { reason: String },

    #[error("invalid hex in {field}: {reason}")]
    Hex { field: String, reason: String },

    #[error(
        "wrong keystore password (the EIP-2335 checksum does not match); check the password file, its trailing newline, or the keyboard layout"
    )]
    WrongPassword,

    #[error("the keystore is malformed: {reason}")]
    KeystoreFormat { reason: String },

    #[error(
        "the keystore uses {module} function {function:?}, which is not supported; supported: {supported}"
    )]
    UnsupportedFunction {
        module: &'static str,
        function: String,
        supported: &'static str,
    },

    #[error(
        "refusing weak key derivation parameters ({what}); keystores must use scrypt n=262144 or pbkdf2 c=262144 (weaker settings exist only for tests)"
    )]
    WeakKdf { what: String },

    #[error(
        "the keystore's pubkey field does not match the key inside it; the file was edited or corrupted: do not use it"
    )]
    PubkeyMismatch,

    #[error("invalid withdrawal address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },

    #[error("unknown network {0:?}; supported: mainnet, sepolia, holesky, hoodi")]
    UnknownNetwork(String),

    #[error("invalid request: {0}")]
    InvalidRequest(String),

    #[error("{} already exists; refusing to overwrite key files: choose an empty output directory", path.display())]
    OutputExists { path: PathBuf },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("deposit data check failed for pubkey {pubkey}: {reason}; do not submit this deposit")]
    DepositCheck { pubkey: String, reason: String },

    #[error("JSON error in {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}
