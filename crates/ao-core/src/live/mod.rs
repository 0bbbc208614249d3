//! The live session model: every session a target names, kept up to date as it changes, for `ao
//! watch`, `ao status --watch` and every other live view.
//!
//! It starts from a status snapshot, then follows one change feed per project and agent (one
//! connection to a project's server, never one per session). A change marks the sessions it
//! concerns; after a short debounce, so that a burst of events costs one observation, only those
//! are observed again, in one batched call per project. On a period of its own it re-reads the
//! store (sessions spawned or killed by another `ao`), checks the runtimes (a pane or process that
//! died), turns `ready` into `idle` when its time comes, reconnects broken feeds with backoff,
//! polls the projects whose feed is down, and re-reads an edited config file. It yields a session
//! whenever any field of its status changed (`activity_since` among them). docs/architecture.md ("The
//! live session model") has the rest.
//!
//! `events` holds what the model yields and how it runs, `engine` the task that follows the feeds;
//! each imports `events`, never this file. `hub` shares one model among the clients of a
//! long-lived surface (the dashboard, `ao mcp`).

mod engine;
mod events;
mod hub;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::manager::SessionManager;
pub use events::{ConfigChange, LiveEvent, LiveOptions, LiveSession};
pub use hub::{json_array, HubChange, HubSession, HubStart, HubUpdate, LiveHub};

/// A running live model. Dropping it stops it.
pub struct LiveModel {
    events: mpsc::Receiver<LiveEvent>,
    manager: watch::Receiver<Arc<SessionManager>>,
    task: JoinHandle<()>,
}

impl LiveModel {
    /// Starts watching the sessions `target` names (a project's name also covers its sessions
    /// spawned later). Fails as `ao status` does on a target that names
    /// nothing. The first event is the [`LiveEvent::Snapshot`].
    pub async fn start(
        manager: Arc<SessionManager>,
        target: crate::target::Target,
        options: LiveOptions,
    ) -> Result<LiveModel> {
        let (events_tx, events) = mpsc::channel(256);
        let (manager_tx, manager_rx) = watch::channel(manager.clone());
        let engine = engine::Engine::start(manager, manager_tx, target, options, events_tx).await?;
        let task = tokio::spawn(engine.run());
        Ok(LiveModel {
            events,
            manager: manager_rx,
            task,
        })
    }

    /// The next event; `None` once the model stopped.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        self.events.recv().await
    }

    /// The manager over the config in use: after [`ConfigChange::Reloaded`], a new one. Actions
    /// a live view takes (permit, send, kill…) go through it.
    pub fn manager(&self) -> Arc<SessionManager> {
        self.manager.borrow().clone()
    }
}

impl Drop for LiveModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests;
