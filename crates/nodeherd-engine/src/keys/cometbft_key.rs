//! The CometBFT validator key and last-sign state as a failover carries them: the whole
//! `priv_validator_key.json` read into console memory ([`Secret`]) and checked (its address is
//! its public key's, its private key's public half is that key), never written to the console's
//! disk, never printed; the state that may be written to the target (never below what the source
//! signed); the host commands that read and write the two files.
//!
//! Owns: those checks, the choice of the state, and the host scripts. May not touch: the order of
//! a failover (that is [`super::cometbft_failover`]), reading only the public half for `keys list`
//! (that is [`super::consensus`]), the terminal.

use std::path::Path;

use base64::Engine as _;
use zeroize::Zeroize;

use nodeherd_core::keys::Secret;
use nodeherd_core::remote::Command;

use super::consensus::{ED25519_TYPE, SignState, ed25519_address, parse_sign_state};

/// A validator's key file, whole, in memory only. Debug never shows it.
pub struct PrivValidatorKey {
    text: Secret<String>,
    /// Upper-case hex.
    pub address: String,
    /// Base64 of the Ed25519 public key.
    pub pubkey: String,
}

impl std::fmt::Debug for PrivValidatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivValidatorKey({}, <redacted>)", self.address)
    }
}

impl PrivValidatorKey {
    /// Check a key file's text. The errors never quote the text (it holds the private key).
    pub fn parse(text: Secret<String>) -> Result<Self, String> {
        let mut v: serde_json::Value = serde_json::from_str(text.expose())
            .map_err(|_| "not JSON (a priv_validator_key.json is a JSON object)".to_string())?;
        let mut secret = v
            .pointer_mut("/priv_key/value")
            .map(serde_json::Value::take)
            .and_then(|x| match x {
                serde_json::Value::String(s) => Some(s),
                _ => None,
            });
        let checked = check(&v, secret.as_deref());
        if let Some(s) = secret.as_mut() {
            s.zeroize();
        }
        let (address, pubkey) = checked?;
        Ok(PrivValidatorKey {
            text,
            address,
            pubkey,
        })
    }

    /// The file's bytes, to send to the target's stdin.
    pub fn bytes(&self) -> &[u8] {
        self.text.expose().as_bytes()
    }
}

fn check(v: &serde_json::Value, priv_value: Option<&str>) -> Result<(String, String), String> {
    let s = |p: &str| v.pointer(p).and_then(serde_json::Value::as_str);
    let kind = s("/pub_key/type").ok_or("no pub_key.type")?;
    if kind != ED25519_TYPE || s("/priv_key/type") != Some("tendermint/PrivKeyEd25519") {
        return Err(format!(
            "a {kind} key: only Ed25519 validator keys (tendermint/PubKeyEd25519) are failed over"
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let pubkey = b64
        .decode(s("/pub_key/value").ok_or("no pub_key.value")?)
        .map_err(|_| "pub_key.value is not base64".to_string())?;
    let pubkey: [u8; 32] = pubkey
        .try_into()
        .map_err(|_| "pub_key.value is not 32 bytes".to_string())?;
    let address = s("/address").ok_or("no address")?.to_ascii_uppercase();
    if address != ed25519_address(&pubkey) {
        return Err("its address is not its pub_key's".into());
    }
    let mut seed_and_pub = b64
        .decode(priv_value.ok_or("no priv_key.value")?)
        .map_err(|_| "priv_key.value is not base64".to_string())?;
    let ok = seed_and_pub.len() == 64 && seed_and_pub[32..] == pubkey;
    seed_and_pub.zeroize();
    if !ok {
        return Err(
            "its priv_key does not end with its pub_key (not the pair CometBFT writes)".into(),
        );
    }
    Ok((address, b64.encode(pubkey)))
}

/// A last-sign state and the file's text, as read from a host or given by the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    pub state: SignState,
    pub text: String,
}

impl StateFile {
    pub fn parse(text: &str) -> Result<StateFile, String> {
        Ok(StateFile {
            state: parse_sign_state(text).map_err(|e| e.0)?,
            text: text.to_string(),
        })
    }
}

fn order(s: &SignState) -> (u64, i64, i64) {
    (s.height, s.round, s.step)
}

/// The state to write to the target: the source's when it is at or above the target's own
/// (height, round, step), so the target can never sign below what the source signed; `None`
/// keeps the target's own file (it is higher, or there is nothing from the source).
pub fn state_to_write<'a>(
    source: Option<&'a StateFile>,
    target: Option<&StateFile>,
) -> Option<&'a StateFile> {
    let s = source?;
    match target {
        Some(t) if order(&t.state) > order(&s.state) => None,
        _ => Some(s),
    }
}

/// The whole key file on the host (`sudo -n` with `become`): its output is secret.
pub fn read_key_command(file: &Path, become_root: bool) -> Command {
    Command::new("cat")
        .arg("--")
        .arg(file.to_string_lossy())
        .become_root(become_root)
}

