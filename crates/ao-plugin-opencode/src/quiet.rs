//! Whether a project's server has been quiet since the mirrored list was taken, as its event
//! feeds say, so that a status can take the mirror as it is and ask the server nothing.
//!
//! Whoever follows a project's server (its monitor, a live view) is a **feed holder**: it records
//! in the plugin's state when its feed connected, and, on any event but a heartbeat, that the
//! server is **busy until** a moment a little ahead ([`BUSY_FOR`]), written again before that
//! runs out while events keep coming. Everything a status reads from the server changes with an
//! event (a message stored, a status, a request asked or answered, a session renamed or deleted).
//! So a list synced after every holder's busy moment, by a holder connected before the sync, is
//! still the server's list: nothing has happened since.
//!
//! What keeps that honest:
//! - a holder counts only while its process runs (pid and start time); one whose feed ends removes
//!   its entry, and a dead one's entry is pruned by the next holder;
//! - only a server whose process runs on this machine is vouched for, and not while it is stopped
//!   (SIGSTOP): then the request must be made, so that a status says it is stale. A server
//!   elsewhere is always asked: a network that drops its packets leaves a feed silent without
//!   ending it, and the request is what tells, within its timeout, that the host is unreachable;
//! - a session marked mid-turn (`ao send` marks its prompt) makes the status ask, since the prompt
//!   was stored through this `ao`, not heard;
//! - the trust lasts [`TRUST_FOR`] after the sync, so a feed that stalls without ending (a
//!   half-open connection) costs at most that;
//! - a holder counts only while its feed says something: each heartbeat (OpenCode sends one every
//!   10 s) or event moves its **alive until** on, to one silence bound ahead
//!   ([`crate::events::DEFAULT_SILENCE`]); a feed silent for longer vouches for nothing, even
//!   before its stream is closed for that silence;
//! - the event that ends a quiet spell is recorded before the monitor acts on it; a status in the
//!   few milliseconds between the event and that write sees the server as it was just before.
//!
//! Like the mirror, it is only a way to skip a request: what cannot be read or written costs the
//! request, never a wrong answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use ao_agent::clock::EpochMillis;
use ao_agent::runtime::process::ProcessIdentity;
use ao_agent::state::PluginState;
use serde::{Deserialize, Serialize};

use crate::now_ms;

/// How long after an event the server counts as busy. Rewritten at half of it while events come,
/// so a burst costs two writes a second at most.
pub const BUSY_FOR: EpochMillis = 1_000;

/// How long after its sync a mirror is trusted on the feeds' word.
pub const TRUST_FOR: EpochMillis = 10_000;

/// The key of a project's feed holders in the plugin's state.
fn key(project: &str) -> String {
    format!("feeds:{project}")
}

/// One holder's entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    start_time: u64,
    /// The server followed (its URL and pid, as the mirror names it).
    server: String,
    connected_at: EpochMillis,
    busy_until: EpochMillis,
    /// Until when the feed counts as saying something: its last event or heartbeat plus its
    /// silence bound. An entry of an ao from before it (0) vouches for nothing.
    #[serde(default)]
    alive_until: EpochMillis,
}

impl Holder {
    fn runs(&self) -> bool {
        ProcessIdentity {
            pid: self.pid,
            start_time: self.start_time,
        }
        .is_alive()
    }
}

/// Holder id (`pid:n`) -> entry.
type Holders = BTreeMap<String, Holder>;

/// What a project's live holders of one server's feed say, read for one look.
#[derive(Debug, Default)]
pub struct Quiet {
    holders: Vec<Holder>,
}

/// The process of a server on this machine, to tell whether it is stopped.
pub type ServerHere = Option<ProcessIdentity>;

impl Quiet {
    /// The live holders of `server`'s feed for `project`; none when they cannot be read, when the
    /// server does not run on this machine (`here` is its process), or when it is stopped. One
    /// trip to the blocking pool: the reads of the store and of `/proc`.
    pub async fn load(state: &PluginState, project: &str, server: &str, here: ServerHere) -> Quiet {
        let (state, project, server) = (state.clone(), project.to_string(), server.to_string());
        ao_agent::blocking::unblock(move || {
            if here.is_none_or(|p| p.is_stopped()) {
                return Quiet::default();
            }
            Quiet::holders_blocking(&state, &project, &server)
        })
        .await
    }

