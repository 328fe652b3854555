//! The generic rule, for clients without a row in the release layout table (`generic`, and the
//! kinds nodeherd has not recorded yet): the one archive of the release that is not for another
//! OS or CPU, verified by the forge's digest, a `SHA256SUMS`-style file or a `<asset>.sha256`.
//!
//! Owns: [`pick_for`] (the table when it has a row, else this rule) and the rule itself. May not
//! touch: the table (a client with a row is never judged by this rule) or anything outside
//! `releases::assets`.

use super::{
    ArchiveKind, Checksum, ClientKind, Component, FOREIGN_OS, Pick, PickError, Platform, Rejected,
    Signature, has_token, is_sidecar, layout, pick_with,
};
use crate::facts::platform::{Arch, Os};
use crate::releases::feed::Asset;

/// CPU tokens by architecture, as release names spell them (matched as whole words).
const X86_64: &[&str] = &["x86_64", "amd64", "x64"];
const AARCH64: &[&str] = &["aarch64", "arm64", "arm64v8"];
/// Tokens of CPUs nodeherd hosts are not (any of them marks a build for another CPU).
const OTHER_CPUS: &[&str] = &[
    "386", "i386", "i686", "x86", "arm", "armv6", "armv7", "armv7l", "armhf", "arm32v7", "riscv64",
    "ppc64le", "s390x", "mips64", "loong64",
];
/// Release-wide sums files the generic rule reads (lowercased).
const SUMS_NAMES: &[&str] = &[
    "sha256sums",
    "sha256sums.txt",
    "checksums.txt",
    "checksums.sha256",
];

/// The asset to install: by the client's table row when it has one, otherwise by the generic
/// rule (see the module doc).
pub fn pick_for(
    client: ClientKind,
    component: Component,
    tag: &str,
    assets: &[Asset],
    platform: &Platform,
) -> Result<Pick, PickError> {
    match layout(client) {
        Some(l) => pick_with(l, component, tag, assets, platform),
        None => pick_generic(client, tag, assets, platform),
    }
}

/// Which CPU a name is for: `Some(true)` the platform's, `Some(false)` another one, `None` the
/// name names no CPU.
fn cpu_fit(lower: &str, arch: &Arch) -> Option<bool> {
    let mine: Vec<&str> = match arch {
        Arch::X86_64 => X86_64.to_vec(),
        Arch::Aarch64 => AARCH64.to_vec(),
        Arch::Other(s) => vec![s.as_str()],
    };
    if mine.iter().any(|t| has_token(lower, t)) {
        return Some(true);
    }
    let others = X86_64.iter().chain(AARCH64).chain(OTHER_CPUS);
    others
        .into_iter()
        .any(|t| has_token(lower, t))
        .then_some(false)
}

/// Why an asset does not fit, or `(names my CPU, kind)`.
fn judge(a: &Asset, platform: &Platform) -> Result<(bool, ArchiveKind), String> {
    let n = a.name.to_ascii_lowercase();
    if is_sidecar(&n) {
        return Err("a checksum or signature file".into());
    }
    if let Some(os) = FOREIGN_OS.iter().find(|t| has_token(&n, t)) {
        return Err(format!("built for another OS (`{os}`)"));
    }
    let Some(kind) = ArchiveKind::of(&a.name) else {
        return Err("a package or installer, not an archive".into());
    };
    if kind == ArchiveKind::Bare {
        return Err("not an archive (the generic rule installs archives only)".into());
    }
    match cpu_fit(&n, &platform.arch) {
        Some(false) => Err(format!("not built for {}", platform.arch)),
        fit => Ok((fit == Some(true), kind)),
    }
}

fn pick_generic(
    client: ClientKind,
    tag: &str,
    assets: &[Asset],
    platform: &Platform,
) -> Result<Pick, PickError> {
    let seen: Vec<String> = assets.iter().map(|a| a.name.clone()).collect();
    let plat = platform.os_arch();
    let mut rejected = Vec::new();
    let mut named = Vec::new();
    let mut neutral = Vec::new();
    for a in assets {
        if platform.os != Os::Linux {
            rejected.push(Rejected {
                name: a.name.clone(),
                why: format!(
                    "nodeherd installs on Linux only, the host is {}",
                    platform.os
                ),
            });
            continue;
        }
        match judge(a, platform) {
            Ok((true, kind)) => named.push((a, kind)),
            Ok((false, kind)) => neutral.push((a, kind)),
            Err(why) => rejected.push(Rejected {
                name: a.name.clone(),
                why,
            }),
        }
    }
    // A build naming the host's CPU beats one naming none.
    let (top, rest, rule) = if named.is_empty() {
        (neutral, vec![], "names no CPU")
    } else {
        (named, neutral, "names the host's CPU")
    };
    for (a, _) in &rest {
        rejected.push(Rejected {
            name: a.name.clone(),
            why: "an asset naming the host's CPU is preferred".into(),
        });
    }
    let (asset, kind) = match top.as_slice() {
        [] => {
            return Err(PickError::NoAsset {
                client,
                tag: tag.to_string(),
                platform: plat,
                seen,
            });
        }
        [one] => *one,
        many => {
            return Err(PickError::Ambiguous {
                client,
                tag: tag.to_string(),
                platform: plat,
                candidates: many.iter().map(|(a, _)| a.name.clone()).collect(),
                seen,
            });
        }
    };
    let checksum = generic_checksum(asset, assets).ok_or_else(|| PickError::NoChecksum {
        client,
        tag: tag.to_string(),
        platform: plat.clone(),
        asset: asset.name.clone(),
        missing: format!(
            "no forge digest, no {}.sha256 and no sums file ({})",
            asset.name,
            SUMS_NAMES.join(", ")
        ),
        seen: seen.clone(),
    })?;
    Ok(Pick {
        asset: asset.name.clone(),
        url: asset.browser_download_url.clone(),
        kind,
        binary_path: None,
        checksum,
        signature: Signature::NonePublished,
        why: format!(
            "`{}`: generic rule (no row for {client} in the release layout table): the only {kind} asset that {rule} and no other OS",
            asset.name
        ),
        notes: vec![format!(
            "no table row for {client}: the unit must name the program inside current/ itself"
        )],
        rejected,
    })
}

