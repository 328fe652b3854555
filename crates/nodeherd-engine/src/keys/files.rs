//! Key material the operator hands to the console: EIP-2335 keystore files (and the pubkey each
//! holds), password files and EIP-3076 slashing-protection files. Shared by the CLI and the TUI,
//! so both refuse the same bad input with the same words.
//!
//! Owns: reading and checking those files on the console machine. May not touch: the network
//! (no SSH, no API), the terminal (asking for a password is the front end's job).

use std::path::{Path, PathBuf};

use nodeherd_core::keymanager::Interchange;
use nodeherd_core::keys::Secret;
use nodeherd_core::keys::keystore::Keystore;

/// Why a key file was refused; the text names the file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("no keystore file given")]
    NoKeystore,
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file does not parse (keystore, EIP-3076) or does not decrypt.
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("{}: the keystore has no pubkey", path.display())]
    NoPubkey { path: PathBuf },
    #[error("{} and {} hold the same key {pubkey}", first.display(), second.display())]
    SameKey {
        first: PathBuf,
        second: PathBuf,
        pubkey: String,
    },
    #[error("{} holds {got}, not {want}", path.display())]
    WrongKey {
        path: PathBuf,
        got: String,
        want: String,
    },
}

fn read(f: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(f).map_err(|source| FileError::Read {
        path: f.to_path_buf(),
        source,
    })
}

fn invalid(f: &Path) -> impl Fn(&dyn std::fmt::Display) -> FileError + '_ {
    move |e| FileError::Invalid {
        path: f.to_path_buf(),
        reason: e.to_string(),
    }
}

/// One keystore file as read: its JSON (sent as is to the Keymanager API) and its pubkey.
#[derive(Debug, Clone)]
pub struct KeystoreFile {
    pub path: PathBuf,
    pub text: String,
    /// `0x` + 96 lowercase hex digits.
    pub pubkey: String,
}

/// Read keystores; each must parse as EIP-2335 and carry its pubkey. The error names the file.
pub fn read_keystores(files: &[PathBuf]) -> Result<Vec<KeystoreFile>, FileError> {
    if files.is_empty() {
        return Err(FileError::NoKeystore);
    }
    let mut out: Vec<KeystoreFile> = Vec::new();
    for f in files {
        let text = read(f)?;
        let ks = Keystore::from_json(&text).map_err(|e| invalid(f)(&e))?;
        let pk = ks
            .public_key()
            .map_err(|e| invalid(f)(&e))?
            .ok_or_else(|| FileError::NoPubkey { path: f.clone() })?;
        let pubkey = format!("0x{}", pk.to_hex().trim_start_matches("0x"));
        if let Some(other) = out.iter().find(|k| k.pubkey == pubkey) {
            return Err(FileError::SameKey {
                first: other.path.clone(),
                second: f.clone(),
                pubkey,
            });
        }
        out.push(KeystoreFile {
            path: f.clone(),
            text,
            pubkey,
        });
    }
    Ok(out)
}

/// A password file's content without its trailing newline.
pub fn read_password_file(f: &Path) -> Result<Secret<String>, FileError> {
    let text = Secret::new(read(f)?);
    Ok(Secret::new(
        text.expose().trim_end_matches(['\n', '\r']).to_string(),
    ))
}

/// An EIP-3076 file, checked to parse, as text (sent as is with an import).
pub fn read_slashing(f: &Path) -> Result<String, FileError> {
    let t = read(f)?;
    Interchange::parse(&t).map_err(|e| invalid(f)(&e))?;
    Ok(t)
}

/// Prove that `password` opens the keystore and that it holds exactly `pubkey` (before a move
/// removes anything). Costs one KDF run (scrypt: seconds): call it off the UI thread.
pub fn check_opens_to(
    ks: &KeystoreFile,
    password: &Secret<String>,
    pubkey: &str,
) -> Result<(), FileError> {
    let parsed = Keystore::from_json(&ks.text).map_err(|e| invalid(&ks.path)(&e))?;
    let sk = parsed
        .decrypt_secret_key(password.expose())
        .map_err(|e| invalid(&ks.path)(&e))?;
    let got = format!("0x{}", sk.public_key().to_hex().trim_start_matches("0x"));
    drop(sk);
    if got != pubkey {
        return Err(FileError::WrongKey {
            path: ks.path.clone(),
            got,
            want: pubkey.to_string(),
        });
    }
    Ok(())
}

