//! Alerts: rules from TOML plus built-in defaults, and a pure state machine that turns observations into
//! notifications (pending -> firing -> resolved, dedup, silences, state kept across runs).
//!
//! Owns: [`rules`], [`engine`] and [`observe`] (metrics -> observation), [`check`] (the alerts file's
//! problems, all at once with file:line spans: [`check_file`] is how a file is read). May not touch: I/O of any kind: reading the rules file, saving the
//! state, sending to channels and the clock all belong to the caller.

pub mod alertmanager;
pub mod channels;
pub mod check;
pub mod email;
pub mod engine;
pub mod observe;
pub mod rules;
pub mod wording;

pub use check::check_file;
pub use engine::{
    Engine, EngineState, Notification, NotificationKind, Observation, Silence, SilenceMatcher,
};
pub use rules::{Condition, Rule, Severity, default_rules, parse_rules};
