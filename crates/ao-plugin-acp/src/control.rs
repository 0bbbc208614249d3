//! The host's control socket: how `ao send`, `ao permit`, `ao answer` and `ao kill` reach a
//! running session.
//!
//! A Unix stream socket (`host.sock`) in the session's private (0700) directory, so only its owner
//! can connect. One request per connection: the client writes one [`Request`] as a line of JSON,
//! the host answers one [`Response`] line and closes. A socket's path is limited to about 100
//! bytes, and a state home can be deep: both ends reach it through [`ShortPath`], a path through
//! `/proc/self/fd` to the directory, which is always short.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use ao_agent::agent::PermitDecision;
use serde::{Deserialize, Serialize};

/// What a client asks of a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Send a prompt: at once when no turn runs, else after the running turn ends.
    Prompt {
        /// The prompt's text.
        text: String,
    },
    /// Answer the pending permission request `id`.
    Permit {
        /// The request's id (the tool call's).
        id: String,
        /// Once, always, or reject: the host picks the request's option of that kind.
        decision: PermitDecision,
    },
    /// Answer the pending question request `id` (the agent's form): one answer per question.
    Answer {
        /// The request's id.
        id: String,
        /// One answer per question, in order (an option, or free text).
        answers: Vec<String>,
    },
    /// Decline the pending question request `id`.
    Dismiss {
        /// The request's id.
        id: String,
    },
    /// Cancel the running turn (`session/cancel`), if one runs.
    Cancel,
}

/// What a host answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Done (a prompt: accepted, sent or queued).
    Ok,
    /// Not done, and why.
    Refused {
        /// What kind of refusal.
        why: Refusal,
        /// What happened and what to do, for people.
        message: String,
    },
}

/// Why a host refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// What it names is not there (a request already answered, by someone else perhaps).
    Gone,
    /// It makes no sense now (the request offers no option of that kind).
    Invalid,
    /// The agent failed to do it.
    Failed,
}

/// A short path to a file in a directory, valid while this value lives: the directory opened
/// (`O_PATH`), and the file's name under `/proc/self/fd/<fd>/`.
pub struct ShortPath {
    _dir: OwnedFd,
    path: PathBuf,
}

impl ShortPath {
    /// A short path to `file` (whose directory must exist).
    pub fn to(file: &Path) -> std::io::Result<ShortPath> {
        let dir = file.parent().unwrap_or(Path::new("."));
        let name = file.file_name().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} names no file", file.display()),
            )
        })?;
        let fd: OwnedFd = nix::fcntl::open(
            dir,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(std::io::Error::from)?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())).join(name);
        Ok(ShortPath { _dir: fd, path })
    }

    /// The path, for `bind` or `connect`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
