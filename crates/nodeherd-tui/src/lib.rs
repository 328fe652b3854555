//! The full-screen console (`nodeherd tui`, or `nodeherd` alone on a terminal).
//!
//! Owns: the TUI. Elm-shaped: workers and input send [`msg::Msg`]s into one channel; one state
//! owner ([`state::App`]) is changed only by the pure reducer [`update::update`], which returns
//! [`msg::Effect`]s for the [`runtime`] to perform; [`views`] are pure render functions of the
//! state; [`keymap`] is the key table as data (input, hints, help, docs). May not touch: SSH
//! commands, systemd or HTTP APIs directly (the runtime's workers hold the session's `Pool` and
//! call `nodeherd_engine`'s use cases, the same ones the CLI calls), the CLI (this crate cannot
//! depend on the `nodeherd` package), inventory parsing, stdout while the terminal is in use.

pub mod feed;
pub mod fixture;
pub mod keycmd;
pub mod keymap;
pub mod msg;
pub mod runtime;
pub mod state;
pub mod update;
pub mod views;

pub use msg::{Effect, Msg};
pub use runtime::{Config, Hooks, TuiError, World, event_loop};
pub use state::App;
pub use update::update;

/// The whole screen of a backend's buffer as text, one line per row, trailing spaces removed
/// (what snapshots and the scripted tests compare).
pub fn buffer_text(buf: &ratatui::buffer::Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        for x in area.left()..area.right() {
            if let Some(cell) = buf.cell((x, y)) {
                line.push_str(cell.symbol());
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
