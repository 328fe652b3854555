//! What nodeherd reads of a Cosmos validator (`valoper` in the inventory) from its node's own
//! REST API: jailed or tombstoned, missed blocks in the slashing window, and the proposals in
//! their voting period (every page, up to [`MAX_PAGES`]) with whether its account voted. The
//! alert rules ([`observe`]) and the TUI's Cosmos screen read the same [`ValidatorView`].
//!
//! Owns: those requests (through the SSH session's forwards) and [`ValidatorView`]. May not
//! touch: parsing (that is `nodeherd_core::cosmos::validator`), the rules, the screens.

use chrono::{DateTime, Utc};
use nodeherd_core::alerts::Observation;
use nodeherd_core::cosmos::validator::{self as v, Proposal};
use nodeherd_transport::http;
use nodeherd_transport::ssh::Session;
use serde::Serialize;
use std::time::Duration;

/// At most this many pages of proposals in their voting period are read (100 each by default:
/// more than any chain has had open at once).
pub const MAX_PAGES: usize = 10;

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

/// A proposal in its voting period and whether the validator's account voted on it (None: the
/// node did not say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposalVote {
    pub proposal: Proposal,
    pub voted: Option<bool>,
}

/// A validator's standing as its node's REST API tells it; what the node does not answer stays
/// None.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ValidatorView {
    pub jailed: Option<bool>,
    pub tombstoned: Option<bool>,
    /// `missed_blocks_counter` of its signing info.
    pub missed_blocks: Option<u64>,
    /// The slashing module's `signed_blocks_window`.
    pub window: Option<u64>,
    /// The proposals in their voting period, every page read (None: not readable).
    pub proposals: Option<Vec<ProposalVote>>,
    /// More pages than [`MAX_PAGES`] were offered: the list is cut there.
    pub proposals_cut: bool,
}

impl ValidatorView {
    /// Missed blocks in percent of the window.
    pub fn missed_percent(&self) -> Option<f64> {
        match (self.missed_blocks, self.window) {
            (Some(m), Some(w)) if w > 0 => Some(m as f64 * 100.0 / w as f64),
            _ => None,
        }
    }

    /// `jailed`, `tombstoned` or None (neither, or unknown).
    pub fn jail_word(&self) -> Option<&'static str> {
        if self.tombstoned == Some(true) {
            Some("tombstoned")
        } else if self.jailed == Some(true) {
            Some("jailed")
        } else {
            None
        }
    }
}

/// Every proposal in its voting period, following `pagination.next_key` for at most
/// [`MAX_PAGES`] pages: (proposals, cut short). None when a page cannot be read.
pub async fn voting_proposals(session: &Session, port: u16) -> Option<(Vec<Proposal>, bool)> {
    let mut all = Vec::new();
    let mut path = v::VOTING_PROPOSALS.to_string();
    for _ in 0..MAX_PAGES {
        let body = get_ok(session, port, &path).await?;
        let (page, next) = v::parse_voting_page(&body)?;
        all.extend(page);
        match next {
            Some(k) => path = v::voting_page_path(&k),
            None => return Some((all, false)),
        }
    }
    Some((all, true))
}

/// Read operator `valoper`'s standing through the REST API on `port`.
pub async fn read(session: &Session, port: u16, valoper: &str) -> ValidatorView {
    let mut out = ValidatorView::default();
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
    out.jailed = val.as_ref().map(|(j, _)| *j);
    if let Some((missed, tomb)) = signing {
        out.tombstoned = Some(tomb);
        out.missed_blocks = Some(missed);
        out.window = get_ok(session, port, "/cosmos/slashing/v1beta1/params")
            .await
            .and_then(|b| v::parse_window(&b));
    }
    let Some(voter) = v::account_of(valoper) else {
        return out;
    };
    let Some((props, cut)) = voting_proposals(session, port).await else {
        return out;
    };
    let mut list = Vec::new();
    for p in props {
        let path = format!("/cosmos/gov/v1/proposals/{}/votes/{voter}", p.id);
        let voted = match get_any(session, port, &path).await {
            Ok((status, body)) => v::parse_voted(status, &body),
            Err(_) => None,
        };
        list.push(ProposalVote { proposal: p, voted });
    }
    out.proposals = Some(list);
    out.proposals_cut = cut;
    out
}

/// Fill `o`'s validator fields for operator `valoper` through the REST API on `port`; what the
/// node does not answer stays unknown.
pub async fn observe(
    session: &Session,
    port: u16,
    valoper: &str,
    o: &mut Observation,
    now: DateTime<Utc>,
) {
    let view = read(session, port, valoper).await;
    fill(&view, o, now);
}

