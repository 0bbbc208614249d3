//! A session's conversation file (`conversation.jsonl`) folded into ao's transcript, and its
//! messages in short.
//!
//! The host only appends: a later line with an entry's id adds to it (a text chunk) or updates it
//! (a tool call). An entry stays where its first line was.

use std::collections::HashMap;
use std::io::ErrorKind;

use ao_agent::agent::MessageSummary;
use ao_agent::session::{SessionError, Tokens, Why};
use ao_agent::transcript::{
    excerpt, EntryKind, ToolCallStatus, TranscriptEntry, TOOL_OUTPUT_EXCERPT,
};

use crate::files::FilesError;
use crate::record::{ConversationLine, ConversationPart, HostFiles, Price, StopReason};

/// How much of a message's text [`messages`] keeps.
const SUMMARY_CHARS: usize = 200;

/// The conversation's lines, oldest first (blocking). A line that does not parse (the last one,
/// half written) is left out; no file yet is no conversation yet.
pub fn read_lines(files: &HostFiles) -> Result<Vec<ConversationLine>, FilesError> {
    let path = files.conversation();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(FilesError::Io {
                what: "read",
                path: path.display().to_string(),
                source,
            })
        }
    };
    Ok(parse_lines(&text))
}

/// The lines of a conversation file's text that parse.
pub fn parse_lines(text: &str) -> Vec<ConversationLine> {
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// A tool call's status word as ao's transcript names it.
pub fn tool_status(word: &str) -> ToolCallStatus {
    match word {
        "pending" => ToolCallStatus::Pending,
        "in_progress" => ToolCallStatus::Running,
        "completed" => ToolCallStatus::Completed,
        "failed" => ToolCallStatus::Error,
        other => ToolCallStatus::Other(other.to_string()),
    }
}

/// The conversation as ao's transcript; `price` gives each turn's cost (none without one: ACP
/// agents report their cost for the session, not per turn).
///
/// An agent's message still being written (the file's last line is one of its chunks) is left
/// out until it is whole, that is until any later line (a tool call, the turn's end) follows it:
/// `ao logs --follow` prints each entry once, and would cut the message where it stood.
pub fn fold(lines: Vec<ConversationLine>, price: Option<Price>) -> Vec<TranscriptEntry> {
    let mut entries: Vec<TranscriptEntry> = Vec::new();
    let mut at_index: HashMap<String, usize> = HashMap::new();
    let being_written = lines
        .last()
        .filter(|l| matches!(l.part, ConversationPart::Assistant { .. }))
        .map(|l| l.id.clone());
    for line in lines {
        if let Some(&i) = at_index.get(&line.id) {
            extend(&mut entries[i].kind, line.part);
            continue;
        }
        let kind = match line.part {
            ConversationPart::User { text } => EntryKind::User { text },
            ConversationPart::Assistant { text } => EntryKind::Assistant { text },
            ConversationPart::Tool {
                kind,
                title,
                status,
                output,
            } => {
                let mut tool = EntryKind::Tool {
                    tool: kind.map_or_else(|| "other".to_string(), |k| k.to_string()),
                    title: String::new(),
                    status: ToolCallStatus::Pending,
                    output: None,
                    truncated: false,
                };
                extend(
                    &mut tool,
                    ConversationPart::Tool {
                        kind: None,
                        title,
                        status,
                        output,
                    },
                );
                tool
            }
            ConversationPart::TurnEnd { reason, tokens } => turn_end(reason, tokens, price),
            // A prompt `ao send` acknowledged that a cancel dropped before it was sent.
            ConversationPart::Unsent { text } => EntryKind::Error(SessionError {
                why: Why::Interrupted,
                message: format!("prompt not sent (a cancel dropped it from the queue): {text}"),
            }),
        };
        at_index.insert(line.id.clone(), entries.len());
        entries.push(TranscriptEntry {
            id: line.id,
            at: line.at,
            kind,
        });
    }
    if let Some(i) = being_written.and_then(|id| at_index.get(&id).copied()) {
        entries.remove(i);
    }
    entries
}

/// Adds a later line to its entry: text is appended, a tool call's given fields replace its own.
fn extend(entry: &mut EntryKind, part: ConversationPart) {
    match (entry, part) {
        (EntryKind::Assistant { text }, ConversationPart::Assistant { text: more })
        | (EntryKind::User { text }, ConversationPart::User { text: more }) => text.push_str(&more),
        (
            EntryKind::Tool {
                tool,
                title,
                status,
                output,
                truncated,
            },
            ConversationPart::Tool {
                kind,
                title: new_title,
                status: new_status,
                output: new_output,
            },
        ) => {
            if let Some(kind) = kind {
                *tool = kind.to_string();
            }
            if let Some(t) = new_title {
                *title = t;
            }
            if let Some(s) = new_status {
                *status = tool_status(&s);
            }
            if let Some(o) = new_output {
                let (kept, cut) = excerpt(&o, TOOL_OUTPUT_EXCERPT);
                *output = Some(kept);
                *truncated = cut;
            }
        }
        // A line of another kind under an entry's id: the host never writes one.
        _ => {}
    }
}

/// A turn's end: a step with its usage, or the error it failed with.
fn turn_end(reason: String, tokens: Option<Tokens>, price: Option<Price>) -> EntryKind {
    if reason.parse::<StopReason>().is_err() {
        return EntryKind::Error(SessionError {
            why: Why::from_name(&reason),
            message: format!("the turn failed ({reason}); `ao status` shows the agent's message"),
        });
    }
    // A turn's cost is known only from a price over its whole usage: the agent's own cost
    // comes for the session, not per turn.
    let cost_usd = price.zip(tokens).map(|(p, t)| p.cost_of(&t));
    EntryKind::Step {
        reason,
        tokens,
        cost_usd,
    }
}

/// The user's and the agent's messages, in short.
pub fn messages(entries: &[TranscriptEntry]) -> Vec<MessageSummary> {
    entries
        .iter()
        .filter_map(|e| {
            let (role, text) = match &e.kind {
                EntryKind::User { text } => ("user", text),
                EntryKind::Assistant { text } => ("assistant", text),
                _ => return None,
            };
            Some(MessageSummary {
                id: e.id.clone(),
                role: role.to_string(),
                at: e.at,
                text: short(text),
            })
        })
        .collect()
}

/// The first [`SUMMARY_CHARS`] characters of a text, on one line.
fn short(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= SUMMARY_CHARS {
        return one_line;
    }
    let mut kept: String = one_line.chars().take(SUMMARY_CHARS).collect();
    kept.push('…');
    kept
}

#[cfg(test)]
#[path = "transcript_tests.rs"]
mod tests;
