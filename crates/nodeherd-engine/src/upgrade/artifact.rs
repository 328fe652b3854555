//! Release artifacts on the console: pick the asset, learn its SHA-256 (asset `digest`, or a
//! `SHA256SUMS` asset), download once into `~/.cache/nodeherd/artifacts/<sha256>`, verify.
//!
//! Owns: the artifact cache. May not touch: the managed hosts (uploading is the engine's job).

use nodeherd_core::releases::feed::{Asset, Release};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("release {0} has no .tar.gz asset")]
    NoAsset(String),
    #[error(
        "release {version}: no SHA-256 for {asset} (no asset digest and no SHA256SUMS entry); refusing an unverified artifact"
    )]
    NoDigest { version: String, asset: String },
    #[error("cannot download {url}: {message}")]
    Download { url: String, message: String },
    #[error(
        "digest mismatch for {asset}: the feed says sha256:{expected}, the download is sha256:{actual}; nothing was changed on any host"
    )]
    Mismatch {
        asset: String,
        expected: String,
        actual: String,
    },
    #[error("artifact cache {path}: {message}")]
    Cache { path: String, message: String },
}

/// A verified artifact in the local cache.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: String,
    pub sha256: String,
    pub path: PathBuf,
    pub size: u64,
}

pub fn default_cache_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("nodeherd")
        .join("artifacts")
}

/// The tarball of a release (the first `.tar.gz`/`.tgz` asset).
pub fn pick_asset(r: &Release) -> Option<&Asset> {
    r.feed
        .assets
        .iter()
        .find(|a| a.name.ends_with(".tar.gz") || a.name.ends_with(".tgz"))
}

/// Find `name` in a `SHA256SUMS` text (`<hex>  <name>` or `<hex> *<name>`).
pub fn sum_for(sums: &str, name: &str) -> Option<String> {
    sums.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        let hex = it.next()?;
        let file = it.next()?.trim_start_matches('*');
        (file == name && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| hex.to_ascii_lowercase())
    })
}

