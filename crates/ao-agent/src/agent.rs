//! The [`Agent`] trait: what ao needs from a coding-agent plugin.
//!
//! A plugin creates the agent's conversation before anything runs (so its id is known), says what
//! the runtime must run, delivers the first prompt, and reports what the agent is doing. Every call
//! gets a [`ProjectContext`] (the project, the state home, and the plugin's own typed part of ao's
//! store) and, for one session, a [`SessionContext`] (its record with the runtime handle, and its
//! private directory), so that a plugin keeps nothing in memory between `ao` invocations and never
//! opens ao's database itself. A new agent is one new crate implementing this trait plus one line
//! in the CLI's registry; docs/architecture.md ("A plugin") says what it implements.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use crate::clock::EpochMillis;
use crate::config::{AgentKeys, ConfigValue, SettingProblem};
use crate::error::StateError;
use crate::home::StateHome;
use crate::project::Project;
use crate::runtime::LaunchSpec;
use crate::session::{
    Activity, PendingQuestion, PendingRequest, SessionError, SessionRecord, TodoCount, Tokens,
};
use crate::state::PluginState;
use crate::transcript::TranscriptEntry;

/// The hidden subcommand of the `ao` binary that runs a helper process of an agent plugin (an
/// event follower, say): `ao agent-helper <agent> <args…>`. A plugin puts it in the
/// [`LaunchSpec`] it returns; the CLI's registry hands the arguments to the plugin.
pub const AGENT_HELPER_SUBCOMMAND: &str = "agent-helper";

/// Why an agent plugin failed, kept typed so that the CLI can tell a person's mistake (exit 2) from
/// a failure (exit 1), and callers can match on the cause.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// What the request names does not exist (a request id, a conversation): the person's to fix.
    #[error("{0}")]
    NotFound(String),
    /// The request makes no sense now (nothing pending, the wrong number of answers): the
    /// person's to fix.
    #[error("{0}")]
    Refused(String),
    /// The agent's server did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// The agent's server refused ao's credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The agent's server cannot be reached: not running, or the connection failed.
    #[error("{0}")]
    Unreachable(String),
    /// The agent's server answered with an error of its own, or with something unreadable.
    #[error("{0}")]
    Server(String),
    /// The agent's program is missing or would not start.
    #[error("{0}")]
    Launch(String),
    /// A file of the agent's could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// ao's store (the plugin's state) or state home could not be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// A key of a config file that is not trusted was needed (a server's password, a host):
    /// refused, the person's to decide ([`crate::trust`]).
    #[error(transparent)]
    Untrusted(#[from] crate::trust::Untrusted),
}

impl AgentError {
    /// True when the person must fix their request (exit code 2), whoever found the mistake.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            AgentError::NotFound(_) | AgentError::Refused(_) | AgentError::Untrusted(_)
        )
    }
}

/// What every call of an agent gets: the project it is about, the state home, and the plugin's own
/// part of ao's store.
#[derive(Clone, Copy)]
pub struct ProjectContext<'a> {
    /// What the agent may know of the project.
    pub project: &'a Project,
    /// ao's state home (for the plugin's own files: logs, secrets).
    pub home: &'a StateHome,
    /// The plugin's typed state in ao's store.
    pub state: &'a PluginState,
}

/// One session as an agent sees it.
#[derive(Debug, Clone, Copy)]
pub struct SessionContext<'a> {
    /// The session as stored: address, workspace, the agent's id for the conversation (once
    /// known), and the runtime handle (once started) with which its terminal or process is found.
    pub record: &'a SessionRecord,
    /// ao's state home, where the session's directory is.
    pub home: &'a StateHome,
}

impl SessionContext<'_> {
    /// The session's private (0700) directory, for the plugin's files about it (a transcript, a
    /// prompt file). It exists once the session is reserved.
    pub fn dir(&self) -> PathBuf {
        self.home
            .session_path(&self.record.address.project, &self.record.address.name)
    }
}

/// What [`Agent::prepare`] returns.
#[derive(Debug, Clone)]
pub struct PreparedSession {
    /// The agent's id for the conversation.
    pub agent_session_id: String,
    /// What the runtime runs.
    pub launch: LaunchSpec,
    /// What `launch` is to the session.
    pub role: LaunchRole,
}

