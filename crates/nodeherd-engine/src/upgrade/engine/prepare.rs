//! Before anything changes on a host: connect, read the host's platform (probed once per run,
//! checked against the inventory's declaration), choose the release's asset for it
//! (`core::releases::assets::pick_for`: the client's table row, or the generic rule), and fetch
//! and verify its artifact on the console. Also the per-node asset report `releases` prints.
//!
//! Owns: that order and its refusal texts. May not touch: anything that changes a host (the
//! platform probe only reads); the choice rules themselves (core).

use super::{Artifact, NodePlan, Options, Pool, Release, Session, Status, Target};
use crate::upgrade::platform::Resolved;
use nodeherd_core::inventory::Role;
use nodeherd_core::releases::assets::{Component, Pick, PickError, pick_for};
use serde::Serialize;

/// Which program of its client a node runs.
pub fn component_of(t: &Target) -> Component {
    if t.node.role == Role::Validator {
        Component::Validator
    } else {
        Component::Node
    }
}

/// The pick for `rel` on a resolved platform (the error is built once per node, on a refusal:
/// its size does not matter).
#[allow(clippy::result_large_err)]
fn choose(t: &Target, rel: &Release, platform: &Resolved) -> Result<Pick, PickError> {
    pick_for(
        t.node.client,
        component_of(t),
        &rel.feed.tag_name,
        &rel.feed.assets,
        &platform.platform,
    )
}

/// A session and the verified artifact, ready to stage.
pub(super) struct Prepared {
    pub(super) session: Session,
    pub(super) art: Artifact,
}

/// Connect, platform, pick, artifact. An error is the outcome's status and detail; nothing was
/// changed on the host then.
pub(super) async fn prepare(
    pool: &Pool,
    t: &Target,
    rel: &Release,
    opts: &Options,
) -> Result<Prepared, (Status, String)> {
    let unchanged = "nothing was changed on the host";
    let session = pool
        .session(&t.host.target)
        .await
        .map_err(|e| (Status::Failed, e.to_string()))?;
    let platform = opts
        .platforms
        .resolve(&session, &t.host)
        .await
        .map_err(|e| {
            let st = if e.is_link() {
                Status::Failed
            } else {
                Status::Refused
            };
            (st, format!("{e}; {unchanged}"))
        })?;
    let pick =
        choose(t, rel, &platform).map_err(|e| (Status::Refused, format!("{e}; {unchanged}")))?;
    let art = opts
        .releases
        .artifact(&pick, &opts.artifact_cache)
        .await
        .map_err(|e| (Status::Refused, e.to_string()))?;
    art.stage_command(
        &t.node.install_dir.display().to_string(),
        &rel.version.to_string(),
    )
    .map_err(|e| (Status::Refused, format!("{e}; {unchanged}")))?;
    tracing::info!(
        node = t.key,
        asset = pick.asset,
        platform = platform.describe(),
        checksum = pick.checksum.describe(),
        signature = pick.signature.describe(),
        "artifact chosen and verified"
    );
    Ok(Prepared { session, art })
}

/// What a node would install and why, for `releases` (and its `--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetChoice {
    pub node: String,
    /// The release the asset is of: the planned target, else the newest allowed release.
    pub version: Option<String>,
    /// The platform used and where it came from.
    pub platform: Option<String>,
    /// The file name of the asset.
    pub asset: Option<String>,
    /// `tar.gz`, `tar.xz`, `zip`, `bare binary`.
    pub kind: Option<String>,
    /// The program `current/` exposes (`current/<name>`), when the table names one.
    pub exposes: Option<String>,
    /// The platform and the rule that matched.
    pub why: Option<String>,
    pub checksum: Option<String>,
    pub signature: Option<String>,
    pub notes: Vec<String>,
    /// Why nothing would be installed (no asset for the platform, missing checksum, ...).
    pub refused: Option<String>,
}

impl AssetChoice {
    fn empty(t: &Target, version: Option<String>) -> AssetChoice {
        AssetChoice {
            node: t.key.clone(),
            version,
            platform: None,
            asset: None,
            kind: None,
            exposes: None,
            why: None,
            checksum: None,
            signature: None,
            notes: vec![],
            refused: None,
        }
    }

    /// The report for `rel` on a resolved platform (pure).
    pub fn of(t: &Target, rel: &Release, platform: &Resolved) -> AssetChoice {
        let mut c = AssetChoice::empty(t, Some(rel.version.to_string()));
        c.platform = Some(platform.describe());
        match choose(t, rel, platform) {
            Ok(p) => {
                c.exposes = p.exposed().map(|e| format!("current/{e}"));
                c.why = Some(format!("{}: {}", platform.platform.os_arch(), p.why));
                c.checksum = Some(p.checksum.describe());
                c.signature = Some(p.signature.describe());
                c.kind = Some(p.kind.to_string());
                c.asset = Some(p.asset);
                c.notes = p.notes;
            }
            Err(e) => c.refused = Some(e.to_string()),
        }
        c
    }
}

/// Per target, the asset its plan would install (`plans` in the same order): the host's
/// platform is probed once per host (read only).
pub async fn choose_assets(
    pool: &Pool,
    targets: &[Target],
    plans: &[NodePlan],
    opts: &Options,
) -> Vec<AssetChoice> {
    let items: Vec<usize> = (0..targets.len().min(plans.len())).collect();
    let res = crate::fleet::run_all(items, 10, |i| {
        let (t, p) = (&targets[i], &plans[i]);
        async move {
            let Some(rel) = p.release.as_ref().or(p.candidate.as_ref()) else {
                let mut c = AssetChoice::empty(t, None);
                c.refused = Some("no release to install".into());
                return c;
            };
            let platform = match pool.session(&t.host.target).await {
                Ok(s) => opts.platforms.resolve(&s, &t.host).await,
                Err(e) => Err(crate::upgrade::platform::PlatformRefusal::Link(
                    e.to_string(),
                )),
            };
            match platform {
                Ok(pl) => AssetChoice::of(t, rel, &pl),
                Err(e) => {
                    let mut c = AssetChoice::empty(t, Some(rel.version.to_string()));
                    c.refused = Some(e.to_string());
                    c
                }
            }
        }
    })
    .await;
    res.into_iter().map(|(_, c)| c).collect()
}
