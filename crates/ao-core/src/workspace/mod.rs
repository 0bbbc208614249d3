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
//!
//! An agent writes in its work tree, so nothing there is trusted: git runs there only through
//! [`TreeGit`], with the git directory that `git worktree add` made for the tree in the person's
//! repository (never whatever the tree's `.git` file names) and with what in git runs a program
//! switched off ([`NO_PROGRAMS`]).
//!
//! `git` runs git, `tree_git` runs it in an agent's tree, `worktree` makes and removes work trees
//! and `changes` says what a session changed; they import one another, never this file, which is
//! the module map and the public paths.

mod changes;
mod git;
mod tree_git;
mod worktree;

pub use changes::{
    changed_files, count_changed, diff_command, resolve_base, FileChange, GitCommand,
};
pub use git::WorkspaceError;
pub use tree_git::{TreeError, TreeGit, NO_DIFF_PROGRAMS, NO_PROGRAMS};
pub use worktree::{
    base_exists, branch_for, create_worktree, create_worktree_on, fork_worktree, head_commit,
    head_commit_on, locate_on_host, remove_worktree, remove_worktree_if_clean, remove_worktree_on,
    reopen_worktree, GitHost, KeepReason, Worktree, WorktreeFate,
};
