//! Any agent that speaks the Agent Client Protocol (ACP: JSON-RPC over the agent's stdio), for ao.
//!
//! It depends on ao's plugin API (`ao-agent`) and the protocol's Rust SDK alone.
//!
//! An ACP agent lives only as long as the client that holds its stdio, and a session outlives
//! every `ao` command. So each session runs a small host (`ao agent-helper acp host …`): the
//! detached process of a process-runtime session, or the process in a tmux session's pane. The
//! host starts the agent, speaks the protocol, answers permission requests as configured, and
//! records what the protocol says in the session's private directory ([`record`]). The plugin
//! reads that record for `ao status` and asks the host nothing; it reaches the host through its
//! control socket ([`control`]) for `ao send`, `ao permit` and `ao kill`.

pub mod agent_process;
pub mod control;
pub mod host;
pub mod record;

/// The plugin's name in config and in the store.
pub const AGENT_NAME: &str = "acp";
