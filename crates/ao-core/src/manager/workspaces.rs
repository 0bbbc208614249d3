//! A session's workspace wherever its project lives: made by local git, by git on the project's
//! ssh host (the same rules, through [`GitHost::Ssh`]), or by the agent's own server for a project
//! whose server someone else runs.

use std::path::PathBuf;

use super::session_manager::{Bound, SessionManager};
use crate::blocking::unblock;
use crate::config::ProjectConfig;
use crate::error::Result;
use crate::remote::ssh::SshHost;
use crate::remote::{Location, SshDestination};
use crate::session::{SessionRecord, WorkspaceKind};
use crate::trust::Gated;
use crate::workspace::{self, GitHost, KeepReason, Worktree, WorktreeFate};

impl SessionManager {
    /// The machine a session's project lives on, when it is not this one.
    pub(super) fn remote_host_of(&self, rec: &SessionRecord) -> Result<Option<String>> {
        Ok(self
            .config
            .project(&rec.address.project)?
            .location
            .host_label())
    }

    /// The connection to a project's host.
    pub(super) fn ssh_host(&self, dest: &Gated<SshDestination>) -> Result<SshHost> {
        Ok(SshHost::new(&self.home, dest)?)
    }

    /// Makes a new session's workspace and records it in `rec`: a work tree on its branch, or,
    /// for `workspace: none`, the project's directory (on a host, as found there).
    pub(super) async fn make_workspace(
        &self,
        bound: &Bound<'_>,
        rec: &mut SessionRecord,
    ) -> Result<()> {
        let project = bound.project;
        let worktree = project.workspace == WorkspaceKind::Worktree;
        let name = rec.address.name.clone();
        let base = project.default_branch.clone();
        match &project.location {
            Location::Local | Location::Url(_) if !worktree => {}
            Location::Local => {
                let dir = self.home.worktrees_dir(&project.name).join(&name);
                let repo = project.path.clone();
                let (wt, start) = unblock(move || {
                    let wt = workspace::create_worktree(&repo, &dir, &name, base.as_deref())?;
                    let start = workspace::head_commit(&wt.path)?;
                    Ok::<_, workspace::WorkspaceError>((wt, start))
                })
                .await?;
                record(rec, wt, Some(start));
            }

            Location::Ssh(dest) => {
                let host = self.ssh_host(dest)?;
                let lock_dir = self.home.worktrees_dir(&project.name);
                let (path, project_name) = (project.path.clone(), project.name.clone());
                let made = unblock(move || {
                    host.connect()?;
                    let (dir, trees) = workspace::locate_on_host(&host, &path, worktree)?;
                    if !worktree {
                        return Ok::<_, crate::Error>((dir, None));
                    }
                    let git = GitHost::Ssh {
                        host: &host,
                        lock_dir: &lock_dir,
                    };
                    let at = trees.join(&project_name).join(&name);
                    let wt = workspace::create_worktree_on(git, &dir, &at, &name, base.as_deref())?;
                    let start = workspace::head_commit_on(git, &wt.path)?;
                    Ok((dir, Some((wt, start))))
                })
                .await?;
                match made {
                    (dir, None) => rec.workspace = dir,
                    (_, Some((wt, start))) => record(rec, wt, Some(start)),
                }
            }
            Location::Url(_) => {
                let wt = bound.agent.create_workspace(&bound.cx(), &name).await?;
                record(rec, wt, None);
            }
        }
        Ok(())
    }

    /// Removes a session's work tree where its project lives, when that loses nothing or when
    /// `force` says so. A work tree on a server ao does not run is kept unless forced: ao cannot
    /// look into it, and the server removes it with its branch.
    pub(super) async fn remove_workspace(
        &self,
        bound: Option<&Bound<'_>>,
        project: &ProjectConfig,
        wt: Worktree,
        force: bool,
    ) -> Result<WorktreeFate> {
        let repo: PathBuf = project.path.clone();
        match &project.location {
            Location::Local => {
                Ok(unblock(move || workspace::remove_worktree(&repo, &wt, force)).await?)
            }
            Location::Ssh(dest) => {
                let host = self.ssh_host(dest)?;
                let lock_dir = self.home.worktrees_dir(&project.name);
                unblock(move || {
                    host.connect()?;
                    let git = GitHost::Ssh {
                        host: &host,
                        lock_dir: &lock_dir,
                    };
                    Ok(workspace::remove_worktree_on(git, &repo, &wt, force)?)
                })
                .await
            }
            Location::Url(_) => match (bound, force) {
                (Some(bound), true) => {
                    bound.agent.remove_workspace(&bound.cx(), &wt).await?;
                    Ok(WorktreeFate::Removed)
                }
                _ => Ok(WorktreeFate::Kept(KeepReason::OnServer)),
            },
        }
    }
}

impl SessionManager {
    /// Refuses to restore a session whose work tree on its host is gone: ao does not make it
    /// again there (yet).
    pub(super) async fn check_remote_worktree(
        &self,
        dest: &Gated<SshDestination>,
        rec: &SessionRecord,
    ) -> Result<()> {
        let host = self.ssh_host(dest)?;
        let dir = rec.workspace.clone();
        let there = unblock(move || {
            host.connect()?;
            Ok::<_, crate::remote::ssh::SshError>(
                host.run(r#"test -e "$1/.git""#, &[&dir.to_string_lossy()], b"")?
                    .status
                    .success(),
            )
        })
        .await?;
        if there {
            return Ok(());
        }
        Err(crate::Error::Conflict(format!(
            "the work tree of {} ({} on {}) is gone, and ao brings back work trees on this machine \
             only; its commits are on branch {}",
            rec.address,
            rec.workspace.display(),
            dest.shown(),
            rec.branch.as_deref().unwrap_or("?")
        )))
    }
}

fn record(rec: &mut SessionRecord, wt: Worktree, base: Option<String>) {
    rec.workspace = wt.path;
    rec.branch = Some(wt.branch);
    rec.base = base;
}