    /// The live holders of `server`'s feed for `project`, whose server runs here and is not
    /// stopped (the caller checked). Blocks.
    pub fn holders_blocking(state: &PluginState, project: &str, server: &str) -> Quiet {
        let stored: Holders = state
            .get_blocking(&key(project))
            .ok()
            .flatten()
            .unwrap_or_default();
        Quiet {
            holders: stored
                .into_values()
                .filter(|h| h.server == server && h.runs())
                .collect(),
        }
    }

    /// Whether a list synced at `synced_at` (ao's clock, taken before its request) is still the
    /// server's at `now`.
    pub fn vouches_for(&self, synced_at: EpochMillis, now: EpochMillis) -> bool {
        now.saturating_sub(synced_at) < TRUST_FOR && self.vouch(synced_at, now)
    }

    /// Whether a sync at `at` would be vouched for while nothing more happens: worth recording.
    pub fn would_vouch_for(&self, at: EpochMillis) -> bool {
        self.vouch(at, at)
    }

    /// Whether the holders whose feeds still say something at `now` vouch for a sync at `at`. A
    /// silent one is left out: it may have missed what another heard, and says nothing itself.
    fn vouch(&self, at: EpochMillis, now: EpochMillis) -> bool {
        let mut alive = self.holders.iter().filter(|h| h.alive_until > now);
        alive.clone().any(|h| h.connected_at < at) && alive.all(|h| h.busy_until < at)
    }
}

/// Tells holders of one process apart (a live view restarts its feeds on a config change).
static NEXT_HOLDER: AtomicU64 = AtomicU64::new(0);

/// This process's entry as the holder of a project's feed, for as long as the feed runs: its
/// entry goes when it is dropped.
pub struct FeedHolder {
    state: PluginState,
    project: String,
    id: String,
    busy_until: EpochMillis,
    alive_until: EpochMillis,
    /// How long its feed may say nothing before it is closed: how far ahead a sign of life
    /// keeps it counting.
    silence: EpochMillis,
}

impl FeedHolder {
    /// Records that this process follows `server`'s feed for `project` from now on, and prunes the
    /// entries of holders that no longer run. The feed is closed when it says nothing for
    /// `silence`, and counts for no longer than that after its last sign of life.
    pub async fn connected(
        state: PluginState,
        project: &str,
        server: &str,
        silence: std::time::Duration,
    ) -> FeedHolder {
        let pid = std::process::id();
        let id = format!("{pid}:{}", NEXT_HOLDER.fetch_add(1, Ordering::Relaxed));
        let now = now_ms();
        let silence = EpochMillis::try_from(silence.as_millis()).unwrap_or(EpochMillis::MAX);
        let alive_until = now.saturating_add(silence);
        let entry = Holder {
            pid,
            start_time: ProcessIdentity::of(pid).map_or(0, |me| me.start_time),
            server: server.to_string(),
            connected_at: now,
            busy_until: now,
            alive_until,
        };
        let my_id = id.clone();
        let _ = state
            .update(&key(project), move |stored: &mut Option<Holders>| {
                let holders = stored.get_or_insert_with(Holders::new);
                holders.retain(|_, h| h.runs());
                holders.insert(my_id, entry);
            })
            .await;
        FeedHolder {
            state,
            project: project.to_string(),
            id,
            busy_until: now,
            alive_until,
            silence,
        }
    }

    /// Notes an event (not a heartbeat): the server is busy for [`BUSY_FOR`] more.
    pub async fn heard(&mut self) {
        let now = now_ms();
        if now + BUSY_FOR / 2 < self.busy_until {
            return;
        }
        self.busy_until = now + BUSY_FOR;
        self.alive_until = now.saturating_add(self.silence);
        self.write().await;
    }

    /// Notes a heartbeat: the feed still says something. Written once half of the silence bound
    /// has passed since the last write, so about every other heartbeat.
    pub async fn alive(&mut self) {
        let now = now_ms();
        if now.saturating_add(self.silence / 2) < self.alive_until {
            return;
        }
        self.alive_until = now.saturating_add(self.silence);
        self.write().await;
    }

