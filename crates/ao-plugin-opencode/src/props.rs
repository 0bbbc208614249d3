//! Property tests of what ao decodes from an OpenCode server (its JSON and its event stream):
//! whatever the server sends, a value or an error, never a panic. Bounded, so that they run with
//! every `cargo test`.

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::Value;

use crate::events::GlobalEvent;

use crate::types::{
    ApiError, ErrorName, FinishReason, MessageWithParts, Part, PermissionRequest, PromptModel,
    QuestionRequest, Session, SessionStatus, Todo, ToolStatus,
};

/// Keys the decoders look for, so that generated objects reach past the first field.
const KEYS: &[&str] = &[
    "id",
    "type",
    "properties",
    "payload",
    "directory",
    "sessionID",
    "info",
    "part",
    "status",
    "tokens",
    "cost",
    "time",
    "title",
    "parentID",
    "role",
    "parts",
    "text",
    "tool",
    "state",
    "input",
    "output",
    "error",
    "name",
    "data",
    "message",
    "questions",
    "options",
    "label",
    "content",
    "priority",
    "permission",
    "patterns",
    "metadata",
    "created",
    "updated",
    "providerID",
    "modelID",
    "cache",
    "read",
    "write",
    "reasoning",
    "attempt",
    "next",
];

/// Strings the decoders look for (event and kind names), and text of several bytes a character.
const WORDS: &[&str] = &[
    "session.idle",
    "session.status",
    "session.updated",
    "message.updated",
    "permission.asked",
    "question.asked",
    "message.part.updated",
    "server.heartbeat",
    "busy",
    "idle",
    "retry",
    "tool",
    "text",
    "step-finish",
    "completed",
    "error",
    "running",
    "assistant",
    "user",
    "ses_1",
    "é",
    "日本",
    "😀",
    "\u{202e}",
    "",
    "a/b",
    "/",
];

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(KEYS).prop_map(String::from),
                        any::<String>()
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Decodes `value` as every type ao reads from the server, and uses what decodes.
fn decode_all(value: &Value) {
    let text = value.to_string();
    if let Ok(e) = serde_json::from_str::<GlobalEvent>(&text) {
        let _ = (e.change(), e.payload.session_id());
    }
    let _ = serde_json::from_str::<Session>(&text);
    let _ = serde_json::from_str::<Vec<Session>>(&text);
    let _ = serde_json::from_str::<std::collections::HashMap<String, SessionStatus>>(&text);
    let _ = serde_json::from_str::<Vec<PermissionRequest>>(&text);
    let _ = serde_json::from_str::<Vec<QuestionRequest>>(&text);
    let _ = serde_json::from_str::<Vec<MessageWithParts>>(&text);
    if let Ok(todos) = serde_json::from_str::<Vec<Todo>>(&text) {
        let _: Vec<ao_agent::agent::PlanItem> = todos.into_iter().map(Into::into).collect();
    }
    if let Ok(e) = serde_json::from_str::<ApiError>(&text) {
        let _ = e.message();
    }
    let part = Part::read(value);
    let _ = String::from(part.state.status.clone());
    if let Some(s) = value.as_str() {
        let _ = PromptModel::parse(s);
        let _ = String::from(ToolStatus::from(s.to_string()));
        let _ = String::from(ErrorName::from(s.to_string()));
        let _ = String::from(FinishReason::from(s.to_string()));
    }
}

/// The events of a body that arrives as `chunks`.
fn events_of(chunks: Vec<Vec<u8>>) -> Vec<GlobalEvent> {
    let chunks: Vec<reqwest::Result<Bytes>> =
        chunks.into_iter().map(|c| Ok(Bytes::from(c))).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut stream = crate::events::EventStream::from_bytes(
            futures_util::stream::iter(chunks),
            std::time::Duration::from_secs(60),
            "http://127.0.0.1:1",
        );
        let mut out = Vec::new();
        while let Ok(Some(e)) = stream.next().await {
            out.push(e);
        }
        out
    })
}

/// Pieces of a server-sent event stream.
const SSE_PIECES: &[&[u8]] = &[
    b"data: ",
    b"data:",
    b"event: x",
    b": comment",
    b"id: 1",
    b"retry: 10",
    b"\n",
    b"\r",
    b"\r\n",
    b"{\"payload\":{\"type\":\"session.idle\",\"properties\":{\"sessionID\":\"ses_\xc3\xa9\"}}}",
    b"{",
    b"}",
    b"\"",
    b"\xc3",
    b"\xa9",
    b"\xff",
    b"\xf0\x9f\x98",
    b"\x80",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_json_decodes_or_is_an_error(value in json()) {
        decode_all(&value);
    }

    #[test]
    fn any_text_decodes_or_is_an_error(text in any::<String>()) {
        let _ = serde_json::from_str::<GlobalEvent>(&text);
        let _ = serde_json::from_str::<Vec<MessageWithParts>>(&text);
    }

    #[test]
    fn any_event_stream_gives_events_or_ends(
        pieces in prop::collection::vec(
            prop_oneof![
                prop::sample::select(SSE_PIECES).prop_map(<[u8]>::to_vec),
                prop::collection::vec(any::<u8>(), 0..8),
            ],
            0..40,
        ),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let body: Vec<u8> = pieces.concat();
        // The same body in chunks cut anywhere, even inside a character or a line end.
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for to in at {
            chunks.push(body[from..to].to_vec());
            from = to;
        }
        chunks.push(body[from..].to_vec());
        let whole = events_of(vec![body.clone()]);
        let cut = events_of(chunks);
        prop_assert_eq!(whole.len(), cut.len());
    }
}
