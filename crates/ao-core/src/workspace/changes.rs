//! What a session changed in its work tree against its base, committed or not: the files for
//! `ao show`, their count for `ao status`, and the command behind `ao diff`.
//!
//! Uncommitted work counts too, new files included, so git is asked about a *snapshot* of the
//! work tree: everything in it that git does not ignore, written as a tree through a copy of the
//! work tree's index (`GIT_INDEX_FILE`). The session's own index and files are never touched, so
//! this is safe while the agent works; the only trace is blob objects in the repository, which
//! git's garbage collection takes back.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::{git, git_with, WorkspaceError};

/// One file a session changed against its base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// Its path in the work tree.
    pub path: String,
    /// Lines added; `None` for a binary file.
    pub added: Option<u64>,
    /// Lines removed; `None` for a binary file.
    pub removed: Option<u64>,
    /// Whether all of its change is committed on the session's branch.
    pub committed: bool,
}

/// A git command to run in a work tree, for the CLI to run with the terminal (so that git pages
/// and colours as it does for the person).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitCommand {
    /// The work tree.
    pub dir: PathBuf,
    /// git's arguments.
    pub args: Vec<String>,
}

impl GitCommand {
    /// The command, ready to run.
    pub fn to_command(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.dir).args(&self.args);
        cmd
    }
}

/// git in `dir` with its index replaced by `index`.
fn git_with_index(dir: &Path, index: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
    let mut cmd = Command::new("git");
    cmd.env("GIT_INDEX_FILE", index);
    git_with(cmd, dir, args)
}

/// The tree of everything in the work tree at `dir` that git does not ignore, as it is now.
pub(super) fn snapshot_tree(dir: &Path) -> Result<String, WorkspaceError> {
    let fail = |message: String| WorkspaceError {
        action: "snapshot".into(),
        message,
    };
    let index = git(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-path", "index"],
    )?;
    let temp = tempfile::NamedTempFile::new()
        .map_err(|e| fail(format!("cannot create a temporary index: {e}")))?;
    // Starting from the real index lets git skip hashing the files it knows unchanged.
    match std::fs::copy(index.trim(), temp.path()) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(format!("cannot copy {}: {e}", index.trim()))),
    }
    git_with_index(dir, temp.path(), &["add", "--all", "--", "."])?;
    Ok(git_with_index(dir, temp.path(), &["write-tree"])?
        .trim()
        .to_string())
}

/// The commit a session's changes are counted from: the one recorded when its work tree was made,
/// else (work trees made before ao recorded it) where its branch left `start` (the project's
/// `defaultBranch`, or the project's HEAD).
pub fn resolve_base(
    repo: &Path,
    dir: &Path,
    recorded: Option<&str>,
    start: Option<&str>,
) -> Result<String, WorkspaceError> {
    if let Some(base) = recorded {
        return Ok(base.to_string());
    }
    let start = git(repo, &["rev-parse", start.unwrap_or("HEAD")])?;
    Ok(git(dir, &["merge-base", "HEAD", start.trim()])?
        .trim()
        .to_string())
}

/// Paths listed by a `-z` git output.
fn paths(text: &str) -> impl Iterator<Item = &str> {
    text.split('\0').filter(|p| !p.is_empty())
}

