//! A project's list of sessions, mirrored in the plugin's state, so that a status asks the server
//! only for the sessions that changed since its last look.
//!
//! `GET /session?start=T` returns only the sessions whose `time.updated` is `T` or later (measured
//! on 1.18.33: an old session prompted again is listed, the others are not). OpenCode bumps
//! `time.updated` whenever a message is stored or updated, so with the mirror a project where
//! nothing happened costs one request that answers `[]`, however many sessions it has. Measured
//! with 50 sessions: the server answers the whole list in about 5 ms and an empty one in under 2,
//! and ao has nothing to parse.
//!
//! What a filtered list cannot tell is that a session was deleted, or renamed: a title change does
//! not bump `time.updated` (measured). The server's event stream says both, and the project's
//! monitor, which follows it whenever the project has live sessions, applies them to the mirror
//! ([`SessionList::on_event`]). Without it, the whole list is read again when the last whole one
//! is older than [`WHOLE_LIST_EVERY`]; and always when the mirror is missing or of another server.
//!
//! When the project's event feeds vouch that the server has been quiet since the mirror was last
//! synced ([`Quiet`]), the mirror is taken as it is and no request is made at all.
//!
//! `T` is in the server's clock, not ao's (a server may run elsewhere): the newest `time.updated`
//! seen, less [`MARGIN_MS`] against a session stamped just before the newest one but stored after
//! it, or a clock stepped back.
//!
//! Like the settled-turn memory it is a cache: one that cannot be read or written costs the whole
//! list, never a wrong answer. Two `ao` writing at once merge, each session keeping the newer of
//! the two objects.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ao_agent::agent::ProjectContext;
use ao_agent::clock::EpochMillis;
use ao_agent::state::PluginState;
use serde::{Deserialize, Serialize};

use crate::events::{EventKind, GlobalEvent};
use crate::quiet::{Quiet, ServerHere, TRUST_FOR};
use crate::types::Session;

/// How long a mirror is trusted without reading the whole list again (which finds sessions
/// deleted or renamed meanwhile).
pub const WHOLE_LIST_EVERY: EpochMillis = 30_000;

/// How far before the newest `time.updated` seen the next filtered list starts.
pub const MARGIN_MS: i64 = 2_000;

/// The key of a project's mirror in the plugin's state.
fn key(project: &str) -> String {
    format!("session-list:{project}")
}

/// What is stored: the top-level sessions of one server's project, as last listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Mirror {
    /// The server listed (its URL and pid): another server's list starts again whole.
    server: String,
    /// When the whole list was last read, in ao's clock.
    whole_at: EpochMillis,
    /// The newest `time.updated` seen, in the server's clock.
    newest: i64,
    /// When a list request last began (ao's clock), as far as the feeds' vouching needs it.
    #[serde(default)]
    synced_at: EpochMillis,
    sessions: BTreeMap<String, Session>,
    /// Sessions the server answered 404 for, or said were deleted: a deletion is for good, so a
    /// tracked session that is gone costs no request at later looks.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    gone: BTreeSet<String>,
}

/// What a whole list said: who was there when it was taken.
#[derive(Debug)]
struct Whole {
    /// The newest `time.updated` in it: a session stamped later was made after the list.
    newest: i64,
    ids: BTreeSet<String>,
}

/// A project's mirrored session list, and what this look learnt.
#[derive(Debug)]
pub struct SessionList {
    server: String,
    now: EpochMillis,
    stored: Option<Mirror>,
    /// Sessions read in this look.
    seen: Vec<Session>,
    /// Sessions found deleted in this look.
    found_gone: BTreeSet<String>,
    whole: Option<Whole>,
    /// What the project's feed holders say of the server.
    quiet: Quiet,
    /// Whether this look asked the server for the list.
    synced: bool,
}

impl SessionList {
    /// The project's mirror of the server `server` (its URL and pid), as of `now`; nothing when
    /// it cannot be read.
    /// `here` is the server's process when it runs on this machine.
    pub async fn load(
        cx: &ProjectContext<'_>,
        server: String,
        here: ServerHere,
        now: EpochMillis,
    ) -> SessionList {
        let key = key(&cx.project.name);
        let (stored, quiet) = futures_util::join!(
            cx.state.get::<Mirror>(&key),
            Quiet::load(cx.state, &cx.project.name, &server, here)
        );
        let mut list = SessionList::from_stored(stored.ok().flatten(), server, now);
        list.quiet = quiet;
        list
    }

