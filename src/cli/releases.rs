//! `nodeherd releases [SELECTOR]`: per node the running version, the newest allowed release, when
//! the next becomes eligible and why, and the asset it would install (file name, platform and
//! rule, checksum and signature sources). Also the asset lines the upgrade plan prints.
//!
//! Owns: printing those (table, asset lines, `--json`). May not touch: SSH or the hosts directly
//! (the engine plans, probes platforms and picks).

use super::context::{self, Fail};
use super::targets::{Common, print_json, targets};
use super::{exit, table};
use nodeherd_engine::upgrade::engine::{self, AssetChoice, NodePlan, Options};
use serde::Serialize;

/// One node in `releases --json`: its plan line and the asset it would install.
#[derive(Debug, Serialize)]
pub struct ReleaseRow<'a> {
    #[serde(flatten)]
    pub plan: &'a NodePlan,
    pub asset: &'a AssetChoice,
}

/// Pair plans with their asset choices (same order).
pub fn rows<'a>(plans: &'a [NodePlan], assets: &'a [AssetChoice]) -> Vec<ReleaseRow<'a>> {
    plans
        .iter()
        .zip(assets)
        .map(|(plan, asset)| ReleaseRow { plan, asset })
        .collect()
}

/// The asset lines under the table: what each node would install and how it is verified, or
/// why nothing would be.
pub fn asset_lines(assets: &[AssetChoice]) -> String {
    let mut out = String::new();
    for a in assets {
        let v = a.version.as_deref().unwrap_or("-");
        match (&a.asset, &a.refused) {
            (Some(asset), _) => {
                out.push_str(&format!("{} {v}: {asset}", a.node));
                if let Some(p) = &a.platform {
                    out.push_str(&format!(" for {p}"));
                }
                if let Some(k) = &a.kind {
                    out.push_str(&format!("; {k}"));
                }
                if let Some(e) = &a.exposes {
                    out.push_str(&format!(" -> {e}"));
                }
                out.push('\n');
                if let Some(w) = &a.why {
                    out.push_str(&format!("  why: {w}\n"));
                }
                if let Some(c) = &a.checksum {
                    out.push_str(&format!("  checksum: {c}\n"));
                }
                if let Some(s) = &a.signature {
                    out.push_str(&format!("  signature: {s}\n"));
                }
            }
            (None, Some(why)) => out.push_str(&format!("{} {v}: no asset: {why}\n", a.node)),
            (None, None) => out.push_str(&format!("{} {v}: no asset\n", a.node)),
        }
    }
    out
}

/// The nodes whose planned upgrade has no usable asset (an `upgrade` run refuses them all before
/// asking, exit 2).
pub fn unusable<'a>(plans: &[NodePlan], assets: &'a [AssetChoice]) -> Vec<&'a AssetChoice> {
    plans
        .iter()
        .zip(assets)
        .filter(|(p, a)| p.step.to.is_some() && a.refused.is_some())
        .map(|(_, a)| a)
        .collect()
}

fn table_of(plans: &[NodePlan], assets: &[AssetChoice]) -> String {
    let rows: Vec<Vec<String>> = plans
        .iter()
        .zip(assets)
        .map(|(p, a)| {
            let why = if p.why.is_empty() {
                p.step.reason.clone()
            } else {
                p.why.join("; ")
            };
            vec![
                p.step.node.clone(),
                p.running.clone().unwrap_or("?".into()),
                p.allowed.clone().unwrap_or("-".into()),
                p.next
                    .as_ref()
                    .map_or("-".into(), |(v, at)| format!("{v} at {at}")),
                a.asset.clone().unwrap_or_else(|| "-".into()),
                why,
            ]
        })
        .collect();
    table::render(
        &[
            "NODE",
            "RUNNING",
            "ALLOWED",
            "NEXT ELIGIBLE",
            "ASSET",
            "WHY",
        ],
        &rows,
    )
}

