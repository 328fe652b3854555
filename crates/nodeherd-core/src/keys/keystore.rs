//! EIP-2335 keystores (version 4): encrypt a 32-byte BLS secret key under a password, decrypt it back.
//!
//! KDF scrypt (n=262144, r=8, p=1) or PBKDF2-HMAC-SHA256 (c=262144), dklen 32; checksum
//! `SHA256(DK[16:32] || cipher_message)`; cipher AES-128-CTR keyed with `DK[0:16]`. The password is
//! NFKD-normalised and stripped of C0, C1 and DEL control characters. Weaker KDF settings exist only
//! through the explicitly named `insecure_*_for_tests` constructors. Pure apart from OS randomness.
//!
//! May not touch: files, the network, the terminal (callers read and write keystores).

use std::fmt;

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::keys::bls::{PublicKey, SecretKey};
use crate::keys::derive::DerivationPath;
use crate::keys::{KeyError, Secret, hex, pyjson};

type Aes128Ctr = ctr::Ctr128BE<Aes128>;

/// scrypt's and PBKDF2's standard work factor for keystores.
pub const STANDARD_WORK: u32 = 262_144;
const DKLEN: u32 = 32;
/// Largest scrypt n accepted when decrypting (memory 128 * r * n; 1 GiB at r = 8).
const MAX_SCRYPT_N: u32 = 1 << 20;
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
const MAX_PBKDF2_C: u32 = 1 << 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kdf {
    Scrypt { n: u32, r: u32, p: u32 },
    Pbkdf2 { c: u32 },
}

/// The key derivation for new keystores. Only the standard settings are accepted by [`Keystore::encrypt`]
/// unless the value came from an `insecure_*_for_tests` constructor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    kdf: Kdf,
    weak_allowed: bool,
}

impl KdfParams {
    /// scrypt n=262144, r=8, p=1 (what the deposit CLI writes).
    pub const fn scrypt() -> Self {
        KdfParams {
            kdf: Kdf::Scrypt {
                n: STANDARD_WORK,
                r: 8,
                p: 1,
            },
            weak_allowed: false,
        }
    }

    /// PBKDF2-HMAC-SHA256 with c=262144.
    pub const fn pbkdf2() -> Self {
        KdfParams {
            kdf: Kdf::Pbkdf2 { c: STANDARD_WORK },
            weak_allowed: false,
        }
    }

    /// scrypt with a small n (a power of two) so tests run fast. Never for real keys.
    pub const fn insecure_scrypt_for_tests(n: u32) -> Self {
        KdfParams {
            kdf: Kdf::Scrypt { n, r: 8, p: 1 },
            weak_allowed: true,
        }
    }

    /// PBKDF2 with a small c so tests run fast. Never for real keys.
    pub const fn insecure_pbkdf2_for_tests(c: u32) -> Self {
        KdfParams {
            kdf: Kdf::Pbkdf2 { c },
            weak_allowed: true,
        }
    }

    fn check_strength(&self) -> Result<(), KeyError> {
        let weak = match self.kdf {
            Kdf::Scrypt { n, r, p } => n < STANDARD_WORK || r < 8 || p < 1,
            Kdf::Pbkdf2 { c } => c < STANDARD_WORK,
        };
        if weak && !self.weak_allowed {
            return Err(KeyError::WeakKdf {
                what: format!("{:?}", self.kdf),
            });
        }
        Ok(())
    }
}

/// One module of the keystore's `crypto` object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Module {
    pub function: String,
    pub params: serde_json::Value,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Crypto {
    pub kdf: Module,
    pub checksum: Module,
    pub cipher: Module,
}

/// An EIP-2335 keystore as JSON (field order as the deposit CLI writes it). Contains no plaintext
/// secret, so `Debug` is safe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keystore {
    pub crypto: Crypto,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubkey: Option<String>,
    pub path: String,
    pub uuid: String,
    pub version: u32,
}

/// The password as EIP-2335 wants it: NFKD, without C0 (0x00-0x1F), DEL (0x7F) and C1 (0x80-0x9F).
pub fn normalize_password(password: &str) -> Secret<String> {
    Secret::new(
        password
            .nfkd()
            .filter(|&c| !matches!(c as u32, 0x00..=0x1f | 0x7f | 0x80..=0x9f))
            .collect(),
    )
}

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut b)
        .map_err(|e| KeyError::Randomness(e.to_string()))?;
    Ok(b)
}

