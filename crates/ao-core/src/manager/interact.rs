//! Talking to a running session: follow-up messages, replies to its pending requests, waiting for
//! a state, and reading its conversation.

use std::time::{Duration, Instant};

use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use super::session_manager::SessionManager;
use crate::agent::{PermitDecision, Reply, SessionContext};
use crate::error::{Error, Result};
use crate::seen::Seen;
use crate::session::{Activity, Lifecycle, PendingKind, PendingRequest, SessionRecord};
use crate::target::Target;
use crate::transcript::TranscriptEntry;

/// How often `wait` looks again when no event says anything changed.
pub const WAIT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// What `wait` waits for when told no state: anything but active.
pub const UNTIL_NOT_ACTIVE: [Activity; 5] = [
    Activity::WaitingInput,
    Activity::Blocked,
    Activity::Ready,
    Activity::Idle,
    Activity::Exited,
];

/// A state a `wait` is told to wait for, as a person writes it (`ready`, `waiting_input`…).
pub fn parse_until(word: &str) -> std::result::Result<Activity, String> {
    use strum::VariantNames;
    word.trim()
        .parse()
        .map_err(|_| crate::error::unknown_word("state", word, Activity::VARIANTS))
}

/// What `ao answer` does with a pending question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuestionReply {
    /// One answer per question the request asks.
    Answers(Vec<String>),
    /// Dismiss it.
    Dismiss,
}

impl SessionManager {
    /// A live session, or an error that says how to bring it back.
    async fn live_one(&self, target: &Target) -> Result<SessionRecord> {
        let rec = self.resolve_one(target).await?;
        match rec.lifecycle {
            Lifecycle::Live => Ok(rec),
            Lifecycle::Killed => Err(Error::Conflict(format!(
                "session {} was killed; `ao restore {}` brings it back",
                rec.address, rec.address
            ))),
            Lifecycle::Spawning => Err(Error::Conflict(format!(
                "session {} was never fully spawned; `ao kill {}` removes it",
                rec.address, rec.address
            ))),
        }
    }

    /// Sends a follow-up message to a session; returns once the agent has it. Refuses a session
    /// over its budget.
    pub async fn send(&self, target: &Target, message: &str) -> Result<SessionRecord> {
        self.send_with(target, message, false).await
    }

    /// [`send`](Self::send); with `over_budget`, also to a session over its budget, whose turn
    /// that the message starts then runs to its end (the session is over budget again after it).
    pub async fn send_with(
        &self,
        target: &Target,
        message: &str,
        over_budget: bool,
    ) -> Result<SessionRecord> {
        let rec = self.live_one(target).await?;
        self.check_budget(&rec, "send", over_budget).await?;
        let bound = self.bind_session(&rec)?;
        let session = SessionContext {
            record: &rec,
            home: &self.home,
        };
        let address = rec.address.clone();
        if over_budget {
            // Given before the prompt goes, so that no observer stops the turn it starts.
            let from = self.now_ms();
            let address = address.clone();
            self.db(move |store| store.allow_over_budget(&address, from))
                .await?;
        }
        if let Err(e) = bound.agent.send(&bound.cx(), session, message).await {
            if over_budget {
                let _ = self
                    .db(move |store| store.revoke_over_budget(&address))
                    .await;
            }
            return Err(e.into());
        }
        if over_budget {
            self.db(move |store| store.arm_over_budget(&address))
                .await?;
        }
        let _ = self.ensure_monitor(&rec.address.project).await;
        Ok(rec)
    }

    /// Answers a pending permission request; `request` picks one when several are pending.
    pub async fn permit(
        &self,
        target: &Target,
        decision: PermitDecision,
        request: Option<&str>,
    ) -> Result<(SessionRecord, PendingRequest)> {
        let (rec, picked) = self
            .pick_pending(target, PendingKind::Permission, request)
            .await?;
        let reply = Reply::Permit {
            id: picked.id.clone(),
            decision,
        };
        self.reply(&rec, &reply).await?;
        Ok((rec, picked))
    }

    /// Answers (or dismisses) a pending question; `request` picks one when several are pending.
    pub async fn answer(
        &self,
        target: &Target,
        request: Option<&str>,
        answer: QuestionReply,
    ) -> Result<(SessionRecord, PendingRequest)> {
        let (rec, picked) = self
            .pick_pending(target, PendingKind::Question, request)
            .await?;
        let reply = match answer {
            QuestionReply::Answers(answers) => Reply::Answer {
                id: picked.id.clone(),
                answers,
                questions: picked.questions.clone(),
            },
            QuestionReply::Dismiss => Reply::Dismiss {
                id: picked.id.clone(),
            },
        };
        self.reply(&rec, &reply).await?;
        Ok((rec, picked))
    }

    async fn reply(&self, rec: &SessionRecord, reply: &Reply) -> Result<()> {
        let bound = self.bind_session(rec)?;
        let session = SessionContext {
            record: rec,
            home: &self.home,
        };
        bound.agent.reply(&bound.cx(), session, reply).await?;
        // The turn goes on: its monitor, should it have died, is to see it end.
        let _ = self.ensure_monitor(&rec.address.project).await;
        Ok(())
    }

