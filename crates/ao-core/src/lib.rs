//! The core of `ao`, an orchestrator for many coding-agent sessions.
//!
//! This crate names no coding agent and no terminal program but tmux. The plugin API (the
//! [`Agent`](agent::Agent) trait, the vocabulary an agent reports in, and what ao lends a plugin)
//! is the `ao-agent` crate; ao-core implements what it lends (the store behind a plugin's state)
//! and re-exports its modules at their old paths ([`agent`], [`blocking`], [`clock`], [`fault`],
//! [`home`], [`remote`], [`timing`], [`transcript`]). Its own modules:
//!
//! - [`config`]: `agent-orchestrator.yaml`, found, parsed and validated, with file:line:column errors;
//! - [`session`]: the vocabulary (ao-agent's), and [`SessionStatus`](session::SessionStatus),
//!   the JSON of `ao status --json`;
//! - [`seen`]: what one look at a session saw ([`Seen`](seen::Seen)), ao's typed model of its state,
//!   from which the JSON of `ao status` is made where ao prints or serves it;
//! - [`target`]: what a command names (every session, a session's address, a project or a name),
//!   parsed once, and the errors of one that names nothing;
//! - [`store`]: the SQLite database under the state home that remembers every session, so that each
//!   `ao` invocation (a new process) can find the sessions an earlier one started, the
//!   transitions, the monitors, and each plugin's typed state;
//! - [`runtime`]: the [`Runtime`](runtime::Runtime) trait and its two implementations, `tmux` and
//!   `process`, which decide where a session's program runs;
//! - [`workspace`]: one git work tree per session, or the project directory itself, what a
//!   session changed in it, and the one way ao runs git in an agent's tree;
//! - [`resources`]: what a session's processes cost (memory, CPU, age);
//! - [`manager`]: the [`SessionManager`](manager::SessionManager), the one place that combines
//!   runtime facts with agent facts;
//! - [`live`]: the live session model, which follows each project's change feed and yields every
//!   session again whenever it changes, for `ao watch` and every other live view;
//! - [`monitor`]: the per-project monitor, which records transitions, fires [`notify`]'s
//!   notifiers exactly once per real transition and enforces budgets;
//! - [`notify`]: the notifiers (a desktop notification, a command, a webhook) and what they get;
//! - [`report`]: the words of each action's outcome, one place for every surface that reports it;
//! - [`trust`]: which config files may run programs or read secrets (`ao trust`), and the gate
//!   that refuses those keys of the others;
//! - [`doctor`]: the checks of `ao doctor`, each with what to do about it;
//! - [`init`]: the commented config `ao init` writes for a directory;
//! - [`visible`]: text from outside (an agent's, a file's) with its control characters shown as
//!   escapes, for a terminal;
//! - [`error`]: ao-core's errors, typed for exit codes.
//!
//! Data flows one way: the CLI calls the manager, the manager reads the config and the store and asks
//! the runtime and the agent, and returns plain values that the CLI prints. No import circle in
//! this crate holds more than two files (tests/import_graph.rs measures it): a module split into
//! files keeps what they share in a leaf file of its own (`manager/session_manager.rs`,
//! `store/connection.rs`, `config/model.rs`, `runtime/interface.rs`, `workspace/git.rs`), and its
//! parent file is the module map and the public paths.
//! docs/architecture.md in the repository is the theory of operation.

pub mod config;
pub mod doctor;
pub mod error;
pub mod init;
pub mod live;
pub mod manager;
pub mod monitor;
pub mod notify;
pub mod report;
pub mod resources;
pub mod runtime;
pub mod seen;
pub mod session;
pub mod store;
pub mod target;
pub mod trust;
pub mod visible;
pub mod workspace;

// The plugin API lives in ao-agent; these are its modules at their old paths in ao-core.
pub use ao_agent::{agent, blocking, clock, container, fault, home, remote, timing, transcript};

pub use error::{Error, Result};
