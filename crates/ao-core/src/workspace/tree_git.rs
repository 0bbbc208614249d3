//! A session's work tree as ao lets git see it ([`TreeGit`]): through the git directory that `git
//! worktree add` made for it in the person's repository, never through whatever the tree's `.git`
//! file names (the agent can write it), and with what in git runs a program switched off.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{LazyLock, Mutex};

use super::git::{git, run, WorkspaceError};

/// git's options, before its command, that switch off what in git runs a program named by
/// config (which an agent may have written, or made git read): the file system monitor and
/// hooks. Given on the command line, they also win over config in the git processes that git
/// itself starts (through `GIT_CONFIG_PARAMETERS`). Diff commands add [`NO_DIFF_PROGRAMS`].
pub const NO_PROGRAMS: [&str; 4] = [
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
];

/// The options of `git diff` that switch off the programs a diff can run: an external diff
/// (`diff.external`, a driver's `command`) and a driver's `textconv`, which the work tree's
/// `.gitattributes` could pick for any file.
pub const NO_DIFF_PROGRAMS: [&str; 2] = ["--no-ext-diff", "--no-textconv"];

/// Why ao does not run git in a session's work tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The directory is not there.
    #[error("the work tree {} is gone", .dir.display())]
    Gone {
        /// The work tree.
        dir: PathBuf,
    },
    /// The repository has no record of the work tree (pruned, or made by someone else).
    #[error(
        "{} is not one of {}'s work trees any more (git has no record of it there), so ao does \
         not run git in it; `git -C {} worktree list` shows the work trees git knows",
        .dir.display(), .repo.display(), .repo.display()
    )]
    Unknown {
        /// The work tree.
        dir: PathBuf,
        /// The project's repository.
        repo: PathBuf,
    },
    /// The tree's `.git` names another git directory than the one ao made for it, or is gone.
    #[error(
        "the .git of the work tree {} no longer points to the git directory ao made for it \
         ({}), so ao does not run git in it: whoever changed it (the agent?) could make git run \
         a program. Look at what it points to; `git -C {} worktree repair {}` points it back",
        .dir.display(), .git_dir.display(), .repo.display(), .dir.display()
    )]
    Moved {
        /// The work tree.
        dir: PathBuf,
        /// The git directory ao made for it.
        git_dir: PathBuf,
        /// The project's repository.
        repo: PathBuf,
    },
    /// The tree's git directory names another repository than the project's in its `commondir`.
    #[error(
        "the git directory of the work tree {} ({}) names another repository than {} in its \
         `commondir`, so ao does not run git in it: whoever changed it (the agent?) could make \
         git run a program. Look at what it names; ao's own is `../..`",
        .dir.display(), .git_dir.display(), .repo.display()
    )]
    Redirected {
        /// The work tree.
        dir: PathBuf,
        /// The git directory ao made for it.
        git_dir: PathBuf,
        /// The project's repository.
        repo: PathBuf,
    },
    /// The project's repository's git directory could not be found.
    #[error("cannot find the git directory of {}: {message}", .repo.display())]
    Repo {
        /// The project's repository.
        repo: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl From<TreeError> for WorkspaceError {
    fn from(e: TreeError) -> Self {
        WorkspaceError {
            action: "work tree".into(),
            message: e.to_string(),
        }
    }
}

/// A session's work tree, checked: its directory and the git directory that `git worktree add`
/// made for it in the project's repository. Every git that ao runs in a work tree runs through
/// [`TreeGit::command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeGit {
    dir: PathBuf,
    git_dir: PathBuf,
}

impl TreeGit {
    /// The work tree at `dir` of the repository at `repo`, with the git directory the repository
    /// keeps for it, once its `.git` is seen to point there still.
    pub fn open(repo: &Path, dir: &Path) -> Result<TreeGit, TreeError> {
        let real = dir.canonicalize().map_err(|_| TreeError::Gone {
            dir: dir.to_path_buf(),
        })?;
        let common = common_dir(repo)?;
        let git_dir = admin_dir(&common, &real).ok_or_else(|| TreeError::Unknown {
            dir: dir.to_path_buf(),
            repo: repo.to_path_buf(),
        })?;
        // The tree's `.git` is the agent's to write: read, never followed.
        let dot_git = real.join(".git");
        let pointed = std::fs::symlink_metadata(&dot_git)
            .is_ok_and(|m| m.is_file())
            .then(|| std::fs::read_to_string(&dot_git).ok())
            .flatten()
            .and_then(|text| {
                let p = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
                Some(if p.is_relative() { real.join(p) } else { p })
            })
            .and_then(|p| p.canonicalize().ok());
        if pointed.as_ref() != Some(&git_dir) {
            return Err(TreeError::Moved {
                dir: dir.to_path_buf(),
                git_dir,
                repo: repo.to_path_buf(),
            });
        }
        // Its `commondir` says where git reads the config and the hooks from: an agent that
        // can write the tree's git directory (in a container, `.git/worktrees/`) could name a
        // repository of its own making there.
        if commondir_of(&git_dir).as_ref() != Some(&common) {
            return Err(TreeError::Redirected {
                dir: dir.to_path_buf(),
                git_dir,
                repo: repo.to_path_buf(),
            });
        }
        Ok(TreeGit { dir: real, git_dir })
    }

