//! The HTTP server: routing, reply generation and request recording.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::MockError;
use crate::request;
use crate::scenario::{Scenario, ToolCall, Turn, Usage};
use crate::MODEL_ID;

/// How long [`MockModel::shutdown`] waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Pause before cutting a truncated stream, so the bytes already queued are
/// flushed to the client before the connection drops.
const CUT_PAUSE: Duration = Duration::from_millis(50);

/// One chat-completion request as the mock saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Arrival order, from 0.
    pub seq: u64,
    /// The request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// True for a side request, answered without a script: OpenCode's session title, Claude
    /// Code's title and prompt suggestion (see [`SIDE_USAGE`](crate::SIDE_USAGE)).
    pub is_title: bool,
    /// Name of the script that answered, `None` for title and unparsable requests.
    pub script: Option<String>,
    /// Index of the turn used (= number of assistant messages), `None` for
    /// title and unparsable requests. May be past the end of the script.
    pub turn_index: Option<usize>,
    /// What was answered: a [`Turn::kind`] (`"text"`, `"tool_call"`, ...), or
    /// `"title"`, `"suggestion"`, `"done"` (past the end of the script) or `"invalid_json"`.
    pub turn_kind: String,
    /// Whether the client asked for a streamed reply.
    pub stream: bool,
    /// The request body; a JSON string holding the raw text when it was not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The text of the first user message ("" when there is none).
    pub fn first_user_text(&self) -> String {
        request::first_user_text(&self.body)
    }

    /// The number of assistant messages in the request.
    pub fn assistant_messages(&self) -> usize {
        request::assistant_count(&self.body)
    }

    /// The `messages` array of the request (empty when absent).
    pub fn messages(&self) -> &[Value] {
        request::messages(&self.body)
    }
}

/// Options for [`MockModel::start_with`].
#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Also append every [`RecordedRequest`] as one JSON line to this file.
    pub record_file: Option<PathBuf>,
}

impl MockConfig {
    /// Listens on `port` (0 = any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Appends each recorded request as a JSON line to `path`.
    pub fn record_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.record_file = Some(path.into());
        self
    }
}

/// A running mock server. Dropping it stops the server without waiting;
/// [`MockModel::shutdown`] stops it and waits.
pub struct MockModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for MockModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockModel")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockModel {
    /// Starts the mock on a free port of 127.0.0.1.
    pub async fn start(scenario: Scenario) -> Result<MockModel, MockError> {
        MockModel::start_with(scenario, MockConfig::default()).await
    }

    /// Starts the mock on 127.0.0.1:`port` (0 = any free port).
    pub async fn start_on(scenario: Scenario, port: u16) -> Result<MockModel, MockError> {
        MockModel::start_with(scenario, MockConfig::default().port(port)).await
    }

    /// Starts the mock with explicit options. Must be called inside a tokio runtime.
    pub async fn start_with(
        scenario: Scenario,
        config: MockConfig,
    ) -> Result<MockModel, MockError> {
        scenario
            .validate()
            .map_err(|message| MockError::InvalidScenario {
                origin: None,
                message,
            })?;
        let file = match &config.record_file {
            Some(path) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| MockError::RecordFile {
                        path: path.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        let bind_err = |source| MockError::Bind {
            port: config.port,
            source,
        };
        // Loopback only: the mock must never be reachable from other machines.
        let listener =
            tokio::net::TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, config.port))
                .await
                .map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;

        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            scenario,
            log: Mutex::new(Log {
                records: Vec::new(),
                file,
                file_failed: false,
            }),
            next_call_id: AtomicU64::new(1),
            next_reply_id: AtomicU64::new(1),
            stopped: stopped.clone(),
        });
        let app = router(shared.clone());
        let mut signal = stopped;
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // An Err means the sender is gone, which also means stop.
                    let _ = signal.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(e) = served {
                eprintln!("ao-mock-model: server error: {e}");
            }
        });
        Ok(MockModel {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The OpenAI base URL to give clients: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        base_url(self.port())
    }

    /// Every chat request received so far, in arrival order, title requests included.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Stops accepting requests, ends open streams (including `hang` ones)
    /// and waits (up to a few seconds) for the connections to close.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        // Only signals: the server task and its streams wind down on their own.
        self.stop.send_replace(true);
    }
}

pub(crate) fn base_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/v1")
}

/// State shared by the handlers and the [`MockModel`] handle.
pub(crate) struct Shared {
    scenario: Scenario,
    log: Mutex<Log>,
    next_call_id: AtomicU64,
    next_reply_id: AtomicU64,
    stopped: watch::Receiver<bool>,
}

