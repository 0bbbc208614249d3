//! The sessions as resources: `ao://sessions` (every session, a JSON array of `ao status --json`
//! objects) and `ao://sessions/{project}/{name}` (one), read from the live hub; and the task that
//! tells a client, as the hub learns it, that a resource it subscribed to changed, or that
//! sessions came or went.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use rmcp::model::{
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::{Peer, RoleServer};
use rmcp::ErrorData;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use ao_core::live::{json_array, HubChange, HubStart, LiveHub};

/// Every session.
pub const ALL: &str = "ao://sessions";
/// The prefix of one session's URI, before `project/name`.
const ONE_PREFIX: &str = "ao://sessions/";
/// The MIME type of every resource here.
const JSON: &str = "application/json";

/// One session's URI.
pub fn session_uri(id: &str) -> String {
    format!("{ONE_PREFIX}{id}")
}

/// Every resource: the list, and each session the hub knows.
pub fn list(hub: &LiveHub) -> Vec<Resource> {
    let mut all = vec![Resource::new(ALL, "sessions")
        .with_title("Every ao session")
        .with_description("Every session, as `ao status --json` gives them")
        .with_mime_type(JSON)];
    for s in hub.sessions() {
        let st = &s.session.status;
        all.push(
            Resource::new(session_uri(&st.id), st.id.clone())
                .with_description(format!("{}: {} ({})", st.id, st.activity, st.agent))
                .with_mime_type(JSON),
        );
    }
    all
}

/// The template of one session's URI.
pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("ao://sessions/{project}/{name}", "session")
            .with_title("One ao session")
            .with_description("One session, as `ao status --json` gives it")
            .with_mime_type(JSON),
    ]
}

/// The resource at `uri`, as the hub knows it now.
pub fn read(hub: &LiveHub, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let text = if uri == ALL {
        json_array(&hub.sessions())
    } else {
        let session = uri
            .strip_prefix(ONE_PREFIX)
            .and_then(|id| hub.session(id))
            .ok_or_else(|| not_found(uri))?;
        session.json.to_string()
    };
    Ok(ReadResourceResult::new(vec![
        ResourceContents::TextResourceContents {
            uri: uri.to_string(),
            mime_type: Some(JSON.into()),
            text,
            meta: None,
        },
    ]))
}

/// Whether `uri` is one a client may subscribe to: the list, or a session's (one that may not
/// exist yet: it is told when it appears).
pub fn check_subscribable(uri: &str) -> Result<(), ErrorData> {
    let one = uri
        .strip_prefix(ONE_PREFIX)
        .and_then(|id| id.split_once('/'))
        .is_some_and(|(p, n)| !p.is_empty() && !n.is_empty() && !n.contains('/'));
    if uri == ALL || one {
        Ok(())
    } else {
        Err(not_found(uri))
    }
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!(
            "no resource {uri}: ao serves {ALL} and {ONE_PREFIX}PROJECT/NAME for each session \
             (resources/list names them)"
        ),
        None,
    )
}

/// What one client subscribed to, and the task that tells it.
#[derive(Default)]
pub struct Subscriptions {
    state: Mutex<SubscriptionState>,
}

#[derive(Default)]
struct SubscriptionState {
    uris: HashSet<String>,
    follower: Option<JoinHandle<()>>,
}

impl Subscriptions {
    fn lock(&self) -> MutexGuard<'_, SubscriptionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `uri`.
    pub fn add(&self, uri: String) {
        self.lock().uris.insert(uri);
    }

    /// Removes `uri`.
    pub fn remove(&self, uri: &str) {
        self.lock().uris.remove(uri);
    }

    fn wants(&self, uri: &str) -> bool {
        self.lock().uris.contains(uri)
    }

    /// Starts following the hub for the client at `peer` (once), from a client's first
    /// interest in resources (a list, a subscription): each change of a session is
    /// `notifications/resources/updated` for its URI and for the list, when subscribed; a session
    /// that appears or goes is also `notifications/resources/list_changed`. A client that never
    /// asks about resources is sent none, so that an HTTP session it left stays idle and
    /// expires. The follower ends when these subscriptions are dropped, with the connection's
    /// handler. A notification that cannot be sent is let go: over HTTP, one sent while the
    /// client has no event stream open is lost, and the next may not be.
    pub fn follow(self: &Arc<Self>, hub: Arc<LiveHub>, peer: Peer<RoleServer>) {
        let mut state = self.lock();
        if state.follower.is_some() {
            return;
        }
        // Taken here, before the answer that caused it goes out: a change that comes next is
        // followed, not lost before the task first runs.
        let start = hub.subscribe();
        state.follower = Some(tokio::spawn(follow(hub, start, peer, Arc::downgrade(self))));
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        if let Some(task) = self.lock().follower.take() {
            task.abort();
        }
    }
}

/// What [`Subscriptions::follow`] runs.
async fn follow(
    hub: Arc<LiveHub>,
    start: HubStart,
    peer: Peer<RoleServer>,
    subs: Weak<Subscriptions>,
) {
    let mut known: HashSet<String> = start.sessions.iter().map(|s| s.id().to_string()).collect();
    let mut updates = start.updates;
    loop {
        let (changed, listed) = match updates.recv().await {
            Ok(update) => match update.what {
                HubChange::Session(s) => {
                    let id = s.id().to_string();
                    let new = known.insert(id.clone());
                    (vec![id], new)
                }
                HubChange::Removed(id) => {
                    known.remove(&*id);
                    (vec![id.to_string()], true)
                }
                HubChange::Config(_) => continue,
            },
            // Too far behind: everything may have changed.
            Err(RecvError::Lagged(_)) => {
                let again = hub.subscribe();
                updates = again.updates;
                let now: HashSet<String> =
                    again.sessions.iter().map(|s| s.id().to_string()).collect();
                let all: Vec<String> = known.union(&now).cloned().collect();
                known = now;
                (all, true)
            }
            Err(RecvError::Closed) => return,
        };
        let Some(subs) = subs.upgrade() else {
            return;
        };
        if peer.is_transport_closed() {
            return;
        }
        let mut uris: Vec<String> = changed.iter().map(|id| session_uri(id)).collect();
        uris.push(ALL.to_string());
        for uri in uris.into_iter().filter(|u| subs.wants(u)) {
            let _ = peer
                .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                .await;
        }
        if listed {
            let _ = peer.notify_resource_list_changed().await;
        }
    }
}