/// The alert rules' fields from a [`ValidatorView`] (pure).
pub fn fill(view: &ValidatorView, o: &mut Observation, now: DateTime<Utc>) {
    if view.jailed.is_some() {
        o.jailed = Some(view.jail_word().map(str::to_string));
    }
    if let Some(p) = view.missed_percent() {
        o.missed_blocks_percent = Some(p);
    }
    if let Some(props) = &view.proposals {
        let unvoted = props
            .iter()
            .filter(|p| p.voted == Some(false))
            .map(|p| {
                let hours = (p.proposal.voting_end - now).num_seconds().max(0) as f64 / 3600.0;
                (hours, v::describe(&p.proposal, now))
            })
            .collect();
        o.unvoted = Some(unvoted);
    }
}

#[cfg(test)]
mod tests {
    //! Through the fake host, with the recorded answers of `tests/fixtures/cosmos/`: two pages of
    //! proposals in their voting period, joined by `pagination.next_key`.

    use super::*;
    use crate::testing::{FakeRemote, HttpReply};

    const VALOPER: &str = "cosmosvaloper1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnxz90a2";
    const VOTER: &str = "cosmos1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnrk363e";
    const CONS: &str = "cosmosvalcons1h8nf75ey80tqvgx9jyp8l2sdqvm6c6rjqf3vgf";

    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/cosmos"
        ))
        .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// A node answering every validator query; the proposals in two pages.
    fn node() -> FakeRemote {
        let f = FakeRemote::named("h1");
        f.http(
            1317,
            &format!("/cosmos/staking/v1beta1/validators/{VALOPER}"),
            200,
            &fixture("staking_validator.json"),
        );
        f.http(
            1317,
            &format!("/cosmos/slashing/v1beta1/signing_infos/{CONS}"),
            200,
            &fixture("signing_info.json"),
        );
        f.http(
            1317,
            "/cosmos/slashing/v1beta1/params",
            200,
            &fixture("slashing_params.json"),
        );
        f.http(
            1317,
            v::VOTING_PROPOSALS,
            200,
            &fixture("gov_proposals_page1.json"),
        );
        // page 1's next_key "AAAAAAAAA74=", percent-encoded into the query
        f.http(
            1317,
            "/cosmos/gov/v1/proposals?proposal_status=2&pagination.key=AAAAAAAAA74%3D",
            200,
            &fixture("gov_proposals_page2.json"),
        );
        f.http(
            1317,
            &format!("/cosmos/gov/v1/proposals/956/votes/{VOTER}"),
            200,
            &fixture("gov_vote.json"),
        );
        for id in [957, 958] {
            f.http(
                1317,
                &format!("/cosmos/gov/v1/proposals/{id}/votes/{VOTER}"),
                404,
                &fixture("gov_vote_not_found.json"),
            );
        }
        f
    }

    #[tokio::test]
    async fn proposals_of_every_page_are_read_with_the_votes() {
        let f = node();
        let view = read(&f.session(), 1317, VALOPER).await;
        let props = view.proposals.clone().expect("proposals");
        let ids: Vec<(u64, Option<bool>)> =
            props.iter().map(|p| (p.proposal.id, p.voted)).collect();
        assert_eq!(
            ids,
            vec![(956, Some(true)), (957, Some(false)), (958, Some(false))]
        );
        assert!(!view.proposals_cut);
        assert_eq!(view.jailed, Some(false));
        assert_eq!(view.tombstoned, Some(false));
        assert_eq!(view.missed_percent(), Some(3.12));
        // the alert rule sees the unvoted proposal of page 2 too
        let now = chrono::DateTime::parse_from_rfc3339("2024-06-04T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut o = Observation::default();
        fill(&view, &mut o, now);
        let unvoted = o.unvoted.expect("unvoted");
        assert_eq!(unvoted.len(), 2, "{unvoted:?}");
        assert!(unvoted[1].1.contains("#958"), "{unvoted:?}");
        assert_eq!(o.jailed, Some(None));
    }

    #[tokio::test]
    async fn pages_stop_at_the_bound_and_say_so() {
        let f = FakeRemote::named("h1");
        // every page points to itself: an endless chain of pages
        f.http_with(1317, v::VOTING_PROPOSALS, |_, _| {
            HttpReply::Answer(200, fixture("gov_proposals_page1.json"))
        });
        f.http_with(
            1317,
            "/cosmos/gov/v1/proposals?proposal_status=2&pagination.key=AAAAAAAAA74%3D",
            |_, _| HttpReply::Answer(200, fixture("gov_proposals_page1.json")),
        );
        let (props, cut) = voting_proposals(&f.session(), 1317).await.expect("read");
        assert!(cut);
        assert_eq!(props.len(), 2 * MAX_PAGES);
        // a page that cannot be read: unknown, not a shorter list
        let g = FakeRemote::named("h1");
        g.http(
            1317,
            v::VOTING_PROPOSALS,
            200,
            &fixture("gov_proposals_page1.json"),
        );
        assert!(voting_proposals(&g.session(), 1317).await.is_none());
    }
}
