//! The tmux runtime: each session's program runs in a tmux session of its own, which a person can
//! attach to.
//!
//! Theory of operation. `create` writes a launch script of mode 0600 into the session's private
//! directory (it holds the environment, which may carry secrets, so none of it reaches tmux's
//! argv) and starts a detached tmux session named `<project>/<name>` that runs `sh <script>`. The
//! tmux server owns the program; ao keeps only the socket name and the session name, and every later
//! `ao` finds it by name (`=name`, an exact match). The window keeps its pane when the program ends
//! (`remain-on-exit`), so a person can still read why it ended; such a pane counts as exited.
//! `AO_TMUX_SOCKET` picks a private server (`tmux -L <socket>`); without it, the user's default
//! server is used. `destroy` stops each pane's process group (by pid and start time) before it
//! kills the session, so no program of the session outlives it.
//!
//! A lazy session (`tmux: {tui: lazy}`, the default) runs ao's own view in its pane and the
//! agent's TUI only while someone looks: see [`tui`].
//!
//! `tmux_runtime` is [`TmuxRuntime`]; `tui` adds the lazy pane's methods and imports it. This
//! file is the module map and the public paths.

mod tmux_runtime;
pub mod tui;

pub use tmux_runtime::TmuxRuntime;
pub use tui::{CloseWhen, TuiOpened, TMUX_HOOK_SUBCOMMAND};
