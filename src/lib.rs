//! nodeherd: an agentless operator console for blockchain node fleets.
//!
//! The library is the engine; `main.rs` and the TUI are front ends over it.
//! - [`inventory`]: hosts, groups and nodes from TOML, with precise diagnostics.
//! - [`selector`]: Ansible-style host patterns (`all`, groups, globs, `!x`, lists).
//! - [`ssh`]: the only way nodeherd reaches a server (russh, verified host keys, quoted commands).
//! - [`systemd`]: facts about units: commands plus pure parsers of their output.
//! - [`fleet`]: runs per-host work in parallel with a bounded number of hosts in flight.
//! - [`keys`]: offline validator key material: BIP-39, EIP-2333/2334 derivation, EIP-2335 keystores, deposit data.
//! - [`keymanager`]: the Ethereum Keymanager API client, reached only through SSH forwards.
//! - [`lab`]: a local practice fleet of real systemd+sshd hosts in network namespaces.

pub mod alerts;
pub mod cli;
pub mod fleet;
pub mod http;
pub mod inventory;
pub mod keymanager;
pub mod keys;
pub mod lab;
pub mod metrics;
pub mod ops;
pub mod playbook;
pub mod reconcile;
pub mod releases;
pub mod selector;
pub mod ssh;
pub mod systemd;
pub mod tui;
pub mod upgrade;