/// What a session's launch is to it, which decides where a runtime may run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchRole {
    /// A view of a session that lives elsewhere (OpenCode's TUI or event follower, the session
    /// itself being on the agent's server): a lazy tmux session runs ao's own view in its pane
    /// instead, and opens this one while someone looks.
    Viewer,
    /// What keeps the session alive (an ACP agent's host, whose child the agent is): a tmux
    /// session always runs it in its pane, and the session ends with it.
    Host,
}

/// What the agent says about one session. The store keeps the last one of each session, as JSON,
/// for when its agent cannot answer in time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    /// Token counts so far; `None` when the agent's reports do not add up to what it spent (no
    /// usage reported, or a usage that covers only part of a turn): ao never guesses.
    pub tokens: Option<Tokens>,
    /// Cost so far in US dollars; `None` when the agent reports none and no price is known: ao
    /// never guesses.
    pub cost_usd: Option<f64>,
    /// Requests waiting for a person.
    pub pending: Vec<PendingRequest>,
    /// Why it is blocked or exited.
    pub error: Option<SessionError>,
    /// How far its plan is, when the agent keeps one and it could be read cheaply.
    pub todos: Option<TodoCount>,
    /// The server it works through, when its agent runs one that projects may share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<crate::session::AgentServer>,
}

impl Observation {
    /// An observation that only knows the activity and why.
    pub fn bare(activity: Activity, error: Option<SessionError>) -> Observation {
        Observation {
            activity,
            last_activity_at: None,
            model: None,
            summary: None,
            tokens: Some(Tokens::default()),
            cost_usd: None,
            pending: Vec::new(),
            error,
            todos: None,
            server: None,
        }
    }
}

/// What a project's change feed ([`Agent::project_changes`]) says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Something about this conversation (the agent's id for it) may have changed.
    Session(String),
    /// Something about any of the project's sessions may have changed (a request asked in a
    /// conversation of the agent's own, whose parent the feed does not know).
    Any,
}

impl Change {
    /// Whether the change may concern the conversation `agent_session_id`.
    pub fn concerns(&self, agent_session_id: &str) -> bool {
        match self {
            Change::Session(id) => id == agent_session_id,
            Change::Any => true,
        }
    }
}

/// How a person answers a permission request (`once`, `always`, `reject` in JSON).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
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
        /// What the request asks, as the look that found it saw: the plugin checks the answers
        /// against it rather than asking its server again.
        questions: Vec<PendingQuestion>,
    },
    /// Dismisses a question request without answering.
    Dismiss {
        /// The request's id.
        id: String,
    },
}

/// One item of an agent's plan (its todo list).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanItem {
    /// What is to be done.
    pub content: String,
    /// Where the item is.
    pub status: PlanStatus,
    /// How much it matters.
    pub priority: PlanPriority,
}

impl PlanItem {
    /// How far a plan is: completed items of those not cancelled.
    pub fn count(plan: &[PlanItem]) -> TodoCount {
        let counted = plan.iter().filter(|i| i.status != PlanStatus::Cancelled);
        TodoCount {
            done: counted
                .clone()
                .filter(|i| i.status == PlanStatus::Completed)
                .count(),
            total: counted.count(),
        }
    }
}

/// Where an item of a plan is. A word this ao does not know is kept as the agent said it (and
/// counts as not done), so that a newer agent's word never fails a whole read.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(from = "String", into = "String")]
#[strum(serialize_all = "snake_case")]
pub enum PlanStatus {
    /// Not started.
    Pending,
    /// Being worked on.
    InProgress,
    /// Done.
    Completed,
    /// Dropped.
    Cancelled,
    /// A word this ao does not know, as the agent said it.
    #[strum(default)]
    Other(String),
}

/// How much an item of a plan matters. A word this ao does not know is kept as the agent said it.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(from = "String", into = "String")]
#[strum(serialize_all = "snake_case")]
pub enum PlanPriority {
    /// High.
    High,
    /// Medium.
    Medium,
    /// Low.
    Low,
    /// A word this ao does not know, as the agent said it.
    #[strum(default)]
    Other(String),
}

