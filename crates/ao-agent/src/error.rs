//! What can go wrong with the state ao lends a plugin (its state home, its typed state), and how
//! an error is told to a person.

use std::path::PathBuf;

/// ao's state home or store could not be used. ao-core turns each kind into its own error of the
/// same words, so a message reads the same whoever met it.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state home cannot be found, or is not safe to use (others can write in it): the
    /// person's to fix.
    #[error("{0}")]
    Usage(String),
    /// A file or directory under the state home could not be used.
    #[error("{what} {path}: {source}{}", io_hint(.source))]
    Io {
        /// What was being done, e.g. "cannot create".
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be used, or holds a value that cannot be read or written.
    #[error("session store {path}: {message}")]
    Store {
        /// The database file.
        path: PathBuf,
        /// What failed, and what to do.
        message: String,
    },
}

impl StateError {
    /// True when the error is the person's to fix (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, StateError::Usage(_))
    }

    /// A file or directory that could not be used.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StateError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// What to say about a full disk.
pub const DISK_FULL: &str = "; the disk is full: free some space and run the command again";
/// What to say about a state home that cannot be written.
pub const READ_ONLY: &str =
    "; the state home is read-only: make it writable, or set AO_HOME to a writable directory";

/// What to do about a file of the state home that failed, for the failures a person can fix.
pub fn io_hint(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::StorageFull | K::QuotaExceeded => DISK_FULL,
        K::ReadOnlyFilesystem | K::PermissionDenied => READ_ONLY,
        _ => "",
    }
}

/// An error and its causes, `: `-separated, each said once (many errors repeat their cause in
/// their own message; reqwest's names only the URL, and what failed is further down).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut said = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !said.contains(&text) {
            said = format!("{said}: {text}");
        }
        cause = c.source();
    }
    said
}
