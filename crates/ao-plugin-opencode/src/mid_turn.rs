//! Which sessions were last seen in the middle of a turn, remembered in the plugin's state.
//!
//! When a project's server dies, its sessions cannot be asked anything until it is back; but a
//! session last seen working was cut off mid-turn (blocked, `Interrupted`), while one last seen
//! done has simply exited (docs/architecture.md, "Activity"). This memory tells the two apart at
//! once, without the server.
//!
//! Two `ao` write it at once: `ao send` marks a session when its prompt is stored, and every
//! `ao status` writes what it saw. A status that read a session as done just before a send marked
//! it must not erase the mark, so each mark carries the time it was made, and a status clears only
//! marks older than the moment it began to look. Each change is one transaction
//! ([`PluginState::update`](ao_agent::state::PluginState::update)).

use std::collections::BTreeMap;

use ao_agent::agent::{AgentError, ProjectContext};
use ao_agent::clock::EpochMillis;

/// The key of a project's memory in the plugin's state.
fn key(project: &str) -> String {
    format!("mid-turn:{project}")
}

/// Session id -> when it was last seen (or put) mid-turn, epoch milliseconds.
pub type Marks = BTreeMap<String, EpochMillis>;

/// The memory of one project's sessions last seen mid-turn.
pub struct MidTurn;

impl MidTurn {
    /// The sessions of the project last seen mid-turn.
    pub async fn sessions(cx: &ProjectContext<'_>) -> Result<Vec<String>, AgentError> {
        let marks: Option<Marks> = cx.state.get(&key(&cx.project.name)).await?;
        Ok(marks.unwrap_or_default().into_keys().collect())
    }

    /// Marks `session` as mid-turn from `at` on (a prompt was just stored).
    pub async fn mark(
        cx: &ProjectContext<'_>,
        session: &str,
        at: EpochMillis,
    ) -> Result<(), AgentError> {
        let session = session.to_string();
        cx.state
            .update(&key(&cx.project.name), move |marks: &mut Option<Marks>| {
                let marks = marks.get_or_insert_with(Marks::new);
                let when = marks.entry(session).or_insert(at);
                *when = (*when).max(at);
            })
            .await?;
        Ok(())
    }

    /// The marks as stored now, for [`record`](Self::record); `None` when they cannot be read.
    pub async fn load(cx: &ProjectContext<'_>) -> Option<Option<Marks>> {
        cx.state.get(&key(&cx.project.name)).await.ok()
    }

    /// Records what a look begun at `looked_at` saw: of the `observed` sessions, those in `busy`
    /// are mid-turn and the others are not, unless marked since the look began.
    ///
    /// `loaded` is what [`load`](Self::load) read after the look began. When no session was
    /// busy and recording would not change `loaded`, no write transaction is taken: the marks
    /// stored now are those, less some another `ao` cleared, plus some made since the load, so
    /// after `looked_at`, which the record keeps. With a busy session the mark is always written:
    /// another `ao` may have cleared it since the load.
    pub async fn record(
        cx: &ProjectContext<'_>,
        loaded: Option<Option<Marks>>,
        looked_at: EpochMillis,
        observed: Vec<String>,
        busy: Vec<String>,
    ) -> Result<(), AgentError> {
        if let (Some(loaded), true) = (loaded, busy.is_empty()) {
            let mut after = loaded.clone();
            apply(&mut after, looked_at, &observed, &busy);
            if after == loaded {
                return Ok(());
            }
        }
        // Not waited for: a memory a look cannot write now is only a memory lost.
        cx.state
            .try_update(&key(&cx.project.name), move |marks: &mut Option<Marks>| {
                apply(marks, looked_at, &observed, &busy)
            })
            .await?;
        Ok(())
    }
}

/// The change [`MidTurn::record`] makes, on the stored value (`None`: nothing stored).
fn apply(marks: &mut Option<Marks>, looked_at: EpochMillis, observed: &[String], busy: &[String]) {
    let mut now = marks.take().unwrap_or_default();
    now.retain(|id, at| !observed.contains(id) || busy.contains(id) || *at >= looked_at);
    for id in busy {
        now.entry(id.clone()).or_insert(looked_at);
    }
    // Nothing stored stays nothing stored, so that a status with nothing to say writes nothing.
    *marks = (!now.is_empty()).then_some(now);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_look_that_changes_nothing_writes_nothing_and_a_busy_one_always_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let (project, home, state, store) = crate::test_world::world(&tmp);
        let cx = ProjectContext {
            project: &project,
            home: &home,
            state: &state,
        };
        MidTurn::mark(&cx, "a", 50).await.unwrap();
        let loaded = MidTurn::load(&cx).await;
        // Another `ao` clears the mark after this look loaded it (its look began later).
        MidTurn::record(&cx, None, 60, ids(&["a"]), vec![])
            .await
            .unwrap();
        assert!(MidTurn::sessions(&cx).await.unwrap().is_empty());
        // This look saw `a` busy: the mark is written again, though `loaded` already had it.
        MidTurn::record(&cx, loaded, 40, ids(&["a"]), ids(&["a"]))
            .await
            .unwrap();
        assert_eq!(MidTurn::sessions(&cx).await.unwrap(), ids(&["a"]));
        // A look with nothing busy that would clear nothing takes no transaction, so a store
        // that cannot be written does not matter to it.
        let loaded = MidTurn::load(&cx).await;
        store.refuse_changes(true);
        MidTurn::record(&cx, loaded, 10, ids(&["b"]), vec![])
            .await
            .unwrap();
        store.refuse_changes(false);
    }

    #[test]
    fn only_observed_sessions_change() {
        let mut marks = None;
        apply(&mut marks, 10, &ids(&["a", "b"]), &ids(&["a", "b"]));
        apply(&mut marks, 20, &ids(&["b"]), &[]);
        assert_eq!(marks.unwrap().into_keys().collect::<Vec<_>>(), ids(&["a"]));
    }

    #[test]
    fn a_look_begun_before_a_send_does_not_erase_its_mark() {
        // `ao status` begins to look at 100 and sees the session done; `ao send` stores a prompt
        // and marks the session at 105; then the status writes what it saw.
        let mut marks = None;
        let mut sent = marks.get_or_insert_with(Marks::new).clone();
        sent.insert("a".into(), 105);
        marks = Some(sent);
        apply(&mut marks, 100, &ids(&["a"]), &[]);
        assert_eq!(marks.as_ref().map(|m| m.contains_key("a")), Some(true));
        // A look begun after the mark, that sees the turn over, clears it.
        apply(&mut marks, 200, &ids(&["a"]), &[]);
        assert_eq!(marks, None);
    }
}
