//! The core of `ao`, an orchestrator for many coding-agent sessions.
//!
//! This crate knows nothing about any particular coding agent or terminal program. It holds:
//!
//! - [`config`]: `agent-orchestrator.yaml`, found, parsed and validated, with file:line:column errors;
//! - [`session`]: the vocabulary (project, session, runtime, agent, activity, workspace) as plain values;
//! - [`seen`]: what one look at a session saw ([`Seen`](seen::Seen)), ao's typed model of its state,
//!   from which the JSON of `ao status` is made where ao prints or serves it;
//! - [`store`]: the SQLite database under the state home that remembers every session, so that each
//!   `ao` invocation (a new process) can find the sessions an earlier one started, and each
//!   plugin's typed state;
//! - [`runtime`]: the [`Runtime`](runtime::Runtime) trait and its two implementations, `tmux` and
//!   `process`, which decide where a session's program runs;
//! - [`agent`]: the [`Agent`](agent::Agent) trait a coding-agent plugin implements, and the
//!   contexts its calls get;
//! - [`blocking`]: the one boundary between async code and work that blocks;
//! - [`transcript`]: a session's conversation as `ao logs` shows it;
//! - [`workspace`]: one git work tree per session, or the project directory itself, and what a
//!   session changed in it;
//! - [`resources`]: what a session's processes cost (memory, CPU, age);
//! - [`manager`]: the [`SessionManager`](manager::SessionManager), the one place that combines
//!   runtime facts with agent facts;
//! - [`live`]: the live session model, which follows each project's change feed and yields every
//!   session again whenever it changes, for `ao watch` and every other live view;
//! - [`monitor`]: the per-project monitor, which records transitions, fires [`notify`]'s
//!   notifiers exactly once per real transition and enforces budgets;
//! - [`remote`]: where a project's agent server lives (here, at a URL, over SSH), and the SSH
//!   connection that reaches a host;
//! - [`trust`]: which config files may run programs or read secrets (`ao trust`), and the gate
//!   that refuses those keys of the others;
//! - [`doctor`]: the checks of `ao doctor`, each with what to do about it;
//! - [`init`]: the commented config `ao init` writes for a directory.
//!
//! Data flows one way: the CLI calls the manager, the manager reads the config and the store and asks
//! the runtime and the agent, and returns plain values that the CLI prints. docs/architecture.md in
//! the repository is the theory of operation.

pub mod agent;
pub mod blocking;
pub mod clock;
pub mod config;
pub mod doctor;
pub mod error;
pub mod fault;
pub mod home;
pub mod init;
pub mod live;
pub mod manager;
pub mod monitor;
pub mod notify;
pub mod remote;
pub mod report;
pub mod resources;
pub mod runtime;
pub mod seen;
pub mod session;
pub mod store;
pub mod timing;
pub mod transcript;
pub mod trust;
pub mod visible;
pub mod workspace;

pub use error::{Error, Result};