fn format_err(reason: impl Into<String>) -> KeyError {
    KeyError::KeystoreFormat {
        reason: reason.into(),
    }
}

fn param_u32(params: &serde_json::Value, name: &str) -> Result<u32, KeyError> {
    params
        .get(name)
        .and_then(serde_json::Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            format_err(format!(
                "kdf param {name:?} is missing or not an integer below 2^32"
            ))
        })
}

fn param_str<'a>(params: &'a serde_json::Value, name: &str) -> Result<&'a str, KeyError> {
    params
        .get(name)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format_err(format!("param {name:?} is missing or not a string")))
}

/// Derives the 32-byte decryption key.
fn derive_key(kdf: &Kdf, password: &str, salt: &[u8]) -> Result<Secret<[u8; 32]>, KeyError> {
    let password = normalize_password(password);
    let mut dk = Secret::new([0u8; 32]);
    match *kdf {
        Kdf::Scrypt { n, r, p } => {
            if !n.is_power_of_two() || n < 2 {
                return Err(format_err(format!(
                    "scrypt n={n} is not a power of two >= 2"
                )));
            }
            let log_n = n.trailing_zeros() as u8;
            let params = scrypt::Params::new(log_n, r, p, 32).map_err(|e| {
                format_err(format!("scrypt parameters n={n} r={r} p={p} refused: {e}"))
            })?;
            scrypt::scrypt(password.expose().as_bytes(), salt, &params, dk.expose_mut())
                .map_err(|e| format_err(format!("scrypt failed: {e}")))?;
        }
        Kdf::Pbkdf2 { c } => {
            pbkdf2::pbkdf2_hmac::<Sha256>(password.expose().as_bytes(), salt, c, dk.expose_mut());
        }
    }
    Ok(dk)
}

fn checksum(dk: &[u8; 32], cipher_message: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&dk[16..32]);
    h.update(cipher_message);
    h.finalize().into()
}

fn apply_aes_ctr(dk: &[u8; 32], iv: &[u8; 16], data: &mut [u8]) {
    let mut cipher = Aes128Ctr::new(dk[..16].into(), iv.into());
    cipher.apply_keystream(data);
}

