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

mod engine;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::Result;
use crate::manager::SessionManager;
use crate::seen::Seen;
use crate::session::SessionStatus;

/// A session as a live view shows it: the object of `ao status --json`, which says when the
/// session entered its current activity (`activity_since`, from the transitions in the store).
#[derive(Debug, Clone, Serialize)]
pub struct LiveSession {
    /// What `ao status --json` says about it.
    #[serde(flatten)]
    pub status: SessionStatus,
}

impl From<&Seen> for LiveSession {
    fn from(seen: &Seen) -> LiveSession {
        LiveSession {
            status: seen.to_status(),
        }
    }
}

impl LiveSession {
    /// When it entered its current activity (RFC 3339). For a session first seen already in it,
    /// the best ao knows: when the agent last did something (and for `idle`, when that turned
    /// `ready` into `idle`).
    pub fn activity_since(&self) -> &str {
        self.status.activity_since.as_deref().unwrap_or_default()
    }
}

/// What the model says, in the order it learnt it: of each session, what a look saw ([`Seen`]);
/// a view that prints turns it into what it shows with [`LiveEvent::shown`].
#[derive(Debug, Clone)]
pub enum LiveEvent<S = Seen> {
    /// Every session the target names, once, as the model starts.
    Snapshot(Vec<S>),
    /// A session that is new, or one of whose fields changed.
    Changed(Box<S>),
    /// A session that is gone: purged, or no longer named by the target. Its id.
    Removed(String),
    /// The config file changed.
    Config(ConfigChange),
}

impl LiveEvent<Seen> {
    /// The event as a view shows it: each session as the object of `ao status --json`.
    pub fn shown(self) -> LiveEvent<LiveSession> {
        match self {
            LiveEvent::Snapshot(all) => {
                LiveEvent::Snapshot(all.iter().map(LiveSession::from).collect())
            }
            LiveEvent::Changed(s) => LiveEvent::Changed(Box::new(LiveSession::from(&*s))),
            LiveEvent::Removed(id) => LiveEvent::Removed(id),
            LiveEvent::Config(change) => LiveEvent::Config(change),
        }
    }
}

/// What became of an edited config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// It was read again and is in use.
    Reloaded,
    /// It no longer reads; the model goes on with the config it had. The problems, as `ao`
    /// would report them.
    Invalid(String),
}

/// How the model paces itself.
#[derive(Debug, Clone, Copy)]
pub struct LiveOptions {
    /// How often liveness, the store and the config file are checked, and projects without a
    /// working feed polled.
    pub liveness_period: Duration,
    /// How long after a change the model waits for more before it observes.
    pub debounce: Duration,
    /// The longest wait between two attempts to reconnect a broken feed.
    pub max_backoff: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            liveness_period: Duration::from_secs(2),
            debounce: Duration::from_millis(25),
            max_backoff: Duration::from_secs(10),
        }
    }
}

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
