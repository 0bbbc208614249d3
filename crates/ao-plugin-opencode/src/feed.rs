//! The change feed of projects on OpenCode servers: one event stream per server, however many of
//! the projects share it, each event routed to the projects it may concern.
//!
//! OpenCode's `/global/event` carries every directory's events, each naming the directory of its
//! instance (see [`ProjectDirs`]). A project on a local server, which other projects may share,
//! hears the events of its own directories and the server's own; a project on a server elsewhere
//! (a URL, an ssh host) hears all of its server's: there several projects may share a directory,
//! and the sessions' ids keep them apart. For each project that hears an event, the feed keeps
//! what the event tells ao up to date (the project's feed holder for the quiet rule, its mirror's
//! renames and deletions) before it says what changed.

use std::collections::BTreeMap;

use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;

use ao_agent::agent::{merge_feeds, AgentError, Change, ProjectContext};
use ao_agent::remote::Location;
use ao_agent::state::PluginState;

use crate::directories::ProjectDirs;
use crate::events::{EventKind, EventStream, GlobalEvent};
use crate::quiet::FeedHolder;
use crate::server::ServerState;
use crate::session_list::SessionList;
use crate::{agent_error, OpenCodeAgent};

/// One project on a followed server.
struct Route {
    /// Its index among the projects the feed was asked for.
    index: usize,
    project: String,
    state: PluginState,
    /// The directories whose events are its own; `None`: all of the server's (a server that is
    /// not shared).
    dirs: Option<ProjectDirs>,
    holder: FeedHolder,
}

impl Route {
    fn hears(&self, event: &GlobalEvent) -> bool {
        self.dirs
            .as_ref()
            .is_none_or(|d| d.owns(event.directory.as_deref()))
    }
}

impl OpenCodeAgent {
    /// One feed for `projects`: a connection to each server among theirs, each change with the
    /// index of the project it concerns. Fails when the stream is turned off, or when a project's
    /// server is not running or cannot be followed.
    pub(crate) async fn follow(
        &self,
        projects: &[ProjectContext<'_>],
    ) -> Result<BoxStream<'static, (usize, Change)>, AgentError> {
        if !self.settings().events {
            return Err(AgentError::Refused(
                "the event stream is turned off (AO_OPENCODE_EVENTS=off)".into(),
            ));
        }
        // Each project's server as its record names it now; projects that share one, together.
        let mut servers = BTreeMap::new();
        for (index, cx) in projects.iter().enumerate() {
            let ServerState::Up { record, client, .. } = self.servers.lookup(cx).await? else {
                return Err(crate::agent::not_running(cx));
            };
            let server = servers
                .entry(record.list_key())
                .or_insert_with(|| (client, Vec::new()));
            server.1.push((index, cx));
        }
        let silence = self.settings().feed_silence;
        let mut feeds = Vec::with_capacity(servers.len());
        for (list_key, (client, members)) in servers {
            let events = EventStream::connect(&client, silence)
                .await
                .map_err(agent_error)?;
            let mut routes = Vec::with_capacity(members.len());
            for (index, cx) in members {
                // From now on this feed hears whatever the server does for the project: it
                // vouches for its quiet, for as long as the stream keeps saying something.
                let holder =
                    FeedHolder::connected(cx.state.clone(), &cx.project.name, &list_key, silence)
                        .await;
                routes.push(Route {
                    index,
                    project: cx.project.name.clone(),
                    state: cx.state.clone(),
                    dirs: own_directories(cx),
                    holder,
                });
            }
            feeds.push(server_feed(events, routes));
        }
        Ok(merge_feeds(feeds))
    }
}

/// The directories whose events are the project's on a local server, which other projects may
/// share; `None` on a server elsewhere (at a URL, on an ssh host), whose work trees are not under
/// this machine's state home: the project hears all of its server's events, and the sessions' ids
/// keep the projects apart.
fn own_directories(cx: &ProjectContext<'_>) -> Option<ProjectDirs> {
    match cx.project.location {
        Location::Local => Some(ProjectDirs::of(cx)),
        Location::Url(_) | Location::Ssh(_) => None,
    }
}

/// The changes one server's events make, for the projects routed to it. It ends when the stream
/// ends, breaks, stays silent past its bound or sends an event too large: the live model polls
/// and reconnects, and the holders' entries go with it.
fn server_feed(events: EventStream, routes: Vec<Route>) -> BoxStream<'static, (usize, Change)> {
    stream::unfold((events, routes), |(mut events, mut routes)| async move {
        loop {
            let event = events.next().await.ok()??;
            let mut changes = Vec::new();
            let change = event.change();
            for route in routes.iter_mut().filter(|r| r.hears(&event)) {
                if matches!(
                    event.payload.kind,
                    EventKind::ServerConnected | EventKind::ServerHeartbeat
                ) {
                    route.holder.alive().await;
                } else {
                    // Recorded before anyone acts on the event.
                    route.holder.heard().await;
                }
                // Renames and deletions: what a filtered list cannot show.
                SessionList::on_event_of(&route.state, &route.project, &event).await;
                if let Some(change) = &change {
                    changes.push((route.index, change.clone()));
                }
            }
            if !changes.is_empty() {
                return Some((stream::iter(changes), (events, routes)));
            }
        }
    })
    .flatten()
    .boxed()
}
