//! nodeherd-core: everything nodeherd knows without talking to a host or a person.
//!
//! Owns: the inventory and selectors, playbooks and declared state, the release policy, the
//! planners ([`plan`]: upgrades and apply), alert rules and their state machine, metric tables and
//! page parsers, facts (each a command plus the pure parser of its output, in [`facts`]), the
//! description of a remote command and of how to reach a host ([`remote`]), journals,
//! validator key crypto, and [`text::sanitize`], the cleaner for text that came from a server.
//! May not touch: async runtimes, sockets, SSH, HTTP, the terminal or argument parsing (the
//! compiler enforces it: this crate depends on none of tokio, russh, reqwest, ratatui, crossterm
//! or clap).

pub mod alerts;
pub mod cosmos;
pub mod facts;
pub mod health;
pub mod inventory;
pub mod journal;
pub mod keymanager;
pub mod keys;
pub mod metrics;
pub mod plan;
pub mod playbook;
pub mod releases;
pub mod remote;
pub mod selector;
pub mod substrate;
pub mod text;
