//! The release layout table: for each client, how its published assets are named and what
//! comes with them, as data. Facts and their sources are in `tests/fixtures/releases/README.md`.
//!
//! Owns: [`TABLE`] and [`layout`]. May not touch: anything but constants (the matching rules
//! that read this table live in the parent module).
//!
//! Only Linux tokens are listed: nodeherd manages Linux hosts. Tokens are matched
//! case-insensitively on word boundaries (`-`, `_`, `.`, start, end), so `arm64` does not match
//! Nimbus' `arm64v8` and `x86_64` does match `x86_64-unknown-linux-gnu`.

use super::{
    ArchiveKind, ChecksumSource, ClientLayout, Component, ComponentLayout, CpuRule, LibcNeed,
    SignatureSource,
};
use crate::inventory::ClientKind;

/// Clients whose validator client is the same binary as the node (`lighthouse vc`, ...).
const fn node_and_vc_same(prefix: &'static str, binary: &'static str) -> [ComponentLayout; 2] {
    [
        ComponentLayout {
            component: Component::Node,
            prefix,
            binary,
        },
        ComponentLayout {
            component: Component::Validator,
            prefix,
            binary,
        },
    ]
}

const LIGHTHOUSE_C: [ComponentLayout; 2] = node_and_vc_same("lighthouse-", "lighthouse");
const LODESTAR_C: [ComponentLayout; 2] = node_and_vc_same("lodestar-", "lodestar");
const TEKU_C: [ComponentLayout; 2] = node_and_vc_same("teku-", "{stem}/bin/teku");
const RETH_C: [ComponentLayout; 1] = [ComponentLayout {
    component: Component::Node,
    prefix: "reth-",
    binary: "reth",
}];
const BESU_C: [ComponentLayout; 1] = [ComponentLayout {
    component: Component::Node,
    prefix: "besu-",
    binary: "{stem}/bin/besu",
}];
const NETHERMIND_C: [ComponentLayout; 1] = [ComponentLayout {
    component: Component::Node,
    prefix: "nethermind-",
    binary: "nethermind",
}];
const GETH_C: [ComponentLayout; 1] = [ComponentLayout {
    component: Component::Node,
    prefix: "geth-",
    binary: "{stem}/geth",
}];
const PRYSM_C: [ComponentLayout; 2] = [
    ComponentLayout {
        component: Component::Node,
        prefix: "beacon-chain-",
        binary: "beacon-chain",
    },
    ComponentLayout {
        component: Component::Validator,
        prefix: "validator-",
        binary: "validator",
    },
];
const NIMBUS_C: [ComponentLayout; 2] = [
    ComponentLayout {
        component: Component::Node,
        prefix: "nimbus-eth2_",
        binary: "{stem}/build/nimbus_beacon_node",
    },
    ComponentLayout {
        component: Component::Validator,
        prefix: "nimbus-eth2_",
        binary: "{stem}/build/nimbus_validator_client",
    },
];

const LINUX: &[&str] = &["linux"];

