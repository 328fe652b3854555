//! What an operator is told about a pick: where its checksum comes from, and what is (and is
//! not) done with the publisher's signature.
//!
//! Owns: those texts, shared by `releases`, the upgrade plan and the docs' wording. May not
//! touch: the choice itself (the parent module).

use super::{Checksum, Pick, Signature};

/// Why a published signature is not checked (shown beside every pick that has one).
pub const SIGNATURES_NOT_VERIFIED: &str = "nodeherd keeps no release keys and links no OpenPGP \
verifier yet; the SHA-256 is verified instead";

impl Checksum {
    /// `sha256 from the feed's digest`, `<asset>.sha256 (per-asset file)`, `SHA256SUMS (sums file)`.
    pub fn describe(&self) -> String {
        match self {
            Checksum::ForgeDigest { .. } => "the feed's asset digest (sha256)".to_string(),
            Checksum::Sidecar { asset, .. } => format!("{asset} (per-asset sha256 file)"),
            Checksum::SumsFile { asset, .. } => format!("{asset} (release sums file)"),
        }
    }
}

impl Signature {
    /// What happens with the publisher's signature, never claiming a check that is not done.
    pub fn describe(&self) -> String {
        match self {
            Signature::Detached {
                asset,
                signer,
                fingerprint,
                ..
            } => format!(
                "signature published ({asset}, {signer} {fingerprint}) but not verified: {SIGNATURES_NOT_VERIFIED}"
            ),
            Signature::Missing {
                expected,
                signer,
                fingerprint,
            } => format!(
                "{signer} ({fingerprint}) signs releases, but this one lists no {expected}; not verified"
            ),
            Signature::NonePublished => "none published".to_string(),
        }
    }
}

impl Pick {
    /// The name `current/` exposes the program under: the last part of [`Pick::binary_path`]
    /// (`teku-24.1.0/bin/teku` is linked as `teku` at the release's top).
    pub fn exposed(&self) -> Option<&str> {
        let b = self.binary_path.as_deref()?;
        b.rsplit('/').next().filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use crate::facts::platform::{Arch, Libc, Os, Platform};
    use crate::inventory::ClientKind;
    use crate::releases::assets::{Component, pick};
    use crate::releases::feed::Asset;

    fn a(name: &str, digest: bool) -> Asset {
        Asset {
            name: name.into(),
            size: 1,
            digest: digest.then(|| format!("sha256:{}", "cd".repeat(32))),
            browser_download_url: format!("http://x/{name}"),
        }
    }

    #[test]
    fn descriptions_name_sources_and_never_claim_a_verification() {
        let x86 = Platform::new(Os::Linux, Arch::X86_64, Libc::Unknown);
        let assets = [
            a("teku-24.1.0.tar.gz", false),
            a("teku-24.1.0.tar.gz.sha256", false),
        ];
        let p = pick(ClientKind::Teku, Component::Node, "24.1.0", &assets, &x86).unwrap();
        assert_eq!(
            p.checksum.describe(),
            "teku-24.1.0.tar.gz.sha256 (per-asset sha256 file)"
        );
        assert_eq!(p.exposed(), Some("teku"));
        assert_eq!(p.signature.describe(), "none published");
        let assets = [
            a("lighthouse-v5.3.0-x86_64-unknown-linux-gnu.tar.gz", true),
            a(
                "lighthouse-v5.3.0-x86_64-unknown-linux-gnu.tar.gz.asc",
                false,
            ),
        ];
        let p = pick(
            ClientKind::Lighthouse,
            Component::Node,
            "v5.3.0",
            &assets,
            &x86,
        )
        .unwrap();
        let s = p.signature.describe();
        assert!(s.starts_with("signature published (lighthouse-v5.3.0-x86_64-unknown-linux-gnu.tar.gz.asc, Sigma Prime"), "{s}");
        assert!(s.contains("but not verified"), "{s}");
        assert_eq!(p.checksum.describe(), "the feed's asset digest (sha256)");
        assert_eq!(p.exposed(), Some("lighthouse"));
    }
}
