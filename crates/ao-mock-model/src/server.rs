//! The HTTP server: routing, request recording, and what the three APIs share (the request
//! prologue, the choice of a script's turn, streamed bodies); each API answers in its own module
//! (`chat.rs`, `anthropic.rs`, `responses.rs`).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
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

/// One model request as the mock saw it (any of its APIs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Arrival order, from 0.
    pub seq: u64,
    /// The request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// True for a side request, answered without a script: OpenCode's session title, Claude
    /// Code's title and prompt suggestion (see [`SIDE_USAGE`](crate::SIDE_USAGE));
    /// [`turn_kind`](Self::turn_kind) tells which. Record files written before it was renamed
    /// call it `is_title`, which still reads.
    #[serde(alias = "is_title")]
    pub is_side: bool,
    /// Name of the script that answered, `None` for side and unparsable requests.
    pub script: Option<String>,
    /// Index of the turn used (the API's count of earlier model replies), `None` for
    /// side and unparsable requests. May be past the end of the script.
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

    /// Every model request received so far, in arrival order, side requests included.
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
            is_side: decision.is_side,
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
/// The OpenAI Chat Completions API (OpenCode); a child module, like the others.
#[path = "chat.rs"]
mod chat;
/// The OpenAI Responses API (Codex); a child module, like the Anthropic one.
#[path = "responses.rs"]
mod responses;

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/responses", post(responses::responses))
        .route("/chat/completions", post(chat::chat_completions))
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
    is_side: bool,
    script: Option<String>,
    turn_index: Option<usize>,
    kind: String,
    turn: Turn,
}

impl Decision {
    /// A side request's: `turn` answered without a script, recorded as `kind`.
    fn side(kind: &str, turn: Turn) -> Decision {
        Decision {
            is_side: true,
            script: None,
            turn_index: None,
            kind: kind.to_string(),
            turn,
        }
    }
}

/// What every API reads alike from a request whose body is JSON.
struct Parsed {
    /// The request path, as recorded.
    path: String,
    body: Value,
    /// Whether the client asked for a streamed reply.
    stream: bool,
    /// The model the client asked for, echoed in the reply.
    model: String,
}

/// The body of a request as JSON, or, when it is not JSON, the request recorded as
/// `invalid_json` and a 400 answer in the API's own error shape (`error_response`), boxed
/// because a `Response` is large beside a `Parsed`.
fn parsed(
    shared: &Shared,
    uri: &Uri,
    raw: &[u8],
    error_response: fn(u16, &str) -> Response,
) -> Result<Parsed, Box<Response>> {
    let path = uri.path().to_string();
    let body: Value = match serde_json::from_slice(raw) {
        Ok(body) => body,
        Err(e) => {
            let decision = Decision {
                is_side: false,
                script: None,
                turn_index: None,
                kind: "invalid_json".to_string(),
                turn: Turn::error(400, ""),
            };
            let text = String::from_utf8_lossy(raw).into_owned();
            shared.record(path, Value::String(text), &decision, false);
            return Err(Box::new(error_response(
                400,
                &format!("request body is not valid JSON: {e}"),
            )));
        }
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(MODEL_ID)
        .to_string();
    Ok(Parsed {
        path,
        body,
        stream,
        model,
    })
}

/// The scripted reply: the script `first_user_text` selects, its turn `turn_index`, or "Done."
/// with usage (10, 2) past the script's end. Each API finds the text and the index its own way.
fn scripted(scenario: &Scenario, first_user_text: &str, turn_index: usize) -> Decision {
    let script = scenario.select(first_user_text);
    let name = if script.name.is_empty() {
        "default".to_string()
    } else {
        script.name.clone()
    };
    let (kind, turn) = match script.turns.get(turn_index) {
        Some(turn) => (turn.kind().to_string(), turn.clone()),
        None => ("done".to_string(), Turn::text("Done.").usage(10, 2)),
    };
    Decision {
        is_side: false,
        script: Some(name),
        turn_index: Some(turn_index),
        kind,
        turn,
    }
}

/// Waits out `turn`'s delay before the reply's head; false when the server stopped meanwhile.
async fn waited_head_delay(shared: &Shared, turn: &Turn) -> bool {
    let Some(ms) = turn.head_delay_ms().filter(|ms| *ms > 0) else {
        return true;
    };
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
        _ = shared.stopped() => false,
    }
}

/// What a request answered while the server stops gets.
const SHUTTING_DOWN: &str = "the ao mock model is shutting down";

