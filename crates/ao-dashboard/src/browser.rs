//! What a browser is sent of the live hub ([`ao_core::live::LiveHub`]): the sessions as one JSON
//! array, and each change as a named event with its JSON.
//!
//! The sessions' JSON is the hub's, made once for every client; only the small objects of a
//! removal or a config change are made here.

use std::sync::Arc;

use tokio::sync::broadcast;

use ao_core::live::{json_array, ConfigChange, HubChange, HubUpdate, LiveHub};

/// What a new browser starts from.
pub struct Start {
    /// Every session, as a JSON array.
    pub sessions: String,
    /// The config's state (`{"reloaded": true}` or `{"invalid": "problems"}`), when it was edited
    /// since the dashboard started.
    pub config: Option<String>,
    /// The changes from then on.
    pub updates: broadcast::Receiver<HubUpdate>,
}

/// The state now, and the changes from then on.
pub fn start(hub: &LiveHub) -> Start {
    let start = hub.subscribe();
    Start {
        sessions: json_array(&start.sessions),
        config: start.config.as_ref().map(config_json),
        updates: start.updates,
    }
}

/// Every session, as a JSON array.
pub fn sessions(hub: &LiveHub) -> String {
    json_array(&hub.sessions())
}

/// A change as the page's event stream names it, and its data: `session` (the session's JSON),
/// `removed` (`{"id": …}`) or `config`.
pub fn event(change: &HubChange) -> (&'static str, Arc<str>) {
    match change {
        HubChange::Session(s) => ("session", s.json.clone()),
        HubChange::Removed(id) => (
            "removed",
            serde_json::json!({ "id": &**id }).to_string().into(),
        ),
        HubChange::Config(c) => ("config", config_json(c).into()),
    }
}

fn config_json(change: &ConfigChange) -> String {
    match change {
        ConfigChange::Reloaded => serde_json::json!({ "reloaded": true }),
        ConfigChange::Invalid(problems) => serde_json::json!({ "invalid": problems }),
    }
    .to_string()
}
