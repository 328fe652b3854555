//! The session keys in a Substrate node's keystore, from the keystore directory's FILE NAMES
//! only. Substrate's file keystore (`sc-keystore`, `LocalKeystore`) names each key file
//! `hex(key type, 4 bytes) + hex(public key)` (`KeystoreInner::key_file_path`) and writes the
//! secret phrase or seed INTO the file: the command here lists names (`ls -1A`) and never opens
//! a file, so no secret crosses the wire.
//!
//! The default keystore is `<base-path>/chains/<chain-spec id>/keystore` (sc-cli's
//! `KeystoreParams::keystore_config`: `config_dir.join("keystore")`, `BasePath::config_dir`:
//! `<base>/chains/<chain_id>`); `--keystore-path` moves it. The chain-spec id is not always the
//! chain's name (Kusama's is `ksmcc3`), so without `keystore_dir` every `chains/*/keystore` under
//! the node's `data_dir` is listed.
//!
//! Owns: the listing command and its pure parser. May not touch: I/O (the engine runs the
//! command), what a key on two nodes means (that is the engine's double-sign check).

use crate::remote::Command;
use serde::Serialize;

/// Known key types of Polkadot SDK runtimes and the session key each names.
pub const KEY_TYPES: [(&str, &str); 9] = [
    ("gran", "grandpa"),
    ("babe", "babe"),
    ("aura", "aura"),
    ("imon", "im_online"),
    ("para", "para_validator"),
    ("asgn", "para_assignment"),
    ("audi", "authority_discovery"),
    ("beef", "beefy"),
    ("mixn", "mixnet"),
];

/// Lists the keystore directories' file names: each directory found as a line ending in `/`
/// (a file name cannot hold a `/`), then its entries, one per line. `$1` is `dir` (`$2` is the
/// keystore) or `base` (`$2` is the base path: every `chains/*/keystore` under it).
const LIST: &str = r#"if [ "$1" = dir ]; then set -- "$2"; else B="$2"; set -- "$B"/chains/*/keystore; fi
for d in "$@"; do [ -d "$d" ] || continue; echo "$d/"; ls -1A -- "$d" || echo "$d/ unreadable"; done
exit 0"#;

/// The host command listing the key files' names of a keystore (`keystore_dir`), else of every
/// `<base>/chains/*/keystore`. Paths are single arguments, quoted.
pub fn list_command(keystore_dir: Option<&str>, base: &str) -> Command {
    let (mode, path) = match keystore_dir {
        Some(d) => ("dir", d),
        None => ("base", base),
    };
    Command::new("sh")
        .arg("-c")
        .arg(LIST)
        .arg("nodeherd-keystore")
        .arg(mode)
        .arg(path)
}

/// One public key found in a keystore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionKey {
    /// The keystore directory it was found in.
    pub keystore: String,
    /// The key type as its 4 bytes spell it (`gran`), or `0x` + hex when they are not ASCII.
    pub key_type: String,
    /// The session key it is, for known types (`grandpa`).
    pub name: Option<&'static str>,
    /// `0x` + the public key in lower-case hex.
    pub public: String,
}

/// What [`list_command`] printed, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// The keystore directories found.
    pub keystores: Vec<String>,
    /// Directories that could not be listed.
    pub unreadable: Vec<String>,
    pub keys: Vec<SessionKey>,
    /// Entries whose names are not a key file's (as Substrate itself skips them).
    pub ignored: usize,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The key type and public key of a key file's name (`6772616e` + hex), if it is one: hex, more
/// than the 4 bytes of the type.
pub fn parse_name(name: &str) -> Option<(String, Option<&'static str>, String)> {
    let bytes = unhex(name)?;
    if bytes.len() <= 4 {
        return None;
    }
    let (ty, public) = bytes.split_at(4);
    let key_type = if ty.iter().all(u8::is_ascii_graphic) {
        ty.iter().map(|b| char::from(*b)).collect::<String>()
    } else {
        format!("0x{}", name[..8].to_ascii_lowercase())
    };
    let known = KEY_TYPES
        .iter()
        .find(|(t, _)| *t == key_type)
        .map(|(_, n)| *n);
    let hex: String = public.iter().map(|b| format!("{b:02x}")).collect();
    Some((key_type, known, format!("0x{hex}")))
}

/// Parse what [`list_command`] printed (pure).
pub fn parse_listing(text: &str) -> Listing {
    let mut out = Listing::default();
    let mut dir: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if let Some(d) = line.strip_suffix("/ unreadable") {
            out.unreadable.push(crate::text::sanitize(d));
            continue;
        }
        if let Some(d) = line.strip_suffix('/') {
            let d = crate::text::sanitize(d);
            out.keystores.push(d.clone());
            dir = Some(d);
            continue;
        }
        match (&dir, parse_name(line)) {
            (Some(d), Some((key_type, name, public))) => out.keys.push(SessionKey {
                keystore: d.clone(),
                key_type,
                name,
                public,
            }),
            _ => out.ignored += 1,
        }
    }
    out
}
