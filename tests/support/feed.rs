//! A local release feed for lab suites that install real Lodestar releases (upgrade, provision):
//! tarballs of the lab's real npm installs (cached across runs) under Lodestar's real asset
//! names (`lodestar-v1.5.1-linux-amd64.tar.gz`, so the real asset picker chooses them), with a
//! `lodestar` launcher at the top as the real release's bundle has, GitHub-shaped release JSON,
//! and a tiny HTTP file server on 127.0.0.1 for `/feed/<name>.json` and `/assets/<file>`.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where the artifact tarballs are cached (beside the lab's own cache).
pub const ART_DIR: &str = "/var/lib/nodeherd/lab/artifacts";

pub fn sha256_of(p: &Path) -> String {
    let bytes = std::fs::read(p).expect("read artifact");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Lodestar's CPU token for this machine (the lab's hosts share its CPU): `amd64` or `arm64`.
#[allow(unused_imports)] // each suite includes this file and uses a different part of it
pub use nodeherd_lab::feed::{lab_cpu, lodestar_asset};

/// A CPU token the lab's hosts are not.
pub fn other_cpu() -> &'static str {
    if lab_cpu() == "amd64" {
        "arm64"
    } else {
        "amd64"
    }
}

/// Write the lab's Lodestar launcher as `<dir>/lodestar` (mode 0755).
pub fn write_launcher(dir: &Path) {
    nodeherd_lab::feed::write_launcher(dir).expect("launcher");
}

/// `(version, tarball, sha256)` of the lab's real Lodestar 1.4.2 and 1.5.1 installs, each
/// named as Lodestar names its Linux asset for this machine's CPU: the lab's own release
/// tarballs (`nodeherd_lab::feed::ensure_artifacts`, built once into the artifact cache).
pub fn lodestar_artifacts() -> Vec<(String, PathBuf, String)> {
    let arts = nodeherd_lab::feed::ensure_artifacts(Path::new(nodeherd_lab::DEFAULT_STATE_DIR))
        .expect("lab release tarballs");
    assert_eq!(
        arts.len(),
        2,
        "run `nodeherd lab prepare` first (Lodestar 1.4.2 and 1.5.1)"
    );
    arts.into_iter()
        .map(|a| (a.version, a.file, a.sha256))
        .collect()
}

/// One GitHub-shaped release of `asset` (served under `{base}/assets/`), published `days_ago`.
pub fn release_json(
    base: &str,
    tag: &str,
    days_ago: i64,
    asset: &str,
    digest: &str,
) -> serde_json::Value {
    release_json_assets(base, tag, days_ago, &[(asset, digest)])
}

/// One GitHub-shaped release of several `(name, sha256)` assets, published `days_ago`.
pub fn release_json_assets(
    base: &str,
    tag: &str,
    days_ago: i64,
    assets: &[(&str, &str)],
) -> serde_json::Value {
    let published = chrono::Utc::now() - chrono::Duration::days(days_ago);
    let assets: Vec<serde_json::Value> = assets
        .iter()
        .map(|(name, digest)| {
            serde_json::json!({"name": name, "size": 0, "digest": format!("sha256:{digest}"),
                               "browser_download_url": format!("{base}/assets/{name}")})
        })
        .collect();
    serde_json::json!({
        "tag_name": tag, "name": tag, "draft": false, "prerelease": false,
        "published_at": published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "created_at": published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "body": "test release", "html_url": format!("{base}/r/{tag}"),
        "assets": assets
    })
}

/// A bound listener and its base URL (feeds need the URL before they are written).
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, base)
}

/// Serve `files` (`(name, path)`: any request path ending in `/name`) until the runtime ends.
pub fn spawn_file_server(listener: tokio::net::TcpListener, files: Vec<(String, PathBuf)>) {
    let files = Arc::new(files);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let files = files.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let name = path.rsplit('/').next().unwrap_or("");
                let found = files
                    .iter()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, p)| std::fs::read(p).ok());
                let (status, body) = match found {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let hdr = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(hdr.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
}

/// Write a feed (a JSON array of releases) as `<dir>/feed-<name>.json`, served as `<name>.json`.
pub fn feed_file(dir: &Path, name: &str, releases: &[serde_json::Value]) -> (String, PathBuf) {
    let p = dir.join(format!("feed-{name}.json"));
    std::fs::write(&p, serde_json::to_string(releases).expect("json")).expect("write feed");
    (format!("{name}.json"), p)
}
