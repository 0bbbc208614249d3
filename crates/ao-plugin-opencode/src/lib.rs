//! The OpenCode agent for ao, tracked through OpenCode's own HTTP server API.
//!
//! - [`server`]: one `opencode serve` per project on 127.0.0.1, password-protected, found again by
//!   every `ao` invocation and restarted when dead.
//! - [`client`] and [`types`]: a typed client of the server API.
//! - [`observe`]: the activity rules, from session status, pending permissions and questions, and
//!   the last message.
//! - [`events`] and [`follow`]: the global event stream and the follower that logs a
//!   process-runtime session's conversation.
//! - [`doctor`]: what `ao doctor` checks for OpenCode: the binary, its version, each server.
//!
//! Nothing here scrapes a terminal or reads OpenCode's database: every fact comes from the server.
//! A session is created through the API before anything runs, so its `ses_…` id is known at once,
//! and prompts go through the API, never on a command line.

pub mod client;
pub mod doctor;
pub mod events;
pub mod follow;
pub mod observe;
pub mod server;
pub mod settings;
mod settled;
pub mod transcript;
mod turns;
pub mod types;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use async_trait::async_trait;
use futures_util::future::join_all;

use ao_core::agent::{
    Agent, AgentError, Observation, PermitDecision, PreparedSession, Reply, SpawnRequest,
};
use ao_core::config::ProjectConfig;
use ao_core::runtime::LaunchSpec;
use ao_core::session::{
    Activity, PendingKind, PendingRequest, RuntimeKind, SessionError, SessionRecord,
};
use ao_core::transcript::TranscriptEntry;
use futures_util::stream::BoxStream;

use crate::client::{Client, ClientError};
use crate::events::EventStream;
use crate::server::{ServerRecord, ServerState, Servers};
pub use crate::settings::OpenCodeSettings;
use crate::settled::SettledTurns;
use crate::types::{PromptModel, Session};

/// The plugin's name in config and in the store.
pub const AGENT_NAME: &str = "opencode";

/// What the plugin remembered under `key` in ao's store; nothing when absent or unreadable (a
/// memory only ever saves requests, so losing it is never an error).
fn remembered<T: serde::de::DeserializeOwned>(
    store: &ao_core::store::Store,
    key: &str,
) -> Option<T> {
    store
        .agent_state(AGENT_NAME, key)
        .ok()
        .flatten()
        .and_then(|v| serde_json::from_value(v).ok())
}

/// The hidden `ao` subcommand that runs [`follow::follow`] for a process-runtime session.
pub const FOLLOW_SUBCOMMAND: &str = "opencode-follow";

/// How deep a chain of child sessions (subagents of subagents) is followed to its tracked root.
const MAX_CHILD_DEPTH: usize = 4;

/// The OpenCode agent.
pub struct OpenCodeAgent {
    servers: Servers,
}

impl OpenCodeAgent {
    /// The agent with these settings.
    pub fn new(settings: OpenCodeSettings) -> Result<OpenCodeAgent, AgentError> {
        Ok(OpenCodeAgent {
            servers: Servers::new(settings)?,
        })
    }

    /// The project servers this agent manages.
    pub fn servers(&self) -> &Servers {
        &self.servers
    }

    fn settings(&self) -> &OpenCodeSettings {
        self.servers.settings()
    }

    /// `opencode attach <url> --session <id> --dir <workspace>`: OpenCode's TUI on the session,
    /// connected to the project's server (never a standalone TUI, which would run a server of its
    /// own that ao cannot see).
    fn tui_launch(
        &self,
        server: &ServerRecord,
        rec: &SessionRecord,
        id: &str,
    ) -> Result<LaunchSpec, AgentError> {
        let password = server.password()?;
        let mut args = vec![
            "attach".to_string(),
            server.url.clone(),
            "--session".into(),
            id.to_string(),
            "--dir".into(),
            rec.workspace.to_string_lossy().into_owned(),
        ];
        if self.settings().pure {
            args.push("--pure".into());
        }
        let mut env = self.settings().client_env();
        env.push(("OPENCODE_SERVER_PASSWORD".into(), password));
        Ok(LaunchSpec {
            program: self.settings().bin.clone(),
            args,
            cwd: rec.workspace.clone(),
            env,
            stdin_file: None,
        })
    }

