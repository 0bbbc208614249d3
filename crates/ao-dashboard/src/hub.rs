//! The live model's sessions, kept for every browser.
//!
//! One task owns the [`LiveModel`] and applies its events to the hub's state: each session's JSON
//! (made once, sent to every browser as it is) and the manager actions go through. Each change is
//! also broadcast. A browser's event stream takes the state and subscribes to the changes under
//! one lock, so it misses nothing and sees nothing twice; one that falls behind the broadcast's
//! buffer is sent the whole state again, as one that reconnects is.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use ao_core::live::{ConfigChange, LiveEvent, LiveModel, LiveSession};
use ao_core::manager::SessionManager;

/// How many changes a slow browser may be behind before it is sent the whole state instead.
const BACKLOG: usize = 1024;

/// One change, as browsers are told it.
#[derive(Debug, Clone)]
pub struct Update {
    /// When the hub learnt it (milliseconds since the epoch): the page measures from it how long
    /// the change took to show.
    pub at_ms: i64,
    /// What changed.
    pub what: Change,
}

/// What changed.
#[derive(Debug, Clone)]
pub enum Change {
    /// A session that is new or changed: its JSON (`ao status --json`'s object plus
    /// `activity_since`).
    Session(Arc<str>),
    /// A session that is gone: `{"id": …}`.
    Removed(Arc<str>),
    /// The config file changed: `{"reloaded": true}` or `{"invalid": "problems"}`.
    Config(Arc<str>),
}

/// What a new browser starts from.
pub struct Start {
    /// Every session, as a JSON array.
    pub sessions: String,
    /// The config's state, when it was edited since the dashboard started.
    pub config: Option<Arc<str>>,
    /// The changes from then on.
    pub updates: broadcast::Receiver<Update>,
}

/// The state every browser shares.
pub struct Hub {
    state: Mutex<State>,
}

struct State {
    /// In the order of `ao status`: by project, then when each was created, then name.
    sessions: BTreeMap<Order, Arc<str>>,
    /// Each session's place in `sessions`, by id.
    places: HashMap<String, Order>,
    config: Option<Arc<str>>,
    manager: Arc<SessionManager>,
    updates: broadcast::Sender<Update>,
}

impl Hub {
    /// Takes over `model` and follows it until `stop` turns true. The task ends early only if the
    /// model stops.
    pub fn start(
        mut model: LiveModel,
        mut stop: watch::Receiver<bool>,
    ) -> (Arc<Hub>, JoinHandle<()>) {
        let (updates, _) = broadcast::channel(BACKLOG);
        let hub = Arc::new(Hub {
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
                    changes.push(Change::Session(state.put(&s)));
                }
            }
            LiveEvent::Changed(s) => changes.push(Change::Session(state.put(&s))),
            LiveEvent::Removed(id) => {
                if let Some(place) = state.places.remove(&id) {
                    state.sessions.remove(&place);
                }
                changes.push(Change::Removed(
                    serde_json::json!({ "id": id }).to_string().into(),
                ));
            }
            LiveEvent::Config(change) => {
                let json: Arc<str> = match change {
                    ConfigChange::Reloaded => serde_json::json!({ "reloaded": true }),
                    ConfigChange::Invalid(problems) => serde_json::json!({ "invalid": problems }),
                }
                .to_string()
                .into();
                state.config = Some(json.clone());
                changes.push(Change::Config(json));
            }
        }
        let at_ms = ao_core::clock::Clock::now_ms(&ao_core::clock::SystemClock);
        for what in changes {
            // Nobody listening is fine: the state above is what the next browser starts from.
            let _ = state.updates.send(Update { at_ms, what });
        }
    }

    /// The state now, and the changes from then on.
    pub fn subscribe(&self) -> Start {
        let state = self.lock();
        Start {
            sessions: array(state.sessions.values()),
            config: state.config.clone(),
            updates: state.updates.subscribe(),
        }
    }

    /// Every session, as a JSON array.
    pub fn sessions(&self) -> String {
        array(self.lock().sessions.values())
    }

    /// The manager over the config in use: actions go through it.
    pub fn manager(&self) -> Arc<SessionManager> {
        self.lock().manager.clone()
    }
}

/// Where a session goes in the list: project, creation time, name.
type Order = (String, String, String);

impl State {
    /// Keeps `s` (in its place) and returns its JSON.
    fn put(&mut self, s: &LiveSession) -> Arc<str> {
        let json = to_json(s);
        let st = &s.status;
        let place = (st.project.clone(), st.created_at.clone(), st.name.clone());
        if let Some(old) = self.places.insert(st.id.clone(), place.clone()) {
            self.sessions.remove(&old);
        }
        self.sessions.insert(place, json.clone());
        json
    }
}

fn to_json(s: &impl serde::Serialize) -> Arc<str> {
    // A status is plain data: strings, numbers, lists. Nothing in it can fail to serialise.
    serde_json::to_string(s)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
        .into()
}

fn array<'a>(items: impl Iterator<Item = &'a Arc<str>>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push(']');
    out
}
