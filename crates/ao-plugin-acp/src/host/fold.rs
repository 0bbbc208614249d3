//! What the protocol says, folded into the host's record and conversation lines: session
//! updates, a prompt's usage and stop reason, a JSON-RPC error. Pure functions of their inputs,
//! so each rule is tested without an agent.

use agent_client_protocol::schema::MaybeUndefined;
use agent_client_protocol::v1::schema::{
    ContentBlock, PlanEntry, SessionConfigKind, SessionConfigOption, SessionConfigOptionCategory,
    SessionUpdate, StopReason as AcpStopReason, ToolCallContent,
    ToolCallStatus as AcpToolCallStatus, Usage,
};
use ao_agent::agent::{PlanItem, PlanPriority, PlanStatus};
use ao_agent::clock::EpochMillis;
use ao_agent::session::Tokens;

use super::permission::tool_kind;
use crate::record::{
    AgentIdentity, ConversationLine, ConversationPart, HostPhase, HostRecord, Price, StopReason,
};

/// The most of a tool call's output the conversation keeps.
pub const OUTPUT_EXCERPT_CHARS: usize = 2000;

/// The ids of one turn's lines: `t<n>-user`, `t<n>-<k>` for the k-th run of the agent's message
/// (a new run after a tool call), `t<n>-end`. Tool lines take the tool call's id.
#[derive(Debug, Clone)]
pub struct TurnIds {
    turn: u64,
    run: u64,
    in_message: bool,
}

impl TurnIds {
    /// The ids of turn `turn` (counted from 1 over the whole conversation).
    pub fn new(turn: u64) -> TurnIds {
        TurnIds {
            turn,
            run: 0,
            in_message: false,
        }
    }

    /// The prompt's line.
    pub fn user(&self) -> String {
        format!("t{}-user", self.turn)
    }

    /// The turn's end line.
    pub fn end(&self) -> String {
        format!("t{}-end", self.turn)
    }

    /// The id for a chunk of the agent's message: the current run's, or a new run's.
    fn message(&mut self) -> String {
        if !self.in_message {
            self.run += 1;
            self.in_message = true;
        }
        format!("t{}-{}", self.turn, self.run)
    }

    /// Something other than message text came: the next chunk starts a new run.
    fn interrupt(&mut self) {
        self.in_message = false;
    }
}

/// What one session update did.
#[derive(Debug, Default)]
pub struct Folded {
    /// Conversation lines to append.
    pub lines: Vec<ConversationLine>,
    /// Whether a field `ao status` shows changed (write state.json now, not later).
    pub shown: bool,
}