    /// The detached event follower of a process-runtime session.
    fn follower_launch(
        &self,
        server: &ServerRecord,
        rec: &SessionRecord,
        id: &str,
        since_ms: i64,
    ) -> LaunchSpec {
        LaunchSpec {
            program: self.settings().ao_exe.clone(),
            args: vec![
                FOLLOW_SUBCOMMAND.into(),
                "--url".into(),
                server.url.clone(),
                "--session".into(),
                id.to_string(),
                "--password-file".into(),
                server.password_file.to_string_lossy().into_owned(),
                "--since".into(),
                since_ms.to_string(),
            ],
            cwd: rec.workspace.clone(),
            env: vec![],
            stdin_file: None,
        }
    }

    async fn observe_project(
        &self,
        server: &ServerRecord,
        client: &Client,
        sessions: &[&SessionRecord],
    ) -> Vec<Observation> {
        let now = now_ms();
        let Some(first) = sessions.first() else {
            return Vec::new();
        };
        let project = first.address.project.as_str();
        let store = self.servers.store();
        let mut settled = SettledTurns::load(store, project);
        // First every session and its last message. The sessions come in one list of the
        // project's; the last message only where the session changed since its turn was last seen
        // settled. A session missing from the list (or a list that failed) is asked for alone.
        let mut listed: HashMap<String, Session> = HashMap::new();
        if let Ok(all) = client
            .project_sessions(&first.workspace.to_string_lossy())
            .await
        {
            let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
            settled.retain(&ids);
            listed = all.into_iter().map(|s| (s.id.clone(), s)).collect();
        }
        let settled_ref = &settled;
        let per_session = join_all(sessions.iter().map(|s| {
            let id = s.agent_session_id.as_deref().unwrap_or_default();
            let found = listed.remove(id);
            async move {
                let session = match found {
                    Some(found) => Ok(found),
                    None => client.session(id).await,
                };
                let remembered = session
                    .as_ref()
                    .ok()
                    .and_then(|found| settled_ref.last_message(id, found.time.updated));
                let last = match remembered {
                    Some(m) => Ok(Some(m.clone())),
                    None => client
                        .messages(id, Some(1))
                        .await
                        .map(|mut m| m.pop().map(|m| m.info)),
                };
                (session, last)
            }
        }))
        .await;
        for (rec, (session, last)) in sessions.iter().zip(&per_session) {
            if let (Some(id), Ok(session), Ok(last)) = (&rec.agent_session_id, session, last) {
                settled.note(id, session.time.updated, last.as_ref());
            }
        }
        settled.save(store, project);
        // Then status, permissions and questions, which are per directory, only for directories
        // where a turn may be under way: a session whose last step has ended for good cannot be
        // busy, retrying or waiting on a request (a request keeps its step open). With many
        // finished sessions this saves three requests per work tree on every `ao status`.
        let dirs: BTreeSet<String> = sessions
            .iter()
            .zip(&per_session)
            .filter(|(_, (_, last))| match last {
                Ok(m) => m.as_ref().is_none_or(|m| !observe::turn_settled(m)),
                Err(_) => true,
            })
            .map(|(s, _)| s.workspace.to_string_lossy().into_owned())
            .collect();
        let per_dir = join_all(dirs.iter().map(|d| async move {
            let (st, perms, qs) = futures_util::join!(
                client.statuses(d),
                client.permissions(d),
                client.questions(d)
            );
            (d.clone(), st, perms, qs)
        }))
        .await;

        let mut statuses = HashMap::new();
        let mut requests: Vec<PendingRequest> = Vec::new();
        let mut requester: Vec<String> = Vec::new();
        let mut dir_errors: HashMap<String, String> = HashMap::new();
        for (dir, st, perms, qs) in per_dir {
            match st {
                Ok(st) => statuses.extend(st),
                Err(e) => {
                    dir_errors.insert(dir.clone(), e.to_string());
                }
            }
            for p in perms.unwrap_or_default() {
                requester.push(p.session_id.clone());
                requests.push(PendingRequest {
                    kind: PendingKind::Permission,
                    id: p.id,
                    title: format!("{}: {}", p.permission, p.patterns.join(" ")),
                    from_session: Some(p.session_id),
                });
            }
            for q in qs.unwrap_or_default() {
                let title = match q.questions.first() {
                    Some(first) if q.questions.len() > 1 => {
                        format!("{} (+{} more)", first.question, q.questions.len() - 1)
                    }
                    Some(first) => first.question.clone(),
                    None => "question".into(),
                };
                requester.push(q.session_id.clone());
                requests.push(PendingRequest {
                    kind: PendingKind::Question,
                    id: q.id,
                    title,
                    from_session: Some(q.session_id),
                });
            }
        }
        let tracked: BTreeSet<&str> = sessions
            .iter()
            .filter_map(|s| s.agent_session_id.as_deref())
            .collect();
        let owners = self.owners(client, &requester, &tracked).await;

        let observations: Vec<Observation> = sessions
            .iter()
            .zip(per_session)
            .map(|(rec, (session, last))| {
                let id = rec.agent_session_id.as_deref().unwrap_or_default();
                let session = match session {
                    Ok(s) => s,
                    Err(e) if e.is_not_found() => {
                        return Observation::bare(
                            Activity::Exited,
                            Some(SessionError {
                                name: "SessionDeleted".into(),
                                message: format!("OpenCode has no session {id} any more"),
                            }),
                        )
                    }
                    Err(e) => return unobservable(&e),
                };
                if let Some(err) = dir_errors.get(rec.workspace.to_string_lossy().as_ref()) {
                    return unobservable(err);
                }
                let pending: Vec<PendingRequest> = requests
                    .iter()
                    .filter(|r| {
                        let from = r.from_session.as_deref().unwrap_or_default();
                        owners.get(from).map(String::as_str) == Some(id)
                    })
                    .map(|r| PendingRequest {
                        from_session: r.from_session.clone().filter(|f| f != id),
                        ..r.clone()
                    })
                    .collect();
                let last = match last {
                    Ok(m) => m,
                    Err(e) => return unobservable(&e),
                };
                observe::observe(
                    &observe::ServerFacts {
                        session: &session,
                        status: statuses.get(id),
                        last_message: last.as_ref(),
                        pending,
                        server_started_at: server.started_at_ms,
                    },
                    now,
                )
            })
            .collect();
        let observed: Vec<&str> = tracked.iter().copied().collect();
        let busy: Vec<&str> = sessions
            .iter()
            .zip(&observations)
            .filter(|(_, o)| mid_turn(o))
            .filter_map(|(s, _)| s.agent_session_id.as_deref())
            .collect();
        turns::record(store, project, &observed, &busy);
        observations
    }

