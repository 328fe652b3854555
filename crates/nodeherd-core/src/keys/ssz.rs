//! The few SSZ `hash_tree_root`s and the signing-domain arithmetic shared by deposits
//! ([`crate::keys::deposit`]) and voluntary exits ([`crate::keys::exit`]): 32-byte chunks, pairs of chunks
//! merkleized with SHA-256, `compute_domain` and `compute_signing_root` of the consensus specs.
//!
//! Pure functions: no I/O, no secrets.
//!
//! May not touch: anything but the values it is given.

use sha2::{Digest, Sha256};

/// SHA-256 of two 32-byte chunks: one merkleization step.
pub(crate) fn hash_pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// `bytes` (at most 32) right-padded with zeros to one chunk.
pub(crate) fn chunk(bytes: &[u8]) -> [u8; 32] {
    let mut c = [0u8; 32];
    let n = bytes.len().min(32);
    c[..n].copy_from_slice(&bytes[..n]);
    c
}

/// hash_tree_root of a `uint64`: little-endian, zero-padded to 32 bytes.
pub(crate) fn root_u64(v: u64) -> [u8; 32] {
    chunk(&v.to_le_bytes())
}

/// hash_tree_root of `ForkData { current_version, genesis_validators_root }`.
pub fn fork_data_root(fork_version: [u8; 4], genesis_validators_root: &[u8; 32]) -> [u8; 32] {
    hash_pair(&chunk(&fork_version), genesis_validators_root)
}

/// `compute_domain(domain_type, fork_version, genesis_validators_root)`: the domain type
/// followed by the first 28 bytes of the fork data root.
pub fn compute_domain(
    domain_type: [u8; 4],
    fork_version: [u8; 4],
    genesis_validators_root: &[u8; 32],
) -> [u8; 32] {
    let mut domain = [0u8; 32];
    domain[..4].copy_from_slice(&domain_type);
    domain[4..].copy_from_slice(&fork_data_root(fork_version, genesis_validators_root)[..28]);
    domain
}

/// `compute_signing_root(object, domain)` = hash_tree_root(SigningData { object_root, domain }).
pub fn compute_signing_root(object_root: &[u8; 32], domain: &[u8; 32]) -> [u8; 32] {
    hash_pair(object_root, domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::hex;

    /// zero_hashes[1] of SSZ merkleization: SHA-256 of 64 zero bytes (a constant every
    /// consensus client ships).
    const ZERO_HASH_1: &str = "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b";

    #[test]
    fn zero_pair_is_the_published_zero_hash() {
        assert_eq!(hex::encode(&hash_pair(&[0; 32], &[0; 32])), ZERO_HASH_1);
        assert_eq!(hex::encode(&fork_data_root([0; 4], &[0; 32])), ZERO_HASH_1);
    }

    #[test]
    fn uint64_roots_are_little_endian() {
        let r = root_u64(0x0102);
        assert_eq!(&r[..3], &[0x02, 0x01, 0x00]);
        assert_eq!(r[3..], [0u8; 29]);
    }
}