/// Read one keystore and its password file, and prove they open to exactly `pubkey` (one KDF
/// run, off the async workers): what a move sends.
pub async fn open_keystore(
    keystore: &Path,
    password_file: &Path,
    pubkey: &str,
) -> Result<(String, Secret<String>), OpenError> {
    let ks = read_keystores(&[keystore.to_path_buf()])?.remove(0);
    let pw = read_password_file(password_file)?;
    let pk = pubkey.to_string();
    tokio::task::spawn_blocking(move || {
        check_opens_to(&ks, &pw, &pk)?;
        Ok((ks.text, pw))
    })
    .await
    .map_err(OpenError::Check)?
}

/// Why [`open_keystore`] refused.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    File(#[from] FileError),
    #[error("keystore check: {0}")]
    Check(tokio::task::JoinError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodeherd_core::keys::bls::SecretKey;
    use nodeherd_core::keys::derive::DerivationPath;
    use nodeherd_core::keys::keystore::{KdfParams, Keystore};

    fn write_keystore(dir: &Path, name: &str, seed: u8, password: &str) -> (PathBuf, String) {
        let sk = SecretKey::from_bytes(&[seed; 32]).expect("secret key");
        let pk = format!("0x{}", sk.public_key().to_hex().trim_start_matches("0x"));
        let path: DerivationPath = "m/12381/3600/0/0/0".parse().expect("path");
        let ks = Keystore::encrypt(
            &sk,
            password,
            &path,
            &KdfParams::insecure_pbkdf2_for_tests(16),
            "",
        )
        .expect("encrypt");
        let p = dir.join(name);
        std::fs::write(&p, ks.to_json().expect("json")).expect("write");
        (p, pk)
    }

    #[test]
    fn keystores_pubkeys_passwords_and_the_opening_check() {
        let d = tempfile::tempdir().expect("tempdir");
        let (a, pka) = write_keystore(d.path(), "a.json", 7, "correct horse");
        let (b, pkb) = write_keystore(d.path(), "b.json", 9, "correct horse");
        let ks = read_keystores(&[a.clone(), b.clone()]).expect("read");
        assert_eq!(ks[0].pubkey, pka);
        assert_eq!(ks[1].pubkey, pkb);
        let pwf = d.path().join("pw");
        std::fs::write(&pwf, "correct horse\n").expect("write");
        let pw = read_password_file(&pwf).expect("pw");
        assert_eq!(pw.expose(), "correct horse");
        check_opens_to(&ks[0], &pw, &pka).expect("opens");
        let e = check_opens_to(&ks[0], &pw, &pkb).unwrap_err();
        assert!(
            e.to_string().contains(&format!("holds {pka}, not {pkb}")),
            "{e}"
        );
        let wrong = Secret::new("wrong".to_string());
        assert!(check_opens_to(&ks[0], &wrong, &pka).is_err());
        // the same key twice is refused, naming both files
        let e = read_keystores(&[a.clone(), a.clone()]).unwrap_err();
        assert!(e.to_string().contains("hold the same key"), "{e}");
        // not a keystore, missing file, nothing given: errors naming the file
        let junk = d.path().join("junk.json");
        std::fs::write(&junk, "{\"x\": 1}").expect("write");
        assert!(
            read_keystores(&[junk])
                .unwrap_err()
                .to_string()
                .contains("junk.json")
        );
        assert!(
            read_keystores(&[d.path().join("nope.json")])
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
        assert!(read_keystores(&[]).is_err());
        let bad = d.path().join("slashing.json");
        std::fs::write(&bad, "[]").expect("write");
        assert!(
            read_slashing(&bad)
                .unwrap_err()
                .to_string()
                .contains("slashing.json")
        );
    }
}
