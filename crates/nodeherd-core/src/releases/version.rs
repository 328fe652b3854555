//! Tag normalisation: release tags as projects write them -> semver versions that sort right.
//!
//! May not touch: anything but the tags and versions it is given.

use semver::Version;

/// Turn a release tag into a version: `v1.2.3`, `1.2.3`, `lodestar@1.2.3`, `nimbus/v24.1.0`,
/// `v1.14.11-stable` (a release, not a pre-release), `v2.0.0-rc.1` (a pre-release), `1.2` (-> 1.2.0).
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
        assert!(
            normalize_tag("v1.14.11-stable").unwrap() > normalize_tag("v1.14.11-rc.1").unwrap()
        );
    }
}
