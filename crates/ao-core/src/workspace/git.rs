//! How ao runs git outside an agent's tree (inside one, see `tree_git`): a command, its output, or
//! a [`WorkspaceError`] with what git said.

use std::path::Path;
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

/// `git -C dir args`: its standard output, or what git said on failure.
pub(super) fn git(dir: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
    git_with(Command::new("git"), dir, args)
}

/// `git -C dir args` through `cmd` (which may carry environment of its own): its standard output,
/// or what git said on failure.
fn git_with(mut cmd: Command, dir: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
    cmd.arg("-C").arg(dir);
    run(cmd, args)
}

/// `cmd args` (a git command ready for its arguments): its standard output, or what git said on
/// failure.
pub(super) fn run(mut cmd: Command, args: &[&str]) -> Result<String, WorkspaceError> {
    let out = cmd.args(args).output().map_err(|e| WorkspaceError {
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

/// A temporary directory holding a repository `repo` with one empty commit on `main`.
#[cfg(test)]
pub(super) fn repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("repo");
    std::fs::create_dir(&r).unwrap();
    git(&r, &["init", "-q", "-b", "main"]).unwrap();
    commit(&r, &["--allow-empty", "-m", "init"]);
    tmp
}

/// `git commit -q <args>` in `dir`, with an identity of its own.
#[cfg(test)]
pub(super) fn commit(dir: &Path, args: &[&str]) {
    let mut all = vec!["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q"];
    all.extend_from_slice(args);
    git(dir, &all).unwrap();
}
