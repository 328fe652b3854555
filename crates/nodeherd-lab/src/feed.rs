//! The lab's release feed: real Lodestar release tarballs built once from the cached npm installs
//! (named as Lodestar names its Linux assets, with the `lodestar` launcher at the top where a real
//! release has its bundle), a GitHub-shaped feed JSON with their sha256 digests, and a tiny static
//! file server (`nodeherd-feed.service`, Node.js) that host 1 runs from a read-only bind of the
//! lab's feed directory, so the feed lives exactly as long as host 1.
//!
//! Owns: `state_dir/artifacts` (tarballs and their `.sha256` files, shared with the test suites),
//! `state_dir/{lab}/feed` (feed JSON, server script, hard links to the tarballs), and the text of
//! the feed unit. May not touch: the hosts (the `host` module binds and installs what this
//! module describes) or the Lodestar installs (read only).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{LabConfig, LabError, naming, sys, units};

/// The feed server's port on host 1 (all addresses).
pub const PORT: u16 = 8089;
/// The feed server's unit inside host 1.
pub const UNIT: &str = "nodeherd-feed.service";
/// Where host 1 sees the lab's feed directory (read-only).
pub const DIR_IN_HOST: &str = "/srv/nodeherd-feed";
/// The feed document's file name (served as `/lodestar.json`).
pub const FEED_FILE: &str = "lodestar.json";
/// Publication dates written into the feed (the upstream releases' months; the lab playbook's
/// `delay = "0s"` makes both eligible at once).
const PUBLISHED: [(&str, &str); 2] = [
    ("1.4.2", "2023-01-24T00:00:00Z"),
    ("1.5.1", "2023-02-23T00:00:00Z"),
];

/// One release tarball in the artifact cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub version: String,
    pub file: PathBuf,
    pub sha256: String,
}

/// Lodestar's CPU token for this machine (the lab's hosts share its CPU): `amd64` or `arm64`.
pub fn lab_cpu() -> &'static str {
    if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "amd64"
    }
}

/// Lodestar's real asset name of version `v` (no `v` prefix) for Linux on `cpu`.
pub fn lodestar_asset(v: &str, cpu: &str) -> String {
    format!("lodestar-v{v}-linux-{cpu}.tar.gz")
}

/// The launcher every lab tarball carries at its top: the program the release layout table names
/// for Lodestar (`current/lodestar`; the real release's caxa bundle sits there). The lab's units
/// run the entry script directly; the launcher runs the same.
pub const LAUNCHER: &str = "#!/bin/sh\n# nodeherd lab: Lodestar's entry point, where a real release has its bundle\nd=$(dirname \"$(readlink -f \"$0\")\")\nexec node \"$d/node_modules/@chainsafe/lodestar/lib/index.js\" \"$@\"\n";

/// Write [`LAUNCHER`] as `<dir>/lodestar` (mode 0755).
pub fn write_launcher(dir: &Path) -> Result<(), LabError> {
    sys::mkdir_p(dir)?;
    let p = dir.join("lodestar");
    sys::write_file(&p, LAUNCHER)?;
    crate::base::set_mode(&p, 0o755)
}

/// The artifact cache.
pub fn artifacts_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("artifacts")
}

/// The lab's feed directory (bound into host 1).
pub fn feed_dir(cfg: &LabConfig) -> PathBuf {
    naming::lab_dir(cfg).join("feed")
}

/// The feed's URL as the console reaches it (host 1's address).
pub fn feed_url(subnet: u8) -> String {
    format!("{}/{FEED_FILE}", base_url(subnet))
}

fn base_url(subnet: u8) -> String {
    format!("http://{}:{PORT}", naming::host_address(subnet, 1))
}

