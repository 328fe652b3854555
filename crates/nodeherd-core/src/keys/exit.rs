//! Voluntary exits signed locally: the `VoluntaryExit` SSZ root, the exit domain (with the
//! EIP-7044 fork-version rule), signing, verifying, and the pure parsers of the Beacon API
//! answers the signature depends on (genesis, fork, spec, validator, head).
//!
//! Owns: the chain facts an exit needs, as typed values parsed from Beacon API bodies, and the
//! exit arithmetic of the consensus specs. May not touch: the network, SSH, files or the
//! terminal (fetching the bodies and saving or submitting the exit is `ops::keys`); no secret
//! key leaves [`sign_exit`], and no error carries one.

use serde::Deserialize;

use crate::keys::bls::{self, PublicKey, SecretKey, Signature};
use crate::keys::ssz::{compute_domain, compute_signing_root, hash_pair, root_u64};
use crate::keys::{KeyError, hex};

/// `DOMAIN_VOLUNTARY_EXIT` of the consensus specs.
pub const DOMAIN_VOLUNTARY_EXIT: [u8; 4] = [0x04, 0x00, 0x00, 0x00];
/// The only validator status in which an exit can be accepted.
pub const EXITABLE_STATUS: &str = "active_ongoing";

/// What can be wrong with the chain facts, the validator, or an exit.
#[derive(Debug, thiserror::Error)]
pub enum ExitError {
    #[error("the beacon node's answer to {what} is not usable: {reason}")]
    Answer { what: &'static str, reason: String },
    #[error(
        "validator {index} is {status}, not {EXITABLE_STATUS}: only an active validator that is not already exiting can exit"
    )]
    NotExitable { index: u64, status: String },
    #[error("the beacon node answered validator {index} with pubkey {answered}, not {asked}")]
    OtherValidator {
        index: u64,
        asked: String,
        answered: String,
    },
    #[error(
        "epoch {epoch} is at or after DENEB_FORK_EPOCH {deneb}, so EIP-7044 wants CAPELLA_FORK_VERSION, which the beacon node's spec does not give"
    )]
    NoCapellaVersion { epoch: u64, deneb: u64 },
    #[error("the signed exit does not verify: {0}")]
    Verify(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// `VoluntaryExit { epoch, validator_index }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoluntaryExit {
    pub epoch: u64,
    pub validator_index: u64,
}

impl VoluntaryExit {
    /// hash_tree_root: two uint64 leaves merkleized.
    pub fn hash_tree_root(&self) -> [u8; 32] {
        hash_pair(&root_u64(self.epoch), &root_u64(self.validator_index))
    }
}

/// A `SignedVoluntaryExit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedVoluntaryExit {
    pub message: VoluntaryExit,
    pub signature: Signature,
}

#[derive(Deserialize)]
struct WireExit {
    message: WireMessage,
    signature: String,
}

#[derive(Deserialize)]
struct WireMessage {
    epoch: String,
    validator_index: String,
}

impl SignedVoluntaryExit {
    /// The Beacon API's JSON: `{"message":{"epoch":"E","validator_index":"I"},"signature":"0x.."}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "message": {
                "epoch": self.message.epoch.to_string(),
                "validator_index": self.message.validator_index.to_string(),
            },
            "signature": format!("0x{}", self.signature.to_hex()),
        })
        .to_string()
    }

    /// Parses the Beacon API's JSON (u64s as decimal strings, the signature validated).
    pub fn from_json(text: &str) -> Result<Self, ExitError> {
        const WHAT: &str = "a signed voluntary exit";
        let w: WireExit = serde_json::from_str(text).map_err(|e| answer(WHAT, e))?;
        Ok(SignedVoluntaryExit {
            message: VoluntaryExit {
                epoch: decimal(WHAT, "message.epoch", &w.message.epoch)?,
                validator_index: decimal(
                    WHAT,
                    "message.validator_index",
                    &w.message.validator_index,
                )?,
            },
            signature: Signature::from_hex(&w.signature)?,
        })
    }
}

/// `GET /eth/v1/beacon/states/head/fork`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fork {
    pub previous_version: [u8; 4],
    pub current_version: [u8; 4],
    pub epoch: u64,
}

