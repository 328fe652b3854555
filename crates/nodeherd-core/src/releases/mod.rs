//! Client releases: reading release feeds and deciding which version a node may run.
//!
//! Owns: the GitHub-shaped feed format, tag normalisation to semver, and the pure upgrade policy
//! (channel, pin, delay from `published_at`, per-node jitter, critical allow-list).
//! May not touch: SSH or the managed hosts (upgrading is another module's job), the clock
//! (callers pass `now`).

pub mod assets;
pub mod feed;
pub mod policy;
pub mod version;
