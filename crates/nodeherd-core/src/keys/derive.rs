//! EIP-2333 key derivation (BLS12-381 key tree from a seed) and EIP-2334 paths.
//!
//! Secret keys travel as 32-byte big-endian integers inside [`Secret`]; the intermediate Lamport keys
//! are wiped after use. Pure functions: no I/O.
//!
//! May not touch: files, the network, the terminal.

use std::fmt;
use std::str::FromStr;

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::keys::bls::reduce_mod_r;
use crate::keys::{KeyError, Secret};

/// EIP-2334 purpose.
pub const PURPOSE: u32 = 12381;
/// EIP-2334 coin type of Ethereum.
pub const COIN_TYPE_ETH: u32 = 3600;

const SALT: &[u8] = b"BLS-SIG-KEYGEN-SALT-";
/// `L = ceil((3 * ceil(log2(r))) / 16)` for BLS12-381.
const L: usize = 48;
/// Number of 32-byte chunks in a Lamport secret key.
const LAMPORT_CHUNKS: usize = 255;

/// EIP-2333 `HKDF_mod_r`: hashes `ikm` (>= 32 bytes) into a non-zero scalar below r, big-endian.
pub fn hkdf_mod_r(ikm: &[u8], key_info: &[u8]) -> Secret<[u8; 32]> {
    let mut salt: [u8; 32] = Sha256::digest(SALT).into();
    let mut ikm0 = Secret::new(Vec::with_capacity(ikm.len() + 1));
    ikm0.expose_mut().extend_from_slice(ikm);
    ikm0.expose_mut().push(0);
    let mut info = Vec::with_capacity(key_info.len() + 2);
    info.extend_from_slice(key_info);
    info.extend_from_slice(&(L as u16).to_be_bytes());
    loop {
        let hk = Hkdf::<Sha256>::new(Some(&salt), ikm0.expose());
        let mut okm = Secret::new([0u8; L]);
        // L = 48 <= 255 * 32, so expand cannot fail.
        if hk.expand(&info, okm.expose_mut()).is_ok() {
            if let Some(sk) = reduce_mod_r(okm.expose()) {
                return sk;
            }
        }
        // SK == 0 (probability ~2^-255): re-hash the salt and try again, as the EIP says.
        salt = Sha256::digest(salt).into();
    }
}

/// EIP-2333 `IKM_to_lamport_SK`: 255 chunks of 32 bytes, wiped on drop.
fn ikm_to_lamport_sk(ikm: &[u8], salt: &[u8]) -> Secret<Vec<u8>> {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = Secret::new(vec![0u8; 32 * LAMPORT_CHUNKS]);
    // 255 * 32 is exactly HKDF-SHA256's maximum output, so expand cannot fail.
    let _ = hk.expand(&[], okm.expose_mut());
    okm
}

/// EIP-2333 `parent_SK_to_lamport_PK`: the compressed Lamport public key (32 bytes, not secret).
pub fn parent_sk_to_lamport_pk(parent_sk: &[u8; 32], index: u32) -> [u8; 32] {
    let salt = index.to_be_bytes();
    let lamport_0 = ikm_to_lamport_sk(parent_sk, &salt);
    let mut not_ikm = Secret::new(*parent_sk);
    for b in not_ikm.expose_mut().iter_mut() {
        *b = !*b;
    }
    let lamport_1 = ikm_to_lamport_sk(not_ikm.expose(), &salt);
    let mut outer = Sha256::new();
    for lamport in [&lamport_0, &lamport_1] {
        for chunk in lamport.expose().chunks(32) {
            outer.update(Sha256::digest(chunk));
        }
    }
    outer.finalize().into()
}

/// EIP-2333 `derive_child_SK`.
pub fn derive_child_sk(parent_sk: &[u8; 32], index: u32) -> Secret<[u8; 32]> {
    let mut lamport_pk = parent_sk_to_lamport_pk(parent_sk, index);
    let sk = hkdf_mod_r(&lamport_pk, &[]);
    lamport_pk.zeroize();
    sk
}

/// EIP-2333 `derive_master_SK`: the seed must have at least 32 bytes.
pub fn derive_master_sk(seed: &[u8]) -> Result<Secret<[u8; 32]>, KeyError> {
    if seed.len() < 32 {
        return Err(KeyError::SeedTooShort { len: seed.len() });
    }
    Ok(hkdf_mod_r(seed, &[]))
}

/// The secret key at `path` below the master key of `seed`.
pub fn derive_path(seed: &[u8], path: &DerivationPath) -> Result<Secret<[u8; 32]>, KeyError> {
    let mut sk = derive_master_sk(seed)?;
    for &index in path.indices() {
        sk = derive_child_sk(sk.expose(), index);
    }
    Ok(sk)
}

/// An EIP-2334 path such as `m/12381/3600/0/0/0`: `m` followed by indices below 2^32.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DerivationPath(Vec<u32>);

impl DerivationPath {
    /// The signing key of validator `i`: `m/12381/3600/i/0/0`.
    pub fn signing(validator_index: u32) -> Self {
        DerivationPath(vec![PURPOSE, COIN_TYPE_ETH, validator_index, 0, 0])
    }

    /// The withdrawal key of validator `i`: `m/12381/3600/i/0`.
    pub fn withdrawal(validator_index: u32) -> Self {
        DerivationPath(vec![PURPOSE, COIN_TYPE_ETH, validator_index, 0])
    }

    pub fn indices(&self) -> &[u32] {
        &self.0
    }

    /// The path with `/` replaced by `_`, as used in deposit CLI keystore file names.
    pub fn file_stem(&self) -> String {
        self.to_string().replace('/', "_")
    }
}

