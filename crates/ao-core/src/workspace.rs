//! Workspaces: where a session works on the project's files.
//!
//! `worktree` gives each session a git work tree under the state home, on a branch `ao/<name>`
//! from the project's default branch (or HEAD); `none` uses the project directory itself. A work
//! tree is removed only when that loses nothing: no uncommitted change and no commit that exists on
//! no other branch.
//!
//! Git does not make `git worktree add` safe against another one in the same repository (it reads
//! the other's half-written admin files and fails), so every change to a project's work trees
//! holds an exclusive lock on a file beside them: ten `ao spawn` at once take turns.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A work tree that could not be created or inspected.
#[derive(Debug, thiserror::Error)]
#[error("git {action}: {message}")]
pub struct WorkspaceError {
    /// What ao was doing.
    pub action: String,
    /// What git said.
    pub message: String,
}

fn git(dir: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| WorkspaceError {
            action: args.join(" "),
            message: format!("cannot run git ({e}); is git installed?"),
        })?;
    if !out.status.success() {
        return Err(WorkspaceError {
            action: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Holds the lock on the work trees in `dir` (a project's directory of them) until dropped.
fn lock_worktrees(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, WorkspaceError> {
    let fail = |message: String| WorkspaceError {
        action: "worktree".into(),
        message,
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    // Session names start with a letter or digit, so no work tree is ever called this.
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| fail(format!("cannot lock {}: {e}", path.display())))
}

/// The directory holding a work tree (and its siblings' lock).
fn parent(dir: &Path) -> &Path {
    dir.parent().unwrap_or(dir)
}

/// A git work tree made for a session.
#[derive(Debug, Clone)]
pub struct Worktree {
    /// Its directory.
    pub path: PathBuf,
    /// Its branch, `ao/<name>`.
    pub branch: String,
}

/// The branch of session `name`'s work tree.
pub fn branch_for(name: &str) -> String {
    format!("ao/{name}")
}

/// Creates a work tree for session `name` of the repository at `repo`, at `dir`, on a new branch
/// `ao/<name>` from `base` (or HEAD).
pub fn create_worktree(
    repo: &Path,
    dir: &Path,
    name: &str,
    base: Option<&str>,
) -> Result<Worktree, WorkspaceError> {
    let branch = branch_for(name);
    let _lock = lock_worktrees(parent(dir))?;
    let dir_s = dir.to_string_lossy();
    let mut args = vec!["worktree", "add", "-b", &branch, &dir_s];
    if let Some(base) = base {
        args.push(base);
    }
    git(repo, &args)?;
    Ok(Worktree {
        path: dir.to_path_buf(),
        branch,
    })
}

/// Why a work tree was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// Files changed and not committed.
    Uncommitted(usize),
    /// Commits on the branch that no other branch has.
    UnmergedCommits(usize),
}

/// Removes a session's work tree and branch unless that would lose work; says why it kept it.
pub fn remove_worktree_if_clean(
    repo: &Path,
    wt: &Worktree,
) -> Result<Option<KeepReason>, WorkspaceError> {
    let _lock = lock_worktrees(parent(&wt.path))?;
    if !wt.path.exists() {
        let _ = git(repo, &["worktree", "prune"]);
        return Ok(None);
    }
    let changes = git(
        &wt.path,
        &["status", "--porcelain", "--untracked-files=all"],
    )?;
    let changed = changes.lines().filter(|l| !l.trim().is_empty()).count();
    if changed > 0 {
        return Ok(Some(KeepReason::Uncommitted(changed)));
    }
    let full = format!("refs/heads/{}", wt.branch);
    // --exclude matches branch names without refs/heads/ when followed by --branches.
    let exclude = format!("--exclude={}", wt.branch);
    let unique = git(repo, &["rev-list", &full, "--not", &exclude, "--branches"])?;
    let commits = unique.lines().filter(|l| !l.trim().is_empty()).count();
    if commits > 0 {
        return Ok(Some(KeepReason::UnmergedCommits(commits)));
    }
    git(repo, &["worktree", "remove", &wt.path.to_string_lossy()])?;
    git(repo, &["branch", "-D", &wt.branch])?;
    Ok(None)
}

/// Makes sure a session's work tree exists at `dir` on `branch` again (after `ao kill` removed a
/// clean one): reuses the branch if it is still there, else creates it from HEAD.
pub fn reopen_worktree(repo: &Path, dir: &Path, branch: &str) -> Result<(), WorkspaceError> {
    if dir.join(".git").exists() {
        return Ok(());
    }
    let _lock = lock_worktrees(parent(dir))?;
    let _ = git(repo, &["worktree", "prune"]);
    let dir_s = dir.to_string_lossy();
    let exists = git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    )
    .is_ok();
    if exists {
        git(repo, &["worktree", "add", &dir_s, branch])?;
    } else {
        git(repo, &["worktree", "add", "-b", branch, &dir_s])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path().join("repo");
        std::fs::create_dir(&r).unwrap();
        for args in [
            vec!["init", "-q", "-b", "main"],
            vec![
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "init",
            ],
        ] {
            git(&r, &args).unwrap();
        }
        tmp
    }

    #[test]
    fn clean_work_tree_is_removed_dirty_one_kept() {
        let tmp = repo();
        let r = tmp.path().join("repo");
        let clean = create_worktree(&r, &tmp.path().join("wt/a"), "a", None).unwrap();
        assert_eq!(remove_worktree_if_clean(&r, &clean).unwrap(), None);
        assert!(!clean.path.exists());

        let dirty = create_worktree(&r, &tmp.path().join("wt/b"), "b", None).unwrap();
        std::fs::write(dirty.path.join("f.txt"), "x").unwrap();
        assert_eq!(
            remove_worktree_if_clean(&r, &dirty).unwrap(),
            Some(KeepReason::Uncommitted(1))
        );
        git(&dirty.path, &["add", "f.txt"]).unwrap();
        git(
            &dirty.path,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "-m",
                "f",
            ],
        )
        .unwrap();
        assert_eq!(
            remove_worktree_if_clean(&r, &dirty).unwrap(),
            Some(KeepReason::UnmergedCommits(1))
        );
        assert!(dirty.path.join("f.txt").exists());
    }
}
