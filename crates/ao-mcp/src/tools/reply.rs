//! How a tool answers: the CLI's words and the structured object, or a person's mistake in the
//! CLI's words; and the pieces of an answer several tools share.

use std::str::FromStr;

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

use ao_core::seen::Seen;
use ao_core::session::{PendingKind, SessionStatus};
use ao_core::target::Target;

/// A tool's answer: the CLI's words, and `value` as structured content (and as JSON text after
/// the words).
pub(crate) fn done(words: impl Into<String>, value: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![
        ContentBlock::text(words),
        ContentBlock::text(value.to_string()),
    ]);
    result.structured_content = Some(value);
    result
}

/// The answer of `permit` and `answer`: the words, and `{id, request, message}`.
pub(crate) fn replied(
    rec: &ao_core::session::SessionRecord,
    req: &ao_core::session::PendingRequest,
    message: String,
) -> CallToolResult {
    done(
        message.clone(),
        serde_json::json!({ "id": rec.address.to_string(), "request": req.id, "message": message }),
    )
}

/// A person's mistake, or what ao could not do, in the CLI's words.
pub(crate) fn refused(said: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(said)])
}

/// An error of ao's and its causes, as the CLI prints it.
pub(crate) fn said(e: &ao_core::Error) -> String {
    ao_core::error::chain(e)
}

/// The target `text` names; an empty one names nothing (what to say instead).
pub(crate) fn target(text: &str, what: &str) -> Result<Target, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!(
            "{what} is empty: name a session as project/name, or by a name unique across projects"
        ));
    }
    Ok(Target::from_str(text).unwrap_or_else(|never| match never {}))
}

/// Who answers a pending request, said in each request of `status`.
fn answered_by(kind: PendingKind, id: &str, allow_replies: bool) -> String {
    let (tool, command) = match kind {
        PendingKind::Permission => ("permit", "ao permit"),
        PendingKind::Question => ("answer", "ao answer"),
    };
    if allow_replies {
        format!("the {tool} tool (or a person: {command} {id})")
    } else {
        format!("a person: {command} {id}")
    }
}

/// A status object with, in each pending request, who answers it.
pub(crate) fn status_json(seen: &Seen, allow_replies: bool) -> Value {
    let status = seen.to_status();
    let mut value = object(&status);
    say_who_answers(&mut value, &status, allow_replies);
    value
}

/// `value` (a status, or an object that holds its fields: `ao show`'s) with, in each of
/// `status`'s pending requests, who answers it.
pub(crate) fn say_who_answers(value: &mut Value, status: &SessionStatus, allow_replies: bool) {
    if let Some(pending) = value.get_mut("pending").and_then(Value::as_array_mut) {
        for (object, request) in pending.iter_mut().zip(&status.pending) {
            if let Some(object) = object.as_object_mut() {
                object.insert(
                    "answered_by".into(),
                    answered_by(request.kind, &status.id, allow_replies).into(),
                );
            }
        }
    }
}

/// `value` as a JSON object (ao's views are plain data; what cannot be one says why).
pub(crate) fn object(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

/// At most `cap` bytes of `text`, cut on a character boundary; and whether it was cut.
pub(crate) fn capped(text: &str, cap: usize) -> (&str, bool) {
    if text.len() <= cap {
        return (text, false);
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_text_is_cut_on_a_character_boundary() {
        assert_eq!(capped("abc", 5), ("abc", false));
        assert_eq!(capped("aé", 2), ("a", true));
        assert_eq!(capped("aéb", 3), ("aé", true));
    }

    #[test]
    fn a_pending_request_says_who_answers_it() {
        assert_eq!(
            answered_by(PendingKind::Permission, "p/w", false),
            "a person: ao permit p/w"
        );
        assert_eq!(
            answered_by(PendingKind::Question, "p/w", true),
            "the answer tool (or a person: ao answer p/w)"
        );
    }
}