    /// [`load`](Self::load) for each of `projects` that share the server `server`: one trip to
    /// the blocking pool for all of them, and the server's process checked once.
    pub async fn load_many(
        state: &PluginState,
        projects: Vec<String>,
        server: String,
        here: ServerHere,
        now: EpochMillis,
    ) -> Vec<SessionList> {
        let state = state.clone();
        ao_agent::blocking::unblock(move || {
            let running = here.is_some_and(|p| !p.is_stopped());
            projects
                .iter()
                .map(|project| {
                    let stored = state.get_blocking::<Mirror>(&key(project)).ok().flatten();
                    let mut list = SessionList::from_stored(stored, server.clone(), now);
                    if running {
                        list.quiet = Quiet::holders_blocking(&state, project, &server);
                    }
                    list
                })
                .collect()
        })
        .await
    }

    fn from_stored(stored: Option<Mirror>, server: String, now: EpochMillis) -> SessionList {
        SessionList {
            stored: stored.filter(|m| m.server == server),
            server,
            now,
            seen: Vec::new(),
            found_gone: BTreeSet::new(),
            whole: None,
            quiet: Quiet::default(),
            synced: false,
        }
    }

    /// The mirror's sessions, by id, when the project's feeds vouch that nothing happened on the
    /// server since it was last synced: then the list need not be asked for.
    pub fn unchanged(&self) -> Option<HashMap<String, Session>> {
        let m = self.stored.as_ref().filter(|_| self.vouched())?;
        Some(
            m.sessions
                .iter()
                .map(|(id, s)| (id.clone(), s.clone()))
                .collect(),
        )
    }

    /// Whether the feeds vouch for the mirror as it is: [`unchanged`](Self::unchanged) has it.
    pub fn vouched(&self) -> bool {
        self.stored
            .as_ref()
            .is_some_and(|m| self.quiet.vouches_for(m.synced_at, self.now))
    }

    /// The `start` to list with: `None` asks for the whole list.
    pub fn since(&self) -> Option<i64> {
        let m = self.stored.as_ref()?;
        (self.now.saturating_sub(m.whole_at) < WHOLE_LIST_EVERY)
            .then(|| m.newest.saturating_sub(MARGIN_MS).max(0))
    }

    /// Takes the server's answer to a list asked with [`since`](Self::since) and returns every
    /// session the project has now, by id.
    #[cfg(test)]
    fn take(&mut self, listed: Vec<Session>) -> HashMap<String, Session> {
        let whole = self.since().is_none();
        self.take_listed(listed, whole)
    }

    /// Takes the server's answer to a list asked from a point of its own (`whole`: from the
    /// start), as a shared server's list is: a whole list renews the mirror whoever needed it,
    /// so that the projects of one server come due for the next whole list together.
    pub fn take_listed(&mut self, listed: Vec<Session>, whole: bool) -> HashMap<String, Session> {
        self.synced = true;
        let mut all: HashMap<String, Session> = HashMap::new();
        if whole {
            self.whole = Some(Whole {
                newest: listed.iter().map(|s| s.time.updated).max().unwrap_or(0),
                ids: listed.iter().map(|s| s.id.clone()).collect(),
            });
        } else if let Some(m) = &self.stored {
            all.extend(m.sessions.iter().map(|(id, s)| (id.clone(), s.clone())));
        }
        for s in &listed {
            all.insert(s.id.clone(), s.clone());
        }
        self.seen.extend(listed);
        all
    }

    /// Notes a session read on its own.
    pub fn note(&mut self, session: &Session) {
        self.seen.push(session.clone());
    }

    /// The sessions known to be deleted.
    pub fn gone(&self) -> &BTreeSet<String> {
        static NONE: BTreeSet<String> = BTreeSet::new();
        self.stored.as_ref().map_or(&NONE, |m| &m.gone)
    }

    /// Notes a session the server answered 404 for.
    pub fn note_gone(&mut self, id: &str) {
        if !self.stored.as_ref().is_some_and(|m| m.gone.contains(id)) {
            self.found_gone.insert(id.to_string());
        }
    }

    /// Applies what this look learnt to the stored mirror; a failed write only costs the whole
    /// list next time.
    pub async fn save(self, cx: &ProjectContext<'_>) {
        if !self.learnt_anything() {
            return;
        }
        // Not waited for: a look does not wait on another's write lock to keep a cache.
        let _ = cx
            .state
            .try_update(
                &key(&cx.project.name),
                move |stored: &mut Option<Mirror>| self.apply(stored),
            )
            .await;
    }

    /// Applies an event of the project's server to its mirror, when it renames or deletes a
    /// session; see [`on_event`](Self::on_event).
    pub async fn on_event_of(state: &PluginState, project: &str, event: &GlobalEvent) {
        let p = &event.payload;
        let Some(id) = p.session_id() else {
            return;
        };
        match p.kind {
            EventKind::SessionDeleted => Self::on_event(state, project, id, None).await,
            EventKind::SessionUpdated => {
                if let Some(info) = p
                    .properties
                    .get("info")
                    .and_then(|i| serde_json::from_value::<Session>(i.clone()).ok())
                {
                    Self::on_event(state, project, id, Some(&info)).await
                }
            }
            _ => {}
        }
    }