/// Equality without early exit (the checksum guards the password).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Keystore {
    /// Encrypts a BLS secret key with fresh random salt, IV and UUID.
    pub fn encrypt(
        secret_key: &SecretKey,
        password: &str,
        path: &DerivationPath,
        kdf: &KdfParams,
        description: &str,
    ) -> Result<Keystore, KeyError> {
        kdf.check_strength()?;
        let salt = random::<32>()?;
        let iv = random::<16>()?;
        let uuid = uuid::Builder::from_random_bytes(random::<16>()?).into_uuid();
        Self::encrypt_with(
            secret_key,
            password,
            &path.to_string(),
            kdf,
            description,
            &salt,
            &iv,
            uuid,
        )
    }

    /// Deterministic encryption with given salt, IV and UUID (for reproducing published vectors).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn encrypt_with(
        secret_key: &SecretKey,
        password: &str,
        path: &str,
        kdf: &KdfParams,
        description: &str,
        salt: &[u8; 32],
        iv: &[u8; 16],
        uuid: uuid::Uuid,
    ) -> Result<Keystore, KeyError> {
        let dk = derive_key(&kdf.kdf, password, salt)?;
        let secret = secret_key.to_bytes();
        let mut cipher_message = *secret.expose();
        apply_aes_ctr(dk.expose(), iv, &mut cipher_message);
        let sum = checksum(dk.expose(), &cipher_message);
        let kdf_module = match kdf.kdf {
            Kdf::Scrypt { n, r, p } => Module {
                function: "scrypt".into(),
                params: serde_json::json!({"dklen": DKLEN, "n": n, "r": r, "p": p, "salt": hex::encode(salt)}),
                message: String::new(),
            },
            Kdf::Pbkdf2 { c } => Module {
                function: "pbkdf2".into(),
                params: serde_json::json!({"c": c, "dklen": DKLEN, "prf": "hmac-sha256", "salt": hex::encode(salt)}),
                message: String::new(),
            },
        };
        Ok(Keystore {
            crypto: Crypto {
                kdf: kdf_module,
                checksum: Module {
                    function: "sha256".into(),
                    params: serde_json::json!({}),
                    message: hex::encode(&sum),
                },
                cipher: Module {
                    function: "aes-128-ctr".into(),
                    params: serde_json::json!({"iv": hex::encode(iv)}),
                    message: hex::encode(&cipher_message),
                },
            },
            description: description.to_owned(),
            pubkey: Some(secret_key.public_key().to_hex()),
            path: path.to_owned(),
            uuid: uuid.hyphenated().to_string(),
            version: 4,
        })
    }

    /// Parses and checks the structure (version 4, UUID, supported modules); does not need the password.
    pub fn from_json(text: &str) -> Result<Keystore, KeyError> {
        let ks: Keystore = serde_json::from_str(text).map_err(|source| KeyError::Json {
            what: "keystore".into(),
            source,
        })?;
        if ks.version != 4 {
            return Err(format_err(format!(
                "version {} is not 4 (EIP-2335); version 3 keystores are Ethereum wallets, not validator keys",
                ks.version
            )));
        }
        uuid::Uuid::parse_str(&ks.uuid)
            .map_err(|e| format_err(format!("uuid {:?}: {e}", ks.uuid)))?;
        ks.kdf()?;
        ks.iv()?;
        if ks.crypto.checksum.function != "sha256" {
            return Err(KeyError::UnsupportedFunction {
                module: "checksum",
                function: ks.crypto.checksum.function.clone(),
                supported: "sha256",
            });
        }
        if !ks.path.is_empty() {
            ks.path.parse::<DerivationPath>()?;
        }
        Ok(ks)
    }

    /// The keystore as one line of JSON, laid out like the deposit CLI's files.
    pub fn to_json(&self) -> Result<String, KeyError> {
        pyjson::to_string(self).map_err(|source| KeyError::Json {
            what: "keystore".into(),
            source,
        })
    }

    /// The public key declared in the file (validated), if any.
    pub fn public_key(&self) -> Result<Option<PublicKey>, KeyError> {
        self.pubkey
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(PublicKey::from_hex)
            .transpose()
    }

    fn kdf(&self) -> Result<(Kdf, Vec<u8>), KeyError> {
        let m = &self.crypto.kdf;
        let dklen = param_u32(&m.params, "dklen")?;
        if dklen != DKLEN {
            return Err(format_err(format!("kdf dklen {dklen} is not 32")));
        }
        let salt = hex::decode(param_str(&m.params, "salt")?, "kdf salt")?;
        let kdf = match m.function.as_str() {
            "scrypt" => {
                let (n, r, p) = (
                    param_u32(&m.params, "n")?,
                    param_u32(&m.params, "r")?,
                    param_u32(&m.params, "p")?,
                );
                let memory = 128u64 * u64::from(r) * u64::from(n);
                if n > MAX_SCRYPT_N
                    || r == 0
                    || r > 32
                    || p == 0
                    || p > 16
                    || memory > MAX_SCRYPT_MEMORY
                {
                    return Err(format_err(format!(
                        "scrypt n={n} r={r} p={p} is outside the accepted range"
                    )));
                }
                Kdf::Scrypt { n, r, p }
            }
            "pbkdf2" => {
                let prf = param_str(&m.params, "prf")?;
                if prf != "hmac-sha256" {
                    return Err(KeyError::UnsupportedFunction {
                        module: "pbkdf2 prf",
                        function: prf.to_owned(),
                        supported: "hmac-sha256",
                    });
                }
                let c = param_u32(&m.params, "c")?;
                if c == 0 || c > MAX_PBKDF2_C {
                    return Err(format_err(format!(
                        "pbkdf2 c={c} is outside the accepted range"
                    )));
                }
                Kdf::Pbkdf2 { c }
            }
            other => {
                return Err(KeyError::UnsupportedFunction {
                    module: "kdf",
                    function: other.to_owned(),
                    supported: "scrypt, pbkdf2",
                });
            }
        };
        Ok((kdf, salt))
    }

    fn iv(&self) -> Result<[u8; 16], KeyError> {
        let c = &self.crypto.cipher;
        if c.function != "aes-128-ctr" {
            return Err(KeyError::UnsupportedFunction {
                module: "cipher",
                function: c.function.clone(),
                supported: "aes-128-ctr",
            });
        }
        hex::decode_array::<16>(param_str(&c.params, "iv")?, "cipher iv")
    }

    /// Decrypts the secret. A wrong password is [`KeyError::WrongPassword`].
    pub fn decrypt(&self, password: &str) -> Result<Secret<Vec<u8>>, KeyError> {
        let (kdf, salt) = self.kdf()?;
        let iv = self.iv()?;
        let cipher_message = hex::decode(&self.crypto.cipher.message, "cipher message")?;
        let expected = hex::decode(&self.crypto.checksum.message, "checksum message")?;
        let dk = derive_key(&kdf, password, &salt)?;
        if !constant_time_eq(&checksum(dk.expose(), &cipher_message), &expected) {
            return Err(KeyError::WrongPassword);
        }
        let mut secret = Secret::new(cipher_message);
        apply_aes_ctr(dk.expose(), &iv, secret.expose_mut());
        Ok(secret)
    }

    /// Decrypts a BLS secret key and checks it against the `pubkey` field when there is one.
    pub fn decrypt_secret_key(&self, password: &str) -> Result<SecretKey, KeyError> {
        let secret = self.decrypt(password)?;
        let bytes: &[u8; 32] = secret.expose().as_slice().try_into().map_err(|_| {
            format_err(format!(
                "the secret has {} bytes, not 32",
                secret.expose().len()
            ))
        })?;
        let sk = SecretKey::from_bytes(bytes)?;
        if let Some(declared) = self.public_key()? {
            if declared != sk.public_key() {
                return Err(KeyError::PubkeyMismatch);
            }
        }
        Ok(sk)
    }
}

