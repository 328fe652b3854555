//! A local release feed for lab suites that install real Lodestar releases (upgrade, provision):
//! tarballs of the lab's real npm installs (cached across runs) under Lodestar's real asset
//! names (`lodestar-v1.5.1-linux-amd64.tar.gz`, so the real asset picker chooses them), with a
//! `lodestar` launcher at the top as the real release's bundle has, GitHub-shaped release JSON,
//! and a tiny HTTP file server on 127.0.0.1 for `/feed/<name>.json` and `/assets/<file>`.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
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
pub fn lab_cpu() -> &'static str {
    if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "amd64"
    }
}

/// A CPU token the lab's hosts are not.
pub fn other_cpu() -> &'static str {
    if lab_cpu() == "amd64" {
        "arm64"
    } else {
        "amd64"
    }
}

/// Lodestar's real asset name of version `v` (no `v` prefix) for Linux on `cpu`.
pub fn lodestar_asset(v: &str, cpu: &str) -> String {
    format!("lodestar-v{v}-linux-{cpu}.tar.gz")
}

/// The launcher every lab tarball carries at its top: the program the release layout table
/// names for Lodestar (`current/lodestar`; the real release's caxa bundle sits there). The lab's
/// units run the entry script directly; the launcher runs the same.
pub const LAUNCHER: &str = "#!/bin/sh\n# nodeherd lab: Lodestar's entry point, where a real release has its bundle\nd=$(dirname \"$(readlink -f \"$0\")\")\nexec node \"$d/node_modules/@chainsafe/lodestar/lib/index.js\" \"$@\"\n";

/// Write [`LAUNCHER`] as `<dir>/lodestar` (mode 0755).
pub fn write_launcher(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).expect("launcher dir");
    let p = dir.join("lodestar");
    std::fs::write(&p, LAUNCHER).expect("launcher");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `(version, tarball, sha256)` of the lab's real Lodestar 1.4.2 and 1.5.1 installs, each
/// named as Lodestar names its Linux asset for this machine's CPU.
pub fn lodestar_artifacts() -> Vec<(String, PathBuf, String)> {
    std::fs::create_dir_all(ART_DIR).expect("artifact dir");
    let launcher = PathBuf::from(format!("{ART_DIR}/launcher"));
    write_launcher(&launcher);
    let mut out = Vec::new();
    for v in ["1.4.2", "1.5.1"] {
        let file = PathBuf::from(format!("{ART_DIR}/{}", lodestar_asset(v, lab_cpu())));
        if !file.exists() {
            let tmpf = format!("{}.tmp.{}", file.display(), std::process::id());
            let st = Proc::new("sh")
                .arg("-c")
                .arg(r#"tar -cf - -C "$1" . -C "$4" lodestar | gzip -1 > "$2" && mv "$2" "$3""#)
                .arg("sh")
                .arg(format!("/var/lib/nodeherd/lab/lodestar/{v}"))
                .arg(&tmpf)
                .arg(&file)
                .arg(&launcher)
                .status()
                .expect("tar");
            assert!(st.success(), "building the {v} artifact failed");
        }
        let sha = sha256_of(&file);
        out.push((v.to_string(), file, sha));
    }
    out
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
