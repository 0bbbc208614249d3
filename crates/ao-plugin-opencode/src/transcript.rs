//! A session's messages and parts, as the server returns them, turned into ao's transcript.

use ao_agent::session::{SessionError, Why};
use ao_agent::transcript::{
    excerpt, EntryKind, ToolCallStatus, TranscriptEntry, TOOL_OUTPUT_EXCERPT,
};
use serde_json::Value;

use crate::types::{MessageWithParts, Part, PartKind, Role, ToolStatus};

/// The transcript of these messages, oldest first.
pub fn transcript(messages: &[MessageWithParts]) -> Vec<TranscriptEntry> {
    let mut out = Vec::new();
    for m in messages {
        for part in m.parts.iter().map(Part::read) {
            if let Some(kind) = entry_kind(&part, m.info.role) {
                out.push(TranscriptEntry {
                    at: part.time.start.unwrap_or(m.info.time.created),
                    id: part.id,
                    kind,
                });
            }
        }
        if let Some(err) = &m.info.error {
            out.push(TranscriptEntry {
                id: format!("{}:error", m.info.id),
                at: m.info.time.completed.unwrap_or(m.info.time.created),
                kind: EntryKind::Error(SessionError {
                    why: Why::Agent(err.name.as_str().to_string()),
                    message: err.message(),
                }),
            });
        }
    }
    out
}

/// How much of a message's text a summary keeps, in characters.
const SUMMARY_CHARS: usize = 120;

/// Each message in short, oldest first: its text and tool calls on one line, cut.
pub fn summaries(messages: &[MessageWithParts]) -> Vec<ao_agent::agent::MessageSummary> {
    messages
        .iter()
        .map(|m| {
            let words: Vec<String> = transcript(std::slice::from_ref(m))
                .into_iter()
                .filter_map(|e| match e.kind {
                    EntryKind::User { text } | EntryKind::Assistant { text } => Some(text),
                    EntryKind::Tool { tool, title, .. } => Some(format!("[{tool}] {title}")),
                    EntryKind::Error(e) => Some(format!("[error] {}", e.message)),
                    EntryKind::Step { .. } => None,
                })
                .collect();
            let line = words
                .join(" ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let mut text: String = line.chars().take(SUMMARY_CHARS).collect();
            if text.len() < line.len() {
                text.push('…');
            }
            ao_agent::agent::MessageSummary {
                id: m.info.id.clone(),
                role: match m.info.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::Unknown => "unknown",
                }
                .to_string(),
                at: m.info.time.created,
                text,
            }
        })
        .collect()
}

fn entry_kind(part: &Part, role: Role) -> Option<EntryKind> {
    match part.kind {
        // Synthetic parts are OpenCode's own additions to a message, not what anyone wrote.
        PartKind::Text if part.synthetic || part.text.is_empty() => None,
        PartKind::Text => {
            let text = part.text.clone();
            match role {
                Role::User => Some(EntryKind::User { text }),
                Role::Assistant => Some(EntryKind::Assistant { text }),
                // Text of a role ao does not know is nobody's it can name: left out.
                Role::Unknown => None,
            }
        }
        PartKind::Tool => {
            let body = match &part.state.status {
                ToolStatus::Completed => Some(&part.state.output),
                ToolStatus::Error => Some(&part.state.error),
                ToolStatus::Pending | ToolStatus::Running | ToolStatus::Unknown(_) => None,
            };
            let (output, truncated) = match body {
                Some(b) => {
                    let (text, cut) = excerpt(b, TOOL_OUTPUT_EXCERPT);
                    (Some(text), cut)
                }
                None => (None, false),
            };
            Some(EntryKind::Tool {
                tool: part.tool.clone(),
                title: tool_title(part),
                status: match &part.state.status {
                    ToolStatus::Pending => ToolCallStatus::Pending,
                    ToolStatus::Running => ToolCallStatus::Running,
                    ToolStatus::Completed => ToolCallStatus::Completed,
                    ToolStatus::Error => ToolCallStatus::Error,
                    ToolStatus::Unknown(word) => ToolCallStatus::Other(word.clone()),
                },
                output,
                truncated,
            })
        }
        PartKind::StepFinish => Some(EntryKind::Step {
            reason: part.reason.clone(),
            tokens: Some(part.tokens.into()),
            cost_usd: Some(part.cost),
        }),
        // Not part of the conversation as `ao logs` tells it.
        PartKind::Reasoning
        | PartKind::StepStart
        | PartKind::File
        | PartKind::Patch
        | PartKind::Agent
        | PartKind::Snapshot
        | PartKind::Compaction
        | PartKind::Subtask
        | PartKind::Retry
        | PartKind::Unknown => None,
    }
}

