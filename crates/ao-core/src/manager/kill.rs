//! `ao kill`: stops sessions, and removes a session's work tree only when that loses nothing, or
//! when the person says `--force`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::session_manager::{recorded_worktree, SessionManager};
use crate::agent::SessionContext;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::session::{Lifecycle, SessionRecord};
use crate::target::Target;
use crate::workspace::WorktreeFate;

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
    /// Whether the agent's conversation was deleted and the session forgotten (`--purge`).
    pub purged: bool,
    /// What could not be done, each saying what to do; empty when everything asked was done.
    pub problems: Vec<String>,
}

/// What `ao kill` did: each session, and what could not be released afterwards.
#[derive(Debug, Clone, Default)]
pub struct KillReport {
    /// One entry per session, in order.
    pub sessions: Vec<Killed>,
    /// Projects whose agent could not release what it keeps running (a server), and why.
    pub release_problems: Vec<String>,
}

impl KillReport {
    /// Whether everything asked was done.
    pub fn complete(&self) -> bool {
        self.release_problems.is_empty() && self.sessions.iter().all(|k| k.problems.is_empty())
    }
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
    /// Stops the sessions a target names. Keeps a work tree that holds work unless forced. A
    /// failure with one session is reported with it and the others are still stopped; then what
    /// the agent keeps for a project with nothing left running (its server) is released.
    pub async fn kill(&self, target: &Target, opts: KillOptions) -> Result<KillReport> {
        let records = self.resolve(target).await?;
        if records.is_empty() {
            return Err(target.not_one(0));
        }
        if let Some(r) = records.iter().find(|r| {
            r.lifecycle == Lifecycle::Spawning && super::abandoned::in_progress(&self.home, r)
        }) {
            return Err(Error::Conflict(format!(
                "ao spawn is still setting up {}; kill it once that spawn has finished",
                r.address
            )));
        }
        let mut report = KillReport::default();
        for rec in records {
            report.sessions.push(self.kill_one(rec, opts).await);
        }
        report.release_problems = self.release_idle_projects(&report.sessions).await?;
        Ok(report)
    }

    /// Stops one session, trying every step and noting each that failed.
    async fn kill_one(&self, mut rec: SessionRecord, opts: KillOptions) -> Killed {
        let mut problems = Vec::new();
        // A spawn that died half-way: its conversation never properly began, so it goes too,
        // and what the spawn made but did not live to record is looked for by name.
        let abandoned = rec.lifecycle == Lifecycle::Spawning;
        let mut purge = opts.purge || abandoned;
        let project = self.config.project(&rec.address.project).ok();
        if project.is_none() {
            problems.push(format!(
                "project {} is no longer in {}, so neither its agent nor its work tree could be \
                 seen to; put the project back to kill it fully",
                rec.address.project,
                self.config.file.display()
            ));
        }

        if let (Some(id), Some(project)) = (rec.agent_session_id.clone(), project) {
            match self.bind(&rec.agent, project) {
                Ok(bound) => {
                    let session = SessionContext {
                        record: &rec,
                        home: &self.home,
                    };
                    let stopped = bound.agent.kill(&bound.cx(), session, purge).await;
                    match stopped {
                        Ok(()) => {}
                        // Kept (as killed), so that a purge can be tried again.
                        Err(e) if purge => {
                            purge = false;
                            problems.push(format!(
                                "its {} conversation {id} was not deleted ({e}); the session is \
                                 kept as killed, so `ao kill --purge {}` can try again",
                                rec.agent, rec.address
                            ));
                        }
                        Err(e) => {
                            problems.push(format!("its running turn could not be aborted: {e}"))
                        }
                    }
                }
                Err(e) => problems.push(format!("its agent could not be asked to stop: {e}")),
            }
        }
        let handle = match &rec.runtime_handle {
            Some(h) => Some(h.clone()),
            None if abandoned => self.unrecorded_runtime(&rec),
            None => None,
        };
        if let Some(h) = handle {
            if let Err(e) = self.destroy_runtime(rec.runtime, h).await {
                problems.push(format!(
                    "its {} program could not be stopped: {e}",
                    rec.runtime
                ));
            }
        }
        let mut workspace = None;
        if let Some(project) = project {
            let wt = match recorded_worktree(&rec) {
                Some(wt) => Some(wt),
                None if abandoned => self.unrecorded_worktree(project, &rec),
                None => None,
            };
            if let Some(wt) = wt {
                let bound = self.bind(&rec.agent, project).ok();
                match self
                    .remove_workspace(bound.as_ref(), project, wt.clone(), opts.force)
                    .await
                {
                    Ok(fate) => {
                        workspace = Some(KilledWorkspace {
                            path: wt.path,
                            branch: wt.branch,
                            repo: project.path.clone(),
                            fate,
                        })
                    }
                    Err(e) => problems.push(format!(
                        "its work tree {} was left as it is: {e}",
                        wt.path.display()
                    )),
                }
            }
        }
        let saved = if purge {
            let address = rec.address.clone();
            self.db(move |store| store.delete(&address)).await
        } else {
            rec.lifecycle = Lifecycle::Killed;
            self.save(&rec).await
        };
        if let Err(e) = saved {
            purge = false;
            problems.push(format!("the store could not record it: {e}"));
        }
        Killed {
            id: rec.address.to_string(),
            workspace,
            purged: purge,
            problems,
        }
    }

    /// Releases what each agent keeps for the projects of `killed` that have nothing left
    /// running; returns what could not be released.
    async fn release_idle_projects(&self, killed: &[Killed]) -> Result<Vec<String>> {
        // Taken before the look: a spawn or restore the look misses began after it, and the
        // agent keeps what such a one started or reused since (`Agent::release`). The system
        // clock, not the manager's: a plugin stamps its own claims with it.
        let idle_at = SystemClock.now_ms();
        let all = self.db(|store| store.list()).await?;
        crate::fault::pause_point("before-releasing-projects").await;
        let projects: BTreeSet<&str> = killed
            .iter()
            .filter_map(|k| k.id.split_once('/').map(|(p, _)| p))
            .collect();
        let mut problems = Vec::new();
        for name in projects {
            let Ok(project) = self.config.project(name) else {
                continue;
            };
            let agents: BTreeSet<&str> = all
                .iter()
                .filter(|r| r.address.project == name)
                .map(|r| r.agent.as_str())
                .chain(self.agent_of(project).ok().map(|a| a.name()))
                .collect();
            let live = all
                .iter()
                .any(|r| r.address.project == name && r.lifecycle != Lifecycle::Killed);
            if live {
                continue;
            }
            // Every session of the project purged: what the agent keeps for them (a container's
            // data volume, their conversations) goes too.
            let forgotten = !all.iter().any(|r| r.address.project == name);
            if let Err(e) = self.stop_monitor(name).await {
                problems.push(format!("project {name}: its monitor was not stopped: {e}"));
            }
            for agent in agents {
                let Ok(bound) = self.bind(agent, project) else {
                    continue;
                };
                if let Err(e) = bound.agent.release(&bound.cx(), idle_at).await {
                    problems.push(format!(
                        "project {name}: what {agent} keeps running for it was not released: {e}"
                    ));
                    continue;
                }
                if forgotten {
                    if let Err(e) = bound.agent.forget(&bound.cx(), idle_at).await {
                        problems.push(format!(
                            "project {name}: what {agent} kept for its purged sessions was not \
                             removed: {e}; remove it by hand (docs/containers.md names it)"
                        ));
                    }
                }
            }
        }
        Ok(problems)
    }
}