/// Every file the work tree at `dir` changed against `base`, committed or not, by path.
pub fn changed_files(dir: &Path, base: &str) -> Result<Vec<FileChange>, WorkspaceError> {
    let tree = snapshot_tree(dir)?;
    let numstat = git(
        dir,
        &["diff", "--numstat", "-z", "--no-renames", base, &tree],
    )?;
    let uncommitted = git(
        dir,
        &["diff", "--name-only", "-z", "--no-renames", "HEAD", &tree],
    )?;
    let uncommitted: std::collections::BTreeSet<&str> = paths(&uncommitted).collect();
    // Each record is `added<TAB>removed<TAB>path`, `-` for both counts when binary.
    Ok(paths(&numstat)
        .filter_map(|record| {
            let mut fields = record.splitn(3, '\t');
            let (added, removed, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some(FileChange {
                path: path.to_string(),
                added: added.parse().ok(),
                removed: removed.parse().ok(),
                committed: !uncommitted.contains(path),
            })
        })
        .collect())
}

/// How many files the work tree at `dir` changed against `base`, committed or not.
pub fn count_changed(dir: &Path, base: &str) -> Result<usize, WorkspaceError> {
    let tree = snapshot_tree(dir)?;
    let names = git(
        dir,
        &["diff", "--name-only", "-z", "--no-renames", base, &tree],
    )?;
    Ok(paths(&names).count())
}

/// `git diff` of the work tree at `dir` against `base`, committed and uncommitted changes and new
/// files, with the person's own arguments after (options such as `--stat`, or `-- PATH`).
pub fn diff_command(
    dir: &Path,
    base: &str,
    extra: &[String],
) -> Result<GitCommand, WorkspaceError> {
    let tree = snapshot_tree(dir)?;
    let mut args = vec!["diff".to_string(), base.to_string(), tree];
    args.extend(extra.iter().cloned());
    Ok(GitCommand {
        dir: dir.to_path_buf(),
        args,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{commit, repo};
    use super::super::{create_worktree, fork_worktree, head_commit};
    use super::*;

    #[test]
    fn changes_count_committed_uncommitted_and_new_files_and_leave_the_index_alone() {
        let tmp = repo();
        let r = tmp.path().join("repo");
        std::fs::write(r.join("kept.txt"), "a\nb\n").unwrap();
        git(&r, &["add", "kept.txt"]).unwrap();
        commit(&r, &["-m", "kept"]);
        let wt = create_worktree(&r, &tmp.path().join("wt/a"), "a", None).unwrap();
        let base = head_commit(&wt.path).unwrap();
        std::fs::write(wt.path.join("done.txt"), "1\n2\n").unwrap();
        git(&wt.path, &["add", "done.txt"]).unwrap();
        commit(&wt.path, &["-m", "done"]);
        std::fs::write(wt.path.join("kept.txt"), "a\nc\nd\n").unwrap();
        std::fs::write(wt.path.join("new.txt"), "x\n").unwrap();
        let before = git(&wt.path, &["status", "--porcelain"]).unwrap();

        let files = changed_files(&wt.path, &base).unwrap();
        let line = |p: &str| files.iter().find(|f| f.path == p).cloned().unwrap();
        assert_eq!(files.len(), 3, "{files:?}");
        assert_eq!(
            (line("done.txt").added, line("done.txt").committed),
            (Some(2), true)
        );
        assert_eq!(
            (line("kept.txt").added, line("kept.txt").removed),
            (Some(2), Some(1))
        );
        assert!(!line("kept.txt").committed && !line("new.txt").committed);
        assert_eq!(count_changed(&wt.path, &base).unwrap(), 3);
        assert_eq!(git(&wt.path, &["status", "--porcelain"]).unwrap(), before);
    }

    #[test]
    fn a_fork_carries_the_uncommitted_changes_and_leaves_the_source_as_it_was() {
        let tmp = repo();
        let r = tmp.path().join("repo");
        let src = create_worktree(&r, &tmp.path().join("wt/s"), "s", None).unwrap();
        std::fs::write(src.path.join("committed.txt"), "c\n").unwrap();
        git(&src.path, &["add", "committed.txt"]).unwrap();
        commit(&src.path, &["-m", "c"]);
        std::fs::write(src.path.join("staged.txt"), "s\n").unwrap();
        git(&src.path, &["add", "staged.txt"]).unwrap();
        std::fs::write(src.path.join("loose.txt"), "l\n").unwrap();
        let before = git(&src.path, &["status", "--porcelain"]).unwrap();

        let fork =
            fork_worktree(&r, &src.path, &src.branch, &tmp.path().join("wt/f"), "f").unwrap();
        assert_eq!(fork.branch, "ao/f");
        for f in ["committed.txt", "staged.txt", "loose.txt"] {
            assert!(fork.path.join(f).exists(), "{f} is missing in the fork");
        }
        assert_eq!(
            head_commit(&fork.path).unwrap(),
            head_commit(&src.path).unwrap()
        );
        assert_eq!(git(&src.path, &["status", "--porcelain"]).unwrap(), before);
    }
}