pub fn sha256_file(p: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn download(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, ArtifactError> {
    let err = |m: String| ArtifactError::Download {
        url: url.to_string(),
        message: m,
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        let p = url.strip_prefix("file://").unwrap_or(url);
        return std::fs::read(p).map_err(|e| err(e.to_string()));
    }
    let resp = get(client, url).await?;
    Ok(resp.bytes().await.map_err(|e| err(e.to_string()))?.to_vec())
}

/// GET `url`; a non-2xx status is an error naming it.
async fn get(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, ArtifactError> {
    let err = |m: String| ArtifactError::Download {
        url: url.to_string(),
        message: m,
    };
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {}", resp.status())));
    }
    Ok(resp)
}

/// Stream `url` into `to`, hashing as it goes (an artifact is never held in memory whole);
/// returns its sha256 (hex) and size. `to` is left for the caller to rename or remove.
async fn download_to(
    client: &reqwest::Client,
    url: &str,
    to: &Path,
) -> Result<(String, u64), ArtifactError> {
    use tokio::io::AsyncWriteExt;
    let err = |m: String| ArtifactError::Download {
        url: url.to_string(),
        message: m,
    };
    let cache_err = |m: String| ArtifactError::Cache {
        path: to.display().to_string(),
        message: m,
    };
    let mut out = tokio::fs::File::create(to)
        .await
        .map_err(|e| cache_err(e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    if url.starts_with("http://") || url.starts_with("https://") {
        let mut resp = get(client, url).await?;
        while let Some(chunk) = resp.chunk().await.map_err(|e| err(e.to_string()))? {
            hasher.update(&chunk);
            out.write_all(&chunk)
                .await
                .map_err(|e| cache_err(e.to_string()))?;
            size += chunk.len() as u64;
        }
    } else {
        use tokio::io::AsyncReadExt;
        let p = url.strip_prefix("file://").unwrap_or(url);
        let mut f = tokio::fs::File::open(p)
            .await
            .map_err(|e| err(e.to_string()))?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf).await.map_err(|e| err(e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .await
                .map_err(|e| cache_err(e.to_string()))?;
            size += n as u64;
        }
    }
    out.sync_all().await.map_err(|e| cache_err(e.to_string()))?;
    Ok((hex(&hasher.finalize()), size))
}

/// Resolve, download (unless cached) and verify the artifact of `r`.
pub async fn fetch(
    client: &reqwest::Client,
    r: &Release,
    cache: &Path,
) -> Result<Artifact, ArtifactError> {
    let version = r.version.to_string();
    let asset = pick_asset(r).ok_or_else(|| ArtifactError::NoAsset(version.clone()))?;
    let expected = match asset.sha256() {
        Some(d) => d,
        None => {
            let sums = r
                .feed
                .assets
                .iter()
                .find(|a| a.name == "SHA256SUMS" || a.name.ends_with(".sha256sums"))
                .ok_or_else(|| ArtifactError::NoDigest {
                    version: version.clone(),
                    asset: asset.name.clone(),
                })?;
            let text = download(client, &sums.browser_download_url).await?;
            sum_for(&String::from_utf8_lossy(&text), &asset.name).ok_or_else(|| {
                ArtifactError::NoDigest {
                    version: version.clone(),
                    asset: asset.name.clone(),
                }
            })?
        }
    };
    let cache_err = |m: String| ArtifactError::Cache {
        path: cache.display().to_string(),
        message: m,
    };
    std::fs::create_dir_all(cache).map_err(|e| cache_err(e.to_string()))?;
    let path = cache.join(&expected);
    if path.exists() {
        if let Ok(actual) = sha256_file(&path) {
            if actual == expected {
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                return Ok(Artifact {
                    name: asset.name.clone(),
                    sha256: expected,
                    path,
                    size,
                });
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    let tmp = cache.join(format!("{expected}.tmp{}", std::process::id()));
    let (actual, size) = match download_to(client, &asset.browser_download_url, &tmp).await {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if actual != expected {
        let _ = std::fs::remove_file(&tmp);
        return Err(ArtifactError::Mismatch {
            asset: asset.name.clone(),
            expected,
            actual,
        });
    }
    std::fs::rename(&tmp, &path).map_err(|e| cache_err(e.to_string()))?;
    Ok(Artifact {
        name: asset.name.clone(),
        sha256: expected,
        path,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lookup() {
        let s = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.tar.gz\nE3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 *b.tar.gz\n";
        assert!(sum_for(s, "a.tar.gz").unwrap().starts_with("e3b0"));
        assert!(sum_for(s, "b.tar.gz").unwrap().starts_with("e3b0"));
        assert_eq!(sum_for(s, "c.tar.gz"), None);
    }

    #[tokio::test]
    async fn mismatch_is_refused_and_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.tar.gz");
        std::fs::write(&file, b"hello").unwrap();
        let wrong = "0".repeat(64);
        let json = format!(
            r#"[{{"tag_name":"v1.0.0","published_at":"2020-01-01T00:00:00Z","assets":[{{"name":"x.tar.gz","digest":"sha256:{wrong}","browser_download_url":"{}"}}]}}]"#,
            file.display()
        );
        let (rels, _) = nodeherd_core::releases::feed::parse(&json).unwrap();
        let cache = dir.path().join("cache");
        let e = fetch(&reqwest::Client::new(), &rels[0], &cache)
            .await
            .unwrap_err();
        assert!(matches!(e, ArtifactError::Mismatch { .. }), "{e}");
        assert!(!cache.join(&wrong).exists());
        // nothing half-written is left in the cache either
        let left: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
        let good = hex(&Sha256::digest(b"hello"));
        let json = json.replace(&wrong, &good);
        let (rels, _) = nodeherd_core::releases::feed::parse(&json).unwrap();
        let a = fetch(&reqwest::Client::new(), &rels[0], &cache)
            .await
            .unwrap();
        assert_eq!(a.sha256, good);
        assert!(a.path.exists());
        assert_eq!(a.size, 5);
        assert_eq!(std::fs::read(&a.path).unwrap(), b"hello");
    }

    /// A download larger than any one read, over HTTP, streamed to the cache and verified.
    #[tokio::test]
    async fn http_download_streams_and_verifies() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let body: Vec<u8> = (0..3_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let digest = hex(&Sha256::digest(&body));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = body.clone();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                served.len()
            );
            sock.write_all(head.as_bytes()).await.unwrap();
            sock.write_all(&served).await.unwrap();
        });
        let json = format!(
            r#"[{{"tag_name":"v1.0.0","published_at":"2020-01-01T00:00:00Z","assets":[{{"name":"x.tar.gz","digest":"sha256:{digest}","browser_download_url":"http://{addr}/x.tar.gz"}}]}}]"#
        );
        let (rels, _) = nodeherd_core::releases::feed::parse(&json).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let a = fetch(&reqwest::Client::new(), &rels[0], dir.path())
            .await
            .unwrap();
        assert_eq!(a.size, body.len() as u64);
        assert_eq!(sha256_file(&a.path).unwrap(), digest);
    }
}
