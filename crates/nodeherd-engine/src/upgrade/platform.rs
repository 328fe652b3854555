//! Each host's platform for a run: probed once over SSH (`core::facts::platform`'s command),
//! cached by host name for the run, and checked against the inventory's declaration.
//!
//! Owns: the per-run cache ([`Platforms`]) and the refusal texts. May not touch: choosing assets
//! (that is `core::releases::assets`) or changing anything on a host (the probe only reads).

use nodeherd_core::facts::platform::{self, Libc, Platform, PlatformError};
use nodeherd_core::inventory::Host;
use nodeherd_transport::ssh::Session;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Where the platform a pick uses came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Probed on the host (`uname -sm`, `ldd --version`).
    Detected,
    /// The inventory's `platform`, found to agree with the probe.
    DeclaredAndChecked,
}

/// A host's platform for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub platform: Platform,
    pub source: Source,
}

impl Resolved {
    /// `linux/x86_64 (glibc 2.36), detected` / `linux/aarch64, declared in the inventory and
    /// checked on the host`.
    pub fn describe(&self) -> String {
        match self.source {
            Source::Detected => format!("{}, detected", self.platform),
            Source::DeclaredAndChecked => format!(
                "{}, declared in the inventory and checked on the host",
                self.platform
            ),
        }
    }
}

/// Why a host's platform cannot be used; nothing was changed on the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformRefusal {
    #[error("cannot probe the host's platform: {0}")]
    Link(String),
    #[error("cannot read the host's platform: {0}")]
    Unreadable(PlatformError),
    /// The inventory says one thing, the host another: both are named.
    #[error("host {host}: {error}; fix `platform` in the inventory or check the host")]
    Mismatch { host: String, error: PlatformError },
}

impl PlatformRefusal {
    /// A lost link is a failure; the rest are refusals of a node that cannot be served.
    pub fn is_link(&self) -> bool {
        matches!(self, PlatformRefusal::Link(_))
    }
}

type Cell = Arc<OnceCell<Result<Resolved, PlatformRefusal>>>;

/// The platforms of one run, probed at most once per host.
#[derive(Debug, Default)]
pub struct Platforms {
    cells: Mutex<HashMap<String, Cell>>,
}

impl Platforms {
    /// The platform of `host`: probed on first use through `session`, then from the cache.
    pub async fn resolve(
        &self,
        session: &Session,
        host: &Host,
    ) -> Result<Resolved, PlatformRefusal> {
        let cell = {
            let mut cells = self
                .cells
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cells.entry(host.name.clone()).or_default().clone()
        };
        cell.get_or_init(|| probe(session, host)).await.clone()
    }
}

async fn probe(session: &Session, host: &Host) -> Result<Resolved, PlatformRefusal> {
    let out = session
        .exec(&platform::platform_command())
        .await
        .map_err(|e| PlatformRefusal::Link(e.to_string().lines().next().unwrap_or("").into()))?;
    let detected =
        platform::parse_platform(&out.stdout_str()).map_err(PlatformRefusal::Unreadable)?;
    resolve_with(host, detected)
}

/// The declared platform wins (libc filled from the probe when the declaration names none)
/// once it agrees with the detected one.
pub fn resolve_with(host: &Host, detected: Platform) -> Result<Resolved, PlatformRefusal> {
    let Some(declared) = &host.platform else {
        return Ok(Resolved {
            platform: detected,
            source: Source::Detected,
        });
    };
    platform::check_declared(declared, &detected).map_err(|error| PlatformRefusal::Mismatch {
        host: host.name.clone(),
        error,
    })?;
    let mut platform = declared.clone();
    if platform.libc == Libc::Unknown {
        platform.libc = detected.libc;
    }
    Ok(Resolved {
        platform,
        source: Source::DeclaredAndChecked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{FakeRemote, Match, Reply};
    use nodeherd_core::inventory::Inventory;
    use std::path::PathBuf;

    pub(crate) const X86_64: &str = "@@nodeherd:uname\nLinux x86_64\n@@nodeherd:libc\nldd (Debian GLIBC 2.36-9+deb12u14) 2.36\n@@nodeherd:end\n";

    fn host(declared: Option<&str>) -> Host {
        let p = declared.map_or(String::new(), |d| format!("platform = \"{d}\"\n"));
        let text = format!("[hosts.h1]\naddress = \"192.0.2.1\"\n{p}");
        let inv = Inventory::from_sources(vec![(PathBuf::from("/t/h.toml"), text)])
            .unwrap_or_else(|e| panic!("{e:?}"));
        inv.hosts[0].clone()
    }

    #[tokio::test]
    async fn probed_once_per_host_and_cached() {
        let f = FakeRemote::named("h1");
        f.on(Match::contains("uname -sm"), Reply::ok(X86_64));
        let p = Platforms::default();
        let h = host(None);
        let a = p.resolve(&f.session(), &h).await.unwrap();
        let b = p.resolve(&f.session(), &h).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a.platform.os_arch(), "linux/x86_64");
        assert_eq!(a.source, Source::Detected);
        assert_eq!(f.ran("uname -sm"), 1);
    }

    #[tokio::test]
    async fn a_declaration_wins_when_it_agrees_and_refuses_naming_both_when_not() {
        let f = FakeRemote::named("h1");
        f.on(Match::contains("uname -sm"), Reply::ok(X86_64));
        let ok = Platforms::default()
            .resolve(&f.session(), &host(Some("linux/amd64")))
            .await
            .unwrap();
        assert_eq!(ok.source, Source::DeclaredAndChecked);
        assert_eq!(ok.platform.to_string(), "linux/x86_64 (glibc 2.36)");
        let e = Platforms::default()
            .resolve(&f.session(), &host(Some("linux/aarch64")))
            .await
            .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("declares linux/aarch64"), "{s}");
        assert!(s.contains("reports linux/x86_64 (glibc 2.36)"), "{s}");
        assert!(!e.is_link());
    }

    #[tokio::test]
    async fn an_unreadable_probe_is_a_refusal() {
        let f = FakeRemote::named("h1");
        f.on(
            Match::contains("uname -sm"),
            Reply::ok("sh: uname: not found\n"),
        );
        let e = Platforms::default()
            .resolve(&f.session(), &host(None))
            .await
            .unwrap_err();
        assert!(matches!(e, PlatformRefusal::Unreadable(_)), "{e}");
    }
}
