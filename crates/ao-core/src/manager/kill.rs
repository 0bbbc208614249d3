//! `ao kill`: stops sessions, and removes a session's work tree only when that loses nothing, or
//! when the person says `--force`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{recorded_worktree, SessionManager};
use crate::error::{Error, Result};
use crate::session::Lifecycle;
use crate::workspace::{self, WorktreeFate};

/// How `ao kill` goes about it.
#[derive(Debug, Clone, Copy, Default)]
pub struct KillOptions {
    /// Also delete the agent's conversation and forget the session.
    pub purge: bool,
    /// Remove the work tree even if it holds uncommitted changes (commits are never lost: a
    /// branch with commits of its own is kept).
    pub force: bool,
}

/// What `ao kill` did to one session.
#[derive(Debug, Clone)]
pub struct Killed {
    /// The session's address.
    pub id: String,
    /// What became of its work tree, for a session that has one.
    pub workspace: Option<KilledWorkspace>,
    /// Whether the session was forgotten (`--purge`).
    pub purged: bool,
}

/// A killed session's work tree.
#[derive(Debug, Clone)]
pub struct KilledWorkspace {
    /// The work tree's directory.
    pub path: PathBuf,
    /// Its branch.
    pub branch: String,
    /// The project's repository.
    pub repo: PathBuf,
    /// Removed, kept (and why), or removed by force.
    pub fate: WorktreeFate,
}

impl SessionManager {
    /// Stops the sessions a target names. Keeps a work tree that holds work unless forced.
    pub async fn kill(&self, target: &str, opts: KillOptions) -> Result<Vec<Killed>> {
        let records = self.resolve(Some(target))?;
        if records.is_empty() {
            return Err(Error::Usage(format!("project {target} has no sessions")));
        }
        if let Some(r) = records.iter().find(|r| {
            r.lifecycle == Lifecycle::Spawning && super::spawning::in_progress(&self.home, r)
        }) {
            return Err(Error::Usage(format!(
                "ao spawn is still setting up {}; kill it once that spawn has finished",
                r.address
            )));
        }
        let mut out = Vec::new();
        for mut rec in records {
            // A spawn that died half-way: its conversation never properly began, so it goes too,
            // and what the spawn made but did not live to record is looked for by name.
            let abandoned = rec.lifecycle == Lifecycle::Spawning;
            let purge = opts.purge || abandoned;
            let project = self.config.project(&rec.address.project).ok();
            if let (Some(project), Ok(agent)) = (project, self.agent(&rec.agent)) {
                if rec.agent_session_id.is_some() {
                    // The server may be gone; killing must still work.
                    let _ = agent.kill(project, &rec, purge).await;
                }
            }
            let handle = match &rec.runtime_handle {
                Some(h) => Some(h.clone()),
                None if abandoned => self.unrecorded_runtime(&rec),
                None => None,
            };
            if let Some(h) = &handle {
                self.runtime(rec.runtime).destroy(h)?;
            }
            let mut killed_ws = None;
            if let Some(project) = project {
                let wt = match recorded_worktree(&rec) {
                    Some(wt) => Some(wt),
                    None if abandoned => self.unrecorded_worktree(project, &rec),
                    None => None,
                };
                if let Some(wt) = wt {
                    let fate = workspace::remove_worktree(&project.path, &wt, opts.force)?;
                    killed_ws = Some(KilledWorkspace {
                        path: wt.path,
                        branch: wt.branch,
                        repo: project.path.clone(),
                        fate,
                    });
                }
            }
            if purge {
                self.store.delete(&rec.address)?;
            } else {
                rec.lifecycle = Lifecycle::Killed;
                self.store.update(&rec)?;
            }
            out.push(Killed {
                id: rec.address.to_string(),
                workspace: killed_ws,
                purged: purge,
            });
        }
        // Nothing of a project left running: release what the agent keeps for it (its server).
        let all = self.store.list()?;
        let projects: BTreeSet<String> = out
            .iter()
            .filter_map(|k| k.id.split_once('/').map(|(p, _)| p.to_string()))
            .collect();
        for name in projects {
            let live = all
                .iter()
                .any(|r| r.address.project == name && r.lifecycle != Lifecycle::Killed);
            if let (false, Ok(project)) = (live, self.config.project(&name)) {
                if let Ok(agent) = self.agent(&project.agent) {
                    agent.release(project).await;
                }
            }
        }
        Ok(out)
    }
}
