//! BIP-39 mnemonics (English word list): generation from OS randomness, checksum validation, and
//! `mnemonic_to_seed` (PBKDF2-HMAC-SHA512, 2048 rounds, salt "mnemonic" + passphrase, both NFKD).
//!
//! Owns no files: a mnemonic is never written anywhere by this module (or by [`crate::keys::generate`]).
//!
//! May not touch: files, the network, the terminal (the OS random source is its only input).

use std::fmt;

use bip39::Language;
use rand::RngCore;
use sha2::Sha512;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroize;

use crate::keys::{KeyError, Secret};

/// Number of words of a generated mnemonic (256 bits of entropy).
pub const GENERATED_WORDS: usize = 24;

/// A checksum-valid English BIP-39 mnemonic. `Debug` is redacted; the words are wiped on drop.
pub struct Mnemonic(bip39::Mnemonic);

impl Mnemonic {
    /// A new 24-word mnemonic from the operating system's random number generator.
    pub fn generate() -> Result<Self, KeyError> {
        let mut entropy = Secret::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(entropy.expose_mut())
            .map_err(|e| KeyError::Randomness(e.to_string()))?;
        Self::from_entropy(entropy.expose())
    }

    /// The mnemonic for given entropy (16, 20, 24, 28 or 32 bytes).
    pub fn from_entropy(entropy: &[u8]) -> Result<Self, KeyError> {
        bip39::Mnemonic::from_entropy_in(Language::English, entropy)
            .map(Mnemonic)
            .map_err(|e| KeyError::InvalidMnemonic {
                reason: describe(e),
            })
    }

