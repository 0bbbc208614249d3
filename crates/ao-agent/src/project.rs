//! What an agent may know of a project, and of a work tree it makes.

use std::path::PathBuf;

use crate::config::AgentConfig;
use crate::remote::Location;

/// A project as its agent sees it: ao-core builds one from its own project config when it binds
/// an agent to the project, leaving out what is ao's alone (notifiers, budgets, the runtime).
#[derive(Debug, Clone)]
pub struct Project {
    /// The project's name, the first half of a session address `<project>/<name>`.
    pub name: String,
    /// The project's directory, absolute; on another machine, a directory there, as written.
    pub path: PathBuf,
    /// Settings handed to the agent plugin (`agentConfig`).
    pub agent_config: AgentConfig,
    /// Where its agent server lives (`server:`, `host:`).
    pub location: Location,
    /// The container its agent's server runs in (`container:`), for a server the plugin starts
    /// on this machine; `None`: on the machine as it is.
    pub container: Option<crate::container::ContainerSettings>,
    /// Where its sessions work: work trees of their own under the state home, or the project
    /// directory itself (`workspace: none`). A container mounts the one its sessions use.
    pub workspace: crate::session::WorkspaceKind,
}

/// A git work tree made for a session.
#[derive(Debug, Clone)]
pub struct Worktree {
    /// Its directory.
    pub path: PathBuf,
    /// Its branch, `ao/<name>`.
    pub branch: String,
}
