//! How to reach a host and what to run there, as data: [`Target`] (address, user, keys, jump,
//! host-key policy) and [`Command`] (a program and arguments, each single-quoted when rendered).
//!
//! Owns: the description only. May not touch: connecting or running (that is the transport).

mod command;
mod target;

pub use command::{Command, quote};
pub use target::{HostKeyPolicy, Target};
