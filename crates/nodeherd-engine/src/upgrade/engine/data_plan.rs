//! What an action's switch does with the node's data dir, once decided: nothing, a backup
//! first, or a restore first. Decided by [`super::backup`], carried in the action's context
//! ([`super::steps::Ctx`]).
//!
//! Owns: that one type. May not touch: anything else (no I/O, no decisions).

use nodeherd_core::inventory::Backup;

/// What this action's switch does with the data dir (set once, before the switch starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Prepared {
    /// Copy `data_dir` to `path` first (the space was checked), then delete `prune`.
    Backup {
        mode: Backup,
        data_dir: String,
        path: String,
        data_kib: u64,
        prune: Vec<String>,
    },
    /// Replace `data_dir`'s contents with the backup at `path` first.
    Restore { data_dir: String, path: String },
}
