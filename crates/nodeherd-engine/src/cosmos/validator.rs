//! What the alert rules read of a Cosmos validator (`valoper` in the inventory) from its node's
//! own REST API: jailed or tombstoned, missed blocks in the slashing window, and the proposals in
//! their voting period its account has not voted on.
//!
//! Owns: those requests (through the SSH session's forwards). May not touch: parsing (that is
//! `nodeherd_core::cosmos::validator`), the rules.

use nodeherd_core::alerts::Observation;
use nodeherd_core::cosmos::validator as v;
use nodeherd_transport::http;
use nodeherd_transport::ssh::Session;
use std::time::Duration;

/// GET `path` on the host's loopback `port`: (status, body) whatever the status.
async fn get_any(session: &Session, port: u16, path: &str) -> Result<(u16, String), String> {
    let stream = session
        .forward(port)
        .await
        .map_err(|e| e.to_string().lines().next().unwrap_or("").to_string())?;
    let r = tokio::time::timeout(Duration::from_secs(10), http::get(stream, path, &[]))
        .await
        .map_err(|_| format!("{path}: no answer within 10s"))?
        .map_err(|e| format!("{path}: {e}"))?;
    Ok((r.status, r.text()))
}

async fn get_ok(session: &Session, port: u16, path: &str) -> Option<String> {
    match get_any(session, port, path).await {
        Ok((200, body)) => Some(body),
        _ => None,
    }
}

/// Fill `o`'s validator fields for operator `valoper` through the REST API on `port`; what the
/// node does not answer stays unknown.
pub async fn observe(
    session: &Session,
    port: u16,
    valoper: &str,
    o: &mut Observation,
    now: chrono::DateTime<chrono::Utc>,
) {
    let val = get_ok(
        session,
        port,
        &format!("/cosmos/staking/v1beta1/validators/{valoper}"),
    )
    .await
    .and_then(|b| v::parse_validator(&b));
    let signing = match &val {
        Some((_, key)) => match v::valcons_of(valoper, key) {
            Some(cons) => get_ok(
                session,
                port,
                &format!("/cosmos/slashing/v1beta1/signing_infos/{cons}"),
            )
            .await
            .and_then(|b| v::parse_signing_info(&b)),
            None => None,
        },
        None => None,
    };
    if let Some((jailed, _)) = &val {
        let tomb = signing.is_some_and(|s| s.1);
        o.jailed = Some(if tomb {
            Some("tombstoned".into())
        } else if *jailed {
            Some("jailed".into())
        } else {
            None
        });
    }
    if let Some((missed, _)) = signing {
        let window = get_ok(session, port, "/cosmos/slashing/v1beta1/params")
            .await
            .and_then(|b| v::parse_window(&b));
        #[allow(clippy::cast_precision_loss)]
        if let Some(w) = window {
            o.missed_blocks_percent = Some(missed as f64 * 100.0 / w as f64);
        }
    }
    let Some(voter) = v::account_of(valoper) else {
        return;
    };
    let Some(props) = get_ok(session, port, "/cosmos/gov/v1/proposals?proposal_status=2")
        .await
        .and_then(|b| v::parse_voting(&b))
    else {
        return;
    };
    let mut unvoted = Vec::new();
    for p in props {
        let path = format!("/cosmos/gov/v1/proposals/{}/votes/{voter}", p.id);
        let voted = match get_any(session, port, &path).await {
            Ok((status, body)) => v::parse_voted(status, &body),
            Err(_) => None,
        };
        if voted == Some(false) {
            #[allow(clippy::cast_precision_loss)]
            let hours = (p.voting_end - now).num_seconds().max(0) as f64 / 3600.0;
            unvoted.push((hours, v::describe(&p, now)));
        }
    }
    o.unvoted = Some(unvoted);
}
