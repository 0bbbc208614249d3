//! The plugin API of `ao`: everything a coding-agent plugin implements and may use, and nothing
//! else. A plugin depends on this crate alone; ao-core implements what it lends (the store behind
//! [`state`]) and calls the plugin through [`agent::Agent`].
//!
//! What a plugin implements:
//!
//! - [`agent`]: the [`Agent`](agent::Agent) trait, the contexts its calls get
//!   ([`ProjectContext`](agent::ProjectContext), [`SessionContext`](agent::SessionContext)) and
//!   what they return; [`AgentError`](agent::AgentError), its errors;
//! - [`config`]: the view of an `agentConfig` value it checks, and the problems it reports.
//!
//! The vocabulary it reports in:
//!
//! - [`session`]: a session's address and stored record, its activity, pending requests, errors,
//!   tokens and plan count;
//! - [`transcript`]: a conversation as `ao logs` shows it;
//! - [`doctor`]: a finding of `ao doctor`, and how to look at a program;
//! - [`project`]: what an agent may know of a project, and a work tree.
//!
//! The services ao lends it:
//!
//! - [`state`]: its typed state in ao's store ([`PluginState`](state::PluginState));
//! - [`home`]: the state home: the session's private directory, secrets, locks, atomic writes;
//! - [`runtime`]: what the runtime runs ([`LaunchSpec`](runtime::LaunchSpec)), and
//!   [`runtime::process`], a detached helper process found again by pid and start time;
//! - [`container`]: a project's agent server in a container (podman or docker);
//! - [`remote`]: where the project's server lives (here, at a URL, over SSH), and [`remote::ssh`],
//!   the multiplexed SSH connection to a host;
//! - [`trust`]: a value of a config key that is usable only when its file is trusted;
//! - [`clock`], [`blocking`] (the one boundary between async code and work that blocks),
//!   [`timing`] (`AO_TIMING` phases), [`fault`] (the fault tests' crash and pause points), and
//!   [`error`] (the state's errors, and an error told with its causes).
//!
//! docs/architecture.md ("A plugin") says what a plugin implements and may use, with the OpenCode
//! plugin as the worked example.

pub mod agent;
pub mod blocking;
pub mod clock;
pub mod config;
pub mod container;
pub mod doctor;
pub mod error;
pub mod fault;
pub mod home;
pub mod project;
pub mod remote;
pub mod runtime;
pub mod session;
pub mod state;
pub mod timing;
pub mod transcript;
pub mod trust;
