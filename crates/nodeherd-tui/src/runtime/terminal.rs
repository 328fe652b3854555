//! The real terminal: the guard that restores it on every exit path, Ctrl-Z, and the input and
//! signal tasks that turn key presses and signals into messages.
//!
//! Owns: raw mode and the alternate screen. May not touch: the state or what is drawn.

use std::io;

use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::msg::Msg;

use crate::runtime::TuiError;

/// Restores the terminal when dropped (normal exit, error, or unwinding panic; ratatui's panic
/// hook restores before the panic message is printed).
pub struct TerminalGuard {
    pub terminal: ratatui::DefaultTerminal,
}

impl TerminalGuard {
    pub fn new() -> Result<TerminalGuard, TuiError> {
        let terminal = ratatui::try_init().map_err(|e| TuiError::Terminal(e.to_string()))?;
        Ok(TerminalGuard { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Ctrl-Z: restore the terminal, stop the process, and take the terminal back on `fg`.
pub fn suspend_real<B: Backend>(_t: &mut Terminal<B>) -> io::Result<()> {
    use crossterm::execute;
    use crossterm::terminal::{EnterAlternateScreen, enable_raw_mode};
    ratatui::restore();
    // SAFETY: raise has no memory-safety preconditions; SIGSTOP stops us until SIGCONT.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
    enable_raw_mode()?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    )?;
    Ok(())
}

/// Terminal input in ONE task (crossterm's `EventStream`), as messages.
pub(crate) fn spawn_input(tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    tokio::spawn(async move {
        use crossterm::event::{Event, EventStream};
        let mut events = EventStream::new();
        while let Some(ev) = events.next().await {
            let msg = match ev {
                Ok(Event::Key(k)) => Msg::Key(k),
                Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!("terminal input failed: {e}");
                    Msg::Terminate
                }
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    })
}

/// SIGTERM/SIGINT/SIGHUP end the TUI cleanly; SIGTSTP (e.g. `kill -TSTP`) suspends it.
pub(crate) fn spawn_signals(tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut tstp)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
            signal(SignalKind::from_raw(libc::SIGTSTP)),
        ) else {
            tracing::warn!("cannot install signal handlers");
            return;
        };
        loop {
            let msg = tokio::select! {
                _ = term.recv() => Msg::Terminate,
                _ = int.recv() => Msg::Terminate,
                _ = hup.recv() => Msg::Terminate,
                _ = tstp.recv() => Msg::SuspendRequested,
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    })
}