/// One line saying what a tool call was asked to do.
fn tool_title(part: &Part) -> String {
    if !part.state.title.is_empty() {
        return part.state.title.clone();
    }
    let input = part.state.input.as_ref();
    for key in [
        "command",
        "filePath",
        "path",
        "pattern",
        "url",
        "description",
    ] {
        if let Some(v) = input.and_then(|i| i.get(key)).and_then(Value::as_str) {
            return v.to_string();
        }
    }
    input.map(|i| i.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tool_turn_becomes_text_tool_and_steps() {
        let messages: Vec<MessageWithParts> = serde_json::from_value(json!([
            {"info": {"id": "msg_1", "role": "user", "time": {"created": 1}},
             "parts": [{"id": "prt_1", "type": "text", "text": "list files"},
                       {"id": "prt_s", "type": "text", "text": "ctx", "synthetic": true}]},
            {"info": {"id": "msg_2", "role": "assistant", "time": {"created": 2, "completed": 3}},
             "parts": [{"id": "prt_2", "type": "step-start"},
                       {"id": "prt_3", "type": "tool", "tool": "bash",
                        "state": {"status": "completed", "input": {"command": "ls"},
                                  "output": "a\nb\n", "time": {"start": 2}}},
                       {"id": "prt_4", "type": "step-finish", "reason": "tool-calls",
                        "tokens": {"input": 50, "output": 5, "reasoning": 0,
                                   "cache": {"read": 0, "write": 0}},
                        "cost": 0.000225}]},
            {"info": {"id": "msg_3", "role": "assistant", "time": {"created": 4},
                      "error": {"name": "APIError", "data": {"message": "boom"}}},
             "parts": []}
        ]))
        .unwrap();
        let t = transcript(&messages);
        assert_eq!(t.len(), 4);
        assert_eq!(
            t[0].kind,
            EntryKind::User {
                text: "list files".into()
            }
        );
        assert_eq!(
            t[1].kind,
            EntryKind::Tool {
                tool: "bash".into(),
                title: "ls".into(),
                status: ToolCallStatus::Completed,
                output: Some("a\nb\n".into()),
                truncated: false
            }
        );
        assert!(
            matches!(&t[2].kind, EntryKind::Step { reason, cost_usd, .. }
            if reason == "tool-calls" && *cost_usd == Some(0.000225))
        );
        assert_eq!(
            t[3].kind,
            EntryKind::Error(SessionError {
                why: Why::Agent("APIError".into()),
                message: "boom".into()
            })
        );
    }

    #[test]
    fn parts_and_roles_ao_does_not_know_are_left_out() {
        let messages: Vec<MessageWithParts> = serde_json::from_value(json!([
            {"info": {"id": "msg_1", "role": "system", "time": {"created": 1}},
             "parts": [{"id": "prt_1", "type": "text", "text": "whose?"}]},
            {"info": {"id": "msg_2", "role": "assistant", "time": {"created": 2}},
             "parts": [{"id": "prt_2", "type": "hologram", "text": "new"},
                       {"id": "prt_3", "type": "tool", "tool": "bash",
                        "state": {"status": "cancelled", "input": {"command": "ls"}}},
                       {"id": "prt_4", "type": "text", "text": "ok"}]}
        ]))
        .unwrap();
        let t = transcript(&messages);
        let ids: Vec<&str> = t.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["prt_3", "prt_4"]);
        // A tool call in a stage ao does not know still shows, under that stage's name.
        assert!(
            matches!(&t[0].kind, EntryKind::Tool { status: ToolCallStatus::Other(word), output: None, .. } if word == "cancelled")
        );
    }

    #[test]
    fn long_tool_output_is_cut() {
        let long = "x".repeat(TOOL_OUTPUT_EXCERPT + 10);
        let messages: Vec<MessageWithParts> = serde_json::from_value(json!([
            {"info": {"id": "m", "role": "assistant", "time": {"created": 1}},
             "parts": [{"id": "p", "type": "tool", "tool": "bash",
                        "state": {"status": "completed", "title": "cat big", "output": long}}]}
        ]))
        .unwrap();
        match &transcript(&messages)[0].kind {
            EntryKind::Tool {
                output, truncated, ..
            } => {
                assert_eq!(output.as_ref().unwrap().len(), TOOL_OUTPUT_EXCERPT);
                assert!(truncated);
            }
            other => panic!("{other:?}"),
        }
    }
}
