//! The plugin's face to ao: [`Agent`] for OpenCode.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::join_all;
use futures_util::stream::BoxStream;

use ao_agent::agent::{
    Agent, AgentError, Change, ForkRequest, LaunchRole, MessageSummary, Observation,
    PermitDecision, PlanItem, PreparedSession, ProjectContext, Reply, SessionContext,
};
use ao_agent::clock::EpochMillis;
use ao_agent::config::{ConfigValue, SettingProblem};
use ao_agent::remote::{Location, PasswordSource};
use ao_agent::runtime::LaunchSpec;
use ao_agent::session::{Activity, RuntimeKind, SessionError, Why};
use ao_agent::transcript::TranscriptEntry;

use crate::client::Client;
use crate::gather::server_gone;
use crate::mid_turn::MidTurn;
use crate::server::{ServerRecord, ServerState};
use crate::server_list::ServerList;
use crate::server_record::ProjectServer;
use crate::session_list::SessionList;
use crate::types::PromptModel;
use crate::{agent_error, conversation_id, now_ms, transcript, OpenCodeAgent, AGENT_NAME};

/// The key of `agentConfig` that OpenCode adds: settings merged into its server's config.
pub const OPENCODE_CONFIG_KEY: &str = "opencodeConfig";

impl OpenCodeAgent {
    /// A client of the project's server if it runs; an error naming the project if not.
    pub(crate) async fn up_client(&self, cx: &ProjectContext<'_>) -> Result<Client, AgentError> {
        match self.servers.lookup(cx).await? {
            ServerState::Up { client, .. } => Ok(client),
            _ => Err(not_running(cx)),
        }
    }
}

impl OpenCodeAgent {
    /// The observation of a project's sessions once its server was looked for (`found`), listed
    /// with the projects it shares the server with when `shared` says so.
    async fn observe_found(
        &self,
        cx: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
        found: Result<Option<(ServerRecord, Client)>, AgentError>,
        shared: Option<&ServerList>,
    ) -> Vec<Observation> {
        let every = |activity: Activity, why: Why, message: String| {
            sessions
                .iter()
                .map(|_| {
                    Observation::bare(
                        activity,
                        Some(SessionError {
                            why: why.clone(),
                            message: message.clone(),
                        }),
                    )
                })
                .collect()
        };
        let remote = cx.project.location.is_remote();
        match found {
            Ok(Some((record, client))) => {
                match self
                    .observe_project(cx, &record, &client, sessions, shared)
                    .await
                {
                    Ok(observations) => observations,
                    Err(e) if remote => {
                        let (activity, why, m) = crate::remote::observe_failure(cx.project, e);
                        every(activity, why, m)
                    }
                    Err(e) => {
                        let shown = record.shown_to(&cx.project.name);
                        every(
                            Activity::Blocked,
                            Why::ServerUnresponsive,
                            format!("the OpenCode server at {record} does not answer: {e}"),
                        )
                        .into_iter()
                        .map(|o| Observation {
                            server: Some(shown.clone()),
                            ..o
                        })
                        .collect()
                    }
                }
            }
            Ok(None) => match MidTurn::sessions(cx).await {
                Ok(cut_off) => sessions
                    .iter()
                    .map(|s| server_gone(cx.project, s.record, &cut_off))
                    .collect(),
                Err(e) => every(Activity::Blocked, Why::Unobservable, e.to_string()),
            },
            // A host that cannot be reached (the tunnel could not be opened again), a password
            // that is missing: nothing there can be seen, though it may well go on.
            Err(AgentError::Unreachable(m)) => every(Activity::Exited, Why::Unreachable, m),
            Err(AgentError::Unauthorized(m)) => every(Activity::Exited, Why::Unauthorized, m),
            Err(e) => every(Activity::Blocked, Why::Unobservable, e.to_string()),
        }
    }
}

