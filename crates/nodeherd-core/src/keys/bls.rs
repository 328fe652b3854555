//! BLS12-381 signatures as Ethereum uses them, through the `blst` crate (min_pk: 48-byte public keys,
//! 96-byte signatures, proof-of-possession ciphersuite `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`).
//!
//! Owns the only `unsafe` of the keys module: the reduction of a big-endian integer modulo the group
//! order r (blst's constant-time `blst_scalar_from_be_bytes`), used by EIP-2333's `HKDF_mod_r`.
//!
//! May not touch: files, the network, the terminal.

use std::fmt;

use blst::BLST_ERROR;
use blst::min_pk;

use crate::keys::{KeyError, Secret, hex};

/// Domain separation tag of Ethereum's consensus-layer signatures.
pub const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// A BLS secret key. `Debug` is redacted; blst zeroizes the scalar on drop.
pub struct SecretKey(min_pk::SecretKey);

impl SecretKey {
    /// From the 32-byte big-endian encoding; zero and values >= r are refused.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        min_pk::SecretKey::from_bytes(bytes)
            .map(SecretKey)
            .map_err(|_| KeyError::InvalidSecretKey)
    }

    /// The 32-byte big-endian encoding.
    pub fn to_bytes(&self) -> Secret<[u8; 32]> {
        Secret::new(self.0.to_bytes())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.sk_to_pk().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message, DST, &[]).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// A compressed 48-byte public key (validated when parsed from outside).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 48]);

impl PublicKey {
    /// Parses and validates (on the curve, in the subgroup, not the identity).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let pk =
            min_pk::PublicKey::key_validate(bytes).map_err(|e| KeyError::InvalidPublicKey {
                reason: blst_reason(e),
            })?;
        Ok(PublicKey(pk.to_bytes()))
    }

    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&hex::decode(s, "pubkey")?)
    }

    pub fn as_bytes(&self) -> &[u8; 48] {
        &self.0
    }

    /// Lower-case hex without `0x`.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(0x{})", self.to_hex())
    }
}

/// A compressed 96-byte signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 96]);

impl Signature {
    /// Parses and checks the point is in the subgroup and not the identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let sig = min_pk::Signature::sig_validate(bytes, true).map_err(|e| {
            KeyError::InvalidSignature {
                reason: blst_reason(e),
            }
        })?;
        Ok(Signature(sig.to_bytes()))
    }

    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        Self::from_bytes(&hex::decode(s, "signature")?)
    }

    pub fn as_bytes(&self) -> &[u8; 96] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{})", self.to_hex())
    }
}

/// Verifies `signature` over `message` by `public_key` (Ethereum's DST); false on any invalid input.
pub fn verify(public_key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
    let Ok(pk) = min_pk::PublicKey::key_validate(public_key.as_bytes()) else {
        return false;
    };
    let Ok(sig) = min_pk::Signature::sig_validate(signature.as_bytes(), true) else {
        return false;
    };
    sig.verify(true, message, DST, &[], &pk, true) == BLST_ERROR::BLST_SUCCESS
}

/// `OS2IP(bytes) mod r` as 32 big-endian bytes; `None` when the result is zero.
pub(crate) fn reduce_mod_r(big_endian: &[u8]) -> Option<Secret<[u8; 32]>> {
    let mut scalar = blst::blst_scalar::default();
    let mut out = Secret::new([0u8; 32]);
    // SAFETY: `scalar` is a valid, exclusively borrowed blst_scalar; the input pointer and length come
    // from one live slice; `out` is a live 32-byte buffer, the size blst_bendian_from_scalar writes.
    let nonzero = unsafe {
        let nonzero =
            blst::blst_scalar_from_be_bytes(&raw mut scalar, big_endian.as_ptr(), big_endian.len());
        blst::blst_bendian_from_scalar(out.expose_mut().as_mut_ptr(), &raw const scalar);
        nonzero
    };
    zeroize::Zeroize::zeroize(&mut scalar.b);
    nonzero.then_some(out)
}

fn blst_reason(e: BLST_ERROR) -> String {
    match e {
        BLST_ERROR::BLST_BAD_ENCODING => "bad encoding (wrong length or not compressed)".to_owned(),
        BLST_ERROR::BLST_POINT_NOT_ON_CURVE => "point not on the curve".to_owned(),
        BLST_ERROR::BLST_POINT_NOT_IN_GROUP => "point not in the subgroup".to_owned(),
        BLST_ERROR::BLST_PK_IS_INFINITY => "point at infinity".to_owned(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        let mut b = [0u8; 32];
        b[31] = byte;
        SecretKey::from_bytes(&b).unwrap()
    }

    #[test]
    fn sign_then_verify_and_reject_tampering() {
        let sk = key(7);
        let pk = sk.public_key();
        let sig = sk.sign(b"hello");
        assert!(verify(&pk, b"hello", &sig));
        assert!(!verify(&pk, b"hellO", &sig));
        assert!(!verify(&key(8).public_key(), b"hello", &sig));
        // Round trips through bytes and hex validate.
        assert_eq!(PublicKey::from_hex(&pk.to_hex()).unwrap(), pk);
        assert_eq!(Signature::from_hex(&sig.to_hex()).unwrap(), sig);
    }

    #[test]
    fn eip2335_secret_gives_the_published_pubkey() {
        // The secret and pubkey of the EIP-2335 test vectors.
        let secret = hex::decode_array::<32>(
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
            "sk",
        )
        .unwrap();
        let sk = SecretKey::from_bytes(&secret).unwrap();
        assert_eq!(
            sk.public_key().to_hex(),
            "9612d7a727c9d0a22e185a1c768478dfe919cada9266988cb32359c11f2b7b27f4ae4040902382ae2910c15e2b420d07"
        );
    }

    #[test]
    fn invalid_inputs_are_errors_not_panics() {
        assert!(matches!(
            SecretKey::from_bytes(&[0u8; 32]),
            Err(KeyError::InvalidSecretKey)
        ));
        assert!(matches!(
            SecretKey::from_bytes(&[0xff; 32]),
            Err(KeyError::InvalidSecretKey)
        ));
        assert!(PublicKey::from_bytes(&[0u8; 48]).is_err());
        assert!(PublicKey::from_bytes(&[1u8; 47]).is_err());
        assert!(Signature::from_bytes(&[0u8; 96]).is_err());
        assert_eq!(format!("{:?}", key(1)), "SecretKey(<redacted>)");
    }

    #[test]
    fn reduce_mod_r_matches_the_order() {
        // r itself reduces to zero; r + 1 to one.
        let r = hex::decode(
            "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001",
            "r",
        )
        .unwrap();
        assert!(reduce_mod_r(&r).is_none());
        let mut r1 = r.clone();
        r1[31] = 2;
        let one = reduce_mod_r(&r1).unwrap();
        let mut expected = [0u8; 32];
        expected[31] = 1;
        assert_eq!(one.expose(), &expected);
        // A 48-byte input (HKDF_mod_r's L) is reduced too.
        let mut wide = vec![0u8; 16];
        wide.extend_from_slice(&r1);
        assert_eq!(reduce_mod_r(&wide).unwrap().expose(), &expected);
    }
}
