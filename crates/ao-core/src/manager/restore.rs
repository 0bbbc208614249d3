//! `ao restore`: a killed or exited session back on the same agent conversation.

use super::SessionManager;
use crate::agent::SpawnRequest;
use crate::error::{Error, Result};
use crate::session::{Lifecycle, SessionRecord};
use crate::workspace;

impl SessionManager {
    /// Brings a session back: its work tree (if it was removed), what the agent needs (its
    /// server), and its runtime, all on the same agent conversation. A runtime still running is
    /// replaced, since it may be tied to a server that is gone.
    pub async fn restore(&self, target: &str) -> Result<SessionRecord> {
        let mut rec = self.resolve_one(target)?;
        if rec.lifecycle == Lifecycle::Spawning {
            return Err(Error::Usage(format!(
                "session {} was never fully spawned, so there is nothing to restore; `ao kill {}` \
                 removes it",
                rec.address, rec.address
            )));
        }
        if rec.agent_session_id.is_none() {
            return Err(Error::Usage(format!(
                "session {} has no agent conversation to restore",
                rec.address
            )));
        }
        let project = self.config.project(&rec.address.project)?.clone();
        let agent = self.agent(&rec.agent)?.clone();
        if let Some(branch) = &rec.branch {
            workspace::reopen_worktree(&project.path, &rec.workspace, branch)?;
        }
        let session_dir = self
            .home
            .session_dir(&rec.address.project, &rec.address.name)?;
        let prepared = agent
            .restore(SpawnRequest {
                project: &project,
                session: &rec,
                session_dir: &session_dir,
            })
            .await?;
        if let Some(old) = rec.runtime_handle.take() {
            // Gone already when its tmux server died; that is fine.
            let _ = self.runtime(rec.runtime).destroy(&old);
        }
        self.start_runtime(&mut rec, &prepared.launch, &session_dir)?;
        rec.lifecycle = Lifecycle::Live;
        self.store.update(&rec)?;
        Ok(rec)
    }
}
