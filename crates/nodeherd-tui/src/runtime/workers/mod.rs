//! The runtime's workers: tasks that do one use case of `nodeherd_engine` each and send the
//! outcome into the loop's channel as [`crate::msg::Msg`]s.
//!
//! Owns: spawning those tasks and mapping engine results to messages (errors sanitized for the
//! screen). May not touch: the state (only the reducer changes it), the terminal, and any use
//! case's logic: the CLI calls the same engine functions.

mod cosmos;
mod engines;
mod keys;
mod observe;

pub(crate) use cosmos::spawn_cosmos;
pub(crate) use engines::{spawn_apply, spawn_history, spawn_plan, spawn_releases, spawn_upgrade};
pub(crate) use keys::{
    check_move, read_and_guard, run_import, run_move, spawn_keys, spawn_remove_key,
};
pub(crate) use observe::{spawn_action, spawn_logs, spawn_poller};