struct Log {
    records: Vec<RecordedRequest>,
    file: Option<File>,
    /// Set after the first write error, so a full disk is reported once.
    file_failed: bool,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock cannot leave the Vec half-updated,
        // so a poisoned lock is still usable.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.log().records.clone()
    }

    fn record(&self, path: String, body: Value, decision: &Decision, stream: bool) {
        let mut log = self.log();
        let record = RecordedRequest {
            seq: log.records.len() as u64,
            path,
            is_title: decision.is_title,
            script: decision.script.clone(),
            turn_index: decision.turn_index,
            turn_kind: decision.kind.clone(),
            stream,
            body,
        };
        // Written under the lock so the file lines keep the arrival order.
        if let Some(file) = log.file.as_mut() {
            let written = serde_json::to_string(&record)
                .map_err(io::Error::other)
                .and_then(|line| writeln!(file, "{line}"))
                .and_then(|()| file.flush());
            if let Err(e) = written {
                if !log.file_failed {
                    eprintln!("ao-mock-model: cannot write record file: {e}");
                }
                log.file_failed = true;
            }
        }
        log.records.push(record);
    }

    /// Resolves once the server is told to stop.
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stopped.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

/// The Anthropic Messages API (Claude Code); a child module, so that it answers with this one's
/// recording and streaming.
#[path = "anthropic.rs"]
pub(crate) mod anthropic;
/// The OpenAI Responses API (Codex); a child module, like the Anthropic one.
#[path = "responses.rs"]
mod responses;

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/responses", post(responses::responses))
        .route("/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .fallback(not_found)
        // OpenCode requests carry the whole conversation; axum's 2 MB default is too small.
        .layer(DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(shared)
}

async fn models() -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "owned_by": "ao-mock"}]
    }))
}

async fn not_found(uri: Uri) -> Response {
    error_response(
        404,
        &format!("the ao mock model has no route {}", uri.path()),
    )
}

/// Which reply a request gets, and what to record about it.
struct Decision {
    is_title: bool,
    script: Option<String>,
    turn_index: Option<usize>,
    kind: String,
    turn: Turn,
}

fn decide(scenario: &Scenario, body: &Value) -> Decision {
    if request::is_title_request(body) {
        return Decision {
            is_title: true,
            script: None,
            turn_index: None,
            kind: "title".to_string(),
            turn: Turn::text("Mock session").usage(10, 2),
        };
    }
    let script = scenario.select(&request::first_user_text(body));
    let name = if script.name.is_empty() {
        "default".to_string()
    } else {
        script.name.clone()
    };
    let n = request::assistant_count(body);
    let (kind, turn) = match script.turns.get(n) {
        Some(turn) => (turn.kind().to_string(), turn.clone()),
        None => ("done".to_string(), Turn::text("Done.").usage(10, 2)),
    };
    Decision {
        is_title: false,
        script: Some(name),
        turn_index: Some(n),
        kind,
        turn,
    }
}