/// Write stdin to `$1` as CometBFT does (mode 0600), owned by `$2` (the unit's `User=`; empty:
/// root) and its group; the file it replaces is kept as `$1.before-failover-$3` (0600) when
/// `$3` is not empty. Prints `written`.
const WRITE_SCRIPT: &str = r#"set -e
f="$1"; u="$2"; d="$(dirname -- "$f")"
mkdir -p -- "$d"
t="$d/.nodeherd-write.$$"
umask 077
cat > "$t"
chmod 600 -- "$t"
if [ -n "$u" ]; then chown -- "$u:$(id -gn -- "$u")" "$t"; fi
if [ -n "$3" ] && [ -e "$f" ]; then cp -p -- "$f" "$f.before-failover-$3"; fi
mv -f -- "$t" "$f"
sync
echo written"#;

/// The command writing its stdin to `file` (see [`WRITE_SCRIPT`]).
pub fn write_command(file: &Path, owner: &str, keep_as: &str, become_root: bool) -> Command {
    Command::new("sh")
        .arg("-c")
        .arg(WRITE_SCRIPT)
        .arg("nodeherd")
        .arg(file.to_string_lossy())
        .arg(owner)
        .arg(keep_as)
        .become_root(become_root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("tests/fixtures/cosmos")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn cometbfts_documented_key_is_accepted_and_never_shown() {
        for f in [
            "priv_validator_key.json",
            "priv_validator_key_compact.json",
            "priv_validator_key_reordered.json",
        ] {
            let text = fixture(f);
            let k = PrivValidatorKey::parse(Secret::new(text.clone())).unwrap();
            assert_eq!(k.address, "E74FBE24164CFC4F88E311C3AC92E63D0DC310D8", "{f}");
            assert_eq!(k.pubkey, "UjxDQgVTlHJOZ7axpMl/iczMIJXiQpFxCFjwKGvzYqE=");
            assert_eq!(k.bytes(), text.as_bytes(), "sent as read, byte for byte");
            let shown = format!("{k:?}");
            assert!(!shown.contains("priv"), "{shown}");
            assert!(shown.contains("redacted"));
        }
    }

    #[test]
    fn bad_key_files_are_refused_without_quoting_them() {
        let good = fixture("priv_validator_key.json");
        let v: serde_json::Value = serde_json::from_str(&good).unwrap();
        let secret = v["priv_key"]["value"].as_str().unwrap().to_string();
        let with = |p: &str, x: serde_json::Value| {
            let mut v = v.clone();
            *v.pointer_mut(p).unwrap() = x;
            v.to_string()
        };
        let cases = [
            String::new(),
            good[..good.len() / 2].to_string(),
            with(
                "/address",
                "E74FBE24164CFC4F88E311C3AC92E63D0DC310D9".into(),
            ),
            // The private half of another key: its public half is not this pub_key.
            with(
                "/priv_key/value",
                base64::engine::general_purpose::STANDARD
                    .encode([7u8; 64])
                    .into(),
            ),
            with("/priv_key/value", "!!".into()),
            with("/pub_key/value", "AAAA".into()),
            fixture("priv_validator_key_secp256k1.json"),
        ];
        for c in &cases {
            let e = PrivValidatorKey::parse(Secret::new(c.clone())).unwrap_err();
            assert!(!e.contains(&secret[..12]), "{e}");
        }
    }

    #[test]
    fn the_state_written_is_never_below_the_sources() {
        let s = |h: u64, r: i64, st: i64| StateFile {
            state: SignState {
                height: h,
                round: r,
                step: st,
            },
            text: format!("{h}/{r}/{st}"),
        };
        let src = s(100, 0, 3);
        // The target's own full-node state (init) is lower: the source's is written.
        assert_eq!(state_to_write(Some(&src), Some(&s(0, 0, 0))), Some(&src));
        assert_eq!(state_to_write(Some(&src), None), Some(&src));
        // Equal: the source's (it carries the signature CometBFT compares against).
        assert_eq!(state_to_write(Some(&src), Some(&s(100, 0, 3))), Some(&src));
        // The target's is higher by height, round or step: it stays.
        assert_eq!(state_to_write(Some(&src), Some(&s(101, 0, 0))), None);
        assert_eq!(
            state_to_write(Some(&s(100, 0, 2)), Some(&s(100, 1, 1))),
            None
        );
        assert_eq!(state_to_write(Some(&s(100, 0, 2)), Some(&src)), None);
        assert_eq!(state_to_write(None, Some(&src)), None);
        assert_eq!(
            StateFile::parse(&fixture("priv_validator_state.json")).map(|f| f.state.height),
            Ok(2411207)
        );
    }

    #[test]
    fn the_write_script_keeps_mode_owner_and_the_replaced_file() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("config/priv_validator_key.json");
        let run = |input: &str, keep: &str| {
            use std::io::Write as _;
            let mut c = std::process::Command::new("sh")
                .args(["-c", WRITE_SCRIPT, "nodeherd"])
                .arg(&f)
                .arg("")
                .arg(keep)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success());
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "written");
        };
        run("old", "");
        run("new", "T1");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let kept = t
            .path()
            .join("config/priv_validator_key.json.before-failover-T1");
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "old");
        assert_eq!(
            std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let c = write_command(Path::new("/h o/k.json"), "gaia", "", true).to_shell_string();
        assert!(c.contains("'/h o/k.json' gaia ''"), "{c}");
    }
}
