//! The lab's error type: every variant says what failed and what to do about it.
//!
//! May not touch: anything (it only describes failures).

use std::path::PathBuf;

/// Something the lab could not do.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("the lab needs root (network namespaces, mounts, cgroups): run it with sudo")]
    NotRoot,

    #[error("the lab only runs on Linux")]
    NotLinux,

    #[error("invalid lab configuration: {0}")]
    Config(String),

    #[error("a required program is missing: {program} ({hint})")]
    MissingProgram { program: String, hint: String },

    #[error("could not run `{command}`: {source} (is it installed and on PATH?)")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "building the Debian base root failed: {0}; see the output above, check that the Debian mirror is reachable, then retry"
    )]
    Base(String),

    #[error(
        "installing Lodestar {version} failed: {reason}; the npm log is {log}; retry `nodeherd lab prepare`"
    )]
    Lodestar {
        version: String,
        reason: String,
        log: PathBuf,
    },

    #[error(
        "installing EthereumJS {version} failed: {reason}; the npm log is {log}; retry `nodeherd lab prepare`"
    )]
    Ethereumjs {
        version: String,
        reason: String,
        log: PathBuf,
    },

    #[error("host {host} did not become ready: {reason}; its console log is {log}")]
    NotReady {
        host: String,
        reason: String,
        log: PathBuf,
    },

    #[error(
        "{count} host(s) failed to come up:\n{details}\nrun `nodeherd lab down` to clean up, then retry"
    )]
    Hosts { count: usize, details: String },

    #[error(
        "refusing to delete {path}: something is still mounted below it ({mount}); run `nodeherd lab down` first"
    )]
    StillMounted { path: PathBuf, mount: PathBuf },

    #[error(
        "teardown left things behind: {0}; run `nodeherd lab down` again or remove them by hand"
    )]
    Leftovers(String),
}

impl LabError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        LabError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
