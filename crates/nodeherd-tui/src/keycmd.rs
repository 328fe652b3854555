//! The keys screen's `:import` and `:move` commands: words in, a typed request (or the usage
//! line) out. Pure; nodes are resolved against the nodes the keys screen lists.
//!
//! Owns: the command grammar. May not touch: files (the worker reads them), the network, state.
//!
//! ```text
//! :import HOST/NODE KEYSTORE... --password-file FILE [--slashing-protection FILE]
//! :move PUBKEY --to HOST/NODE --keystore FILE --password-file FILE [--from HOST/NODE]
//! ```
//! The TUI has no hidden password entry: the keystore password comes from a file, as with
//! `nodeherd keys import --password-file` (and paths cannot contain spaces).

use std::path::PathBuf;

use nodeherd_core::inventory::NodeRef;
use nodeherd_core::keymanager::types::normalize_pubkey;

pub const IMPORT_USAGE: &str =
    "usage: :import HOST/NODE KEYSTORE... --password-file FILE [--slashing-protection FILE]";
pub const MOVE_USAGE: &str =
    "usage: :move PUBKEY --to HOST/NODE --keystore FILE --password-file FILE [--from HOST/NODE]";

/// `:import`, parsed and resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportCmd {
    pub node: NodeRef,
    pub files: Vec<PathBuf>,
    pub password_file: PathBuf,
    pub slashing: Option<PathBuf>,
}

/// `:move`, parsed and resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveCmd {
    pub pubkey: String,
    pub from: NodeRef,
    pub to: NodeRef,
    pub keystore: PathBuf,
    pub password_file: PathBuf,
}

/// Why an `:import` or `:move` line cannot be used; the text is what the flash line shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyCmdError {
    #[error("{name:?} is not a validator node of this session (keys screen: {listed})")]
    UnknownNode { name: String, listed: String },
    #[error("unknown option --{0}; {1}")]
    UnknownOption(String, &'static str),
    #[error("--{0} needs a value; {1}")]
    NoValue(String, &'static str),
    #[error("--{0} given twice; {1}")]
    Twice(String, &'static str),
    /// The usage line itself (the command is malformed).
    #[error("{0}")]
    Usage(&'static str),
    #[error("no keystore file; {0}")]
    NoKeystore(&'static str),
    #[error("--password-file is required (the TUI does not ask for passwords); {0}")]
    NoPasswordFile(&'static str),
    #[error("--{0} is required; {1}")]
    Required(String, &'static str),
    #[error("{0:?} is not a public key (0x + 96 hex digits)")]
    NotAPubkey(String),
    #[error("no validator node of this session lists {0} (R reloads; or give --from)")]
    NotListed(String),
    #[error("{count} nodes list {pubkey} ({nodes}): resolve that first")]
    ListedTwice {
        count: usize,
        pubkey: String,
        nodes: String,
    },
    #[error("the key is already on {0}")]
    AlreadyThere(String),
}

/// A validator node the keys screen lists: its `host/node` name, and the keys it holds.
pub struct Listed<'a> {
    pub r: NodeRef,
    pub name: String,
    pub pubkeys: Vec<&'a str>,
}

fn resolve(nodes: &[Listed], name: &str) -> Result<NodeRef, KeyCmdError> {
    if let Some(n) = nodes.iter().find(|n| n.name == name) {
        return Ok(n.r);
    }
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    Err(KeyCmdError::UnknownNode {
        name: name.to_string(),
        listed: if names.is_empty() {
            "none listed; R loads".to_string()
        } else {
            names.join(", ")
        },
    })
}

/// Positional words, and `(flag, value)` pairs.
type Split<'a> = (Vec<&'a str>, Vec<(String, &'a str)>);

/// Split `--flag VALUE` pairs (each flag at most once) from positional words.
fn split<'a>(
    words: &[&'a str],
    flags: &[&str],
    usage: &'static str,
) -> Result<Split<'a>, KeyCmdError> {
    let mut pos = Vec::new();
    let mut named: Vec<(String, &str)> = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if let Some(f) = w.strip_prefix("--") {
            if !flags.contains(&f) {
                return Err(KeyCmdError::UnknownOption(f.to_string(), usage));
            }
            let Some(v) = it.next() else {
                return Err(KeyCmdError::NoValue(f.to_string(), usage));
            };
            if named.iter().any(|(n, _)| n == f) {
                return Err(KeyCmdError::Twice(f.to_string(), usage));
            }
            named.push((f.to_string(), v));
        } else {
            pos.push(*w);
        }
    }
    Ok((pos, named))
}

fn flag<'a>(named: &[(String, &'a str)], f: &str) -> Option<&'a str> {
    named.iter().find(|(n, _)| n == f).map(|(_, v)| *v)
}

