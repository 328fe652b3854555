//! Fetching release feeds: HTTP(S) with ETag revalidation into a cache, or a local file.
//! Works offline from the cache, and says so.
//!
//! Owns: the feed cache under the XDG cache dir (`~/.cache/nodeherd/feeds`), and the seams the
//! upgrade engine reads releases ([`ReleaseSource`]) and the wall clock ([`Clock`]) through.
//! May not touch:
//! policy decisions or the managed hosts.

use nodeherd_core::releases::feed::{self, FeedError, Release};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The built-in feed of a client kind: its GitHub releases.
pub fn builtin_feed(client: &str) -> Option<String> {
    let repo = match client {
        "lodestar" => "ChainSafe/lodestar",
        "nimbus" => "status-im/nimbus-eth2",
        "lighthouse" => "sigp/lighthouse",
        "teku" => "Consensys/teku",
        "prysm" => "OffchainLabs/prysm",
        "geth" => "ethereum/go-ethereum",
        "nethermind" => "NethermindEth/nethermind",
        "besu" => "hyperledger/besu",
        "reth" => "paradigmxyz/reth",
        "substrate" => "paritytech/polkadot-sdk",
        "nwaku" => "waku-org/nwaku",
        _ => return None,
    };
    Some(format!(
        "https://api.github.com/repos/{repo}/releases?per_page=30"
    ))
}

/// Where a feed's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Freshness {
    /// Downloaded now.
    Fetched,
    /// The server said our cached copy is current (304).
    NotModified,
    /// The server could not be reached; the cached copy was used.
    OfflineCache,
    /// A local file.
    File,
}

/// Why a release feed could not be had (unreachable without a cache, or not a feed).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot read release feed {source_name}: {message}")]
    Unavailable {
        source_name: String,
        message: String,
    },
    #[error("release feed {source_name}: {error}")]
    Format {
        source_name: String,
        error: FeedError,
    },
}

/// A fetched feed.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub releases: Vec<Release>,
    /// Tags that are not versions (ignored).
    pub skipped_tags: Vec<String>,
    pub freshness: Freshness,
}

/// The feed cache directory.
pub fn default_cache_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("nodeherd")
        .join("feeds")
}

fn cache_paths(dir: &Path, url: &str) -> (PathBuf, PathBuf) {
    let h = Sha256::digest(url.as_bytes());
    let name: String = h.iter().take(12).map(|b| format!("{b:02x}")).collect();
    (
        dir.join(format!("{name}.json")),
        dir.join(format!("{name}.etag")),
    )
}

/// Where the cache keeps its copy of the feed at `url` (the doctor reads its age).
pub fn cache_file(dir: &Path, url: &str) -> PathBuf {
    cache_paths(dir, url).0
}

/// The GET of a feed URL as every reader sends it (the upgrade's [`fetch`], the doctor's check):
/// GitHub's media type, and `GITHUB_TOKEN` as a bearer token for api.github.com only.
pub fn request(client: &reqwest::Client, url: &str) -> reqwest::RequestBuilder {
    let req = client
        .get(url)
        .header("Accept", "application/vnd.github+json");
    match std::env::var("GITHUB_TOKEN") {
        Ok(token) if url.starts_with("https://api.github.com/") => req.bearer_auth(token),
        _ => req,
    }
}

/// Read a feed: `source` is an http(s) URL or a local file path.
pub async fn fetch(
    client: &reqwest::Client,
    source: &str,
    cache_dir: &Path,
) -> Result<Fetched, FetchError> {
    let parse = |text: &str, freshness| {
        feed::parse(text)
            .map(|(releases, skipped_tags)| Fetched {
                releases,
                skipped_tags,
                freshness,
            })
            .map_err(|error| FetchError::Format {
                source_name: source.to_string(),
                error,
            })
    };
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        let path = source.strip_prefix("file://").unwrap_or(source);
        let text = std::fs::read_to_string(path).map_err(|e| FetchError::Unavailable {
            source_name: source.to_string(),
            message: e.to_string(),
        })?;
        return parse(&text, Freshness::File);
    }
    let (body_path, etag_path) = cache_paths(cache_dir, source);
    let cached = std::fs::read_to_string(&body_path).ok();
    let etag = std::fs::read_to_string(&etag_path).ok();
    let mut req = request(client, source);
    if let (Some(_), Some(tag)) = (&cached, &etag) {
        req = req.header("If-None-Match", tag.trim());
    }
    let offline = |message: String| match &cached {
        Some(text) => parse(text, Freshness::OfflineCache),
        None => Err(FetchError::Unavailable {
            source_name: source.to_string(),
            message,
        }),
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return offline(e.to_string()),
    };
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        if let Some(text) = &cached {
            return parse(text, Freshness::NotModified);
        }
    }
    if !status.is_success() {
        return offline(format!("HTTP {status}"));
    }
    let new_etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = match resp.text().await {
        Ok(t) => t,
        Err(e) => return offline(e.to_string()),
    };
    let fetched = parse(&text, Freshness::Fetched)?;
    // The cache is a convenience: failing to write it is not an error of the fetch.
    if std::fs::create_dir_all(cache_dir).is_ok() {
        let _ = std::fs::write(&body_path, &text);
        match new_etag {
            Some(t) => {
                let _ = std::fs::write(&etag_path, t);
            }
            None => {
                let _ = std::fs::remove_file(&etag_path);
            }
        }
    }
    Ok(fetched)
}

