//! What a session changed in its work tree against its base, committed or not: the files for
//! `ao show`, their count for `ao status`, and the command behind `ao diff`.
//!
//! Uncommitted work counts too, new files included, so git is asked about a *snapshot* of the
//! work tree: everything in it that git does not ignore, written as a tree through a copy of the
//! work tree's index (`GIT_INDEX_FILE`). The session's own index and files are never touched, so
//! this is safe while the agent works; the only trace is blob objects in the repository, which
//! git's garbage collection takes back.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use super::git::{git, run, WorkspaceError};
use super::tree_git::{TreeGit, NO_DIFF_PROGRAMS};

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
    pub tree: TreeGit,
    /// git's arguments.
    pub args: Vec<String>,
}

impl GitCommand {
    /// The command, ready to run.
    pub fn to_command(&self) -> Command {
        let mut cmd = self.tree.command();
        cmd.args(&self.args);
        cmd
    }
}

/// git in the work tree `tree` with its index replaced by `index`.
fn git_with_index(tree: &TreeGit, index: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
    let mut cmd = tree.command();
    cmd.env("GIT_INDEX_FILE", index);
    run(cmd, args)
}

/// The tree of everything in the work tree that git does not ignore, as it is now.
pub(super) fn snapshot_tree(tree: &TreeGit) -> Result<String, WorkspaceError> {
    let fail = |message: String| WorkspaceError {
        action: "snapshot".into(),
        message,
    };
    let index = tree.git_dir().join("index");
    let temp = tempfile::NamedTempFile::new()
        .map_err(|e| fail(format!("cannot create a temporary index: {e}")))?;
    // Starting from the real index lets git skip hashing the files it knows unchanged.
    match std::fs::copy(&index, temp.path()) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(format!("cannot copy {}: {e}", index.display()))),
    }
    git_with_index(tree, temp.path(), &["add", "--all", "--", "."])?;
    Ok(git_with_index(tree, temp.path(), &["write-tree"])?
        .trim()
        .to_string())
}

/// The commit a session's changes are counted from: the one recorded when its work tree was made,
/// else (work trees made before ao recorded it) where its branch left `start` (the project's
/// `defaultBranch`, or the project's HEAD).
pub fn resolve_base(
    repo: &Path,
    tree: &TreeGit,
    recorded: Option<&str>,
    start: Option<&str>,
) -> Result<String, WorkspaceError> {
    if let Some(base) = recorded {
        return Ok(base.to_string());
    }
    let start = git(repo, &["rev-parse", start.unwrap_or("HEAD")])?;
    Ok(tree
        .git(&["merge-base", "HEAD", start.trim()])?
        .trim()
        .to_string())
}

/// Paths listed by a `-z` git output.
fn paths(text: &str) -> impl Iterator<Item = &str> {
    text.split('\0').filter(|p| !p.is_empty())
}

/// `git diff` of `args` in the work tree, with [`NO_DIFF_PROGRAMS`] before them.
fn diff(tree: &TreeGit, args: &[&str]) -> Result<String, WorkspaceError> {
    tree.git(&[&["diff"], &NO_DIFF_PROGRAMS[..], args].concat())
}

/// Every file the work tree changed against `base`, committed or not, by path.
pub fn changed_files(tree: &TreeGit, base: &str) -> Result<Vec<FileChange>, WorkspaceError> {
    let snapshot = snapshot_tree(tree)?;
    let numstat = diff(tree, &["--numstat", "-z", "--no-renames", base, &snapshot])?;
    let uncommitted = diff(
        tree,
        &["--name-only", "-z", "--no-renames", "HEAD", &snapshot],
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

/// How many files the work tree changed against `base`, committed or not.
pub fn count_changed(tree: &TreeGit, base: &str) -> Result<usize, WorkspaceError> {
    let snapshot = snapshot_tree(tree)?;
    let names = diff(
        tree,
        &["--name-only", "-z", "--no-renames", base, &snapshot],
    )?;
    Ok(paths(&names).count())
}

/// `git diff` of the work tree against `base`, committed and uncommitted changes and new files,
/// with the person's own arguments after (options such as `--stat`, or `-- PATH`). It runs no
/// program that config names but the person's pager.
pub fn diff_command(
    tree: &TreeGit,
    base: &str,
    extra: &[String],
) -> Result<GitCommand, WorkspaceError> {
    let snapshot = snapshot_tree(tree)?;
    let mut args = vec!["diff".to_string()];
    args.extend(NO_DIFF_PROGRAMS.map(String::from));
    args.extend([base.to_string(), snapshot]);
    args.extend(extra.iter().cloned());
    Ok(GitCommand {
        tree: tree.clone(),
        args,
    })
}
