//! nodeherd-transport: how nodeherd reaches anything outside the process.
//!
//! Owns: [`ssh`] (russh sessions, host-key verification, authentication, exec, streams, forwards, a
//! per-host pool), [`http`] (HTTP/1.1 over any stream, used through SSH forwards), [`notify`]
//! (sending alert notifications: webhooks and SMTP). May not touch: the inventory format, systemd,
//! or any decision about what to run (the engine decides).

pub mod http;
pub mod notify;
pub mod ssh;
