//! The doctor's feed checks: every release feed the selected nodes follow, read once from the
//! console (reachable, and a release feed), or else whether the console has a cached copy and
//! how old it is.
//!
//! Owns: [`Feeds`] (the HTTP client and cache directory the checks use), [`FeedState`], the probe
//! of one feed and the per-node checks made from it. May not touch: the feed cache (read only:
//! the age of a cached copy), the hosts, output formats.

use super::Check;
use crate::feeds;
use nodeherd_core::inventory::{Host, Node};
use nodeherd_core::releases::feed;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Where the feed checks read from.
#[derive(Debug, Clone)]
pub struct Feeds {
    pub client: reqwest::Client,
    /// The console's feed cache (see [`feeds::default_cache_dir`]).
    pub cache_dir: PathBuf,
}

impl Default for Feeds {
    fn default() -> Self {
        Feeds {
            client: client(),
            cache_dir: feeds::default_cache_dir(),
        }
    }
}

/// A client with short limits: the doctor asks whether a feed answers, it does not wait for it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("nodeherd/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// What became of reading one feed.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedState {
    /// Read now over HTTP(S) and parsed: its releases, and how long it took.
    Reachable { releases: usize, millis: u128 },
    /// A local file that parses.
    File { releases: usize },
    /// Not readable now, but the console has a cached copy this old.
    Cached { error: String, age: Duration },
    /// Neither readable now nor cached.
    Unavailable { error: String },
}

/// The feed a node follows: its own `release_feed`, else its client's built-in feed. (A
/// playbook's `release_feed` overrides this at upgrade time; the doctor reads no playbook.)
pub fn node_feed(node: &Node) -> Option<String> {
    node.release_feed
        .clone()
        .or_else(|| feeds::builtin_feed(node.client.as_str()))
}

/// Read every feed in `sources` at once.
pub async fn probe_all(
    feeds: &Feeds,
    sources: impl IntoIterator<Item = String>,
) -> BTreeMap<String, FeedState> {
    let probes = sources.into_iter().map(|s| async move {
        let state = probe(feeds, &s).await;
        (s, state)
    });
    futures::future::join_all(probes)
        .await
        .into_iter()
        .collect()
}

/// Read one feed (an http(s) URL or a local file) and parse it; on failure, look for a cached copy.
pub async fn probe(feeds: &Feeds, source: &str) -> FeedState {
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        let path = source.strip_prefix("file://").unwrap_or(source);
        return match std::fs::read_to_string(path) {
            Ok(text) => match feed::parse(&text) {
                Ok((releases, _)) => FeedState::File {
                    releases: releases.len(),
                },
                Err(e) => FeedState::Unavailable {
                    error: format!("not a release feed: {e}"),
                },
            },
            Err(e) => FeedState::Unavailable {
                error: e.to_string(),
            },
        };
    }
    let started = Instant::now();
    let error = match get(&feeds.client, source).await {
        Ok(text) => match feed::parse(&text) {
            Ok((releases, _)) => {
                return FeedState::Reachable {
                    releases: releases.len(),
                    millis: started.elapsed().as_millis(),
                };
            }
            Err(e) => format!("not a release feed: {e}"),
        },
        Err(e) => e,
    };
    match cache_age(&feeds.cache_dir, source, SystemTime::now()) {
        Some(age) => FeedState::Cached { error, age },
        None => FeedState::Unavailable { error },
    }
}

/// GET `url` as the upgrade's feed reader asks it ([`feeds::request`]); the body of a 2xx answer.
async fn get(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let resp = feeds::request(client, url)
        .send()
        .await
        .map_err(|e| chain(&e.without_url()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    resp.text().await.map_err(|e| chain(&e.without_url()))
}

/// An error with its causes (reqwest's own text hides the reason, e.g. "connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// How old the console's cached copy of `url` is, if there is one.
pub fn cache_age(cache_dir: &Path, url: &str, now: SystemTime) -> Option<Duration> {
    let modified = std::fs::metadata(feeds::cache_file(cache_dir, url))
        .and_then(|m| m.modified())
        .ok()?;
    Some(now.duration_since(modified).unwrap_or_default())
}

/// `42 s`, `5 min`, `3 h`, `2 d`.
pub fn age_text(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// One `feed` check per node of `host` that follows a feed (pure).
pub fn feed_checks(checks: &mut Vec<Check>, host: &Host, states: &BTreeMap<String, FeedState>) {
    for node in &host.nodes {
        let Some(source) = node_feed(node) else {
            continue;
        };
        let Some(state) = states.get(&source) else {
            continue;
        };
        let src = nodeherd_core::text::sanitize(&source);
        let node = Some(node.name.as_str());
        checks.push(match state {
            FeedState::Reachable { releases, millis } => Check::pass(
                "feed",
                node,
                format!("{src} answers: {releases} releases ({millis} ms)"),
            ),
            FeedState::File { releases } => {
                Check::pass("feed", node, format!("{src}: {releases} releases"))
            }
            FeedState::Cached { error, age } => Check::pass(
                "feed",
                node,
                format!(
                    "{src} does not answer ({}); the cached copy, {} old, is used",
                    nodeherd_core::text::sanitize(error),
                    age_text(*age)
                ),
            ),
            FeedState::Unavailable { error } => Check::fail(
                "feed",
                node,
                format!(
                    "{src}: {} (and no cached copy)",
                    nodeherd_core::text::sanitize(error)
                ),
                "check the feed's address (release_feed in the inventory, or the client's built-in feed), the console's network and proxy (HTTPS_PROXY); point release_feed at a reachable mirror or a local file; for GitHub's API when rate-limited set GITHUB_TOKEN".into(),
            ),
        });
    }
}
