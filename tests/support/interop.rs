//! The interop validator keys of the lab's Lodestar dev chain (on chain from genesis), as
//! secret keys and as EIP-2335 keystores the keymanager can import, so that a lab test can move
//! a key the chain really knows. Shared by keys_quiet_lab and fault_matrix.

use nodeherd_core::keys::bls::SecretKey;
use nodeherd_core::keys::keystore::{KdfParams, Keystore};

/// The interop secret key i: sha256(i as 32 bytes LE), read little-endian, mod r (via blst).
pub fn interop_secret(i: u64) -> SecretKey {
    use sha2::Digest;
    let mut le = [0u8; 32];
    le[..8].copy_from_slice(&i.to_le_bytes());
    let h = sha2::Sha256::digest(le);
    let mut scalar = blst::blst_scalar::default();
    let mut be = [0u8; 32];
    // SAFETY: valid pointers to fixed-size buffers of the sizes passed.
    unsafe {
        blst::blst_scalar_from_le_bytes(&raw mut scalar, h.as_ptr(), 32);
        blst::blst_bendian_from_scalar(be.as_mut_ptr(), &raw const scalar);
    }
    SecretKey::from_bytes(&be).unwrap_or_else(|e| panic!("interop key {i}: {e}"))
}

/// `0x` + the public key of interop key `i`.
pub fn interop_pubkey(i: u64) -> String {
    format!(
        "0x{}",
        interop_secret(i)
            .public_key()
            .to_hex()
            .trim_start_matches("0x")
    )
}

/// The keystore JSON of interop key `i` under `password` (a cheap scrypt: tests only).
pub fn interop_keystore(i: u64, password: &str) -> String {
    Keystore::encrypt(
        &interop_secret(i),
        password,
        &format!("m/12381/3600/{i}/0/0").parse().expect("path"),
        &KdfParams::insecure_scrypt_for_tests(1024),
        "",
    )
    .and_then(|k| k.to_json())
    .expect("keystore")
}

/// A root shell script for a lab host with the dev chain: the chain's other validators (interop
/// keys 0..6) move from `lodestar-vc` to a validator client of their own, `lodestar-keeper`
/// (metrics on 5069, no keymanager, not in the inventory), so that fencing or stopping
/// `lodestar-vc` during a move or a failover leaves 7 of the 8 validators signing. vc is stopped
/// before the keeper starts (a key never runs on two clients) and keeps no interop key: the
/// moved key comes through its keymanager. Prints "keeper started".
///
/// Without it a fenced vc stopped every block: once its head is an epoch behind the clock,
/// Lodestar calls itself syncing, answers every validator client's duties with 503 ("Node is
/// syncing - waiting for peers") and the dev chain never resumes (seen in keys_quiet_lab: head
/// at slot 97 for good, every validator "not live").
pub const KEEPER_SCRIPT: &str = r#"set -e
u=$(systemctl show -p FragmentPath --value lodestar-vc)
k=/etc/systemd/system/lodestar-keeper.service
grep -q -- '--interopIndexes 0..7 ' "$u"
systemctl stop lodestar-vc
sed -e 's/--interopIndexes 0..7 /--interopIndexes 0..6 /' \
    -e 's#/var/lib/lodestar-vc#/var/lib/lodestar-keeper#g' \
    -e 's/--metrics.port [0-9]* /--metrics.port 5069 /' \
    -e 's/--keymanager --keymanager.address [^ ]* --keymanager.port [0-9]* //' \
    -e 's/^Description=.*/Description=Lodestar validator client keeping the lab chain alive (interop keys 0..6)/' \
    "$u" > "$k"
sed -i 's/--interopIndexes 0..7 //' "$u"
grep -q -- '--interopIndexes 0..6 ' "$k"
! grep -q -- '--interopIndexes' "$u"
systemctl daemon-reload
systemctl enable --now lodestar-keeper >/dev/null 2>&1
systemctl start lodestar-vc
echo keeper started
"#;