    /// The one pending request of `kind` that `request` names, or the only one there is.
    async fn pick_pending(
        &self,
        target: &Target,
        kind: PendingKind,
        request: Option<&str>,
    ) -> Result<(SessionRecord, PendingRequest)> {
        let rec = self.live_one(target).await?;
        let status = self.look_one(&rec).await?;
        let (noun, command) = match kind {
            PendingKind::Permission => ("permission request", "ao permit"),
            PendingKind::Question => ("question", "ao answer"),
        };
        let pending: Vec<&PendingRequest> =
            status.pending.iter().filter(|p| p.kind == kind).collect();
        let listing = || {
            pending
                .iter()
                .map(|p| format!("  {}  {}", p.id, p.title))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let picked = match (request, pending.as_slice()) {
            (_, []) => {
                return Err(Error::Conflict(format!(
                    "{} has no pending {noun} (it is {})",
                    rec.address, status.activity
                )))
            }
            (Some(id), _) => pending
                .iter()
                .find(|p| p.id == id)
                .map(|p| (*p).clone())
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "{} has no pending {noun} {id}; pending:\n{}",
                        rec.address,
                        listing()
                    ))
                })?,
            (None, [one]) => (*one).clone(),
            (None, _) => {
                return Err(Error::Usage(format!(
                    "{} has {} pending {noun}s; name one, e.g. `{command} {} {}`:\n{}",
                    rec.address,
                    pending.len(),
                    rec.address,
                    pending[0].id,
                    listing()
                )))
            }
        };
        Ok((rec, picked))
    }

    /// Waits until the session is in one of `until` (`Ready` also accepts `Idle`), following the
    /// agent's events and polling besides; fails when the session exits first or on timeout.
    pub async fn wait(
        &self,
        target: &Target,
        until: &[Activity],
        timeout: Duration,
        poll: Duration,
    ) -> Result<Seen> {
        let rec = self.resolve_one(target).await?;
        let deadline = Instant::now() + timeout;
        // Connected only once a look has not settled it: a wait that is over at once follows
        // nothing.
        let mut feed = None;
        let mut followed = false;
        let matches = |a: Activity| {
            until.contains(&a) || (a == Activity::Idle && until.contains(&Activity::Ready))
        };
        let mut current = rec.clone();
        loop {
            let status = self.look_one(&current).await?;
            // A stale status is what was known before: it decides nothing.
            if !status.is_stale() {
                if matches(status.activity) {
                    return Ok(status);
                }
                if status.activity == Activity::Exited {
                    let why = status
                        .error
                        .as_ref()
                        .map(|e| format!(": {}", e.message))
                        .unwrap_or_default();
                    return Err(Error::Wait(format!(
                        "{} exited before it was {}{why}",
                        rec.address,
                        names(until)
                    )));
                }
            }
            if !followed {
                followed = true;
                feed = self.changes(&rec).await;
                // Looked at again at once: the feed hears only what happens from now on.
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Wait(format!(
                    "{} is still {} after {} (waited for {})",
                    rec.address,
                    status.activity,
                    seconds(timeout),
                    names(until)
                )));
            }
            let tick = poll.min(deadline - now);
            match feed.as_mut() {
                Some(f) => {
                    tokio::select! {
                        ev = f.next() => if ev.is_none() {
                            // The stream broke: polling alone from here on.
                            feed = None;
                        },
                        _ = tokio::time::sleep(tick) => {}
                    }
                }
                None => tokio::time::sleep(tick).await,
            }
            // Read the record again: a restore may replace its runtime meanwhile.
            let address = rec.address.clone();
            current = match self.db(move |store| store.get(&address)).await? {
                Some(now) => now,
                // Purged meanwhile: the same error as naming a session that is not there.
                None => {
                    self.resolve_one(&Target::Session(rec.address.clone()))
                        .await?
                }
            };
        }
    }

    /// A feed of "the session may have changed" signals from its agent, if it has one now: the
    /// project's change feed, narrowed to this session.
    pub async fn changes(&self, rec: &SessionRecord) -> Option<BoxStream<'static, ()>> {
        let bound = self.bind_session(rec).ok()?;
        let id = rec.agent_session_id.clone()?;
        // No feed (turned off, or the server is down) only means polling alone.
        let feed = bound.agent.project_changes(&bound.cx()).await.ok()?;
        Some(
            feed.filter_map(move |change| std::future::ready(change.concerns(&id).then_some(())))
                .boxed(),
        )
    }

    /// The session's conversation so far.
    pub async fn transcript(&self, rec: &SessionRecord) -> Result<Vec<TranscriptEntry>> {
        let bound = self.bind_session(rec)?;
        let session = SessionContext {
            record: rec,
            home: &self.home,
        };
        Ok(bound.agent.transcript(&bound.cx(), session).await?)
    }
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else {
        format!("{s:.0}s")
    }
}

fn names(states: &[Activity]) -> String {
    states
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}
