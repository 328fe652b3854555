//! Release artifacts on the console: learn the SHA-256 of the asset a pick names (the feed's
//! asset `digest`, the release's sums file or the asset's `.sha256` file, as the pick says),
//! download once into `~/.cache/nodeherd/artifacts/<sha256>`, verify, and say how the host must
//! stage it.
//!
//! Owns: the artifact cache and the console-side verification. May not touch: the managed
//! hosts (uploading is the engine's job) or the choice of the asset (`core::releases::assets`).

use nodeherd_core::facts::layout::{self, StageError, StageSpec};
use nodeherd_core::releases::assets::{ArchiveKind, Checksum, Pick, parse_sha256_file};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error(
        "missing checksum: {file} lists no SHA-256 for {asset}; refusing an unverified artifact"
    )]
    NoChecksumEntry { file: String, asset: String },
    #[error("cannot download {url}: {message}")]
    Download { url: String, message: String },
    #[error(
        "digest mismatch for {asset}: {source_name} says sha256:{expected}, the download is sha256:{actual}; nothing was changed on any host"
    )]
    Mismatch {
        asset: String,
        source_name: String,
        expected: String,
        actual: String,
    },
    #[error("artifact cache {path}: {message}")]
    Cache { path: String, message: String },
}

/// A verified artifact in the local cache, with what the host needs to stage it.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: String,
    pub sha256: String,
    pub path: PathBuf,
    pub size: u64,
    pub kind: ArchiveKind,
    /// The program `current/` must expose (relative to the unpacked tree), when the table names
    /// one.
    pub binary: Option<String>,
}

impl Artifact {
    /// The host command that verifies and unpacks it into `releases/<version>/`.
    pub fn stage_command(
        &self,
        install_dir: &str,
        version: &str,
    ) -> Result<nodeherd_core::remote::Command, StageError> {
        layout::stage_command(
            install_dir,
            &StageSpec {
                sha256: &self.sha256,
                version,
                kind: self.kind,
                binary: self.binary.as_deref(),
            },
        )
    }
}

pub fn default_cache_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("nodeherd")
        .join("artifacts")
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

/// The SHA-256 the pick's checksum source gives for its asset (a sums or `.sha256` file is
/// downloaded and read), and the source's name for messages.
async fn expected_sha256(
    client: &reqwest::Client,
    pick: &Pick,
) -> Result<(String, String), ArtifactError> {
    let (file, url) = match &pick.checksum {
        Checksum::ForgeDigest { sha256 } => {
            return Ok((sha256.clone(), "the feed's asset digest".into()));
        }
        Checksum::Sidecar { asset, url } | Checksum::SumsFile { asset, url } => (asset, url),
    };
    let text = download(client, url).await?;
    let sha = parse_sha256_file(&String::from_utf8_lossy(&text), &pick.asset).ok_or_else(|| {
        ArtifactError::NoChecksumEntry {
            file: file.clone(),
            asset: pick.asset.clone(),
        }
    })?;
    Ok((sha, file.clone()))
}

