//! The session manager: the one place that combines runtime facts with agent facts.
//!
//! The CLI calls it for every command; it reads the config and the store, asks the runtime whether
//! each session's program runs and the agent what each session is doing, and returns plain values.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;

use crate::agent::{Agent, Observation, SpawnRequest};
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
use crate::store::{NewSession, Store};
use crate::workspace::{self, Worktree};

mod interact;
mod kill;
mod restore;
mod spawning;
#[cfg(test)]
mod tests;

pub use interact::{QuestionReply, WAIT_POLL_INTERVAL};
pub use kill::{KillOptions, Killed, KilledWorkspace};

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

impl SessionManager {
    /// A manager over the given config, state home and agent plugins.
    pub fn new(
        config: Config,
        home: StateHome,
        agents: Vec<Arc<dyn Agent>>,
        tmux: TmuxRuntime,
        clock: Arc<dyn Clock>,
    ) -> Result<SessionManager> {
        let store = Store::open(&home.store_path())?;
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

    /// The session store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The state home.
    pub fn home(&self) -> &StateHome {
        &self.home
    }

    fn runtime(&self, kind: RuntimeKind) -> &dyn Runtime {
        match kind {
            RuntimeKind::Tmux => &self.tmux,
            RuntimeKind::Process => &self.process,
        }
    }

    fn agent(&self, name: &str) -> Result<&Arc<dyn Agent>> {
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
        let agent = self.agent(&project.agent)?.clone();
        let runtime_kind = opts.runtime.unwrap_or(project.runtime);
        let model = opts.model.or_else(|| project.agent_config.model.clone());
        let agent_mode = opts
            .agent_mode
            .or_else(|| project.agent_config.agent.clone());
        let prompt = opts.prompt.or_else(|| project.agent_config.prompt.clone());

        // Held until the session is live, so that no one takes it for a spawn that died.
        let (mut rec, _spawn_lock) = self.store.reserve_with(
            &NewSession {
                project: &project.name,
                name: opts.name.as_deref(),
                prefix: &project.session_prefix,
                agent: agent.name(),
                runtime: runtime_kind,
                workspace: &project.path,
                model: model.as_deref(),
                agent_mode: agent_mode.as_deref(),
                created_at: self.clock.now_ms(),
            },
            |name| spawning::SpawnLock::take(&self.home, &project.name, name),
        )?;
        crash_point("after-reserve");
        match self
            .finish_spawn(
                &project,
                agent.as_ref(),
                &mut rec,
                prompt.as_deref(),
                progress,
            )
            .await
        {
            Ok(()) => Ok(Spawned { session: rec }),
            Err(e) => {
                self.undo_spawn(&project, agent.as_ref(), &rec).await;
                Err(e)
            }
        }
    }

    async fn finish_spawn(
        &self,
        project: &ProjectConfig,
        agent: &dyn Agent,
        rec: &mut SessionRecord,
        prompt: Option<&str>,
        progress: &(dyn Fn(SpawnStep) + Sync),
    ) -> Result<()> {
        if project.workspace == WorkspaceKind::Worktree {
            progress(SpawnStep::Workspace);
            let dir = self
                .home
                .worktrees_dir(&project.name)
                .join(&rec.address.name);
            let wt = workspace::create_worktree(
                &project.path,
                &dir,
                &rec.address.name,
                project.default_branch.as_deref(),
            )?;
            rec.workspace = wt.path;
            rec.branch = Some(wt.branch);
            self.store.update(rec)?;
            crash_point("after-workspace");
        }
        let session_dir = self
            .home
            .session_dir(&rec.address.project, &rec.address.name)?;
        progress(SpawnStep::Agent);
        let prepared = agent
            .prepare(SpawnRequest {
                project,
                session: rec,
                session_dir: &session_dir,
            })
            .await?;
        rec.agent_session_id = Some(prepared.agent_session_id);
        self.store.update(rec)?;
        crash_point("after-agent-session");

        progress(SpawnStep::Runtime(rec.runtime));
        self.start_runtime(rec, &prepared.launch, &session_dir)?;
        self.store.update(rec)?;
        crash_point("after-runtime");

        if let Some(prompt) = prompt {
            progress(SpawnStep::Prompt);
            agent.send(project, rec, prompt).await?;
        }
        crash_point("after-prompt");
        // Live only now: a session whose prompt never arrived is not one that finished its turn.
        rec.lifecycle = Lifecycle::Live;
        self.store.update(rec)?;
        Ok(())
    }

    /// Starts the session's program in its runtime; the handle goes into `rec`, for the caller to
    /// store.
    fn start_runtime(
        &self,
        rec: &mut SessionRecord,
        launch: &LaunchSpec,
        session_dir: &std::path::Path,
    ) -> Result<()> {
        let handle =
            self.runtime(rec.runtime)
                .create(&rec.address.to_string(), launch, session_dir)?;
        rec.runtime_handle = Some(handle);
        Ok(())
    }

    /// Takes back what a failed spawn set up, so that nothing half-made is left.
    async fn undo_spawn(&self, project: &ProjectConfig, agent: &dyn Agent, rec: &SessionRecord) {
        if let Some(h) = &rec.runtime_handle {
            let _ = self.runtime(rec.runtime).destroy(h);
        }
        if rec.agent_session_id.is_some() {
            let _ = agent.kill(project, rec, true).await;
        }
        if let Some(wt) = recorded_worktree(rec) {
            let _ = workspace::remove_worktree_if_clean(&project.path, &wt);
        }
        let _ = self.store.delete(&rec.address);
    }

    /// The sessions a target names: `project`, `project/name`, or a `name` unique across projects;
    /// `None` for all.
    pub fn resolve(&self, target: Option<&str>) -> Result<Vec<SessionRecord>> {
        let all = self.store.list()?;
        let Some(target) = target else {
            return Ok(all);
        };
        if let Some((project, name)) = target.split_once('/') {
            let found: Vec<_> = all
                .into_iter()
                .filter(|r| r.address.project == project && r.address.name == name)
                .collect();
            if found.is_empty() {
                return Err(Error::Usage(format!(
                    "no session {target}; `ao list` shows the sessions there are"
                )));
            }
            return Ok(found);
        }
        if self.config.projects.iter().any(|p| p.name == target)
            || all.iter().any(|r| r.address.project == target)
        {
            return Ok(all
                .into_iter()
                .filter(|r| r.address.project == target)
                .collect());
        }
        let found: Vec<_> = all
            .into_iter()
            .filter(|r| r.address.name == target)
            .collect();
        match found.len() {
            0 => Err(Error::Usage(format!(
                "no project or session named {target:?}; `ao list` shows the sessions there are"
            ))),
            1 => Ok(found),
            _ => Err(Error::Usage(format!(
                "{target:?} names several sessions ({}); say which with project/name",
                found
                    .iter()
                    .map(|r| r.address.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Exactly one session, for commands that act on one.
    pub fn resolve_one(&self, target: &str) -> Result<SessionRecord> {
        let mut found = self.resolve(Some(target))?;
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::Usage(format!("project {target} has no sessions"))),
            _ => Err(Error::Usage(format!(
                "{target} has {} sessions; name one as {target}/<name>",
                found.len()
            ))),
        }
    }

    /// The status of the sessions a target names (all when `None`).
    pub async fn status(&self, target: Option<&str>) -> Result<Vec<SessionStatus>> {
        let records = self.resolve(target)?;
        Ok(self.status_of(&records).await)
    }

    /// The status of the given sessions: one runtime check per runtime, one batched observation
    /// per project, projects observed concurrently.
    pub async fn status_of(&self, records: &[SessionRecord]) -> Vec<SessionStatus> {
        let now = self.clock.now_ms();
        let alive = self.liveness(records);

        let mut by_project: BTreeMap<&str, Vec<&SessionRecord>> = BTreeMap::new();
        for r in records {
            if r.lifecycle == Lifecycle::Live && r.agent_session_id.is_some() {
                by_project.entry(&r.address.project).or_default().push(r);
            }
        }
        let observations = join_all(by_project.into_iter().map(|(name, recs)| async move {
            let project = self.config.projects.iter().find(|p| p.name == name);
            let obs = match project.map(|p| (p, self.agent(&p.agent))) {
                Some((p, Ok(agent))) => agent.observe(p, &recs).await,
                _ => recs
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
        let mut obs_by_address: BTreeMap<_, _> = observations.into_iter().flatten().collect();

        records
            .iter()
            .zip(alive)
            .map(|(r, alive)| {
                let obs = obs_by_address
                    .remove(&r.address)
                    .unwrap_or_else(|| match r.lifecycle {
                        Lifecycle::Spawning => self.spawning_observation(r, alive),
                        _ => Observation::bare(Activity::Exited, None),
                    });
                self.compose(r, obs, alive, now)
            })
            .collect()
    }

    fn liveness(&self, records: &[SessionRecord]) -> Vec<bool> {
        let mut out = vec![false; records.len()];
        for kind in [RuntimeKind::Tmux, RuntimeKind::Process] {
            let idx: Vec<usize> = (0..records.len())
                .filter(|&i| records[i].runtime == kind && records[i].runtime_handle.is_some())
                .collect();
            let handles: Vec<&RuntimeHandle> = idx
                .iter()
                .filter_map(|&i| records[i].runtime_handle.as_ref())
                .collect();
            if handles.is_empty() {
                continue;
            }
            for (i, a) in idx.into_iter().zip(self.runtime(kind).alive(&handles)) {
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
        let rec = self.resolve_one(target)?;
        if rec.lifecycle != Lifecycle::Live {
            return Err(Error::Usage(format!(
                "session {} is not running; `ao restore {}` brings it back",
                rec.address, rec.address
            )));
        }
        if let Some(handle) = &rec.runtime_handle {
            if let Some(cmd) = self.runtime(rec.runtime).attach_command(handle)? {
                return Ok(cmd);
            }
        }
        let project = self.config.project(&rec.address.project)?;
        let spec = self.agent(&rec.agent)?.attach_launch(project, &rec).await?;
        Ok(AttachCommand {
            program: spec.program,
            args: spec.args,
            env: spec.env,
            env_remove: vec![],
        })
    }
}