fn sha256_file(p: &Path) -> Result<String, LabError> {
    use std::io::Read as _;
    let mut f = std::fs::File::open(p).map_err(|e| LabError::io("reading", p, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| LabError::io("reading", p, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// The tarballs of every cached Lodestar version, built once (tar of the install plus the
/// launcher, gzip -1, written under a temporary name and renamed) with their sha256 (kept beside
/// each tarball, recomputed when missing).
pub fn ensure_artifacts(state_dir: &Path) -> Result<Vec<Artifact>, LabError> {
    let dir = artifacts_dir(state_dir);
    let launcher = dir.join("launcher");
    write_launcher(&launcher)?;
    let mut out = Vec::new();
    for v in units::LODESTAR_VERSIONS {
        let dist = naming::lodestar_dist(state_dir, v);
        if !crate::lodestar::is_ready(&dist) {
            continue;
        }
        let file = dir.join(lodestar_asset(v, lab_cpu()));
        let sums = dir.join(format!("{}.sha256", lodestar_asset(v, lab_cpu())));
        if !file.exists() {
            let t = std::time::Instant::now();
            eprintln!("nodeherd lab: packing Lodestar {v} as a release tarball (once)");
            let tmp = dir.join(format!(
                ".{}.tmp.{}",
                lodestar_asset(v, lab_cpu()),
                std::process::id()
            ));
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c")
                .arg(r#"tar -cf - -C "$1" . -C "$4" lodestar | gzip -1 > "$2" && mv "$2" "$3""#)
                .arg("sh")
                .arg(&dist)
                .arg(&tmp)
                .arg(&file)
                .arg(&launcher);
            if let Err(e) = sys::run_cmd(&mut cmd) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            let _ = std::fs::remove_file(&sums);
            eprintln!("nodeherd lab: Lodestar {v} packed in {:.0?}", t.elapsed());
        }
        let sha256 = match std::fs::read_to_string(&sums) {
            Ok(s) if s.trim().len() == 64 => s.trim().to_string(),
            _ => {
                let s = sha256_file(&file)?;
                sys::write_atomic(&sums, format!("{s}\n"))?;
                s
            }
        };
        out.push(Artifact {
            version: v.to_string(),
            file,
            sha256,
        });
    }
    Ok(out)
}

/// The feed document (a JSON array of GitHub-shaped releases, newest first), pure.
pub fn feed_json(subnet: u8, artifacts: &[Artifact]) -> String {
    let base = base_url(subnet);
    let mut releases: Vec<serde_json::Value> = artifacts
        .iter()
        .map(|a| {
            let name = lodestar_asset(&a.version, lab_cpu());
            let published = PUBLISHED
                .iter()
                .find(|(v, _)| *v == a.version)
                .map_or("2023-01-01T00:00:00Z", |(_, d)| d);
            serde_json::json!({
                "tag_name": format!("v{}", a.version), "name": format!("v{}", a.version),
                "draft": false, "prerelease": false,
                "published_at": published, "created_at": published,
                "body": "Lodestar from the npm registry, packed by `nodeherd lab`",
                "html_url": format!("{base}/"),
                "assets": [{"name": name, "size": 0, "digest": format!("sha256:{}", a.sha256),
                            "browser_download_url": format!("{base}/assets/{name}")}]
            })
        })
        .collect();
    releases.reverse();
    serde_json::Value::Array(releases).to_string()
}

/// The static file server host 1 runs: GET/HEAD of files below its directory, nothing else.
pub const SERVER_JS: &str = r"// nodeherd lab: the release feed's static file server (GET/HEAD, read-only directory)
const http = require('http'), fs = require('fs'), path = require('path');
const port = Number(process.argv[2]), root = path.resolve(process.argv[3]);
http.createServer((req, res) => {
  const rel = decodeURIComponent((req.url || '/').split('?')[0]);
  const file = path.resolve(root, '.' + rel);
  if ((req.method !== 'GET' && req.method !== 'HEAD') || !file.startsWith(root + path.sep)) {
    res.writeHead(404); res.end('not found\n'); return;
  }
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) { res.writeHead(404); res.end('not found\n'); return; }
    const type = file.endsWith('.json') ? 'application/json' : 'application/octet-stream';
    res.writeHead(200, { 'Content-Length': st.size, 'Content-Type': type });
    if (req.method === 'HEAD') { res.end(); return; }
    fs.createReadStream(file).pipe(res);
  });
}).listen(port, '0.0.0.0', () => console.log(`serving ${root} on port ${port}`));
";

/// The feed server's unit text.
pub fn unit() -> String {
    format!(
        "[Unit]
Description=nodeherd lab release feed (Lodestar tarballs, port {PORT})
After=network.target

[Service]
ExecStart={node} {DIR_IN_HOST}/serve.js {PORT} {DIR_IN_HOST}
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
",
        node = units::NODE_IN_HOST
    )
}

/// Writes the lab's feed directory (feed JSON, server script, tarballs hard-linked from the
/// cache, copied when a link is impossible). Host 1 serves whatever is there.
pub fn write_feed_dir(cfg: &LabConfig, artifacts: &[Artifact]) -> Result<PathBuf, LabError> {
    let dir = feed_dir(cfg);
    let assets = dir.join("assets");
    sys::mkdir_p(&assets)?;
    for a in artifacts {
        let name = lodestar_asset(&a.version, lab_cpu());
        let dst = assets.join(&name);
        let tmp = assets.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        if std::fs::hard_link(&a.file, &tmp).is_err() {
            std::fs::copy(&a.file, &tmp).map_err(|e| LabError::io("copying", &a.file, e))?;
        }
        std::fs::rename(&tmp, &dst).map_err(|e| LabError::io("renaming", &tmp, e))?;
    }
    sys::write_atomic(&dir.join("serve.js"), SERVER_JS)?;
    sys::write_atomic(&dir.join(FEED_FILE), feed_json(cfg.subnet, artifacts))?;
    Ok(dir)
}

/// For `up`: when the lab serves a feed (`cfg.feed`, Lodestar on host 1), the tarballs (cached)
/// and the feed directory host 1 serves; returns the feed URL for the inventory.
pub fn prepare_for_up(cfg: &LabConfig) -> Result<Option<String>, LabError> {
    if !serves_feed(cfg) {
        return Ok(None);
    }
    let artifacts = ensure_artifacts(&cfg.state_dir)?;
    if artifacts.is_empty() {
        return Ok(None);
    }
    write_feed_dir(cfg, &artifacts)?;
    Ok(Some(feed_url(cfg.subnet)))
}

/// Whether host 1 of this lab serves the feed.
pub fn serves_feed(cfg: &LabConfig) -> bool {
    cfg.feed && cfg.lodestar && cfg.lodestar_hosts >= 1 && cfg.hosts >= 1
}

/// For `down`: removes the lab's feed directory (the server went with host 1; the tarball cache
/// stays).
pub fn remove(cfg: &LabConfig) -> Result<(), LabError> {
    let dir = feed_dir(cfg);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| LabError::io("removing", &dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arts() -> Vec<Artifact> {
        ["1.4.2", "1.5.1"]
            .iter()
            .map(|v| Artifact {
                version: (*v).to_string(),
                file: PathBuf::from(format!("/x/{v}.tar.gz")),
                sha256: format!("{:0>64}", v.replace('.', "")),
            })
            .collect()
    }

    #[test]
    fn feed_parses_as_a_release_feed_with_digests_and_urls() {
        let text = feed_json(230, &arts());
        let (rels, skipped) = match nodeherd_core::releases::feed::parse(&text) {
            Ok(r) => r,
            Err(e) => panic!("{e}: {text}"),
        };
        assert!(skipped.is_empty());
        let versions: Vec<String> = rels.iter().map(|r| r.version.to_string()).collect();
        assert_eq!(versions, ["1.5.1", "1.4.2"]);
        let a = &rels[1].feed.assets[0];
        assert_eq!(a.name, lodestar_asset("1.4.2", lab_cpu()));
        assert_eq!(
            a.sha256().as_deref(),
            Some(format!("{:0>64}", "142").as_str())
        );
        assert_eq!(
            a.browser_download_url,
            format!(
                "http://10.230.0.11:8089/assets/{}",
                lodestar_asset("1.4.2", lab_cpu())
            )
        );
        assert_eq!(feed_url(230), "http://10.230.0.11:8089/lodestar.json");
    }

    #[test]
    fn unit_runs_the_server_from_the_bound_directory() {
        let u = unit();
        assert!(u.contains(
            "ExecStart=/usr/local/bin/node /srv/nodeherd-feed/serve.js 8089 /srv/nodeherd-feed"
        ));
        assert!(u.contains("WantedBy=multi-user.target"));
    }
}