/// The project's server does not run.
pub(crate) fn not_running(cx: &ProjectContext<'_>) -> AgentError {
    AgentError::Unreachable(format!(
        "the OpenCode server of project {} is not running",
        cx.project.name
    ))
}

#[async_trait]
impl Agent for OpenCodeAgent {
    fn name(&self) -> &'static str {
        AGENT_NAME
    }

    fn config_keys(&self) -> &'static [&'static str] {
        &[OPENCODE_CONFIG_KEY]
    }

    fn check_model(&self, model: &str) -> Result<(), String> {
        ao_agent::config::check_provider_model(model)
    }

    fn config_template(&self) -> &'static [&'static str] {
        &[
            "# provider/model, as OpenCode names it; unset: OpenCode's own default. The provider needs",
            "# its credentials as usual (`opencode auth login`, or its API key variable for ao).",
            "# model: anthropic/claude-sonnet-4",
            "# Which tool calls wait for you (`ao permit`): ask | allow | deny, or a map per tool.",
            "# permission: {bash: ask}",
            "# OpenCode's own agent: build, plan, ...",
            "# agent: build",
            "# Anything else OpenCode accepts, merged into the config of the project's OpenCode server.",
            "# opencodeConfig: {}",
        ]
    }

    fn check_config(
        &self,
        _key: &str,
        value: ConfigValue<'_>,
    ) -> Result<serde_json::Value, Vec<SettingProblem>> {
        if value.is_null() {
            return Ok(serde_json::Value::Null);
        }
        if !value.is_map() {
            return Err(vec![SettingProblem::here(format!(
                "opencodeConfig must be a map of OpenCode settings, not {}",
                value.describe()
            ))]);
        }
        Ok(value.to_json())
    }

    async fn doctor(&self, projects: &[ProjectContext<'_>]) -> Vec<ao_agent::doctor::Check> {
        self.checks(projects).await
    }

    fn container_version_command(
        &self,
        project: &ao_agent::project::Project,
    ) -> Option<Vec<String>> {
        let source = &project.container.as_ref()?.source;
        let bin = crate::server_boxed::program_inside(self.servers().settings(), source);
        Some(vec![bin, "--version".into()])
    }

    async fn prepare(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<PreparedSession, AgentError> {
        let (server, client) = self.servers.ensure(cx).await?;
        let rec = session.record;
        let created = client
            .create_session(&rec.workspace.to_string_lossy())
            .await
            .map_err(agent_error)?;
        let launch = match rec.runtime {
            RuntimeKind::Tmux => self.tui_launch(&server, rec, &created.id)?,
            RuntimeKind::Process => {
                self.follower_launch(&server, rec, &created.id, created.time.created)
            }
        };
        Ok(PreparedSession {
            role: LaunchRole::Viewer,
            agent_session_id: created.id,
            launch,
        })
    }

    async fn send(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        prompt: &str,
    ) -> Result<(), AgentError> {
        let rec = session.record;
        let id = conversation_id(rec)?;
        let client = self.servers.ensure(cx).await?.1.patient();
        let model = rec.model.as_deref().and_then(PromptModel::parse);
        let before = client
            .messages(id, Some(1))
            .await
            .map_err(agent_error)?
            .pop()
            .map(|m| m.info.id);
        client
            .prompt_async(id, prompt, model, rec.agent_mode.as_deref())
            .await
            .map_err(agent_error)?;
        // prompt_async answers before the prompt is stored, and while a directory's instance
        // warms up `/session/status` flickers (busy, then absent) before the turn really starts.
        // The stored message is the signal that does not flicker: return once it exists, so that
        // a status taken right after `ao spawn` or `ao send` sees the turn.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let last = client.messages(id, Some(1)).await.map_err(agent_error)?;
            if last.last().map(|m| &m.info.id) != before.as_ref() {
                MidTurn::mark(cx, id, now_ms()).await?;
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Err(AgentError::Timeout(format!(
            "OpenCode accepted the prompt for {id} but did not start the turn within 30s"
        )))
    }

    async fn observe(
        &self,
        cx: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
    ) -> Vec<Observation> {
        let found = self.servers.running(cx).await;
        self.observe_found(cx, sessions, found, None).await
    }

    fn host_key(&self, project: &ao_agent::project::Project) -> Option<String> {
        match &project.location {
            // A project in a container has a server of its own: followed and listed alone.
            Location::Local if project.container.is_some() => None,
            // The local server of the project's settings.
            Location::Local => Some(self.servers.shared_key(project).0),
            // A server at a URL, as reached with the same credentials: projects that name it
            // alike are followed and listed together, and never through another's password.
            Location::Url(at) => {
                let password = match at.password.permit() {
                    Ok(PasswordSource::Env(name)) => format!("env {name}"),
                    Ok(PasswordSource::File(file)) => format!("file {}", file.display()),
                    Err(_) => return None,
                };
                Some(format!("url {} {} {password}", at.url, at.username))
            }
            // The server on the host for the project's settings there.
            Location::Ssh(_) => Some(self.servers.shared_key(project).0),
        }
    }

    async fn observe_batch(
        &self,
        batch: &[(ProjectContext<'_>, &[SessionContext<'_>])],
    ) -> Vec<Vec<Observation>> {
        let timed = ao_agent::timing::phase(|| "servers found".into());
        let contexts: Vec<&ProjectContext<'_>> = batch.iter().map(|(cx, _)| cx).collect();
        let found = self.servers.running_all(&contexts).await;
        drop(timed);
        // The projects found on the same server (one they share, here or on an ssh host, or one
        // at a URL) are listed in one request.
        let mut by_server: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, f) in found.iter().enumerate() {
            if let Ok(Some((
                record @ (ServerRecord::Local(_) | ServerRecord::Tunnel(_) | ServerRecord::Url(_)),
                _,
            ))) = f
            {
                by_server.entry(record.list_key()).or_default().push(i);
            }
        }
        let looked_at = now_ms();
        let mut shared: Vec<Option<Arc<ServerList>>> = vec![None; batch.len()];
        let mut lists = Vec::new();
        for idx in by_server.values().filter(|idx| idx.len() > 1) {
            let Ok(Some((record, client))) = &found[idx[0]] else {
                continue;
            };
            let _timed = ao_agent::timing::phase(|| "shared server's mirrors read".into());
            let names: Vec<String> = idx
                .iter()
                .map(|&i| batch[i].0.project.name.clone())
                .collect();
            let loaded = SessionList::load_many(
                batch[idx[0]].0.state,
                names.clone(),
                record.list_key(),
                record.process_here(),
                looked_at,
            )
            .await;
            let mirrors: Vec<(String, SessionList)> = names.into_iter().zip(loaded).collect();
            let list = Arc::new(ServerList::new(looked_at, mirrors));
            for &i in idx {
                shared[i] = Some(list.clone());
            }
            lists.push((list, client.clone()));
        }
        let early = join_all(lists.iter().map(|(list, client)| list.ask_early(client)));
        let looks = join_all(batch.iter().zip(found).zip(shared).map(
            |(((cx, sessions), found), shared)| async move {
                self.observe_found(cx, sessions, found, shared.as_deref())
                    .await
            },
        ));
        futures_util::join!(early, looks).1
    }

    async fn preflight(&self, cx: &ProjectContext<'_>) -> Result<(), AgentError> {
        match &cx.project.location {
            Location::Local => self.servers.preflight_boxed(cx.project).await,
            Location::Url(_) => self.servers.ensure(cx).await.map(|_| ()),
            Location::Ssh(dest) => {
                crate::remote::check_host(crate::remote::host(self.settings(), dest)?).await
            }
        }
    }

    async fn create_workspace(
        &self,
        cx: &ProjectContext<'_>,
        name: &str,
    ) -> Result<ao_agent::project::Worktree, AgentError> {
        let (_, client) = self.servers.ensure(cx).await?;
        let dir = cx.project.path.to_string_lossy();
        match client.create_worktree(&dir, name).await {
            Ok(wt) => Ok(ao_agent::project::Worktree {
                path: wt.directory.into(),
                branch: wt.branch.unwrap_or(wt.name),
            }),
            Err(crate::client::ClientError::Status { status, body, .. })
                if status.is_client_error() =>
            {
                Err(AgentError::Refused(format!(
                    "the OpenCode server of project {} cannot make a work tree in {dir} ({status}: {body}); set `workspace: none` for this project",
                    cx.project.name
                )))
            }
            Err(e) => Err(agent_error(e)),
        }
    }

    async fn remove_workspace(
        &self,
        cx: &ProjectContext<'_>,
        wt: &ao_agent::project::Worktree,
    ) -> Result<(), AgentError> {
        let (_, client) = self.servers.ensure(cx).await?;
        client
            .remove_worktree(
                &cx.project.path.to_string_lossy(),
                &wt.path.to_string_lossy(),
            )
            .await
            .map_err(agent_error)
    }

    async fn attach_launch(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<LaunchSpec, AgentError> {
        let id = conversation_id(session.record)?;
        let (server, _) = self.servers.ensure(cx).await?;
        self.tui_launch(&server, session.record, id)
    }

    async fn reply(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        reply: &Reply,
    ) -> Result<(), AgentError> {
        let client = self.up_client(cx).await?;
        // Requests live in the instance of the session's directory; a subagent's share it.
        let dir = session.record.workspace.to_string_lossy();
        fn gone(id: &str, what: &str) -> impl FnOnce(crate::client::ClientError) -> AgentError {
            let missing = format!("{what} {id} is no longer pending");
            move |e| {
                if e.is_not_found() {
                    AgentError::NotFound(missing)
                } else {
                    agent_error(e)
                }
            }
        }
        match reply {
            Reply::Permit { id, decision } => {
                let word = match decision {
                    PermitDecision::Once => "once",
                    PermitDecision::Always => "always",
                    PermitDecision::Reject => "reject",
                };
                client
                    .reply_permission(&dir, id, word)
                    .await
                    .map_err(gone(id, "permission request"))
            }
            Reply::Answer {
                id,
                answers,
                questions,
            } => {
                // What the request asks, as the look that found it saw: not asked again.
                if questions.len() != answers.len() {
                    let list: Vec<String> = questions
                        .iter()
                        .map(|q| format!("  {} [{}]", q.question, q.options.join(", ")))
                        .collect();
                    return Err(AgentError::Refused(format!(
                        "question {id} asks {} question(s); give one answer each, in order:\n{}",
                        questions.len(),
                        list.join("\n")
                    )));
                }
                let answers: Vec<Vec<String>> = answers.iter().map(|a| vec![a.clone()]).collect();
                client
                    .reply_question(&dir, id, &answers)
                    .await
                    .map_err(gone(id, "question"))
            }
            Reply::Dismiss { id } => client
                .reject_question(&dir, id)
                .await
                .map_err(gone(id, "question")),
        }
    }

    async fn transcript(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<TranscriptEntry>, AgentError> {
        let id = conversation_id(session.record)?;
        let client = self.up_client(cx).await?;
        let messages = client.messages(id, None).await.map_err(agent_error)?;
        Ok(transcript::transcript(&messages))
    }

    async fn project_changes(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<BoxStream<'static, Change>, AgentError> {
        let feed = self.follow(std::slice::from_ref(cx)).await?;
        Ok(Box::pin(futures_util::StreamExt::map(
            feed,
            |(_, change)| change,
        )))
    }

    async fn host_changes(
        &self,
        projects: &[ProjectContext<'_>],
    ) -> Result<BoxStream<'static, (usize, Change)>, AgentError> {
        self.follow(projects).await
    }

    async fn restore(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<PreparedSession, AgentError> {
        let rec = session.record;
        let id = conversation_id(rec)?;
        let (server, client) = self.servers.ensure(cx).await?;
        match client.session(id).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {
                return Err(AgentError::NotFound(format!(
                    "OpenCode no longer has session {id} (it was deleted), so {} cannot be \
                     restored; `ao spawn` starts a new one",
                    rec.address
                )))
            }
            Err(e) => return Err(agent_error(e)),
        }
        let launch = match rec.runtime {
            RuntimeKind::Tmux => self.tui_launch(&server, rec, id)?,
            // The log already holds the history: follow from now on.
            RuntimeKind::Process => self.follower_launch(&server, rec, id, now_ms()),
        };
        Ok(PreparedSession {
            role: LaunchRole::Viewer,
            agent_session_id: id.to_string(),
            launch,
        })
    }

    async fn plan(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<PlanItem>, AgentError> {
        self.plan_of(cx, session).await
    }

    async fn messages(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<MessageSummary>, AgentError> {
        self.messages_of(cx, session).await
    }

    async fn fork(
        &self,
        cx: &ProjectContext<'_>,
        source: SessionContext<'_>,
        fork: ForkRequest<'_>,
    ) -> Result<String, AgentError> {
        self.fork_of(cx, source, fork).await
    }

    async fn server_pid(&self, cx: &ProjectContext<'_>) -> Option<u32> {
        self.server_pid_of(cx).await
    }

    async fn release(
        &self,
        cx: &ProjectContext<'_>,
        idle_at: EpochMillis,
    ) -> Result<(), AgentError> {
        // The servers of a move cut off before it left them.
        self.servers.leave_moved_from(cx).await;
        match crate::server_record::load(cx.state, &cx.project.name).await? {
            // A shared server: the project leaves it, and the last one to leave stops it.
            Some((_, Some(shared))) => {
                self.servers.leave(cx, &shared).await?;
                let key = crate::server_record::key(&cx.project.name);
                cx.state
                    .update(&key, |pointer: &mut Option<ProjectServer>| {
                        if matches!(pointer, Some(ProjectServer::Shared { .. })) {
                            *pointer = None;
                        }
                    })
                    .await?;
                Ok(())
            }
            // A container, recorded or (one an interrupted `ao` started) found by its name.
            Some((ServerRecord::Boxed(_), None)) => self.servers.release_boxed(cx, idle_at).await,
            None if cx.project.container.is_some() => self.servers.release_boxed(cx, idle_at).await,
            Some((rec, None)) => self.servers.stop(cx, &rec, true).await,
            None => Ok(()),
        }
    }

    async fn forget(
        &self,
        cx: &ProjectContext<'_>,
        idle_at: EpochMillis,
    ) -> Result<(), AgentError> {
        // A container's data volume holds the project's conversations: gone with the last one.
        self.servers.remove_boxed(cx, idle_at).await
    }

    async fn kill(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        purge: bool,
    ) -> Result<(), AgentError> {
        let Some(id) = session.record.agent_session_id.as_deref() else {
            return Ok(());
        };
        let client = if purge {
            // Deleting needs a server: start one if it is gone (it is released again once no
            // session of the project is live).
            self.servers.ensure(cx).await?.1
        } else {
            match self.servers.lookup(cx).await? {
                ServerState::Up { client, .. } => client,
                // No server, no turn to abort.
                ServerState::Gone => return Ok(()),
                ServerState::Unresponsive(rec) => {
                    return Err(AgentError::Timeout(format!(
                        "the OpenCode server at {rec} does not answer"
                    )))
                }
            }
        };
        match client.abort(id).await {
            Err(e) if !e.is_not_found() => return Err(agent_error(e)),
            _ => {}
        }
        if purge {
            match client.delete_session(id).await {
                Err(e) if !e.is_not_found() => return Err(agent_error(e)),
                _ => {}
            }
        }
        Ok(())
    }
}
