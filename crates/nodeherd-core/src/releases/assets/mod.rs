//! Choosing the release asset a host must install: which file of a release is the client for
//! this host's OS, CPU and libc, which checksum proves it and which signature comes with it.
//!
//! Owns: the layout types ([`ClientLayout`] and its parts), the per-client data in
//! [`table::TABLE`], and the pure choice [`pick`] / [`pick_with`] returning a [`Pick`] or a
//! [`PickError`] that names the platform and every asset seen. Also [`parse_sha256_file`] for
//! per-asset `.sha256` sidecars, [`pick_for`] (the table, or the generic rule for clients
//! without a row) and the operator-facing descriptions of a pick's checksum and signature.
//! May not touch: the network, the artifact cache, the hosts (the engine downloads, verifies and
//! installs what a [`Pick`] names), the feed format (`releases::feed`, read only).
//!
//! # Adding a client to the table
//!
//! 1. Record what its releases really publish in `tests/fixtures/releases/<client>.json`, the
//!    way the other files do: every asset name with a `role` (`archive`/`binary` for the right
//!    pick, `checksum`, `signature`, `decoy:*` for everything a naive picker could take), and
//!    `listed_in` (seen in a real listing) or `reconstructed_from` (derived from the release
//!    workflow: never present such a name as observed). Cite the sources in its README.
//! 2. Add one [`ClientLayout`] row to [`table::TABLE`]: the asset name prefix per
//!    [`Component`], the Linux OS token, the CPU tokens as the project spells them (`x86_64`,
//!    `amd64`, `x64`; `aarch64`, `arm64`, `arm64v8`) or [`CpuRule::Independent`] for JVM
//!    distributions, the client's own exclusions (other programs sharing the prefix, alternate
//!    builds), the archive kinds in preference order, the path of the executable inside the
//!    unpacked archive (`{stem}` = the archive's name without its extension), the
//!    [`ChecksumSource`], the [`SignatureSource`] with the signer's fingerprint, and
//!    [`LibcNeed`].
//! 3. Add a test in `tests.rs` that picks the exact asset name for linux/x86_64 and
//!    linux/aarch64 from the fixture and asserts that no decoy is picked (the sweep test does the
//!    latter for every file listed in it: add the new file there).
//!
//! A client without a row is refused ([`PickError::NoLayout`]), never guessed.

mod choose;
mod describe;
mod generic;
mod table;
#[cfg(test)]
mod tests;

pub use crate::facts::platform::{Arch, Libc, Os, Platform};
use choose::{has_token, is_sidecar};
pub use choose::{parse_sha256_file, pick, pick_with};
pub use describe::SIGNATURES_NOT_VERIFIED;
pub use generic::pick_for;
pub use table::{TABLE, layout};

use crate::inventory::ClientKind;
use crate::releases::feed::Asset;
use serde::Serialize;
use std::fmt;

/// Which program of a client the asset must contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Component {
    /// The node itself: beacon node or execution client.
    Node,
    /// The validator client, where the client ships it separately or as the same binary.
    Validator,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::Node => "node",
            Component::Validator => "validator",
        })
    }
}

/// How an asset is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ArchiveKind {
    /// `.tar.gz` / `.tgz`
    TarGz,
    /// `.tar.xz`
    TarXz,
    /// `.zip`
    Zip,
    /// The asset is the executable itself (no extension).
    Bare,
}

/// Suffixes of files that are never the client: packages, installers, other platforms' formats.
const NOT_ARCHIVES: &[&str] = &[
    ".deb", ".rpm", ".exe", ".msi", ".dmg", ".pkg", ".apk", ".txt", ".json", ".md", ".pem", ".sbom",
];

/// Checksum and signature sidecars (matched on the lowercased name).
const SIDECAR_SUFFIXES: &[&str] = &[
    ".asc",
    ".sig",
    ".sha256",
    ".sha512",
    ".sha256sum",
    ".sha512sum",
    ".md5",
    ".sha256.txt",
];
const SUMS_WORDS: &[&str] = &["sha256sums", "sha512sums", "checksums"];

/// OS tokens that mark a build for another OS.
const FOREIGN_OS: &[&str] = &[
    "darwin", "apple", "macos", "osx", "windows", "win32", "win64", "freebsd", "android",
];

impl ArchiveKind {
    /// The kind a name denotes, or None for packages, installers and other non-archives.
    pub fn of(name: &str) -> Option<ArchiveKind> {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".tar.gz") || n.ends_with(".tgz") {
            Some(ArchiveKind::TarGz)
        } else if n.ends_with(".tar.xz") {
            Some(ArchiveKind::TarXz)
        } else if n.ends_with(".zip") {
            Some(ArchiveKind::Zip)
        } else if NOT_ARCHIVES.iter().any(|s| n.ends_with(s)) || is_sidecar(&n) {
            None
        } else {
            Some(ArchiveKind::Bare)
        }
    }

    /// The name without the archive extension (the top directory of Gradle, Nimbus and geth
    /// archives is named so).
    pub fn stem(self, name: &str) -> &str {
        let cut = match self {
            ArchiveKind::TarGz if name.to_ascii_lowercase().ends_with(".tgz") => 4,
            ArchiveKind::TarGz | ArchiveKind::TarXz => 7,
            ArchiveKind::Zip => 4,
            ArchiveKind::Bare => 0,
        };
        name.get(..name.len().saturating_sub(cut)).unwrap_or(name)
    }
}

impl fmt::Display for ArchiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::TarXz => "tar.xz",
            ArchiveKind::Zip => "zip",
            ArchiveKind::Bare => "bare binary",
        })
    }
}