    /// Brings the project's mirror up to date with what the server's event stream said of one
    /// session, where a filtered list would not show it: deleted (`now` is `None`), or renamed.
    /// Anything else that changes a session bumps its `time.updated`, so the next list has it;
    /// nothing is written for that.
    pub async fn on_event(state: &PluginState, project: &str, id: &str, now: Option<&Session>) {
        let key = key(project);
        let Ok(Some(stored)) = state.get::<Mirror>(&key).await else {
            return;
        };
        let stale = match (stored.sessions.get(id), now) {
            (Some(_), None) => true,
            (Some(old), Some(now)) => old.title != now.title,
            (None, _) => false,
        };
        if !stale {
            return;
        }
        let (id, now) = (id.to_string(), now.cloned());
        let _ = state
            .update(&key, move |stored: &mut Option<Mirror>| {
                if let Some(m) = stored {
                    match now {
                        Some(now) => {
                            if let Some(old) = m.sessions.get_mut(&id) {
                                old.title = now.title;
                            }
                        }
                        None => {
                            m.sessions.remove(&id);
                        }
                    }
                }
            })
            .await;
    }

    /// Whether saving would change the mirror as loaded. The newest session is in every filtered
    /// list (the list starts 2 s before it), so most looks see again what is stored, and write
    /// nothing.
    fn learnt_anything(&self) -> bool {
        self.whole.is_some()
            || !self.found_gone.is_empty()
            || (self.synced
                && self.quiet.would_vouch_for(self.now)
                && !self.stored.as_ref().is_some_and(|m| {
                    self.quiet
                        .vouches_for(m.synced_at, self.now + TRUST_FOR / 2)
                }))
            || self.seen.iter().any(|s| {
                self.stored
                    .as_ref()
                    .is_none_or(|m| m.sessions.get(&s.id) != Some(s))
            })
    }

