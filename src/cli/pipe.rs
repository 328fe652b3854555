//! A closed stdout (`nodeherd metrics --json | head -1`) ends the process quietly instead of with a panic
//! message: `print!` panics on `EPIPE` (Rust ignores `SIGPIPE`), and this hook turns exactly that panic
//! into a silent exit 0, as `ripgrep` does (`completions` and `man`, which write through `write_all`, treat
//! `BrokenPipe` the same way). Every other panic goes to the hook installed before.
//!
//! Owns: that one panic hook. May not touch: `SIGPIPE` (left ignored, so a peer closing an SSH socket or a
//! child's pipe stays an error value, never a signal that kills the process).

/// True for the message `print!`/`println!` panic with when stdout is a closed pipe.
pub fn is_broken_stdout(message: &str) -> bool {
    message.starts_with("failed printing to stdout") && message.contains("Broken pipe")
}

/// Install the hook (once, at start, before any other hook so those chain onto it).
pub fn exit_quietly_on_broken_pipe() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_broken_stdout(message) {
            std::process::exit(0);
        }
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_stdout_epipe_panic_is_quiet() {
        assert!(is_broken_stdout(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_broken_stdout(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_broken_stdout("index out of bounds"));
    }
}
