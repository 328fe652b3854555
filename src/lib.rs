//! nodeherd: an agentless operator console for blockchain node fleets.
//!
//! This package is the command-line front end ([`cli`]: parse, call a use case, print), the
//! TUI's launcher ([`tui_front`]: flags to a session of `nodeherd_tui`) and the `nodeherd`
//! binary. The CLI and the TUI never import each other; both call the same use cases. The layers
//! below are crates of their own (see docs/architecture.md): `nodeherd-core` (no I/O),
//! `nodeherd-transport` (SSH, HTTP, notifiers), `nodeherd-engine` (use cases), `nodeherd-tui` (the
//! full-screen front end) and `nodeherd-lab` (the local practice fleet).

pub mod cli;
pub mod tui_front;
