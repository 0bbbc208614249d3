//! The session manager: the one place that combines runtime facts with agent facts.
//!
//! The CLI calls it for every command; it reads the config and the store, asks the runtime whether
//! each session's program runs and the agent what each session is doing, and returns plain values.
//! It is also the async boundary of ao-core: the store, the runtimes and git block, so it calls
//! them only through [`unblock`](crate::blocking::unblock) (docs/architecture.md, "Async").
//!
//! [`SessionManager`] and what every command shares (its agents bound to a project, its store and
//! runtimes off the async thread) are `session_manager`; each command or concern adds its methods
//! in a file of its own, which imports `session_manager` and the siblings it uses, never this
//! file. This file is the module map and the public paths.

mod abandoned;
mod ao_binary;
mod attach;
mod budget;
mod files;
mod fork;
mod interact;
mod kill;
mod monitors;
#[cfg(test)]
mod notify_tests;
mod resolve;
mod restore;
#[cfg(test)]
mod role_tests;
mod session_manager;
mod show;
mod spawn;
mod status;
#[cfg(test)]
pub(crate) mod tests;
mod transitions;
mod tui;
mod workspaces;

pub use ao_binary::AoBinary;
pub use budget::dollars;
pub use fork::ForkOptions;
pub use interact::{parse_until, QuestionReply, UNTIL_NOT_ACTIVE, WAIT_POLL_INTERVAL};
pub use kill::{KillOptions, KillReport, Killed, KilledWorkspace};
pub use monitors::{MonitorGroup, MONITOR_SUBCOMMAND};
pub use session_manager::{SessionManager, DEFAULT_STATUS_BUDGET};
pub use show::{SessionView, SHOWN_MESSAGES};
pub use spawn::{SpawnOptions, SpawnStep, Spawned};
pub use tui::{PANE_VIEW_SUBCOMMAND, UNWATCHED_TUI_GRACE};
