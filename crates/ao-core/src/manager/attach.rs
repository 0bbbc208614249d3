//! `ao attach`: the command that attaches the user's terminal to a session.

use super::session_manager::SessionManager;
use crate::agent::SessionContext;
use crate::error::{Error, Result};
use crate::runtime::AttachCommand;
use crate::session::Lifecycle;
use crate::target::Target;

impl SessionManager {
    /// The command that attaches the user's terminal to a session: the runtime's own (tmux), or the
    /// agent's UI client for runtimes without a terminal. A lazy tmux session gets the agent's TUI
    /// opened first (`manager::tui`): an error when it does not start, and the pane keeps ao's view.
    pub async fn attach(&self, target: &Target) -> Result<AttachCommand> {
        let rec = self.resolve_one(target).await?;
        if rec.lifecycle != Lifecycle::Live {
            return Err(Error::Conflict(format!(
                "session {} is not running; `ao restore {}` brings it back",
                rec.address, rec.address
            )));
        }
        if let Some(handle) = rec.runtime_handle.clone() {
            self.open_tui_of(&rec, false).await?;
            let cmd = self
                .on_runtime(rec.runtime, move |rt| rt.attach_command(&handle))
                .await?;
            if let Some(cmd) = cmd {
                return Ok(cmd);
            }
        }
        let bound = self.bind_session(&rec)?;
        let session = SessionContext {
            record: &rec,
            home: &self.home,
        };
        let spec = bound.agent.attach_launch(&bound.cx(), session).await?;
        Ok(AttachCommand {
            program: spec.program,
            args: spec.args,
            env: spec.env,
            env_remove: vec![],
        })
    }
}
