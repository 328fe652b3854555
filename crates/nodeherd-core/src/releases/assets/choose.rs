//! The pure choice of one asset: token matching, exclusions, checksum and signature sidecars,
//! and the reasons every other asset was passed over.
//!
//! Owns: [`pick`], [`pick_with`], [`parse_sha256_file`] and their helpers. May not touch: the
//! table's data (`table`), the generic rule (`generic`), I/O of any kind.

#[allow(clippy::wildcard_imports)]
use super::*;

/// True when `token` (lowercase ASCII) occurs in `name` (lowercase) as a whole word: bounded by
/// a non-alphanumeric byte or the ends.
pub(super) fn has_token(name: &str, token: &str) -> bool {
    let bytes = name.as_bytes();
    let mut start = 0;
    while let Some(i) = name.get(start..).and_then(|rest| rest.find(token)) {
        let at = start + i;
        let end = at + token.len();
        let before = at == 0
            || bytes
                .get(at - 1)
                .is_some_and(|b| !b.is_ascii_alphanumeric());
        let after = bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
        if before && after {
            return true;
        }
        start = at + 1;
    }
    false
}

pub(super) fn is_sidecar(lower: &str) -> bool {
    SIDECAR_SUFFIXES.iter().any(|s| lower.ends_with(s))
        || SUMS_WORDS.iter().any(|w| lower.contains(w))
}

/// Choose `component` of `client` for `platform` among a release's assets, with the row of
/// [`TABLE`]. `tag` only names the release in messages.
pub fn pick(
    client: ClientKind,
    component: Component,
    tag: &str,
    assets: &[Asset],
    platform: &Platform,
) -> Result<Pick, PickError> {
    let layout = layout(client).ok_or(PickError::NoLayout { client })?;
    pick_with(layout, component, tag, assets, platform)
}

/// [`pick`] with an explicit layout (a row being written, or a test's).
pub fn pick_with(
    layout: &ClientLayout,
    component: Component,
    tag: &str,
    assets: &[Asset],
    platform: &Platform,
) -> Result<Pick, PickError> {
    let client = layout.client;
    let comp = layout
        .components
        .iter()
        .find(|c| c.component == component)
        .ok_or(PickError::NoComponent { client, component })?;
    let seen: Vec<String> = assets.iter().map(|a| a.name.clone()).collect();
    let plat = platform.os_arch();

    let mut rejected = Vec::new();
    let mut candidates: Vec<(usize, &Asset, ArchiveKind, String)> = Vec::new();
    for a in assets {
        match judge(layout, comp, a, platform) {
            Ok((rank, kind, why)) => candidates.push((rank, a, kind, why)),
            Err(why) => rejected.push(Rejected {
                name: a.name.clone(),
                why: why.to_string(),
            }),
        }
    }
    let Some(best) = candidates.iter().map(|c| c.0).min() else {
        return Err(PickError::NoAsset {
            client,
            tag: tag.to_string(),
            platform: plat,
            seen,
        });
    };
    let mut top = Vec::new();
    for (rank, a, kind, why) in candidates {
        if rank == best {
            top.push((a, kind, why));
        } else {
            rejected.push(Rejected {
                name: a.name.clone(),
                why: format!("a {} asset is preferred over {kind}", layout.kinds[best]),
            });
        }
    }
    let (asset, kind, why) = match top.as_slice() {
        [one] => one.clone(),
        _ => {
            return Err(PickError::Ambiguous {
                client,
                tag: tag.to_string(),
                platform: plat,
                candidates: top.iter().map(|t| t.0.name.clone()).collect(),
                seen,
            });
        }
    };

    let notes = libc_notes(layout, asset, platform, tag)?;
    let checksum = checksum_of(layout, asset, assets).map_err(|missing| PickError::NoChecksum {
        client,
        tag: tag.to_string(),
        platform: plat,
        asset: asset.name.clone(),
        missing,
        seen,
    })?;
    let signature = signature_of(layout, asset, assets);

    Ok(Pick {
        asset: asset.name.clone(),
        url: asset.browser_download_url.clone(),
        kind,
        binary_path: Some(comp.binary.replace("{stem}", kind.stem(&asset.name))),
        checksum,
        signature,
        why,
        notes,
        rejected,
    })
}

