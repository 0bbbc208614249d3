//! What a live model yields ([`LiveEvent`]: the sessions as [`LiveSession`]s, and config changes)
//! and how it runs ([`LiveOptions`]), shared by the model and its engine.

use std::time::Duration;

use serde::Serialize;

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
