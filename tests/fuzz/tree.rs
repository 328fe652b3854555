//! Structure-aware mutation: a real TOML or JSON file is parsed, a few of its values are replaced,
//! removed, renamed or copied elsewhere, and the tree is written back, so that the input passes the
//! syntax and reaches the checks behind it (inventory resolution, playbook validation, keystore and
//! feed checks), where byte flips rarely get.

use super::harness::Rng;
use serde_json::{Map, Value};

/// The syntax a target's files are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// No structure known: byte-level mutation only.
    Bytes,
    Toml,
    Json,
}

const STRINGS: &[&str] = &[
    "",
    " ",
    "bn-1",
    "bastion",
    "mainnet",
    "lodestar",
    "geth",
    "all",
    "*",
    "!",
    "a/b",
    "../../etc/passwd",
    "'; rm -rf / #",
    "$(reboot)",
    "x.service\n[Service]",
    "lodestar-bn.service",
    "/opt/nodeherd/x",
    "~/.ssh/id_ed25519",
    "10.0.0.11",
    "::1",
    "[::1]:22",
    "http://127.0.0.1:8080/health",
    "linux/aarch64",
    "linux/x86_64/musl",
    "accept-new",
    "strict",
    "14d",
    "0s",
    "99999999999999d",
    "1.5.1",
    "v1.2.3-rc.1+build",
    "0x",
    "sha256:",
    "e\u{301}",
    "\u{202e}",
    "İ",
    "🦀",
    "\0",
    "\x1b[2J",
];

fn hostile(rng: &mut Rng) -> Value {
    match rng.below(10) {
        0 => Value::from(rng.pick(&[0i64, -1, 1, 22, 65535, 65536, i64::MAX, i64::MIN])),
        1 => Value::from(rng.pick(&[0.5f64, -0.0, 1e300, f64::MIN_POSITIVE])),
        2 => Value::from(rng.chance(50)),
        3 => Value::Array(Vec::new()),
        4 => Value::Object(Map::new()),
        5 => Value::from(rng.pick(STRINGS).repeat(1 + rng.below(3000))),
        _ => Value::from(rng.pick(STRINGS)),
    }
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(m) => m.values().map(count).sum(),
        _ => 0,
    }
}

fn nth_mut<'a>(v: &'a mut Value, k: &mut usize) -> Option<&'a mut Value> {
    if *k == 0 {
        return Some(v);
    }
    *k -= 1;
    match v {
        Value::Array(a) => a.iter_mut().find_map(|c| nth_mut(c, k)),
        Value::Object(m) => m.values_mut().find_map(|c| nth_mut(c, k)),
        _ => None,
    }
}

fn nth(v: &Value, k: &mut usize) -> Option<Value> {
    if *k == 0 {
        return Some(v.clone());
    }
    *k -= 1;
    match v {
        Value::Array(a) => a.iter().find_map(|c| nth(c, k)),
        Value::Object(m) => m.values().find_map(|c| nth(c, k)),
        _ => None,
    }
}

/// One change somewhere in the tree.
fn mutate(rng: &mut Rng, root: &mut Value) {
    let n = count(root);
    let donor = nth(root, &mut rng.below(n));
    let Some(node) = nth_mut(root, &mut rng.below(n)) else {
        return;
    };
    match node {
        Value::Object(m) if !m.is_empty() && rng.chance(60) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let key = rng.pick_ref(&keys).clone();
            match rng.below(4) {
                0 => {
                    m.remove(&key);
                }
                1 => {
                    // The same table under another name (a second host, node or rule).
                    if let Some(v) = m.get(&key).cloned() {
                        m.insert(
                            format!("{key}{}", rng.pick(&["-2", "", "x", "*", "/", " ", "İ"])),
                            v,
                        );
                    }
                }
                2 => {
                    if let Some(v) = m.remove(&key) {
                        m.insert(rng.pick(STRINGS).to_string(), v);
                    }
                }
                _ => {
                    m.insert(key, hostile(rng));
                }
            }
        }
        Value::Array(a) if rng.chance(50) => match rng.below(3) {
            0 => a.clear(),
            1 if !a.is_empty() => {
                let i = rng.below(a.len());
                let v = a[i].clone();
                a.push(v);
            }
            _ => a.push(hostile(rng)),
        },
        _ if rng.chance(20) => {
            if let Some(d) = donor {
                *node = d;
            }
        }
        _ => *node = hostile(rng),
    }
}

/// TOML has no null; a float that is not finite cannot come from JSON either.
fn no_nulls(v: &mut Value) {
    match v {
        Value::Null => *v = Value::from(""),
        Value::Array(a) => a.iter_mut().for_each(no_nulls),
        Value::Object(m) => m.values_mut().for_each(no_nulls),
        _ => {}
    }
}

/// A structured mutant of `file`, or `None` when it does not parse as `shape`.
pub fn mutant(rng: &mut Rng, shape: Shape, file: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(file).ok()?;
    let mut v: Value = match shape {
        Shape::Bytes => return None,
        Shape::Toml => serde_json::to_value(toml::from_str::<toml::Table>(text).ok()?).ok()?,
        Shape::Json => serde_json::from_str(text).ok()?,
    };
    for _ in 0..=rng.below(4) {
        mutate(rng, &mut v);
    }
    match shape {
        Shape::Toml => {
            no_nulls(&mut v);
            toml::to_string(&v).ok().map(String::into_bytes)
        }
        _ => serde_json::to_vec_pretty(&v).ok(),
    }
}