/// `nodeherd releases [SELECTOR]`.
pub async fn releases(c: Common<'_>) -> Result<i32, Fail> {
    let (inv, nodes, ts) = targets(&c)?;
    let pool = context::pool();
    let opts = Options::default();
    let plans = engine::plan_all(&pool, &ts, None, &opts).await;
    let assets = engine::choose_assets(&pool, &ts, &plans, &opts).await;
    let chain = if c.out.json {
        String::new()
    } else {
        super::cosmos::plan_lines(&pool, &inv, &nodes, 10).await
    };
    pool.close_all().await;
    if c.out.json {
        print_json(&rows(&plans, &assets));
    } else {
        print!("{}", table_of(&plans, &assets));
        print!("{}", asset_lines(&assets));
        print!("{chain}");
    }
    // A node whose releases could not be read (feed down, host unreachable) was not answered.
    let mut failed = false;
    for p in &plans {
        if let Some(why) = &p.problem {
            eprintln!("error: {}: {why}", p.step.node);
            failed = true;
        }
    }
    Ok(if failed { exit::FAILED } else { exit::OK })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodeherd_core::facts::platform::Platform;
    use nodeherd_core::inventory::{Inventory, NodeRef};
    use nodeherd_core::playbook::Playbook;
    use nodeherd_core::releases::feed::{self, Release};
    use nodeherd_engine::upgrade::engine::Target;
    use nodeherd_engine::upgrade::platform::{Resolved, Source};
    use std::path::PathBuf;

    const INV: &str = r#"
[hosts.bn-1]
address = "192.0.2.1"
[hosts.bn-1.nodes.lodestar-bn]
client = "lodestar"
role = "beacon"
unit = "lodestar-bn"
install_dir = "/opt/nodeherd/lodestar-bn"
rest_port = 9596
[hosts.bn-2]
address = "192.0.2.2"
platform = "linux/aarch64"
[hosts.bn-2.nodes.lighthouse-bn]
client = "lighthouse"
role = "beacon"
unit = "lighthouse-bn"
install_dir = "/opt/nodeherd/lighthouse-bn"
rest_port = 5052
[hosts.bn-2.nodes.teku-bn]
client = "teku"
role = "beacon"
unit = "teku-bn"
install_dir = "/opt/nodeherd/teku-bn"
rest_port = 5051
"#;

    /// GitHub-shaped releases with the clients' real asset names (digests are synthetic: the
    /// recorded fixtures carry none).
    fn release(tag: &str, assets: &[(&str, bool)]) -> Release {
        let assets: Vec<serde_json::Value> = assets
            .iter()
            .map(|(n, d)| {
                serde_json::json!({"name": n, "browser_download_url": format!("https://example.invalid/{n}"),
                                   "digest": d.then(|| format!("sha256:{}", "ab".repeat(32)))})
            })
            .collect();
        let json = serde_json::json!([{ "tag_name": tag, "published_at": "2026-01-01T00:00:00Z", "assets": assets }]);
        feed::parse(&json.to_string()).unwrap().0.remove(0)
    }

    fn choices() -> (Vec<NodePlan>, Vec<AssetChoice>) {
        let inv = Inventory::from_sources(vec![(PathBuf::from("/t/i.toml"), INV.into())]).unwrap();
        let pb = Playbook::default();
        let t = |h, n| Target::new(&inv, NodeRef { host: h, node: n }, &pb);
        let x86 = Resolved {
            platform: Platform::parse_declared("linux/x86_64/glibc").unwrap(),
            source: Source::Detected,
        };
        let arm = Resolved {
            platform: Platform::parse_declared("linux/aarch64").unwrap(),
            source: Source::DeclaredAndChecked,
        };
        let lodestar = release(
            "v1.5.1",
            &[
                ("lodestar-v1.5.1-linux-amd64.tar.gz", true),
                ("lodestar-v1.5.1-linux-arm64.tar.gz", true),
            ],
        );
        let lighthouse = release(
            "v5.3.0",
            &[
                ("lighthouse-v5.3.0-x86_64-unknown-linux-gnu.tar.gz", true),
                (
                    "lighthouse-v5.3.0-x86_64-unknown-linux-gnu.tar.gz.asc",
                    true,
                ),
                ("lighthouse-v5.3.0-aarch64-unknown-linux-gnu.tar.gz", true),
                (
                    "lighthouse-v5.3.0-aarch64-unknown-linux-gnu.tar.gz.asc",
                    true,
                ),
                ("lighthouse-v5.3.0-aarch64-apple-darwin.tar.gz", true),
            ],
        );
        let teku = release(
            "24.1.0",
            &[
                ("teku-24.1.0.tar.gz", false),
                ("teku-24.1.0.tar.gz.sha256", false),
                ("teku-24.1.0.zip", false),
            ],
        );
        let cases = [
            (t(0, 0), lodestar, &x86),
            (t(1, 0), lighthouse, &arm),
            (t(1, 1), teku, &arm),
        ];
        let now = chrono::DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut plans = vec![];
        let mut assets = vec![];
        for (t, rel, pl) in cases {
            let v = rel.version.to_string();
            plans.push(engine::plan_node(
                &t,
                Some("1.0.0"),
                std::slice::from_ref(&rel),
                Some(&v),
                now,
            ));
            assets.push(AssetChoice::of(&t, &rel, pl));
        }
        // the same Lodestar release with the x86_64 build missing, on the x86_64 host
        let only_arm = release("v1.5.1", &[("lodestar-v1.5.1-linux-arm64.tar.gz", true)]);
        let t0 = t(0, 0);
        plans.push(engine::plan_node(
            &t0,
            Some("1.4.2"),
            std::slice::from_ref(&only_arm),
            Some("1.5.1"),
            now,
        ));
        assets.push(AssetChoice::of(&t0, &only_arm, &x86));
        (plans, assets)
    }

    fn settings() -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
        s.set_prepend_module_to_snapshot(false);
        s
    }

    #[test]
    fn releases_json_names_asset_rule_and_sources() {
        let (plans, assets) = choices();
        let v = serde_json::to_value(rows(&plans, &assets)).unwrap();
        assert_eq!(v[0]["asset"]["asset"], "lodestar-v1.5.1-linux-amd64.tar.gz");
        assert_eq!(
            v[1]["asset"]["asset"],
            "lighthouse-v5.3.0-aarch64-unknown-linux-gnu.tar.gz"
        );
        assert!(
            v[1]["asset"]["signature"]
                .as_str()
                .unwrap()
                .contains("but not verified")
        );
        assert_eq!(
            v[2]["asset"]["checksum"],
            "teku-24.1.0.tar.gz.sha256 (per-asset sha256 file)"
        );
        assert!(
            v[3]["asset"]["refused"]
                .as_str()
                .unwrap()
                .contains("assets seen: lodestar-v1.5.1-linux-arm64.tar.gz")
        );
        settings().bind(|| insta::assert_json_snapshot!("releases_json", v));
    }

    #[test]
    fn releases_human_output_says_the_same_briefly() {
        let (plans, assets) = choices();
        let text = format!("{}{}", table_of(&plans, &assets), asset_lines(&assets));
        assert_eq!(unusable(&plans, &assets).len(), 1);
        settings().bind(|| insta::assert_snapshot!("releases_human", text));
    }
}