/// Folds one `session/update` into the record, and says which conversation lines it makes.
/// `agent_cost` becomes true once the agent reports a cost of its own.
pub fn update(
    update: &SessionUpdate,
    record: &mut HostRecord,
    ids: &mut TurnIds,
    agent_cost: &mut bool,
    at: EpochMillis,
) -> Folded {
    let mut folded = Folded::default();
    let line = |id: String, part| ConversationLine { id, at, part };
    match update {
        SessionUpdate::AgentMessageChunk(chunk) => {
            if let ContentBlock::Text(text) = &chunk.content {
                if !text.text.is_empty() {
                    let part = ConversationPart::Assistant {
                        text: text.text.clone(),
                    };
                    folded.lines.push(line(ids.message(), part));
                }
            }
        }
        SessionUpdate::ToolCall(call) => {
            ids.interrupt();
            let kind = tool_kind(&call.kind);
            let part = ConversationPart::Tool {
                kind: Some(kind),
                title: Some(title_of(Some(kind), &call.title, call.raw_input.as_ref())),
                status: Some(wire_word(&call.status)),
                output: output_excerpt(&call.content, call.raw_output.as_ref()),
            };
            folded.lines.push(line(call.tool_call_id.to_string(), part));
        }
        SessionUpdate::ToolCallUpdate(call) => {
            ids.interrupt();
            let fields = &call.fields;
            let kind = fields.kind.as_ref().map(tool_kind);
            let part = ConversationPart::Tool {
                kind,
                title: fields
                    .title
                    .as_ref()
                    .map(|t| title_of(kind, t, fields.raw_input.as_ref())),
                status: fields.status.as_ref().map(wire_word),
                output: fields
                    .content
                    .as_ref()
                    .and_then(|c| output_excerpt(c, fields.raw_output.as_ref()))
                    .or_else(|| output_excerpt(&[], fields.raw_output.as_ref())),
            };
            folded.lines.push(line(call.tool_call_id.to_string(), part));
        }
        SessionUpdate::Plan(plan) => {
            record.plan = plan.entries.iter().map(plan_item).collect();
            folded.shown = true;
        }
        SessionUpdate::UsageUpdate(usage) => {
            if let Some(cost) = usage.cost.as_ref().filter(|c| c.currency == "USD") {
                *agent_cost = true;
                if record.cost_usd != Some(cost.amount) {
                    record.cost_usd = Some(cost.amount);
                    folded.shown = true;
                }
            }
            if let Some(model) = super::claude::model_of(usage.meta.as_ref()) {
                if record.model.as_deref() != Some(model) {
                    record.model = Some(model.to_string());
                    folded.shown = true;
                }
            }
        }
        SessionUpdate::SessionInfoUpdate(info) => match &info.title {
            MaybeUndefined::Value(title) => {
                record.title = Some(title.clone());
                folded.shown = true;
            }
            MaybeUndefined::Null => {
                record.title = None;
                folded.shown = true;
            }
            MaybeUndefined::Undefined => {}
        },
        SessionUpdate::ConfigOptionUpdate(update) => {
            if let Some(model) = current_model(&update.config_options) {
                if record.model.as_deref() != Some(model.as_str()) {
                    record.model = Some(model);
                    folded.shown = true;
                }
            }
        }
        _ => {}
    }
    folded
}

/// The model a session's config options say is current.
pub fn current_model(options: &[SessionConfigOption]) -> Option<String> {
    options
        .iter()
        .find_map(|option| match (&option.category, &option.kind) {
            (Some(SessionConfigOptionCategory::Model), SessionConfigKind::Select(select)) => {
                Some(select.current_value.to_string())
            }
            _ => None,
        })
}

/// The tool call's title for people: for a shell call, its command when the title lacks it.
fn title_of(
    kind: Option<crate::record::ToolKind>,
    title: &str,
    raw_input: Option<&serde_json::Value>,
) -> String {
    super::permission::people_title(kind, title.to_owned(), raw_input)
}

/// The start of a tool call's output: its text content, else its raw output's text; at most
/// [`OUTPUT_EXCERPT_CHARS`] characters.
pub fn output_excerpt(
    content: &[ToolCallContent],
    raw_output: Option<&serde_json::Value>,
) -> Option<String> {
    let mut text = String::new();
    for item in content {
        let piece = match item {
            ToolCallContent::Content(c) => match &c.content {
                ContentBlock::Text(t) => t.text.clone(),
                _ => continue,
            },
            ToolCallContent::Diff(diff) => format!("diff {}", diff.path.display()),
            _ => continue,
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&piece);
    }
    if text.is_empty() {
        text = match raw_output {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(value) => match value.get("output") {
                Some(serde_json::Value::String(s)) => s.clone(),
                _ => return None,
            },
            None => return None,
        };
    }
    Some(cut(&text, OUTPUT_EXCERPT_CHARS))
}

/// At most `chars` characters of `text`, cut on a character boundary.
pub fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// A protocol enum's wire word (`in_progress`), for what ao keeps as a word.
fn wire_word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn plan_item(entry: &PlanEntry) -> PlanItem {
    PlanItem {
        content: entry.content.clone(),
        status: PlanStatus::from(wire_word(&entry.status)),
        priority: PlanPriority::from(wire_word(&entry.priority)),
    }
}

