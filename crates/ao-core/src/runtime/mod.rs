//! Runtimes decide where a session's program runs: in a tmux session a person can attach to, or as
//! a detached background process.
//!
//! Every `ao` invocation is a new process, so a runtime never keeps state in memory: `create`
//! returns a serialisable [`RuntimeHandle`] that the store keeps, and every later operation finds the
//! program again from that handle alone.
//!
//! `interface` holds the [`Runtime`] trait and its types; `process` and `tmux` implement it and
//! import `interface`, never this file, which is the module map and the public paths.

mod interface;
pub mod process;
pub mod tmux;

pub use ao_agent::runtime::{LaunchSpec, RuntimeHandle};
pub use interface::{AttachCommand, Runtime, RuntimeError};
pub use process::ProcessRuntime;
pub use tmux::TmuxRuntime;
