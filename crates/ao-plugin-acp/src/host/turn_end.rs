//! The end of a turn: the prompt's answer, Codex's rollout read (the host serves on while it is
//! read), and what the turn spent, cost and left open.

use agent_client_protocol::BoxFuture;
use ao_agent::clock::EpochMillis;
use ao_agent::session::Tokens;

use super::{cancelled, PromptResult, Session};
use crate::host::{codex, fold, now, Failure};
use crate::record::{ConversationLine, ConversationPart, HostPhase, StopReason};

/// Codex's rollout being read for a turn whose prompt has answered: the reader comes back with
/// the conversation's tokens.
pub(super) type Settling = BoxFuture<'static, (codex::RolloutReader, Option<Tokens>)>;

/// Waits for the rollout read in `slot`, or forever when there is none.
pub(super) async fn settled(
    slot: &mut Option<(Settling, PromptResult)>,
) -> (codex::RolloutReader, Option<Tokens>) {
    match slot {
        Some((reading, _)) => reading.await,
        None => std::future::pending().await,
    }
}

impl Session<'_> {
    /// A prompt answered: its turn ends now, or, for Codex, once Codex's rollout file has the
    /// turn's end (the host serves on meanwhile).
    pub(super) async fn on_prompt_answer(&mut self, result: PromptResult) -> Result<(), Failure> {
        if let Err(e) = &result {
            if agent_client_protocol::is_incoming_transport_closed(e)
                || agent_client_protocol::is_connection_terminated(e)
            {
                return self.on_transport_closed().await;
            }
        }
        match self.rollout.take() {
            Some(reader) => {
                self.settling = Some((Box::pin(codex::after_turn(reader)), result));
                Ok(())
            }
            None => self.on_prompt_end(result, None).await,
        }
    }

    /// The agent closed its stdout mid-turn: it is ending (or can no longer be heard). Ends it,
    /// so that its exit is what the record says; the turn's report never comes.
    async fn on_transport_closed(&mut self) -> Result<(), Failure> {
        self.closed_mid_turn = true;
        self.spent_unknown();
        if let Some(agent) = self.recorder.record.agent_process {
            ao_agent::blocking::unblock(move || {
                crate::agent_process::end_group(agent, crate::host::END_GRACE)
            })
            .await;
        }
        Ok(())
    }

    /// Ends the turn whose prompt answered `result`. `sum`: the conversation's tokens read from
    /// Codex's rollout (`Some(None)`: unknown there), `None` for other agents.
    pub(super) async fn on_prompt_end(
        &mut self,
        result: PromptResult,
        sum: Option<Option<Tokens>>,
    ) -> Result<(), Failure> {
        let at = now();
        for (_, responder) in self.waiting.drain(..) {
            let _ = responder.respond(cancelled());
        }
        self.recorder.record.pending.clear();
        self.cancel_questions().await?;
        let record = &mut self.recorder.record;
        let (usage, outcome) = match result {
            Ok(response) => (response.usage, Ok(fold::stop_reason(response.stop_reason))),
            // The turn may have spent before it failed; its error reports no usage.
            Err(e) => (None, Err(e)),
        };
        let report = match sum {
            Some(sum) => fold::TurnReport::Sum(sum),
            None => fold::TurnReport::Usage {
                usage: usage.as_ref(),
                covers: fold::usage_covers_turn(
                    record.agent.as_ref(),
                    self.tools_this_turn,
                    outcome.as_ref().ok() == Some(&StopReason::Cancelled),
                ),
            },
        };
        let account = fold::account_turn(
            record.tokens,
            report,
            self.launch.price.as_ref(),
            self.agent_cost,
            record.cost_usd,
        );
        record.tokens = account.tokens;
        record.cost_usd = account.cost_usd;
        record.last_activity_at = Some(at);
        let (reason, turn_tokens) = match outcome {
            Ok(stop) => {
                record.phase = HostPhase::Ended { at, stop };
                (stop.to_string(), account.turn)
            }
            Err(e) => {
                let name = fold::error_name(&e);
                record.phase = HostPhase::Failed {
                    at,
                    name: name.clone(),
                    // The agent's own words (Codex: the provider's, from the error's data); its
                    // data (opencode: the error's name) went into the name.
                    message: codex::error_message(record.agent.as_ref(), &e),
                };
                (name, None)
            }
        };
        let mut lines = self.unclosed_rejections(at);
        lines.push(ConversationLine {
            id: self.ids.end(),
            at,
            part: ConversationPart::TurnEnd {
                reason,
                tokens: turn_tokens,
            },
        });
        self.append(&lines).await?;
        if let Some(cost) = self.recorder.record.cost_usd {
            self.pane.note(&format!("cost so far ${cost:.6}"));
        }
        self.save().await?;
        if let Some(next) = self.queue.pop_front() {
            self.start_turn(next).await?;
        }
        Ok(())
    }

    /// Failed tool lines for the calls of the turn whose permission got a reject and that the
    /// agent never closed (Codex ends the turn instead): they end with the turn.
    fn unclosed_rejections(&self, at: EpochMillis) -> Vec<ConversationLine> {
        self.rejected_this_turn
            .iter()
            .filter(|id| !self.closed_this_turn.contains(id))
            .map(|id| ConversationLine {
                id: id.clone(),
                at,
                part: ConversationPart::Tool {
                    kind: None,
                    title: None,
                    status: Some("failed".into()),
                    output: None,
                },
            })
            .collect()
    }
}
