//! From what the server says about a session to what `ao status` reports: the activity rules
//! (docs/architecture.md, "Activity"), as one pure function, unit-tested without a server.

use ao_agent::agent::Observation;
use ao_agent::session::{Activity, PendingRequest, SessionError, TodoCount, Why};

use crate::types::{
    ErrorName, FinishReason, MessageInfo, Role, Session, SessionStatus, StatusKind,
};

/// A user message with no reply yet counts as a turn starting for this long; after that, with the
/// session idle, it is a turn that never started.
const STARTING_GRACE_MS: i64 = 15_000;

/// What the server said about one session.
#[derive(Debug, Clone)]
pub struct ServerFacts<'a> {
    /// The session object.
    pub session: &'a Session,
    /// Its entry in `/session/status`; `None` when idle (idle sessions are absent).
    pub status: Option<&'a SessionStatus>,
    /// Its last message, if any.
    pub last_message: Option<&'a MessageInfo>,
    /// Permissions and questions pending for it or its child sessions.
    pub pending: Vec<PendingRequest>,
    /// When the server now running started (epoch ms).
    pub server_started_at: i64,
    /// How far its plan is, when read.
    pub todos: Option<TodoCount>,
}

/// Whether a session whose last message is `last` is done with its turn for good: an assistant
/// step that has ended, with an error or with a finish other than a call for tools (after which
/// the next step follows). A session with a pending request, a retry or a running step has none.
pub fn turn_settled(last: &MessageInfo) -> bool {
    match last.role {
        Role::Assistant => {
            last.time.completed.is_some()
                && (last.error.is_some()
                    || last
                        .finish
                        .as_ref()
                        .is_some_and(|f| *f != FinishReason::ToolCalls))
        }
        Role::User | Role::Unknown => false,
    }
}

/// The observation for one session, `now` in epoch milliseconds.
pub fn observe(facts: &ServerFacts<'_>, now: i64) -> Observation {
    let s = facts.session;
    let (activity, error) = activity(facts, now);
    Observation {
        activity,
        last_activity_at: Some(s.time.updated.max(s.time.created)),
        model: s
            .model
            .as_ref()
            .filter(|m| !m.provider_id.is_empty())
            .map(|m| format!("{}/{}", m.provider_id, m.id)),
        summary: Some(s.title.clone()).filter(|t| !t.is_empty()),
        tokens: Some(s.tokens.into()),
        cost_usd: Some(s.cost),
        pending: facts.pending.clone(),
        error,
        todos: facts.todos,
        server: None,
    }
}

