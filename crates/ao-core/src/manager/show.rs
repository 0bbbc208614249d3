//! `ao show`: everything about one session: its status, its plan, the files it changed, its last
//! messages, what its processes cost, and the commands that act on it.

use serde::Serialize;

use super::session_manager::SessionManager;
use crate::agent::{MessageSummary, PlanItem, SessionContext};
use crate::blocking::unblock;
use crate::error::Result;
use crate::resources::{self, Resources};
use crate::session::{SessionRecord, SessionStatus};
use crate::workspace::FileChange;

/// How many of the last messages `ao show` gives.
pub const SHOWN_MESSAGES: usize = 5;

/// What `ao show` reports: the object of `ao status --json` and more.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    /// What `ao status` says about it.
    #[serde(flatten)]
    pub status: SessionStatus,
    /// The agent's plan (its todo list); `None` when it could not be read (`notes` says why).
    pub plan: Option<Vec<PlanItem>>,
    /// The files its work tree changed against its base; `None` without a work tree (`notes`).
    pub files: Option<Vec<FileChange>>,
    /// Its last few messages, oldest first; `None` when they could not be read (`notes`).
    pub messages: Option<Vec<MessageSummary>>,
    /// What its processes cost.
    pub resources: Resources,
    /// The command that shows its changes.
    pub diff_command: String,
    /// The command that stops it.
    pub kill_command: String,
    /// Why a part is missing, one line each, for people.
    pub notes: Vec<String>,
}

impl SessionManager {
    /// Everything about the one session `target` names. Parts that cannot be had (the plan of a
    /// session whose server is gone, the files of a deleted work tree) are left out and said why.
    pub async fn show(&self, target: &crate::target::Target) -> Result<SessionView> {
        let rec = self.resolve_one(target).await?;
        let status = self.look_one(&rec).await?.to_status();
        let ((plan, messages), files, resources) = futures_util::join!(
            self.plan_and_messages(&rec),
            self.files_of(&rec),
            self.resources_of(&rec),
        );
        let mut notes = Vec::new();
        let mut keep = |what: &str, e: String| notes.push(format!("{what}: {e}"));
        let plan = plan.map_err(|e| keep("plan", e)).ok();
        let messages = messages
            .map(|mut m| {
                let cut = m.len().saturating_sub(SHOWN_MESSAGES);
                m.split_off(cut)
            })
            .map_err(|e| keep("messages", e))
            .ok();
        let files = files.map_err(|e| keep("files", e.to_string())).ok();
        let id = rec.address.to_string();
        Ok(SessionView {
            status,
            plan,
            files,
            messages,
            resources,
            diff_command: format!("ao diff {id}"),
            kill_command: format!("ao kill {id}"),
            notes,
        })
    }

    /// The agent's plan for a session and its messages (oldest first), asked together; a
    /// failure is a note for people.
    async fn plan_and_messages(
        &self,
        rec: &SessionRecord,
    ) -> (
        std::result::Result<Vec<PlanItem>, String>,
        std::result::Result<Vec<MessageSummary>, String>,
    ) {
        let bound = match self.bind_session(rec) {
            Ok(b) => b,
            Err(e) => return (Err(e.to_string()), Err(e.to_string())),
        };
        let session = SessionContext {
            record: rec,
            home: &self.home,
        };
        let cx = bound.cx();
        let (plan, messages) = futures_util::join!(
            bound.agent.plan(&cx, session),
            bound.agent.messages(&cx, session)
        );
        (
            plan.map_err(|e| e.to_string()),
            messages.map_err(|e| e.to_string()),
        )
    }

    /// What a session's runtime processes and its agent's server cost.
    async fn resources_of(&self, rec: &SessionRecord) -> Resources {
        let roots = match rec.runtime_handle.clone() {
            Some(h) => self.on_runtime(rec.runtime, move |rt| rt.pids(&h)).await,
            None => Vec::new(),
        };
        let server = match self.bind_session(rec) {
            Ok(bound) => bound.agent.server_pid(&bound.cx()).await,
            Err(_) => None,
        };
        unblock(move || resources::measure(&roots, server)).await
    }
}
