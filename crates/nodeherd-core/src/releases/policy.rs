//! The upgrade policy, pure: given a feed, the running version and `now`, which version may a
//! node run, from when, and why every other release was passed over.
//!
//! May not touch: the clock (`now` comes in), the network.

use crate::releases::feed::Release;
use chrono::{DateTime, Duration, Utc};
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

/// Which releases a node follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    #[default]
    Stable,
    /// Pre-releases too.
    Prerelease,
}

/// An upgrade policy (from a playbook; defaults are conservative).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub channel: Channel,
    /// Only versions matching this requirement (e.g. `~1.5`, `=1.4.2`).
    pub pin: Option<VersionReq>,
    /// A release becomes eligible this long after `published_at`.
    pub delay: Duration,
    /// Up to this much extra delay, fixed per node, so a fleet does not upgrade at once.
    pub jitter: Duration,
    /// Versions that skip the delay (explicit allow-list for critical fixes).
    pub critical: Vec<Version>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            channel: Channel::Stable,
            pin: None,
            delay: Duration::days(14),
            jitter: Duration::zero(),
            critical: vec![],
        }
    }
}

/// Why a release was not chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Skip {
    Draft,
    Prerelease,
    OutsidePin { pin: String },
    NoPublishDate,
    TooYoung { eligible_at: DateTime<Utc> },
    NotNewer,
}

/// The policy's answer for one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The newest release the node may run now (may equal the running version).
    pub allowed: Option<Version>,
    /// The newest release the channel/pin would accept once its delay passed, and when.
    pub next: Option<(Version, DateTime<Utc>)>,
    /// Every release newer than what runs, with why it is not (yet) allowed.
    pub skipped: Vec<(Version, Skip)>,
    /// True when `allowed` is newer than the running version.
    pub upgrade: bool,
}

/// A fixed extra delay for a node in `[0, jitter)`, from a stable hash of its key ("host/node").
pub fn node_jitter(key: &str, jitter: Duration) -> Duration {
    let ms = jitter.num_milliseconds();
    if ms <= 0 {
        return Duration::zero();
    }
    // FNV-1a: stable across runs and machines (unlike std's RandomState).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Duration::milliseconds((h % ms as u64) as i64)
}

/// Decide. `releases` in any order; `running` None when unknown (then anything allowed may be installed).
pub fn evaluate(
    releases: &[Release],
    running: Option<&Version>,
    policy: &Policy,
    node_key: &str,
    now: DateTime<Utc>,
) -> Verdict {
    let mut sorted: Vec<&Release> = releases.iter().collect();
    sorted.sort_by(|a, b| b.version.cmp(&a.version));
    let extra = node_jitter(node_key, policy.jitter);
    let mut allowed: Option<Version> = None;
    let mut next: Option<(Version, DateTime<Utc>)> = None;
    let mut skipped = Vec::new();
    for r in sorted {
        let v = &r.version;
        let newer = running.is_none_or(|cur| v > cur);
        let skip = if r.feed.draft {
            Some(Skip::Draft)
        } else if (r.feed.prerelease || !v.pre.is_empty()) && policy.channel == Channel::Stable {
            Some(Skip::Prerelease)
        } else if let Some(pin) = policy.pin.as_ref().filter(|p| !p.matches(v)) {
            Some(Skip::OutsidePin {
                pin: pin.to_string(),
            })
        } else if policy.critical.contains(v) {
            None
        } else {
            match r.feed.published_at {
                None => Some(Skip::NoPublishDate),
                Some(p) => {
                    let at = p + policy.delay + extra;
                    if at > now {
                        if next.is_none() {
                            next = Some((v.clone(), at));
                        }
                        Some(Skip::TooYoung { eligible_at: at })
                    } else {
                        None
                    }
                }
            }
        };
        match skip {
            None => {
                allowed = Some(v.clone());
                break;
            }
            Some(s) if newer => skipped.push((v.clone(), s)),
            Some(_) => {}
        }
    }
    if let Some(a) = &allowed {
        if running.is_some_and(|cur| a < cur) {
            skipped.push((a.clone(), Skip::NotNewer));
        }
    }
    let upgrade = match (&allowed, running) {
        (Some(a), Some(cur)) => a > cur,
        (Some(_), None) => true,
        _ => false,
    };
    Verdict {
        allowed,
        next,
        skipped,
        upgrade,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::releases::feed::FeedRelease;

    fn rel(tag: &str, days_ago: i64, pre: bool, now: DateTime<Utc>) -> Release {
        Release {
            version: crate::releases::version::normalize_tag(tag).unwrap(),
            feed: FeedRelease {
                tag_name: tag.into(),
                name: None,
                draft: false,
                prerelease: pre,
                published_at: Some(now - Duration::days(days_ago)),
                created_at: None,
                body: None,
                html_url: None,
                assets: vec![],
            },
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn delay_holds_back_young_releases() {
        let n = now();
        let rels = vec![rel("v1.5.1", 3, false, n), rel("v1.4.2", 30, false, n)];
        let cur = Version::parse("1.4.2").unwrap();
        let v = evaluate(&rels, Some(&cur), &Policy::default(), "h/n", n);
        assert_eq!(v.allowed, Some(cur.clone()));
        assert!(!v.upgrade);
        let (nv, at) = v.next.clone().unwrap();
        assert_eq!(nv.to_string(), "1.5.1");
        assert_eq!(at, n - Duration::days(3) + Duration::days(14));
        assert!(matches!(v.skipped[0].1, Skip::TooYoung { .. }));
        // 15 days later it is eligible.
        let later = evaluate(
            &rels,
            Some(&cur),
            &Policy::default(),
            "h/n",
            n + Duration::days(12),
        );
        assert!(later.upgrade);
        assert_eq!(later.allowed.unwrap().to_string(), "1.5.1");
    }

    #[test]
    fn pin_channel_and_critical() {
        let n = now();
        let rels = vec![
            rel("v2.0.0-rc.1", 40, true, n),
            rel("v1.5.1", 1, false, n),
            rel("v1.4.2", 30, false, n),
        ];
        let cur = Version::parse("1.4.2").unwrap();
        let pinned = Policy {
            pin: Some(VersionReq::parse("=1.4.2").unwrap()),
            delay: Duration::zero(),
            ..Policy::default()
        };
        let v = evaluate(&rels, Some(&cur), &pinned, "h/n", n);
        assert!(!v.upgrade);
        assert!(
            v.skipped
                .iter()
                .any(|(_, s)| matches!(s, Skip::OutsidePin { .. }))
        );
        assert!(v.skipped.iter().any(|(_, s)| *s == Skip::Prerelease));
        let critical = Policy {
            critical: vec![Version::parse("1.5.1").unwrap()],
            ..Policy::default()
        };
        assert!(evaluate(&rels, Some(&cur), &critical, "h/n", n).upgrade);
        let pre = Policy {
            channel: Channel::Prerelease,
            ..Policy::default()
        };
        assert_eq!(
            evaluate(&rels, Some(&cur), &pre, "h/n", n)
                .allowed
                .unwrap()
                .to_string(),
            "2.0.0-rc.1"
        );
    }

    #[test]
    fn jitter_is_stable_and_bounded() {
        let j = Duration::hours(6);
        let a = node_jitter("bn-1/lodestar", j);
        assert_eq!(a, node_jitter("bn-1/lodestar", j));
        assert!(a >= Duration::zero() && a < j);
        assert_ne!(a, node_jitter("bn-2/lodestar", j));
    }
}