/// `:import` words after the command name.
pub fn parse_import(words: &[&str], nodes: &[Listed]) -> Result<ImportCmd, KeyCmdError> {
    let (pos, named) = split(
        words,
        &["password-file", "slashing-protection"],
        IMPORT_USAGE,
    )?;
    let Some((node, files)) = pos.split_first() else {
        return Err(KeyCmdError::Usage(IMPORT_USAGE));
    };
    if files.is_empty() {
        return Err(KeyCmdError::NoKeystore(IMPORT_USAGE));
    }
    let Some(pw) = flag(&named, "password-file") else {
        return Err(KeyCmdError::NoPasswordFile(IMPORT_USAGE));
    };
    Ok(ImportCmd {
        node: resolve(nodes, node)?,
        files: files.iter().map(PathBuf::from).collect(),
        password_file: PathBuf::from(pw),
        slashing: flag(&named, "slashing-protection").map(PathBuf::from),
    })
}

/// `:move` words after the command name. Without `--from`, the node that lists the key.
pub fn parse_move(words: &[&str], nodes: &[Listed]) -> Result<MoveCmd, KeyCmdError> {
    let (pos, named) = split(
        words,
        &["to", "from", "keystore", "password-file"],
        MOVE_USAGE,
    )?;
    let [pk] = pos.as_slice() else {
        return Err(KeyCmdError::Usage(MOVE_USAGE));
    };
    let pubkey = normalize_pubkey(pk).ok_or_else(|| KeyCmdError::NotAPubkey(pk.to_string()))?;
    let need = |f: &str| {
        flag(&named, f).ok_or_else(|| {
            if f == "password-file" {
                KeyCmdError::NoPasswordFile(MOVE_USAGE)
            } else {
                KeyCmdError::Required(f.to_string(), MOVE_USAGE)
            }
        })
    };
    let to = resolve(nodes, need("to")?)?;
    let keystore = PathBuf::from(need("keystore")?);
    let password_file = PathBuf::from(need("password-file")?);
    let from = match flag(&named, "from") {
        Some(f) => resolve(nodes, f)?,
        None => {
            let holders: Vec<&Listed> = nodes
                .iter()
                .filter(|n| n.pubkeys.contains(&pubkey.as_str()))
                .collect();
            match holders.as_slice() {
                [one] => one.r,
                [] => {
                    return Err(KeyCmdError::NotListed(pubkey));
                }
                many => {
                    return Err(KeyCmdError::ListedTwice {
                        count: many.len(),
                        pubkey,
                        nodes: many
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
    };
    if from == to {
        return Err(KeyCmdError::AlreadyThere(name_of(nodes, to)));
    }
    Ok(MoveCmd {
        pubkey,
        from,
        to,
        keystore,
        password_file,
    })
}

fn name_of(nodes: &[Listed], r: NodeRef) -> String {
    nodes
        .iter()
        .find(|n| n.r == r)
        .map(|n| n.name.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PK: &str = "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c";

    fn nodes() -> Vec<Listed<'static>> {
        vec![
            Listed {
                r: NodeRef { host: 0, node: 1 },
                name: "a/vc".into(),
                pubkeys: vec![PK],
            },
            Listed {
                r: NodeRef { host: 1, node: 0 },
                name: "b/vc2".into(),
                pubkeys: vec![],
            },
        ]
    }

    fn w(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn import_parses_files_and_flags_in_any_order() {
        let c = parse_import(
            &w("b/vc2 k1.json --password-file pw k2.json --slashing-protection sp.json"),
            &nodes(),
        )
        .expect("parse");
        assert_eq!(c.node, NodeRef { host: 1, node: 0 });
        assert_eq!(c.files, vec![PathBuf::from("k1.json"), "k2.json".into()]);
        assert_eq!(c.password_file, PathBuf::from("pw"));
        assert_eq!(c.slashing, Some("sp.json".into()));
    }

    #[test]
    fn import_errors_say_what_is_missing() {
        let n = nodes();
        assert!(
            parse_import(&w("b/vc2 k.json"), &n)
                .unwrap_err()
                .to_string()
                .contains("--password-file is required")
        );
        assert!(
            parse_import(&w("b/vc2 --password-file pw"), &n)
                .unwrap_err()
                .to_string()
                .contains("no keystore")
        );
        assert!(
            parse_import(&w(""), &n)
                .unwrap_err()
                .to_string()
                .starts_with("usage:")
        );
        let e = parse_import(&w("c/vc k.json --password-file pw"), &n)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"c/vc\" is not a validator node") && e.contains("a/vc, b/vc2"),
            "{e}"
        );
        assert!(
            parse_import(&w("b/vc2 k.json --password pw"), &n)
                .unwrap_err()
                .to_string()
                .contains("unknown option --password")
        );
        assert!(
            parse_import(&w("b/vc2 k.json --password-file"), &n)
                .unwrap_err()
                .to_string()
                .contains("needs a value")
        );
        assert!(
            parse_import(&w("b/vc2 k.json --password-file a --password-file b"), &n)
                .unwrap_err()
                .to_string()
                .contains("given twice")
        );
    }

    #[test]
    fn move_finds_the_holder_and_refuses_what_is_unclear() {
        let n = nodes();
        let c = parse_move(
            &w(&format!(
                "{} --to b/vc2 --keystore k.json --password-file pw",
                PK.to_uppercase().replace("0X", "0x")
            )),
            &n,
        )
        .expect("parse");
        assert_eq!(c.pubkey, PK);
        assert_eq!(c.from, NodeRef { host: 0, node: 1 });
        assert_eq!(c.to, NodeRef { host: 1, node: 0 });
        // already there
        let e = parse_move(
            &w(&format!("{PK} --to a/vc --keystore k --password-file p")),
            &n,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("already on a/vc"), "{e}");
        // nobody lists it, and no --from
        let other = format!("0x{}", "b".repeat(96));
        let e = parse_move(
            &w(&format!(
                "{other} --to b/vc2 --keystore k --password-file p"
            )),
            &n,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no validator node of this session lists"), "{e}");
        // with --from it is the operator's call (the engine checks the node has it)
        let c = parse_move(
            &w(&format!(
                "{other} --from a/vc --to b/vc2 --keystore k --password-file p"
            )),
            &n,
        )
        .expect("parse");
        assert_eq!(c.from, NodeRef { host: 0, node: 1 });
        // two holders: a double-sign risk to resolve, never to pick from
        let mut two = nodes();
        two[1].pubkeys.push(PK);
        let e = parse_move(
            &w(&format!("{PK} --to b/vc2 --keystore k --password-file p")),
            &two,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("2 nodes list"), "{e}");
        assert!(
            parse_move(&w("0x12 --to b/vc2 --keystore k --password-file p"), &n)
                .unwrap_err()
                .to_string()
                .contains("not a public key")
        );
        assert!(
            parse_move(&w(&format!("{PK} --to b/vc2 --password-file p")), &n)
                .unwrap_err()
                .to_string()
                .contains("--keystore is required")
        );
        assert!(
            parse_move(&w(&format!("{PK} --to b/vc2 --keystore k")), &n)
                .unwrap_err()
                .to_string()
                .contains("--password-file is required")
        );
    }
}