    /// Maps each session that raised a request to the tracked session it belongs to: itself, or
    /// the tracked ancestor of a child session (a subagent).
    async fn owners(
        &self,
        client: &Client,
        requesters: &[String],
        tracked: &BTreeSet<&str>,
    ) -> HashMap<String, String> {
        let unique: BTreeSet<&String> = requesters.iter().collect();
        let found = join_all(unique.into_iter().map(|start| async move {
            let mut current = start.clone();
            for _ in 0..=MAX_CHILD_DEPTH {
                if tracked.contains(current.as_str()) {
                    return Some((start.clone(), current));
                }
                match client
                    .session(&current)
                    .await
                    .ok()
                    .and_then(|s| s.parent_id)
                {
                    Some(parent) => current = parent,
                    None => return None,
                }
            }
            None
        }))
        .await;
        found.into_iter().flatten().collect()
    }

    async fn up_client(&self, project: &ProjectConfig) -> Result<Client, AgentError> {
        match self.servers.lookup(&project.name).await {
            ServerState::Up(_, c, _) => Ok(c),
            _ => Err(AgentError::Server(format!(
                "the OpenCode server of project {} is not running",
                project.name
            ))),
        }
    }
}

/// Whether an observation shows a turn in progress (cut off, should the server die now).
fn mid_turn(o: &Observation) -> bool {
    match o.activity {
        Activity::Active | Activity::WaitingInput => true,
        Activity::Blocked => o.error.as_ref().is_some_and(|e| e.name == "Retry"),
        _ => false,
    }
}

