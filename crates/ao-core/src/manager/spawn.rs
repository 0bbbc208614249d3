//! `ao spawn`: a new session, step by step, each step recorded as it is done, every step undone
//! when a later one fails.

use super::abandoned;
use super::session_manager::{recorded_worktree, Bound, SessionManager};
use crate::agent::{LaunchRole, SessionContext};
use crate::config::{validate_name, ProjectConfig};
use crate::error::{Error, Result};
use crate::fault::crash_point;
use crate::runtime::LaunchSpec;
use crate::session::{Lifecycle, RuntimeKind, SessionRecord, WorkspaceKind};
use crate::store::NewSession;

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
impl SessionManager {
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
        let agent = self.agent_of(&project)?;
        refuse_unboxed(&project, agent.as_ref())?;
        if let Some(model) = &opts.model {
            agent.check_model(model).map_err(Error::Usage)?;
        }
        let agent_name = agent.name();
        let runtime_kind = opts.runtime.unwrap_or(project.runtime);
        let model = opts.model.or_else(|| project.agent_config.model.clone());
        let agent_mode = opts
            .agent_mode
            .or_else(|| project.agent_config.agent.clone());
        let prompt = opts.prompt.or_else(|| project.agent_config.prompt.clone());
        let (mut rec, _spawn_lock) = self
            .reserve(
                &project,
                opts.name,
                agent_name,
                runtime_kind,
                model,
                agent_mode,
            )
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

    /// Reserves the name of a new session of `project` (recorded as `spawning`) and takes its
    /// spawn lock, held until the session is live, so that no one takes it for a spawn that died.
    pub(super) async fn reserve(
        &self,
        project: &ProjectConfig,
        name: Option<String>,
        agent: &'static str,
        runtime: RuntimeKind,
        model: Option<String>,
        agent_mode: Option<String>,
    ) -> Result<(SessionRecord, abandoned::SpawnLock)> {
        let (project_name, prefix, path) = (
            project.name.clone(),
            project.session_prefix.clone(),
            project.path.clone(),
        );
        let home = self.home.clone();
        let created_at = self.clock.now_ms();
        self.db(move |store| {
            store.reserve_with(
                &NewSession {
                    project: &project_name,
                    name: name.as_deref(),
                    prefix: &prefix,
                    agent,
                    runtime,
                    workspace: &path,
                    model: model.as_deref(),
                    agent_mode: agent_mode.as_deref(),
                    created_at,
                },
                |name| abandoned::SpawnLock::take(&home, &project_name, name),
            )
        })
        .await
    }

    async fn finish_spawn(
        &self,
        bound: &Bound<'_>,
        rec: &mut SessionRecord,
        prompt: Option<&str>,
        progress: &(dyn Fn(SpawnStep) + Sync),
    ) -> Result<()> {
        let project = bound.project;
        // What the agent needs where the project lives is checked before anything is made there.
        bound.agent.preflight(&bound.cx()).await?;
        if project.workspace == WorkspaceKind::Worktree || project.location.is_remote() {
            progress(SpawnStep::Workspace);
            self.make_workspace(bound, rec).await?;
            self.save(rec).await?;
            crash_point("after-workspace");
        }
        progress(SpawnStep::Agent);
        let prepared = bound
            .agent
            .prepare(
                &bound.cx(),
                SessionContext {
                    record: rec,
                    home: &self.home,
                },
            )
            .await?;
        rec.agent_session_id = Some(prepared.agent_session_id);
        self.save(rec).await?;
        crash_point("after-agent-session");
        self.launch(bound, rec, prepared.launch, prepared.role, prompt, progress)
            .await
    }

    /// The last steps of a new session, whose conversation exists: its program started, its
    /// first prompt delivered, and then it is live.
    pub(super) async fn launch(
        &self,
        bound: &Bound<'_>,
        rec: &mut SessionRecord,
        launch: LaunchSpec,
        role: LaunchRole,
        prompt: Option<&str>,
        progress: &(dyn Fn(SpawnStep) + Sync),
    ) -> Result<()> {
        progress(SpawnStep::Runtime(rec.runtime));
        self.start_runtime(rec, launch, role).await?;
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
                        home: &self.home,
                    },
                    prompt,
                )
                .await?;
        }
        crash_point("after-prompt");
        // Live only now: a session whose prompt never arrived is not one that finished its turn.
        rec.lifecycle = Lifecycle::Live;
        self.save(rec).await?;
        // Not a reason to undo the spawn: the next `ao` tries again, `ao doctor` says so.
        let _ = self.ensure_monitor(&rec.address.project).await;
        Ok(())
    }

    /// Takes back what a failed spawn set up, so that nothing half-made is left. Each step is
    /// tried even if one before it failed: the spawn's own error is what the person sees.
    pub(super) async fn undo_spawn(&self, bound: &Bound<'_>, rec: &SessionRecord) {
        if let Some(h) = &rec.runtime_handle {
            let _ = self.destroy_runtime(rec.runtime, h.clone()).await;
        }
        if rec.agent_session_id.is_some() {
            let session = SessionContext {
                record: rec,
                home: &self.home,
            };
            let _ = bound.agent.kill(&bound.cx(), session, true).await;
        }
        if let Some(wt) = recorded_worktree(rec) {
            let _ = self
                .remove_workspace(Some(bound), bound.project, wt, false)
                .await;
        }
        let address = rec.address.clone();
        let _ = self.db(move |store| store.delete(&address)).await;
    }
}

/// Refuses a new session of a project with `container:` whose agent runs nothing in a container
/// (docs/containers.md): the person asked for a box, so nothing runs outside it instead.
pub(super) fn refuse_unboxed(
    project: &ProjectConfig,
    agent: &dyn crate::agent::Agent,
) -> Result<()> {
    if project.container.is_none() || agent.runs_in_container(&project.for_agent()) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "project {:?} asks for a container (`container:`), and ao cannot run the {} agent in one \
         yet (docs/containers.md); use an agent that runs in one there, or remove `container:` to \
         run its sessions on this machine",
        project.name,
        agent.name()
    )))
}
