//! What sessions changed in their work trees, through git: the files of `ao show`, the command of
//! `ao diff`, and the `files_changed` of `ao status`.
//!
//! `ao status` must not run git for every session every time, so each session's count is kept in
//! its directory (`changes.json`) with a fingerprint of what can change it: the agent's last
//! activity, the work tree's index and its HEAD's log (both written by every `git add`, commit and
//! checkout). While the fingerprint holds, the count is read back; otherwise git counts again. A
//! file a person edits by hand without the agent or git noticing shows in `ao show` and `ao diff`
//! at once, and in `ao status` at the next change.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::session_manager::SessionManager;
use crate::blocking::unblock;
use crate::clock::EpochMillis;
use crate::error::{Error, Result};
use crate::session::SessionRecord;
use crate::target::Target;
use crate::workspace::{self, FileChange, GitCommand, TreeError, TreeGit};

/// The file in a session's directory that keeps its count of changed files.
const CACHE_FILE: &str = "changes.json";

/// A remembered count and what it was counted at.
#[derive(Debug, Serialize, Deserialize)]
struct Counted {
    fingerprint: String,
    files_changed: usize,
}

/// Where a session's work tree is and what its changes are counted from, as the session's record
/// says: [`WorkTree::open`] checks it before git runs there.
#[derive(Debug, Clone)]
struct WorkTree {
    repo: PathBuf,
    dir: PathBuf,
    recorded_base: Option<String>,
    start: Option<String>,
}

/// A work tree that ao checked and runs git in.
struct Opened {
    tree: TreeGit,
    repo: PathBuf,
    recorded_base: Option<String>,
    start: Option<String>,
}

impl WorkTree {
    /// The work tree with the git directory ao made for it; an error a person can act on when its
    /// `.git` points elsewhere (git would do what that directory's config says). Blocks.
    fn open(self) -> Result<Opened> {
        let tree = TreeGit::open(&self.repo, &self.dir).map_err(|e| match e {
            // The project's repository is the person's (their config names it).
            TreeError::Repo { .. } => Error::Usage(e.to_string()),
            // The tree is not as ao left it: a refusal because of the session's state.
            _ => Error::Conflict(e.to_string()),
        })?;
        Ok(Opened {
            tree,
            repo: self.repo,
            recorded_base: self.recorded_base,
            start: self.start,
        })
    }
}

impl Opened {
    fn base(&self) -> std::result::Result<String, workspace::WorkspaceError> {
        workspace::resolve_base(
            &self.repo,
            &self.tree,
            self.recorded_base.as_deref(),
            self.start.as_deref(),
        )
    }
}

/// What must stay the same for a remembered count to stay true.
fn fingerprint(wt: &Opened, last_activity: Option<EpochMillis>) -> String {
    let git = wt.tree.git_dir();
    let modified = |p: PathBuf| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
    };
    format!(
        "{:?}|{last_activity:?}|{:?}|{:?}",
        wt.recorded_base,
        modified(git.join("index")),
        modified(git.join("logs/HEAD"))
    )
}

/// A session's count of changed files as the cache knows it.
enum Remembered {
    /// The count (`None`: no work tree to count in).
    Known(Option<usize>),
    /// To count again with git, then remember under this fingerprint.
    Stale(Box<Opened>, String),
}

/// The count remembered in `cache`, if its fingerprint still holds; unknown for a work tree that
/// ao does not run git in.
fn remembered(wt: WorkTree, last_activity: Option<EpochMillis>, cache: &Path) -> Remembered {
    let Ok(wt) = wt.open() else {
        return Remembered::Known(None);
    };
    let fingerprint = fingerprint(&wt, last_activity);
    let stored: Option<Counted> = std::fs::read(cache)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    match stored.filter(|c| c.fingerprint == fingerprint) {
        Some(c) => Remembered::Known(Some(c.files_changed)),
        None => Remembered::Stale(Box::new(wt), fingerprint),
    }
}

