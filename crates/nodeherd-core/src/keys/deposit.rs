//! Deposit data: withdrawal credentials, the SSZ roots of `DepositMessage` / `DepositData`, the deposit
//! signing domain, and `deposit_data-<ts>.json` entries in the EthStaker deposit CLI's exact shape.
//!
//! Pure functions: no I/O. Networks are the four public ones whose genesis fork versions the
//! deposit CLI ships; deposits are signed with `genesis_validators_root = 0` on every network.
//!
//! May not touch: files, the network, the terminal (callers write the JSON).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sha3::Keccak256;

use crate::keys::bls::{self, PublicKey, SecretKey, Signature};
use crate::keys::ssz::{chunk, hash_pair, root_u64};
pub use crate::keys::ssz::{compute_domain, compute_signing_root, fork_data_root};
use crate::keys::{KeyError, hex, pyjson};

/// `DOMAIN_DEPOSIT` of the consensus specs.
pub const DOMAIN_DEPOSIT: [u8; 4] = [0x03, 0x00, 0x00, 0x00];
/// 1 ETH in Gwei.
pub const GWEI_PER_ETH: u64 = 1_000_000_000;
/// The default (and, for 0x01 credentials, the only) deposit amount: 32 ETH in Gwei.
pub const DEFAULT_AMOUNT_GWEI: u64 = 32 * GWEI_PER_ETH;
/// Smallest deposit the deposit CLI produces: 1 ETH.
pub const MIN_AMOUNT_GWEI: u64 = GWEI_PER_ETH;
/// Largest deposit for compounding (0x02) validators: 2048 ETH.
pub const MAX_COMPOUNDING_AMOUNT_GWEI: u64 = 2048 * GWEI_PER_ETH;
/// The `deposit_cli_version` written into deposit data: the EthStaker deposit CLI version whose output
/// format this module reproduces byte for byte (checked against its published output). The Launchpad
/// reads this field.
pub const DEPOSIT_CLI_VERSION: &str = "1.3.0";

/// A public network with its genesis fork version (from the deposit CLI's settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    Mainnet,
    Sepolia,
    Holesky,
    Hoodi,
}

impl Network {
    pub const ALL: [Network; 4] = [
        Network::Mainnet,
        Network::Sepolia,
        Network::Holesky,
        Network::Hoodi,
    ];

    /// The `network_name` of deposit data.
    pub fn name(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Sepolia => "sepolia",
            Network::Holesky => "holesky",
            Network::Hoodi => "hoodi",
        }
    }

    pub fn genesis_fork_version(self) -> [u8; 4] {
        match self {
            Network::Mainnet => [0x00, 0x00, 0x00, 0x00],
            Network::Sepolia => [0x90, 0x00, 0x00, 0x69],
            Network::Holesky => [0x01, 0x01, 0x70, 0x00],
            Network::Hoodi => [0x10, 0x00, 0x09, 0x10],
        }
    }
}

impl FromStr for Network {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        Network::ALL
            .into_iter()
            .find(|n| n.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| KeyError::UnknownNetwork(s.to_owned()))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A 20-byte execution-layer address. Parsing checks the EIP-55 checksum when the hex is mixed case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExecutionAddress([u8; 20]);

impl ExecutionAddress {
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The EIP-55 checksummed form, with `0x`.
    pub fn to_checksummed(&self) -> String {
        let lower = hex::encode(&self.0);
        let hash = Keccak256::digest(lower.as_bytes());
        let mut out = String::from("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            out.push(if c.is_ascii_alphabetic() && nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }
}

impl FromStr for ExecutionAddress {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let err = |reason: &str| KeyError::InvalidAddress {
            address: s.to_owned(),
            reason: reason.to_owned(),
        };
        let digits = s
            .strip_prefix("0x")
            .ok_or_else(|| err("it must start with 0x"))?;
        if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err("it must be 0x followed by 40 hex digits"));
        }
        let bytes = hex::decode_array::<20>(digits, "address")?;
        let address = ExecutionAddress(bytes);
        let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper && address.to_checksummed() != s {
            return Err(err(
                "the EIP-55 checksum (its mix of upper and lower case) is wrong: a character was mistyped; copy the address again",
            ));
        }
        if bytes == [0u8; 20] {
            return Err(err("the zero address would burn the withdrawals"));
        }
        Ok(address)
    }
}

impl fmt::Display for ExecutionAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksummed())
    }
}

impl fmt::Debug for ExecutionAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExecutionAddress({})", self.to_checksummed())
    }
}

