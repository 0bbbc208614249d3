//! A session's conversation as `ao logs` shows it: what was said, each tool call with its status
//! and a bounded excerpt of its output, errors, and what each step cost.

use serde::Serialize;

use crate::clock::EpochMillis;
use crate::session::{SessionError, Tokens};

/// How much of a tool's output a transcript keeps, in bytes.
pub const TOOL_OUTPUT_EXCERPT: usize = 2000;

/// One entry of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranscriptEntry {
    /// A stable id (the agent's part id), so that a follower prints each entry once.
    pub id: String,
    /// When it happened.
    pub at: EpochMillis,
    /// What it is.
    #[serde(flatten)]
    pub kind: EntryKind,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryKind {
    /// A message from the person (or from `ao spawn`/`ao send`).
    User {
        /// The text.
        text: String,
    },
    /// Text from the agent.
    Assistant {
        /// The text.
        text: String,
    },
    /// A tool call.
    Tool {
        /// The tool (`bash`, `edit`, ...).
        tool: String,
        /// What it was asked to do, in one line.
        title: String,
        /// Where the call is.
        status: ToolCallStatus,
        /// The start of its output or error, at most [`TOOL_OUTPUT_EXCERPT`] bytes.
        output: Option<String>,
        /// Whether `output` was cut.
        truncated: bool,
    },
    /// The end of one model step, with what it used.
    Step {
        /// Why the step ended (`stop`, `tool-calls`, ...).
        reason: String,
        /// Tokens of this step (or turn), when the agent reports them whole.
        tokens: Option<Tokens>,
        /// Cost of this step (or turn) in US dollars, when the agent reports it.
        cost_usd: Option<f64>,
    },
    /// A turn that failed.
    Error(SessionError),
}

/// Where a tool call is. A word this ao does not know is kept as the agent said it (and shown
/// as such), so that a newer agent's stage never fails a transcript.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[serde(from = "String", into = "String")]
#[strum(serialize_all = "snake_case")]
pub enum ToolCallStatus {
    /// Asked for; may wait on a permission.
    Pending,
    /// Running.
    Running,
    /// Done, with its output.
    Completed,
    /// Failed or rejected, with the error.
    Error,
    /// A word this ao does not know, as the agent said it.
    #[strum(default)]
    Other(String),
}
crate::agent::open_words!(ToolCallStatus);

impl ToolCallStatus {
    /// Whether the call is over (done or failed): nothing more will come of it.
    pub fn is_final(&self) -> bool {
        matches!(self, ToolCallStatus::Completed | ToolCallStatus::Error)
    }
}

/// `text` cut to at most `max` bytes on a character boundary, and whether it was cut.
pub fn excerpt(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_string(), false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_call_status_keeps_its_word_in_json() {
        for word in ["pending", "running", "completed", "error", "cancelled"] {
            let status = ToolCallStatus::from(word.to_string());
            assert_eq!(serde_json::to_value(&status).unwrap(), word);
        }
        assert_eq!(
            ToolCallStatus::from("cancelled".to_string()),
            ToolCallStatus::Other("cancelled".into())
        );
        assert!(ToolCallStatus::Error.is_final() && !ToolCallStatus::Running.is_final());
    }

    #[test]
    fn excerpt_cuts_on_a_character_boundary() {
        assert_eq!(excerpt("héllo", 2), ("h".to_string(), true));
        assert_eq!(excerpt("héllo", 3), ("hé".to_string(), true));
        assert_eq!(excerpt("hi", 10), ("hi".to_string(), false));
    }
}
