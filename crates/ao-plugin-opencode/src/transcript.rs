//! A session's messages and parts, as the server returns them, turned into ao's transcript.

use ao_core::session::SessionError;
use ao_core::transcript::{excerpt, EntryKind, TranscriptEntry, TOOL_OUTPUT_EXCERPT};
use serde_json::Value;

use crate::types::{MessageWithParts, SessionTokens};

/// The transcript of these messages, oldest first.
pub fn transcript(messages: &[MessageWithParts]) -> Vec<TranscriptEntry> {
    let mut out = Vec::new();
    for m in messages {
        let user = m.info.role == "user";
        for part in &m.parts {
            if let Some(kind) = entry_kind(part, user) {
                out.push(TranscriptEntry {
                    id: str_at(part, "/id").to_string(),
                    at: part
                        .pointer("/time/start")
                        .and_then(Value::as_i64)
                        .unwrap_or(m.info.time.created),
                    kind,
                });
            }
        }
        if let Some(err) = &m.info.error {
            out.push(TranscriptEntry {
                id: format!("{}:error", m.info.id),
                at: m.info.time.completed.unwrap_or(m.info.time.created),
                kind: EntryKind::Error(SessionError {
                    name: err.name.clone(),
                    message: err.message(),
                }),
            });
        }
    }
    out
}

fn entry_kind(part: &Value, user: bool) -> Option<EntryKind> {
    match str_at(part, "/type") {
        // Synthetic parts are OpenCode's own additions to a message, not what anyone wrote.
        "text" if part.get("synthetic").and_then(Value::as_bool) == Some(true) => None,
        "text" => {
            let text = str_at(part, "/text").to_string();
            if text.is_empty() {
                return None;
            }
            Some(if user {
                EntryKind::User { text }
            } else {
                EntryKind::Assistant { text }
            })
        }
        "tool" => {
            let status = str_at(part, "/state/status").to_string();
            let body = match status.as_str() {
                "completed" => Some(str_at(part, "/state/output")),
                "error" => Some(str_at(part, "/state/error")),
                _ => None,
            };
            let (output, truncated) = match body {
                Some(b) => {
                    let (text, cut) = excerpt(b, TOOL_OUTPUT_EXCERPT);
                    (Some(text), cut)
                }
                None => (None, false),
            };
            Some(EntryKind::Tool {
                tool: str_at(part, "/tool").to_string(),
                title: tool_title(part),
                status,
                output,
                truncated,
            })
        }
        "step-finish" => {
            let tokens: SessionTokens = part
                .get("tokens")
                .and_then(|t| serde_json::from_value(t.clone()).ok())
                .unwrap_or_default();
            Some(EntryKind::Step {
                reason: str_at(part, "/reason").to_string(),
                tokens: tokens.into(),
                cost_usd: part.get("cost").and_then(Value::as_f64).unwrap_or(0.0),
            })
        }
        _ => None,
    }
}

/// One line saying what a tool call was asked to do.
fn tool_title(part: &Value) -> String {
    let title = str_at(part, "/state/title");
    if !title.is_empty() {
        return title.to_string();
    }
    let input = part.pointer("/state/input");
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

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
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
                status: "completed".into(),
                output: Some("a\nb\n".into()),
                truncated: false
            }
        );
        assert!(
            matches!(&t[2].kind, EntryKind::Step { reason, cost_usd, .. }
            if reason == "tool-calls" && *cost_usd == 0.000225)
        );
        assert_eq!(
            t[3].kind,
            EntryKind::Error(SessionError {
                name: "APIError".into(),
                message: "boom".into()
            })
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