/// `prefix || 11 zero bytes || address`: prefix 0x01 (execution) or 0x02 (compounding).
pub fn execution_withdrawal_credentials(address: &ExecutionAddress, compounding: bool) -> [u8; 32] {
    let mut wc = [0u8; 32];
    wc[0] = if compounding { 0x02 } else { 0x01 };
    wc[12..].copy_from_slice(address.as_bytes());
    wc
}

/// Legacy `0x00 || SHA256(withdrawal_pubkey)[1:]` credentials (BLS withdrawal key).
pub fn bls_withdrawal_credentials(withdrawal_pubkey: &PublicKey) -> [u8; 32] {
    let mut wc: [u8; 32] = Sha256::digest(withdrawal_pubkey.as_bytes()).into();
    wc[0] = 0x00;
    wc
}

/// hash_tree_root of `Bytes48`.
fn root_bytes48(b: &[u8; 48]) -> [u8; 32] {
    hash_pair(&chunk(&b[..32]), &chunk(&b[32..]))
}

/// hash_tree_root of `Bytes96`.
fn root_bytes96(b: &[u8; 96]) -> [u8; 32] {
    hash_pair(
        &hash_pair(&chunk(&b[..32]), &chunk(&b[32..64])),
        &hash_pair(&chunk(&b[64..]), &[0u8; 32]),
    )
}

/// hash_tree_root of `DepositMessage { pubkey, withdrawal_credentials, amount }`.
pub fn deposit_message_root(
    pubkey: &PublicKey,
    withdrawal_credentials: &[u8; 32],
    amount_gwei: u64,
) -> [u8; 32] {
    hash_pair(
        &hash_pair(&root_bytes48(pubkey.as_bytes()), withdrawal_credentials),
        &hash_pair(&root_u64(amount_gwei), &[0u8; 32]),
    )
}

/// hash_tree_root of `DepositData { pubkey, withdrawal_credentials, amount, signature }`.
pub fn deposit_data_root(
    pubkey: &PublicKey,
    withdrawal_credentials: &[u8; 32],
    amount_gwei: u64,
    signature: &Signature,
) -> [u8; 32] {
    hash_pair(
        &hash_pair(&root_bytes48(pubkey.as_bytes()), withdrawal_credentials),
        &hash_pair(&root_u64(amount_gwei), &root_bytes96(signature.as_bytes())),
    )
}

/// The deposit domain of a fork version (genesis validators root zero, as the specs require for deposits).
pub fn deposit_domain(fork_version: [u8; 4]) -> [u8; 32] {
    compute_domain(DOMAIN_DEPOSIT, fork_version, &[0u8; 32])
}

/// One entry of `deposit_data-<ts>.json`, field order and encoding as the deposit CLI writes them
/// (hex without `0x`, amount in Gwei).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositDataEntry {
    pub pubkey: String,
    pub withdrawal_credentials: String,
    pub amount: u64,
    pub signature: String,
    pub deposit_message_root: String,
    pub deposit_data_root: String,
    pub fork_version: String,
    pub network_name: String,
    pub deposit_cli_version: String,
}

/// Checks the amount against the deposit CLI's rules: 32 ETH for 0x01, 1..=2048 ETH for 0x02.
pub fn check_amount(amount_gwei: u64, compounding: bool) -> Result<(), KeyError> {
    if compounding {
        if !(MIN_AMOUNT_GWEI..=MAX_COMPOUNDING_AMOUNT_GWEI).contains(&amount_gwei) {
            return Err(KeyError::InvalidRequest(format!(
                "amount {amount_gwei} Gwei is outside 1..=2048 ETH for compounding (0x02) validators"
            )));
        }
    } else if amount_gwei != DEFAULT_AMOUNT_GWEI {
        return Err(KeyError::InvalidRequest(format!(
            "amount {amount_gwei} Gwei: validators with 0x01 credentials are deposited with exactly 32 ETH (32000000000 Gwei)"
        )));
    }
    Ok(())
}

/// Signs a deposit with the validator's signing key.
pub fn sign_deposit(
    signing_key: &SecretKey,
    withdrawal_credentials: &[u8; 32],
    amount_gwei: u64,
    network: Network,
) -> DepositDataEntry {
    let pubkey = signing_key.public_key();
    let message_root = deposit_message_root(&pubkey, withdrawal_credentials, amount_gwei);
    let fork_version = network.genesis_fork_version();
    let signing_root = compute_signing_root(&message_root, &deposit_domain(fork_version));
    let signature = signing_key.sign(&signing_root);
    DepositDataEntry {
        pubkey: pubkey.to_hex(),
        withdrawal_credentials: hex::encode(withdrawal_credentials),
        amount: amount_gwei,
        signature: signature.to_hex(),
        deposit_message_root: hex::encode(&message_root),
        deposit_data_root: hex::encode(&deposit_data_root(
            &pubkey,
            withdrawal_credentials,
            amount_gwei,
            &signature,
        )),
        fork_version: hex::encode(&fork_version),
        network_name: network.name().to_owned(),
        deposit_cli_version: DEPOSIT_CLI_VERSION.to_owned(),
    }
}

