//! `keys generate`: mnemonic -> EIP-2333/2334 keys -> EIP-2335 keystores + `deposit_data-<ts>.json`,
//! written like the EthStaker deposit CLI (`keystore-m_12381_3600_<i>_0_0-<ts>.json`), files mode 0600.
//!
//! Owns the only file writes of the keys module, all into the request's output directory, and never
//! overwrites: if any target file exists nothing is written. The mnemonic is never written to disk
//! here. Everything produced is checked before it is written: each keystore decrypts back to its key,
//! each deposit's roots are recomputed and its signature verified.
//!
//! May not touch: files, the network, the terminal (it returns what the caller writes).

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::keys::bls::{PublicKey, SecretKey};
use crate::keys::deposit::{
    DepositDataEntry, ExecutionAddress, Network, check_amount, deposit_data_to_json,
    execution_withdrawal_credentials, sign_deposit, verify_deposit,
};
use crate::keys::derive::{DerivationPath, derive_path};
use crate::keys::keystore::{KdfParams, Keystore, normalize_password};
use crate::keys::mnemonic::Mnemonic;
use crate::keys::{KeyError, Secret};

/// Most validators one request may generate.
pub const MAX_COUNT: u32 = 10_000;
/// Shortest keystore password accepted (the deposit CLI's rule), counted after normalisation.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// What to generate. Build it with [`GenerateRequest::new`] and adjust the public fields.
#[derive(Debug)]
pub struct GenerateRequest {
    pub mnemonic: Mnemonic,
    /// The BIP-39 passphrase ("" for none; the deposit CLI's `--mnemonic_password`).
    pub mnemonic_passphrase: Secret<String>,
    pub count: u32,
    pub start_index: u32,
    pub network: Network,
    pub withdrawal_address: ExecutionAddress,
    /// 0x02 (compounding) instead of 0x01 withdrawal credentials.
    pub compounding: bool,
    /// Deposit amount in Gwei (32 ETH by default; exactly 32 ETH for 0x01).
    pub amount_gwei: u64,
    pub keystore_password: Secret<String>,
    pub kdf: KdfParams,
    pub out_dir: PathBuf,
    /// Unix seconds used in the file names (injected so tests and callers control the clock).
    pub timestamp: u64,
}

impl GenerateRequest {
    /// One 0x01 validator at index 0, 32 ETH, scrypt keystores, timestamp = now.
    pub fn new(
        mnemonic: Mnemonic,
        network: Network,
        withdrawal_address: ExecutionAddress,
        keystore_password: Secret<String>,
        out_dir: PathBuf,
    ) -> Self {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        GenerateRequest {
            mnemonic,
            mnemonic_passphrase: Secret::new(String::new()),
            count: 1,
            start_index: 0,
            network,
            withdrawal_address,
            compounding: false,
            amount_gwei: crate::keys::deposit::DEFAULT_AMOUNT_GWEI,
            keystore_password,
            kdf: KdfParams::scrypt(),
            out_dir,
            timestamp,
        }
    }
}

/// One generated validator key.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    pub index: u32,
    pub path: DerivationPath,
    pub pubkey: PublicKey,
    pub keystore_file: PathBuf,
}

/// The result: keystore files and the deposit data file, all already written and verified.
#[derive(Debug, Clone)]
pub struct Generated {
    pub keys: Vec<GeneratedKey>,
    pub deposit_data_file: PathBuf,
    pub deposit_data: Vec<DepositDataEntry>,
}

/// The keystore file name the deposit CLI uses.
pub fn keystore_file_name(path: &DerivationPath, timestamp: u64) -> String {
    format!("keystore-{}-{timestamp}.json", path.file_stem())
}

/// The deposit data file name the deposit CLI uses.
pub fn deposit_data_file_name(timestamp: u64) -> String {
    format!("deposit_data-{timestamp}.json")
}