    /// The change [`save`](Self::save) makes to the stored value.
    fn apply(self, stored: &mut Option<Mirror>) {
        let mut m = stored
            .take()
            .filter(|m| m.server == self.server)
            .unwrap_or_else(|| Mirror {
                server: self.server.clone(),
                ..Mirror::default()
            });
        if let Some(Whole { newest, ids }) = self.whole {
            // Gone from the server, unless another `ao` saw it made after this list was taken.
            m.sessions
                .retain(|id, s| ids.contains(id) || s.time.updated > newest);
            m.whole_at = m.whole_at.max(self.now);
        }
        if self.synced {
            m.synced_at = m.synced_at.max(self.now);
        }
        for id in self.found_gone {
            m.sessions.remove(&id);
            m.gone.insert(id);
        }
        for s in self.seen {
            m.newest = m.newest.max(s.time.updated);
            match m.sessions.get(&s.id) {
                Some(old) if old.time.updated > s.time.updated => {}
                _ => {
                    m.sessions.insert(s.id.clone(), s);
                }
            }
        }
        *stored = Some(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, updated: i64, title: &str) -> Session {
        let mut s = Session {
            id: id.into(),
            title: title.into(),
            ..Session::default()
        };
        s.time.updated = updated;
        s
    }

    /// One look: load what `stored` holds at `now`, list with the answer `listed`, save.
    fn look(
        stored: &mut Option<Mirror>,
        now: EpochMillis,
        listed: impl FnOnce(Option<i64>) -> Vec<Session>,
    ) -> (Option<i64>, Vec<String>) {
        let mut list = SessionList::from_stored(stored.clone(), "srv".into(), now);
        let since = list.since();
        let all = list.take(listed(since));
        let mut ids: Vec<String> = all.into_keys().collect();
        ids.sort();
        list.apply(stored);
        (since, ids)
    }

    #[test]
    fn only_what_changed_is_asked_for_until_the_whole_list_is_due() {
        let mut stored = None;
        let (since, ids) = look(&mut stored, 1_000, |_| {
            vec![session("a", 500, "A"), session("b", 900, "B")]
        });
        assert_eq!((since, ids), (None, vec!["a".into(), "b".into()]));
        // Nothing changed: the filtered list is empty, the mirror answers.
        let (since, ids) = look(&mut stored, 2_000, |_| vec![]);
        assert_eq!(since, Some(0), "900 less the margin, not below 0");
        assert_eq!(ids, vec!["a".to_string(), "b".to_string()]);
        // `a` prompted again: its new object replaces the old one.
        look(&mut stored, 3_000, |_| vec![session("a", 2_950, "A2")]);
        let m = stored.as_ref().unwrap();
        assert_eq!((m.newest, m.sessions["a"].title.as_str()), (2_950, "A2"));
        let (since, _) = look(&mut stored, 4_000, |_| vec![]);
        assert_eq!(since, Some(2_950 - MARGIN_MS));
        // The whole list again after WHOLE_LIST_EVERY: `b` was deleted meanwhile.
        let (since, ids) = look(&mut stored, 1_000 + WHOLE_LIST_EVERY, |_| {
            vec![session("a", 2_950, "A2")]
        });
        assert_eq!((since, ids), (None, vec!["a".to_string()]));
    }

    #[test]
    fn a_look_that_sees_again_what_is_stored_has_nothing_to_save() {
        let mut stored = None;
        look(&mut stored, 1_000, |_| vec![session("a", 500, "A")]);
        let mut again = SessionList::from_stored(stored.clone(), "srv".into(), 2_000);
        again.take(vec![session("a", 500, "A")]);
        assert!(!again.learnt_anything());
        let mut changed = SessionList::from_stored(stored, "srv".into(), 2_000);
        changed.take(vec![session("a", 1_500, "A")]);
        assert!(changed.learnt_anything());
    }

    #[test]
    fn a_session_found_deleted_is_remembered_as_gone() {
        let mut stored = None;
        look(&mut stored, 1_000, |_| vec![session("a", 500, "A")]);
        let mut list = SessionList::from_stored(stored.clone(), "srv".into(), 2_000);
        list.take(vec![]);
        list.note_gone("a");
        assert!(list.learnt_anything());
        list.apply(&mut stored);
        let again = SessionList::from_stored(stored.clone(), "srv".into(), 3_000);
        assert!(again.gone().contains("a"));
        assert!(!stored.as_ref().unwrap().sessions.contains_key("a"));
        // Known already: nothing more to write.
        let mut again = again;
        again.note_gone("a");
        assert!(again.found_gone.is_empty());
    }

    #[test]
    fn another_servers_mirror_is_not_used() {
        let mut stored = None;
        look(&mut stored, 1_000, |_| vec![session("a", 500, "A")]);
        let other = SessionList::from_stored(stored.clone(), "other".into(), 1_100);
        assert_eq!(other.since(), None);
        let mut other = other;
        other.take(vec![session("z", 10, "Z")]);
        other.apply(&mut stored);
        let m = stored.unwrap();
        assert_eq!(m.server, "other");
        assert_eq!(m.sessions.keys().collect::<Vec<_>>(), vec!["z"]);
    }

    #[test]
    fn two_looks_at_once_merge_keeping_the_newer_object() {
        let mut stored = None;
        look(&mut stored, 1_000, |_| vec![session("a", 500, "A")]);
        // Two looks load the same mirror; the later one saves first.
        let mut first = SessionList::from_stored(stored.clone(), "srv".into(), 2_000);
        let mut second = SessionList::from_stored(stored.clone(), "srv".into(), 2_100);
        first.take(vec![session("a", 1_500, "old")]);
        second.take(vec![session("a", 1_900, "new"), session("c", 1_950, "C")]);
        second.apply(&mut stored);
        first.apply(&mut stored);
        let m = stored.unwrap();
        assert_eq!(m.sessions["a"].title, "new");
        assert!(m.sessions.contains_key("c"));
    }

    #[test]
    fn a_whole_list_asked_for_another_renews_the_mirror() {
        let mut stored = None;
        look(&mut stored, 1_000, |_| vec![session("a", 500, "A")]);
        // Not due yet for itself; the server's whole list (asked for another project) renews it,
        // and drops what is gone from it.
        let now = 1_000 + WHOLE_LIST_EVERY / 2;
        let mut list = SessionList::from_stored(stored.clone(), "srv".into(), now);
        assert!(list.since().is_some());
        let all = list.take_listed(vec![session("b", 600, "B")], true);
        assert_eq!(all.keys().collect::<Vec<_>>(), vec!["b"]);
        list.apply(&mut stored);
        let later = SessionList::from_stored(stored.clone(), "srv".into(), now + 1);
        assert!(later.since().is_some(), "renewed at {now}");
        let m = stored.unwrap();
        assert_eq!(m.sessions.keys().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(m.whole_at, now);
    }

    #[test]
    fn a_whole_list_keeps_a_session_made_after_it_was_taken() {
        let mut stored = None;
        look(&mut stored, 1_000, |_| vec![session("a", 500, "A")]);
        // A whole list taken when only `a` existed saves after another look saw `n`, made later.
        let mut whole = SessionList::from_stored(None, "srv".into(), 1_000 + WHOLE_LIST_EVERY);
        whole.take(vec![session("a", 500, "A")]);
        let mut stored_now = stored.clone();
        look(&mut stored_now, 1_500, |_| vec![session("n", 1_400, "N")]);
        whole.apply(&mut stored_now);
        let m = stored_now.unwrap();
        assert_eq!(m.sessions.keys().collect::<Vec<_>>(), vec!["a", "n"]);
    }
}
