//! Planning: what should change on the fleet and why, as pure functions of facts and policy.
//!
//! Owns: [`upgrade`] (which version each node goes to, canary and batches), [`desired`] (declared
//! state read from playbooks), [`apply`] (the plan of `nodeherd plan`/`apply`: every change with its
//! reason, every no-op with why; [`chain`]: its Cosmos chain upgrade steps), [`unitfile`] (unit files nodeherd writes and their drift).
//! May not touch: I/O of any kind (callers gather the facts and run the plan).

pub mod apply;
pub mod chain;
pub mod desired;
pub mod unitfile;
pub mod upgrade;