/// A prompt's usage, as ao counts tokens.
pub fn tokens(usage: &Usage) -> Tokens {
    Tokens {
        input: usage.input_tokens,
        output: usage.output_tokens,
        reasoning: usage.thought_tokens.unwrap_or_default(),
        cache_read: usage.cached_read_tokens.unwrap_or_default(),
        cache_write: usage.cached_write_tokens.unwrap_or_default(),
    }
}

/// `sum` plus `more` (saturating: the figures are the agent's, and may be absurd).
pub fn add(sum: &mut Tokens, more: &Tokens) {
    sum.input = sum.input.saturating_add(more.input);
    sum.output = sum.output.saturating_add(more.output);
    sum.reasoning = sum.reasoning.saturating_add(more.reasoning);
    sum.cache_read = sum.cache_read.saturating_add(more.cache_read);
    sum.cache_write = sum.cache_write.saturating_add(more.cache_write);
}

/// `after` less `before`: a turn's tokens from the conversation's sums around it (saturating:
/// the figures are the agent's).
pub fn spent_between(before: &Tokens, after: &Tokens) -> Tokens {
    Tokens {
        input: after.input.saturating_sub(before.input),
        output: after.output.saturating_sub(before.output),
        reasoning: after.reasoning.saturating_sub(before.reasoning),
        cache_read: after.cache_read.saturating_sub(before.cache_read),
        cache_write: after.cache_write.saturating_sub(before.cache_write),
    }
}

/// Where a finished turn's tokens come from.
#[derive(Debug, Clone, Copy)]
pub enum TurnReport<'a> {
    /// The conversation's sum, read from the agent's own account (Codex's rollout file); `None`
    /// when that account does not know it.
    Sum(Option<Tokens>),
    /// The prompt's usage (`None`: none reported, or a failed prompt) and whether it covers the
    /// whole turn ([`usage_covers_turn`]).
    Usage {
        usage: Option<&'a Usage>,
        covers: bool,
    },
}

/// What a turn's end makes of the figures: the conversation's tokens, the turn's own (its
/// transcript line), and the cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnAccount {
    pub tokens: Option<Tokens>,
    pub turn: Option<Tokens>,
    pub cost_usd: Option<f64>,
}

/// The figures after a turn, from the sum before it (`None`: unknown), the turn's `report`, and
/// the cost: the agent's own when it reports one (`agent_cost`: `cost_usd` is kept), else
/// `price` times the tokens (unknown with them), else what it was.
pub fn account_turn(
    tokens: Option<Tokens>,
    report: TurnReport<'_>,
    price: Option<&Price>,
    agent_cost: bool,
    cost_usd: Option<f64>,
) -> TurnAccount {
    let (after, turn) = match report {
        // The agent's own sum stands on its own: a sum ao had lost is known again.
        TurnReport::Sum(sum) => (sum, tokens.zip(sum).map(|(b, a)| spent_between(&b, &a))),
        TurnReport::Usage { usage, covers } => {
            let turn = usage.map(self::tokens).filter(|_| covers);
            (sum_after_turn(tokens, turn.as_ref()), turn)
        }
    };
    let cost_usd = match (agent_cost, price) {
        (false, Some(price)) => after.as_ref().map(|t| price.cost_of(t)),
        _ => cost_usd,
    };
    TurnAccount {
        tokens: after,
        turn,
        cost_usd,
    }
}

/// Whether a prompt's usage report covers the whole turn, for the agent that `initialize` named.
/// The protocol says it does; measured otherwise: `opencode acp` (agentInfo `OpenCode`, 1.18.33)
/// reports the last model step's usage only (60/2 for a turn of 50/5 then 60/2), and 0/0 for a
/// cancelled turn whatever it spent. A turn that called no tool and was not cancelled is one
/// whole step, so its report is whole even there.
pub fn usage_covers_turn(
    agent: Option<&AgentIdentity>,
    tools_called: bool,
    cancelled: bool,
) -> bool {
    let last_step_only = agent.is_some_and(|a| a.name.eq_ignore_ascii_case("opencode"));
    !(last_step_only && (tools_called || cancelled))
}

