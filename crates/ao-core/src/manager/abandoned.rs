//! Abandoned spawns: a spawn in progress told apart from one that died half-way, and what `ao kill`
//! does with the latter.
//!
//! `ao spawn` records a session as `spawning` before it sets anything up, and holds an exclusive
//! lock on `sessions/<project>/<name>/spawn.lock` from before that record is visible (the lock is
//! taken inside the reservation's transaction) until the session is live. The kernel drops the lock
//! when the process ends, however it ends (SIGKILL included), so a `spawning` session whose lock is
//! free was abandoned: `ao status` says what its spawn left, and `ao kill` removes that and the
//! session, finding even what the spawn made but did not live to record (a tmux session, a work
//! tree), since their names follow from the session's.

use std::fs::File;
use std::path::PathBuf;

use nix::fcntl::{Flock, FlockArg};

use super::session_manager::SessionManager;
use crate::agent::Observation;
use crate::config::ProjectConfig;
use crate::error::{Error, Result};
use crate::home::StateHome;
use crate::runtime::RuntimeHandle;
use crate::session::{Activity, Lifecycle, RuntimeKind, SessionError, SessionRecord, Why};
use crate::workspace::{self, Worktree};

/// The lock a running `ao spawn` holds on its new session, released when dropped or when the
/// process ends.
pub(super) struct SpawnLock {
    _lock: Flock<File>,
}

fn lock_path(home: &StateHome, project: &str, name: &str) -> PathBuf {
    home.session_path(project, name).join("spawn.lock")
}

impl SpawnLock {
    /// Creates the session's directory and takes its spawn lock.
    pub(super) fn take(home: &StateHome, project: &str, name: &str) -> Result<SpawnLock> {
        home.session_dir(project, name)?;
        let path = lock_path(home, project, name);
        // Blocking: a status may hold a shared lock on a stale file of the same name for a moment.
        let lock = crate::home::lock_file(&path).map_err(|e| Error::io("cannot lock", &path, e))?;
        Ok(SpawnLock { _lock: lock })
    }
}

/// Whether an `ao spawn` is still setting this session up.
pub(super) fn in_progress(home: &StateHome, rec: &SessionRecord) -> bool {
    let path = lock_path(home, &rec.address.project, &rec.address.name);
    let Ok(file) = File::open(&path) else {
        return false;
    };
    matches!(
        Flock::lock(file, FlockArg::LockSharedNonblock),
        Err((_, nix::errno::Errno::EWOULDBLOCK))
    )
}

impl SessionManager {
    /// What `ao status` says about a session still recorded as `spawning`: working while its spawn
    /// runs; exited, with what its spawn left, once that spawn is dead.
    pub(super) async fn spawning_observation(
        &self,
        rec: &SessionRecord,
        alive: bool,
    ) -> Result<Observation> {
        if in_progress(&self.home, rec) {
            return Ok(Observation::bare(Activity::Active, None));
        }
        // The lock is free: the spawn died, or it finished since the record was read.
        let address = rec.address.clone();
        let now = self.db(move |store| store.get(&address)).await?;
        match now.map(|r| r.lifecycle) {
            Some(Lifecycle::Live) => return Ok(Observation::bare(Activity::Active, None)),
            Some(Lifecycle::Killed) | None => return Ok(Observation::bare(Activity::Exited, None)),
            Some(Lifecycle::Spawning) => {}
        }
        let mut left = Vec::new();
        if rec.branch.is_some() {
            left.push(format!("its work tree {}", rec.workspace.display()));
        }
        if let Some(id) = &rec.agent_session_id {
            left.push(format!("{} session {id}", rec.agent));
        }
        if alive {
            left.push(match rec.runtime {
                RuntimeKind::Tmux => "a running tmux session".to_string(),
                RuntimeKind::Process => "a running process".to_string(),
            });
        }
        let message = if left.is_empty() {
            format!(
                "ao spawn stopped before it set this session up; `ao kill {}` removes it",
                rec.address
            )
        } else {
            format!(
                "ao spawn stopped before it finished setting this session up, leaving {}; \
                 `ao kill {}` removes it and them",
                left.join(", "),
                rec.address
            )
        };
        Ok(Observation::bare(
            Activity::Exited,
            Some(SessionError {
                why: Why::SpawnIncomplete,
                message,
            }),
        ))
    }

    /// The runtime an abandoned spawn may have started without recording it: a tmux session is
    /// found by its name. A detached process cannot be found; it follows the agent session, which
    /// `ao kill` deletes, and ends with it.
    pub(super) fn unrecorded_runtime(&self, rec: &SessionRecord) -> Option<RuntimeHandle> {
        match rec.runtime {
            RuntimeKind::Tmux => Some(self.tmux.handle_for(&rec.address.to_string())),
            RuntimeKind::Process => None,
        }
    }

    /// The work tree an abandoned spawn may have made without recording it, where its name puts
    /// it; only a real work tree, since git run elsewhere would see some other repository.
    pub(super) fn unrecorded_worktree(
        &self,
        project: &ProjectConfig,
        rec: &SessionRecord,
    ) -> Option<Worktree> {
        let dir = self
            .home
            .worktrees_dir(&project.name)
            .join(&rec.address.name);
        dir.join(".git").exists().then(|| Worktree {
            path: dir,
            branch: workspace::branch_for(&rec.address.name),
        })
    }
}
