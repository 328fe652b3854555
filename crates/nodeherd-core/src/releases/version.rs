//! Tag normalisation: release tags as projects write them -> semver versions that sort right.
//!
//! May not touch: anything but the tags and versions it is given.

use semver::Version;

/// Turn a release tag into a version: `v1.2.3`, `1.2.3`, `lodestar@1.2.3`, `nimbus/v24.1.0`,
/// `v1.14.11-stable` (a release, not a pre-release), `v2.0.0-rc.1` (a pre-release), `1.2` (-> 1.2.0),
/// Substrate's `polkadot-stable2409` (-> 2409.0.0), `polkadot-stable2409-2` (-> 2409.2.0) and
/// `polkadot-v1.16.0` (-> 1.16.0).
pub fn normalize_tag(tag: &str) -> Option<Version> {
    let mut t = tag.trim();
    if let Some((_, rest)) = t.rsplit_once('@') {
        t = rest;
    }
    if let Some((_, rest)) = t.rsplit_once('/') {
        t = rest;
    }
    // Some projects put a name before the version: "gaia v15.0.0".
    if let Some((_, rest)) = t.rsplit_once(' ') {
        t = rest;
    }
    if let Some(v) = polkadot_stable(t) {
        return Some(v);
    }
    // polkadot-sdk's older node tags: "polkadot-v1.16.0"
    let t = t.strip_prefix("polkadot-").unwrap_or(t);
    let t = t
        .strip_prefix('v')
        .or_else(|| t.strip_prefix('V'))
        .unwrap_or(t);
    // "-stable" marks a release in some projects (geth's version strings): not a pre-release.
    let t = t.strip_suffix("-stable").unwrap_or(t);
    if let Ok(v) = Version::parse(t) {
        return Some(v);
    }
    // "1.2" or "1.2-rc.1": pad the missing patch.
    let (core, pre) = match t.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (t, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    if let Some(p) = pre {
        padded.push('-');
        padded.push_str(p);
    }
    Version::parse(&padded).ok()
}

/// polkadot-sdk's stable releases: `polkadot-stableYYMM`, patched as `polkadot-stableYYMM-N`;
/// YYMM is the major version (it grows with time), N the patch.
fn polkadot_stable(t: &str) -> Option<Version> {
    let rest = t.strip_prefix("polkadot-stable")?;
    let (yymm, patch) = match rest.split_once('-') {
        Some((a, n)) => (a, n.parse::<u64>().ok()?),
        None => (rest, 0),
    };
    if yymm.len() != 4 || !yymm.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Version::new(yymm.parse().ok()?, patch, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let v = |s: &str| normalize_tag(s).map(|v| v.to_string());
        assert_eq!(v("v1.5.1").as_deref(), Some("1.5.1"));
        assert_eq!(v("1.4.2").as_deref(), Some("1.4.2"));
        assert_eq!(v("v1.14.11-stable").as_deref(), Some("1.14.11"));
        assert_eq!(v("v2.0.0-rc.1").as_deref(), Some("2.0.0-rc.1"));
        assert_eq!(v("lodestar@1.2.3").as_deref(), Some("1.2.3"));
        assert_eq!(v("nimbus/v24.1.0").as_deref(), Some("24.1.0"));
        assert_eq!(v("gaia v15.0.0").as_deref(), Some("15.0.0"));
        assert_eq!(v("v1.2").as_deref(), Some("1.2.0"));
        assert_eq!(v("nightly"), None);
        // polkadot-sdk release tags (github.com/paritytech/polkadot-sdk/releases)
        assert_eq!(v("polkadot-stable2409").as_deref(), Some("2409.0.0"));
        assert_eq!(v("polkadot-stable2409-2").as_deref(), Some("2409.2.0"));
        assert_eq!(v("polkadot-stable2412-1").as_deref(), Some("2412.1.0"));
        assert_eq!(v("polkadot-v1.16.0").as_deref(), Some("1.16.0"));
        assert_eq!(v("polkadot-stable24"), None);
        assert_eq!(v("polkadot-stable2409-x"), None);
        let mut tags = [
            "polkadot-stable2412",
            "polkadot-stable2409-2",
            "polkadot-v1.16.0",
            "polkadot-stable2409",
        ];
        tags.sort_by_key(|t| normalize_tag(t).unwrap());
        assert_eq!(
            tags,
            [
                "polkadot-v1.16.0",
                "polkadot-stable2409",
                "polkadot-stable2409-2",
                "polkadot-stable2412"
            ]
        );
        assert!(
            normalize_tag("v1.14.11-stable").unwrap() > normalize_tag("v1.14.11-rc.1").unwrap()
        );
    }
}
