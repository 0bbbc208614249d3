//! One live model shared by every client of a long-lived surface (the dashboard's browsers, the
//! MCP server's clients): the task that owns the [`LiveModel`], the manager in use, each session's
//! latest status (typed, and as JSON made once), and a broadcast of each change.
//!
//! A client takes the state and subscribes to the changes under one lock, so it misses nothing
//! and sees nothing twice; one that falls behind the broadcast's buffer takes the whole state
//! again ([`LiveHub::subscribe`]), as one that reconnects does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::events::{ConfigChange, LiveEvent, LiveSession};
use super::model::LiveModel;
use crate::clock::{Clock, EpochMillis, SystemClock};
use crate::manager::SessionManager;

/// How many changes a slow client may be behind before it must take the whole state instead.
const BACKLOG: usize = 1024;

/// A session as the hub keeps it: its status, and that status as JSON (`ao status --json`'s
/// object), serialised once for every client.
#[derive(Debug)]
pub struct HubSession {
    /// What the live model last said of it.
    pub session: LiveSession,
    /// `session` as JSON.
    pub json: Arc<str>,
}

impl HubSession {
    fn new(session: LiveSession) -> HubSession {
        // A status is plain data: strings, numbers, lists. Nothing in it can fail to serialise.
        let json = serde_json::to_string(&session)
            .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
            .into();
        HubSession { session, json }
    }

    /// The session's id, `project/name`.
    pub fn id(&self) -> &str {
        &self.session.status.id
    }
}

/// One change, as clients are told it.
#[derive(Debug, Clone)]
pub struct HubUpdate {
    /// When the hub learnt it: a client can measure from it how long the change took to show.
    pub at_ms: EpochMillis,
    /// What changed.
    pub what: HubChange,
}

/// What changed.
#[derive(Debug, Clone)]
pub enum HubChange {
    /// A session that is new or changed.
    Session(Arc<HubSession>),
    /// A session that is gone: its id.
    Removed(Arc<str>),
    /// The config file changed.
    Config(ConfigChange),
}

/// What a new client starts from.
pub struct HubStart {
    /// Every session, in the order of `ao status`.
    pub sessions: Vec<Arc<HubSession>>,
    /// The config's state, when it was edited since the hub started.
    pub config: Option<ConfigChange>,
    /// The changes from then on.
    pub updates: broadcast::Receiver<HubUpdate>,
}

/// The live state every client shares.
pub struct LiveHub {
    state: Mutex<State>,
}

struct State {
    /// In the order of `ao status`: by project, then when each was created, then name.
    sessions: BTreeMap<Order, Arc<HubSession>>,
    /// Each session's place in `sessions`, by id.
    places: HashMap<String, Order>,
    config: Option<ConfigChange>,
    manager: Arc<SessionManager>,
    updates: broadcast::Sender<HubUpdate>,
}

/// Where a session goes in the list: project, creation time, name.
type Order = (String, String, String);

impl LiveHub {
    /// Takes over `model` and follows it until `stop` turns true. The task ends early only if the
    /// model stops.
    pub fn start(
        mut model: LiveModel,
        mut stop: watch::Receiver<bool>,
    ) -> (Arc<LiveHub>, JoinHandle<()>) {
        let (updates, _) = broadcast::channel(BACKLOG);
        let hub = Arc::new(LiveHub {
            state: Mutex::new(State {
                sessions: BTreeMap::new(),
                places: HashMap::new(),
                config: None,
                manager: model.manager(),
                updates,
            }),
        });
        let follower = hub.clone();
        let task = tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    event = model.next() => event,
                    _ = stop.wait_for(|s| *s) => return,
                };
                let Some(event) = event else {
                    return;
                };
                follower.apply(event.shown(), model.manager());
            }
        });
        (hub, task)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock leaves maps that are still whole: go on with them.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn apply(&self, event: LiveEvent<LiveSession>, manager: Arc<SessionManager>) {
        let mut state = self.lock();
        state.manager = manager;
        let mut changes = Vec::new();
        match event {
            LiveEvent::Snapshot(all) => {
                state.sessions.clear();
                state.places.clear();
                for s in all {
                    changes.push(HubChange::Session(state.put(s)));
                }
            }
            LiveEvent::Changed(s) => changes.push(HubChange::Session(state.put(*s))),
            LiveEvent::Removed(id) => {
                if let Some(place) = state.places.remove(&id) {
                    state.sessions.remove(&place);
                }
                changes.push(HubChange::Removed(id.into()));
            }
            LiveEvent::Config(change) => {
                state.config = Some(change.clone());
                changes.push(HubChange::Config(change));
            }
        }
        let at_ms = SystemClock.now_ms();
        for what in changes {
            // Nobody listening is fine: the state above is what the next client starts from.
            let _ = state.updates.send(HubUpdate { at_ms, what });
        }
    }

    /// The state now, and the changes from then on.
    pub fn subscribe(&self) -> HubStart {
        let state = self.lock();
        HubStart {
            sessions: state.sessions.values().cloned().collect(),
            config: state.config.clone(),
            updates: state.updates.subscribe(),
        }
    }

    /// Every session, in the order of `ao status`.
    pub fn sessions(&self) -> Vec<Arc<HubSession>> {
        self.lock().sessions.values().cloned().collect()
    }

    /// The session `id` (`project/name`), if the model knows it.
    pub fn session(&self, id: &str) -> Option<Arc<HubSession>> {
        let state = self.lock();
        let place = state.places.get(id)?;
        state.sessions.get(place).cloned()
    }

    /// The manager over the config in use: actions go through it.
    pub fn manager(&self) -> Arc<SessionManager> {
        self.lock().manager.clone()
    }
}

impl State {
    /// Keeps `s` (in its place) and returns it as kept.
    fn put(&mut self, s: LiveSession) -> Arc<HubSession> {
        let st = &s.status;
        let place = (st.project.clone(), st.created_at.clone(), st.name.clone());
        let id = st.id.clone();
        let kept = Arc::new(HubSession::new(s));
        if let Some(old) = self.places.insert(id, place.clone()) {
            self.sessions.remove(&old);
        }
        self.sessions.insert(place, kept.clone());
        kept
    }
}

/// A JSON array of sessions' JSON, joined as it is (each was serialised once).
pub fn json_array<'a>(items: impl IntoIterator<Item = &'a Arc<HubSession>>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item.json);
    }
    out.push(']');
    out
}
