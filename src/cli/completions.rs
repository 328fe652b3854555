//! `nodeherd completions SHELL`: the shell completion script, printed to stdout.
//!
//! Owns: turning the binary's argument definition into a bash, zsh or fish script (clap_complete).
//! May not touch: the inventory, SSH or the engine; the argument shapes themselves (main.rs owns them).

use super::exit;
use clap::ValueEnum;
use std::io::Write;

/// The shells a completion script is written for.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    fn generator(self) -> clap_complete::Shell {
        match self {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        }
    }
}

/// The completion script for `shell`, for the command `cmd` (its name is the binary's name).
pub fn script(mut cmd: clap::Command, shell: Shell) -> Vec<u8> {
    let name = cmd.get_name().to_string();
    let mut buf = Vec::new();
    clap_complete::generate(shell.generator(), &mut cmd, name, &mut buf);
    buf
}

/// Print the script to stdout (exit 0), or say why it could not be written (exit 1).
pub fn run(cmd: clap::Command, shell: Shell) -> i32 {
    let buf = script(cmd, shell);
    match std::io::stdout().lock().write_all(&buf) {
        Ok(()) => exit::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK, // `| head`: the reader is done
        Err(e) => {
            eprintln!("error: cannot write the completion script: {e}");
            exit::FAILED
        }
    }
}