/// Recomputes both roots, checks the fork version against the named network, and verifies the
/// signature. Any mismatch is [`KeyError::DepositCheck`].
pub fn verify_deposit(entry: &DepositDataEntry) -> Result<(), KeyError> {
    let fail = |reason: String| KeyError::DepositCheck {
        pubkey: entry.pubkey.clone(),
        reason,
    };
    let pubkey = PublicKey::from_hex(&entry.pubkey)?;
    let wc = hex::decode_array::<32>(&entry.withdrawal_credentials, "withdrawal_credentials")?;
    let signature = Signature::from_hex(&entry.signature)?;
    let fork_version = hex::decode_array::<4>(&entry.fork_version, "fork_version")?;
    if let Ok(network) = entry.network_name.parse::<Network>() {
        if network.genesis_fork_version() != fork_version {
            return Err(fail(format!(
                "fork_version {} is not {}'s genesis fork version {}",
                entry.fork_version,
                network,
                hex::encode(&network.genesis_fork_version())
            )));
        }
    }
    let message_root = deposit_message_root(&pubkey, &wc, entry.amount);
    if hex::encode(&message_root) != entry.deposit_message_root.to_ascii_lowercase() {
        return Err(fail(
            "deposit_message_root does not match the recomputed root".into(),
        ));
    }
    let data_root = deposit_data_root(&pubkey, &wc, entry.amount, &signature);
    if hex::encode(&data_root) != entry.deposit_data_root.to_ascii_lowercase() {
        return Err(fail(
            "deposit_data_root does not match the recomputed root".into(),
        ));
    }
    let signing_root = compute_signing_root(&message_root, &deposit_domain(fork_version));
    if !bls::verify(&pubkey, &signing_root, &signature) {
        return Err(fail(
            "the signature does not verify for this pubkey, message and fork version".into(),
        ));
    }
    Ok(())
}

/// Parses a `deposit_data-*.json` file.
pub fn parse_deposit_data(text: &str) -> Result<Vec<DepositDataEntry>, KeyError> {
    serde_json::from_str(text).map_err(|source| KeyError::Json {
        what: "deposit data".into(),
        source,
    })
}