    /// Parses and validates (word list and checksum). Case and extra whitespace are forgiven.
    pub fn parse(phrase: &str) -> Result<Self, KeyError> {
        let decomposed = Secret::new(phrase.nfkd().collect::<String>());
        let lower = Secret::new(decomposed.expose().to_lowercase());
        let joined = Secret::new(
            lower
                .expose()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
        bip39::Mnemonic::parse_in_normalized(Language::English, joined.expose())
            .map(Mnemonic)
            .map_err(|e| KeyError::InvalidMnemonic {
                reason: describe(e),
            })
    }

    pub fn word_count(&self) -> usize {
        self.0.word_count()
    }

    /// The words separated by single spaces, to be shown once to the operator.
    pub fn phrase(&self) -> Secret<String> {
        Secret::new(self.0.words().collect::<Vec<_>>().join(" "))
    }

    /// The 64-byte BIP-39 seed for this mnemonic and passphrase ("" when there is none).
    pub fn to_seed(&self, passphrase: &str) -> Secret<[u8; 64]> {
        mnemonic_to_seed(self.phrase().expose(), passphrase)
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mnemonic({} words, <redacted>)", self.word_count())
    }
}

impl Drop for Mnemonic {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// BIP-39 `mnemonic_to_seed`: PBKDF2-HMAC-SHA512 over NFKD(mnemonic), salt "mnemonic" || NFKD(passphrase),
/// 2048 rounds, 64 bytes. Does not validate the mnemonic (BIP-39 defines the seed for any sentence).
pub fn mnemonic_to_seed(mnemonic: &str, passphrase: &str) -> Secret<[u8; 64]> {
    let password = Secret::new(mnemonic.nfkd().collect::<String>());
    let salt = Secret::new(format!("mnemonic{}", passphrase.nfkd().collect::<String>()));
    let mut seed = Secret::new([0u8; 64]);
    pbkdf2::pbkdf2_hmac::<Sha512>(
        password.expose().as_bytes(),
        salt.expose().as_bytes(),
        2048,
        seed.expose_mut(),
    );
    seed
}

/// Describes a bip39 error without echoing any word of the mnemonic.
fn describe(e: bip39::Error) -> String {
    match e {
        bip39::Error::BadWordCount(n) => {
            format!("it has {n} words; BIP-39 mnemonics have 12, 15, 18, 21 or 24")
        }
        bip39::Error::UnknownWord(i) => format!(
            "word number {} is not in the BIP-39 English word list",
            i + 1
        ),
        bip39::Error::BadEntropyBitCount(n) => format!("{n} bits of entropy is not a BIP-39 size"),
        bip39::Error::InvalidChecksum => {
            "the checksum does not match (a word is wrong or the order is wrong)".to_owned()
        }
        bip39::Error::AmbiguousLanguages(_) => "the language is ambiguous".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::hex;

    /// Trezor's BIP-39 vectors (english, passphrase "TREZOR"): entropy, mnemonic, seed.
    const TREZOR: &[(&str, &str, &str)] = &[
        (
            "00000000000000000000000000000000",
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
            "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
        ),
        (
            "7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f",
            "legal winner thank year wave sausage worth useful legal winner thank yellow",
            "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607",
        ),
        (
            "ffffffffffffffffffffffffffffffff",
            "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong",
            "ac27495480225222079d7be181583751e86f571027b0497b5b5d11218e0a8a13332572917f0f8e5a589620c6f15b11c61dee327651a14c34e18231052e48c069",
        ),
        (
            "0000000000000000000000000000000000000000000000000000000000000000",
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art",
            "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8",
        ),
        (
            "80808080808080808080808080808080",
            "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
            "d71de856f81a8acc65e6fc851a38d4d7ec216fd0796d0a6827a3ad6ed5511a30fa280f12eb2e47ed2ac03b5c462a0358d18d69fe4f985ec81778c1b370b652a8",
        ),
        (
            "18ab19a9f54a9274f03e5209a2ac8a91",
            "board flee heavy tunnel powder denial science ski answer betray cargo cat",
            "6eff1bb21562918509c73cb990260db07c0ce34ff0e3cc4a8cb3276129fbcb300bddfe005831350efd633909f476c45c88253276d9fd0df6ef48609e8bb7dca8",
        ),
    ];

    #[test]
    fn trezor_vectors_mnemonic_from_entropy_and_seed() {
        for (entropy, phrase, seed) in TREZOR {
            let m = Mnemonic::from_entropy(&hex::decode(entropy, "entropy").unwrap()).unwrap();
            assert_eq!(m.phrase().expose(), phrase);
            let parsed = Mnemonic::parse(phrase).unwrap();
            assert_eq!(
                hex::encode(parsed.to_seed("TREZOR").expose()),
                *seed,
                "{phrase}"
            );
            assert_eq!(
                hex::encode(mnemonic_to_seed(phrase, "TREZOR").expose()),
                *seed
            );
        }
    }

    #[test]
    fn parse_forgives_case_and_spacing_but_not_checksum_or_words() {
        let m = Mnemonic::parse(
            "  Legal winner THANK year wave sausage worth useful legal winner thank   yellow\n",
        )
        .unwrap();
        assert_eq!(m.word_count(), 12);
        let bad_checksum =
            "legal winner thank year wave sausage worth useful legal winner thank thank";
        let err = Mnemonic::parse(bad_checksum).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let unknown =
            "legal winner thank year wave sausage worth useful legal winner thank yellowx";
        let err = Mnemonic::parse(unknown).unwrap_err();
        assert!(err.to_string().contains("word number 12"), "{err}");
        assert!(
            !err.to_string().contains("yellowx"),
            "the error must not echo words: {err}"
        );
        let err = Mnemonic::parse("abandon abandon").unwrap_err();
        assert!(err.to_string().contains("2 words"), "{err}");
    }

    #[test]
    fn generated_mnemonics_are_24_valid_words_and_differ() {
        let a = Mnemonic::generate().unwrap();
        let b = Mnemonic::generate().unwrap();
        assert_eq!(a.word_count(), GENERATED_WORDS);
        assert!(Mnemonic::parse(a.phrase().expose()).is_ok());
        assert_ne!(a.phrase().expose(), b.phrase().expose());
        assert_eq!(format!("{a:?}"), "Mnemonic(24 words, <redacted>)");
    }

    #[test]
    fn passphrase_is_nfkd_normalized() {
        // "é" precomposed (U+00E9) and decomposed (e + U+0301) give the same seed.
        let phrase = TREZOR[0].1;
        assert_eq!(
            mnemonic_to_seed(phrase, "caf\u{e9}").expose(),
            mnemonic_to_seed(phrase, "cafe\u{301}").expose()
        );
    }
}