/// One row per client kind nodeherd can upgrade from published release assets.
pub const TABLE: &[ClientLayout] = &[
    ClientLayout {
        client: ClientKind::Lighthouse,
        repo: "sigp/lighthouse",
        components: &LIGHTHOUSE_C,
        os_tokens: LINUX,
        cpu: CpuRule::Tokens {
            x86_64: &["x86_64"],
            aarch64: &["aarch64"],
        },
        // v5-era releases carried byte-identical `-portable` copies; the plain name is the pick.
        exclude: &["portable"],
        kinds: &[ArchiveKind::TarGz],
        checksum: ChecksumSource::ForgeDigest,
        signature: SignatureSource::Detached {
            suffix: ".asc",
            armored: true,
            signer: "Sigma Prime",
            fingerprint: "15E66D941F697E28F49381F426416DC3F30674B0",
        },
        libc: LibcNeed::Glibc,
        notes: "`<tag>-<rust triple>`: the `-unknown-linux-gnu` builds need glibc",
    },
    ClientLayout {
        client: ClientKind::Reth,
        repo: "paradigmxyz/reth",
        components: &RETH_C,
        os_tokens: LINUX,
        cpu: CpuRule::Tokens {
            x86_64: &["x86_64"],
            aarch64: &["aarch64"],
        },
        // `op-reth-*` (until 2026-02) fails the `reth-` prefix; the reproducible tarball holds
        // a differently named binary and the `.deb` is a package, not an archive.
        exclude: &["reproducible", "op-reth"],
        kinds: &[ArchiveKind::TarGz],
        checksum: ChecksumSource::ForgeDigest,
        signature: SignatureSource::Detached {
            suffix: ".asc",
            armored: true,
            signer: "Paradigm (reth release key)",
            fingerprint: "50FB7CC55B2E8AFA59FE03B7AA5ED56A7FBF253E",
        },
        libc: LibcNeed::Glibc,
        notes: "the x86_64 build is compiled with -C target-cpu=x86-64-v3 (needs AVX2); \
                older CPUs need the reproducible build, which nodeherd does not pick",
    },
    ClientLayout {
        client: ClientKind::Lodestar,
        repo: "ChainSafe/lodestar",
        components: &LODESTAR_C,
        os_tokens: LINUX,
        cpu: CpuRule::Tokens {
            x86_64: &["amd64"],
            aarch64: &["arm64"],
        },
        exclude: &[],
        kinds: &[ArchiveKind::TarGz],
        checksum: ChecksumSource::ForgeDigest,
        signature: SignatureSource::NonePublished,
        libc: LibcNeed::Unknown,
        notes: "`lodestar` is a caxa bundle (Node.js + node_modules) that unpacks itself on first run",
    },
    ClientLayout {
        client: ClientKind::Teku,
        repo: "Consensys/teku",
        components: &TEKU_C,
        os_tokens: &[],
        cpu: CpuRule::Independent { runtime: "Java" },
        exclude: &[],
        // The `.zip` is the same distribution; tar.gz keeps the start script's mode bits.
        kinds: &[ArchiveKind::TarGz],
        checksum: ChecksumSource::Sidecar { suffix: ".sha256" },
        signature: SignatureSource::NonePublished,
        libc: LibcNeed::Any,
        notes: "Gradle application distribution; the host needs a Java runtime",
    },
    ClientLayout {
        client: ClientKind::Besu,
        repo: "besu-eth/besu",
        components: &BESU_C,
        os_tokens: &[],
        cpu: CpuRule::Independent { runtime: "Java" },
        exclude: &[],
        kinds: &[ArchiveKind::TarGz],
        checksum: ChecksumSource::Sidecar { suffix: ".sha256" },
        signature: SignatureSource::NonePublished,
        libc: LibcNeed::Any,
        notes: "Gradle application distribution; the host needs a Java runtime; \
                bin/besu-untuned and bin/evmtool in the same archive are not the node",
    },
    ClientLayout {
        client: ClientKind::Prysm,
        repo: "OffchainLabs/prysm",
        components: &PRYSM_C,
        os_tokens: LINUX,
        cpu: CpuRule::Tokens {
            x86_64: &["amd64"],
            aarch64: &["arm64"],
        },
        // `beacon-chain-<tag>-modern-linux-amd64` needs newer x86 CPU features (optional build).
        exclude: &["modern"],
        kinds: &[ArchiveKind::Bare],
        checksum: ChecksumSource::Sidecar { suffix: ".sha256" },
        signature: SignatureSource::Detached {
            suffix: ".sig",
            armored: false,
            signer: "Prysmatic Labs",
            fingerprint: "0AE0051D647BA3C1A917AF4072E33E4DF1A5036E",
        },
        libc: LibcNeed::Unknown,
        notes: "bare executables, one per component: install under the component's name and chmod +x",
    },
    ClientLayout {
        client: ClientKind::Nimbus,
        repo: "status-im/nimbus-eth2",
        components: &NIMBUS_C,
        os_tokens: LINUX,
        cpu: CpuRule::Tokens {
            x86_64: &["amd64"],
            aarch64: &["arm64v8"],
        },
        exclude: &[],
        kinds: &[ArchiveKind::TarGz],
        checksum: ChecksumSource::ForgeDigest,
        signature: SignatureSource::NonePublished,
        libc: LibcNeed::Unknown,
        notes: "the SHA512 sums in the release notes and build/*.sha512sum are of the extracted \
                binaries, not of the archive; .deb/.rpm packages are not picked",
    },
    ClientLayout {
        client: ClientKind::Nethermind,
        repo: "NethermindEth/nethermind",
        components: &NETHERMIND_C,
        os_tokens: LINUX,
        cpu: CpuRule::Tokens {
            x86_64: &["x64"],
            aarch64: &["arm64"],
        },
        exclude: &[],
        kinds: &[ArchiveKind::Zip],
        checksum: ChecksumSource::ForgeDigest,
        signature: SignatureSource::Detached {
            suffix: ".asc",
            armored: true,
            signer: "Nethermind (release builds since 1.35.8)",
            fingerprint: "AD1279765093C6759CD8A40024A774616F1E617E",
        },
        libc: LibcNeed::Glibc,
        notes: "self-contained .NET publish directory zipped without a top directory; \
                member permissions must be kept (+x); .NET's linux-x64 RID is glibc",
    },
    ClientLayout {
        client: ClientKind::Geth,
        repo: "ethereum/go-ethereum",
        components: &GETH_C,
        os_tokens: LINUX,
        cpu: CpuRule::Tokens {
            x86_64: &["amd64"],
            aarch64: &["arm64"],
        },
        exclude: &["alltools", "unstable"],
        kinds: &[ArchiveKind::TarGz],
        checksum: ChecksumSource::NoneKnown,
        signature: SignatureSource::Detached {
            suffix: ".asc",
            armored: true,
            signer: "Go Ethereum Linux Builder <geth-ci@ethereum.org>",
            fingerprint: "FDE5A1A044FA13D2F7ADA019A61A13569BA28146",
        },
        libc: LibcNeed::Unknown,
        notes: "archives live on gethstore.blob.core.windows.net, not on the GitHub release; \
                the downloads page's MD5 is the blob's Content-MD5, not a published checksum",
    },
];

/// The table row of `client`, if nodeherd knows how it publishes.
pub fn layout(client: ClientKind) -> Option<&'static ClientLayout> {
    TABLE.iter().find(|l| l.client == client)
}