/// An HTTP client with the timeouts and User-Agent a feed server expects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("nodeherd/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const FEED: &str = r#"[{"tag_name":"v1.5.1","published_at":"2023-02-01T10:00:00Z","assets":[]},
                          {"tag_name":"v1.4.2","published_at":"2023-01-10T10:00:00Z","assets":[]}]"#;

    /// A tiny feed server on loopback that honours If-None-Match and records requests.
    async fn server(seen: Arc<Mutex<Vec<String>>>) -> (String, tokio::task::JoinHandle<()>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/releases", l.local_addr().unwrap());
        let h = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                seen.lock().unwrap().push(req.clone());
                let resp = if req.contains("if-none-match: \"v1\"") {
                    "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 0\r\n\r\n"
                        .to_string()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nETag: \"v1\"\r\nContent-Length: {}\r\n\r\n{FEED}",
                        FEED.len()
                    )
                };
                let _ = s.write_all(resp.as_bytes()).await;
            }
        });
        (url, h)
    }

    #[tokio::test]
    async fn etag_revalidation_and_offline_cache() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (url, h) = server(seen.clone()).await;
        let c = client();
        let a = fetch(&c, &url, dir.path()).await.unwrap();
        assert_eq!(a.freshness, Freshness::Fetched);
        assert_eq!(a.releases.len(), 2);
        let b = fetch(&c, &url, dir.path()).await.unwrap();
        assert_eq!(b.freshness, Freshness::NotModified);
        assert_eq!(b.releases, a.releases);
        assert!(seen.lock().unwrap()[1].contains("if-none-match"));
        h.abort();
        let _ = h.await;
        let off = fetch(&c, &url, dir.path()).await.unwrap();
        assert_eq!(off.freshness, Freshness::OfflineCache);
        assert_eq!(off.releases.len(), 2);
        let none = fetch(&c, "http://127.0.0.1:1/x", dir.path()).await;
        assert!(matches!(none, Err(FetchError::Unavailable { .. })));
    }

    #[test]
    fn builtin_feeds() {
        assert!(
            builtin_feed("lodestar")
                .unwrap()
                .contains("ChainSafe/lodestar")
        );
        assert_eq!(builtin_feed("generic"), None);
    }
}

/// Where the upgrade engine gets releases and their artifacts: the network and caches (the
/// default, [`Online`]), or a test's canned set.
pub trait ReleaseSource: Send + Sync + std::fmt::Debug {
    /// The releases of a feed (see [`fetch`]).
    fn releases<'a>(
        &'a self,
        source: &'a str,
        cache_dir: &'a Path,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Release>, FetchError>>;
    /// The verified artifact of the asset `pick` chose, in the console's cache (see
    /// [`crate::upgrade::artifact::fetch`]).
    fn artifact<'a>(
        &'a self,
        pick: &'a nodeherd_core::releases::assets::Pick,
        cache_dir: &'a Path,
    ) -> futures::future::BoxFuture<
        'a,
        Result<crate::upgrade::artifact::Artifact, crate::upgrade::artifact::ArtifactError>,
    >;
}

/// The real source: feeds and artifacts over HTTP(S) (or local files) through the caches. The
/// HTTP client is made once, on first use.
#[derive(Debug, Default)]
pub struct Online {
    client: std::sync::OnceLock<reqwest::Client>,
}

impl Online {
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(client)
    }
}

impl ReleaseSource for Online {
    fn releases<'a>(
        &'a self,
        source: &'a str,
        cache_dir: &'a Path,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Release>, FetchError>> {
        Box::pin(async move {
            fetch(self.client(), source, cache_dir)
                .await
                .map(|f| f.releases)
        })
    }
    fn artifact<'a>(
        &'a self,
        pick: &'a nodeherd_core::releases::assets::Pick,
        cache_dir: &'a Path,
    ) -> futures::future::BoxFuture<
        'a,
        Result<crate::upgrade::artifact::Artifact, crate::upgrade::artifact::ArtifactError>,
    > {
        Box::pin(crate::upgrade::artifact::fetch(
            self.client(),
            pick,
            cache_dir,
        ))
    }
}

/// Where the engine reads the wall clock (release ages, maintenance windows). Durations and
/// sleeps use tokio's clock, which tests pause and advance.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}