/// Seconds since the Unix epoch, for a reply's `created` field.
fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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

/// What a turn answers, before each API renders it its own way.
enum Outcome {
    /// A reply of text and tool calls.
    Answer(Answer),
    /// An HTTP error with this status and message.
    Error { status: u16, message: String },
    /// A body that stops being JSON after the text, if any (each API has its default).
    Malformed(Option<String>),
    /// A reply cut after the text, if any, ending so.
    Truncated(Option<String>, Ending),
    /// No reply until the server stops.
    Hang,
}

impl From<Turn> for Outcome {
    fn from(turn: Turn) -> Outcome {
        match turn {
            Turn::Error {
                status, message, ..
            } => Outcome::Error { status, message },
            Turn::Malformed { text, .. } => Outcome::Malformed(text),
            Turn::Truncated {
                text, clean_end, ..
            } => {
                let ending = if clean_end {
                    Ending::Finish
                } else {
                    Ending::Cut
                };
                Outcome::Truncated(text, ending)
            }
            Turn::Hang { .. } => Outcome::Hang,
            Turn::Text {
                text,
                usage,
                chunk_delay_ms,
                ..
            } => Outcome::Answer(Answer {
                text: Some(text),
                calls: Vec::new(),
                usage: usage.unwrap_or_default(),
                chunk_delay: chunk_delay_ms.map(Duration::from_millis),
            }),
            Turn::ToolCall {
                name,
                arguments,
                text,
                usage,
                ..
            } => Outcome::Answer(Answer {
                text,
                calls: vec![ToolCall::new(name, arguments)],
                usage: usage.unwrap_or_default(),
                chunk_delay: None,
            }),
            Turn::ToolCalls {
                calls, text, usage, ..
            } => Outcome::Answer(Answer {
                text,
                calls,
                usage: usage.unwrap_or_default(),
                chunk_delay: None,
            }),
        }
    }
}

/// A body that never comes, until the server stops: an event stream when one was asked for.
fn hang(shared: &Shared, stream: bool) -> Response {
    let body = body(shared, Vec::new(), Ending::Hang);
    if stream {
        streaming_response(body)
    } else {
        json_body_response(body)
    }
}

#[cfg(test)]
mod tests {
    use super::chat::decide;
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

    #[test]
    fn past_the_script_s_end_the_reply_is_done() {
        let scenario = Scenario::new().script(
            crate::Script::new("s")
                .matching("[s]")
                .turn(Turn::text("one")),
        );
        let d = scripted(&scenario, "go [s]", 1);
        assert_eq!(
            (
                d.script.as_deref(),
                d.turn_index,
                d.kind.as_str(),
                d.is_side
            ),
            (Some("s"), Some(1), "done", false)
        );
        assert_eq!(d.turn, Turn::text("Done.").usage(10, 2));
        assert_eq!(
            scripted(&scenario, "go", 0).script.as_deref(),
            Some("default")
        );
    }

    #[test]
    fn an_invalid_body_is_recorded_and_answered_in_the_api_s_error_shape() {
        let (stop, stopped) = watch::channel(false);
        let shared = Shared {
            scenario: Scenario::new(),
            log: Mutex::new(Log {
                records: Vec::new(),
                file: None,
                file_failed: false,
            }),
            next_call_id: AtomicU64::new(1),
            next_reply_id: AtomicU64::new(1),
            stopped,
        };
        let uri: Uri = "/v1/x?beta=true".parse().unwrap();
        let teapot = |_: u16, _: &str| StatusCode::IM_A_TEAPOT.into_response();
        let Err(response) = parsed(&shared, &uri, b"{not json", teapot) else {
            panic!("parsed an invalid body");
        };
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
        let records = shared.requests();
        assert_eq!(
            (records[0].path.as_str(), records[0].turn_kind.as_str()),
            ("/v1/x", "invalid_json")
        );
        assert_eq!(records[0].body, json!("{not json"));

        let Ok(request) = parsed(&shared, &uri, br#"{"stream": true}"#, teapot) else {
            panic!("refused a JSON body");
        };
        assert_eq!((request.stream, request.model.as_str()), (true, MODEL_ID));
        drop(stop);
    }

    #[test]
    fn a_record_written_with_is_title_still_reads() {
        let line = json!({"seq": 0, "path": "/v1/chat/completions", "is_title": true,
            "script": null, "turn_index": null, "turn_kind": "title", "stream": false, "body": {}});
        let record: RecordedRequest = serde_json::from_value(line).unwrap();
        assert!(record.is_side);
    }
}