/// Notes on the host's libc against what the build needs; a glibc build on musl is refused.
fn libc_notes(
    layout: &ClientLayout,
    asset: &Asset,
    platform: &Platform,
    tag: &str,
) -> Result<Vec<String>, PickError> {
    let mut notes = Vec::new();
    match (layout.libc, &platform.libc) {
        (LibcNeed::Glibc, Libc::Musl { .. }) => {
            return Err(PickError::Libc {
                client: layout.client,
                tag: tag.to_string(),
                platform: platform.os_arch(),
                asset: asset.name.clone(),
                libc: platform.libc.to_string(),
            });
        }
        (LibcNeed::Glibc, Libc::Unknown) => {
            notes.push("this build needs glibc; the host's libc was not detected".to_string());
        }
        (LibcNeed::Unknown, Libc::Musl { .. }) => {
            notes
                .push("the host runs musl; whether this build runs there is not known".to_string());
        }
        _ => {}
    }
    if !layout.notes.is_empty() {
        notes.push(layout.notes.to_string());
    }
    Ok(notes)
}

/// Where the asset's SHA-256 comes from: the forge's digest, else the client's checksum file
/// among the release's assets; `Err` says what is missing.
fn checksum_of(layout: &ClientLayout, asset: &Asset, assets: &[Asset]) -> Result<Checksum, String> {
    let client = layout.client;
    if let Some(sha256) = asset.sha256() {
        return Ok(Checksum::ForgeDigest { sha256 });
    }
    match layout.checksum {
        ChecksumSource::Sidecar { suffix } => {
            let want = format!("{}{suffix}", asset.name);
            match assets.iter().find(|a| a.name == want) {
                Some(s) => Ok(Checksum::Sidecar {
                    asset: s.name.clone(),
                    url: s.browser_download_url.clone(),
                }),
                None => Err(format!("no forge digest and no {want} asset")),
            }
        }
        ChecksumSource::SumsFile { names } => {
            match assets
                .iter()
                .find(|a| names.iter().any(|n| a.name.eq_ignore_ascii_case(n)))
            {
                Some(s) => Ok(Checksum::SumsFile {
                    asset: s.name.clone(),
                    url: s.browser_download_url.clone(),
                }),
                None => Err(format!(
                    "no forge digest and no sums file ({})",
                    names.join(", ")
                )),
            }
        }
        ChecksumSource::ForgeDigest => Err(format!(
            "the feed carries no digest for it and {client} publishes no checksum file"
        )),
        ChecksumSource::NoneKnown => Err(format!(
            "the feed carries no digest for it and {client} publishes no checksum"
        )),
    }
}

/// The detached signature published beside the asset, if the client publishes one.
fn signature_of(layout: &ClientLayout, asset: &Asset, assets: &[Asset]) -> Signature {
    match layout.signature {
        SignatureSource::Detached {
            suffix,
            armored,
            signer,
            fingerprint,
        } => {
            let expected = format!("{}{suffix}", asset.name);
            match assets.iter().find(|a| a.name == expected) {
                Some(s) => Signature::Detached {
                    asset: s.name.clone(),
                    url: s.browser_download_url.clone(),
                    armored,
                    signer,
                    fingerprint,
                },
                None => Signature::Missing {
                    expected,
                    signer,
                    fingerprint,
                },
            }
        }
        SignatureSource::NonePublished => Signature::NonePublished,
    }
}

