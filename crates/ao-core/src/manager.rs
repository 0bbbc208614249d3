//! The session manager: the one place that combines runtime facts with agent facts.
//!
//! The CLI calls it for every command; it reads the config and the store, asks the runtime whether
//! each session's program runs and the agent what each session is doing, and returns plain values.
//! It is also the async boundary of ao-core: the store, the runtimes and git block, so it calls
//! them only through [`unblock`] (docs/architecture.md, "Async").

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;

use crate::agent::{Agent, Observation, ProjectContext, SessionContext};
use crate::blocking::unblock;
use crate::clock::{rfc3339, Clock};
use crate::config::{validate_model, validate_name, Config, ProjectConfig};
use crate::error::{Error, Result};
use crate::fault::crash_point;
use crate::home::StateHome;
use crate::runtime::{
    AttachCommand, LaunchSpec, ProcessRuntime, Runtime, RuntimeHandle, TmuxRuntime,
};
use crate::session::{
    Activity, Lifecycle, ProcessState, RuntimeKind, SessionError, SessionRecord, SessionStatus,
    WorkspaceKind,
};
use crate::store::{NewSession, PluginState, Store};
use crate::workspace::{self, Worktree};

mod abandoned;
mod interact;
mod kill;
mod resolve;
mod restore;
#[cfg(test)]
mod tests;

pub use interact::{QuestionReply, WAIT_POLL_INTERVAL};
pub use kill::{KillOptions, KillReport, Killed, KilledWorkspace};

/// What `ao spawn` asks for.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// The project.
    pub project: String,
    /// The first prompt; the project's `agentConfig.prompt` when `None`.
    pub prompt: Option<String>,
    /// Overrides the project's runtime.
    pub runtime: Option<RuntimeKind>,
    /// Overrides the project's model (`provider/model`).
    pub model: Option<String>,
    /// Overrides the project's agent mode.
    pub agent_mode: Option<String>,
    /// A name instead of the next `<prefix>-<N>`.
    pub name: Option<String>,
}

/// A step of `ao spawn`, for a progress indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnStep {
    /// Creating the session's git work tree.
    Workspace,
    /// The agent sets up the conversation (starting its server if needed).
    Agent,
    /// Starting the session's program in its runtime.
    Runtime(RuntimeKind),
    /// Delivering the first prompt.
    Prompt,
}

impl std::fmt::Display for SpawnStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnStep::Workspace => f.write_str("creating the work tree"),
            SpawnStep::Agent => f.write_str("starting the agent's session"),
            SpawnStep::Runtime(kind) => write!(f, "starting it in {kind}"),
            SpawnStep::Prompt => f.write_str("sending the prompt"),
        }
    }
}

/// What `ao spawn` did.
#[derive(Debug, Clone)]
pub struct Spawned {
    /// The session's record as stored.
    pub session: SessionRecord,
}

/// Runs sessions.
pub struct SessionManager {
    config: Config,
    home: StateHome,
    store: Store,
    agents: Vec<Arc<dyn Agent>>,
    tmux: TmuxRuntime,
    process: ProcessRuntime,
    clock: Arc<dyn Clock>,
}

/// The work tree a session's record names, for a session that has one.
fn recorded_worktree(rec: &SessionRecord) -> Option<Worktree> {
    rec.branch.as_ref().map(|branch| Worktree {
        path: rec.workspace.clone(),
        branch: branch.clone(),
    })
}

/// An agent with what each of its calls gets: the plugin's state and the project.
struct Bound<'m> {
    agent: Arc<dyn Agent>,
    state: PluginState,
    project: &'m ProjectConfig,
    home: &'m StateHome,
}

impl Bound<'_> {
    fn cx(&self) -> ProjectContext<'_> {
        ProjectContext {
            project: self.project,
            home: self.home,
            state: &self.state,
        }
    }
}

