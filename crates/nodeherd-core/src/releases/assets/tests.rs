//! Tests of the asset choice on the recorded releases in `tests/fixtures/releases/`.
//!
//! Owns: nothing but tests. May not touch: the fixtures (read only).
//!
//! The fixtures carry no forge digests (`digest: null`: no GitHub API JSON was read). Tests of
//! the choice itself add SYNTHETIC digests ([`with_digests`]) the way the GitHub API would; the
//! tests on the raw fixtures show what nodeherd does with the data as it is.

use super::*;
use serde_json::Value;

fn fixture_text(client: &str) -> &'static str {
    macro_rules! f {
        ($n:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/releases/",
                $n,
                ".json"
            ))
        };
    }
    match client {
        "besu" => f!("besu"),
        "geth" => f!("geth"),
        "lighthouse" => f!("lighthouse"),
        "lodestar" => f!("lodestar"),
        "nethermind" => f!("nethermind"),
        "nimbus" => f!("nimbus"),
        "prysm" => f!("prysm"),
        "reth" => f!("reth"),
        "teku" => f!("teku"),
        other => panic!("no fixture for {other}"),
    }
}

const CLIENTS: [ClientKind; 9] = [
    ClientKind::Lodestar,
    ClientKind::Lighthouse,
    ClientKind::Teku,
    ClientKind::Prysm,
    ClientKind::Nimbus,
    ClientKind::Reth,
    ClientKind::Nethermind,
    ClientKind::Besu,
    ClientKind::Geth,
];

/// One recorded asset with the researcher's labels.
struct Rec {
    name: String,
    role: String,
    arch: String,
    component: Option<String>,
}

struct RecRelease {
    tag: String,
    assets: Vec<Asset>,
    recs: Vec<Rec>,
}

fn fixture(client: ClientKind) -> Vec<RecRelease> {
    let doc: Value = serde_json::from_str(fixture_text(client.as_str())).expect("fixture is JSON");
    let repo = doc["repo"]
        .as_str()
        .and_then(|r| r.split_whitespace().next())
        .expect("repo")
        .to_string();
    let str_of = |v: &Value| v.as_str().map(str::to_string);
    doc["releases"]
        .as_array()
        .expect("releases")
        .iter()
        .map(|r| {
            let tag = str_of(&r["tag"]).expect("tag");
            let mut assets = Vec::new();
            let mut recs = Vec::new();
            for a in r["assets"].as_array().expect("assets") {
                let name = str_of(&a["name"]).expect("name");
                let url = str_of(&a["url"]).unwrap_or_else(|| {
                    format!("https://github.com/{repo}/releases/download/{tag}/{name}")
                });
                assets.push(Asset {
                    name: name.clone(),
                    size: a["size"].as_u64().unwrap_or(0),
                    digest: str_of(&a["digest"]),
                    browser_download_url: url,
                });
                recs.push(Rec {
                    name,
                    role: str_of(&a["role"]).expect("role"),
                    arch: str_of(&a["arch"]).unwrap_or_default(),
                    component: str_of(&a["component"]),
                });
            }
            RecRelease { tag, assets, recs }
        })
        .collect()
}

fn release(client: ClientKind, tag: &str) -> RecRelease {
    fixture(client)
        .into_iter()
        .find(|r| r.tag == tag)
        .unwrap_or_else(|| panic!("{client} {tag} not in the fixture"))
}

/// SYNTHETIC forge digests, one distinct value per asset (not the real ones: unknown).
fn with_digests(assets: &[Asset]) -> Vec<Asset> {
    assets
        .iter()
        .enumerate()
        .map(|(i, a)| Asset {
            digest: Some(format!("sha256:{i:064x}")),
            ..a.clone()
        })
        .collect()
}

fn linux(arch: Arch) -> Platform {
    Platform::new(
        Os::Linux,
        arch,
        Libc::Glibc {
            version: Some("2.36".into()),
        },
    )
}

fn x86() -> Platform {
    linux(Arch::X86_64)
}

fn arm() -> Platform {
    linux(Arch::Aarch64)
}

