//! The journal lines of key imports, removals and moves (pure): what was asked, what each key's
//! answer was, where the slashing data went.
//!
//! Owns: the wording of those lines. May not touch: where they are written (that is
//! [`crate::record`], called by the use cases), and never a secret: pubkeys (public), statuses
//! and file paths only; no keystore, password, token, slashing data or server message text.

use nodeherd_core::journal::{Entry, action};
use nodeherd_core::keymanager::types::{ImportResult, ImportStatus};

use super::{ImportError, RemoveNodeError, RemoveOutcome};

/// At most this many keys are named in one line; the rest are counted.
const NAMED: usize = 5;

/// `0xa1b2c3d4…e5f6`: enough to recognise a pubkey in a table.
pub fn short_pubkey(p: &str) -> String {
    if p.len() <= 16 || !p.is_ascii() {
        return p.to_string();
    }
    format!("{}…{}", &p[..10], &p[p.len() - 4..])
}

fn listed(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED {
        s.push_str(&format!(" and {} more", items.len() - NAMED));
    }
    s
}

fn import_word(s: ImportStatus) -> &'static str {
    match s {
        ImportStatus::Imported => "imported",
        ImportStatus::Duplicate => "duplicate",
        ImportStatus::Error => "error",
    }
}

/// The line of an import of `pubkeys` into `node`.
pub fn import_line(
    who: &str,
    node: &str,
    pubkeys: &[String],
    with_slashing: bool,
    res: &Result<Vec<ImportResult>, ImportError>,
) -> Entry {
    let n = pubkeys.len();
    let extra = if with_slashing {
        " with slashing protection data"
    } else {
        ""
    };
    let (result, detail) = match res {
        Ok(rs) => {
            let per: Vec<String> = pubkeys
                .iter()
                .zip(rs)
                .map(|(p, r)| format!("{} {}", short_pubkey(p), import_word(r.status)))
                .collect();
            let imported = rs
                .iter()
                .filter(|r| r.status == ImportStatus::Imported)
                .count();
            let good = rs.len() == n && rs.iter().all(|r| r.status != ImportStatus::Error);
            (
                if good { "ok" } else { "failed" },
                format!(
                    "imported {imported} of {n} keystore(s){extra}: {}",
                    listed(&per)
                ),
            )
        }
        Err(ImportError::Connect(e)) => ("refused", format!("nothing sent ({n} keystore(s)): {e}")),
        Err(ImportError::Import(e)) => (
            "failed",
            format!("the import of {n} keystore(s) failed: {e}"),
        ),
    };
    Entry::now(who, action::KEY_IMPORT, node, result, &detail)
}

/// The line of a removal of `pubkeys` from `node`.
pub fn remove_line(
    who: &str,
    node: &str,
    pubkeys: &[String],
    res: &Result<RemoveOutcome, RemoveNodeError>,
) -> Entry {
    use nodeherd_core::keymanager::types::DeleteStatus as D;
    let (result, detail) = match res {
        Ok(o) => {
            let per: Vec<String> = o
                .results
                .iter()
                .map(|(p, s, _)| {
                    let word = match s {
                        D::Deleted => "deleted",
                        D::NotActive => "not active",
                        D::NotFound => "not found",
                        D::Error => "error",
                    };
                    format!("{} {word}", short_pubkey(p))
                })
                .collect();
            let good = o
                .results
                .iter()
                .all(|(_, s, _)| matches!(s, D::Deleted | D::NotActive | D::NotFound))
                && o.saved();
            let saved = match &o.host_file {
                Ok(p) => format!("slashing data saved on the host at {p}"),
                Err(_) => "slashing data NOT saved on the host".to_string(),
            };
            (
                if good { "ok" } else { "failed" },
                format!("{}; {saved}", listed(&per)),
            )
        }
        Err(RemoveNodeError::Remove(super::RemoveError::Keymanager(e))) => (
            "failed",
            format!(
                "the removal of {} failed or its answer was lost: {e}",
                listed(&pubkeys.iter().map(|p| short_pubkey(p)).collect::<Vec<_>>())
            ),
        ),
        Err(e) => ("refused", format!("nothing removed: {e}")),
    };
    Entry::now(who, action::KEY_REMOVE, node, result, &detail)
}

/// The two lines of a move of `pubkey` from `a` to `b` (one per node, one run id), `state` being
/// the move's one-sentence end state.
pub fn move_lines(
    who: &str,
    (a, b): (&str, &str),
    pubkey: &str,
    ok: bool,
    untouched: bool,
    state: &str,
) -> [Entry; 2] {
    let result = if ok {
        "ok"
    } else if untouched {
        "refused"
    } else {
        "failed"
    };
    let detail = format!("{} from {a} to {b}: {state}", short_pubkey(pubkey));
    let run = crate::record::run_id();
    [a, b].map(|node| {
        let mut e = Entry::now(who, action::KEY_MOVE, node, result, &detail);
        e.from = a.to_string();
        e.to = b.to_string();
        e.run = run.clone();
        e
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PK: &str = "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c";

    #[test]
    fn an_import_line_names_keys_and_statuses_only() {
        let pks: Vec<String> = (0..7).map(|i| format!("{PK}{i}")).collect();
        let rs: Vec<ImportResult> = (0..7)
            .map(|i| ImportResult {
                status: if i == 1 {
                    ImportStatus::Duplicate
                } else {
                    ImportStatus::Imported
                },
                message: Some("secret-ish server text".into()),
            })
            .collect();
        let e = import_line("ops@box", "h/vc", &pks, true, &Ok(rs));
        assert_eq!(e.result, "ok");
        assert_eq!(e.action, "key-import");
        assert_eq!(
            e.detail,
            "imported 6 of 7 keystore(s) with slashing protection data: 0xa99a76ed…44c0 imported, \
             0xa99a76ed…44c1 duplicate, 0xa99a76ed…44c2 imported, 0xa99a76ed…44c3 imported, \
             0xa99a76ed…44c4 imported and 2 more"
        );
        assert!(!e.detail.contains("server text"), "{}", e.detail);
    }

    #[test]
    fn a_failed_key_makes_the_import_failed() {
        let rs = vec![ImportResult {
            status: ImportStatus::Error,
            message: None,
        }];
        let e = import_line("w", "h/vc", &[PK.into()], false, &Ok(rs));
        assert_eq!(e.result, "failed");
        assert_eq!(
            e.detail,
            "imported 0 of 1 keystore(s): 0xa99a76ed…e44c error"
        );
    }

    #[test]
    fn a_move_is_one_run_on_both_nodes() {
        let [a, b] = move_lines("w", ("h1/vc", "h2/vc"), PK, false, true, "nothing changed");
        assert_eq!((a.node.as_str(), b.node.as_str()), ("h1/vc", "h2/vc"));
        assert_eq!(a.run, b.run);
        assert_eq!(a.result, "refused");
        assert_eq!((a.from.as_str(), a.to.as_str()), ("h1/vc", "h2/vc"));
        let [x, _] = move_lines("w", ("h1/vc", "h2/vc"), PK, false, false, "UNCERTAIN");
        assert_eq!(x.result, "failed");
        assert_eq!(short_pubkey("0xab"), "0xab");
    }
}