/// The conversation's tokens after a turn: `sum` plus the turn's, known only while every turn's
/// report covered it. `turn` is `None` when the turn's report did not cover it, or there was no
/// report: no usage, a JSON-RPC error (it may have spent), or a turn cut by the agent's exit, a
/// closed transport or a shutdown.
pub fn sum_after_turn(sum: Option<Tokens>, turn: Option<&Tokens>) -> Option<Tokens> {
    let (mut sum, turn) = (sum?, turn?);
    add(&mut sum, turn);
    Some(sum)
}

/// The tokens a restored session carries on from its previous host's record: unknown when that
/// host ended mid-turn (the turn's report never came) or did not know them.
pub fn restored_tokens(previous: &HostRecord) -> Option<Tokens> {
    match previous.phase {
        HostPhase::Turn { .. } | HostPhase::AgentExited { mid_turn: true, .. } => None,
        _ => previous.tokens,
    }
}

/// The cost a restored session carries on from its previous host's record: unknown with the
/// tokens ([`restored_tokens`]) when a price is configured (`priced`), since a cost worked out
/// from a short sum would be short too (an agent's own cost comes again with its next report).
pub fn restored_cost(previous: &HostRecord, priced: bool) -> Option<f64> {
    previous
        .cost_usd
        .filter(|_| !priced || restored_tokens(previous).is_some())
}

/// Whether a tool call that reached `status` ran, its result going back to the model: it
/// completed, or failed other than by a rejected permission request (a refused call never ran).
pub fn tool_ran(status: Option<AcpToolCallStatus>, rejected: bool) -> bool {
    match status {
        Some(AcpToolCallStatus::Completed) => true,
        Some(AcpToolCallStatus::Failed) => !rejected,
        _ => false,
    }
}

/// ao's stop reason for the protocol's.
pub fn stop_reason(stop: AcpStopReason) -> StopReason {
    match stop {
        AcpStopReason::MaxTokens => StopReason::MaxTokens,
        AcpStopReason::MaxTurnRequests => StopReason::MaxTurnRequests,
        AcpStopReason::Refusal => StopReason::Refusal,
        AcpStopReason::Cancelled => StopReason::Cancelled,
        // EndTurn, and any newer reason: the turn is over and nothing says it went wrong.
        _ => StopReason::EndTurn,
    }
}

