//! `ao restore`: a killed or exited session back on the same agent conversation.

use super::session_manager::SessionManager;
use crate::agent::SessionContext;
use crate::blocking::unblock;
use crate::error::{Error, Result};
use crate::session::{Lifecycle, SessionRecord};
use crate::target::Target;
use crate::workspace;

impl SessionManager {
    /// Brings a session back: its work tree (if it was removed), what the agent needs (its
    /// server), and its runtime, all on the same agent conversation. A runtime still running is
    /// replaced, since it may be tied to a server that is gone. Refuses a session over its budget.
    pub async fn restore(&self, target: &Target) -> Result<SessionRecord> {
        self.restore_with(target, false).await
    }

    /// [`restore`](Self::restore); with `over_budget`, also a session over its budget.
    pub async fn restore_with(&self, target: &Target, over_budget: bool) -> Result<SessionRecord> {
        let mut rec = self.resolve_one(target).await?;
        if rec.lifecycle == Lifecycle::Spawning {
            return Err(Error::Conflict(format!(
                "session {} was never fully spawned, so there is nothing to restore; `ao kill {}` \
                 removes it",
                rec.address, rec.address
            )));
        }
        if rec.agent_session_id.is_none() {
            return Err(Error::Conflict(format!(
                "session {} has no agent conversation to restore",
                rec.address
            )));
        }
        self.check_budget(&rec, "restore", over_budget).await?;
        let bound = self.bind_session(&rec)?;
        match (&bound.project.location, rec.branch.clone()) {
            (crate::remote::Location::Local, Some(branch)) => {
                let (repo, path) = (bound.project.path.clone(), rec.workspace.clone());
                unblock(move || workspace::reopen_worktree(&repo, &path, &branch)).await?;
            }
            (crate::remote::Location::Ssh(dest), Some(_)) => {
                self.check_remote_worktree(dest, &rec).await?
            }
            // A server someone else runs keeps its work trees; ao cannot look.
            _ => {}
        }
        let (home, project, name) = (
            self.home.clone(),
            rec.address.project.clone(),
            rec.address.name.clone(),
        );
        unblock(move || home.session_dir(&project, &name)).await?;
        let prepared = bound
            .agent
            .restore(
                &bound.cx(),
                SessionContext {
                    record: &rec,
                    home: &self.home,
                },
            )
            .await?;
        if let Some(old) = rec.runtime_handle.take() {
            // Gone already when its tmux server died; that is fine.
            let _ = self.destroy_runtime(rec.runtime, old).await;
        }
        self.start_runtime(&mut rec, prepared.launch, prepared.role)
            .await?;
        rec.lifecycle = Lifecycle::Live;
        self.save(&rec).await?;
        // Not a reason to fail the restore: the next `ao` tries again, `ao doctor` says so.
        let _ = self.ensure_monitor(&rec.address.project).await;
        Ok(rec)
    }
}
