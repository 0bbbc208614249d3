//! The keys that tell a person about their sessions and stop the ones that cost too much, as ao
//! holds them: `notifyDebounceMs`, `notifications` (top level and per project) and `budget` (per
//! project or in `defaults`). `notify_reader` reads them from the file.

use std::fmt;

use super::yaml::Pos;
use crate::trust::Gated;

/// The default for `notifyDebounceMs`: a state that lasts less than this fires nothing.
pub const DEFAULT_NOTIFY_DEBOUNCE_MS: u64 = 1500;

/// The default for a notifier's `timeoutMs`.
pub const DEFAULT_NOTIFIER_TIMEOUT_MS: u64 = 10_000;

/// The states (and the one event) a notifier can fire on.
pub const NOTIFY_EVENTS: &[&str] = &[
    "waiting_input",
    "blocked",
    "ready",
    "idle",
    "exited",
    "budget",
];

/// One item of `notifications`: the events it fires on and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Notifier {
    /// The events it fires on, each one of [`NOTIFY_EVENTS`].
    pub on: Vec<String>,
    /// What it does; a command or a webhook only when its file is trusted.
    pub action: Gated<NotifierAction>,
    /// How long a command or a webhook may take before it is given up (a command is killed).
    pub timeout_ms: u64,
    /// Where it is written, `line:column`, so that a report can name it.
    pub at: Pos,
}

/// What a notifier does with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifierAction {
    /// Runs a program, the event's JSON on its standard input: an argv list, run as it is.
    Command(Vec<String>),
    /// Runs a string with `sh -c`, the event's JSON on its standard input.
    Shell(String),
    /// POSTs the event's JSON to an http(s) URL.
    Webhook(String),
    /// Shows a desktop notification with `notify-send`.
    Desktop,
}

impl fmt::Display for NotifierAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifierAction::Command(argv) => write!(
                f,
                "command {}",
                shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
            ),
            NotifierAction::Shell(s) => write!(f, "command `{s}`"),
            NotifierAction::Webhook(url) => write!(f, "webhook {url}"),
            NotifierAction::Desktop => f.write_str("desktop notification"),
        }
    }
}

impl Notifier {
    /// Whether it fires on `event` (`waiting_input`, `budget`…).
    pub fn fires_on(&self, event: &str) -> bool {
        self.on.iter().any(|e| e == event)
    }
}

/// A project's cost limits, in US dollars; `None` means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    /// The most one session may cost.
    pub session_usd: Option<f64>,
    /// The most the project's sessions may cost together.
    pub project_usd: Option<f64>,
}

impl Budget {
    /// This budget, each key it leaves unset taken from `defaults`.
    pub(super) fn or(self, defaults: Budget) -> Budget {
        Budget {
            session_usd: self.session_usd.or(defaults.session_usd),
            project_usd: self.project_usd.or(defaults.project_usd),
        }
    }
}