impl FromStr for DerivationPath {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let err = |reason: &str| KeyError::InvalidPath {
            path: s.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = s.split('/');
        if parts.next() != Some("m") {
            return Err(err("it must start with \"m\""));
        }
        let mut indices = Vec::new();
        for part in parts {
            if part.is_empty() {
                return Err(err("empty component"));
            }
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(
                    "components must be decimal numbers (EIP-2333 has no hardened marker)",
                ));
            }
            if part.len() > 1 && part.starts_with('0') {
                return Err(err("components must not have leading zeros"));
            }
            let index: u32 = part
                .parse()
                .map_err(|_| err("component is not below 2^32"))?;
            indices.push(index);
        }
        Ok(DerivationPath(indices))
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for i in &self.0 {
            write!(f, "/{i}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DerivationPath({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::hex;
    use crate::keys::mnemonic::mnemonic_to_seed;

    /// Decimal string to a 32-byte big-endian integer (the EIP writes keys in decimal).
    fn dec(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for digit in s.bytes() {
            let mut carry = u32::from(digit - b'0');
            for byte in out.iter_mut().rev() {
                let v = u32::from(*byte) * 10 + carry;
                *byte = (v & 0xff) as u8;
                carry = v >> 8;
            }
            assert_eq!(carry, 0, "overflow");
        }
        out
    }

    /// The four test cases of EIP-2333: seed, master_SK, child_index, child_SK.
    const EIP2333: &[(&str, &str, u32, &str)] = &[
        (
            "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
            "6083874454709270928345386274498605044986640685124978867557563392430687146096",
            0,
            "20397789859736650942317412262472558107875392172444076792671091975210932703118",
        ),
        (
            "3141592653589793238462643383279502884197169399375105820974944592",
            "29757020647961307431480504535336562678282505419141012933316116377660817309383",
            3141592653,
            "25457201688850691947727629385191704516744796114925897962676248250929345014287",
        ),
        (
            "0099FF991111002299DD7744EE3355BBDD8844115566CC55663355668888CC00",
            "27580842291869792442942448775674722299803720648445448686099262467207037398656",
            4294967295,
            "29358610794459428860402234341874281240803786294062035874021252734817515685787",
        ),
        (
            "d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
            "19022158461524446591288038168518313374041767046816487870552872741050760015818",
            42,
            "31372231650479070279774297061823572166496564838472787488249775572789064611981",
        ),
    ];

    #[test]
    fn eip2333_test_cases() {
        for (seed, master, index, child) in EIP2333 {
            let seed = hex::decode(seed, "seed").unwrap();
            let master_sk = derive_master_sk(&seed).unwrap();
            assert_eq!(
                master_sk.expose(),
                &dec(master),
                "master of {}",
                hex::encode(&seed)
            );
            let child_sk = derive_child_sk(master_sk.expose(), *index);
            assert_eq!(child_sk.expose(), &dec(child), "child {index}");
        }
    }

    #[test]
    fn eip2333_intermediate_lamport_pk() {
        let seed = hex::decode(EIP2333[0].0, "seed").unwrap();
        let master_sk = derive_master_sk(&seed).unwrap();
        assert_eq!(
            hex::encode(&parent_sk_to_lamport_pk(master_sk.expose(), 0)),
            "dd635d27d1d52b9a49df9e5c0c622360a4dd17cba7db4e89bce3cb048fb721a5"
        );
    }

    #[test]
    fn eip2333_case_0_from_its_mnemonic() {
        // The EIP says case 0's seed is BIP-39 "abandon x11 about" with passphrase "TREZOR".
        let seed = mnemonic_to_seed(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
            "TREZOR",
        );
        assert_eq!(hex::encode(seed.expose()), EIP2333[0].0);
    }

    #[test]
    fn hkdf_mod_r_agrees_with_blst_keygen() {
        // EIP-2333 states HKDF_mod_r equals KeyGen of the IETF BLS draft v4, which blst implements.
        for (seed, _, _, _) in EIP2333 {
            let seed = hex::decode(seed, "seed").unwrap();
            let ours = hkdf_mod_r(&seed, &[]);
            let theirs = blst::min_pk::SecretKey::key_gen(&seed, &[])
                .unwrap()
                .to_bytes();
            assert_eq!(ours.expose(), &theirs);
        }
    }

    #[test]
    fn short_seed_is_refused() {
        assert!(matches!(
            derive_master_sk(&[1u8; 31]),
            Err(KeyError::SeedTooShort { len: 31 })
        ));
    }

    #[test]
    fn paths_parse_print_and_reject() {
        let p: DerivationPath = "m/12381/3600/7/0/0".parse().unwrap();
        assert_eq!(p, DerivationPath::signing(7));
        assert_eq!(p.to_string(), "m/12381/3600/7/0/0");
        assert_eq!(p.file_stem(), "m_12381_3600_7_0_0");
        assert_eq!(
            DerivationPath::withdrawal(7).to_string(),
            "m/12381/3600/7/0"
        );
        assert_eq!(
            "m".parse::<DerivationPath>().unwrap().indices(),
            &[] as &[u32]
        );
        assert_eq!(
            "m/4294967295".parse::<DerivationPath>().unwrap().indices(),
            &[u32::MAX]
        );
        for bad in [
            "",
            "x/1",
            "m/",
            "m//1",
            "m/1'",
            "m/-1",
            "m/4294967296",
            "m/01",
            " m/1",
            "m/1/ 2",
        ] {
            assert!(
                bad.parse::<DerivationPath>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