fn names(assets: &[Asset]) -> String {
    assets
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn the_exact_asset_per_client_and_cpu() {
    use ClientKind::*;
    use Component::*;
    // (client, tag, component, x86_64 asset, aarch64 asset, binary path for x86_64)
    let cases: &[(ClientKind, &str, Component, &str, &str, &str)] = &[
        (
            Lighthouse,
            "v8.0.1",
            Node,
            "lighthouse-v8.0.1-x86_64-unknown-linux-gnu.tar.gz",
            "lighthouse-v8.0.1-aarch64-unknown-linux-gnu.tar.gz",
            "lighthouse",
        ),
        (
            Lighthouse,
            "v5.3.0",
            Validator,
            "lighthouse-v5.3.0-x86_64-unknown-linux-gnu.tar.gz",
            "lighthouse-v5.3.0-aarch64-unknown-linux-gnu.tar.gz",
            "lighthouse",
        ),
        (
            Reth,
            "v1.9.3",
            Node,
            "reth-v1.9.3-x86_64-unknown-linux-gnu.tar.gz",
            "reth-v1.9.3-aarch64-unknown-linux-gnu.tar.gz",
            "reth",
        ),
        (
            Reth,
            "v2.5.1",
            Node,
            "reth-v2.5.1-x86_64-unknown-linux-gnu.tar.gz",
            "reth-v2.5.1-aarch64-unknown-linux-gnu.tar.gz",
            "reth",
        ),
        (
            Lodestar,
            "v1.22.0",
            Node,
            "lodestar-v1.22.0-linux-amd64.tar.gz",
            "lodestar-v1.22.0-linux-arm64.tar.gz",
            "lodestar",
        ),
        (
            Teku,
            "26.8.0",
            Node,
            "teku-26.8.0.tar.gz",
            "teku-26.8.0.tar.gz",
            "teku-26.8.0/bin/teku",
        ),
        (
            Besu,
            "26.8.0",
            Node,
            "besu-26.8.0.tar.gz",
            "besu-26.8.0.tar.gz",
            "besu-26.8.0/bin/besu",
        ),
        (
            Prysm,
            "v7.1.4",
            Node,
            "beacon-chain-v7.1.4-linux-amd64",
            "beacon-chain-v7.1.4-linux-arm64",
            "beacon-chain",
        ),
        (
            Prysm,
            "v7.1.4",
            Validator,
            "validator-v7.1.4-linux-amd64",
            "validator-v7.1.4-linux-arm64",
            "validator",
        ),
        (
            Nimbus,
            "v24.9.0",
            Node,
            "nimbus-eth2_Linux_amd64_24.9.0_f54a0366.tar.gz",
            "nimbus-eth2_Linux_arm64v8_24.9.0_f54a0366.tar.gz",
            "nimbus-eth2_Linux_amd64_24.9.0_f54a0366/build/nimbus_beacon_node",
        ),
        (
            Nimbus,
            "v26.7.0",
            Validator,
            "nimbus-eth2_Linux_amd64_26.7.0_4110bc78.tar.gz",
            "nimbus-eth2_Linux_arm64v8_26.7.0_4110bc78.tar.gz",
            "nimbus-eth2_Linux_amd64_26.7.0_4110bc78/build/nimbus_validator_client",
        ),
        (
            Nethermind,
            "1.39.3",
            Node,
            "nethermind-1.39.3-28cbe2a0-linux-x64.zip",
            "nethermind-1.39.3-28cbe2a0-linux-arm64.zip",
            "nethermind",
        ),
        (
            Geth,
            "v1.17.5",
            Node,
            "geth-linux-amd64-1.17.5-9621c6ad.tar.gz",
            "geth-linux-arm64-1.17.5-9621c6ad.tar.gz",
            "geth-linux-amd64-1.17.5-9621c6ad/geth",
        ),
    ];
    for &(client, tag, component, want_x86, want_arm, bin) in cases {
        let assets = with_digests(&release(client, tag).assets);
        let p = pick(client, component, tag, &assets, &x86())
            .unwrap_or_else(|e| panic!("{client} {tag} x86_64: {e}"));
        assert_eq!(p.asset, want_x86, "{client} {tag} x86_64");
        assert_eq!(p.binary_path.as_deref(), Some(bin), "{client} {tag} x86_64");
        assert!(matches!(p.checksum, Checksum::ForgeDigest { .. }));
        assert_eq!(p.rejected.len(), assets.len() - 1, "{client} {tag}");
        let p = pick(client, component, tag, &assets, &arm())
            .unwrap_or_else(|e| panic!("{client} {tag} aarch64: {e}"));
        assert_eq!(p.asset, want_arm, "{client} {tag} aarch64");
    }
}

/// Every recorded release of every client, both CPUs, every component of the row: the pick is
/// the one asset the researcher labelled `archive`/`binary` for that CPU (and component), never
/// a decoy.
#[test]
fn sweep_never_picks_a_decoy() {
    let mut checked = 0;
    for client in CLIENTS {
        let row = layout(client).expect("row");
        for rel in fixture(client) {
            let assets = with_digests(&rel.assets);
            for (plat, arch) in [(x86(), "x86_64"), (arm(), "aarch64")] {
                for comp in row.components {
                    let p = pick(client, comp.component, &rel.tag, &assets, &plat)
                        .unwrap_or_else(|e| panic!("{client} {} {arch}: {e}", rel.tag));
                    let rec = rel
                        .recs
                        .iter()
                        .find(|r| r.name == p.asset)
                        .expect("picked a recorded asset");
                    assert!(
                        rec.role == "archive" || rec.role == "binary",
                        "{client} {}: picked {} with role {}",
                        rel.tag,
                        p.asset,
                        rec.role
                    );
                    assert!(
                        rec.arch == arch || rec.arch.starts_with("any"),
                        "{client} {}: {} is {} not {arch}",
                        rel.tag,
                        p.asset,
                        rec.arch
                    );
                    if let Some(c) = &rec.component {
                        assert!(comp.prefix.starts_with(c.as_str()), "{} for {c}", p.asset);
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 40, "only {checked} picks checked");
}

#[test]
fn decoys_are_refused_with_their_reason() {
    let reason = |client: ClientKind, tag: &str, comp: Component, asset: &str| -> String {
        let assets = with_digests(&release(client, tag).assets);
        let p = pick(client, comp, tag, &assets, &x86()).expect("picks");
        p.rejected
            .iter()
            .find(|r| r.name == asset)
            .map_or_else(|| panic!("{asset} not rejected"), |r| r.why.clone())
    };
    use ClientKind::*;
    use Component::*;
    assert_eq!(
        reason(
            Lighthouse,
            "v5.3.0",
            Node,
            "lighthouse-v5.3.0-x86_64-unknown-linux-gnu-portable.tar.gz"
        ),
        "excluded for lighthouse: contains `portable`"
    );
    assert_eq!(
        reason(
            Reth,
            "v2.5.1",
            Node,
            "reth-reproducible-v2.5.1-x86_64-unknown-linux-gnu.tar.gz"
        ),
        "excluded for reth: contains `reproducible`"
    );
    assert_eq!(
        reason(
            Reth,
            "v1.9.3",
            Node,
            "op-reth-v1.9.3-x86_64-unknown-linux-gnu.tar.gz"
        ),
        "not the reth node (its name does not start with `reth-`)"
    );
    assert_eq!(
        reason(
            Prysm,
            "v7.1.4",
            Node,
            "beacon-chain-v7.1.4-modern-linux-amd64"
        ),
        "excluded for prysm: contains `modern`"
    );
    assert_eq!(
        reason(Prysm, "v7.1.4", Node, "prysmctl-v7.1.4-linux-amd64"),
        "not the prysm node (its name does not start with `beacon-chain-`)"
    );
    assert_eq!(
        reason(
            Prysm,
            "v7.1.4",
            Validator,
            "validator-v7.1.4-windows-amd64.exe"
        ),
        "built for another OS (`windows`)"
    );
    assert_eq!(
        reason(
            Prysm,
            "v7.1.4",
            Node,
            "beacon-chain-v7.1.4-linux-amd64.sha256"
        ),
        "a checksum or signature file"
    );
    assert_eq!(
        reason(
            Geth,
            "v1.17.5",
            Node,
            "geth-alltools-linux-amd64-1.17.5-9621c6ad.tar.gz"
        ),
        "excluded for geth: contains `alltools`"
    );
    assert_eq!(
        reason(
            Geth,
            "v1.17.5",
            Node,
            "geth-linux-386-1.17.5-9621c6ad.tar.gz"
        ),
        "not built for x86_64"
    );
    assert_eq!(
        reason(
            Nimbus,
            "v24.9.0",
            Node,
            "nimbus-beacon-node_24.9.0_amd64.deb"
        ),
        "not the nimbus node (its name does not start with `nimbus-eth2_`)"
    );
    assert_eq!(
        reason(Teku, "26.8.0", Node, "teku-26.8.0.zip"),
        "nodeherd takes teku as tar.gz, not zip"
    );
    assert_eq!(
        reason(
            Lighthouse,
            "v8.0.1",
            Node,
            "lighthouse-v8.0.1-aarch64-apple-darwin.tar.gz"
        ),
        "built for another OS (`darwin`)"
    );
    assert_eq!(
        reason(
            Lighthouse,
            "v8.0.1",
            Node,
            "lighthouse-v8.0.1-aarch64-unknown-linux-gnu.tar.gz"
        ),
        "not built for x86_64"
    );
}

#[test]
fn wrong_cpu_is_refused_naming_every_asset_seen() {
    let rel = release(ClientKind::Lighthouse, "v8.0.1");
    let riscv = linux(Arch::Other("riscv64".into()));
    let e = pick(
        ClientKind::Lighthouse,
        Component::Node,
        "v8.0.1",
        &rel.assets,
        &riscv,
    )
    .expect_err("no riscv64 build");
    assert_eq!(
        e.to_string(),
        format!(
            "no asset of lighthouse v8.0.1 for linux/riscv64; assets seen: {}",
            names(&rel.assets)
        )
    );
    assert!(
        e.to_string()
            .contains("lighthouse-v8.0.1-aarch64-apple-darwin.tar.gz.asc")
    );
}

#[test]
fn a_release_with_only_darwin_assets_is_refused() {
    let rel = release(ClientKind::Nethermind, "1.39.3");
    let darwin: Vec<Asset> = with_digests(&rel.assets)
        .into_iter()
        .filter(|a| a.name.contains("macos"))
        .collect();
    assert_eq!(darwin.len(), 4);
    let e = pick(
        ClientKind::Nethermind,
        Component::Node,
        "1.39.3",
        &darwin,
        &arm(),
    )
    .expect_err("darwin only");
    assert_eq!(
        e.to_string(),
        "no asset of nethermind 1.39.3 for linux/aarch64; assets seen: \
         nethermind-1.39.3-28cbe2a0-macos-x64.zip, nethermind-1.39.3-28cbe2a0-macos-x64.zip.asc, \
         nethermind-1.39.3-28cbe2a0-macos-arm64.zip, nethermind-1.39.3-28cbe2a0-macos-arm64.zip.asc"
    );
    // A darwin host gets nothing either, even from a full release.
    let mac = Platform::new(Os::Darwin, Arch::Aarch64, Libc::Unknown);
    let all = with_digests(&rel.assets);
    let e = pick(
        ClientKind::Nethermind,
        Component::Node,
        "1.39.3",
        &all,
        &mac,
    )
    .expect_err("darwin host");
    assert!(e.to_string().starts_with("no asset of nethermind 1.39.3 for darwin/aarch64; assets seen: nethermind-1.39.3-28cbe2a0-linux-x64.zip, "), "{e}");
}

#[test]
fn java_distributions_fit_any_cpu() {
    let rel = release(ClientKind::Teku, "26.8.0");
    let riscv = linux(Arch::Other("riscv64".into()));
    let p = pick(
        ClientKind::Teku,
        Component::Node,
        "26.8.0",
        &rel.assets,
        &riscv,
    )
    .expect("picks");
    assert_eq!(p.asset, "teku-26.8.0.tar.gz");
    assert!(p.why.contains("needs a Java runtime"), "{}", p.why);
}

#[test]
fn raw_fixtures_without_digests_are_refused_where_no_checksum_file_exists() {
    let rel = release(ClientKind::Lighthouse, "v8.0.1");
    let e = pick(
        ClientKind::Lighthouse,
        Component::Node,
        "v8.0.1",
        &rel.assets,
        &arm(),
    )
    .expect_err("no digest, no checksum file");
    assert_eq!(
        e,
        PickError::NoChecksum {
            client: ClientKind::Lighthouse,
            tag: "v8.0.1".into(),
            platform: "linux/aarch64".into(),
            asset: "lighthouse-v8.0.1-aarch64-unknown-linux-gnu.tar.gz".into(),
            missing: "the feed carries no digest for it and lighthouse publishes no checksum file"
                .into(),
            seen: rel.assets.iter().map(|a| a.name.clone()).collect(),
        }
    );
    assert!(e.to_string().starts_with(
        "no checksum for lighthouse-v8.0.1-aarch64-unknown-linux-gnu.tar.gz (lighthouse v8.0.1, linux/aarch64): \
         the feed carries no digest for it and lighthouse publishes no checksum file; refusing an unverified artifact; assets seen: "
    ), "{e}");

    // geth publishes nothing to check against (the .asc is a signature, not a checksum).
    let rel = release(ClientKind::Geth, "v1.17.5");
    let e = pick(
        ClientKind::Geth,
        Component::Node,
        "v1.17.5",
        &rel.assets,
        &x86(),
    )
    .expect_err("geth");
    assert!(
        matches!(&e, PickError::NoChecksum { asset, missing, .. }
        if asset == "geth-linux-amd64-1.17.5-9621c6ad.tar.gz"
        && missing == "the feed carries no digest for it and geth publishes no checksum"),
        "{e}"
    );

    for (client, tag) in [
        (ClientKind::Lodestar, "v1.22.0"),
        (ClientKind::Reth, "v2.10.1"),
        (ClientKind::Nimbus, "v24.9.0"),
        (ClientKind::Nethermind, "1.39.3"),
    ] {
        let rel = release(client, tag);
        let e = pick(client, Component::Node, tag, &rel.assets, &x86()).expect_err("no checksum");
        assert!(matches!(e, PickError::NoChecksum { .. }), "{client}: {e}");
    }
}

#[test]
fn sidecar_checksums_come_from_the_release() {
    let rel = release(ClientKind::Teku, "26.8.0");
    let p = pick(
        ClientKind::Teku,
        Component::Node,
        "26.8.0",
        &rel.assets,
        &x86(),
    )
    .expect("teku");
    assert_eq!(
        p.checksum,
        Checksum::Sidecar {
            asset: "teku-26.8.0.tar.gz.sha256".into(),
            url: "https://github.com/Consensys/teku/releases/download/26.8.0/teku-26.8.0.tar.gz.sha256"
                .into()
        }
    );
    assert_eq!(p.signature, Signature::NonePublished);

    let rel = release(ClientKind::Besu, "26.7.1");
    let p = pick(
        ClientKind::Besu,
        Component::Node,
        "26.7.1",
        &rel.assets,
        &arm(),
    )
    .expect("besu");
    assert!(
        matches!(&p.checksum, Checksum::Sidecar { asset, .. } if asset == "besu-26.7.1.tar.gz.sha256")
    );

    let rel = release(ClientKind::Prysm, "v7.1.4");
    let p = pick(
        ClientKind::Prysm,
        Component::Validator,
        "v7.1.4",
        &rel.assets,
        &arm(),
    )
    .expect("prysm");
    assert_eq!(p.asset, "validator-v7.1.4-linux-arm64");
    assert_eq!(p.kind, ArchiveKind::Bare);
    assert!(
        matches!(&p.checksum, Checksum::Sidecar { asset, .. } if asset == "validator-v7.1.4-linux-arm64.sha256")
    );
    assert!(
        matches!(&p.signature, Signature::Detached { asset, armored: false, fingerprint, .. }
        if asset == "validator-v7.1.4-linux-arm64.sig" && *fingerprint == "0AE0051D647BA3C1A917AF4072E33E4DF1A5036E")
    );

    // Without its sidecar, teku is refused.
    let stripped: Vec<Asset> = release(ClientKind::Teku, "26.8.0")
        .assets
        .into_iter()
        .filter(|a| a.name != "teku-26.8.0.tar.gz.sha256")
        .collect();
    let e = pick(
        ClientKind::Teku,
        Component::Node,
        "26.8.0",
        &stripped,
        &x86(),
    )
    .expect_err("no sidecar");
    assert!(
        matches!(&e, PickError::NoChecksum { missing, .. }
        if missing == "no forge digest and no teku-26.8.0.tar.gz.sha256 asset"),
        "{e}"
    );
}

#[test]
fn signatures_as_published() {
    let assets = with_digests(&release(ClientKind::Lighthouse, "v8.0.1").assets);
    let p = pick(
        ClientKind::Lighthouse,
        Component::Node,
        "v8.0.1",
        &assets,
        &x86(),
    )
    .expect("picks");
    assert!(
        matches!(&p.signature, Signature::Detached { asset, armored: true, fingerprint, .. }
        if asset == "lighthouse-v8.0.1-x86_64-unknown-linux-gnu.tar.gz.asc"
        && *fingerprint == "15E66D941F697E28F49381F426416DC3F30674B0")
    );

    let assets = with_digests(&release(ClientKind::Lodestar, "v1.22.0").assets);
    let p = pick(
        ClientKind::Lodestar,
        Component::Node,
        "v1.22.0",
        &assets,
        &x86(),
    )
    .expect("picks");
    assert_eq!(p.signature, Signature::NonePublished);

    // A signing publisher whose .asc is not in the listing: said, not invented.
    let no_asc: Vec<Asset> = assets_without_suffix(ClientKind::Nethermind, "1.39.3", ".asc");
    let p = pick(
        ClientKind::Nethermind,
        Component::Node,
        "1.39.3",
        &no_asc,
        &x86(),
    )
    .expect("picks");
    assert!(matches!(&p.signature, Signature::Missing { expected, .. }
        if expected == "nethermind-1.39.3-28cbe2a0-linux-x64.zip.asc"));
}

fn assets_without_suffix(client: ClientKind, tag: &str, suffix: &str) -> Vec<Asset> {
    with_digests(&release(client, tag).assets)
        .into_iter()
        .filter(|a| !a.name.ends_with(suffix))
        .collect()
}

#[test]
fn libc_rules() {
    let musl = Platform::new(
        Os::Linux,
        Arch::X86_64,
        Libc::Musl {
            version: Some("1.2.4".into()),
        },
    );
    let assets = with_digests(&release(ClientKind::Lighthouse, "v8.0.1").assets);
    let e = pick(
        ClientKind::Lighthouse,
        Component::Node,
        "v8.0.1",
        &assets,
        &musl,
    )
    .expect_err("gnu build");
    assert_eq!(
        e.to_string(),
        "lighthouse-v8.0.1-x86_64-unknown-linux-gnu.tar.gz (lighthouse v8.0.1) is built for glibc; \
         the host linux/x86_64 runs musl 1.2.4"
    );
    let assets = with_digests(&release(ClientKind::Geth, "v1.17.5").assets);
    let p =
        pick(ClientKind::Geth, Component::Node, "v1.17.5", &assets, &musl).expect("unknown need");
    assert!(p.notes.iter().any(|n| n.contains("musl")), "{:?}", p.notes);
}

#[test]
fn components_and_clients_without_a_row() {
    let assets = with_digests(&release(ClientKind::Reth, "v2.10.1").assets);
    let e = pick(
        ClientKind::Reth,
        Component::Validator,
        "v2.10.1",
        &assets,
        &x86(),
    )
    .expect_err("no vc");
    assert_eq!(
        e.to_string(),
        "reth has no validator program in the release layout table"
    );
    let e = pick(ClientKind::Cosmos, Component::Node, "v1", &assets, &x86()).expect_err("no row");
    assert_eq!(
        e,
        PickError::NoLayout {
            client: ClientKind::Cosmos
        }
    );
}

#[test]
fn two_fitting_assets_are_refused_not_guessed() {
    let mut assets = with_digests(&release(ClientKind::Lodestar, "v1.22.0").assets);
    assets.push(Asset {
        name: "lodestar-v1.22.0-linux-amd64.tgz".into(),
        size: 0,
        digest: None,
        browser_download_url: "https://example.invalid/x.tgz".into(),
    });
    let e = pick(
        ClientKind::Lodestar,
        Component::Node,
        "v1.22.0",
        &assets,
        &x86(),
    )
    .expect_err("two");
    assert!(
        matches!(&e, PickError::Ambiguous { candidates, .. }
        if candidates == &["lodestar-v1.22.0-linux-amd64.tar.gz".to_string(), "lodestar-v1.22.0-linux-amd64.tgz".to_string()]),
        "{e}"
    );
}

#[test]
fn a_sums_file_row() {
    let row = ClientLayout {
        checksum: ChecksumSource::SumsFile {
            names: &["SHA256SUMS"],
        },
        ..*layout(ClientKind::Lodestar).expect("row")
    };
    let mut assets = release(ClientKind::Lodestar, "v1.22.0").assets;
    let e = pick_with(&row, Component::Node, "v1.22.0", &assets, &arm()).expect_err("no sums");
    assert!(
        e.to_string()
            .contains("no forge digest and no sums file (SHA256SUMS)"),
        "{e}"
    );
    assets.push(Asset {
        name: "SHA256SUMS".into(),
        size: 0,
        digest: None,
        browser_download_url: "https://example.invalid/SHA256SUMS".into(),
    });
    let p = pick_with(&row, Component::Node, "v1.22.0", &assets, &arm()).expect("picks");
    assert_eq!(p.asset, "lodestar-v1.22.0-linux-arm64.tar.gz");
    assert!(matches!(&p.checksum, Checksum::SumsFile { asset, .. } if asset == "SHA256SUMS"));
}

#[test]
fn sha256_sidecar_formats() {
    let h = "a30973627c52516c2fb044469875f99e53fa00bf4cfa2c2f71b655f2df6cf7e4";
    let name = "beacon-chain-v7.1.7-linux-amd64";
    assert_eq!(
        parse_sha256_file(&format!("{h}  {name}\n"), name).as_deref(),
        Some(h)
    );
    assert_eq!(
        parse_sha256_file(&format!("{h} *{name}\n"), name).as_deref(),
        Some(h)
    );
    assert_eq!(
        parse_sha256_file(&format!("{h}  dist/{name}\n"), name).as_deref(),
        Some(h)
    );
    assert_eq!(
        parse_sha256_file(&format!("{}\n", h.to_uppercase()), name).as_deref(),
        Some(h)
    );
    assert_eq!(parse_sha256_file(&format!("{h}  other-file\n"), name), None);
    assert_eq!(parse_sha256_file("not a sum\n", name), None);
}

#[test]
fn the_table_has_the_nine_clients_and_sane_rows() {
    for client in CLIENTS {
        let row = layout(client).unwrap_or_else(|| panic!("{client} has no row"));
        assert!(
            !row.kinds.is_empty() && !row.components.is_empty(),
            "{client}"
        );
        if let SignatureSource::Detached { fingerprint, .. } = row.signature {
            assert!(
                fingerprint.len() == 40 && fingerprint.bytes().all(|b| b.is_ascii_hexdigit()),
                "{client}: {fingerprint}"
            );
        }
        match row.cpu {
            CpuRule::Tokens { x86_64, aarch64 } => {
                assert!(!row.os_tokens.is_empty() && !x86_64.is_empty() && !aarch64.is_empty());
            }
            CpuRule::Independent { .. } => assert!(row.os_tokens.is_empty()),
        }
    }
    assert_eq!(TABLE.len(), 9);
}

#[test]
fn tokens_are_whole_words() {
    assert!(has_token(
        "nimbus-eth2_linux_amd64_24.9.0_f54a0366.tar.gz",
        "amd64"
    ));
    assert!(!has_token(
        "nimbus-eth2_linux_arm64v8_24.9.0.tar.gz",
        "arm64"
    ));
    assert!(has_token(
        "reth-v1-x86_64-unknown-linux-gnu.tar.gz",
        "x86_64"
    ));
    assert!(!has_token("geth-linux-amd64x-1", "amd64"));
    assert_eq!(
        ArchiveKind::TarGz.stem("geth-linux-arm64-1.17.5-9621c6ad.tar.gz"),
        "geth-linux-arm64-1.17.5-9621c6ad"
    );
    assert_eq!(ArchiveKind::of("nimbus-beacon-node_24.9.0_arm64.deb"), None);
    assert_eq!(
        ArchiveKind::of("beacon-chain-v7.1.4-linux-arm64"),
        Some(ArchiveKind::Bare)
    );
}