impl SessionManager {
    /// A manager over the given config, state home and agent plugins (the registry, the default
    /// agent first). Opens the store.
    pub async fn new(
        config: Config,
        home: StateHome,
        agents: Vec<Arc<dyn Agent>>,
        tmux: TmuxRuntime,
        clock: Arc<dyn Clock>,
    ) -> Result<SessionManager> {
        let path = home.store_path();
        let store = unblock(move || Store::open(&path)).await?;
        Ok(SessionManager {
            config,
            home,
            store,
            agents,
            tmux,
            process: ProcessRuntime::new(),
            clock,
        })
    }

    /// The config in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The session store. Its calls block: from async code, go through [`unblock`].
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The state home.
    pub fn home(&self) -> &StateHome {
        &self.home
    }

    /// Runs `work` on the store, off the async runtime's thread.
    async fn db<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        unblock(move || work(&store)).await
    }

    /// Runs `work` on a runtime, off the async runtime's thread (tmux calls and stops wait).
    async fn on_runtime<T, F>(&self, kind: RuntimeKind, work: F) -> T
    where
        F: FnOnce(&dyn Runtime) -> T + Send + 'static,
        T: Send + 'static,
    {
        match kind {
            RuntimeKind::Tmux => {
                let rt = self.tmux.clone();
                unblock(move || work(&rt)).await
            }
            RuntimeKind::Process => {
                let rt = self.process.clone();
                unblock(move || work(&rt)).await
            }
        }
    }

    fn agent_named(&self, name: &str) -> Result<&Arc<dyn Agent>> {
        self.agents
            .iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                let known: Vec<_> = self.agents.iter().map(|a| a.name()).collect();
                Error::Usage(format!(
                    "unknown agent {name:?}; this ao knows: {}",
                    known.join(", ")
                ))
            })
    }

    /// The agent a project names, or the default one.
    fn agent_of(&self, project: &ProjectConfig) -> Result<&Arc<dyn Agent>> {
        match &project.agent {
            Some(name) => self.agent_named(name),
            None => self
                .agents
                .first()
                .ok_or_else(|| Error::Usage("this ao has no agent plugin".into())),
        }
    }

    /// The named agent bound to a project, for its calls.
    fn bind<'m>(&'m self, agent: &str, project: &'m ProjectConfig) -> Result<Bound<'m>> {
        let agent = self.agent_named(agent)?.clone();
        Ok(Bound {
            state: self.store.plugin_state(agent.name()),
            agent,
            project,
            home: &self.home,
        })
    }

    /// The agent of a recorded session, bound to its project.
    fn bind_session(&self, rec: &SessionRecord) -> Result<Bound<'_>> {
        let project = self.config.project(&rec.address.project)?;
        self.bind(&rec.agent, project)
    }

    /// The private directory of a session (not created here).
    fn session_path(&self, rec: &SessionRecord) -> std::path::PathBuf {
        self.home
            .session_path(&rec.address.project, &rec.address.name)
    }

    /// Starts a new session and delivers its first prompt.
    pub async fn spawn(&self, opts: SpawnOptions) -> Result<Spawned> {
        self.spawn_with_progress(opts, &|_| {}).await
    }

    /// [`spawn`](Self::spawn), telling `progress` each step as it begins (for a progress
    /// indicator).
    pub async fn spawn_with_progress(
        &self,
        opts: SpawnOptions,
        progress: &(dyn Fn(SpawnStep) + Sync),
    ) -> Result<Spawned> {
        let project = self.config.project(&opts.project)?.clone();
        if let Some(name) = &opts.name {
            validate_name(name).map_err(|m| Error::Usage(format!("session name {name:?}: {m}")))?;
        }
        if let Some(model) = &opts.model {
            validate_model(model).map_err(Error::Usage)?;
        }
        let agent_name = self.agent_of(&project)?.name();
        let runtime_kind = opts.runtime.unwrap_or(project.runtime);
        let model = opts.model.or_else(|| project.agent_config.model.clone());
        let agent_mode = opts
            .agent_mode
            .or_else(|| project.agent_config.agent.clone());
        let prompt = opts.prompt.or_else(|| project.agent_config.prompt.clone());

        // Held until the session is live, so that no one takes it for a spawn that died.
        let (project_name, prefix, path) = (
            project.name.clone(),
            project.session_prefix.clone(),
            project.path.clone(),
        );
        let (name, home) = (opts.name.clone(), self.home.clone());
        let created_at = self.clock.now_ms();
        let (mut rec, _spawn_lock) = self
            .db(move |store| {
                store.reserve_with(
                    &NewSession {
                        project: &project_name,
                        name: name.as_deref(),
                        prefix: &prefix,
                        agent: agent_name,
                        runtime: runtime_kind,
                        workspace: &path,
                        model: model.as_deref(),
                        agent_mode: agent_mode.as_deref(),
                        created_at,
                    },
                    |name| abandoned::SpawnLock::take(&home, &project_name, name),
                )
            })
            .await?;
        crash_point("after-reserve");
        let bound = self.bind(agent_name, &project)?;
        match self
            .finish_spawn(&bound, &mut rec, prompt.as_deref(), progress)
            .await
        {
            Ok(()) => Ok(Spawned { session: rec }),
            Err(e) => {
                self.undo_spawn(&bound, &rec).await;
                Err(e)
            }
        }
    }

    async fn finish_spawn(
        &self,
        bound: &Bound<'_>,
        rec: &mut SessionRecord,
        prompt: Option<&str>,
        progress: &(dyn Fn(SpawnStep) + Sync),
    ) -> Result<()> {
        let project = bound.project;
        if project.workspace == WorkspaceKind::Worktree {
            progress(SpawnStep::Workspace);
            let dir = self
                .home
                .worktrees_dir(&project.name)
                .join(&rec.address.name);
            let (repo, name, base) = (
                project.path.clone(),
                rec.address.name.clone(),
                project.default_branch.clone(),
            );
            let wt =
                unblock(move || workspace::create_worktree(&repo, &dir, &name, base.as_deref()))
                    .await?;
            rec.workspace = wt.path;
            rec.branch = Some(wt.branch);
            self.save(rec).await?;
            crash_point("after-workspace");
        }
        let session_dir = self.session_path(rec);
        progress(SpawnStep::Agent);
        let prepared = bound
            .agent
            .prepare(
                &bound.cx(),
                SessionContext {
                    record: rec,
                    dir: &session_dir,
                },
            )
            .await?;
        rec.agent_session_id = Some(prepared.agent_session_id);
        self.save(rec).await?;
        crash_point("after-agent-session");

        progress(SpawnStep::Runtime(rec.runtime));
        self.start_runtime(rec, prepared.launch, &session_dir)
            .await?;
        self.save(rec).await?;
        crash_point("after-runtime");

        if let Some(prompt) = prompt {
            progress(SpawnStep::Prompt);
            bound
                .agent
                .send(
                    &bound.cx(),
                    SessionContext {
                        record: rec,
                        dir: &session_dir,
                    },
                    prompt,
                )
                .await?;
        }
        crash_point("after-prompt");
        // Live only now: a session whose prompt never arrived is not one that finished its turn.
        rec.lifecycle = Lifecycle::Live;
        self.save(rec).await?;
        Ok(())
    }

    /// Writes a record back to the store.
    async fn save(&self, rec: &SessionRecord) -> Result<()> {
        let rec = rec.clone();
        self.db(move |store| store.update(&rec)).await
    }

    /// Starts the session's program in its runtime; the handle goes into `rec`, for the caller to
    /// store.
    async fn start_runtime(
        &self,
        rec: &mut SessionRecord,
        launch: LaunchSpec,
        session_dir: &std::path::Path,
    ) -> Result<()> {
        let (name, dir) = (rec.address.to_string(), session_dir.to_path_buf());
        let handle = self
            .on_runtime(rec.runtime, move |rt| rt.create(&name, &launch, &dir))
            .await?;
        rec.runtime_handle = Some(handle);
        Ok(())
    }

    /// Stops a session's program; no error when it is already gone.
    async fn destroy_runtime(&self, kind: RuntimeKind, handle: RuntimeHandle) -> Result<()> {
        Ok(self.on_runtime(kind, move |rt| rt.destroy(&handle)).await?)
    }

    /// Takes back what a failed spawn set up, so that nothing half-made is left. Each step is
    /// tried even if one before it failed: the spawn's own error is what the person sees.
    async fn undo_spawn(&self, bound: &Bound<'_>, rec: &SessionRecord) {
        if let Some(h) = &rec.runtime_handle {
            let _ = self.destroy_runtime(rec.runtime, h.clone()).await;
        }
        if rec.agent_session_id.is_some() {
            let dir = self.session_path(rec);
            let session = SessionContext {
                record: rec,
                dir: &dir,
            };
            let _ = bound.agent.kill(&bound.cx(), session, true).await;
        }
        if let Some(wt) = recorded_worktree(rec) {
            let repo = bound.project.path.clone();
            let _ = unblock(move || workspace::remove_worktree_if_clean(&repo, &wt)).await;
        }
        let address = rec.address.clone();
        let _ = self.db(move |store| store.delete(&address)).await;
    }

    /// The status of the sessions a target names (all when `None`).
    pub async fn status(&self, target: Option<&str>) -> Result<Vec<SessionStatus>> {
        let records = self.resolve(target).await?;
        self.status_of(&records).await
    }

    /// The status of the given sessions: one runtime check per runtime, one batched observation
    /// per project, projects observed concurrently.
    pub async fn status_of(&self, records: &[SessionRecord]) -> Result<Vec<SessionStatus>> {
        let now = self.clock.now_ms();
        let (alive, observations) =
            futures_util::join!(self.liveness(records), self.observe_all(records));
        let mut obs_by_address = observations;
        let mut out = Vec::with_capacity(records.len());
        for (r, alive) in records.iter().zip(alive) {
            let obs = match obs_by_address.remove(&r.address) {
                Some(obs) => obs,
                None if r.lifecycle == Lifecycle::Spawning => {
                    self.spawning_observation(r, alive).await?
                }
                None => Observation::bare(Activity::Exited, None),
            };
            out.push(self.compose(r, obs, alive, now));
        }
        Ok(out)
    }

    /// What the agents say about the live sessions among `records`, projects concurrently.
    async fn observe_all(
        &self,
        records: &[SessionRecord],
    ) -> BTreeMap<crate::session::SessionAddress, Observation> {
        let mut by_project: BTreeMap<&str, Vec<&SessionRecord>> = BTreeMap::new();
        for r in records {
            if r.lifecycle == Lifecycle::Live && r.agent_session_id.is_some() {
                by_project.entry(&r.address.project).or_default().push(r);
            }
        }
        let observations = join_all(by_project.into_iter().map(|(name, recs)| async move {
            let obs = match self.config.project(name) {
                Ok(project) => self.observe_project(project, &recs).await,
                Err(_) => recs
                    .iter()
                    .map(|_| {
                        Observation::bare(
                            Activity::Exited,
                            Some(SessionError {
                                name: "UnknownProject".into(),
                                message: format!(
                                    "project {name} is no longer in {}",
                                    self.config.file.display()
                                ),
                            }),
                        )
                    })
                    .collect(),
            };
            recs.into_iter()
                .map(|r| r.address.clone())
                .zip(obs)
                .collect::<Vec<_>>()
        }))
        .await;
        observations.into_iter().flatten().collect()
    }

    /// One project's sessions, observed by their agents (a project's sessions may have been
    /// spawned with different agents over time).
    async fn observe_project(
        &self,
        project: &ProjectConfig,
        recs: &[&SessionRecord],
    ) -> Vec<Observation> {
        let mut by_agent: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in recs.iter().enumerate() {
            by_agent.entry(&r.agent).or_default().push(i);
        }
        let mut out: Vec<Option<Observation>> = vec![None; recs.len()];
        for (agent, idx) in by_agent {
            let bound = match self.bind(agent, project) {
                Ok(b) => b,
                Err(e) => {
                    for i in idx {
                        out[i] = Some(Observation::bare(
                            Activity::Exited,
                            Some(SessionError {
                                name: "UnknownAgent".into(),
                                message: e.to_string(),
                            }),
                        ));
                    }
                    continue;
                }
            };
            let dirs: Vec<_> = idx.iter().map(|&i| self.session_path(recs[i])).collect();
            let sessions: Vec<SessionContext<'_>> = idx
                .iter()
                .zip(&dirs)
                .map(|(&i, dir)| SessionContext {
                    record: recs[i],
                    dir,
                })
                .collect();
            let obs = bound.agent.observe(&bound.cx(), &sessions).await;
            for (i, o) in idx.into_iter().zip(obs) {
                out[i] = Some(o);
            }
        }
        out.into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Observation::bare(
                        Activity::Exited,
                        Some(SessionError {
                            name: "Unobserved".into(),
                            message: "its agent gave no observation for it".into(),
                        }),
                    )
                })
            })
            .collect()
    }

    /// Whether each session's program runs: one batched call per runtime.
    async fn liveness(&self, records: &[SessionRecord]) -> Vec<bool> {
        let mut out = vec![false; records.len()];
        for kind in [RuntimeKind::Tmux, RuntimeKind::Process] {
            let (idx, handles): (Vec<usize>, Vec<RuntimeHandle>) = records
                .iter()
                .enumerate()
                .filter(|(_, r)| r.runtime == kind)
                .filter_map(|(i, r)| r.runtime_handle.clone().map(|h| (i, h)))
                .unzip();
            if handles.is_empty() {
                continue;
            }
            let alive = self
                .on_runtime(kind, move |rt| {
                    rt.alive(&handles.iter().collect::<Vec<_>>())
                })
                .await;
            for (i, a) in idx.into_iter().zip(alive) {
                out[i] = a;
            }
        }
        out
    }

    fn compose(&self, r: &SessionRecord, obs: Observation, alive: bool, now: i64) -> SessionStatus {
        let activity = match obs.activity {
            Activity::Ready
                if obs.last_activity_at.is_some_and(|t| {
                    now.saturating_sub(t) > self.config.ready_threshold_ms as i64
                }) =>
            {
                Activity::Idle
            }
            a => a,
        };
        let id = r.address.to_string();
        SessionStatus {
            project: r.address.project.clone(),
            name: r.address.name.clone(),
            agent: r.agent.clone(),
            runtime: r.runtime,
            process: if alive {
                ProcessState::Running
            } else {
                ProcessState::Exited
            },
            activity,
            agent_session_id: r.agent_session_id.clone(),
            workspace: r.workspace.clone(),
            branch: r.branch.clone(),
            created_at: rfc3339(r.created_at),
            last_activity_at: obs.last_activity_at.map(rfc3339),
            model: obs.model.or_else(|| r.model.clone()),
            summary: obs.summary,
            tokens: obs.tokens,
            cost_usd: obs.cost_usd,
            pending: obs.pending,
            error: obs.error,
            attach_command: Some(format!("ao attach {id}")),
            restore_command: Some(format!("ao restore {id}")),
            id,
        }
    }

    /// The command that attaches the user's terminal to a session: the runtime's own (tmux), or the
    /// agent's UI client for runtimes without a terminal.
    pub async fn attach(&self, target: &str) -> Result<AttachCommand> {
        let rec = self.resolve_one(target).await?;
        if rec.lifecycle != Lifecycle::Live {
            return Err(Error::Usage(format!(
                "session {} is not running; `ao restore {}` brings it back",
                rec.address, rec.address
            )));
        }
        if let Some(handle) = rec.runtime_handle.clone() {
            let cmd = self
                .on_runtime(rec.runtime, move |rt| rt.attach_command(&handle))
                .await?;
            if let Some(cmd) = cmd {
                return Ok(cmd);
            }
        }
        let bound = self.bind_session(&rec)?;
        let dir = self.session_path(&rec);
        let session = SessionContext {
            record: &rec,
            dir: &dir,
        };
        let spec = bound.agent.attach_launch(&bound.cx(), session).await?;
        Ok(AttachCommand {
            program: spec.program,
            args: spec.args,
            env: spec.env,
            env_remove: vec![],
        })
    }
}