/// Why one asset does not fit a component on a platform (shown as `Rejected::why`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unfit {
    #[error("a checksum or signature file")]
    Sidecar,
    #[error("not the {client} {component} (its name does not start with `{prefix}`)")]
    Prefix {
        client: String,
        component: String,
        prefix: String,
    },
    #[error("excluded for {client}: contains `{token}`")]
    Excluded { client: String, token: String },
    #[error("built for another OS (`{0}`)")]
    ForeignOs(String),
    #[error("a package or installer, not an archive")]
    NotArchive,
    #[error("nodeherd takes {client} as {takes}, not {kind}")]
    Kind {
        client: String,
        takes: String,
        kind: ArchiveKind,
    },
    #[error("nodeherd installs on Linux only, the host is {0}")]
    NotLinux(String),
    #[error("no Linux token ({0})")]
    NoLinuxToken(String),
    #[error("not built for {0}")]
    Arch(String),
}

/// Whether one asset fits: `Ok((preference rank, kind, why))` or `Err(why not)`.
fn judge(
    layout: &ClientLayout,
    comp: &ComponentLayout,
    a: &Asset,
    platform: &Platform,
) -> Result<(usize, ArchiveKind, String), Unfit> {
    let n = a.name.to_ascii_lowercase();
    if is_sidecar(&n) {
        return Err(Unfit::Sidecar);
    }
    if !n.starts_with(&comp.prefix.to_ascii_lowercase()) {
        return Err(Unfit::Prefix {
            client: layout.client.to_string(),
            component: comp.component.to_string(),
            prefix: comp.prefix.to_string(),
        });
    }
    if let Some(x) = layout.exclude.iter().find(|x| n.contains(*x)) {
        return Err(Unfit::Excluded {
            client: layout.client.to_string(),
            token: x.to_string(),
        });
    }
    if let Some(os) = FOREIGN_OS.iter().find(|t| has_token(&n, t)) {
        return Err(Unfit::ForeignOs(os.to_string()));
    }
    let kind = ArchiveKind::of(&a.name).ok_or(Unfit::NotArchive)?;
    let rank = layout
        .kinds
        .iter()
        .position(|k| *k == kind)
        .ok_or_else(|| {
            let kinds: Vec<String> = layout.kinds.iter().map(ToString::to_string).collect();
            Unfit::Kind {
                client: layout.client.to_string(),
                takes: kinds.join(" or "),
                kind,
            }
        })?;
    let why = match layout.cpu {
        CpuRule::Independent { runtime } => {
            if platform.os != Os::Linux {
                return Err(Unfit::NotLinux(platform.os.to_string()));
            }
            format!(
                "`{}`: {kind}, architecture-independent, needs a {runtime} runtime on the host",
                a.name
            )
        }
        CpuRule::Tokens { x86_64, aarch64 } => {
            if platform.os != Os::Linux {
                return Err(Unfit::NotLinux(platform.os.to_string()));
            }
            let Some(os) = layout.os_tokens.iter().find(|t| has_token(&n, t)) else {
                return Err(Unfit::NoLinuxToken(layout.os_tokens.join(", ")));
            };
            let wanted: &[&str] = match platform.arch {
                Arch::X86_64 => x86_64,
                Arch::Aarch64 => aarch64,
                Arch::Other(_) => &[],
            };
            let Some(cpu) = wanted.iter().find(|t| has_token(&n, t)) else {
                return Err(Unfit::Arch(platform.arch.to_string()));
            };
            format!(
                "`{}`: starts with `{}`, OS token `{os}`, CPU token `{cpu}`, {kind}",
                a.name, comp.prefix
            )
        }
    };
    Ok((rank, kind, why))
}

/// The SHA-256 for `asset` in a `.sha256` sidecar or sums file: lines `<hex>  <name>`,
/// `<hex> *<name>` (a directory before the name is ignored), or one bare `<hex>`.
pub fn parse_sha256_file(text: &str, asset: &str) -> Option<String> {
    let hex_ok = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if let [only] = lines.as_slice() {
        if hex_ok(only) {
            return Some(only.to_ascii_lowercase());
        }
    }
    lines.iter().find_map(|l| {
        let mut it = l.split_whitespace();
        let hex = it.next()?;
        let name = it.next()?.trim_start_matches('*');
        let base = name.rsplit('/').next().unwrap_or(name);
        (hex_ok(hex) && base == asset && it.next().is_none()).then(|| hex.to_ascii_lowercase())
    })
}
