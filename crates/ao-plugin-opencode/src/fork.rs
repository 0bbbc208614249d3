//! What `ao show` and `ao fork` ask of OpenCode: a session's plan (its todo list), its messages
//! in short, and a fork of its conversation into another directory.
//!
//! OpenCode 1.18.33 forks a conversation into the *source's* directory, and forks the whole of it
//! when the message named does not exist; so ao checks the message first, and then moves the fork
//! to its own work tree (`move-session`, without moving any changes: git carries those).

use ao_agent::agent::{
    AgentError, ForkRequest, MessageSummary, PlanItem, ProjectContext, SessionContext,
};

use crate::{agent_error, conversation_id, transcript, OpenCodeAgent};

impl OpenCodeAgent {
    /// The session's plan; empty when it has none.
    pub(crate) async fn plan_of(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<PlanItem>, AgentError> {
        let id = conversation_id(session.record)?;
        let client = self.up_client(cx).await?;
        let todos = client.todos(id).await.map_err(agent_error)?;
        Ok(todos.into_iter().map(PlanItem::from).collect())
    }

    /// The session's messages in short, oldest first.
    pub(crate) async fn messages_of(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<MessageSummary>, AgentError> {
        let id = conversation_id(session.record)?;
        let client = self.up_client(cx).await?;
        let messages = client.messages(id, None).await.map_err(agent_error)?;
        Ok(transcript::summaries(&messages))
    }

    /// A fork of the source's conversation working in `fork.workspace`; the server is started
    /// if it is gone, as for a restore.
    pub(crate) async fn fork_of(
        &self,
        cx: &ProjectContext<'_>,
        source: SessionContext<'_>,
        fork: ForkRequest<'_>,
    ) -> Result<String, AgentError> {
        let id = conversation_id(source.record)?;
        let client = self.servers.ensure(cx).await?.1.patient();
        if let Some(at) = fork.at {
            let messages = client.messages(id, None).await.map_err(agent_error)?;
            if !messages.iter().any(|m| m.info.id == at) {
                let list: Vec<String> = transcript::summaries(&messages)
                    .into_iter()
                    .map(|m| format!("  {}  {:<9}  {}", m.id, m.role, m.text))
                    .collect();
                return Err(AgentError::NotFound(format!(
                    "session {} has no message {at}; --at takes one of these (the fork keeps \
                     the messages before it):\n{}",
                    source.record.address,
                    list.join("\n")
                )));
            }
        }
        let forked = client.fork(id, fork.at).await.map_err(agent_error)?;
        let dir = fork.workspace.to_string_lossy();
        if let Err(e) = client.move_session(&forked.id, &dir).await {
            // A fork left in the source's directory would work on the source's files.
            let _ = client.delete_session(&forked.id).await;
            return Err(agent_error(e));
        }
        Ok(forked.id)
    }

    /// The pid of the project's server, while it runs.
    pub(crate) async fn server_pid_of(&self, cx: &ProjectContext<'_>) -> Option<u32> {
        let id = self.servers.identity(cx).await.ok().flatten()?;
        id.is_alive().then_some(id.pid)
    }
}