/// The words of [`PlanStatus`] and [`PlanPriority`] (and a tool call's status in a transcript):
/// derived for the known ones, the agent's own
/// for the others; JSON carries the word.
macro_rules! open_words {
    ($name:ident) => {
        impl $name {
            /// The word, as the agent says it.
            pub fn as_str(&self) -> &str {
                match self {
                    $name::Other(word) => word,
                    known => known.into(),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<String> for $name {
            fn from(word: String) -> Self {
                // `Other` is the default: parsing never fails.
                word.parse().unwrap_or($name::Other(word))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                match value {
                    $name::Other(word) => word,
                    known => known.as_str().to_string(),
                }
            }
        }
    };
}
pub(crate) use open_words;
open_words!(PlanStatus);
open_words!(PlanPriority);

/// One message of a conversation, in short: what `ao show` lists and `ao fork --at` takes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MessageSummary {
    /// The agent's id for it (what `ao fork --at` takes).
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// When it was written.
    pub at: EpochMillis,
    /// Its text (tool calls as `[tool] title`), shortened by the agent.
    pub text: String,
}

/// What [`Agent::fork`] is asked for.
#[derive(Debug, Clone, Copy)]
pub struct ForkRequest<'a> {
    /// Keep only the messages before this one (its id, from [`Agent::messages`]).
    pub at: Option<&'a str>,
    /// The directory the new conversation works in (the fork's own work tree).
    pub workspace: &'a Path,
}

/// Several feeds as one, which ends with the first of them to end: a feed that ends says its
/// source broke, and whoever follows the merged one must hear it, to poll and reconnect.
pub fn merge_feeds<T: Send + 'static>(feeds: Vec<BoxStream<'static, T>>) -> BoxStream<'static, T> {
    use futures_util::{future, stream, StreamExt};
    let feeds = feeds.into_iter().map(|feed| {
        // Each says when it ends, with a `None` of its own.
        feed.map(Some).chain(stream::once(future::ready(None)))
    });
    stream::select_all(feeds)
        .take_while(|item| future::ready(item.is_some()))
        .filter_map(future::ready)
        .boxed()
}

/// A coding agent.
#[async_trait]
pub trait Agent: Send + Sync {
    /// The plugin's name, as in config and in the store (`agent:`).
    fn name(&self) -> &'static str;

    /// The keys of `agentConfig` this agent adds to the ones every agent understands (`model`,
    /// `prompt`, `agent`, `permission`).
    fn config_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks the value of one of [`config_keys`](Agent::config_keys) and returns what to keep of
    /// it (it reaches the plugin as `agentConfig.settings[key]`); problems are reported at their
    /// place in the file.
    fn check_config(
        &self,
        key: &str,
        value: ConfigValue<'_>,
    ) -> Result<serde_json::Value, Vec<SettingProblem>> {
        let _ = key;
        Ok(value.to_json())
    }

    /// Checks a model's name (`agentConfig.model`, `ao spawn --model`) as this agent names its
    /// models; by default, any word.
    fn check_model(&self, model: &str) -> Result<(), String> {
        crate::config::check_model_word(model)
    }