fn activity(facts: &ServerFacts<'_>, now: i64) -> (Activity, Option<SessionError>) {
    // A pending request keeps the status busy: it outranks active.
    if !facts.pending.is_empty() {
        return (Activity::WaitingInput, None);
    }
    match facts.status.map(|s| s.kind) {
        Some(StatusKind::Busy) => return (Activity::Active, None),
        Some(StatusKind::Retry) => {
            let st = facts.status.cloned().unwrap_or_default();
            let message = format!(
                "the provider is being retried (attempt {}): {}",
                st.attempt.unwrap_or(0),
                st.message.unwrap_or_default()
            );
            return (
                Activity::Blocked,
                Some(SessionError {
                    why: Why::Retry,
                    message,
                }),
            );
        }
        // An unknown kind says nothing ao can use: the last message decides, as when idle.
        Some(StatusKind::Idle | StatusKind::Unknown) | None => {}
    }
    let Some(last) = facts.last_message else {
        return (Activity::Ready, None);
    };
    // `/session/status` lags a turn that has just begun (seconds, the first time a directory is
    // used): an unfinished turn begun by the server now running is in progress, while one begun
    // before that server started was interrupted when its server stopped.
    let this_server = last.time.created >= facts.server_started_at;
    match last.role {
        Role::User => {
            if this_server && now - last.time.created < STARTING_GRACE_MS {
                return (Activity::Active, None);
            }
            return (
                Activity::Blocked,
                Some(SessionError {
                    why: Why::NoReply,
                    message: "the last message got no reply; `ao send` it again".into(),
                }),
            );
        }
        // A message of a role ao does not know is judged like a reply: by its error and its end.
        Role::Assistant | Role::Unknown => {}
    }
    if let Some(err) = &last.error {
        // An abort is a person's decision, not a failure: the agent takes the next message.
        if err.name == ErrorName::MessageAbortedError {
            return (Activity::Ready, None);
        }
        return (
            Activity::Blocked,
            Some(SessionError {
                why: Why::Agent(err.name.as_str().to_string()),
                message: err.message(),
            }),
        );
    }
    if last.time.completed.is_none() && this_server {
        return (Activity::Active, None);
    }
    if last.time.completed.is_none() {
        return (
            Activity::Blocked,
            Some(SessionError {
                why: Why::Interrupted,
                message: "the turn was interrupted (its server stopped mid-turn); \
                          `ao send` to continue"
                    .into(),
            }),
        );
    }
    (Activity::Ready, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ApiError, MessageTime};
    use ao_agent::session::PendingKind;

    fn session() -> Session {
        let mut s = Session {
            id: "ses_1".into(),
            title: "t".into(),
            cost: 0.000435,
            ..Default::default()
        };
        s.tokens.input = 110;
        s.tokens.output = 7;
        s.time.updated = 1_000;
        s
    }

    fn assistant(completed: Option<i64>, error: Option<&str>) -> MessageInfo {
        MessageInfo {
            role: Role::Assistant,
            time: MessageTime {
                created: 900,
                completed,
            },
            error: error.map(|n| ApiError {
                name: n.to_string().into(),
                data: serde_json::json!({"message": "boom"}),
            }),
            ..Default::default()
        }
    }

    fn state(
        status: Option<StatusKind>,
        last: Option<MessageInfo>,
        pending: bool,
    ) -> (Activity, Option<String>) {
        let s = session();
        let st = status.map(|kind| SessionStatus {
            kind,
            attempt: Some(2),
            message: Some("Cannot connect".into()),
            next: None,
        });
        let facts = ServerFacts {
            todos: None,
            server_started_at: 500,
            session: &s,
            status: st.as_ref(),
            last_message: last.as_ref(),
            pending: if pending {
                vec![PendingRequest {
                    kind: PendingKind::Permission,
                    id: "per_1".into(),
                    title: "bash: x".into(),
                    from_session: None,
                    tool: None,
                    options: Vec::new(),
                    questions: Vec::new(),
                }]
            } else {
                vec![]
            },
        };
        let o = observe(&facts, 2_000);
        (
            o.activity,
            o.error.map(|e| format!("{}: {}", e.why, e.message)),
        )
    }

    #[test]
    fn states_follow_design() {
        assert_eq!(
            state(Some(StatusKind::Busy), None, false).0,
            Activity::Active
        );
        assert_eq!(
            state(Some(StatusKind::Busy), None, true).0,
            Activity::WaitingInput
        );
        let (a, e) = state(Some(StatusKind::Retry), None, false);
        assert_eq!(a, Activity::Blocked);
        assert!(e.unwrap().contains("attempt 2): Cannot connect"));
        assert_eq!(
            state(None, Some(assistant(Some(950), None)), false).0,
            Activity::Ready
        );
        let (a, e) = state(None, Some(assistant(Some(950), Some("APIError"))), false);
        assert_eq!(
            (a, e.as_deref()),
            (Activity::Blocked, Some("APIError: boom"))
        );
        // Unfinished and begun by this server (started at 500): in progress.
        assert_eq!(
            state(None, Some(assistant(None, None)), false).0,
            Activity::Active
        );
        // Unfinished and begun before this server started: interrupted.
        let mut old = assistant(None, None);
        old.time.created = 100;
        let (a, e) = state(None, Some(old), false);
        assert_eq!(a, Activity::Blocked);
        assert!(e.unwrap().starts_with("Interrupted"));
        assert_eq!(
            state(
                None,
                Some(assistant(Some(950), Some("MessageAbortedError"))),
                false
            )
            .0,
            Activity::Ready
        );
        assert_eq!(state(None, None, false).0, Activity::Ready);
    }

    #[test]
    fn only_an_ended_final_step_settles_a_turn() {
        let finished = |finish: Option<&str>| MessageInfo {
            finish: finish.map(|f| f.to_string().into()),
            ..assistant(Some(1_000), None)
        };
        assert!(turn_settled(&finished(Some("stop"))));
        assert!(turn_settled(&assistant(Some(1_000), Some("APIError"))));
        // More steps follow a call for tools; an open step may wait on a request.
        assert!(!turn_settled(&finished(Some("tool-calls"))));
        assert!(!turn_settled(&assistant(None, None)));
        let user = MessageInfo {
            role: Role::User,
            ..finished(Some("stop"))
        };
        assert!(!turn_settled(&user));
    }

    #[test]
    fn a_status_or_role_ao_does_not_know_leaves_the_last_message_to_decide() {
        let done = Some(assistant(Some(950), None));
        assert_eq!(
            state(Some(StatusKind::Unknown), done, false).0,
            Activity::Ready
        );
        let odd = MessageInfo {
            role: Role::Unknown,
            ..assistant(None, None)
        };
        assert_eq!(state(None, Some(odd.clone()), false).0, Activity::Active);
        let odd = MessageInfo {
            finish: Some("stop".to_string().into()),
            time: MessageTime {
                created: 900,
                completed: Some(950),
            },
            ..odd
        };
        assert!(!turn_settled(&odd), "only a reply settles a turn");
    }

    #[test]
    fn figures_come_from_the_session() {
        let s = session();
        let o = observe(
            &ServerFacts {
                todos: None,
                server_started_at: 0,
                session: &s,
                status: None,
                last_message: None,
                pending: vec![],
            },
            0,
        );
        let tokens = o.tokens.expect("tokens");
        assert_eq!((tokens.input, tokens.output), (110, 7));
        assert_eq!(o.cost_usd, Some(0.000435));
        assert_eq!(o.last_activity_at, Some(1_000));
    }
}
