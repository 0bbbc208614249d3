//! `ao fork`: a new session that starts from another's conversation and work.
//!
//! Like a spawn, step by step and undone on failure, but the work tree branches from the source's
//! (its uncommitted changes carried over, the source untouched), the conversation is the agent's
//! copy of the source's, and the program is started as a restore starts it, on that copy.

use super::session_manager::{recorded_worktree, Bound, SessionManager};
use super::spawn::SpawnStep;
use crate::agent::{ForkRequest, SessionContext};
use crate::blocking::unblock;
use crate::config::validate_name;
use crate::error::{Error, Result};
use crate::session::{Lifecycle, RuntimeKind, SessionRecord};
use crate::workspace;

/// What `ao fork` asks for.
#[derive(Debug, Clone)]
pub struct ForkOptions {
    /// The session to fork.
    pub source: crate::target::Target,
    /// A name instead of the next `<prefix>-<N>`.
    pub name: Option<String>,
    /// Keep only the source's messages before this one (the agent's message id).
    pub at: Option<String>,
    /// The runtime; the source's when `None`.
    pub runtime: Option<RuntimeKind>,
    /// The fork's first message.
    pub prompt: Option<String>,
}

impl SessionManager {
    /// Forks a session: a new one with a copy of its conversation (or of its start, up to
    /// `at`) and a work tree of its own branched from the source's, then its runtime and its
    /// first prompt. The source is left as it was.
    pub async fn fork(
        &self,
        opts: ForkOptions,
        progress: &(dyn Fn(SpawnStep) + Sync),
    ) -> Result<SessionRecord> {
        let source = self.resolve_one(&opts.source).await?;
        if source.lifecycle == Lifecycle::Spawning || source.agent_session_id.is_none() {
            return Err(Error::Conflict(format!(
                "session {} was never fully spawned, so it has no conversation to fork",
                source.address
            )));
        }
        if let Some(host) = self.remote_host_of(&source)? {
            return Err(Error::Usage(format!(
                "session {} works on {host}; ao fork copies work trees on this machine only (for \
                 now), so `ao spawn` a new session there instead",
                source.address
            )));
        }
        if let Some(name) = &opts.name {
            validate_name(name).map_err(|m| Error::Usage(format!("session name {name:?}: {m}")))?;
        }
        let project = self.config.project(&source.address.project)?.clone();
        let agent = self.agent_named(&source.agent)?;
        super::spawn::refuse_unboxed(&project, agent.as_ref())?;
        let agent = agent.name();
        let (mut rec, _spawn_lock) = self
            .reserve(
                &project,
                opts.name.clone(),
                agent,
                opts.runtime.unwrap_or(source.runtime),
                source.model.clone(),
                source.agent_mode.clone(),
            )
            .await?;
        let bound = self.bind(agent, &project)?;
        match self
            .finish_fork(&bound, &source, &mut rec, &opts, progress)
            .await
        {
            Ok(()) => Ok(rec),
            Err(e) => {
                self.undo_spawn(&bound, &rec).await;
                Err(e)
            }
        }
    }

    async fn finish_fork(
        &self,
        bound: &Bound<'_>,
        source: &SessionRecord,
        rec: &mut SessionRecord,
        opts: &ForkOptions,
        progress: &(dyn Fn(SpawnStep) + Sync),
    ) -> Result<()> {
        let project = bound.project;
        match recorded_worktree(source) {
            Some(from) => {
                progress(SpawnStep::Workspace);
                let dir = self
                    .home
                    .worktrees_dir(&project.name)
                    .join(&rec.address.name);
                let (repo, name) = (project.path.clone(), rec.address.name.clone());
                let (recorded, start) = (source.base.clone(), project.default_branch.clone());
                let (wt, base) = unblock(move || {
                    // The fork counts its changes from where the source started, so that its
                    // files hold the source's work too.
                    let base = match recorded {
                        Some(b) => Some(b),
                        None if from.path.exists() => Some(workspace::resolve_base(
                            &repo,
                            &workspace::TreeGit::open(&repo, &from.path)?,
                            None,
                            start.as_deref(),
                        )?),
                        None => None,
                    };
                    let wt =
                        workspace::fork_worktree(&repo, &from.path, &from.branch, &dir, &name)?;
                    Ok::<_, workspace::WorkspaceError>((wt, base))
                })
                .await?;
                rec.workspace = wt.path;
                rec.branch = Some(wt.branch);
                rec.base = base;
            }
            // Without a work tree of its own, the source works in the project directory: so
            // does its fork.
            None => rec.workspace = source.workspace.clone(),
        }
        self.save(rec).await?;

        progress(SpawnStep::Agent);
        let cx = bound.cx();
        let request = ForkRequest {
            at: opts.at.as_deref(),
            workspace: &rec.workspace,
        };
        let source_cx = SessionContext {
            record: source,
            home: &self.home,
        };
        rec.agent_session_id = Some(bound.agent.fork(&cx, source_cx, request).await?);
        self.save(rec).await?;
        let session = SessionContext {
            record: rec,
            home: &self.home,
        };
        let prepared = bound.agent.restore(&cx, session).await?;
        self.launch(
            bound,
            rec,
            prepared.launch,
            prepared.role,
            opts.prompt.as_deref(),
            progress,
        )
        .await
    }
}