/// Whether an event of the global stream may change what `ao status` says about `session`.
fn relevant(event: &events::GlobalEvent, session: &str) -> bool {
    use events::EventKind as E;
    let p = &event.payload;
    match p.kind {
        // Requests of child sessions count for their parent.
        E::PermissionAsked
        | E::PermissionReplied
        | E::QuestionAsked
        | E::QuestionReplied
        | E::QuestionRejected => true,
        E::SessionStatus
        | E::SessionIdle
        | E::SessionError
        | E::SessionUpdated
        | E::SessionDeleted
        | E::MessageUpdated => p.session_id() == Some(session),
        E::ServerConnected
        | E::ServerHeartbeat
        | E::SessionCreated
        | E::SessionDiff
        | E::MessagePartUpdated
        | E::MessagePartDelta
        | E::ProjectUpdated
        | E::Sync
        | E::Unknown => false,
    }
}

fn unobservable(err: &dyn std::fmt::Display) -> Observation {
    Observation::bare(
        Activity::Blocked,
        Some(SessionError {
            name: "Unobservable".into(),
            message: err.to_string(),
        }),
    )
}

/// What a session is while its project's server is gone: cut off mid-turn (blocked), or simply
/// exited.
fn server_gone(
    project: &ProjectConfig,
    s: &SessionRecord,
    cut_off: &BTreeSet<String>,
) -> Observation {
    let (activity, name, message) = if s
        .agent_session_id
        .as_ref()
        .is_some_and(|id| cut_off.contains(id))
    {
        (
            Activity::Blocked,
            "Interrupted",
            format!(
                "the OpenCode server of project {} stopped in the middle of a turn; \
                 `ao restore {}` brings it back, then `ao send` continues",
                project.name, s.address
            ),
        )
    } else {
        (
            Activity::Exited,
            "ServerGone",
            format!(
                "the OpenCode server of project {} is not running; `ao restore {}` brings it back",
                project.name, s.address
            ),
        )
    };
    Observation::bare(
        activity,
        Some(SessionError {
            name: name.into(),
            message,
        }),
    )
}

/// The `ses_…` id of a session's OpenCode conversation.
fn conversation_id(rec: &SessionRecord) -> Result<&str, AgentError> {
    rec.agent_session_id.as_deref().ok_or_else(|| {
        AgentError::Request(format!("session {} has no OpenCode session", rec.address))
    })
}

fn server_error(e: ClientError) -> AgentError {
    AgentError::Server(e.to_string())
}

/// Now, in epoch milliseconds (OpenCode's unit too).
pub(crate) fn now_ms() -> i64 {
    use ao_core::clock::Clock;
    ao_core::clock::SystemClock.now_ms()
}

