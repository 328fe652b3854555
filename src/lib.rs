//! nodeherd: an agentless operator console for blockchain node fleets.
//!
//! This package is the command-line front end ([`cli`]: parse, call a use case, print) and the
//! `nodeherd` binary. The layers below are crates of their own (see docs/architecture.md):
//! `nodeherd-core` (no I/O), `nodeherd-transport` (SSH, HTTP, notifiers), `nodeherd-engine` (use
//! cases), `nodeherd-tui` (the full-screen front end) and `nodeherd-lab` (the local practice fleet).

pub mod cli;
