//! The asset step of an upgrade through the scripted fake host: the host's platform decides the
//! asset, and every refusal (no asset for the platform, missing checksum, a declared platform
//! the host contradicts) happens with nothing but the read-only platform probe run on the host.

use std::path::PathBuf;

use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::playbook::Playbook;
use nodeherd_core::releases::feed::{FeedRelease, Release};

use crate::testing::{FakeRemote, fake_pool};
use crate::upgrade::engine::{self, AssetChoice, NodePlan, Status, Target};
use crate::upgrade::tests::{NEW, Node, OLD, PLATFORM, host, options, release, targets};

/// A release of `NEW` with exactly these asset names (`digest`: with forge digests).
fn release_with(names: &[&str], digest: bool) -> Release {
    let assets: Vec<serde_json::Value> = names
        .iter()
        .map(|n| {
            let mut a = serde_json::json!({ "name": n, "browser_download_url": format!("http://feed.invalid/{n}") });
            if digest {
                a["digest"] = serde_json::json!(format!("sha256:{}", "cd".repeat(32)));
            }
            a
        })
        .collect();
    let feed: FeedRelease = serde_json::from_value(
        serde_json::json!({ "tag_name": format!("v{NEW}"), "assets": assets }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Release {
        version: semver::Version::parse(NEW).unwrap_or_else(|e| panic!("{e}")),
        feed,
    }
}

fn plan(t: &Target, new: Release) -> NodePlan {
    engine::plan_node(
        t,
        Some(OLD),
        &[release(OLD), new],
        Some(NEW),
        chrono::Utc::now(),
    )
}

/// Only the platform probe ran: nothing was locked, uploaded, staged or switched.
fn only_probed(f: &FakeRemote) {
    let lines = f.lines();
    assert!(!lines.is_empty(), "the platform must be probed");
    for l in &lines {
        assert!(
            l.contains(PLATFORM),
            "only the platform probe may run; ran: {lines:#?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_aarch64_only_release_is_refused_naming_the_assets_seen() {
    let t = targets(&["h1"], true, &Playbook::default()).remove(0);
    let f = host("h1", Node::default());
    let pool = fake_pool(std::slice::from_ref(&f));
    let rel = release_with(
        &[
            "lodestar-v1.5.1-linux-arm64.tar.gz",
            "lodestar-v1.5.1-darwin-arm64.tar.gz",
        ],
        true,
    );
    let o = engine::upgrade_one(&pool, &t, &plan(&t, rel), &options()).await;
    assert_eq!(o.status, Status::Refused, "{o:?}");
    assert!(
        o.detail.starts_with(
            "no asset of lodestar v1.5.1 for linux/x86_64; assets seen: lodestar-v1.5.1-linux-arm64.tar.gz, lodestar-v1.5.1-darwin-arm64.tar.gz"
        ),
        "{}",
        o.detail
    );
    assert!(
        o.detail.ends_with("nothing was changed on the host"),
        "{}",
        o.detail
    );
    only_probed(&f);
}

#[tokio::test(start_paused = true)]
async fn a_release_without_its_checksum_source_is_refused_as_missing_checksum() {
    let t = targets(&["h1"], true, &Playbook::default()).remove(0);
    let f = host("h1", Node::default());
    let pool = fake_pool(std::slice::from_ref(&f));
    // Lodestar publishes no checksum file: only the forge digest proves its tarball.
    let rel = release_with(&["lodestar-v1.5.1-linux-amd64.tar.gz"], false);
    let o = engine::upgrade_one(&pool, &t, &plan(&t, rel), &options()).await;
    assert_eq!(o.status, Status::Refused, "{o:?}");
    assert!(
        o.detail
            .starts_with("no checksum for lodestar-v1.5.1-linux-amd64.tar.gz"),
        "{}",
        o.detail
    );
    assert!(
        o.detail
            .contains("assets seen: lodestar-v1.5.1-linux-amd64.tar.gz"),
        "{}",
        o.detail
    );
    only_probed(&f);
}

#[tokio::test(start_paused = true)]
async fn a_declared_platform_the_host_contradicts_refuses_naming_both() {
    let text = "[hosts.h1]\naddress = \"192.0.2.1\"\nplatform = \"linux/aarch64\"\n[hosts.h1.nodes.bn]\nclient = \"lodestar\"\nrole = \"beacon\"\nunit = \"lodestar-bn.service\"\nnetwork = \"dev\"\ninstall_dir = \"/opt/nh/bn\"\nrest_port = 9596\n";
    let inv = Inventory::from_sources(vec![(PathBuf::from("/t/hosts.toml"), text.into())])
        .unwrap_or_else(|e| panic!("{e:?}"));
    let t = Target::new(&inv, NodeRef { host: 0, node: 0 }, &Playbook::default());
    let f = host("h1", Node::default());
    let pool = fake_pool(std::slice::from_ref(&f));
    let o = engine::upgrade_one(&pool, &t, &plan(&t, release(NEW)), &options()).await;
    assert_eq!(o.status, Status::Refused, "{o:?}");
    assert!(
        o.detail.contains(
            "the inventory declares linux/aarch64 but the host reports linux/x86_64 (glibc 2.36)"
        ),
        "{}",
        o.detail
    );
    only_probed(&f);
}

#[tokio::test(start_paused = true)]
async fn releases_reports_the_asset_the_rule_and_the_sources() {
    let ts = targets(&["h1"], true, &Playbook::default());
    let f = host("h1", Node::default());
    let pool = fake_pool(std::slice::from_ref(&f));
    let plans: Vec<NodePlan> = ts.iter().map(|t| plan(t, release(NEW))).collect();
    let opts = options();
    let got = engine::choose_assets(&pool, &ts, &plans, &opts).await;
    let want = AssetChoice {
        node: "h1/bn".into(),
        version: Some(NEW.into()),
        platform: Some("linux/x86_64 (glibc 2.36), detected".into()),
        asset: Some("lodestar-v1.5.1-linux-amd64.tar.gz".into()),
        kind: Some("tar.gz".into()),
        exposes: Some("current/lodestar".into()),
        why: Some("linux/x86_64: `lodestar-v1.5.1-linux-amd64.tar.gz`: starts with `lodestar-`, OS token `linux`, CPU token `amd64`, tar.gz".into()),
        checksum: Some("the feed's asset digest (sha256)".into()),
        signature: Some("none published".into()),
        notes: got[0].notes.clone(),
        refused: None,
    };
    assert_eq!(got, vec![want]);
    // a second ask in the same run does not probe the host again
    let _ = engine::choose_assets(&pool, &ts, &plans, &opts).await;
    assert_eq!(f.ran(PLATFORM), 1);
}
