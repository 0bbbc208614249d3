//! The errors of ao-core, typed so that the CLI can map them to exit codes and callers can match.

use std::path::{Path, PathBuf};

pub use ao_agent::error::{chain, StateError};
use ao_agent::error::{io_hint, DISK_FULL, READ_ONLY};

/// A result with ao-core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in ao-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file is missing or wrong. The message names file:line:column where known.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),

    /// The person's request is wrong as asked: ambiguous (a name several sessions have), or not
    /// something ao does. Never an internal failure. Exit code 2; the dashboard answers 400.
    #[error("{0}")]
    Usage(String),

    /// The target names no session or project there is (a session another `ao` purged, a typo).
    /// The person's to fix, like [`Error::Usage`]; the dashboard answers it with 404.
    #[error("{0}")]
    NotFound(String),

    /// The session's state does not allow the request now: nothing is pending, it was killed, it
    /// was never fully spawned, it is over its budget, its name is taken. The person's to fix;
    /// the dashboard answers it with 409.
    #[error("{0}")]
    Conflict(String),

    /// Something ao itself could not do that no request can change (its own process could not
    /// be read, it was built without an agent). Exit code 1; the dashboard answers 500.
    #[error("{0}")]
    Internal(String),

    /// The session store could not be opened, read or written.
    #[error("session store {path}: {source}{}", store_hint(.path, .source))]
    Store {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },

    /// The store holds a value this ao cannot read or write (never guessed at).
    #[error("session store {path}: {message}")]
    StoreData {
        /// The database file.
        path: PathBuf,
        /// Which value, and what to do.
        message: String,
    },

    /// A runtime (tmux, process) failed.
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),

    /// The agent plugin failed.
    #[error("{0}")]
    Agent(#[from] ao_agent::agent::AgentError),

    /// A work tree could not be created or removed.
    #[error("{0}")]
    Workspace(#[from] crate::workspace::WorkspaceError),

    /// A key that runs a program or reads a secret, in a config file that is not trusted
    /// (ao-core's `trust`). The person's to decide: exit code 2.
    #[error(transparent)]
    Untrusted(#[from] ao_agent::trust::Untrusted),

    /// A host could not be reached over ssh, or a command there failed.
    #[error("{0}")]
    Remote(#[from] ao_agent::remote::ssh::SshError),

    /// `ao wait` gave up: the session exited first, or the time ran out.
    #[error("{0}")]
    Wait(String),

    /// A file or directory under the state home could not be used.
    #[error("{what} {path}: {source}{}", io_hint(.source))]
    Io {
        /// What ao was doing, e.g. "cannot create".
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// True when the error is the person's to fix in their command line, config or the session's
    /// state (exit code 2); never for a failure of ao's or of what it runs on.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::Usage(_)
                | Error::NotFound(_)
                | Error::Conflict(_)
                | Error::Untrusted(_)
                | Error::Remote(ao_agent::remote::ssh::SshError::Untrusted(_))
        )
    }

    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// What to do about a store that failed, for the failures a person can fix.
///
/// SQLite reports a full or read-only file system in several ways (a write to its shared-memory
/// file on a full disk is a plain I/O error; a read-only directory makes it unable to open the
/// database), so where the code is vague the directory itself is asked.
pub(crate) fn store_hint(path: &Path, e: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode as C;
    const DAMAGED: &str = "; the file is damaged (ao has left it as it is): move it aside to \
                           start with an empty store, or put back a backup";
    let rusqlite::Error::SqliteFailure(f, _) = e else {
        return "";
    };
    match f.code {
        // ao never writes over a file it cannot read as its own: what is in it stays there.
        C::NotADatabase | C::DatabaseCorrupt => DAMAGED,
        C::DiskFull => DISK_FULL,
        C::ReadOnly => READ_ONLY,
        C::CannotOpen | C::PermissionDenied | C::SystemIoFailure => {
            let dir = path.parent().unwrap_or(path);
            if disk_full(dir) {
                DISK_FULL
            } else if !writable(dir) {
                READ_ONLY
            } else if f.code == C::SystemIoFailure {
                ""
            } else {
                "; make the state home readable and writable, or set AO_HOME to a writable \
                 directory"
            }
        }
        _ => "",
    }
}

/// Whether the file system holding `dir` has no space left for an unprivileged write.
fn disk_full(dir: &Path) -> bool {
    nix::sys::statvfs::statvfs(dir).is_ok_and(|v| v.blocks_available() == 0)
}

/// Whether this process may create files in `dir`.
fn writable(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

impl From<StateError> for Error {
    /// The state home's and a plugin state's errors, as ao-core's own of the same words.
    fn from(e: StateError) -> Self {
        match e {
            StateError::Usage(message) => Error::Usage(message),
            StateError::Io { what, path, source } => Error::Io { what, path, source },
            StateError::Store { path, message } => Error::StoreData { path, message },
        }
    }
}

impl From<ao_agent::runtime::process::SpawnError> for Error {
    fn from(e: ao_agent::runtime::process::SpawnError) -> Self {
        Error::Runtime(e.into())
    }
}

impl From<crate::config::NoSuchProject> for Error {
    fn from(e: crate::config::NoSuchProject) -> Self {
        Error::NotFound(e.0)
    }
}

/// What is said of a word that names none of a kind's values: `unknown runtime "x"; use tmux or
/// process`, the allowed words being the kind's own (its derived `VARIANTS`).
pub fn unknown_word(what: &str, word: &str, allowed: &[&str]) -> String {
    let list = match allowed {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    };
    format!("unknown {what} {word:?}; use {list}")
}