/// Counts the changed files with git and remembers the count in `cache`.
fn count_again(wt: &Opened, fingerprint: String, cache: &Path) -> Option<usize> {
    let n = workspace::count_changed(&wt.tree, &wt.base().ok()?).ok()?;
    // A cache that cannot be written costs git next time, nothing more; written whole, then
    // renamed, so a reader never sees half of it.
    if let Ok(text) = serde_json::to_vec(&Counted {
        fingerprint,
        files_changed: n,
    }) {
        let temp = cache.with_extension("json.tmp");
        if std::fs::write(&temp, text).is_ok() {
            let _ = std::fs::rename(&temp, cache);
        }
    }
    Some(n)
}

impl SessionManager {
    /// The work tree of a session that has one of its own, or why it has none.
    fn work_tree(&self, rec: &SessionRecord) -> Result<WorkTree> {
        // git runs where the files are; for a project on another machine ao does not count or
        // show them (yet): `ao status` has no `files_changed` for its sessions.
        if let Some(host) = self.remote_host_of(rec)? {
            return Err(Error::Usage(format!(
                "the files of {} are on {host}; run git there (in {}) to see what it changed",
                rec.address,
                rec.workspace.display()
            )));
        }
        let Some(branch) = &rec.branch else {
            return Err(Error::Usage(format!(
                "session {} works in the project directory itself (workspace: none), so it has \
                 no changes of its own; `git -C {} diff` shows the directory's",
                rec.address,
                rec.workspace.display()
            )));
        };
        // A tree whose `.git` alone is gone is not: `WorkTree::open` says what is wrong with it.
        if !rec.workspace.exists() {
            return Err(Error::Conflict(format!(
                "the work tree of {} ({}) is gone (removed by hand, or by `ao kill`); its \
                 committed work is still on branch {branch}, and `ao restore {}` brings the \
                 work tree back",
                rec.address,
                rec.workspace.display(),
                rec.address
            )));
        }
        let project = self.config.project(&rec.address.project)?;
        Ok(WorkTree {
            repo: project.path.clone(),
            dir: rec.workspace.clone(),
            recorded_base: rec.base.clone(),
            start: project.default_branch.clone(),
        })
    }

    /// Each session's count of changed files for `ao status` (`None` without a work tree),
    /// counted again only where something changed since it was last counted.
    pub(super) async fn files_changed_of(
        &self,
        records: &[SessionRecord],
        last_activity: &[Option<EpochMillis>],
    ) -> Vec<Option<usize>> {
        let work: Vec<_> = records
            .iter()
            .zip(last_activity)
            .map(|(rec, &at)| {
                let cache = self
                    .home
                    .session_path(&rec.address.project, &rec.address.name)
                    .join(CACHE_FILE);
                (self.work_tree(rec).ok(), at, cache)
            })
            .collect();
        // What the caches know, in one trip to the blocking pool (a few stats and one small read
        // per session); then git, concurrently, only where something changed.
        let known: Vec<(Remembered, PathBuf)> = unblock(move || {
            work.into_iter()
                .map(|(wt, at, cache)| match wt {
                    Some(wt) => (remembered(wt, at, &cache), cache),
                    None => (Remembered::Known(None), cache),
                })
                .collect()
        })
        .await;
        let counts = known.into_iter().map(|(known, cache)| async move {
            match known {
                Remembered::Known(n) => n,
                Remembered::Stale(wt, fingerprint) => {
                    unblock(move || count_again(&wt, fingerprint, &cache)).await
                }
            }
        });
        futures_util::future::join_all(counts).await
    }

    /// Every file the session changed against its base, committed or not.
    pub(super) async fn files_of(&self, rec: &SessionRecord) -> Result<Vec<FileChange>> {
        let wt = self.work_tree(rec)?;
        unblock(move || {
            let wt = wt.open()?;
            Ok(workspace::changed_files(&wt.tree, &wt.base()?)?)
        })
        .await
    }

    /// The `git diff` that shows a session's changes against its base, committed and not, with
    /// `extra` arguments for git (`--stat`, `-- PATH`); the CLI runs it on the terminal.
    pub async fn diff(&self, target: &Target, extra: &[String]) -> Result<GitCommand> {
        let rec = self.resolve_one(target).await?;
        let wt = self.work_tree(&rec)?;
        let extra = extra.to_vec();
        unblock(move || {
            let wt = wt.open()?;
            Ok(workspace::diff_command(&wt.tree, &wt.base()?, &extra)?)
        })
        .await
    }
}