async fn chat_completions(State(shared): State<Arc<Shared>>, uri: Uri, raw: Bytes) -> Response {
    let path = uri.path().to_string();
    let body: Value = match serde_json::from_slice(&raw) {
        Ok(body) => body,
        Err(e) => {
            let decision = Decision {
                is_title: false,
                script: None,
                turn_index: None,
                kind: "invalid_json".to_string(),
                turn: Turn::error(400, ""),
            };
            let text = String::from_utf8_lossy(&raw).into_owned();
            shared.record(path, Value::String(text), &decision, false);
            return error_response(400, &format!("request body is not valid JSON: {e}"));
        }
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(MODEL_ID)
        .to_string();
    let decision = decide(&shared.scenario, &body);
    let turn = decision.turn.clone();
    shared.record(path, body, &decision, stream);

    if let Some(ms) = turn.head_delay_ms().filter(|ms| *ms > 0) {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = shared.stopped() => return error_response(503, "the ao mock model is shutting down"),
        }
    }
    let reply = ReplyMeta {
        id: format!(
            "chatcmpl-mock-{}",
            shared.next_reply_id.fetch_add(1, Ordering::Relaxed)
        ),
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        model,
    };
    respond(&shared, &reply, turn, stream)
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

/// One `data:` event.
fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

const SSE_DONE: &str = "data: [DONE]\n\n";

/// Splits after each run of whitespace, so "a b  c" gives ["a ", "b  ", "c"]
/// and the pieces concatenate back to the input.
pub(crate) fn split_words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut prev_space = false;
    for (i, c) in text.char_indices() {
        if prev_space && !c.is_whitespace() {
            pieces.push(&text[start..i]);
            start = i;
        }
        prev_space = c.is_whitespace();
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// The arguments string sent for a tool call.
fn arguments_string(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// How a streamed body ends.
enum Ending {
    /// Normally.
    Finish,
    /// By dropping the connection (no terminating chunk).
    Cut,
    /// Never, until the server stops.
    Hang,
}

/// A response body made of `parts` (each sent after its optional delay) and
/// `ending`; it always ends when the server stops, so no stream outlives it.
fn body(shared: &Shared, parts: Vec<(Option<Duration>, Bytes)>, ending: Ending) -> Body {
    let data = stream::iter(parts).then(|(delay, bytes)| async move {
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        Ok::<Bytes, io::Error>(bytes)
    });
    let tail: BoxStream<'static, Result<Bytes, io::Error>> = match ending {
        Ending::Finish => stream::empty().boxed(),
        Ending::Cut => stream::once(async {
            tokio::time::sleep(CUT_PAUSE).await;
            Err(io::Error::other("ao mock model: connection cut on purpose"))
        })
        .boxed(),
        Ending::Hang => stream::pending().boxed(),
    };
    Body::from_stream(data.chain(tail).take_until(shared.stopped()))
}

fn streaming_response(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn json_body_response(body: Body) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// An OpenAI-style error response.
fn error_response(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        Json(json!({
            "error": {"message": message, "type": "invalid_request_error", "code": null}
        })),
    )
        .into_response()
}

/// The content of a successful reply.
struct Answer {
    text: Option<String>,
    calls: Vec<ToolCall>,
    usage: Usage,
    chunk_delay: Option<Duration>,
}

fn respond(shared: &Shared, reply: &ReplyMeta, turn: Turn, stream: bool) -> Response {
    let answer = match turn {
        Turn::Error {
            status, message, ..
        } => return error_response(status, &message),
        Turn::Malformed { text, .. } => return malformed(shared, reply, text, stream),
        Turn::Truncated {
            text, clean_end, ..
        } => {
            let ending = if clean_end {
                Ending::Finish
            } else {
                Ending::Cut
            };
            return truncated(shared, reply, text, ending, stream);
        }
        Turn::Hang { .. } => {
            let body = body(shared, Vec::new(), Ending::Hang);
            return if stream {
                streaming_response(body)
            } else {
                json_body_response(body)
            };
        }
        Turn::Text {
            text,
            usage,
            chunk_delay_ms,
            ..
        } => Answer {
            text: Some(text),
            calls: Vec::new(),
            usage: usage.unwrap_or_default(),
            chunk_delay: chunk_delay_ms.map(Duration::from_millis),
        },
        Turn::ToolCall {
            name,
            arguments,
            text,
            usage,
            ..
        } => Answer {
            text,
            calls: vec![ToolCall::new(name, arguments)],
            usage: usage.unwrap_or_default(),
            chunk_delay: None,
        },
        Turn::ToolCalls {
            calls, text, usage, ..
        } => Answer {
            text,
            calls,
            usage: usage.unwrap_or_default(),
            chunk_delay: None,
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_words_keeps_every_character() {
        for text in [
            "",
            "one",
            "a b",
            "  lead and trail  ",
            "x\n\ny\tz",
            "héllo wörld ok",
        ] {
            let pieces = split_words(text);
            assert_eq!(pieces.concat(), text);
            assert!(pieces.iter().all(|p| !p.is_empty()));
        }
        assert_eq!(split_words("a b  c"), ["a ", "b  ", "c"]);
    }

    #[test]
    fn decide_uses_first_user_message_and_assistant_count() {
        let scenario = Scenario::new().script(
            crate::Script::new("s")
                .matching("[s]")
                .turn(Turn::text("one"))
                .turn(Turn::text("two")),
        );
        let body = json!({"messages": [
            {"role": "user", "content": "go [s]"},
            {"role": "assistant", "content": "one"},
            {"role": "user", "content": "again"},
        ]});
        let d = decide(&scenario, &body);
        assert_eq!(d.script.as_deref(), Some("s"));
        assert_eq!(d.turn_index, Some(1));
        assert_eq!(d.turn, Turn::text("two"));

        // The match must be in the FIRST user message.
        let body = json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "user", "content": "[s]"},
        ]});
        assert_eq!(decide(&scenario, &body).script.as_deref(), Some("default"));
    }
}
