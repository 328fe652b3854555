//! Releases, upgrades and rollbacks of managed nodes: delayed, verified, duty-aware,
//! health-gated and reversible.
//!
//! Owns: the pure planner ([`plan`]), the on-host layout and scripts ([`host`]), artifacts on the
//! console ([`artifact`]), the channel-tied host lock ([`lock`]), the health gate ([`health`]),
//! the safe window ([`duty`]), the journals ([`journal`]), the rollout order ([`rollout`]), the
//! progress events of long work ([`progress`]) and the engine that runs them ([`engine`]). May not touch: the terminal (the CLI prints), the inventory format, the feed
//! format (see `releases`).

pub mod artifact;
pub mod duty;
pub mod engine;
pub mod health;
pub mod lock;
pub mod platform;
pub mod progress;
pub mod rollout;

#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod prepare_tests;
#[cfg(test)]
mod progress_tests;
#[cfg(test)]
mod quiet_tests;
#[cfg(test)]
mod settle_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_kinds;