impl fmt::Display for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "keystore {} ({})",
            self.pubkey.as_deref().unwrap_or("<no pubkey>"),
            self.path
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "\u{1d531}\u{1d522}\u{1d530}\u{1d531}\u{1d52d}\u{1d51e}\u{1d530}\u{1d530}\u{1d534}\u{1d52c}\u{1d52f}\u{1d521}\u{1f511}";
    const SECRET: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
    const PBKDF2_VECTOR: &str = include_str!("../../../../tests/fixtures/keys/eip2335-pbkdf2.json");
    const SCRYPT_VECTOR: &str = include_str!("../../../../tests/fixtures/keys/eip2335-scrypt.json");

    fn secret_key() -> SecretKey {
        SecretKey::from_bytes(&hex::decode_array::<32>(SECRET, "sk").unwrap()).unwrap()
    }

    #[test]
    fn password_is_normalized_as_the_eip_says() {
        assert_eq!(PASSWORD, "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑");
        assert_eq!(
            hex::encode(normalize_password(PASSWORD).expose().as_bytes()),
            "7465737470617373776f7264f09f9491"
        );
        assert_eq!(
            normalize_password("a\u{0}b\u{7f}c\u{85}d\te f\n").expose(),
            "abcde f"
        );
    }

    #[test]
    fn eip2335_pbkdf2_vector_decrypts() {
        let ks = Keystore::from_json(PBKDF2_VECTOR).unwrap();
        assert_eq!(hex::encode(ks.decrypt(PASSWORD).unwrap().expose()), SECRET);
        let sk = ks.decrypt_secret_key(PASSWORD).unwrap();
        assert_eq!(Some(sk.public_key()), ks.public_key().unwrap());
        assert!(matches!(
            ks.decrypt("testpassword"),
            Err(KeyError::WrongPassword)
        ));
    }

    #[test]
    fn eip2335_pbkdf2_vector_is_reproduced_by_encrypt() {
        let vector = Keystore::from_json(PBKDF2_VECTOR).unwrap();
        let salt = hex::decode_array::<32>(
            "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
            "s",
        )
        .unwrap();
        let iv = hex::decode_array::<16>("264daa3f303d7259501c93d997d84fe6", "iv").unwrap();
        let uuid = uuid::Uuid::parse_str(&vector.uuid).unwrap();
        let ours = Keystore::encrypt_with(
            &secret_key(),
            PASSWORD,
            &vector.path,
            &KdfParams::pbkdf2(),
            &vector.description,
            &salt,
            &iv,
            uuid,
        )
        .unwrap();
        assert_eq!(ours, vector);
    }

    /// The scrypt vector needs n=262144 (256 MiB, about 1 s optimised). Runs in every profile because
    /// dependencies are built with opt-level 1 in dev; see docs/keys.md for the measured time.
    #[test]
    fn eip2335_scrypt_vector_decrypts() {
        let ks = Keystore::from_json(SCRYPT_VECTOR).unwrap();
        assert_eq!(hex::encode(ks.decrypt(PASSWORD).unwrap().expose()), SECRET);
        assert_eq!(ks.path, "m/12381/60/3141592653/589793238");
    }

    #[test]
    fn round_trip_with_weak_test_kdfs_and_wrong_password() {
        let path = DerivationPath::signing(3);
        for kdf in [
            KdfParams::insecure_scrypt_for_tests(16),
            KdfParams::insecure_pbkdf2_for_tests(8),
        ] {
            let ks = Keystore::encrypt(&secret_key(), "correct horse", &path, &kdf, "").unwrap();
            let text = ks.to_json().unwrap();
            let back = Keystore::from_json(&text).unwrap();
            assert_eq!(back, ks);
            assert_eq!(back.path, "m/12381/3600/3/0/0");
            let sk = back.decrypt_secret_key("correct horse").unwrap();
            assert_eq!(sk.public_key(), secret_key().public_key());
            assert!(matches!(
                back.decrypt("correct horsE"),
                Err(KeyError::WrongPassword)
            ));
            assert!(!text.contains(SECRET));
        }
    }

    #[test]
    fn weak_kdf_refused_without_the_test_constructor() {
        let weak = KdfParams {
            kdf: Kdf::Scrypt {
                n: 1024,
                r: 8,
                p: 1,
            },
            weak_allowed: false,
        };
        let err = Keystore::encrypt(&secret_key(), "pw", &DerivationPath::signing(0), &weak, "")
            .unwrap_err();
        assert!(matches!(err, KeyError::WeakKdf { .. }), "{err}");
        assert!(KdfParams::scrypt().check_strength().is_ok());
        assert!(KdfParams::pbkdf2().check_strength().is_ok());
    }

    #[test]
    fn malformed_keystores_are_typed_errors() {
        let mut v: serde_json::Value = serde_json::from_str(PBKDF2_VECTOR).unwrap();
        type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("version", Box::new(|v| v["version"] = 3.into())),
            (
                "kdf",
                Box::new(|v| v["crypto"]["kdf"]["function"] = "argon2".into()),
            ),
            (
                "cipher",
                Box::new(|v| v["crypto"]["cipher"]["function"] = "aes-256-gcm".into()),
            ),
            (
                "prf",
                Box::new(|v| v["crypto"]["kdf"]["params"]["prf"] = "hmac-sha512".into()),
            ),
            (
                "dklen",
                Box::new(|v| v["crypto"]["kdf"]["params"]["dklen"] = 16.into()),
            ),
            ("uuid", Box::new(|v| v["uuid"] = "not-a-uuid".into())),
            (
                "iv",
                Box::new(|v| v["crypto"]["cipher"]["params"]["iv"] = "00".into()),
            ),
            ("path", Box::new(|v| v["path"] = "m/x".into())),
            (
                "scrypt n",
                Box::new(|v| {
                    v["crypto"]["kdf"] = serde_json::json!({"function": "scrypt", "message": "",
                    "params": {"dklen": 32, "n": 1u64 << 30, "r": 8, "p": 1, "salt": "00"}});
                }),
            ),
        ];
        for (name, mutate) in cases {
            let mut bad = v.clone();
            mutate(&mut bad);
            assert!(
                Keystore::from_json(&bad.to_string()).is_err(),
                "{name} should be refused"
            );
        }
        assert!(Keystore::from_json("{").is_err());
        // A pubkey that does not match the secret inside.
        v["pubkey"] = secret_key_other().public_key().to_hex().into();
        let ks = Keystore::from_json(&v.to_string()).unwrap();
        assert!(matches!(
            ks.decrypt_secret_key(PASSWORD),
            Err(KeyError::PubkeyMismatch)
        ));
    }

    fn secret_key_other() -> SecretKey {
        let mut b = [0u8; 32];
        b[31] = 9;
        SecretKey::from_bytes(&b).unwrap()
    }
}
