//! Facts: each a command run on a host plus the pure parser of its output, tested on output
//! captured from real hosts (`tests/fixtures/`).
//!
//! Owns: [`systemd`] (unit states, journal lines), [`status`] (the batched status script and its
//! sections), [`host`] (/proc, df and clock in one command), [`layout`] (the on-host release
//! layout, switch, lock and journal scripts), [`backup`] (data dir backups: space, names, the
//! switch's copy and restore functions), [`doctor`] (the doctor's host probe). May not touch: running anything (the engine runs the
//! commands through its `Remote` and hands the text here).

pub mod backup;
pub mod doctor;
pub mod host;
pub mod layout;
pub mod platform;
pub mod status;
pub mod systemd;
