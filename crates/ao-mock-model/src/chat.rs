//! The OpenAI Chat Completions API, as OpenCode's `@ai-sdk/openai-compatible` provider calls it
//! (`POST /v1/chat/completions`): streamed (SSE chunks, then a usage chunk and `[DONE]`) or
//! plain. The script comes from the first user message, the turn from the assistant messages;
//! OpenCode's title request is a side request.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{
    arguments_string, body, error_response, hang, json_body_response, parsed, scripted,
    split_words, sse, streaming_response, unix_seconds, waited_head_delay, Decision, Ending,
    Outcome, Shared, SHUTTING_DOWN, SSE_DONE,
};
use crate::request;
use crate::scenario::{Scenario, Turn, Usage};

/// Which reply a chat request gets: OpenCode's title request a side request, else its script's
/// turn.
pub(super) fn decide(scenario: &Scenario, body: &Value) -> Decision {
    if request::is_title_request(body) {
        return Decision::side("title", Turn::text("Mock session").usage(10, 2));
    }
    scripted(
        scenario,
        &request::first_user_text(body),
        request::assistant_count(body),
    )
}

/// `POST /v1/chat/completions`.
pub(super) async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    raw: Bytes,
) -> Response {
    let request = match parsed(&shared, &uri, &raw, error_response) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let decision = decide(&shared.scenario, &request.body);
    let turn = decision.turn.clone();
    shared.record(request.path, request.body, &decision, request.stream);

    if !waited_head_delay(&shared, &turn).await {
        return error_response(503, SHUTTING_DOWN);
    }
    let reply = ReplyMeta {
        id: format!(
            "chatcmpl-mock-{}",
            shared.next_reply_id.fetch_add(1, Ordering::Relaxed)
        ),
        created: unix_seconds(),
        model: request.model,
    };
    respond(&shared, &reply, turn, request.stream)
}

/// Fields repeated in every chunk of one reply.
struct ReplyMeta {
    id: String,
    created: u64,
    model: String,
}

impl ReplyMeta {
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
        })
    }

    fn usage_chunk(&self, usage: &Usage) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_json(usage)
        })
    }
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens(),
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens}
    })
}

/// The reply to a chat request: a completion, streamed or plain, or the turn's fault.
fn respond(shared: &Shared, reply: &ReplyMeta, turn: Turn, stream: bool) -> Response {
    let answer = match Outcome::from(turn) {
        Outcome::Answer(answer) => answer,
        Outcome::Error { status, message } => return error_response(status, &message),
        Outcome::Malformed(text) => return malformed(shared, reply, text, stream),
        Outcome::Truncated(text, ending) => return truncated(shared, reply, text, ending, stream),
        Outcome::Hang => return hang(shared, stream),
    };
    let call_ids: Vec<String> = answer
        .calls
        .iter()
        .map(|_| {
            format!(
                "call_{}",
                shared.next_call_id.fetch_add(1, Ordering::Relaxed)
            )
        })
        .collect();
    let finish_reason = if answer.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let tool_calls: Vec<Value> = answer
        .calls
        .iter()
        .zip(&call_ids)
        .enumerate()
        .map(|(index, (call, id))| {
            json!({
                "index": index,
                "id": id,
                "type": "function",
                "function": {"name": call.name, "arguments": arguments_string(&call.arguments)}
            })
        })
        .collect();

    if !stream {
        let mut message = json!({"role": "assistant", "content": answer.text});
        if !tool_calls.is_empty() {
            // Non-streamed tool calls carry no `index`.
            let calls: Vec<Value> = tool_calls
                .iter()
                .cloned()
                .map(|mut c| {
                    if let Some(obj) = c.as_object_mut() {
                        obj.remove("index");
                    }
                    c
                })
                .collect();
            message["tool_calls"] = Value::Array(calls);
        }
        return Json(json!({
            "id": reply.id,
            "object": "chat.completion",
            "created": reply.created,
            "model": reply.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": usage_json(&answer.usage)
        }))
        .into_response();
    }

    let mut parts = vec![(None, sse(&reply.chunk(json!({"role": "assistant"}), None)))];
    if let Some(text) = &answer.text {
        for (i, piece) in split_words(text).into_iter().enumerate() {
            let delay = answer.chunk_delay.filter(|_| i > 0);
            parts.push((delay, sse(&reply.chunk(json!({"content": piece}), None))));
        }
    }
    for call in tool_calls {
        parts.push((None, sse(&reply.chunk(json!({"tool_calls": [call]}), None))));
    }
    parts.push((None, sse(&reply.chunk(json!({}), Some(finish_reason)))));
    parts.push((None, sse(&reply.usage_chunk(&answer.usage))));
    parts.push((None, Bytes::from_static(SSE_DONE.as_bytes())));
    streaming_response(body(shared, parts, Ending::Finish))
}

/// A reply that is not JSON (plain), or a stream whose second event is not.
fn malformed(shared: &Shared, reply: &ReplyMeta, text: Option<String>, stream: bool) -> Response {
    const GARBAGE: &str = "{this is not json";
    if !stream {
        return json_body_response(Body::from(GARBAGE));
    }
    let text = text.unwrap_or_else(|| "Partial".to_string());
    let parts = vec![
        (
            None,
            sse(&reply.chunk(json!({"role": "assistant", "content": text}), None)),
        ),
        (None, Bytes::from(format!("data: {GARBAGE}\n\n"))),
    ];
    streaming_response(body(shared, parts, Ending::Finish))
}

/// A reply cut short: two thirds of a completion, or a stream that ends as `ending` says.
fn truncated(
    shared: &Shared,
    reply: &ReplyMeta,
    text: Option<String>,
    ending: Ending,
    stream: bool,
) -> Response {
    let text = text.unwrap_or_else(|| "This reply was cut off".to_string());
    if !stream {
        // The start of a completion object, cut mid-way.
        let full = json!({
            "id": reply.id,
            "object": "chat.completion",
            "created": reply.created,
            "model": reply.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]
        })
        .to_string();
        let cut = full.len() * 2 / 3;
        let head = Bytes::from(full).slice(..cut);
        return json_body_response(body(shared, vec![(None, head)], ending));
    }
    let mut parts = vec![(None, sse(&reply.chunk(json!({"role": "assistant"}), None)))];
    for piece in split_words(&text) {
        parts.push((None, sse(&reply.chunk(json!({"content": piece}), None))));
    }
    streaming_response(body(shared, parts, ending))
}
