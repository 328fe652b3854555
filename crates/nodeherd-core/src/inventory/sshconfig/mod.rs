//! OpenSSH client configuration (`~/.ssh/config`, `/etc/ssh/ssh_config`) as a source of
//! connection settings below the inventory (inventory > ssh_config > built-in defaults).
//!
//! Owns: which files are read (`NODEHERD_SSH_CONFIG=path` reads only that file, like `ssh -F`;
//! `NODEHERD_SSH_CONFIG=none` reads nothing), the pure parser (`parse`, files injected through
//! [`Files`]), patterns (`pattern`) and per-host evaluation (`eval`). May not touch: the
//! inventory's precedence (that is `resolve::ssh`), the network or SSH sessions.
//! Reading real files happens only in [`SshConfig::load`] and [`FsFiles`], the edge.

pub mod eval;
pub mod parse;
pub mod pattern;

use std::path::{Path, PathBuf};

pub use eval::{Settings, Tokens, Value};
pub use parse::{ConfigFile, Files, Parsed, SshProblem};

/// The environment variable naming the one ssh config file to read (or `none`).
pub const ENV: &str = "NODEHERD_SSH_CONFIG";

/// Parsed ssh configuration plus the local user and home its tokens need.
#[derive(Debug, Clone)]
pub struct SshConfig {
    pub parsed: Parsed,
    pub local_user: String,
    pub home: PathBuf,
}

impl SshConfig {
    /// Parses `roots` (each with the base directory of its relative `Include`s) through `files`.
    pub fn read(
        roots: &[(PathBuf, PathBuf)],
        files: &dyn Files,
        local_user: &str,
        home: &Path,
    ) -> SshConfig {
        SshConfig {
            parsed: parse::read(roots, home, files),
            local_user: local_user.to_string(),
            home: home.to_path_buf(),
        }
    }

    /// Reads the files an operator's `ssh` would read: `$NODEHERD_SSH_CONFIG` alone if set
    /// (`none`: nothing), else `~/.ssh/config` then `/etc/ssh/ssh_config`.
    pub fn load() -> SshConfig {
        let home = dirs::home_dir().unwrap_or_else(|| PathBuf::from("/"));
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "root".into());
        let ssh_dir = home.join(".ssh");
        let roots: Vec<(PathBuf, PathBuf)> = match std::env::var_os(ENV) {
            Some(v) if v == "none" => Vec::new(),
            Some(v) => vec![(PathBuf::from(v), ssh_dir)],
            None => vec![
                (ssh_dir.join("config"), ssh_dir),
                (
                    PathBuf::from("/etc/ssh/ssh_config"),
                    PathBuf::from("/etc/ssh"),
                ),
            ],
        };
        SshConfig::read(&roots, &FsFiles, &user, &home)
    }

    /// An empty configuration (nothing read).
    pub fn none() -> SshConfig {
        SshConfig {
            parsed: Parsed::default(),
            local_user: "root".into(),
            home: PathBuf::from("/root"),
        }
    }

    /// What the configuration says for `alias`.
    pub fn settings(&self, alias: &str) -> Settings {
        eval::eval(&self.parsed, alias)
    }

    /// `path:line` of a value.
    pub fn place(&self, file: usize, line: usize) -> String {
        let name = self
            .parsed
            .files
            .get(file)
            .map_or_else(|| "?".to_string(), |f| f.path.display().to_string());
        format!("{name}:{line}")
    }
}

/// The real file system.
pub struct FsFiles;

impl Files for FsFiles {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        Ok(std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect())
    }
}

#[cfg(test)]
mod tests;