/// Renders a `deposit_data-*.json` file exactly as the deposit CLI does (one line, Python separators).
pub fn deposit_data_to_json(entries: &[DepositDataEntry]) -> Result<String, KeyError> {
    pyjson::to_string(&entries).map_err(|source| KeyError::Json {
        what: "deposit data".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::derive::{DerivationPath, derive_path};
    use crate::keys::mnemonic::Mnemonic;

    const MNEMONIC: &str = "test test test test test test test test test test test waste";
    const ADDRESS: &str = "0x0f51bb10119727a7e5ea3538074fb341f56b09ad";

    fn fixture(name: &str) -> String {
        let path = concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/tests/fixtures/keys/"
        );
        std::fs::read_to_string(format!("{path}{name}")).unwrap()
    }

    fn key(seed: &[u8], path: DerivationPath) -> SecretKey {
        SecretKey::from_bytes(derive_path(seed, &path).unwrap().expose()).unwrap()
    }

    #[test]
    fn network_fork_versions_and_names() {
        let hexes: Vec<String> = Network::ALL
            .iter()
            .map(|n| hex::encode(&n.genesis_fork_version()))
            .collect();
        assert_eq!(hexes, ["00000000", "90000069", "01017000", "10000910"]);
        assert_eq!("Hoodi".parse::<Network>().unwrap(), Network::Hoodi);
        assert!(matches!(
            "goerli".parse::<Network>(),
            Err(KeyError::UnknownNetwork(_))
        ));
    }

    #[test]
    fn eip55_addresses() {
        // The deposit contract's address, as the deposit CLI's tests use it.
        let good = "0x00000000219ab540356cBB839Cbe05303d7705Fa";
        let a: ExecutionAddress = good.parse().unwrap();
        assert_eq!(a.to_checksummed(), good);
        assert!(
            "0x00000000219ab540356cBB839Cbe05303d7705FA"
                .parse::<ExecutionAddress>()
                .is_err()
        );
        assert_eq!(good.to_lowercase().parse::<ExecutionAddress>().unwrap(), a);
        assert_eq!(
            format!("0x{}", good[2..].to_uppercase())
                .parse::<ExecutionAddress>()
                .unwrap(),
            a
        );
        for bad in [
            "00000000219ab540356cbb839cbe05303d7705fa",
            "0x1234",
            "0xzz000000219ab540356cbb839cbe05303d7705fa",
            "0x0000000000000000000000000000000000000000",
        ] {
            assert!(bad.parse::<ExecutionAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_shapes() {
        let a: ExecutionAddress = ADDRESS.parse().unwrap();
        assert_eq!(
            hex::encode(&execution_withdrawal_credentials(&a, false)),
            "0100000000000000000000000f51bb10119727a7e5ea3538074fb341f56b09ad"
        );
        assert_eq!(
            hex::encode(&execution_withdrawal_credentials(&a, true)),
            "0200000000000000000000000f51bb10119727a7e5ea3538074fb341f56b09ad"
        );
    }

    /// Regenerates the deposit CLI's published deposit data from its mnemonic and compares every field.
    fn regenerate(
        name: &str,
        first: u32,
        count: u32,
        network: Network,
        credentials: &dyn Fn(&[u8], u32) -> [u8; 32],
    ) {
        let published = parse_deposit_data(&fixture(name)).unwrap();
        assert_eq!(published.len(), count as usize);
        let seed = Mnemonic::parse(MNEMONIC).unwrap().to_seed("");
        let ours: Vec<DepositDataEntry> = (first..first + count)
            .map(|i| {
                let sk = key(seed.expose(), DerivationPath::signing(i));
                sign_deposit(
                    &sk,
                    &credentials(seed.expose(), i),
                    DEFAULT_AMOUNT_GWEI,
                    network,
                )
            })
            .collect();
        for entry in &published {
            verify_deposit(entry).unwrap();
        }
        assert_eq!(ours, published, "{name}");
        // Same bytes on disk as the deposit CLI (its file ends without a newline).
        assert_eq!(
            deposit_data_to_json(&ours).unwrap(),
            fixture(name).trim_end()
        );
    }

    #[test]
    fn reproduces_deposit_cli_mainnet_compounding() {
        let a: ExecutionAddress = ADDRESS.parse().unwrap();
        regenerate(
            "deposit_data-mainnet-0x02-first0-count2.json",
            0,
            2,
            Network::Mainnet,
            &|_, _| execution_withdrawal_credentials(&a, true),
        );
    }

    #[test]
    fn reproduces_deposit_cli_hoodi_execution() {
        let a: ExecutionAddress = ADDRESS.parse().unwrap();
        regenerate(
            "deposit_data-hoodi-0x01-first0-count2.json",
            0,
            2,
            Network::Hoodi,
            &|_, _| execution_withdrawal_credentials(&a, false),
        );
    }

    #[test]
    fn reproduces_deposit_cli_bls_credentials_at_index_1024() {
        // 0x00 credentials come from the withdrawal key m/12381/3600/i/0: this checks that path too.
        regenerate(
            "deposit_data-mainnet-0x00-first1024-count3.json",
            1024,
            3,
            Network::Mainnet,
            &|seed, i| {
                bls_withdrawal_credentials(&key(seed, DerivationPath::withdrawal(i)).public_key())
            },
        );
    }

    #[test]
    fn tampered_deposits_are_refused() {
        let good = parse_deposit_data(&fixture("deposit_data-hoodi-0x01-first0-count2.json"))
            .unwrap()
            .remove(0);
        let mut amount = good.clone();
        amount.amount += 1;
        assert!(verify_deposit(&amount).is_err());
        let mut fork = good.clone();
        fork.fork_version = "00000000".into();
        assert!(
            verify_deposit(&fork).is_err(),
            "hoodi name with mainnet fork version"
        );
        fork.network_name = "mainnet".into();
        assert!(verify_deposit(&fork).is_err(), "signature made for hoodi");
        let mut wc = good.clone();
        wc.withdrawal_credentials = wc.withdrawal_credentials.replace("0f51", "0f52");
        assert!(verify_deposit(&wc).is_err());
        let mut root = good;
        root.deposit_data_root = "00".repeat(32);
        assert!(verify_deposit(&root).is_err());
    }

    #[test]
    fn amounts() {
        assert!(check_amount(DEFAULT_AMOUNT_GWEI, false).is_ok());
        assert!(check_amount(DEFAULT_AMOUNT_GWEI, true).is_ok());
        assert!(check_amount(33 * GWEI_PER_ETH, false).is_err());
        assert!(check_amount(2048 * GWEI_PER_ETH, true).is_ok());
        assert!(check_amount(2049 * GWEI_PER_ETH, true).is_err());
        assert!(check_amount(GWEI_PER_ETH - 1, true).is_err());
    }
}