fn generic_checksum(asset: &Asset, assets: &[Asset]) -> Option<Checksum> {
    if let Some(sha256) = asset.sha256() {
        return Some(Checksum::ForgeDigest { sha256 });
    }
    let sidecar = format!("{}.sha256", asset.name);
    if let Some(s) = assets.iter().find(|a| a.name == sidecar) {
        return Some(Checksum::Sidecar {
            asset: s.name.clone(),
            url: s.browser_download_url.clone(),
        });
    }
    assets
        .iter()
        .find(|a| SUMS_NAMES.contains(&a.name.to_ascii_lowercase().as_str()))
        .map(|s| Checksum::SumsFile {
            asset: s.name.clone(),
            url: s.browser_download_url.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::platform::Libc;

    fn asset(name: &str, digest: bool) -> Asset {
        Asset {
            name: name.into(),
            size: 1,
            digest: digest.then(|| format!("sha256:{}", "ab".repeat(32))),
            browser_download_url: format!("http://x/{name}"),
        }
    }
    fn linux(arch: Arch) -> Platform {
        Platform::new(Os::Linux, arch, Libc::Unknown)
    }

    #[test]
    fn generic_takes_the_one_archive_for_the_cpu() {
        let assets = [
            asset("demo-2.0.0-linux-amd64.tar.gz", true),
            asset("demo-2.0.0-linux-arm64.tar.gz", true),
            asset("demo-2.0.0-darwin-arm64.tar.gz", true),
            asset("demo-2.0.0-linux-amd64.tar.gz.asc", false),
        ];
        let p = pick_for(
            ClientKind::Generic,
            Component::Node,
            "v2.0.0",
            &assets,
            &linux(Arch::Aarch64),
        )
        .unwrap();
        assert_eq!(p.asset, "demo-2.0.0-linux-arm64.tar.gz");
        assert_eq!(p.binary_path, None);
        assert!(p.why.contains("generic rule"), "{}", p.why);
        assert_eq!(p.rejected.len(), 3);
    }

    #[test]
    fn generic_neutral_archive_and_refusals() {
        let one = [
            asset("demo-2.0.0.tar.gz", false),
            asset("SHA256SUMS", false),
        ];
        let p = pick_for(
            ClientKind::Generic,
            Component::Node,
            "v2.0.0",
            &one,
            &linux(Arch::X86_64),
        )
        .unwrap();
        assert!(matches!(p.checksum, Checksum::SumsFile { .. }), "{p:?}");
        // only an aarch64 build: refused on x86_64, naming what was seen
        let arm = [asset("demo-2.0.0-linux-arm64.tar.gz", true)];
        let e = pick_for(
            ClientKind::Generic,
            Component::Node,
            "v2.0.0",
            &arm,
            &linux(Arch::X86_64),
        )
        .unwrap_err();
        assert!(matches!(e, PickError::NoAsset { .. }), "{e}");
        assert!(
            e.to_string().contains("demo-2.0.0-linux-arm64.tar.gz"),
            "{e}"
        );
        // two neutral archives: refuse to guess
        let two = [asset("a.tar.gz", true), asset("b.tar.gz", true)];
        let e = pick_for(
            ClientKind::Generic,
            Component::Node,
            "v1",
            &two,
            &linux(Arch::X86_64),
        )
        .unwrap_err();
        assert!(matches!(e, PickError::Ambiguous { .. }), "{e}");
        // no digest, no sums: missing checksum
        let bare = [asset("demo.tar.gz", false)];
        let e = pick_for(
            ClientKind::Generic,
            Component::Node,
            "v1",
            &bare,
            &linux(Arch::X86_64),
        )
        .unwrap_err();
        assert!(e.to_string().contains("no checksum"), "{e}");
    }

    #[test]
    fn a_client_with_a_row_never_takes_the_generic_rule() {
        let assets = [asset("something.tar.gz", true)];
        let e = pick_for(
            ClientKind::Lodestar,
            Component::Node,
            "v1.5.1",
            &assets,
            &linux(Arch::X86_64),
        )
        .unwrap_err();
        assert!(matches!(e, PickError::NoAsset { .. }), "{e}");
    }
}