    /// The keys `permission` may name when it is a map, when the agent has a fixed set (an ACP
    /// agent's tool kinds); each then takes one word (`ask`, `allow`, `deny`). `None`: any key,
    /// with OpenCode's patterns (its tools and their rules).
    fn permission_keys(&self) -> Option<&'static [&'static str]> {
        None
    }

    /// Lines that `ao init` writes under a new project's `agentConfig`: commented-out examples of
    /// the keys this agent reads, with what each does.
    fn config_template(&self) -> &'static [&'static str] {
        &[]
    }

    /// Creates the agent's conversation and says what the runtime must run. Nothing is running
    /// yet; the prompt is not sent yet.
    async fn prepare(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<PreparedSession, AgentError>;

    /// Sends a prompt to the session, once its runtime runs. Used for the first prompt and for
    /// follow-ups.
    async fn send(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        prompt: &str,
    ) -> Result<(), AgentError>;

    /// Observes the given sessions of one project, one answer per session, in order. Implementations
    /// should batch and parallelise: this runs on every `ao status`.
    async fn observe(
        &self,
        cx: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
    ) -> Vec<Observation>;

    /// The host of the project's sessions, for an agent whose projects may share one (a server
    /// that serves several projects): projects of this agent with the same key are observed in
    /// one [`observe_batch`](Agent::observe_batch), so the agent can ask its host once for all of
    /// them. `None` (the default): the project is observed alone. A key is a hint for batching, not
    /// a promise: the agent still finds each project's host itself.
    fn host_key(&self, project: &Project) -> Option<String> {
        let _ = project;
        None
    }

    /// Observes several projects' sessions that share a [`host_key`](Agent::host_key): one answer
    /// per project, each one answer per session, in order. The default observes each project on
    /// its own, concurrently.
    async fn observe_batch(
        &self,
        batch: &[(ProjectContext<'_>, &[SessionContext<'_>])],
    ) -> Vec<Vec<Observation>> {
        futures_util::future::join_all(
            batch
                .iter()
                .map(|(cx, sessions)| self.observe(cx, sessions)),
        )
        .await
    }

    /// The agent's own UI on the session (its TUI): what `ao attach` runs in a person's terminal
    /// for a runtime without a terminal of its own, and what a lazy tmux session opens in its TUI
    /// window while someone looks (the tmux runtime decides when it runs).
    async fn attach_launch(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<LaunchSpec, AgentError>;

    /// Stops the agent's side of a session: aborts a running turn; with `purge`, deletes the
    /// conversation too. `Ok` means all of that was done (or there was nothing to do).
    async fn kill(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        purge: bool,
    ) -> Result<(), AgentError>;

    /// Releases what the agent keeps running for a project (a server) once no session of the
    /// project is live any more. `idle_at` is when ao saw none live (on the system clock): a
    /// spawn or restore that began after that may already be using what would be released, so
    /// what was started or reused since is kept.
    async fn release(
        &self,
        cx: &ProjectContext<'_>,
        idle_at: EpochMillis,
    ) -> Result<(), AgentError>;

    /// Drops what the agent keeps for a project once no session of it is left in the store at
    /// all (every one purged): data that only those sessions needed, such as a container's data
    /// volume, which holds their conversations. Called after [`release`](Self::release), with
    /// its `idle_at`: what a new session started or reused since then is kept.
    async fn forget(
        &self,
        cx: &ProjectContext<'_>,
        idle_at: EpochMillis,
    ) -> Result<(), AgentError> {
        let _ = (cx, idle_at);
        Ok(())
    }

    /// Answers a pending request of the session (or of one of its child sessions).
    async fn reply(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        reply: &Reply,
    ) -> Result<(), AgentError>;

    /// The session's conversation so far, oldest first.
    async fn transcript(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<TranscriptEntry>, AgentError>;

    /// The project's change feed: one stream per project (one connection to the agent's server,
    /// never one per session) that yields a [`Change`] whenever something about one of its
    /// sessions may have changed. It ends when its source breaks; callers poll as well, so a feed
    /// is only ever a way to notice sooner. It never starts anything: with no server running, it
    /// fails. The default is an agent without one.
    async fn project_changes(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<BoxStream<'static, Change>, AgentError> {
        Err(AgentError::Refused(format!(
            "the {} agent has no change feed for project {}",
            self.name(),
            cx.project.name
        )))
    }

    /// The change feed of several projects that share a [`host_key`](Agent::host_key): one
    /// stream for all of them, each change with the index in `projects` of the project it
    /// concerns, so that a host they share is followed over one connection. It ends when its
    /// source breaks, as [`project_changes`](Agent::project_changes) does. The default follows
    /// each project's own feed and merges them; it fails when any of them cannot connect.
    async fn host_changes(
        &self,
        projects: &[ProjectContext<'_>],
    ) -> Result<BoxStream<'static, (usize, Change)>, AgentError> {
        use futures_util::StreamExt;
        let mut feeds = Vec::with_capacity(projects.len());
        for (i, cx) in projects.iter().enumerate() {
            let feed = self.project_changes(cx).await?;
            feeds.push(feed.map(move |change| (i, change)).boxed());
        }
        Ok(merge_feeds(feeds))
    }

    /// Brings an existing conversation back: makes sure what it needs runs (a server) and says
    /// what the runtime must run for it, as [`Agent::prepare`] does for a new one.
    async fn restore(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<PreparedSession, AgentError>;

    /// The agent's plan for the session (its todo list), in its order.
    async fn plan(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<PlanItem>, AgentError> {
        let _ = (cx, session);
        Err(AgentError::Refused(format!(
            "the {} agent does not keep a plan ao can read",
            self.name()
        )))
    }

    /// The session's messages, oldest first, each in short.
    async fn messages(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<MessageSummary>, AgentError> {
        let _ = (cx, session);
        Err(AgentError::Refused(format!(
            "the {} agent does not list its messages",
            self.name()
        )))
    }

    /// A new conversation that starts from the session's (all of it, or what came before
    /// `fork.at`), working in `fork.workspace`; returns its id. The source is left as it was.
    /// Like [`Agent::restore`], it starts what the agent needs (a server) if that is gone.
    async fn fork(
        &self,
        cx: &ProjectContext<'_>,
        source: SessionContext<'_>,
        fork: ForkRequest<'_>,
    ) -> Result<String, AgentError> {
        let _ = (cx, source, fork);
        Err(AgentError::Refused(format!(
            "the {} agent cannot fork a conversation",
            self.name()
        )))
    }

    /// Checks, before a new session makes anything, that what the agent needs is there where the
    /// project lives ([`Project::location`]): its program on an ssh host, a server at a URL
    /// that answers with the configured password. The error says what is missing, and where.
    async fn preflight(&self, _cx: &ProjectContext<'_>) -> Result<(), AgentError> {
        Ok(())
    }

    /// A work tree for session `name`, made by the agent's own server, for a project whose
    /// server someone else runs (ao cannot run git there). The default refuses.
    async fn create_workspace(
        &self,
        cx: &ProjectContext<'_>,
        _name: &str,
    ) -> Result<crate::project::Worktree, AgentError> {
        Err(AgentError::Refused(format!(
            "{} cannot make work trees on the server of project {}; set `workspace: none`",
            self.name(),
            cx.project.name
        )))
    }

    /// Removes a work tree [`create_workspace`](Agent::create_workspace) made, with whatever it
    /// holds (ao calls it only for `ao kill --force`). The default refuses.
    async fn remove_workspace(
        &self,
        cx: &ProjectContext<'_>,
        wt: &crate::project::Worktree,
    ) -> Result<(), AgentError> {
        Err(AgentError::Refused(format!(
            "{} cannot remove the work tree {} on the server of project {}",
            self.name(),
            wt.path.display(),
            cx.project.name
        )))
    }

    /// The pid of what the agent keeps running for the project (a server shared by its
    /// sessions), for `ao show`'s resources; `None` when there is none or it is not running.
    async fn server_pid(&self, cx: &ProjectContext<'_>) -> Option<u32> {
        let _ = cx;
        None
    }

    /// Checks for `ao doctor`: the agent's program and its version, and for each project what
    /// the agent keeps running for it (a server) and whether it answers. Never starts anything.
    async fn doctor(&self, projects: &[ProjectContext<'_>]) -> Vec<crate::doctor::Check> {
        let _ = projects;
        Vec::new()
    }

    /// The command that prints the version of the agent's program inside the project's
    /// container (`container:`), which `ao doctor` runs there once to see that the image holds
    /// it: e.g. `["opencode", "--version"]`. `None`: the agent runs nothing in a container.
    fn container_version_command(&self, project: &Project) -> Option<Vec<String>> {
        let _ = project;
        None
    }

    /// Whether the agent runs in the project's container when the project has one
    /// (`container:`). ao refuses to spawn or fork an agent that does not in such a project,
    /// rather than run it outside the box the person asked for. Default: when it says how to
    /// print its version there.
    fn runs_in_container(&self, project: &Project) -> bool {
        self.container_version_command(project).is_some()
    }
}

/// The registry of plugins, as the config reader sees it.
impl AgentKeys for Vec<std::sync::Arc<dyn Agent>> {
    fn agent_names(&self) -> Vec<&'static str> {
        self.iter().map(|a| a.name()).collect()
    }

    fn config_keys(&self, agent: &str) -> &'static [&'static str] {
        self.iter()
            .find(|a| a.name() == agent)
            .map(|a| a.config_keys())
            .unwrap_or_default()
    }

    fn permission_keys(&self, agent: &str) -> Option<&'static [&'static str]> {
        self.iter()
            .find(|a| a.name() == agent)
            .and_then(|a| a.permission_keys())
    }

    fn check_model(&self, agent: &str, model: &str) -> Result<(), String> {
        match self.iter().find(|a| a.name() == agent) {
            Some(a) => a.check_model(model),
            None => crate::config::check_model_word(model),
        }
    }

    fn check_config(
        &self,
        agent: &str,
        key: &str,
        value: ConfigValue<'_>,
    ) -> Result<serde_json::Value, Vec<SettingProblem>> {
        match self.iter().find(|a| a.name() == agent) {
            Some(a) => a.check_config(key, value),
            None => Ok(serde_json::Value::Null),
        }
    }
}