#[async_trait]
impl Agent for OpenCodeAgent {
    fn name(&self) -> &'static str {
        AGENT_NAME
    }

    async fn doctor(&self, projects: &[ProjectConfig]) -> Vec<ao_core::doctor::Check> {
        self.checks(projects).await
    }

    async fn prepare(&self, req: SpawnRequest<'_>) -> Result<PreparedSession, AgentError> {
        let (server, client) = self.servers.ensure(req.project).await?;
        let rec = req.session;
        let session = client
            .create_session(&rec.workspace.to_string_lossy(), None)
            .await
            .map_err(server_error)?;
        let launch = match rec.runtime {
            RuntimeKind::Tmux => self.tui_launch(&server, rec, &session.id)?,
            RuntimeKind::Process => {
                self.follower_launch(&server, rec, &session.id, session.time.created)
            }
        };
        Ok(PreparedSession {
            agent_session_id: session.id,
            launch,
        })
    }

    async fn send(
        &self,
        project: &ProjectConfig,
        rec: &SessionRecord,
        prompt: &str,
    ) -> Result<(), AgentError> {
        let id = conversation_id(rec)?;
        let (_, client) = self.servers.ensure(project).await?;
        let model = rec.model.as_deref().and_then(PromptModel::parse);
        let before = client
            .messages(id, Some(1))
            .await
            .map_err(server_error)?
            .pop()
            .map(|m| m.info.id);
        client
            .prompt_async(id, prompt, model, rec.agent_mode.as_deref())
            .await
            .map_err(server_error)?;
        // prompt_async answers before the prompt is stored, and while a directory's instance
        // warms up `/session/status` flickers (busy, then absent) before the turn really starts.
        // The stored message is the signal that does not flicker: return once it exists, so that
        // a status taken right after `ao spawn` or `ao send` sees the turn.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let last = client.messages(id, Some(1)).await.map_err(server_error)?;
            if last.last().map(|m| &m.info.id) != before.as_ref() {
                turns::record(self.servers.store(), &project.name, &[], &[id]);
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Err(AgentError::Server(format!(
            "OpenCode accepted the prompt for {id} but did not start the turn within 30s"
        )))
    }

    async fn observe(
        &self,
        project: &ProjectConfig,
        sessions: &[&SessionRecord],
    ) -> Vec<Observation> {
        match self.servers.lookup(&project.name).await {
            ServerState::Up(server, client, _) => {
                self.observe_project(&server, &client, sessions).await
            }
            ServerState::Unresponsive(rec) => sessions
                .iter()
                .map(|_| {
                    Observation::bare(
                        Activity::Blocked,
                        Some(SessionError {
                            name: "ServerUnresponsive".into(),
                            message: format!("the OpenCode server at {} does not answer", rec.url),
                        }),
                    )
                })
                .collect(),
            ServerState::Gone => {
                let cut_off = turns::mid_turn(self.servers.store(), &project.name);
                sessions
                    .iter()
                    .map(|s| server_gone(project, s, &cut_off))
                    .collect()
            }
        }
    }

    async fn attach_launch(
        &self,
        project: &ProjectConfig,
        rec: &SessionRecord,
    ) -> Result<LaunchSpec, AgentError> {
        let id = conversation_id(rec)?;
        let (server, _) = self.servers.ensure(project).await?;
        self.tui_launch(&server, rec, id)
    }

    async fn reply(
        &self,
        project: &ProjectConfig,
        rec: &SessionRecord,
        reply: &Reply,
    ) -> Result<(), AgentError> {
        let client = self.up_client(project).await?;
        // Requests live in the instance of the session's directory; a subagent's share it.
        let dir = rec.workspace.to_string_lossy();
        match reply {
            Reply::Permit { id, decision } => {
                let word = match decision {
                    PermitDecision::Once => "once",
                    PermitDecision::Always => "always",
                    PermitDecision::Reject => "reject",
                };
                client.reply_permission(&dir, id, word, None).await
            }
            Reply::Answer { id, answers } => {
                let asked = client
                    .questions(&dir)
                    .await
                    .map_err(server_error)?
                    .into_iter()
                    .find(|q| &q.id == id)
                    .ok_or_else(|| {
                        AgentError::Request(format!("question {id} is no longer pending"))
                    })?;
                if asked.questions.len() != answers.len() {
                    let list: Vec<String> = asked
                        .questions
                        .iter()
                        .map(|q| {
                            let labels: Vec<&str> =
                                q.options.iter().map(|o| o.label.as_str()).collect();
                            format!("  {} [{}]", q.question, labels.join(", "))
                        })
                        .collect();
                    return Err(AgentError::Request(format!(
                        "question {id} asks {} question(s); give one answer each, in order:\n{}",
                        asked.questions.len(),
                        list.join("\n")
                    )));
                }
                let answers: Vec<Vec<String>> = answers.iter().map(|a| vec![a.clone()]).collect();
                client.reply_question(&dir, id, &answers).await
            }
            Reply::Dismiss { id } => client.reject_question(&dir, id).await,
        }
        .map_err(server_error)
    }

    async fn transcript(
        &self,
        project: &ProjectConfig,
        rec: &SessionRecord,
    ) -> Result<Vec<TranscriptEntry>, AgentError> {
        let id = conversation_id(rec)?;
        let client = self.up_client(project).await?;
        let messages = client.messages(id, None).await.map_err(server_error)?;
        Ok(transcript::transcript(&messages))
    }

    async fn changes(
        &self,
        project: &ProjectConfig,
        rec: &SessionRecord,
    ) -> Result<BoxStream<'static, ()>, AgentError> {
        if !self.settings().events {
            return Err(AgentError::Server(
                "the event stream is turned off (AO_OPENCODE_EVENTS=off)".into(),
            ));
        }
        let id = rec.agent_session_id.clone().unwrap_or_default();
        let client = self.up_client(project).await?;
        let stream = EventStream::connect(&client).await.map_err(server_error)?;
        Ok(Box::pin(futures_util::stream::unfold(
            stream,
            move |mut stream| {
                let id = id.clone();
                async move {
                    loop {
                        let event = stream.next().await?;
                        if relevant(&event, &id) {
                            return Some(((), stream));
                        }
                    }
                }
            },
        )))
    }

    async fn restore(&self, req: SpawnRequest<'_>) -> Result<PreparedSession, AgentError> {
        let rec = req.session;
        let id = conversation_id(rec)?;
        let (server, client) = self.servers.ensure(req.project).await?;
        match client.session(id).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                return Err(AgentError::Request(format!(
                    "OpenCode no longer has session {id} (it was deleted), so {} cannot be \
                     restored; `ao spawn` starts a new one",
                    rec.address
                )))
            }
            Err(e) => return Err(server_error(e)),
        }
        let launch = match rec.runtime {
            RuntimeKind::Tmux => self.tui_launch(&server, rec, id)?,
            // The log already holds the history: follow from now on.
            RuntimeKind::Process => self.follower_launch(&server, rec, id, now_ms()),
        };
        Ok(PreparedSession {
            agent_session_id: id.to_string(),
            launch,
        })
    }

    async fn release(&self, project: &ProjectConfig) {
        if let Some(id) = self.servers.identity(&project.name) {
            server::stop_server(id).await;
        }
    }

    async fn kill(
        &self,
        project: &ProjectConfig,
        rec: &SessionRecord,
        purge: bool,
    ) -> Result<(), AgentError> {
        let Some(id) = rec.agent_session_id.as_deref() else {
            return Ok(());
        };
        // Deleting needs a server: start one if it is gone (it is released again once no session
        // of the project is live). A plain kill has nothing to abort without one.
        let client = if purge {
            self.servers.ensure(project).await?.1
        } else {
            self.up_client(project).await?
        };
        client.abort(id).await.map_err(server_error)?;
        if purge {
            match client.delete_session(id).await {
                Err(e) if !e.is_not_found() => return Err(server_error(e)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Runs the follower of a process-runtime session (the hidden `ao opencode-follow`), writing to
/// standard output until the session is deleted or its server is gone.
pub async fn run_follower(
    url: &str,
    session_id: &str,
    password_file: &Path,
    since_ms: i64,
) -> Result<(), String> {
    let password = std::fs::read_to_string(password_file)
        .map_err(|e| format!("cannot read {}: {e}", password_file.display()))?;
    let client = Client::new(url, password.trim());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    follow::follow(&client, session_id, since_ms, &mut out).await
}