fn validate(req: &GenerateRequest) -> Result<(), KeyError> {
    if req.count == 0 || req.count > MAX_COUNT {
        return Err(KeyError::InvalidRequest(format!(
            "count {} is not in 1..={MAX_COUNT}",
            req.count
        )));
    }
    if req.start_index.checked_add(req.count - 1).is_none() {
        return Err(KeyError::InvalidRequest(format!(
            "start index {} + count {} goes past the last index 2^32-1",
            req.start_index, req.count
        )));
    }
    check_amount(req.amount_gwei, req.compounding)?;
    if normalize_password(req.keystore_password.expose())
        .expose()
        .chars()
        .count()
        < MIN_PASSWORD_CHARS
    {
        return Err(KeyError::InvalidRequest(format!(
            "the keystore password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Creates `path` with mode 0600; never replaces an existing file.
fn write_new(path: &Path, contents: &str) -> Result<(), KeyError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::OutputExists {
                    path: path.to_owned(),
                }
            } else {
                KeyError::Io {
                    path: path.to_owned(),
                    source: e,
                }
            }
        })?;
    file.write_all(contents.as_bytes()).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Generates, verifies and writes keystores and deposit data. See the module documentation.
pub fn generate(req: &GenerateRequest) -> Result<Generated, KeyError> {
    validate(req)?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&req.out_dir)
        .map_err(io_err(&req.out_dir))?;

    let indices: Vec<u32> = (0..req.count).map(|k| req.start_index + k).collect();
    let deposit_data_file = req.out_dir.join(deposit_data_file_name(req.timestamp));
    let keystore_files: Vec<PathBuf> = indices
        .iter()
        .map(|&i| {
            req.out_dir.join(keystore_file_name(
                &DerivationPath::signing(i),
                req.timestamp,
            ))
        })
        .collect();
    for path in keystore_files
        .iter()
        .chain(std::iter::once(&deposit_data_file))
    {
        if path.exists() {
            return Err(KeyError::OutputExists { path: path.clone() });
        }
    }

    let seed = req.mnemonic.to_seed(req.mnemonic_passphrase.expose());
    let withdrawal_credentials =
        execution_withdrawal_credentials(&req.withdrawal_address, req.compounding);
    let mut keys = Vec::with_capacity(indices.len());
    let mut keystore_texts = Vec::with_capacity(indices.len());
    let mut deposit_data = Vec::with_capacity(indices.len());
    for (&index, file) in indices.iter().zip(&keystore_files) {
        let path = DerivationPath::signing(index);
        let signing_key = SecretKey::from_bytes(derive_path(seed.expose(), &path)?.expose())?;
        let pubkey = signing_key.public_key();
        let keystore = Keystore::encrypt(
            &signing_key,
            req.keystore_password.expose(),
            &path,
            &req.kdf,
            "",
        )?;
        let text = keystore.to_json()?;
        // Check the file as written decrypts back to this very key.
        let back =
            Keystore::from_json(&text)?.decrypt_secret_key(req.keystore_password.expose())?;
        if back.public_key() != pubkey {
            return Err(KeyError::PubkeyMismatch);
        }
        let entry = sign_deposit(
            &signing_key,
            &withdrawal_credentials,
            req.amount_gwei,
            req.network,
        );
        verify_deposit(&entry)?;
        keys.push(GeneratedKey {
            index,
            path,
            pubkey,
            keystore_file: file.clone(),
        });
        keystore_texts.push(text);
        deposit_data.push(entry);
    }
    let deposit_text = deposit_data_to_json(&deposit_data)?;

    for (file, text) in keystore_files.iter().zip(&keystore_texts) {
        write_new(file, text)?;
    }
    write_new(&deposit_data_file, &deposit_text)?;
    Ok(Generated {
        keys,
        deposit_data_file,
        deposit_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::deposit::{DEFAULT_AMOUNT_GWEI, parse_deposit_data};
    use std::os::unix::fs::PermissionsExt;

    const MNEMONIC: &str = "test test test test test test test test test test test waste";
    const ADDRESS: &str = "0x0f51bb10119727a7e5ea3538074fb341f56b09ad";
    const PASSWORD: &str = "MyPassword";

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/keys/{name}",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
        ))
        .unwrap()
    }

    fn request(dir: &Path, network: Network, compounding: bool) -> GenerateRequest {
        let mut req = GenerateRequest::new(
            Mnemonic::parse(MNEMONIC).unwrap(),
            network,
            ADDRESS.parse().unwrap(),
            PASSWORD.into(),
            dir.to_owned(),
        );
        req.count = 2;
        req.compounding = compounding;
        req.kdf = KdfParams::insecure_scrypt_for_tests(16);
        req.timestamp = 1_785_211_442;
        req
    }

    #[test]
    fn generates_what_the_deposit_cli_generates() {
        for (network, compounding, name) in [
            (
                Network::Hoodi,
                false,
                "deposit_data-hoodi-0x01-first0-count2.json",
            ),
            (
                Network::Mainnet,
                true,
                "deposit_data-mainnet-0x02-first0-count2.json",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let out = generate(&request(dir.path(), network, compounding)).unwrap();
            assert_eq!(
                out.deposit_data_file,
                dir.path().join("deposit_data-1785211442.json")
            );
            let written = std::fs::read_to_string(&out.deposit_data_file).unwrap();
            assert_eq!(written, fixture(name).trim_end(), "{name}");
            assert_eq!(parse_deposit_data(&written).unwrap(), out.deposit_data);

            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert_eq!(
                names,
                [
                    "deposit_data-1785211442.json",
                    "keystore-m_12381_3600_0_0_0-1785211442.json",
                    "keystore-m_12381_3600_1_0_0-1785211442.json"
                ]
            );
            for (key, entry) in out.keys.iter().zip(&out.deposit_data) {
                let meta = std::fs::metadata(&key.keystore_file).unwrap();
                assert_eq!(meta.permissions().mode() & 0o777, 0o600);
                let text = std::fs::read_to_string(&key.keystore_file).unwrap();
                let ks = Keystore::from_json(&text).unwrap();
                assert_eq!(ks.path, key.path.to_string());
                let sk = ks.decrypt_secret_key(PASSWORD).unwrap();
                assert_eq!(sk.public_key().to_hex(), entry.pubkey);
                for word in ["test", "waste"] {
                    assert!(!text.contains(word), "mnemonic material in a keystore");
                }
            }
            let meta = std::fs::metadata(&out.deposit_data_file).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn refuses_to_overwrite_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = request(dir.path(), Network::Hoodi, false);
        req.count = 1;
        req.start_index = 5;
        // A deposit data file of the same timestamp already exists.
        let existing = dir.path().join("deposit_data-1785211442.json");
        std::fs::write(&existing, "keep me").unwrap();
        let err = generate(&req).unwrap_err();
        assert!(
            matches!(&err, KeyError::OutputExists { path } if path == &existing),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "nothing else was written"
        );
    }

    #[test]
    fn invalid_requests_are_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        type Mutation = Box<dyn Fn(&mut GenerateRequest)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("count 0", Box::new(|r| r.count = 0)),
            ("index overflow", Box::new(|r| r.start_index = u32::MAX)),
            (
                "short password",
                Box::new(|r| r.keystore_password = "short\n\n\n".into()),
            ),
            (
                "0x01 with 33 ETH",
                Box::new(|r| r.amount_gwei = DEFAULT_AMOUNT_GWEI + 1_000_000_000),
            ),
        ];
        for (name, mutate) in cases {
            let mut req = request(dir.path(), Network::Sepolia, false);
            mutate(&mut req);
            assert!(
                matches!(generate(&req), Err(KeyError::InvalidRequest(_))),
                "{name}"
            );
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // Standard scrypt is the default; weak parameters only through the test constructor.
        let req = GenerateRequest::new(
            Mnemonic::parse(MNEMONIC).unwrap(),
            Network::Mainnet,
            ADDRESS.parse().unwrap(),
            PASSWORD.into(),
            dir.path().to_owned(),
        );
        assert_eq!(req.kdf, KdfParams::scrypt());
        let dbg = format!("{req:?}");
        assert!(!dbg.contains("waste") && !dbg.contains(PASSWORD), "{dbg}");
    }

    #[test]
    fn compounding_custom_amount_is_signed_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let mut req = request(dir.path(), Network::Holesky, true);
        req.count = 1;
        req.amount_gwei = 247 * 1_000_000_000;
        let out = generate(&req).unwrap();
        assert_eq!(out.deposit_data[0].amount, 247_000_000_000);
        assert_eq!(out.deposit_data[0].fork_version, "01017000");
        assert!(out.deposit_data[0].withdrawal_credentials.starts_with("02"));
        verify_deposit(&out.deposit_data[0]).unwrap();
    }
}
