//! Lazy tmux sessions (`tmux: {tui: lazy}`, the default), seen from the manager: what a session's
//! pane runs, and when the agent's TUI is opened and closed beside it. How tmux does it is
//! [`crate::runtime::tmux::tui`].
//!
//! ao-core does not know the binary that runs the pane's view: the CLI hands the manager an
//! [`AoBinary`](super::AoBinary). Without one (ao-core's own tests), a tmux pane runs the agent's
//! own program, as with `tui: always`.

use std::time::Duration;

use super::session_manager::SessionManager;
use crate::agent::{LaunchRole, SessionContext};
use crate::blocking::unblock;
use crate::config::TuiMode;
use crate::error::{Error, Result};
use crate::runtime::tmux::{CloseWhen, TuiOpened, TMUX_HOOK_SUBCOMMAND};
use crate::runtime::{LaunchSpec, RuntimeError, RuntimeHandle};
use crate::session::{RuntimeKind, SessionRecord};

/// The hidden subcommand of the `ao` binary that runs a lazy session's view in its pane:
/// `ao [global args] pane-view <address>`.
pub const PANE_VIEW_SUBCOMMAND: &str = "pane-view";

/// How long a TUI may stay open with no client before the view closes it (a client that switched
/// to another session, an `ao attach` killed before it attached). Longer than a TUI takes to start,
/// so that an `ao attach` still waiting for it to draw is never cut short.
pub const UNWATCHED_TUI_GRACE: Duration = Duration::from_secs(30);

/// Variables that describe the terminal a program runs in: a tmux pane sets its own.
const TERMINAL_VARS: &[&str] = &[
    "TMUX",
    "TMUX_PANE",
    "TERM",
    "TERM_PROGRAM",
    "TERM_PROGRAM_VERSION",
    "COLORTERM",
    "COLUMNS",
    "LINES",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
];

/// The variable that names the config file to every `ao` (`--config` wins over it).
const CONFIG_VARIABLE: &str = "AO_CONFIG";

impl SessionManager {
    /// Starts the session's program in its runtime, its files in the session's directory (which
    /// must exist); the handle goes into `rec`, for the caller to store. A lazy tmux session runs
    /// ao's view in its pane instead of `launch` when `launch` is only a view of the session (the
    /// agent's TUI: that opens on demand); a launch that keeps the session alive (a
    /// [`LaunchRole::Host`]) always runs in the pane, and its session is not marked lazy, so that
    /// `ao attach` attaches the pane as it is.
    pub(super) async fn start_runtime(
        &self,
        rec: &mut SessionRecord,
        mut launch: LaunchSpec,
        role: LaunchRole,
    ) -> Result<()> {
        // The session runs under this config, and so does an `ao` it starts (an agent's
        // `ao mcp`): a tmux pane would otherwise get whatever the tmux server was started with.
        if !launch.env.iter().any(|(k, _)| k == CONFIG_VARIABLE) {
            if let Ok(file) = std::path::absolute(&self.config.file) {
                launch
                    .env
                    .push((CONFIG_VARIABLE.into(), file.to_string_lossy().into_owned()));
            }
        }
        let name = rec.address.to_string();
        let dir = self
            .home
            .session_path(&rec.address.project, &rec.address.name);
        let lazy = role == LaunchRole::Viewer
            && rec.runtime == RuntimeKind::Tmux
            && self
                .config
                .project(&rec.address.project)
                .is_ok_and(|p| p.tui == TuiMode::Lazy);
        let handle = match (&self.ao_binary, lazy) {
            (Some(ao), true) => {
                let view = ao.launch(
                    PANE_VIEW_SUBCOMMAND,
                    &[&name],
                    rec.workspace.clone(),
                    pane_environment(),
                );
                let hook = vec![
                    ao.program.to_string_lossy().into_owned(),
                    TMUX_HOOK_SUBCOMMAND.to_string(),
                ];
                let rt = self.tmux.clone();
                unblock(move || rt.create_lazy(&name, &view, &dir, &hook)).await?
            }
            _ => {
                self.on_runtime(rec.runtime, move |rt| rt.create(&name, &launch, &dir))
                    .await?
            }
        };
        rec.runtime_handle = Some(handle);
        Ok(())
    }

    /// Opens the agent's TUI in a lazy tmux session's window, for `ao attach` (`need_client`
    /// false: the person's client attaches next) or for the key in the pane (`need_client`: a
    /// TUI that finds nobody attached is closed again). [`TuiOpened::NotLazy`] for any other
    /// session, which is attached as it is.
    pub(super) async fn open_tui_of(
        &self,
        rec: &SessionRecord,
        need_client: bool,
    ) -> Result<TuiOpened> {
        let Some(handle @ RuntimeHandle::Tmux { .. }) = rec.runtime_handle.clone() else {
            return Ok(TuiOpened::NotLazy);
        };
        let rt = self.tmux.clone();
        let h = handle.clone();
        if !unblock(move || rt.is_lazy_session(&h)).await? {
            return Ok(TuiOpened::NotLazy);
        }
        let bound = self.bind_session(rec)?;
        let session = SessionContext {
            record: rec,
            home: &self.home,
        };
        let spec = bound.agent.attach_launch(&bound.cx(), session).await?;
        let dir = session.dir();
        // A TUI that another client's detach closed while it started is opened again, once.
        for _ in 0..2 {
            let (rt, h, spec, dir) = (self.tmux.clone(), handle.clone(), spec.clone(), dir.clone());
            let opened = unblock(move || rt.open_tui(&h, &spec, &dir, need_client))
                .await
                .map_err(|e| match e {
                    RuntimeError::Launch(why) => Error::Runtime(RuntimeError::Launch(format!(
                        "{}'s TUI did not start for {}: {why}",
                        rec.agent, rec.address
                    ))),
                    other => other.into(),
                })?;
            if opened != TuiOpened::Closed || need_client {
                return Ok(opened);
            }
        }
        Ok(TuiOpened::Closed)
    }

    /// The key in a lazy session's pane: opens the agent's TUI beside ao's view and shows it to
    /// the clients attached (none: it is closed again at once).
    pub async fn open_tui(&self, target: &crate::target::Target) -> Result<TuiOpened> {
        let rec = self.resolve_one(target).await?;
        self.open_tui_of(&rec, true).await
    }

    /// Closes the session's TUI if no client has been attached to it for
    /// [`UNWATCHED_TUI_GRACE`] (`open_for`: how long it must have been open); returns whether it
    /// closed one. The view does this on its slow period, `ao attach` when it is interrupted.
    pub async fn close_unwatched_tui(&self, rec: &SessionRecord, open_for: Duration) -> bool {
        let Some(handle @ RuntimeHandle::Tmux { .. }) = rec.runtime_handle.clone() else {
            return false;
        };
        let rt = self.tmux.clone();
        unblock(move || rt.close_tui(&handle, CloseWhen::Unwatched { open_for }))
            .await
            .unwrap_or(false)
    }
}

/// The environment of a lazy session's view: this `ao`'s own (the view acts as it would, with the
/// same state home, tmux server and agent settings), less what describes its terminal. It goes
/// into the pane's 0600 launch script, never into tmux's argv.
fn pane_environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| !TERMINAL_VARS.contains(&k.as_str()) && is_shell_name(k))
        .collect()
}

/// Whether `export NAME=…` works in sh (a bash function's `BASH_FUNC_f%%` would not).
fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
