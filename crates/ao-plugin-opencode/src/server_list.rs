//! One list request for every project of a shared server that a status observes together.
//!
//! Each project keeps its own mirror of its sessions (`session_list`), and would list them with
//! `GET /session?directory=…&scope=project`. When several projects share a server, the first of
//! them that must ask lists the whole server once instead (`GET /experimental/session`, from the
//! oldest point any of their mirrors needs), and each takes the sessions of its own directories
//! (`directories`). A project whose mirror is still good (its feeds vouch for it) asks nothing, as
//! before; the list is made only if one of them asks.

use std::collections::HashMap;
use std::sync::Mutex;

use ao_agent::clock::EpochMillis;
use tokio::sync::OnceCell;

use crate::client::{Client, ClientError};
use crate::directories::ProjectDirs;
use crate::session_list::SessionList;
use crate::types::Session;

/// The list of a shared server's sessions, asked at most once, for the projects observed with it.
pub struct ServerList {
    /// When the look began, for every project of it.
    pub looked_at: EpochMillis,
    /// Each project's mirror, loaded to know where the list must start; taken by its project.
    mirrors: Mutex<HashMap<String, SessionList>>,
    /// Where the list starts: the oldest point any mirror needs (`None`: the whole list).
    since: Option<i64>,
    /// Whether a project's mirror is not vouched for by the feeds, so that the list will be
    /// asked for: then it is asked for at once, beside the projects' other reads.
    needed: bool,
    answer: OnceCell<Result<Vec<Session>, ClientError>>,
}

/// A project's sessions in a shared server's list.
pub struct Listed {
    /// The sessions of the project's directories.
    pub sessions: Vec<Session>,
    /// Whether the list was whole (not only what changed since a point).
    pub whole: bool,
}

impl ServerList {
    /// The list for these projects' mirrors, loaded at `looked_at`.
    pub fn new(looked_at: EpochMillis, mirrors: Vec<(String, SessionList)>) -> ServerList {
        let since = oldest(mirrors.iter().map(|(_, m)| m.since()));
        let needed = mirrors.iter().any(|(_, m)| !m.vouched());
        ServerList {
            looked_at,
            mirrors: Mutex::new(mirrors.into_iter().collect()),
            since,
            needed,
            answer: OnceCell::new(),
        }
    }

    /// Asks for the list now when a project will need it: the request then runs beside the
    /// projects' reads of their memories instead of after them.
    pub async fn ask_early(&self, client: &Client) {
        if self.needed {
            self.answer(client).await;
        }
    }

    async fn answer(&self, client: &Client) -> &Result<Vec<Session>, ClientError> {
        self.answer
            .get_or_init(|| async {
                let _timed = ao_agent::timing::phase(|| {
                    let from = if self.since.is_some() {
                        "changed"
                    } else {
                        "whole"
                    };
                    format!("server's session list asked ({from})")
                });
                client.all_sessions(self.since).await
            })
            .await
    }

    /// The project's mirror, loaded with the others (once).
    pub fn take_mirror(&self, project: &str) -> Option<SessionList> {
        self.mirrors.lock().ok().and_then(|mut m| m.remove(project))
    }

    /// The sessions of `dirs` in the server's list, asked of the server by the first project
    /// that needs it; `None` when the list failed (the project then asks for its own, which says
    /// why in the usual way).
    pub async fn sessions_of(&self, client: &Client, dirs: &ProjectDirs) -> Option<Listed> {
        let _timed = ao_agent::timing::phase(|| "server's session list (shared)".into());
        let all = self.answer(client).await.as_ref().ok()?;
        Some(Listed {
            sessions: all
                .iter()
                .filter(|s| dirs.owns(Some(&s.directory)))
                .cloned()
                .collect(),
            whole: self.since.is_none(),
        })
    }
}

/// The oldest of the points the mirrors need the list from; `None` (the whole list) when any of
/// them needs it whole.
fn oldest(mut each: impl Iterator<Item = Option<i64>>) -> Option<i64> {
    each.try_fold(i64::MAX, |acc, s| Some(acc.min(s?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_starts_where_the_oldest_mirror_needs_it() {
        assert_eq!(oldest([Some(5), Some(3), Some(9)].into_iter()), Some(3));
        assert_eq!(oldest([Some(5), None].into_iter()), None);
    }
}
