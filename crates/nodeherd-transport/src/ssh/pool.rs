//! A pool of sessions: one per host name, created lazily and shared.
//!
//! Owns: deduplicating concurrent connects to the same host (one attempt, its result handed to
//! every waiter), replacing closed sessions, and forgetting failed attempts so the next call
//! retries. May not touch: how a session connects (that is [`crate::ssh::session`], or the
//! injected [`Connector`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, OnceCell};

use crate::ssh::error::SshError;
use crate::ssh::remote::{Connector, Session, ssh_connector};
use crate::ssh::session::ConnectOptions;
use nodeherd_core::remote::Target;

type Slot = Arc<OnceCell<Result<Session, SshError>>>;

/// Sessions by host name.
pub struct Pool {
    opts: ConnectOptions,
    connector: Connector,
    slots: Mutex<HashMap<String, Slot>>,
    attempts: AtomicUsize,
}

impl Pool {
    /// A pool connecting over SSH.
    pub fn new(opts: ConnectOptions) -> Self {
        Pool::with_connector(opts, ssh_connector())
    }

    /// A pool whose sessions come from `connector` (tests hand out fakes).
    pub fn with_connector(opts: ConnectOptions, connector: Connector) -> Self {
        Pool {
            opts,
            connector,
            slots: Mutex::new(HashMap::new()),
            attempts: AtomicUsize::new(0),
        }
    }

    /// The options every connection of this pool uses.
    pub fn options(&self) -> &ConnectOptions {
        &self.opts
    }

    /// How many connection attempts this pool has started (for tests and metrics).
    pub fn connect_attempts(&self) -> usize {
        self.attempts.load(Ordering::Relaxed)
    }

    /// The session for `target.name`, connecting if there is none or it was closed.
    /// Concurrent callers for one host share one connect attempt and all get its result.
    pub async fn session(&self, target: &Target) -> Result<Session, SshError> {
        let slot = {
            let mut slots = self.slots.lock().await;
            let stale = match slots.get(&target.name).and_then(|s| s.get()) {
                Some(Ok(s)) => s.is_closed(),
                Some(Err(_)) => true,
                None => false,
            };
            if stale {
                slots.remove(&target.name);
            }
            slots.entry(target.name.clone()).or_default().clone()
        };
        let result = slot
            .get_or_init(|| async {
                self.attempts.fetch_add(1, Ordering::Relaxed);
                (self.connector)(target, &self.opts).await
            })
            .await;
        match result {
            Ok(s) => Ok(s.clone()),
            Err(e) => {
                // forget the failed attempt (unless someone already replaced it) so the next call retries
                let mut slots = self.slots.lock().await;
                if slots
                    .get(&target.name)
                    .is_some_and(|s| Arc::ptr_eq(s, &slot))
                {
                    slots.remove(&target.name);
                }
                Err(e.clone())
            }
        }
    }

    /// Close and forget every session.
    pub async fn close_all(&self) {
        let slots: Vec<Slot> = self.slots.lock().await.drain().map(|(_, s)| s).collect();
        for slot in slots {
            if let Some(Ok(s)) = slot.get() {
                s.close().await;
            }
        }
    }
}
