//! What one look at a session saw: ao's typed model of a session's state, with times as epoch
//! milliseconds and the error as a typed reason.
//!
//! [`SessionManager::look`](crate::manager::SessionManager::look) makes one [`Seen`] per session
//! and writes nothing; [`SessionManager::record`](crate::manager::SessionManager::record) writes
//! what a batch of them shows (transitions, costs, budget stops, last observations). The JSON of
//! `ao status --json` ([`SessionStatus`]) is made from a `Seen` only where ao prints or serves it,
//! by [`Seen::to_status`].

use crate::agent::Observation;
use crate::clock::{rfc3339, EpochMillis};
use crate::session::{
    Activity, PendingRequest, ProcessState, SessionError, SessionRecord, SessionStatus, TodoCount,
    Tokens,
};

/// What one look saw of one session.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The session's record, as the look read it.
    pub record: SessionRecord,
    /// When the look was made.
    pub at: EpochMillis,
    /// Whether the runtime's process runs.
    pub process: ProcessState,
    /// What the agent is doing: after [`IdleRule`], and `blocked` for a budget stop.
    pub activity: Activity,
    /// When it entered that activity: as recorded, or, for a change not recorded yet, what
    /// recording it would say.
    pub activity_since: EpochMillis,
    /// When the agent last did something.
    pub last_activity_at: Option<EpochMillis>,
    /// `provider/model`: the agent's, else the one asked for at spawn.
    pub model: Option<String>,
    /// The conversation's title or summary.
    pub summary: Option<String>,
    /// Tokens used so far, the agent's own figures; `None` when they do not add up to what it
    /// spent.
    pub tokens: Option<Tokens>,
    /// Cost so far in US dollars, the agent's own figure (or from the configured price); `None`
    /// when the agent reports none.
    pub cost_usd: Option<f64>,
    /// The session's budget in US dollars, when one is set.
    pub budget_usd: Option<f64>,
    /// Requests waiting for a person.
    pub pending: Vec<PendingRequest>,
    /// Why it is blocked or exited (or could not be observed).
    pub error: Option<SessionError>,
    /// How far the agent's plan is, when it has one.
    pub todos: Option<TodoCount>,
    /// How many files its work tree changed against its base; `None` without a work tree of its
    /// own, or when git could not tell.
    pub files_changed: Option<usize>,
    /// The machine its project's agent server is on: `None` for this one.
    pub host: Option<String>,
    /// The agent's server it works through, as its agent says.
    pub server: Option<crate::session::AgentServer>,
    /// Whether this is what was seen now, or what was last known.
    pub freshness: Freshness,
    /// What recording it writes.
    pub(crate) note: Note,
}

/// Whether a look saw a session now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Seen now.
    Fresh,
    /// Its agent did not answer within the status budget: what is shown is what was last
    /// observed, at `since` (`None`: nothing ever was).
    Stale {
        /// When what is shown was observed.
        since: Option<EpochMillis>,
    },
}

/// What [`record`](crate::manager::SessionManager::record) needs of a look besides what it shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Note {
    /// The observation to keep as the session's last: one that saw the session now (not one that
    /// says only that it could not be seen).
    pub keep: Option<Observation>,
    /// What tells one instance of the activity from another (store::Sighting's key).
    pub key: String,
    /// When it entered its activity, at the earliest, if no transition of it is recorded yet.
    pub first_seen_at: EpochMillis,
    /// The over-budget allowance its ended turn used up: when it was given.
    pub allowance_used: Option<EpochMillis>,
    /// What the session and its project have cost, as the store will say once this is recorded.
    pub spend: Spend,
    /// Whether recording it would write anything, as the store read by its look says.
    pub unrecorded: bool,
}

/// What a session and its project have cost, in US dollars, for budgets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Spend {
    /// The session's highest cost seen.
    pub session_usd: f64,
    /// The total of the project's sessions.
    pub project_usd: f64,
}

impl Seen {
    /// Whether it was seen now rather than taken from what was last known.
    pub fn is_stale(&self) -> bool {
        matches!(self.freshness, Freshness::Stale { .. })
    }

    /// Whether `other` shows the same as this: what a view would print is unchanged (when each
    /// look was made, the parts of the record no status shows, and what only recording needs,
    /// aside).
    pub fn shows_same(&self, other: &Seen) -> bool {
        // Every field named, so that a new one is not forgotten here.
        let Seen {
            record,
            at: _,
            process,
            activity,
            activity_since,
            last_activity_at,
            model,
            summary,
            tokens,
            cost_usd,
            budget_usd,
            pending,
            error,
            todos,
            files_changed,
            host,
            server,
            freshness,
            note: _,
        } = self;
        shown_of(record) == shown_of(&other.record)
            && *process == other.process
            && *activity == other.activity
            && *activity_since == other.activity_since
            && *last_activity_at == other.last_activity_at
            && *model == other.model
            && *summary == other.summary
            && *tokens == other.tokens
            && *cost_usd == other.cost_usd
            && *budget_usd == other.budget_usd
            && *pending == other.pending
            && *error == other.error
            && *todos == other.todos
            && *files_changed == other.files_changed
            && *host == other.host
            && *server == other.server
            && *freshness == other.freshness
    }