    /// The work tree's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The git directory ao made for it.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// `git` in the work tree, with its git directory named and [`NO_PROGRAMS`]; the caller adds
    /// git's command and arguments.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir")
            .arg(&self.git_dir)
            .arg("--work-tree")
            .arg(&self.dir)
            .args(NO_PROGRAMS)
            .arg("-C")
            .arg(&self.dir);
        cmd
    }

    /// Runs `git args` in the work tree: its standard output, or what git said on failure.
    pub(super) fn git(&self, args: &[&str]) -> Result<String, WorkspaceError> {
        run(self.command(), args)
    }
}

/// The git directory that the work trees of the repository at `repo` share: its `.git` directory
/// when it has one of its own (read, not asked: `ao status` starts no git for it), else asked of
/// git once per repository and process (the repository is the person's own, so git runs there as
/// it is).
fn common_dir(repo: &Path) -> Result<PathBuf, TreeError> {
    let own = repo.join(".git");
    if own.is_dir() {
        // Only a work tree's git directory has a `commondir`; in a repository's own `.git` one
        // would send git to a config and hooks someone else wrote (an agent that works in the
        // project directory can write its `.git`).
        if std::fs::symlink_metadata(own.join("commondir")).is_ok() {
            return Err(TreeError::Repo {
                repo: repo.to_path_buf(),
                message: format!(
                    "{} holds a `commondir`, which only a work tree's git directory has, so ao \
                     runs no git there: whoever wrote it could make git run a program. Look at \
                     what it names, and remove it",
                    own.display()
                ),
            });
        }
        if let Ok(dir) = own.canonicalize() {
            return Ok(dir);
        }
    }
    asked_common_dir(repo)
}

/// The repository that a work tree's git directory names in its `commondir` (relative to it, as
/// git writes it), resolved; `None` when it names none that exists.
fn commondir_of(git_dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(git_dir.join("commondir")).ok()?;
    let named = Path::new(text.trim_end_matches(['\n', '\r']));
    git_dir.join(named).canonicalize().ok()
}

/// [`common_dir`] as git says it.
fn asked_common_dir(repo: &Path) -> Result<PathBuf, TreeError> {
    static KNOWN: LazyLock<Mutex<HashMap<PathBuf, PathBuf>>> = LazyLock::new(Default::default);
    let fail = |message: String| TreeError::Repo {
        repo: repo.to_path_buf(),
        message,
    };
    if let Some(dir) = KNOWN.lock().ok().and_then(|k| k.get(repo).cloned()) {
        return Ok(dir);
    }
    let out = git(
        repo,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )
    .map_err(|e| fail(e.message))?;
    let dir = PathBuf::from(out.trim())
        .canonicalize()
        .map_err(|e| fail(e.to_string()))?;
    if let Ok(mut known) = KNOWN.lock() {
        known.insert(repo.to_path_buf(), dir.clone());
    }
    Ok(dir)
}

/// The git directory in `common` (a repository's shared one) of the work tree whose real path is
/// `dir`: the entry of `worktrees/` whose `gitdir` names `dir/.git`. git names it after the
/// tree's directory, with a number after it when that name was taken.
fn admin_dir(common: &Path, dir: &Path) -> Option<PathBuf> {
    let wanted = dir.join(".git");
    let trees = common.join("worktrees");
    let names_it = |admin: &Path| {
        std::fs::read_to_string(admin.join("gitdir")).is_ok_and(|text| {
            let named = Path::new(text.trim_end_matches(['\n', '\r']));
            named == wanted
                || named
                    .parent()
                    .and_then(|p| p.canonicalize().ok())
                    .is_some_and(|p| p.join(".git") == wanted)
        })
    };
    let first = dir.file_name().map(|n| trees.join(n));
    if let Some(admin) = first.filter(|a| names_it(a)) {
        return admin.canonicalize().ok();
    }
    std::fs::read_dir(&trees)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|a| names_it(a))
        .and_then(|a| a.canonicalize().ok())
}
