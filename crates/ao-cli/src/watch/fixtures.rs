//! Sessions for the dashboard's unit tests.

use ao_core::live::LiveSession;
use ao_core::session::{
    Activity, PendingKind, PendingQuestion, PendingRequest, ProcessState, RuntimeKind,
    SessionStatus, Tokens,
};

/// A running session `id` (`project/name`) in `activity`, entered at `since`.
pub fn session(id: &str, activity: Activity, since: &str) -> LiveSession {
    let (project, name) = id.split_once('/').expect("project/name");
    LiveSession {
        status: SessionStatus {
            id: id.into(),
            project: project.into(),
            name: name.into(),
            agent: "opencode".into(),
            runtime: RuntimeKind::Process,
            process: ProcessState::Running,
            activity,
            activity_since: Some(since.into()),
            agent_session_id: Some("ses_1".into()),
            workspace: "/tmp/x".into(),
            branch: None,
            created_at: "2025-01-01T00:00:00Z".into(),
            last_activity_at: None,
            model: Some("anthropic/claude-sonnet-4-20250514".into()),
            summary: Some("Fix the linting errors in every crate of the workspace".into()),
            tokens: Some(Tokens {
                input: 1_234_567,
                output: 89_012,
                ..Tokens::default()
            }),
            cost_usd: Some(123.456789),
            budget_usd: None,
            pending: vec![],
            error: None,
            stale: false,
            stale_since: None,
            host: None,
            server: None,
            todos: None,
            files_changed: None,
            attach_command: None,
            restore_command: None,
        },
    }
}

/// `s` with a permission request pending.
pub fn with_permission(mut s: LiveSession, id: &str) -> LiveSession {
    s.status.pending.push(PendingRequest {
        kind: PendingKind::Permission,
        id: id.into(),
        title: "bash: echo hi > out.txt".into(),
        from_session: None,
        tool: Some("bash".into()),
        options: Vec::new(),
        questions: vec![],
    });
    s
}

/// `s` with a question pending, asking each of `questions` (question, options).
pub fn with_question(mut s: LiveSession, id: &str, questions: &[(&str, &[&str])]) -> LiveSession {
    s.status.pending.push(PendingRequest {
        kind: PendingKind::Question,
        id: id.into(),
        title: questions[0].0.into(),
        from_session: None,
        tool: None,
        options: Vec::new(),
        questions: questions
            .iter()
            .map(|(q, options)| PendingQuestion {
                question: (*q).into(),
                options: options.iter().map(|o| (*o).into()).collect(),
            })
            .collect(),
    });
    s
}
