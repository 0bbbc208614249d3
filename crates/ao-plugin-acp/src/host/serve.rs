//! The open session's loop: prompts (one turn at a time, the rest queued), the agent's updates
//! and permission requests, control requests, the agent's exit and stop signals.

use std::collections::VecDeque;
use std::future::Future;

use agent_client_protocol::v1::schema::{
    CancelNotification, ContentBlock, PromptRequest, PromptResponse, RequestPermissionOutcome,
    RequestPermissionRequest, RequestPermissionResponse, SelectedPermissionOutcome, SessionId,
    SessionNotification, SessionUpdate, TextContent, ToolCallStatus as AcpToolCallStatus,
};
use agent_client_protocol::{v1::ConnectionTo, v1::Responder, Agent, BoxFuture};
use ao_agent::agent::PermitDecision;
use tokio::process::Child;
use tokio::sync::mpsc;

#[path = "asking.rs"]
mod asking;
#[path = "turn_end.rs"]
mod turn_end;

use super::codex;
use super::control_server;
use super::fold::{self, TurnIds};
use super::pane::Pane;
use super::permission;
use super::recorder::Recorder;
use super::{now, status_text, AgentEvent, Ending, Failure, Stop, StopSignals};
use crate::control::{Refusal, Request, Response};
use crate::record::{ConversationLine, ConversationPart, HostLaunch, HostPhase};

type PromptResult = Result<PromptResponse, agent_client_protocol::Error>;

/// An open session and what the host keeps of it.
pub(super) struct Session<'a> {
    cx: ConnectionTo<Agent>,
    session_id: SessionId,
    launch: &'a HostLaunch,
    recorder: &'a mut Recorder,
    pane: &'a mut Pane,
    /// Turns so far, over the whole conversation (a restored one counts on).
    turns: u64,
    ids: TurnIds,
    /// Whether the agent reported a cost of its own (then a configured price is not used).
    agent_cost: bool,
    /// Whether a tool ran in the running turn (its result went back to the model, so the turn
    /// took more than one model step).
    tools_this_turn: bool,
    /// The calls of the running turn whose permission request got a reject: they never ran.
    rejected_this_turn: Vec<String>,
    /// The calls of the running turn the agent reported completed or failed.
    closed_this_turn: Vec<String>,
    /// The running prompt.
    prompt: Option<BoxFuture<'static, PromptResult>>,
    /// Codex's rollout file, read after each turn (`None` for other agents, and while `settling`
    /// holds it).
    rollout: Option<codex::RolloutReader>,
    /// A prompt that has answered, and the rollout read that its turn's end waits for.
    settling: Option<(turn_end::Settling, PromptResult)>,
    /// Prompts sent while a turn ran, in order.
    queue: VecDeque<String>,
    /// Responders of the permission requests waiting for a person, by request id.
    waiting: Vec<(String, Responder<RequestPermissionResponse>)>,
    /// The connection closed while a turn ran: the agent's exit, when it comes, is mid-turn.
    closed_mid_turn: bool,
    /// The agent's questions waiting for a person, oldest first.
    asked: Vec<asking::Asked>,
    /// Questions asked so far (for their ids).
    asked_so_far: u64,
}

