//! Work trees: one per session under the state home, on a branch `ao/<name>`, created, forked,
//! found again and removed only when that loses nothing (see the module map, `workspace`, for the
//! rules), here or on a host over ssh ([`GitHost`]).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::changes;
use super::git::{git, WorkspaceError};
use super::tree_git::{TreeError, TreeGit, NO_PROGRAMS};

/// Where git runs: here, or on a host over its ssh connection (a project with `host:`). The
/// work-tree rules below are the same for both; only how a command reaches git differs.
#[derive(Clone, Copy)]
pub enum GitHost<'a> {
    /// This machine.
    Local,
    /// A host over ssh; `lock_dir` is the local directory whose lock serialises ao's changes to
    /// the project's work trees there (only ao on this machine makes them).
    Ssh {
        /// The host's connection, whose master runs.
        host: &'a crate::remote::ssh::SshHost,
        /// The local directory of the lock.
        lock_dir: &'a Path,
    },
}

/// The script that runs `git -C "$1" "$@"` on a host.
const REMOTE_GIT: &str = r#"d=$1; shift
case $d in "~"|"~/"*) d=$HOME${d#"~"};; esac
exec git -C "$d" "$@""#;

/// The script that runs git in the work tree "$1" of the repository "$2" on a host as
/// [`TreeGit`] does here: with the git directory that the repository keeps for the tree, once the
/// tree's `.git` is seen to point there. Exits 3 when the tree is gone, 4 when the repository has
/// no record of it, 5 (saying that git directory) when its `.git` points elsewhere.
const REMOTE_TREE_GIT: &str = r#"d=$1 r=$2; shift 2
case $d in "~"|"~/"*) d=$HOME${d#"~"};; esac
case $r in "~"|"~/"*) r=$HOME${r#"~"};; esac
real=$(cd "$d" 2>/dev/null && pwd -P) || exit 3
common=$(git -C "$r" rev-parse --path-format=absolute --git-common-dir) || exit 6
admin=
for a in "$common"/worktrees/*; do
  if [ "$(cat "$a/gitdir" 2>/dev/null)" = "$real/.git" ]; then admin=$(cd "$a" && pwd -P); break; fi
done
[ -n "$admin" ] || exit 4
p=
if [ -f "$real/.git" ] && [ ! -L "$real/.git" ]; then p=$(sed -n '1s/^gitdir: *//p' "$real/.git"); fi
case $p in /*) ;; ?*) p=$real/$p;; esac
if [ -z "$p" ] || [ "$(cd "$p" 2>/dev/null && pwd -P)" != "$admin" ]; then echo "$admin"; exit 5; fi
exec git --git-dir="$admin" --work-tree="$real" -C "$real" "$@""#;

impl GitHost<'_> {
    /// `git args` in the work tree `dir` of the repository `repo`, checked as [`TreeGit::open`]
    /// checks it, with [`NO_PROGRAMS`]: its standard output; `Ok(Err(_))` when ao must not run
    /// git there.
    fn tree_git(
        &self,
        repo: &Path,
        dir: &Path,
        args: &[&str],
    ) -> Result<Result<String, TreeError>, WorkspaceError> {
        match self {
            GitHost::Local => match TreeGit::open(repo, dir) {
                Ok(tree) => tree.git(args).map(Ok),
                Err(e) => Ok(Err(e)),
            },
            GitHost::Ssh { host, .. } => {
                let (dir_s, repo_s) = (dir.to_string_lossy(), repo.to_string_lossy());
                let all = [&[dir_s.as_ref(), repo_s.as_ref()], &NO_PROGRAMS[..], args].concat();
                let fail = |message: String| WorkspaceError {
                    action: args.join(" "),
                    message,
                };
                let out = host
                    .run(REMOTE_TREE_GIT, &all, b"")
                    .map_err(|e| fail(e.to_string()))?;
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                let (dir, repo) = (dir.to_path_buf(), repo.to_path_buf());
                Ok(match out.status.code() {
                    Some(0) => Ok(stdout),
                    Some(3) => Err(TreeError::Gone { dir }),
                    Some(4) => Err(TreeError::Unknown { dir, repo }),
                    Some(5) => Err(TreeError::Moved {
                        dir,
                        git_dir: PathBuf::from(stdout.trim()),
                        repo,
                    }),
                    _ => {
                        return Err(fail(
                            String::from_utf8_lossy(&out.stderr).trim().to_string(),
                        ))
                    }
                })
            }
        }
    }

    fn git(&self, dir: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
        match self {
            GitHost::Local => git(dir, args),
            GitHost::Ssh { host, .. } => {
                let dir = dir.to_string_lossy();
                let mut all = vec![dir.as_ref()];
                all.extend_from_slice(args);
                host.run_ok(REMOTE_GIT, &all, b"")
                    .map_err(|e| WorkspaceError {
                        action: args.join(" "),
                        message: e.to_string(),
                    })
            }
        }
    }

    /// Whether `git args` succeeds in `dir`; an error when git cannot be run at all.
    fn succeeds(&self, dir: &Path, args: &[&str]) -> std::io::Result<bool> {
        match self {
            GitHost::Local => Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success()),
            GitHost::Ssh { host, .. } => {
                let dir = dir.to_string_lossy();
                let mut all = vec![dir.as_ref()];
                all.extend_from_slice(args);
                host.run(REMOTE_GIT, &all, b"")
                    .map(|o| o.status.success())
                    .map_err(std::io::Error::other)
            }
        }
    }

    /// Whether `path` exists there.
    fn exists(&self, path: &Path) -> bool {
        match self {
            GitHost::Local => path.exists(),
            GitHost::Ssh { host, .. } => host
                .run(r#"test -e "$1""#, &[&path.to_string_lossy()], b"")
                .is_ok_and(|o| o.status.success()),
        }
    }

    /// Holds the lock on the work trees of `dir`'s project until dropped.
    fn lock(&self, dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, WorkspaceError> {
        match self {
            GitHost::Local => lock_worktrees(parent(dir)),
            GitHost::Ssh { lock_dir, .. } => lock_worktrees(lock_dir),
        }
    }

    /// Creates the directory that will hold `dir` (git makes `dir` itself).
    fn make_parent(&self, dir: &Path) -> Result<(), WorkspaceError> {
        match self {
            GitHost::Local => Ok(()),
            GitHost::Ssh { host, .. } => host
                .run_ok(r#"mkdir -p "$1""#, &[&parent(dir).to_string_lossy()], b"")
                .map(|_| ())
                .map_err(|e| WorkspaceError {
                    action: "worktree add".into(),
                    message: e.to_string(),
                }),
        }
    }
}

/// Holds the lock on the work trees in `dir` (a project's directory of them) until dropped.
fn lock_worktrees(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, WorkspaceError> {
    let fail = |message: String| WorkspaceError {
        action: "worktree".into(),
        message,
    };
    // 0700, as what ao makes in the state home is: the agents' files are the person's alone.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    // Session names start with a letter or digit, so no work tree is ever called this.
    let path = dir.join(".lock");
    crate::home::lock_file(&path).map_err(|e| fail(format!("cannot lock {}: {e}", path.display())))
}

/// The directory holding a work tree (and its siblings' lock).
fn parent(dir: &Path) -> &Path {
    dir.parent().unwrap_or(dir)
}

pub use ao_agent::project::Worktree;

/// The branch of session `name`'s work tree.
pub fn branch_for(name: &str) -> String {
    format!("ao/{name}")
}

/// Creates a work tree for session `name` of the repository at `repo`, at `dir`, on a new branch
/// `ao/<name>` from `base` (or HEAD). Refuses, saying what to do, when the branch or the directory
/// is already there (left by an earlier session) or the base does not exist.
pub fn create_worktree(
    repo: &Path,
    dir: &Path,
    name: &str,
    base: Option<&str>,
) -> Result<Worktree, WorkspaceError> {
    create_worktree_on(GitHost::Local, repo, dir, name, base)
}

/// [`create_worktree`] on `host`.
pub fn create_worktree_on(
    host: GitHost<'_>,
    repo: &Path,
    dir: &Path,
    name: &str,
    base: Option<&str>,
) -> Result<Worktree, WorkspaceError> {
    let _lock = host.lock(dir)?;
    let repo_s = repo.display();
    let rev = format!("{}^{{commit}}", base.unwrap_or("HEAD"));
    if !matches!(
        host.succeeds(repo, &["rev-parse", "--verify", "--quiet", &rev]),
        Ok(true)
    ) {
        return Err(WorkspaceError {
            action: "worktree add".into(),
            message: match base {
                Some(b) => format!(
                    "defaultBranch {b:?} does not exist in {repo_s}; correct defaultBranch in the \
                     config, or create the branch"
                ),
                None => format!(
                    "{repo_s} has no commit yet, so there is nothing to branch from; commit once \
                     (e.g. `git commit --allow-empty -m init`) or set `workspace: none`"
                ),
            },
        });
    }
    host.make_parent(dir)?;
    add_worktree(host, repo, dir, name, base.unwrap_or("HEAD"))
}

/// Adds the work tree of session `name` at `dir` on a new branch from `start`, refusing what an
/// earlier session left behind. The caller holds the lock.
fn add_worktree(
    host: GitHost<'_>,
    repo: &Path,
    dir: &Path,
    name: &str,
    start: &str,
) -> Result<Worktree, WorkspaceError> {
    let branch = branch_for(name);
    let refuse = |message: String| WorkspaceError {
        action: "worktree add".into(),
        message,
    };
    let repo_s = repo.display();
    if branch_exists(host, repo, &branch) {
        return Err(refuse(format!(
            "branch {branch} already exists in {repo_s} (an earlier session's?); pick another \
             --name, or delete it with `git -C {repo_s} branch -D {branch}`"
        )));
    }
    if host.exists(dir) {
        return Err(refuse(format!(
            "{} already exists (an earlier session's work tree?); pick another --name, or \
             remove it with `git -C {repo_s} worktree remove {}`",
            dir.display(),
            dir.display()
        )));
    }
    let dir_s = dir.to_string_lossy();
    host.git(repo, &["worktree", "add", "-b", &branch, &dir_s, start])?;
    Ok(Worktree {
        path: dir.to_path_buf(),
        branch,
    })
}

/// Creates the work tree of session `name`, a fork of another session's work tree `source` (on
/// branch `source_branch`): a new branch from the source's last commit, with the source's
/// uncommitted changes (staged or not, and files git does not ignore yet) carried over as
/// uncommitted changes. The source's files and index are left as they are. When the source's
/// work tree is gone, the fork starts from its branch alone.
pub fn fork_worktree(
    repo: &Path,
    source: &Path,
    source_branch: &str,
    dir: &Path,
    name: &str,
) -> Result<Worktree, WorkspaceError> {
    let (start, carried) = if source.exists() {
        let source = TreeGit::open(repo, source)?;
        let head = source.git(&["rev-parse", "HEAD"])?.trim().to_string();
        (head, Some(changes::snapshot_tree(&source)?))
    } else {
        (format!("refs/heads/{source_branch}"), None)
    };
    let _lock = lock_worktrees(parent(dir))?;
    let wt = add_worktree(GitHost::Local, repo, dir, name, &start)?;
    if let Some(tree) = carried {
        // Files the tree lacks are deleted, files the index lacks come as untracked ones.
        TreeGit::open(repo, dir)?.git(&["restore", "--source", &tree, "--worktree", "--", "."])?;
    }
    Ok(wt)
}

/// The commit `dir`'s work tree is at.
pub fn head_commit(dir: &Path) -> Result<String, WorkspaceError> {
    head_commit_on(GitHost::Local, dir)
}

/// [`head_commit`] on `host`.
pub fn head_commit_on(host: GitHost<'_>, dir: &Path) -> Result<String, WorkspaceError> {
    Ok(host.git(dir, &["rev-parse", "HEAD"])?.trim().to_string())
}

fn branch_exists(host: GitHost<'_>, repo: &Path, branch: &str) -> bool {
    host.succeeds(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    )
    .unwrap_or(false)
}

/// Whether the commit work trees start from exists in `repo`: `base` (a project's
/// `defaultBranch`), or HEAD. An error when git cannot run at all.
pub fn base_exists(repo: &Path, base: Option<&str>) -> std::io::Result<bool> {
    rev_exists(repo, &format!("{}^{{commit}}", base.unwrap_or("HEAD")))
}

/// Whether git can resolve `rev` in `repo`.
fn rev_exists(repo: &Path, rev: &str) -> std::io::Result<bool> {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--verify", "--quiet", rev])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
}

/// Why a work tree was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// Files changed and not committed.
    Uncommitted(usize),
    /// Commits on the branch that no other branch has.
    UnmergedCommits(usize),
    /// It is on a server ao does not run, which ao cannot ask whether it holds work; only
    /// `--force` removes it (through that server).
    OnServer,
    /// ao cannot check it for work without trusting what the agent wrote (its `.git` points
    /// elsewhere); kept even with `--force`, since it may hold work. Says why.
    Unchecked(String),
}

/// What became of a session's work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorktreeFate {
    /// Removed with its branch: it held nothing that exists nowhere else.
    Removed,
    /// Left in place, and why.
    Kept(KeepReason),
    /// Removed by force. `discarded` uncommitted changes are gone; the branch stays when it holds
    /// `branch_commits` commits on no other branch, since forcing is about the files, never about
    /// commits.
    Forced {
        /// Uncommitted changes thrown away.
        discarded: usize,
        /// Commits only the branch has (then the branch is kept).
        branch_commits: usize,
    },
    /// The directory was already gone (removed by hand, or by an earlier `ao kill`). The branch
    /// was deleted too, unless it holds `branch_commits` commits on no other branch.
    AlreadyGone {
        /// Commits only the branch has (then the branch is kept).
        branch_commits: usize,
    },
}

/// Removes a session's work tree and branch unless that would lose work; says why it kept it.
pub fn remove_worktree_if_clean(
    repo: &Path,
    wt: &Worktree,
) -> Result<Option<KeepReason>, WorkspaceError> {
    Ok(match remove_worktree(repo, wt, false)? {
        WorktreeFate::Kept(reason) => Some(reason),
        _ => None,
    })
}

/// Removes a session's work tree: when it holds no uncommitted change and its branch no commit
/// that exists on no other branch, or, with `force`, whatever it holds (keeping a branch that has
/// commits of its own).
pub fn remove_worktree(
    repo: &Path,
    wt: &Worktree,
    force: bool,
) -> Result<WorktreeFate, WorkspaceError> {
    remove_worktree_on(GitHost::Local, repo, wt, force)
}

/// [`remove_worktree`] on `host`.
pub fn remove_worktree_on(
    host: GitHost<'_>,
    repo: &Path,
    wt: &Worktree,
    force: bool,
) -> Result<WorktreeFate, WorkspaceError> {
    let _lock = host.lock(&wt.path)?;
    let commits = unique_commits(host, repo, &wt.branch)?;
    if !host.exists(&wt.path) {
        let _ = host.git(repo, &["worktree", "prune"]);
        if commits == Some(0) {
            host.git(repo, &["branch", "-D", &wt.branch])?;
        }
        return Ok(WorktreeFate::AlreadyGone {
            branch_commits: commits.unwrap_or(0),
        });
    }
    let commits = commits.unwrap_or(0);
    let status = ["status", "--porcelain", "--untracked-files=all"];
    let changes = match host.tree_git(repo, &wt.path, &status)? {
        Ok(changes) => changes,
        // What ao cannot check may hold work: kept, even when forced (git refuses to remove a
        // work tree whose `.git` points elsewhere, too).
        Err(e) => return Ok(WorktreeFate::Kept(KeepReason::Unchecked(e.to_string()))),
    };
    let changed = changes.lines().filter(|l| !l.trim().is_empty()).count();
    if !force {
        if changed > 0 {
            return Ok(WorktreeFate::Kept(KeepReason::Uncommitted(changed)));
        }
        if commits > 0 {
            return Ok(WorktreeFate::Kept(KeepReason::UnmergedCommits(commits)));
        }
    }
    let path = wt.path.to_string_lossy();
    // git runs `git status` in the work tree to check it again: without programs, too.
    let mut remove = NO_PROGRAMS.to_vec();
    remove.extend(["worktree", "remove"]);
    if force {
        remove.push("--force");
    }
    remove.push(&path);
    host.git(repo, &remove)?;
    if commits == 0 {
        host.git(repo, &["branch", "-D", &wt.branch])?;
    }
    Ok(if force && (changed > 0 || commits > 0) {
        WorktreeFate::Forced {
            discarded: changed,
            branch_commits: commits,
        }
    } else {
        WorktreeFate::Removed
    })
}

/// How many commits `branch` has that no other branch has; `None` when the branch is gone.
fn unique_commits(
    host: GitHost<'_>,
    repo: &Path,
    branch: &str,
) -> Result<Option<usize>, WorkspaceError> {
    if !branch_exists(host, repo, branch) {
        return Ok(None);
    }
    let full = format!("refs/heads/{branch}");
    // --exclude matches branch names without refs/heads/ when followed by --branches.
    let exclude = format!("--exclude={branch}");
    let unique = host.git(repo, &["rev-list", &full, "--not", &exclude, "--branches"])?;
    Ok(Some(
        unique.lines().filter(|l| !l.trim().is_empty()).count(),
    ))
}

/// Finds a project's directory on a host (`path` as the config gives it; `~` is the host's home)
/// and checks there what its sessions need: git and a repository for `worktree`. Returns the
/// directory, absolute, and where ao keeps its work trees on that host (`$XDG_DATA_HOME/ao/worktrees`,
/// by default `~/.local/share/ao/worktrees`).
pub fn locate_on_host(
    host: &crate::remote::ssh::SshHost,
    path: &Path,
    worktree: bool,
) -> Result<(PathBuf, PathBuf), WorkspaceError> {
    const LOCATE: &str = r#"d=$1
case $d in "~"|"~/"*) d=$HOME${d#"~"};; esac
cd "$d" 2>/dev/null || { echo "the project directory $d does not exist there" >&2; exit 3; }
pwd -P
echo "${XDG_DATA_HOME:-$HOME/.local/share}/ao/worktrees"
if [ "$2" = worktree ]; then
  command -v git >/dev/null 2>&1 || { echo "git is not installed there; install it, or set workspace: none" >&2; exit 4; }
  git rev-parse --git-dir >/dev/null 2>&1 || { echo "$d is not a git repository; run git init there, or set workspace: none" >&2; exit 5; }
fi"#;
    let mode = if worktree { "worktree" } else { "none" };
    let out = host
        .run_ok(LOCATE, &[&path.to_string_lossy(), mode], b"")
        .map_err(|e| WorkspaceError {
            action: "on the project's host".into(),
            message: e.to_string(),
        })?;
    let mut lines = out.lines();
    match (lines.next(), lines.next()) {
        (Some(dir), Some(trees)) => Ok((PathBuf::from(dir), PathBuf::from(trees))),
        _ => Err(WorkspaceError {
            action: "on the project's host".into(),
            message: format!("{} gave an unexpected answer: {out:?}", host.destination()),
        }),
    }
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
    if branch_exists(GitHost::Local, repo, branch) {
        git(repo, &["worktree", "add", &dir_s, branch])?;
    } else {
        git(repo, &["worktree", "add", "-b", branch, &dir_s])?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::changes::{changed_files, count_changed};
    use super::super::git::{commit, repo};
    use super::*;

    #[test]
    fn the_hosts_script_checks_a_work_tree_as_tree_git_does() {
        let tmp = repo();
        let r = tmp.path().join("repo");
        let wt = create_worktree(&r, &tmp.path().join("wt/a"), "a", None).unwrap();
        std::fs::write(wt.path.join("f.txt"), "x").unwrap();
        // What ssh runs on the host, run here.
        let run = |dir: &Path| {
            Command::new("sh")
                .arg("-c")
                .arg(REMOTE_TREE_GIT)
                .arg("sh")
                .arg(dir)
                .arg(&r)
                .args(NO_PROGRAMS)
                .args(["status", "--porcelain"])
                .output()
                .unwrap()
        };
        let out = run(&wt.path);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "?? f.txt\n");
        let admin = TreeGit::open(&r, &wt.path).unwrap().git_dir().to_path_buf();

        // The tree's .git points at a git directory whose config runs a program.
        let evil = tmp.path().join("evil");
        git(tmp.path(), &["init", "-q", &evil.to_string_lossy()]).unwrap();
        let marker = tmp.path().join("ran");
        let hook = tmp.path().join("fsmonitor");
        std::fs::write(&hook, format!("#!/bin/sh\ntouch '{}'\n", marker.display())).unwrap();
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        git(
            &evil,
            &["config", "core.fsmonitor", &hook.to_string_lossy()],
        )
        .unwrap();
        let evil_git = format!("gitdir: {}\n", evil.join(".git").display());
        std::fs::write(wt.path.join(".git"), evil_git).unwrap();
        let out = run(&wt.path);
        assert_eq!(out.status.code(), Some(5), "{out:?}");
        assert_eq!(
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()),
            admin
        );
        assert!(matches!(
            TreeGit::open(&r, &wt.path),
            Err(TreeError::Moved { git_dir, .. }) if git_dir == admin
        ));
        assert!(!marker.exists(), "git ran the tree's fsmonitor");

        assert_eq!(run(&tmp.path().join("wt/none")).status.code(), Some(3));
        std::fs::remove_dir_all(&admin).unwrap();
        assert_eq!(run(&wt.path).status.code(), Some(4));
        assert!(matches!(
            TreeGit::open(&r, &wt.path),
            Err(TreeError::Unknown { .. })
        ));
    }

    #[test]
    fn a_git_directory_that_names_another_repository_is_refused() {
        let tmp = repo();
        let r = tmp.path().join("repo");
        let wt = create_worktree(&r, &tmp.path().join("wt/a"), "a", None).unwrap();
        let admin = TreeGit::open(&r, &wt.path).unwrap().git_dir().to_path_buf();
        // A repository whose config runs a program, named by the tree's git directory (what an
        // agent in a container, which may write `.git/worktrees/`, could do).
        let evil = tmp.path().join("evil");
        git(tmp.path(), &["init", "-q", &evil.to_string_lossy()]).unwrap();
        let commondir = admin.join("commondir");
        let ours = std::fs::read_to_string(&commondir).unwrap();
        std::fs::write(&commondir, format!("{}\n", evil.join(".git").display())).unwrap();
        assert!(matches!(
            TreeGit::open(&r, &wt.path),
            Err(TreeError::Redirected { git_dir, .. }) if git_dir == admin
        ));
        std::fs::write(&commondir, ours).unwrap();
        assert!(TreeGit::open(&r, &wt.path).is_ok());

        // A `commondir` in the repository's own `.git` (the project directory is the agent's
        // with `workspace: none`).
        std::fs::write(
            r.join(".git/commondir"),
            format!("{}\n", evil.join(".git").display()),
        )
        .unwrap();
        let err = TreeGit::open(&r, &wt.path).unwrap_err();
        assert!(err.to_string().contains("holds a `commondir`"), "{err}");
    }

    #[test]
    fn clean_work_tree_is_removed_dirty_one_kept() {
        let tmp = repo();
        let r = tmp.path().join("repo");
        let clean = create_worktree(&r, &tmp.path().join("wt/a"), "a", None).unwrap();
        let mode = std::fs::metadata(tmp.path().join("wt"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o700,
            "the directory of work trees is private"
        );
        assert_eq!(remove_worktree_if_clean(&r, &clean).unwrap(), None);
        assert!(!clean.path.exists());

        let dirty = create_worktree(&r, &tmp.path().join("wt/b"), "b", None).unwrap();
        std::fs::write(dirty.path.join("f.txt"), "x").unwrap();
        assert_eq!(
            remove_worktree_if_clean(&r, &dirty).unwrap(),
            Some(KeepReason::Uncommitted(1))
        );
        git(&dirty.path, &["add", "f.txt"]).unwrap();
        commit(&dirty.path, &["-m", "f"]);
        assert_eq!(
            remove_worktree_if_clean(&r, &dirty).unwrap(),
            Some(KeepReason::UnmergedCommits(1))
        );
        assert!(dirty.path.join("f.txt").exists());
    }

    #[test]
    fn force_discards_changes_but_never_commits() {
        let tmp = repo();
        let r = tmp.path().join("repo");
        let wt = create_worktree(&r, &tmp.path().join("wt/c"), "c", None).unwrap();
        std::fs::write(wt.path.join("scratch.txt"), "x").unwrap();
        assert_eq!(
            remove_worktree(&r, &wt, true).unwrap(),
            WorktreeFate::Forced {
                discarded: 1,
                branch_commits: 0
            }
        );
        assert!(!wt.path.exists());
        assert!(
            !branch_exists(GitHost::Local, &r, "ao/c"),
            "a branch with nothing of its own goes"
        );

        let wt = create_worktree(&r, &tmp.path().join("wt/d"), "d", None).unwrap();
        std::fs::write(wt.path.join("kept.txt"), "x").unwrap();
        git(&wt.path, &["add", "kept.txt"]).unwrap();
        commit(&wt.path, &["-m", "k"]);
        assert_eq!(
            remove_worktree(&r, &wt, true).unwrap(),
            WorktreeFate::Forced {
                discarded: 0,
                branch_commits: 1
            }
        );
        assert!(!wt.path.exists());
        assert!(
            branch_exists(GitHost::Local, &r, "ao/d"),
            "the commit stays reachable"
        );
    }

    #[test]
    fn a_leftover_branch_or_a_missing_base_is_refused_with_a_fix() {
        let tmp = repo();
        let r = tmp.path().join("repo");
        git(&r, &["branch", "ao/e"]).unwrap();
        let err = create_worktree(&r, &tmp.path().join("wt/e"), "e", None).unwrap_err();
        assert!(err.message.contains("branch ao/e already exists"), "{err}");
        assert!(err.message.contains("pick another --name"), "{err}");
        let err = create_worktree(&r, &tmp.path().join("wt/f"), "f", Some("develop")).unwrap_err();
        assert!(
            err.message
                .contains("defaultBranch \"develop\" does not exist"),
            "{err}"
        );
        let wt = create_worktree(&r, &tmp.path().join("wt/g"), "g", Some("main")).unwrap();
        assert_eq!(wt.branch, "ao/g");
    }

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

        let tree = TreeGit::open(&r, &wt.path).unwrap();
        let files = changed_files(&tree, &base).unwrap();
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
        assert_eq!(count_changed(&tree, &base).unwrap(), 3);
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