/// Download (unless cached) and verify the asset `pick` names, against its checksum source.
pub async fn fetch(
    client: &reqwest::Client,
    pick: &Pick,
    cache: &Path,
) -> Result<Artifact, ArtifactError> {
    let (expected, source_name) = expected_sha256(client, pick).await?;
    let made = |path: PathBuf, size: u64| Artifact {
        name: pick.asset.clone(),
        sha256: expected.clone(),
        path,
        size,
        kind: pick.kind,
        binary: pick.binary_path.clone(),
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
                return Ok(made(path, size));
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    // unique per download: two nodes of one run may fetch the same artifact at once
    let tmp = cache.join(format!(
        "{expected}.tmp{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let (actual, size) = match download_to(client, &pick.url, &tmp).await {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if actual != expected {
        let _ = std::fs::remove_file(&tmp);
        return Err(ArtifactError::Mismatch {
            asset: pick.asset.clone(),
            source_name,
            expected,
            actual,
        });
    }
    std::fs::rename(&tmp, &path).map_err(|e| cache_err(e.to_string()))?;
    Ok(made(path, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodeherd_core::facts::platform::{Arch, Libc, Os, Platform};
    use nodeherd_core::inventory::ClientKind;
    use nodeherd_core::releases::assets::{Component, pick_for};
    use nodeherd_core::releases::feed::Release;

    fn x86() -> Platform {
        Platform::new(Os::Linux, Arch::X86_64, Libc::Unknown)
    }

    fn release(json: &str) -> Release {
        nodeherd_core::releases::feed::parse(json)
            .unwrap()
            .0
            .remove(0)
    }

    fn pick_of(client: ClientKind, r: &Release) -> Pick {
        pick_for(
            client,
            Component::Node,
            &r.feed.tag_name,
            &r.feed.assets,
            &x86(),
        )
        .unwrap()
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
        let cache = dir.path().join("cache");
        let p = pick_of(ClientKind::Generic, &release(&json));
        let e = fetch(&reqwest::Client::new(), &p, &cache)
            .await
            .unwrap_err();
        assert!(matches!(e, ArtifactError::Mismatch { .. }), "{e}");
        assert!(
            e.to_string().contains("the feed's asset digest says"),
            "{e}"
        );
        assert!(!cache.join(&wrong).exists());
        // nothing half-written is left in the cache either
        let left: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
        let good = hex(&Sha256::digest(b"hello"));
        let p = pick_of(ClientKind::Generic, &release(&json.replace(&wrong, &good)));
        let a = fetch(&reqwest::Client::new(), &p, &cache).await.unwrap();
        assert_eq!(a.sha256, good);
        assert!(a.path.exists());
        assert_eq!(a.size, 5);
        assert_eq!(a.kind, ArchiveKind::TarGz);
        assert_eq!(a.binary, None);
        assert_eq!(std::fs::read(&a.path).unwrap(), b"hello");
    }

    /// Two nodes of one run fetching the same artifact at once both get it (no shared temp file).
    #[tokio::test]
    async fn concurrent_fetches_of_one_artifact_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.tar.gz");
        std::fs::write(&file, vec![7u8; 1 << 20]).unwrap();
        let good = hex(&Sha256::digest(vec![7u8; 1 << 20]));
        let json = format!(
            r#"[{{"tag_name":"v1.0.0","published_at":"2020-01-01T00:00:00Z","assets":[{{"name":"x.tar.gz","digest":"sha256:{good}","browser_download_url":"{}"}}]}}]"#,
            file.display()
        );
        let p = pick_of(ClientKind::Generic, &release(&json));
        let cache = dir.path().join("cache");
        let c = reqwest::Client::new();
        let (a, b) = tokio::join!(fetch(&c, &p, &cache), fetch(&c, &p, &cache));
        assert_eq!(a.unwrap().sha256, good);
        assert_eq!(b.unwrap().sha256, good);
    }

    /// Teku publishes `<asset>.sha256`; without a forge digest the sidecar is read and checked.
    #[tokio::test]
    async fn a_sidecar_checksum_is_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("teku-24.1.0.tar.gz"), b"teku bytes").unwrap();
        let good = hex(&Sha256::digest(b"teku bytes"));
        let json = |side: &str| {
            std::fs::write(d.join("teku-24.1.0.tar.gz.sha256"), side).unwrap();
            format!(
                r#"[{{"tag_name":"24.1.0","published_at":"2020-01-01T00:00:00Z","assets":[
                {{"name":"teku-24.1.0.tar.gz","browser_download_url":"{0}/teku-24.1.0.tar.gz"}},
                {{"name":"teku-24.1.0.tar.gz.sha256","browser_download_url":"{0}/teku-24.1.0.tar.gz.sha256"}}]}}]"#,
                d.display()
            )
        };
        let r = release(&json(&format!("{good}  teku-24.1.0.tar.gz\n")));
        let p = pick_of(ClientKind::Teku, &r);
        let a = fetch(&reqwest::Client::new(), &p, &d.join("c"))
            .await
            .unwrap();
        assert_eq!(a.sha256, good);
        assert_eq!(a.binary.as_deref(), Some("teku-24.1.0/bin/teku"));
        // a sidecar naming another file: missing checksum, nothing downloaded
        let r = release(&json(&format!("{good}  teku-9.9.9.tar.gz\n")));
        let p = pick_of(ClientKind::Teku, &r);
        let e = fetch(&reqwest::Client::new(), &p, &d.join("c2"))
            .await
            .unwrap_err();
        assert!(matches!(e, ArtifactError::NoChecksumEntry { .. }), "{e}");
        assert!(e.to_string().starts_with("missing checksum"), "{e}");
        assert!(!d.join("c2").exists());
        // a sidecar with another digest: mismatch naming the sidecar
        let r = release(&json(&format!("{}  teku-24.1.0.tar.gz\n", "1".repeat(64))));
        let p = pick_of(ClientKind::Teku, &r);
        let e = fetch(&reqwest::Client::new(), &p, &d.join("c3"))
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("teku-24.1.0.tar.gz.sha256 says"),
            "{e}"
        );
    }

    /// A `SHA256SUMS` asset (generic rule) is searched for the asset's name.
    #[tokio::test]
    async fn a_sums_file_is_searched_for_the_asset() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("demo-2.0.0-linux-amd64.tar.gz"), b"demo").unwrap();
        let good = hex(&Sha256::digest(b"demo"));
        std::fs::write(
            d.join("SHA256SUMS"),
            format!(
                "{}  demo-2.0.0-linux-arm64.tar.gz\n{good} *demo-2.0.0-linux-amd64.tar.gz\n",
                "2".repeat(64)
            ),
        )
        .unwrap();
        let json = format!(
            r#"[{{"tag_name":"v2.0.0","published_at":"2020-01-01T00:00:00Z","assets":[
            {{"name":"demo-2.0.0-linux-amd64.tar.gz","browser_download_url":"{0}/demo-2.0.0-linux-amd64.tar.gz"}},
            {{"name":"SHA256SUMS","browser_download_url":"{0}/SHA256SUMS"}}]}}]"#,
            d.display()
        );
        let p = pick_of(ClientKind::Generic, &release(&json));
        let a = fetch(&reqwest::Client::new(), &p, &d.join("c"))
            .await
            .unwrap();
        assert_eq!(a.sha256, good);
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
        let p = pick_of(ClientKind::Generic, &release(&json));
        let dir = tempfile::tempdir().unwrap();
        let a = fetch(&reqwest::Client::new(), &p, dir.path())
            .await
            .unwrap();
        assert_eq!(a.size, body.len() as u64);
        assert_eq!(sha256_file(&a.path).unwrap(), digest);
    }
}
