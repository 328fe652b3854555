//! The Cosmos screen: opening it (the first open starts the watch worker) and folding the
//! watch's reads into the state.
//!
//! Owns: those transitions. May not touch: servers or the engine (the worker does), clocks
//! (`now` comes in), how the screen looks.

use chrono::{DateTime, Utc};

use super::go;
use crate::msg::Effect;
use crate::state::{App, Screen};
use nodeherd_engine::cosmos::watch::NodeWatch;

/// `C` or `:cosmos`: show the screen; read now unless a read is running.
pub(super) fn open_cosmos(app: &mut App, fx: &mut Vec<Effect>) {
    go(app, Screen::Cosmos);
    if app.cosmos.start() {
        fx.push(Effect::LoadCosmos);
    }
}

/// One read of every Cosmos node (asked for, or the worker's interval): replaces the last.
pub(super) fn on_cosmos(app: &mut App, list: Vec<NodeWatch>, now: DateTime<Utc>) {
    app.cosmos.finish(Ok(list), now);
    app.dirty = true;
}

#[cfg(test)]
mod tests {
    use crate::fixture;
    use crate::msg::{Effect, Msg};
    use crate::state::Screen;
    use crate::update::update;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn key(c: char) -> Msg {
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    #[test]
    fn c_opens_the_screen_and_starts_one_read() {
        let mut app = fixture::fleet(false);
        let fx = update(&mut app, key('C'), fixture::now());
        assert_eq!(app.screen, Screen::Cosmos);
        assert!(matches!(fx.as_slice(), [Effect::LoadCosmos]), "{fx:?}");
        assert!(app.cosmos.loading);
        // R while the read runs starts no second one
        let fx = update(&mut app, key('R'), fixture::now());
        assert!(fx.is_empty(), "{fx:?}");
        // the read lands; the screen shows it and R reads again
        let fx = update(
            &mut app,
            Msg::Cosmos(fixture::cosmos_watch()),
            fixture::now(),
        );
        assert!(fx.is_empty());
        assert!(!app.cosmos.loading);
        assert_eq!(app.cosmos.data.as_ref().map(Vec::len), Some(5));
        assert_eq!(app.cosmos.at, Some(fixture::now()));
        let fx = update(&mut app, key('R'), fixture::now());
        assert!(matches!(fx.as_slice(), [Effect::LoadCosmos]), "{fx:?}");
        // f goes back to the fleet
        update(&mut app, key('f'), fixture::now());
        assert_eq!(app.screen, Screen::Fleet);
    }

    #[test]
    fn the_workers_own_reads_replace_the_last_and_the_command_opens_it() {
        let mut app = fixture::fleet(true);
        // a periodic read arrives before the screen was ever asked for: kept, not loading
        update(&mut app, Msg::Cosmos(vec![]), fixture::now());
        assert_eq!(app.cosmos.data.as_ref().map(Vec::len), Some(0));
        for c in ":cosmos".chars() {
            update(&mut app, key(c), fixture::now());
        }
        let fx = update(
            &mut app,
            Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
            fixture::now(),
        );
        assert_eq!(app.screen, Screen::Cosmos, "readonly keeps the screen");
        assert!(matches!(fx.as_slice(), [Effect::LoadCosmos]), "{fx:?}");
        // j/k scroll the page
        update(&mut app, key('j'), fixture::now());
        update(&mut app, key('j'), fixture::now());
        update(&mut app, key('k'), fixture::now());
        assert_eq!(app.cosmos_scroll, 1);
    }
}