    /// The object of `ao status --json`: what ao prints and serves.
    pub fn to_status(&self) -> SessionStatus {
        let r = &self.record;
        let id = r.address.to_string();
        let (stale, stale_since) = match self.freshness {
            Freshness::Fresh => (false, None),
            Freshness::Stale { since } => (true, since.map(rfc3339)),
        };
        SessionStatus {
            project: r.address.project.clone(),
            name: r.address.name.clone(),
            agent: r.agent.clone(),
            runtime: r.runtime,
            process: self.process,
            activity: self.activity,
            activity_since: Some(rfc3339(self.activity_since)),
            agent_session_id: r.agent_session_id.clone(),
            workspace: r.workspace.clone(),
            branch: r.branch.clone(),
            created_at: rfc3339(r.created_at),
            last_activity_at: self.last_activity_at.map(rfc3339),
            model: self.model.clone(),
            summary: self.summary.clone(),
            tokens: self.tokens,
            cost_usd: self.cost_usd,
            budget_usd: self.budget_usd,
            pending: self.pending.clone(),
            error: self.error.clone(),
            stale,
            stale_since,
            todos: self.todos,
            host: self.host.clone(),
            server: self.server.clone(),
            files_changed: self.files_changed,
            attach_command: Some(format!("ao attach {id}")),
            restore_command: Some(format!("ao restore {id}")),
            id,
        }
    }
}

/// What a status shows of a record.
fn shown_of(r: &SessionRecord) -> impl PartialEq + '_ {
    (
        &r.address,
        &r.agent,
        r.runtime,
        &r.agent_session_id,
        &r.workspace,
        &r.branch,
        r.created_at,
    )
}

impl From<&Seen> for SessionStatus {
    fn from(seen: &Seen) -> SessionStatus {
        seen.to_status()
    }
}

/// The rule that turns `ready` into `idle`: a finished turn untouched for longer than
/// `readyThresholdMs`. Every observer (a status, a live view, the store's first estimate of
/// when a state began) goes through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleRule {
    /// `readyThresholdMs`.
    pub threshold_ms: i64,
}

impl IdleRule {
    /// When a turn that ended at `last_activity` turns (or turned) idle.
    pub fn idle_from(self, last_activity: EpochMillis) -> EpochMillis {
        last_activity.saturating_add(self.threshold_ms)
    }

    /// What `activity`, last active at `last_activity`, is at `now`.
    pub fn at(
        self,
        activity: Activity,
        last_activity: Option<EpochMillis>,
        now: EpochMillis,
    ) -> Activity {
        match (activity, last_activity) {
            (Activity::Ready, Some(t)) if now > self.idle_from(t) => Activity::Idle,
            (a, _) => a,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_turns_idle_once_the_threshold_has_passed_and_nothing_else_does() {
        let rule = IdleRule { threshold_ms: 100 };
        assert_eq!(rule.at(Activity::Ready, Some(1000), 1100), Activity::Ready);
        assert_eq!(rule.at(Activity::Ready, Some(1000), 1101), Activity::Idle);
        assert_eq!(rule.at(Activity::Ready, None, 9999), Activity::Ready);
        assert_eq!(rule.at(Activity::Blocked, Some(0), 9999), Activity::Blocked);
        assert_eq!(rule.idle_from(1000), 1100);
    }

    #[test]
    fn an_error_is_its_name_and_message_in_json_and_reads_back_the_same() {
        use crate::session::Why;
        let own = [
            "ServerUnresponsive",
            "Unreachable",
            "Unauthorized",
            "BudgetExceeded",
            "Interrupted",
            "Retry",
            "Unobservable",
            "UnknownProject",
            "UnknownAgent",
            "Unobserved",
            "SpawnIncomplete",
            "SessionDeleted",
            "NoReply",
            "ServerGone",
        ];
        for name in own {
            let why = Why::from_name(name);
            assert!(!matches!(why, Why::Agent(_)), "{name} is ao's own");
            assert_eq!(why.name(), name);
        }
        for (why, name) in [
            (Why::BudgetExceeded, "BudgetExceeded"),
            (Why::Agent("APIError".into()), "APIError"),
        ] {
            let e = SessionError {
                why,
                message: "m".into(),
            };
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json, serde_json::json!({"name": name, "message": "m"}));
            assert_eq!(serde_json::from_value::<SessionError>(json).unwrap(), e);
        }
        assert!(Why::Unreachable.is_unseen() && Why::Unauthorized.is_unseen());
        assert!(!Why::ServerUnresponsive.is_unseen());
    }
}
