//! The release feed format: the GitHub releases API's JSON (or any URL/file serving that shape).
//!
//! May not touch: the network or files (the engine fetches a feed and hands the text here).

use crate::releases::version::normalize_tag;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One release as the feed lists it (only the fields nodeherd uses).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct FeedRelease {
    pub tag_name: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    pub prerelease: bool,
    /// When the release was published: the clock of the upgrade delay starts here.
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub assets: Vec<Asset>,
}

/// A downloadable artifact of a release.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Asset {
    pub name: String,
    #[serde(default)]
    pub size: u64,
    /// `sha256:<hex>` when the forge computed it; None for older releases.
    #[serde(default)]
    pub digest: Option<String>,
    pub browser_download_url: String,
}

impl Asset {
    /// The SHA-256 the forge published for this asset, as lowercase hex.
    pub fn sha256(&self) -> Option<String> {
        let d = self.digest.as_deref()?.strip_prefix("sha256:")?;
        (d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit())).then(|| d.to_ascii_lowercase())
    }
}

/// A release whose tag parsed as a version.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Release {
    pub version: semver::Version,
    pub feed: FeedRelease,
}

impl Release {
    /// Words in the notes that operators treat as urgency signals.
    pub fn urgency(&self) -> Option<&'static str> {
        let body = self.feed.body.as_deref().unwrap_or("").to_ascii_lowercase();
        [
            "hard fork",
            "hardfork",
            "high-priority",
            "high priority",
            "critical",
            "security",
        ]
        .into_iter()
        .find(|w| body.contains(w))
    }
}

/// Errors reading a feed document.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the release feed is not the expected JSON (an array of releases): {0}")]
    Json(#[from] serde_json::Error),
}

/// Parse a feed document; releases whose tags are not versions are skipped (returned separately,
/// so a report can say why they were ignored). Newest version first.
pub fn parse(json: &str) -> Result<(Vec<Release>, Vec<String>), FeedError> {
    let raw: Vec<FeedRelease> = serde_json::from_str(json)?;
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for r in raw {
        match normalize_tag(&r.tag_name) {
            Some(version) => ok.push(Release { version, feed: r }),
            None => skipped.push(r.tag_name),
        }
    }
    ok.sort_by(|a, b| b.version.cmp(&a.version));
    Ok((ok, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_github_shape() {
        let json = r#"[
          {"tag_name":"v1.5.1","draft":false,"prerelease":false,"published_at":"2023-02-01T10:00:00Z",
           "created_at":"2023-01-30T10:00:00Z","body":"Bug fixes","html_url":"https://example.invalid/r/1.5.1",
           "assets":[{"name":"lodestar-1.5.1.tar.gz","size":10,"digest":"sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
                      "browser_download_url":"https://example.invalid/a.tgz"}]},
          {"tag_name":"nightly","draft":false,"prerelease":true,"published_at":null,"assets":[]},
          {"tag_name":"v1.4.2","draft":false,"prerelease":false,"published_at":"2023-01-10T10:00:00Z","body":"High-priority: hard fork","assets":[]}
        ]"#;
        let (rels, skipped) = parse(json).unwrap();
        assert_eq!(skipped, vec!["nightly".to_string()]);
        assert_eq!(rels[0].version.to_string(), "1.5.1");
        assert_eq!(rels[0].feed.assets[0].sha256().unwrap().len(), 64);
        assert!(
            rels[0].feed.assets[0]
                .sha256()
                .unwrap()
                .starts_with("abcdef")
        );
        assert_eq!(rels[1].urgency(), Some("hard fork"));
        assert!(parse("{}").is_err());
    }
}