/// The parts of `GET /eth/v1/config/spec` an exit needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecFacts {
    pub slots_per_epoch: u64,
    pub capella_fork_version: Option<[u8; 4]>,
    pub deneb_fork_epoch: Option<u64>,
}

/// `GET /eth/v1/beacon/states/head/validators/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorFacts {
    pub index: u64,
    pub status: String,
    pub pubkey: PublicKey,
}

/// Everything the exit's signature depends on, as one beacon node answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainFacts {
    pub genesis_validators_root: [u8; 32],
    pub fork: Fork,
    pub spec: SpecFacts,
    pub head_slot: u64,
}

impl ChainFacts {
    /// The epoch of the head slot: the default exit epoch.
    pub fn current_epoch(&self) -> u64 {
        self.head_slot / self.spec.slots_per_epoch.max(1)
    }
}

fn answer(what: &'static str, reason: impl std::fmt::Display) -> ExitError {
    ExitError::Answer {
        what,
        reason: reason.to_string(),
    }
}

fn decimal(what: &'static str, field: &str, s: &str) -> Result<u64, ExitError> {
    s.parse::<u64>()
        .map_err(|_| answer(what, format!("{field} {s:?} is not a decimal u64")))
}

fn hex_array<const N: usize>(
    what: &'static str,
    field: &str,
    s: &str,
) -> Result<[u8; N], ExitError> {
    if !s.starts_with("0x") {
        return Err(answer(
            what,
            format!("{field} {s:?} does not start with 0x"),
        ));
    }
    hex::decode_array::<N>(s, field).map_err(|e| answer(what, e))
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

/// `GET /eth/v1/beacon/genesis` -> `genesis_validators_root`.
pub fn parse_genesis(body: &str) -> Result<[u8; 32], ExitError> {
    const WHAT: &str = "GET /eth/v1/beacon/genesis";
    #[derive(Deserialize)]
    struct G {
        genesis_validators_root: String,
    }
    let g: Data<G> = serde_json::from_str(body).map_err(|e| answer(WHAT, e))?;
    hex_array(
        WHAT,
        "genesis_validators_root",
        &g.data.genesis_validators_root,
    )
}

/// `GET /eth/v1/beacon/states/head/fork`.
pub fn parse_fork(body: &str) -> Result<Fork, ExitError> {
    const WHAT: &str = "GET /eth/v1/beacon/states/head/fork";
    #[derive(Deserialize)]
    struct F {
        previous_version: String,
        current_version: String,
        epoch: String,
    }
    let f: Data<F> = serde_json::from_str(body).map_err(|e| answer(WHAT, e))?;
    Ok(Fork {
        previous_version: hex_array(WHAT, "previous_version", &f.data.previous_version)?,
        current_version: hex_array(WHAT, "current_version", &f.data.current_version)?,
        epoch: decimal(WHAT, "epoch", &f.data.epoch)?,
    })
}

/// `GET /eth/v1/config/spec`: SLOTS_PER_EPOCH (required), CAPELLA_FORK_VERSION and
/// DENEB_FORK_EPOCH (when the client knows those forks).
pub fn parse_spec(body: &str) -> Result<SpecFacts, ExitError> {
    const WHAT: &str = "GET /eth/v1/config/spec";
    let s: Data<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(body).map_err(|e| answer(WHAT, e))?;
    let field = |name: &str| s.data.get(name).and_then(serde_json::Value::as_str);
    let slots_per_epoch = match field("SLOTS_PER_EPOCH") {
        Some(v) => decimal(WHAT, "SLOTS_PER_EPOCH", v)?,
        None => return Err(answer(WHAT, "SLOTS_PER_EPOCH is missing")),
    };
    if slots_per_epoch == 0 {
        return Err(answer(WHAT, "SLOTS_PER_EPOCH is 0"));
    }
    Ok(SpecFacts {
        slots_per_epoch,
        capella_fork_version: field("CAPELLA_FORK_VERSION")
            .map(|v| hex_array(WHAT, "CAPELLA_FORK_VERSION", v))
            .transpose()?,
        deneb_fork_epoch: field("DENEB_FORK_EPOCH")
            .map(|v| decimal(WHAT, "DENEB_FORK_EPOCH", v))
            .transpose()?,
    })
}

/// `GET /eth/v1/beacon/states/head/validators/{id}`.
pub fn parse_validator(body: &str) -> Result<ValidatorFacts, ExitError> {
    const WHAT: &str = "GET /eth/v1/beacon/states/head/validators/{pubkey}";
    #[derive(Deserialize)]
    struct V {
        index: String,
        status: String,
        validator: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        pubkey: String,
    }
    let v: Data<V> = serde_json::from_str(body).map_err(|e| answer(WHAT, e))?;
    Ok(ValidatorFacts {
        index: decimal(WHAT, "index", &v.data.index)?,
        status: v.data.status,
        pubkey: PublicKey::from_hex(&v.data.validator.pubkey)
            .map_err(|e| answer(WHAT, format!("validator.pubkey: {e}")))?,
    })
}

/// `GET /eth/v1/beacon/headers/head` -> the head slot.
pub fn parse_head_slot(body: &str) -> Result<u64, ExitError> {
    const WHAT: &str = "GET /eth/v1/beacon/headers/head";
    #[derive(Deserialize)]
    struct H {
        header: Signed,
    }
    #[derive(Deserialize)]
    struct Signed {
        message: Msg,
    }
    #[derive(Deserialize)]
    struct Msg {
        slot: String,
    }
    let h: Data<H> = serde_json::from_str(body).map_err(|e| answer(WHAT, e))?;
    decimal(WHAT, "header.message.slot", &h.data.header.message.slot)
}

/// The validator the beacon node answered is `pubkey`, and it may exit.
pub fn check_exitable(v: &ValidatorFacts, pubkey: &PublicKey) -> Result<(), ExitError> {
    if v.pubkey != *pubkey {
        return Err(ExitError::OtherValidator {
            index: v.index,
            asked: pubkey.to_string(),
            answered: v.pubkey.to_string(),
        });
    }
    if v.status != EXITABLE_STATUS {
        return Err(ExitError::NotExitable {
            index: v.index,
            status: v.status.clone(),
        });
    }
    Ok(())
}

/// The fork version an exit at `epoch` is signed with. EIP-7044: from Deneb on, exits are
/// always verified with `CAPELLA_FORK_VERSION`; before (or when the client does not know Deneb),
/// `get_domain(state, DOMAIN_VOLUNTARY_EXIT, epoch)`: the previous version for epochs before
/// the fork's epoch, the current one otherwise.
pub fn exit_fork_version(fork: &Fork, spec: &SpecFacts, epoch: u64) -> Result<[u8; 4], ExitError> {
    if let Some(deneb) = spec.deneb_fork_epoch {
        if epoch >= deneb {
            return spec
                .capella_fork_version
                .ok_or(ExitError::NoCapellaVersion { epoch, deneb });
        }
    }
    Ok(if epoch < fork.epoch {
        fork.previous_version
    } else {
        fork.current_version
    })
}

/// `DOMAIN_VOLUNTARY_EXIT` for an exit at `epoch` on this chain.
pub fn exit_domain(facts: &ChainFacts, epoch: u64) -> Result<[u8; 32], ExitError> {
    let version = exit_fork_version(&facts.fork, &facts.spec, epoch)?;
    Ok(compute_domain(
        DOMAIN_VOLUNTARY_EXIT,
        version,
        &facts.genesis_validators_root,
    ))
}

/// `compute_signing_root(exit, domain)`.
pub fn exit_signing_root(exit: &VoluntaryExit, domain: &[u8; 32]) -> [u8; 32] {
    compute_signing_root(&exit.hash_tree_root(), domain)
}

/// Signs `exit` under `domain`.
pub fn sign_exit(sk: &SecretKey, exit: VoluntaryExit, domain: &[u8; 32]) -> SignedVoluntaryExit {
    SignedVoluntaryExit {
        message: exit,
        signature: sk.sign(&exit_signing_root(&exit, domain)),
    }
}

/// The signature is `pubkey`'s over this exit under `domain`.
pub fn verify_exit(
    pubkey: &PublicKey,
    signed: &SignedVoluntaryExit,
    domain: &[u8; 32],
) -> Result<(), ExitError> {
    if bls::verify(
        pubkey,
        &exit_signing_root(&signed.message, domain),
        &signed.signature,
    ) {
        Ok(())
    } else {
        Err(ExitError::Verify(format!(
            "not {pubkey}'s signature of the exit of validator {} at epoch {} under domain 0x{}",
            signed.message.validator_index,
            signed.message.epoch,
            hex::encode(domain)
        )))
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

    fn facts() -> ChainFacts {
        ChainFacts {
            genesis_validators_root: hex::decode_array::<32>(MAINNET_GVR, "gvr").unwrap(),
            fork: Fork {
                previous_version: [3, 0, 0, 0],
                current_version: [4, 0, 0, 0],
                epoch: 269_568,
            },
            spec: SpecFacts {
                slots_per_epoch: 32,
                capella_fork_version: Some([3, 0, 0, 0]),
                deneb_fork_epoch: Some(269_568),
            },
            head_slot: 269_568 * 32 + 5,
        }
    }

    /// Mainnet's genesis validators root (any client's `/eth/v1/beacon/genesis` on mainnet).
    const MAINNET_GVR: &str = "4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95";

    #[test]
    fn zero_exit_root_is_zero_hash_1() {
        // VoluntaryExit{0, 0} is two zero chunks: SSZ's zero_hashes[1].
        assert_eq!(
            hex::encode(
                &VoluntaryExit {
                    epoch: 0,
                    validator_index: 0
                }
                .hash_tree_root()
            ),
            "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"
        );
        // Field order matters: epoch first.
        let a = VoluntaryExit {
            epoch: 1,
            validator_index: 2,
        }
        .hash_tree_root();
        let b = VoluntaryExit {
            epoch: 2,
            validator_index: 1,
        }
        .hash_tree_root();
        assert_ne!(a, b);
    }

    #[test]
    fn exit_domain_matches_prysm_vector() {
        // Prysm's TestSigningRoot_ComputeDomain (beacon-chain/core/signing/signing_root_test.go):
        // ComputeDomain(DOMAIN_VOLUNTARY_EXIT, zero fork version, zero root).
        let expected: [u8; 32] = [
            4, 0, 0, 0, 245, 165, 253, 66, 209, 106, 32, 48, 39, 152, 239, 110, 211, 9, 151, 155,
            67, 0, 61, 35, 32, 217, 240, 232, 234, 152, 49, 169,
        ];
        assert_eq!(
            compute_domain(DOMAIN_VOLUNTARY_EXIT, [0; 4], &[0; 32]),
            expected
        );
    }

    #[test]
    fn eip7044_fork_version_choice() {
        let f = facts();
        // At or after Deneb: always Capella's version, whatever the state's fork says.
        assert_eq!(
            exit_fork_version(&f.fork, &f.spec, 269_568).unwrap(),
            [3, 0, 0, 0]
        );
        assert_eq!(
            exit_fork_version(&f.fork, &f.spec, 400_000).unwrap(),
            [3, 0, 0, 0]
        );
        // Before Deneb: get_domain's rule (previous version before fork.epoch).
        let mut pre = f.spec;
        pre.deneb_fork_epoch = None;
        assert_eq!(
            exit_fork_version(&f.fork, &pre, 269_567).unwrap(),
            [3, 0, 0, 0]
        );
        assert_eq!(
            exit_fork_version(&f.fork, &pre, 269_568).unwrap(),
            [4, 0, 0, 0]
        );
        // Deneb scheduled far in the future (FAR_FUTURE_EPOCH): the fork rule.
        pre.deneb_fork_epoch = Some(u64::MAX);
        assert_eq!(exit_fork_version(&f.fork, &pre, 10).unwrap(), [3, 0, 0, 0]);
        // Deneb reached but no Capella version known: refused, not guessed.
        let mut broken = f.spec;
        broken.capella_fork_version = None;
        assert!(matches!(
            exit_fork_version(&f.fork, &broken, 300_000),
            Err(ExitError::NoCapellaVersion { .. })
        ));
    }

    #[test]
    fn sign_verify_and_tampering() {
        let sk = key(9);
        let pk = sk.public_key();
        let f = facts();
        let epoch = f.current_epoch();
        assert_eq!(epoch, 269_568);
        let domain = exit_domain(&f, epoch).unwrap();
        let exit = VoluntaryExit {
            epoch,
            validator_index: 42,
        };
        let signed = sign_exit(&sk, exit, &domain);
        verify_exit(&pk, &signed, &domain).unwrap();
        // Round trip through the Beacon API JSON.
        let json = signed.to_json();
        assert!(
            json.starts_with(
                r#"{"message":{"epoch":"269568","validator_index":"42"},"signature":"0x"#
            ),
            "{json}"
        );
        assert_eq!(SignedVoluntaryExit::from_json(&json).unwrap(), signed);
        // Wrong index, wrong epoch, wrong domain (Deneb's version, another chain), wrong key.
        let mut t = signed;
        t.message.validator_index = 43;
        assert!(matches!(
            verify_exit(&pk, &t, &domain),
            Err(ExitError::Verify(_))
        ));
        let mut t = signed;
        t.message.epoch += 1;
        assert!(verify_exit(&pk, &t, &domain).is_err());
        let deneb = compute_domain(
            DOMAIN_VOLUNTARY_EXIT,
            [4, 0, 0, 0],
            &f.genesis_validators_root,
        );
        assert!(verify_exit(&pk, &signed, &deneb).is_err());
        let other_chain = compute_domain(DOMAIN_VOLUNTARY_EXIT, [3, 0, 0, 0], &[0; 32]);
        assert!(verify_exit(&pk, &signed, &other_chain).is_err());
        let other_type = compute_domain([3, 0, 0, 0], [3, 0, 0, 0], &f.genesis_validators_root);
        assert!(verify_exit(&pk, &signed, &other_type).is_err());
        assert!(verify_exit(&key(10).public_key(), &signed, &domain).is_err());
    }

    #[test]
    fn parsers_read_beacon_api_shapes_and_refuse_garbage() {
        let gvr = parse_genesis(&format!(
            r#"{{"data":{{"genesis_time":"1606824023","genesis_validators_root":"0x{MAINNET_GVR}","genesis_fork_version":"0x00000000"}}}}"#
        ))
        .unwrap();
        assert_eq!(hex::encode(&gvr), MAINNET_GVR);
        assert!(parse_genesis(r#"{"data":{"genesis_validators_root":"0x12"}}"#).is_err());
        assert!(
            parse_genesis(&format!(
                r#"{{"data":{{"genesis_validators_root":"{MAINNET_GVR}"}}}}"#
            ))
            .is_err()
        );
        assert!(parse_genesis("not json").is_err());

        let fork = parse_fork(r#"{"execution_optimistic":false,"data":{"previous_version":"0x03000000","current_version":"0x04000000","epoch":"269568"}}"#).unwrap();
        assert_eq!(fork.epoch, 269_568);
        assert_eq!(fork.current_version, [4, 0, 0, 0]);
        assert!(parse_fork(r#"{"data":{"previous_version":"0x03000000","current_version":"0x04000000","epoch":"-1"}}"#).is_err());

        let spec = parse_spec(r#"{"data":{"SLOTS_PER_EPOCH":"32","CAPELLA_FORK_VERSION":"0x03000000","DENEB_FORK_EPOCH":"269568","X":["a"]}}"#).unwrap();
        assert_eq!(
            spec,
            SpecFacts {
                slots_per_epoch: 32,
                capella_fork_version: Some([3, 0, 0, 0]),
                deneb_fork_epoch: Some(269_568)
            }
        );
        let old = parse_spec(r#"{"data":{"SLOTS_PER_EPOCH":"8"}}"#).unwrap();
        assert_eq!(
            (old.capella_fork_version, old.deneb_fork_epoch),
            (None, None)
        );
        assert!(parse_spec(r#"{"data":{"SLOTS_PER_EPOCH":"0"}}"#).is_err());
        assert!(parse_spec(r#"{"data":{}}"#).is_err());

        let pk = key(9).public_key();
        let v = parse_validator(&format!(r#"{{"data":{{"index":"7","balance":"32000000000","status":"active_ongoing","validator":{{"pubkey":"{pk}","effective_balance":"32000000000"}}}}}}"#)).unwrap();
        assert_eq!((v.index, v.status.as_str()), (7, "active_ongoing"));
        check_exitable(&v, &pk).unwrap();
        assert!(matches!(
            check_exitable(&v, &key(10).public_key()),
            Err(ExitError::OtherValidator { .. })
        ));
        let mut exiting = v.clone();
        exiting.status = "active_exiting".into();
        let e = check_exitable(&exiting, &pk).unwrap_err();
        assert!(e.to_string().contains("active_exiting"), "{e}");
        assert!(parse_validator(r#"{"code":404,"message":"Validator not found"}"#).is_err());

        let slot = parse_head_slot(r#"{"data":{"root":"0x00","canonical":true,"header":{"message":{"slot":"123","proposer_index":"1"},"signature":"0x00"}}}"#).unwrap();
        assert_eq!(slot, 123);
        assert!(parse_head_slot(r#"{"data":{"header":{"message":{"slot":123}}}}"#).is_err());
    }

    fn fixture(name: &str) -> String {
        let path = concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/tests/fixtures/beacon/"
        );
        std::fs::read_to_string(format!("{path}{name}")).unwrap()
    }

    /// Interop key i (the lab's `--interopIndexes`): sha256(i as 32 LE bytes), read
    /// little-endian, mod r.
    fn interop_secret(i: u64) -> SecretKey {
        use sha2::Digest;
        let mut le = [0u8; 32];
        le[..8].copy_from_slice(&i.to_le_bytes());
        let mut h: [u8; 32] = sha2::Sha256::digest(le).into();
        h.reverse();
        SecretKey::from_bytes(bls::reduce_mod_r(&h).unwrap().expose()).unwrap()
    }

    /// Answers captured from the lab's Lodestar 1.5.1 (dev chain, minimal preset, phase0, no
    /// DENEB_FORK_EPOCH) and the exit nodeherd signed there: parsing them and re-signing with
    /// interop key 2 gives the same bytes (BLS signatures are deterministic).
    #[test]
    fn lodestar_answers_reproduce_the_lab_exit() {
        let chain = ChainFacts {
            genesis_validators_root: parse_genesis(&fixture("lodestar-1.5.1-beacon_genesis.json"))
                .unwrap(),
            fork: parse_fork(&fixture("lodestar-1.5.1-beacon_states_head_fork.json")).unwrap(),
            spec: parse_spec(&fixture("lodestar-1.5.1-config_spec.json")).unwrap(),
            head_slot: parse_head_slot(&fixture("lodestar-1.5.1-beacon_headers_head.json"))
                .unwrap(),
        };
        assert_eq!(chain.spec.slots_per_epoch, 8);
        assert_eq!(chain.spec.capella_fork_version, Some([3, 0, 0, 1]));
        assert_eq!(chain.spec.deneb_fork_epoch, None);
        assert_eq!(chain.current_epoch(), 1);
        let v = parse_validator(&fixture(
            "lodestar-1.5.1-beacon_states_head_validators_2.json",
        ))
        .unwrap();
        let sk = interop_secret(2);
        check_exitable(&v, &sk.public_key()).unwrap();
        let saved =
            SignedVoluntaryExit::from_json(&fixture("nodeherd-signed-exit-interop2-epoch0.json"))
                .unwrap();
        assert_eq!(saved.message.validator_index, v.index);
        // No Deneb known: the fork rule; phase0 only, so the genesis version 0x00000001.
        assert_eq!(
            exit_fork_version(&chain.fork, &chain.spec, saved.message.epoch).unwrap(),
            [0, 0, 0, 1]
        );
        let domain = exit_domain(&chain, saved.message.epoch).unwrap();
        assert_eq!(
            hex::encode(&domain),
            "0400000031681ad1a7e560a3bfe51621177efcdf555de57b707509cb0ff2ca80"
        );
        verify_exit(&sk.public_key(), &saved, &domain).unwrap();
        assert_eq!(sign_exit(&sk, saved.message, &domain), saved);
        // An unknown validator is a 404 body, not a validator.
        assert!(parse_validator(&fixture("lodestar-1.5.1-validator-unknown-404.json")).is_err());
    }
}