/// The name of a prompt's JSON-RPC error, as `error.name` shows it: the error's own name when its
/// data gives one (`{"name": ...}` or `{"errorName": ...}`), else `AgentError`.
pub fn error_name(error: &agent_client_protocol::Error) -> String {
    error
        .data
        .as_ref()
        .and_then(|data| data.get("name").or_else(|| data.get("errorName")))
        .and_then(|name| name.as_str())
        .filter(|name| !name.is_empty() && name.len() <= 64)
        .map(str::to_owned)
        .unwrap_or_else(|| "AgentError".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Price;
    use serde_json::json;

    fn session_update(value: serde_json::Value) -> SessionUpdate {
        serde_json::from_value(value).unwrap()
    }

    fn fold_all(updates: &[serde_json::Value]) -> (HostRecord, Vec<ConversationLine>, bool) {
        let mut record = HostRecord::default();
        let mut ids = TurnIds::new(3);
        let mut agent_cost = false;
        let mut lines = Vec::new();
        for u in updates {
            let f = update(
                &session_update(u.clone()),
                &mut record,
                &mut ids,
                &mut agent_cost,
                1,
            );
            lines.extend(f.lines);
        }
        (record, lines, agent_cost)
    }

    #[test]
    fn message_runs_get_a_new_id_after_a_tool_call() {
        let (_, lines, _) = fold_all(&[
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Let me "}}),
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "look."}}),
            json!({"sessionUpdate": "tool_call", "toolCallId": "call_1", "title": "bash",
                   "kind": "execute", "status": "pending", "rawInput": {"command": "ls"}}),
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "completed",
                   "content": [{"type": "content", "content": {"type": "text", "text": "a.rs\n"}}]}),
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "Done."}}),
        ]);
        let ids: Vec<&str> = lines.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids, ["t3-1", "t3-1", "call_1", "call_1", "t3-2"]);
        assert_eq!(
            lines[2].part,
            ConversationPart::Tool {
                kind: Some(crate::record::ToolKind::Execute),
                title: Some("bash: ls".into()),
                status: Some("pending".into()),
                output: None,
            }
        );
        assert_eq!(
            lines[3].part,
            ConversationPart::Tool {
                kind: None,
                title: None,
                status: Some("completed".into()),
                output: Some("a.rs\n".into()),
            }
        );
    }

    #[test]
    fn plan_title_model_and_cost_change_what_status_shows() {
        let (record, lines, agent_cost) = fold_all(&[
            json!({"sessionUpdate": "plan", "entries": [
                {"content": "read", "priority": "high", "status": "completed"},
                {"content": "write", "priority": "low", "status": "in_progress"}]}),
            json!({"sessionUpdate": "session_info_update", "title": "Fix the bug"}),
            json!({"sessionUpdate": "usage_update", "used": 10, "size": 100,
                   "cost": {"amount": 0.25, "currency": "USD"}}),
            json!({"sessionUpdate": "usage_update", "used": 20, "size": 100,
                   "cost": {"amount": 9.0, "currency": "EUR"}}),
        ]);
        assert!(lines.is_empty());
        assert_eq!(record.plan.len(), 2);
        assert_eq!(record.plan[1].status, PlanStatus::InProgress);
        assert_eq!(PlanItem::count(&record.plan).done, 1);
        assert_eq!(record.title.as_deref(), Some("Fix the bug"));
        assert_eq!(record.cost_usd, Some(0.25));
        assert!(agent_cost);
    }

    #[test]
    fn usage_without_cost_leaves_the_cost_unknown() {
        let (record, _, agent_cost) =
            fold_all(&[json!({"sessionUpdate": "usage_update", "used": 10, "size": 100})]);
        assert_eq!(record.cost_usd, None);
        assert!(!agent_cost);
    }

    #[test]
    fn output_is_cut_on_a_character_boundary() {
        let long = "é".repeat(OUTPUT_EXCERPT_CHARS + 5);
        let out = output_excerpt(&[], Some(&json!({"output": long}))).unwrap();
        assert_eq!(out.chars().count(), OUTPUT_EXCERPT_CHARS);
        assert_eq!(cut("abc", 2), "ab");
        assert_eq!(cut("ab", 5), "ab");
    }

    #[test]
    fn only_a_report_of_the_whole_turn_adds_up() {
        let who = |name: &str| AgentIdentity {
            name: name.into(),
            version: "1.18.33".into(),
        };
        // OpenCode reports its last step only: whole for a turn of one step (no tool call).
        assert!(usage_covers_turn(Some(&who("OpenCode")), false, false));
        assert!(!usage_covers_turn(Some(&who("OpenCode")), true, false));
        // Its cancelled turn reports 0/0 whatever it spent.
        assert!(!usage_covers_turn(Some(&who("OpenCode")), false, true));
        // Any other agent, as the protocol says, cancelled or not.
        assert!(usage_covers_turn(
            Some(&who("claude-agent-acp")),
            true,
            false
        ));
        assert!(usage_covers_turn(
            Some(&who("claude-agent-acp")),
            false,
            true
        ));
        assert!(usage_covers_turn(None, true, true));

        // A call ran when its result went back to the model; a rejected one never ran.
        assert!(tool_ran(Some(AcpToolCallStatus::Completed), false));
        assert!(tool_ran(Some(AcpToolCallStatus::Failed), false));
        assert!(!tool_ran(Some(AcpToolCallStatus::Failed), true));
        assert!(!tool_ran(Some(AcpToolCallStatus::InProgress), false));
        assert!(!tool_ran(None, false));
    }

    #[test]
    fn usage_adds_up_and_a_price_makes_a_cost() {
        let usage: Usage = serde_json::from_value(json!({
            "inputTokens": 60, "outputTokens": 2, "totalTokens": 62,
            "thoughtTokens": 3, "cachedReadTokens": 40
        }))
        .unwrap();
        let mut sum = Tokens {
            input: 10,
            output: 5,
            ..Tokens::default()
        };
        add(&mut sum, &tokens(&usage));
        assert_eq!(
            sum,
            Tokens {
                input: 70,
                output: 7,
                reasoning: 3,
                cache_read: 40,
                cache_write: 0
            }
        );
        let price = Price {
            input: 3.0,
            output: 15.0,
        };
        let cost = price.cost_of(&sum);
        assert!((cost - (70.0 * 3.0 + 7.0 * 15.0) / 1e6).abs() < 1e-12);
    }

    #[test]
    fn a_turn_s_figures_come_from_the_agent_s_sum_or_from_the_prompt_s_usage() {
        let t = |input, output| Tokens {
            input,
            output,
            ..Tokens::default()
        };
        let price = Price {
            input: 1.0,
            output: 10.0,
        };
        let cost = |tokens: &Tokens| price.cost_of(tokens);
        // Codex's rollout sum: the turn is the difference, the cost is the price's.
        let a = account_turn(
            Some(t(110, 7)),
            TurnReport::Sum(Some(t(240, 16))),
            Some(&price),
            false,
            Some(0.1),
        );
        assert_eq!((a.tokens, a.turn), (Some(t(240, 16)), Some(t(130, 9))));
        assert_eq!(a.cost_usd, Some(cost(&t(240, 16))));
        // An unknown sum (a cut or aborted task, an unreadable count, a writer that lags past
        // the deadline): unknown tokens, no turn figure, and no cost from the price.
        let a = account_turn(
            Some(t(110, 7)),
            TurnReport::Sum(None),
            Some(&price),
            false,
            Some(0.1),
        );
        assert_eq!(
            a,
            TurnAccount {
                tokens: None,
                turn: None,
                cost_usd: None
            }
        );
        // A sum ao had lost (a restore after a mid-turn end) is known again when Codex's own
        // account is whole, but the turn alone is not.
        let a = account_turn(None, TurnReport::Sum(Some(t(60, 2))), None, false, None);
        assert_eq!((a.tokens, a.turn, a.cost_usd), (Some(t(60, 2)), None, None));
        // The prompt's usage adds up while it covers the turn.
        let usage: Usage = serde_json::from_value(json!({
            "inputTokens": 5, "outputTokens": 1, "totalTokens": 6
        }))
        .unwrap();
        let covered = TurnReport::Usage {
            usage: Some(&usage),
            covers: true,
        };
        let a = account_turn(Some(t(10, 1)), covered, Some(&price), false, None);
        assert_eq!((a.tokens, a.turn), (Some(t(15, 2)), Some(t(5, 1))));
        assert_eq!(a.cost_usd, Some(cost(&t(15, 2))));
        // An agent's own cost is kept whatever the price.
        let a = account_turn(Some(t(10, 1)), covered, Some(&price), true, Some(0.5));
        assert_eq!(a.cost_usd, Some(0.5));
        let partial = TurnReport::Usage {
            usage: Some(&usage),
            covers: false,
        };
        let a = account_turn(Some(t(10, 1)), partial, Some(&price), false, Some(0.5));
        assert_eq!(
            a,
            TurnAccount {
                tokens: None,
                turn: None,
                cost_usd: None
            }
        );
        // No usage (a failed prompt): unknown, and without a price the cost stays as it was.
        let none = TurnReport::Usage {
            usage: None,
            covers: true,
        };
        let a = account_turn(Some(t(10, 1)), none, None, false, Some(0.5));
        assert_eq!(
            a,
            TurnAccount {
                tokens: None,
                turn: None,
                cost_usd: Some(0.5)
            }
        );
        assert_eq!(spent_between(&t(10, 5), &t(8, 7)), t(0, 2), "saturating");
    }

    #[test]
    fn a_turn_without_a_whole_report_makes_the_sum_unknown() {
        let ten = Tokens {
            input: 10,
            output: 1,
            ..Tokens::default()
        };
        let twice = Tokens {
            input: 20,
            output: 2,
            ..Tokens::default()
        };
        assert_eq!(sum_after_turn(Some(ten), Some(&ten)), Some(twice));
        // A JSON-RPC error, a turn cut by the agent's exit, a closed transport or a shutdown:
        // no report, so no sum.
        assert_eq!(sum_after_turn(Some(ten), None), None);
        // Once unknown, unknown for good.
        assert_eq!(sum_after_turn(None, Some(&ten)), None);
        // Absurd figures saturate.
        let huge = Tokens {
            input: u64::MAX,
            ..Tokens::default()
        };
        let summed = sum_after_turn(Some(huge), Some(&ten)).unwrap();
        assert_eq!(summed.input, u64::MAX);
    }

    #[test]
    fn a_restore_carries_on_only_the_tokens_of_a_host_that_ended_between_turns() {
        let ten = Tokens {
            input: 10,
            ..Tokens::default()
        };
        let previous = |phase: HostPhase, tokens: Option<Tokens>| HostRecord {
            phase,
            tokens,
            ..HostRecord::default()
        };
        let between = HostPhase::AgentExited {
            at: 1,
            mid_turn: false,
            status: "ended by ao".into(),
        };
        assert_eq!(
            restored_tokens(&previous(between.clone(), Some(ten))),
            Some(ten)
        );
        assert_eq!(restored_tokens(&previous(between, None)), None);
        let mid_turn = HostPhase::AgentExited {
            at: 1,
            mid_turn: true,
            status: "signal 9".into(),
        };
        assert_eq!(restored_tokens(&previous(mid_turn, Some(ten))), None);
        // A host killed while a turn ran left phase `turn`.
        let turn = HostPhase::Turn { since: 1 };
        assert_eq!(restored_tokens(&previous(turn.clone(), Some(ten))), None);
        // A priced cost goes with the tokens; without a price it is the agent's own.
        let mut cut = previous(turn, Some(ten));
        cut.cost_usd = Some(0.25);
        assert_eq!(restored_cost(&cut, true), None);
        assert_eq!(restored_cost(&cut, false), Some(0.25));
        let mut whole = previous(HostPhase::Open, Some(ten));
        whole.cost_usd = Some(0.25);
        assert_eq!(restored_cost(&whole, true), Some(0.25));
    }

    #[test]
    fn stop_reasons_and_error_names() {
        assert_eq!(stop_reason(AcpStopReason::EndTurn), StopReason::EndTurn);
        assert_eq!(stop_reason(AcpStopReason::Refusal), StopReason::Refusal);
        assert_eq!(stop_reason(AcpStopReason::MaxTokens), StopReason::MaxTokens);
        assert_eq!(
            stop_reason(AcpStopReason::MaxTurnRequests),
            StopReason::MaxTurnRequests
        );
        assert_eq!(stop_reason(AcpStopReason::Cancelled), StopReason::Cancelled);
        let plain = agent_client_protocol::Error::internal_error();
        assert_eq!(error_name(&plain), "AgentError");
        let named = agent_client_protocol::Error::internal_error()
            .data(json!({"name": "ProviderAuthError"}));
        assert_eq!(error_name(&named), "ProviderAuthError");
    }
}
