//! The [`Agent`] trait: what ao needs from a coding-agent plugin.
//!
//! A plugin creates the agent's conversation before anything runs (so its id is known), says what
//! the runtime must run, delivers the first prompt, and reports what the agent is doing. A new agent
//! is one new crate implementing this trait, wired into the CLI; nothing else changes.

use std::path::Path;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use crate::clock::EpochMillis;
use crate::config::ProjectConfig;
use crate::runtime::LaunchSpec;
use crate::session::{Activity, PendingRequest, SessionError, SessionRecord, Tokens};
use crate::transcript::TranscriptEntry;

/// An agent plugin that failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent's program is missing or would not start.
    #[error("{0}")]
    Launch(String),
    /// The agent's server could not be reached or answered with an error.
    #[error("{0}")]
    Server(String),
    /// The request makes no sense for this session (nothing pending, unknown request id, ...).
    #[error("{0}")]
    Request(String),
    /// A file of the agent's could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Everything a plugin needs to set up a new session.
#[derive(Debug, Clone, Copy)]
pub struct SpawnRequest<'a> {
    /// The project's settings.
    pub project: &'a ProjectConfig,
    /// The session as reserved (address, runtime, workspace, model, agent mode).
    pub session: &'a SessionRecord,
    /// A private (0700) directory for the session's files.
    pub session_dir: &'a Path,
}

/// What [`Agent::prepare`] returns.
#[derive(Debug, Clone)]
pub struct PreparedSession {
    /// The agent's id for the conversation.
    pub agent_session_id: String,
    /// What the runtime runs.
    pub launch: LaunchSpec,
}

/// What the agent says about one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The activity. Plugins say [`Activity::Ready`] for a finished turn; the manager turns it into
    /// [`Activity::Idle`] once it is older than `readyThresholdMs`.
    pub activity: Activity,
    /// When the agent last did something.
    pub last_activity_at: Option<EpochMillis>,
    /// `provider/model` in use.
    pub model: Option<String>,
    /// The conversation's title or summary.
    pub summary: Option<String>,
    /// Token counts so far.
    pub tokens: Tokens,
    /// Cost so far in US dollars.
    pub cost_usd: f64,
    /// Requests waiting for a person.
    pub pending: Vec<PendingRequest>,
    /// Why it is blocked or exited.
    pub error: Option<SessionError>,
}

impl Observation {
    /// An observation that only knows the activity and why.
    pub fn bare(activity: Activity, error: Option<SessionError>) -> Observation {
        Observation {
            activity,
            last_activity_at: None,
            model: None,
            summary: None,
            tokens: Tokens::default(),
            cost_usd: 0.0,
            pending: Vec::new(),
            error,
        }
    }
}

/// How a person answers a permission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermitDecision {
    /// Allow this one call.
    Once,
    /// Allow this call and, from now on, the calls it stands for (the agent decides which).
    Always,
    /// Refuse it.
    Reject,
}

/// A person's reply to a pending request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// An answer to a permission request.
    Permit {
        /// The request's id.
        id: String,
        /// Allow once, always, or reject.
        decision: PermitDecision,
    },
    /// Answers to a question request: one answer per question it asks, in order.
    Answer {
        /// The request's id.
        id: String,
        /// One answer per question (an option's label, or free text).
        answers: Vec<String>,
    },
    /// Dismisses a question request without answering.
    Dismiss {
        /// The request's id.
        id: String,
    },
}

/// A coding agent.
#[async_trait]
pub trait Agent: Send + Sync {
    /// The plugin's name, as in config (`opencode`).
    fn name(&self) -> &'static str;

    /// Creates the agent's conversation and says what the runtime must run. Nothing is running
    /// yet; the prompt is not sent yet.
    async fn prepare(&self, req: SpawnRequest<'_>) -> Result<PreparedSession, AgentError>;

    /// Sends a prompt to the session, once its runtime runs. Used for the first prompt and for
    /// follow-ups.
    async fn send(
        &self,
        project: &ProjectConfig,
        session: &SessionRecord,
        prompt: &str,
    ) -> Result<(), AgentError>;

    /// Observes the given sessions of one project, one answer per session, in order. Implementations
    /// should batch and parallelise: this runs on every `ao status`.
    async fn observe(
        &self,
        project: &ProjectConfig,
        sessions: &[&SessionRecord],
    ) -> Vec<Observation>;

    /// What a person's terminal runs to watch and drive the session (the agent's own UI).
    async fn attach_launch(
        &self,
        project: &ProjectConfig,
        session: &SessionRecord,
    ) -> Result<LaunchSpec, AgentError>;

    /// Stops the agent's side of a session: aborts a running turn; with `purge`, deletes the
    /// conversation too.
    async fn kill(
        &self,
        project: &ProjectConfig,
        session: &SessionRecord,
        purge: bool,
    ) -> Result<(), AgentError>;

    /// Releases what the agent keeps running for a project (a server) once no session of the
    /// project is live any more.
    async fn release(&self, project: &ProjectConfig);

    /// Answers a pending request of the session (or of one of its child sessions).
    async fn reply(
        &self,
        project: &ProjectConfig,
        session: &SessionRecord,
        reply: &Reply,
    ) -> Result<(), AgentError>;

    /// The session's conversation so far, oldest first.
    async fn transcript(
        &self,
        project: &ProjectConfig,
        session: &SessionRecord,
    ) -> Result<Vec<TranscriptEntry>, AgentError>;

    /// A feed that yields whenever something about the session may have changed (an event from the
    /// agent's server). It ends when its source breaks; callers poll as well, so a feed is only
    /// ever a way to notice sooner.
    async fn changes(
        &self,
        project: &ProjectConfig,
        session: &SessionRecord,
    ) -> Result<BoxStream<'static, ()>, AgentError>;

    /// Brings an existing conversation back: makes sure what it needs runs (a server) and says
    /// what the runtime must run for it, as [`Agent::prepare`] does for a new one.
    async fn restore(&self, req: SpawnRequest<'_>) -> Result<PreparedSession, AgentError>;

    /// Checks for `ao doctor`: the agent's program and its version, and for each project what
    /// the agent keeps running for it (a server) and whether it answers. Never starts anything.
    async fn doctor(&self, projects: &[ProjectConfig]) -> Vec<crate::doctor::Check> {
        let _ = projects;
        Vec::new()
    }
}
