//! Reconciling the fleet with declared state: `nodeherd plan` and `nodeherd apply`.
//!
//! Owns: declared state (`desired`), the pure planner (`plan`), and running a plan (`apply`).
//! May not touch: SSH directly (it goes through `ops` and `upgrade`), output formats.

pub mod lock;
pub mod run;

#[cfg(test)]
mod run_tests;
