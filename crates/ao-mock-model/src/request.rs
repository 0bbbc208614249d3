//! Reading the parts of an OpenAI chat request that drive script selection.
//!
//! Everything here is tolerant: a missing or oddly shaped field counts as
//! empty instead of failing, because the mock must answer whatever the client
//! sends.

use serde_json::Value;

/// The messages array of a request, or an empty slice.
pub(crate) fn messages(body: &Value) -> &[Value] {
    body.get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn role(message: &Value) -> Role {
    message
        .get("role")
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(Role::Other)
}

/// Who wrote a message of a chat request; a role the mock does not use (or none) is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString)]
#[strum(serialize_all = "lowercase")]
enum Role {
    System,
    Developer,
    User,
    Assistant,
    Other,
}

/// The text of a message `content`: a string as is, the `text` of each part
/// of an array joined by newlines, anything else empty.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The text of the first `user` message, or "" when there is none.
pub(crate) fn first_user_text(body: &Value) -> String {
    messages(body)
        .iter()
        .find(|m| role(m) == Role::User)
        .and_then(|m| m.get("content"))
        .map(content_text)
        .unwrap_or_default()
}

/// How many `assistant` messages the request holds (= the turn index).
pub(crate) fn assistant_count(body: &Value) -> usize {
    messages(body)
        .iter()
        .filter(|m| role(m) == Role::Assistant)
        .count()
}

/// True for OpenCode's session-title call, recognised by "title generator" in
/// a system (or developer) message.
pub(crate) fn is_title_request(body: &Value) -> bool {
    messages(body)
        .iter()
        .filter(|m| matches!(role(m), Role::System | Role::Developer))
        .filter_map(|m| m.get("content"))
        .any(|c| content_text(c).to_lowercase().contains("title generator"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_string_and_part_contents() {
        let body = json!({"messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": null, "tool_calls": []},
            {"role": "tool", "content": "out"},
            {"role": "user", "content": "second"},
            {"role": "assistant", "content": "x"},
        ]});
        assert_eq!(first_user_text(&body), "a\nb");
        assert_eq!(assistant_count(&body), 2);
        assert!(!is_title_request(&body));
    }

    #[test]
    fn tolerates_garbage() {
        for body in [
            json!(null),
            json!([]),
            json!({"messages": 3}),
            json!({"messages": [1, {"role": 2}]}),
        ] {
            assert_eq!(first_user_text(&body), "");
            assert_eq!(assistant_count(&body), 0);
            assert!(!is_title_request(&body));
        }
    }

    #[test]
    fn detects_title_requests() {
        let body = json!({"messages": [
            {"role": "system", "content": [{"type": "text", "text": "You are a Title Generator. Output only a title."}]},
            {"role": "user", "content": "hi"},
        ]});
        assert!(is_title_request(&body));
        // Only system messages count: a user asking about titles is a normal request.
        let body = json!({"messages": [{"role": "user", "content": "be a title generator"}]});
        assert!(!is_title_request(&body));
    }
}