/// How the CPU shows in asset names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuRule {
    /// Word tokens (any one of them) naming each supported CPU.
    Tokens {
        x86_64: &'static [&'static str],
        aarch64: &'static [&'static str],
    },
    /// One architecture-independent distribution that needs `runtime` on the host.
    Independent { runtime: &'static str },
}

/// Where the SHA-256 of the asset comes from, besides the forge's `digest` (always preferred
/// when the feed carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumSource {
    /// Only the forge's per-asset `digest` (GitHub API); the client publishes no checksum file.
    ForgeDigest,
    /// A `<asset><suffix>` file next to each asset (`<hex>  <name>`).
    Sidecar { suffix: &'static str },
    /// One sums file for the release (`SHA256SUMS`: `<hex>  <name>` lines).
    SumsFile { names: &'static [&'static str] },
    /// Nothing known: only a feed that carries a `digest` can make this client installable.
    NoneKnown,
}

/// What the publisher signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureSource {
    /// A detached OpenPGP signature `<asset><suffix>` by the key with this fingerprint.
    Detached {
        suffix: &'static str,
        armored: bool,
        signer: &'static str,
        fingerprint: &'static str,
    },
    NonePublished,
}

/// What the build needs from the host's C library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibcNeed {
    /// Built against glibc (a `-gnu` triple, .NET's `linux-x64`): refused on musl.
    Glibc,
    /// No native code of its own (JVM).
    Any,
    /// The sources do not say.
    Unknown,
}

/// One program of a client: the asset name prefix and the executable inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentLayout {
    pub component: Component,
    /// The asset name starts with this (case-insensitive).
    pub prefix: &'static str,
    /// The executable `current/` must expose, relative to the unpacked archive; `{stem}` is the
    /// archive name without extension. For a bare binary: the name to install it under.
    pub binary: &'static str,
}

/// How one client publishes releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLayout {
    pub client: ClientKind,
    pub repo: &'static str,
    pub components: &'static [ComponentLayout],
    /// Tokens naming Linux in the asset names (empty for architecture-independent builds).
    pub os_tokens: &'static [&'static str],
    pub cpu: CpuRule,
    /// Substrings that disqualify an asset that otherwise fits (other programs, alternate builds).
    pub exclude: &'static [&'static str],
    /// Accepted kinds, preferred first.
    pub kinds: &'static [ArchiveKind],
    pub checksum: ChecksumSource,
    pub signature: SignatureSource,
    pub libc: LibcNeed,
    /// What an operator should know about these builds.
    pub notes: &'static str,
}

/// How the chosen asset will be verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Checksum {
    /// The forge's `digest` of the asset, lowercase hex.
    ForgeDigest { sha256: String },
    /// A per-asset sidecar to download and read with [`parse_sha256_file`].
    Sidecar { asset: String, url: String },
    /// A release-wide sums file to download and search for the asset's name.
    SumsFile { asset: String, url: String },
}

/// The signature that comes with the chosen asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Signature {
    Detached {
        asset: String,
        url: String,
        armored: bool,
        signer: &'static str,
        fingerprint: &'static str,
    },
    /// The publisher signs, but this release lists no `expected` file.
    Missing {
        expected: String,
        signer: &'static str,
        fingerprint: &'static str,
    },
    NonePublished,
}

/// An asset refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub name: String,
    pub why: String,
}

/// The asset to install on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pick {
    pub asset: String,
    pub url: String,
    pub kind: ArchiveKind,
    /// The executable `current/` must expose (relative to the unpacked archive); None when no
    /// table row names one (the generic rule: the unit says what it runs inside `current/`).
    pub binary_path: Option<String>,
    pub checksum: Checksum,
    pub signature: Signature,
    /// Why this asset: the rule that matched.
    pub why: String,
    /// Caveats for the operator (CPU level, runtime, unknown libc).
    pub notes: Vec<String>,
    /// Every other asset of the release with the reason it was not taken.
    pub rejected: Vec<Rejected>,
}

fn seen_list(seen: &[String]) -> String {
    if seen.is_empty() {
        "(none)".to_string()
    } else {
        seen.join(", ")
    }
}

/// Why no asset can be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    #[error(
        "nodeherd does not know how {client} publishes releases (no row in releases::assets::TABLE); add one, see the module doc"
    )]
    NoLayout { client: ClientKind },
    #[error("{client} has no {component} program in the release layout table")]
    NoComponent {
        client: ClientKind,
        component: Component,
    },
    #[error("no asset of {client} {tag} for {platform}; assets seen: {}", seen_list(.seen))]
    NoAsset {
        client: ClientKind,
        tag: String,
        platform: String,
        seen: Vec<String>,
    },
    #[error(
        "more than one asset of {client} {tag} fits {platform}: {}; refusing to guess; assets seen: {}",
        .candidates.join(", "), seen_list(.seen)
    )]
    Ambiguous {
        client: ClientKind,
        tag: String,
        platform: String,
        candidates: Vec<String>,
        seen: Vec<String>,
    },
    #[error("{asset} ({client} {tag}) is built for glibc; the host {platform} runs {libc}")]
    Libc {
        client: ClientKind,
        tag: String,
        platform: String,
        asset: String,
        libc: String,
    },
    #[error(
        "no checksum for {asset} ({client} {tag}, {platform}): {missing}; refusing an unverified artifact; assets seen: {}",
        seen_list(.seen)
    )]
    NoChecksum {
        client: ClientKind,
        tag: String,
        platform: String,
        /// The asset that would otherwise have been chosen.
        asset: String,
        missing: String,
        seen: Vec<String>,
    },
}
