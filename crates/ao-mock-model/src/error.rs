//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while loading a scenario or starting the mock.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// The scenario file could not be read.
    #[error("cannot read scenario file {}: {source}", path.display())]
    ScenarioRead {
        /// The file that was being read.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// The scenario file is not valid JSON, or does not have the scenario shape.
    #[error("invalid scenario file {}: {source}", path.display())]
    ScenarioParse {
        /// The file that was being parsed.
        path: PathBuf,
        /// The parse error, which carries the line and column.
        source: serde_json::Error,
    },
    /// A scenario given as a JSON string is not valid JSON or has the wrong shape.
    #[error("invalid scenario JSON: {0}")]
    ScenarioJson(#[source] serde_json::Error),
    /// The scenario parsed but makes no sense (e.g. a script with an empty `match`).
    #[error("invalid scenario{}: {message}", origin.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    InvalidScenario {
        /// The file the scenario came from, when it came from a file.
        origin: Option<PathBuf>,
        /// What is wrong with it.
        message: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The requested port (0 = any free port).
        port: u16,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// The request record file could not be opened for appending.
    #[error("cannot open record file {}: {source}", path.display())]
    RecordFile {
        /// The record file.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// The background runtime or thread of [`crate::BlockingMockModel`] could not be started.
    #[error("cannot start the mock server runtime: {0}")]
    Runtime(#[source] io::Error),
}
