//! The handle of a running live model: it starts the engine's task and reads what it yields.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::engine;
use super::events::{LiveEvent, LiveOptions};
use crate::error::Result;
use crate::manager::SessionManager;

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

    /// The manager over the config in use: after [`ConfigChange::Reloaded`](super::events::ConfigChange::Reloaded), a new one. Actions
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