/// Waits for the future in `slot`, or forever when there is none.
async fn maybe<F: Future + Unpin>(slot: &mut Option<F>) -> F::Output {
    match slot {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

fn refused(why: Refusal, message: String) -> Response {
    Response::Refused { why, message }
}

impl<'a> Session<'a> {
    /// A session that is open (phase `open`).
    pub(super) async fn new(
        cx: ConnectionTo<Agent>,
        session_id: SessionId,
        launch: &'a HostLaunch,
        recorder: &'a mut Recorder,
        pane: &'a mut Pane,
    ) -> Session<'a> {
        let turns = recorder.turns_so_far().await;
        let codex_home = codex::codex_home(&launch.env, &launch.cwd)
            .filter(|_| codex::is_codex(recorder.record.agent.as_ref()));
        let rollout = match codex_home {
            // One whole read: a loaded session's earlier aborts and cut tasks count.
            Some(home) => {
                let id = session_id.0.to_string();
                Some(
                    ao_agent::blocking::unblock(move || codex::RolloutReader::open(home, id)).await,
                )
            }
            None => None,
        };
        Session {
            cx,
            session_id,
            launch,
            recorder,
            pane,
            turns,
            ids: TurnIds::new(turns),
            agent_cost: false,
            tools_this_turn: false,
            rejected_this_turn: Vec::new(),
            closed_this_turn: Vec::new(),
            prompt: None,
            rollout,
            settling: None,
            queue: VecDeque::new(),
            waiting: Vec::new(),
            closed_mid_turn: false,
            asked: Vec::new(),
            asked_so_far: 0,
        }
    }

    /// Serves the session until the agent ends or the host is asked to stop.
    pub(super) async fn serve(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<AgentEvent>,
        child: &mut Child,
        stop: &mut StopSignals,
    ) -> Result<Ending, Failure> {
        let socket = self.recorder.files().socket();
        let mut control = control_server::serve(&socket).await.map_err(|e| {
            Failure::new(
                "ControlSocket",
                format!("cannot listen on {}: {e}", socket.display()),
            )
        })?;
        // Open only once the socket is there: a client that reads `open` can connect.
        self.recorder.record.phase = HostPhase::Open;
        self.save().await?;
        loop {
            let flush_at = self.recorder.flush_at();
            // Biased, updates first: the SDK queues a turn's updates before its prompt's answer
            // resolves, and the record must see them in that order.
            tokio::select! {
                biased;
                Some(event) = events.recv() => self.on_event(event).await?,
                Some((request, reply)) = control.recv() => {
                    let response = self.on_control(request).await?;
                    let _ = reply.send(response);
                }
                result = maybe(&mut self.prompt) => {
                    self.prompt = None;
                    self.on_prompt_answer(result).await?;
                }
                (reader, sum) = turn_end::settled(&mut self.settling) => {
                    self.rollout = Some(reader);
                    if let Some((_, result)) = self.settling.take() {
                        self.on_prompt_end(result, Some(sum)).await?;
                    }
                }
                status = child.wait() => {
                    // A turn whose end waits for Codex's rollout has not been recorded either.
                    let mid_turn = self.busy() || self.closed_mid_turn;
                    if mid_turn {
                        // The turn's report never came: what it spent is unknown.
                        self.spent_unknown();
                    }
                    return Ok(Ending::AgentExited { mid_turn, status: status_text(&status) });
                }
                signal = stop.next() => match signal {
                    Stop::Shutdown => return self.shutdown(events).await,
                    Stop::Interrupt => self.interrupt().await?,
                },
                () = async {
                    match flush_at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => self.save().await?,
            }
        }
    }

    async fn on_event(&mut self, event: AgentEvent) -> Result<(), Failure> {
        match event {
            AgentEvent::Update(update) => self.on_update(update).await,
            AgentEvent::Permission(request, responder) => {
                self.on_permission(request, responder).await
            }
            AgentEvent::Question(request, responder) => {
                self.on_elicitation(request, responder).await
            }
        }
    }

    async fn save(&mut self) -> Result<(), Failure> {
        self.recorder
            .save()
            .await
            .map_err(|e| Failure::new("HostRecord", e.to_string()))
    }

    async fn append(&mut self, lines: &[ConversationLine]) -> Result<(), Failure> {
        for line in lines {
            self.pane.line(line);
        }
        self.recorder
            .append(lines)
            .await
            .map_err(|e| Failure::new("HostRecord", e.to_string()))
    }

    async fn on_update(&mut self, notification: SessionNotification) -> Result<(), Failure> {
        let at = now();
        let ended = match &notification.update {
            SessionUpdate::ToolCall(call) => Some((&call.tool_call_id, Some(call.status))),
            SessionUpdate::ToolCallUpdate(u) => Some((&u.tool_call_id, u.fields.status)),
            _ => None,
        };
        if let Some((id, status)) = ended {
            let rejected = self.rejected_this_turn.iter().any(|r| *r == id.0.as_ref());
            self.tools_this_turn |= fold::tool_ran(status, rejected);
            if matches!(
                status,
                Some(AcpToolCallStatus::Completed | AcpToolCallStatus::Failed)
            ) {
                self.closed_this_turn.push(id.to_string());
            }
        }
        let folded = fold::update(
            &notification.update,
            &mut self.recorder.record,
            &mut self.ids,
            &mut self.agent_cost,
            at,
        );
        self.append(&folded.lines).await?;
        if folded.shown {
            self.recorder.record.last_activity_at = Some(at);
            self.save().await
        } else {
            self.recorder
                .touch(at)
                .await
                .map_err(|e| Failure::new("HostRecord", e.to_string()))
        }
    }

    async fn on_permission(
        &mut self,
        request: RequestPermissionRequest,
        responder: Responder<RequestPermissionResponse>,
    ) -> Result<(), Failure> {
        let at = now();
        let pending = permission::pending(&request, at);
        let answer = self.launch.permission.answer(pending.kind);
        if let Some(option) = permission::by_policy(answer, &pending.options) {
            self.pane.note(&format!(
                "permission {} [{}] {}: {answer} by agentConfig.permission",
                pending.id,
                pending.kind.map(|k| k.to_string()).unwrap_or_default(),
                pending.title
            ));
            if permission::is_reject(&pending.options, &option) {
                self.rejected_this_turn.push(pending.id.clone());
            }
            let _ = responder.respond(selected(option));
            self.recorder.record.last_activity_at = Some(at);
            return self.save().await;
        }
        // The same call asked again: the new request replaces the old one.
        if let Some(index) = self.waiting.iter().position(|(id, _)| *id == pending.id) {
            let (_, old) = self.waiting.remove(index);
            let _ = old.respond(cancelled());
            self.recorder.record.pending.retain(|p| p.id != pending.id);
        }
        self.pane.waiting(&pending);
        self.waiting.push((pending.id.clone(), responder));
        self.recorder.record.pending.push(pending);
        self.recorder.record.last_activity_at = Some(at);
        self.save().await
    }

    async fn on_control(&mut self, request: Request) -> Result<Response, Failure> {
        Ok(match request {
            Request::Prompt { text } => {
                if self.busy() {
                    self.pane.note(&format!(
                        "prompt queued behind the running turn ({} waiting)",
                        self.queue.len() + 1
                    ));
                    self.queue.push_back(text);
                } else {
                    self.start_turn(text).await?;
                }
                Response::Ok
            }
            Request::Permit { id, decision } => self.permit(&id, decision).await?,
            Request::Answer { id, answers } => self.answer(&id, &answers).await?,
            Request::Dismiss { id } => self.dismiss(&id).await?,
            Request::Cancel => {
                self.cancel().await?;
                Response::Ok
            }
        })
    }

    async fn permit(&mut self, id: &str, decision: PermitDecision) -> Result<Response, Failure> {
        let Some(index) = self.waiting.iter().position(|(waiting, _)| waiting == id) else {
            return Ok(refused(
                Refusal::Gone,
                format!("no permission request {id} is waiting (answered already?)"),
            ));
        };
        let Some(pending) = self.recorder.record.pending.iter().find(|p| p.id == id) else {
            return Ok(refused(
                Refusal::Gone,
                format!("no permission request {id} is waiting"),
            ));
        };
        let Some(option) = permission::by_decision(decision, &pending.options) else {
            let offered: Vec<String> = pending
                .options
                .iter()
                .map(|o| format!("{} ({})", o.name, o.kind))
                .collect();
            return Ok(refused(
                Refusal::Invalid,
                format!(
                    "request {id} offers no option to answer `{decision}`; it offers {}",
                    offered.join(", ")
                ),
            ));
        };
        if permission::is_reject(&pending.options, &option) {
            self.rejected_this_turn.push(id.to_string());
        }
        let (_, responder) = self.waiting.remove(index);
        let _ = responder.respond(selected(option.clone()));
        self.recorder.record.pending.retain(|p| p.id != id);
        self.pane
            .note(&format!("permission {id}: {option} (ao permit)"));
        self.recorder.record.last_activity_at = Some(now());
        self.save().await?;
        Ok(Response::Ok)
    }

    /// Cancels the running turn (if any): `session/cancel`, waiting requests answered
    /// cancelled, queued prompts dropped. The turn ends when the agent answers the prompt.
    async fn cancel(&mut self) -> Result<(), Failure> {
        self.drop_queue().await?;
        for (_, responder) in self.waiting.drain(..) {
            let _ = responder.respond(cancelled());
        }
        self.recorder.record.pending.clear();
        self.cancel_questions().await?;
        if self.prompt.is_some() {
            self.pane.note("cancelling the turn");
            let _ = self
                .cx
                .send_notification(CancelNotification::new(self.session_id.clone()));
        }
        self.save().await
    }

    /// Says which queued prompts a cancel drops (they were acknowledged to `ao send`, never
    /// sent): a pane note, and a conversation line each, so that `ao logs` shows them.
    async fn drop_queue(&mut self) -> Result<(), Failure> {
        if self.queue.is_empty() {
            return Ok(());
        }
        let dropped: Vec<String> = self.queue.drain(..).collect();
        self.pane.note(&format!(
            "the cancel drops {} queued prompt(s), not sent to the agent",
            dropped.len()
        ));
        let at = now();
        let lines: Vec<ConversationLine> = dropped
            .into_iter()
            .enumerate()
            .map(|(k, text)| ConversationLine {
                id: format!("t{}-unsent-{}", self.turns, k + 1),
                at,
                part: ConversationPart::Unsent { text },
            })
            .collect();
        self.append(&lines).await
    }

    /// A turn ended without a report of what it spent: the tokens are unknown from now on, and
    /// so is a cost the host works out from them (not one the agent reports itself).
    fn spent_unknown(&mut self) {
        self.recorder.record.tokens = None;
        if !self.agent_cost && self.launch.price.is_some() {
            self.recorder.record.cost_usd = None;
        }
    }

    /// SIGINT (Ctrl-C in an attached pane): cancels the running turn, not the session.
    async fn interrupt(&mut self) -> Result<(), Failure> {
        self.pane
            .note("Ctrl-C cancels the running turn; `ao kill <session>` ends the session");
        self.cancel().await
    }

    /// Whether a turn runs, or its end waits for Codex's rollout.
    fn busy(&self) -> bool {
        self.prompt.is_some() || self.settling.is_some()
    }

    /// Cancels the turn, lets the agent answer it (and Codex write its end) for
    /// [`super::CANCEL_GRACE`] each, and ends.
    /// What the agent sends before it answers the cancel (the turn's last updates) is recorded
    /// first, in order, as in the main loop.
    async fn shutdown(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<AgentEvent>,
    ) -> Result<Ending, Failure> {
        self.pane.note("shutting down");
        self.cancel().await?;
        if self.prompt.is_some() {
            let grace = tokio::time::sleep(super::CANCEL_GRACE);
            tokio::pin!(grace);
            let answered = loop {
                tokio::select! {
                    biased;
                    Some(event) = events.recv() => self.on_event(event).await?,
                    result = maybe(&mut self.prompt) => break Some(result),
                    () = &mut grace => break None,
                }
            };
            match answered {
                Some(result) => {
                    self.prompt = None;
                    self.queue.clear();
                    self.on_prompt_answer(result).await?;
                }
                // The turn was cut: its report never comes, so what it spent is unknown.
                None => self.spent_unknown(),
            }
        }
        if self.settling.is_some() {
            let read =
                tokio::time::timeout(super::CANCEL_GRACE, turn_end::settled(&mut self.settling));
            let sum = read.await.map(|(_, sum)| sum).unwrap_or(None);
            if let Some((_, result)) = self.settling.take() {
                self.queue.clear();
                self.on_prompt_end(result, Some(sum)).await?;
            }
        }
        Ok(Ending::Shutdown)
    }

    async fn start_turn(&mut self, text: String) -> Result<(), Failure> {
        self.turns += 1;
        self.ids = TurnIds::new(self.turns);
        let at = now();
        let user = ConversationLine {
            id: self.ids.user(),
            at,
            part: ConversationPart::User { text: text.clone() },
        };
        self.append(&[user]).await?;
        let request = PromptRequest::new(
            self.session_id.clone(),
            vec![ContentBlock::Text(TextContent::new(text))],
        );
        self.tools_this_turn = false;
        self.rejected_this_turn.clear();
        self.closed_this_turn.clear();
        if let Some(mut reader) = self.rollout.take() {
            // Codex's task for this prompt is one that starts after what the file holds now.
            let marked = ao_agent::blocking::unblock(move || {
                reader.turn_sent();
                reader
            });
            self.rollout = Some(marked.await);
        }
        self.prompt = Some(Box::pin(self.cx.send_request(request).block_task()));
        self.recorder.record.phase = HostPhase::Turn { since: at };
        self.recorder.record.last_activity_at = Some(at);
        self.save().await
    }
}

fn selected(option: String) -> RequestPermissionResponse {
    RequestPermissionResponse::new(RequestPermissionOutcome::Selected(
        SelectedPermissionOutcome::new(option),
    ))
}

fn cancelled() -> RequestPermissionResponse {
    RequestPermissionResponse::new(RequestPermissionOutcome::Cancelled)
}