    /// Writes this holder's busy and alive moments into its entry.
    async fn write(&self) {
        let (id, busy, alive) = (self.id.clone(), self.busy_until, self.alive_until);
        let written = self
            .state
            .update(
                &key(&self.project),
                move |stored: &mut Option<Holders>| match stored
                    .as_mut()
                    .and_then(|h| h.get_mut(&id))
                {
                    Some(me) => {
                        me.busy_until = me.busy_until.max(busy);
                        me.alive_until = me.alive_until.max(alive);
                        true
                    }
                    None => false,
                },
            )
            .await;
        // An entry pruned or lost vouches for nothing; a failed write leaves the old one, which
        // vouches for at most TRUST_FOR: drop it so nothing more is vouched.
        if !matches!(written, Ok(true)) {
            self.remove();
        }
    }

    fn remove(&self) {
        let (state, key, id) = (self.state.clone(), key(&self.project), self.id.clone());
        let remove = move || {
            let _ = state.update_blocking(&key, move |stored: &mut Option<Holders>| {
                if let Some(h) = stored {
                    h.remove(&id);
                }
            });
        };
        // Dropped on the runtime: the write goes to the blocking pool. Without one (the process
        // ending), the holder's pid no longer running retires it as well.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn_blocking(remove);
        }
    }
}

impl Drop for FeedHolder {
    fn drop(&mut self) {
        self.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(connected_at: EpochMillis, busy_until: EpochMillis) -> Holder {
        Holder {
            connected_at,
            busy_until,
            alive_until: EpochMillis::MAX,
            ..Holder::default()
        }
    }

    #[test]
    fn a_holder_whose_feed_went_silent_vouches_for_nothing() {
        let silent = Holder {
            alive_until: 2_000,
            ..holder(100, 500)
        };
        let quiet = Quiet {
            holders: vec![silent.clone()],
        };
        assert!(quiet.vouches_for(950, 1_999));
        assert!(
            !quiet.vouches_for(1_950, 2_000),
            "its last heartbeat is a silence bound old"
        );
        // Beside a live holder, a silent one neither vouches nor stands in the way.
        let quiet = Quiet {
            holders: vec![
                Holder {
                    busy_until: 5_000,
                    ..silent
                },
                holder(100, 500),
            ],
        };
        assert!(quiet.vouches_for(2_500, 2_600));
    }

    #[test]
    fn a_sync_is_vouched_for_only_after_every_holders_busy_moment_and_within_the_trust() {
        let quiet = Quiet {
            holders: vec![holder(100, 500), holder(300, 900)],
        };
        assert!(
            !quiet.vouches_for(800, 1_000),
            "one holder heard an event since"
        );
        assert!(quiet.vouches_for(950, 1_000));
        assert!(quiet.vouches_for(950, 950 + TRUST_FOR - 1));
        assert!(
            !quiet.vouches_for(950, 950 + TRUST_FOR),
            "trusted for so long only"
        );
        assert!(
            !Quiet::default().vouches_for(950, 1_000),
            "nobody follows the server"
        );
        let late = Quiet {
            holders: vec![holder(1_000, 1_000)],
        };
        assert!(
            !late.vouches_for(950, 1_010),
            "a holder connected after the sync cannot say what happened before it"
        );
    }

    #[tokio::test]
    async fn a_holder_is_recorded_busy_on_events_and_gone_when_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, _, state, _) = crate::test_world::world(&tmp);
        // The server's process: this one stands in for it (it runs, and is not stopped).
        let here = ProcessIdentity::of(std::process::id());
        let mut holder = FeedHolder::connected(
            state.clone(),
            "p",
            "srv",
            std::time::Duration::from_secs(30),
        )
        .await;
        let after_connect = now_ms() + 1;
        let quiet = Quiet::load(&state, "p", "srv", here).await;
        assert!(quiet.would_vouch_for(after_connect));
        assert!(
            !Quiet::load(&state, "p", "other server", here)
                .await
                .would_vouch_for(after_connect),
            "another server's holders say nothing of this one"
        );
        assert!(
            !Quiet::load(&state, "p", "srv", None)
                .await
                .would_vouch_for(after_connect),
            "a server elsewhere is always asked"
        );
        holder.heard().await;
        let quiet = Quiet::load(&state, "p", "srv", here).await;
        assert!(!quiet.would_vouch_for(now_ms()));
        assert!(quiet.would_vouch_for(now_ms() + BUSY_FOR + 1));
        drop(holder);
        // The entry is removed on the blocking pool.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let stored: Option<Holders> = state.get(&key("p")).await.unwrap();
            if stored.is_none_or(|h| h.is_empty()) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the entry stayed");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}
