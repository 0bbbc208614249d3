//! What `ao status` says of an ACP session, from its host's record alone: the activity rules as
//! one pure function ([`observation`]) of what was read ([`Look`]), and the read itself
//! ([`look`]).

use std::time::Duration;

use ao_agent::agent::{Observation, PlanItem};
use ao_agent::runtime::process::ProcessIdentity;
use ao_agent::runtime::RuntimeHandle;
use ao_agent::session::{Activity, PendingKind, PendingRequest, SessionError, Why};

use crate::files;
use crate::record::{
    HostFiles, HostPhase, HostRecord, PendingPermission, QuestionRequest, StopReason,
};

/// How long a host may take to write its first record before a session without one counts as
/// never started.
pub const START_GRACE: Duration = Duration::from_secs(60);

/// What the plugin read of one session's host.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Look {
    /// The current host's record, once it wrote one.
    pub record: Option<HostRecord>,
    /// Whether the record's host runs.
    pub host_alive: bool,
    /// Whether the host may still be starting: its launch is younger than [`START_GRACE`], or
    /// the runtime's process (which is the host, in the process runtime) runs.
    pub starting: bool,
    /// What could not be read, when something could not.
    pub unreadable: Option<String>,
}

/// Reads one session's host files (blocking), and ends its agent's process group when the host is
/// dead and the agent is not.
pub fn look(files: &HostFiles, runtime: Option<&RuntimeHandle>) -> Look {
    let starting = || {
        files::launch_age(files).is_some_and(|age| age < START_GRACE)
            || matches!(runtime, Some(RuntimeHandle::Process { pid, start_time, .. })
                if ProcessIdentity { pid: *pid, start_time: *start_time }.is_alive())
    };
    match files::read_record(files) {
        Ok(Some(record)) => {
            files::end_orphaned_agent(&record);
            Look {
                host_alive: files::host_alive(&record),
                record: Some(record),
                starting: false,
                unreadable: None,
            }
        }
        Ok(None) => Look {
            starting: starting(),
            ..Look::default()
        },
        Err(e) => Look {
            starting: starting(),
            unreadable: Some(e.to_string()),
            ..Look::default()
        },
    }
}

fn error(why: Why, message: impl Into<String>) -> Option<SessionError> {
    Some(SessionError {
        why,
        message: message.into(),
    })
}

/// The observation of a session whose host files read as `look`.
pub fn observation(look: &Look) -> Observation {
    let Some(record) = &look.record else {
        let bare = match &look.unreadable {
            Some(m) => Observation::bare(Activity::Blocked, error(Why::Unobservable, m.clone())),
            None if look.starting => Observation::bare(Activity::Active, None),
            None => Observation::bare(
                Activity::Exited,
                error(
                    Why::ServerGone,
                    "the session's ACP host never started (see the session's log)",
                ),
            ),
        };
        // Without a record nothing is known of tokens, not that none were spent: a restored
        // session's previous turns spent some, which its new host's first record carries on.
        return Observation {
            tokens: None,
            ..bare
        };
    };
    let (activity, error) = activity(record, look.host_alive);
    Observation {
        activity,
        last_activity_at: record.last_activity_at,
        model: record.model.clone(),
        summary: record.title.clone(),
        tokens: record.tokens,
        cost_usd: record.cost_usd,
        server: None,
        pending: if activity == Activity::WaitingInput {
            record
                .pending
                .iter()
                .map(pending_request)
                .chain(record.questions.iter().map(question_request))
                .collect()
        } else {
            Vec::new()
        },
        error,
        todos: (!record.plan.is_empty()).then(|| PlanItem::count(&record.plan)),
    }
}

/// The activity, and why, of a recorded phase (the table in the plugin's design).
fn activity(record: &HostRecord, host_alive: bool) -> (Activity, Option<SessionError>) {
    match &record.phase {
        HostPhase::AgentExited {
            mid_turn: true,
            status,
            ..
        } => (
            Activity::Blocked,
            error(
                Why::Interrupted,
                format!("the agent's process ended mid-turn ({status})"),
            ),
        ),
        HostPhase::AgentExited { status, .. } => (
            Activity::Exited,
            error(
                Why::ServerGone,
                format!("the agent's process ended between turns ({status})"),
            ),
        ),
        // What made a host end at start (a model it does not offer) is what a person needs to see.
        HostPhase::Failed { name, message, .. } if !host_alive => (
            Activity::Exited,
            error(Why::from_name(name), message.clone()),
        ),
        _ if !host_alive => (
            Activity::Exited,
            error(
                Why::ServerGone,
                "the session's ACP host is not running (ao restore starts it again)",
            ),
        ),
        _ if !record.pending.is_empty() || !record.questions.is_empty() => {
            (Activity::WaitingInput, None)
        }
        HostPhase::Starting | HostPhase::Turn { .. } => (Activity::Active, None),
        HostPhase::Open
        | HostPhase::Ended {
            stop: StopReason::EndTurn | StopReason::Cancelled,
            ..
        } => (Activity::Ready, None),
        HostPhase::Ended { stop, .. } => (
            Activity::Blocked,
            error(Why::Agent(stop.to_string()), stopped_because(*stop)),
        ),
        HostPhase::Failed { name, message, .. } => (
            Activity::Blocked,
            error(Why::from_name(name), message.clone()),
        ),
    }
}

/// A stop reason, for people.
fn stopped_because(stop: StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens => "the model reached its token limit; send a message to go on",
        StopReason::MaxTurnRequests => {
            "the agent reached its limit of model requests for one turn; send a message to go on"
        }
        StopReason::Refusal => "the agent refused to go on",
        StopReason::EndTurn | StopReason::Cancelled => "the turn ended",
    }
}

/// A pending permission as ao shows it.
pub fn pending_request(p: &PendingPermission) -> PendingRequest {
    PendingRequest {
        kind: PendingKind::Permission,
        id: p.id.clone(),
        title: p.title.clone(),
        from_session: None,
        tool: p.kind.map(|k| k.to_string()),
        questions: Vec::new(),
        options: p.options.clone(),
    }
}

/// A pending question request (the agent's form) as ao shows it.
pub fn question_request(q: &QuestionRequest) -> PendingRequest {
    PendingRequest {
        kind: PendingKind::Question,
        id: q.id.clone(),
        title: q.title.clone(),
        from_session: None,
        tool: None,
        questions: q.questions.clone(),
        options: Vec::new(),
    }
}

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
