//! The OpenAI Responses API (`POST /v1/responses`), streamed as Codex reads it.
//!
//! Codex no longer speaks chat completions: its `model_providers` entry with
//! `wire_api = "responses"` sends the whole conversation as `input` items and
//! reads a stream of `event: NAME` / `data: JSON` pairs. The same
//! [`Scenario`](crate::Scenario) drives it:
//!
//! * the script from the first user message the person wrote (Codex also sends
//!   its own context, e.g. `<environment_context>`, as user messages; those are
//!   skipped);
//! * the turn from the number of model replies already in `input`: a run of
//!   assistant messages, reasoning and function calls counts once, so a reply
//!   of text plus a call moves on by one turn, as in chat completions;
//! * a scripted `bash` call is sent as the shell tool the request offers
//!   (`exec_command`, `shell_command` or `shell`), read from its `tools`;
//! * usage goes out in `response.completed`'s `usage`; an error turn is
//!   OpenAI's error JSON with the turn's status.
//!
//! It lives under `server` so that it shares the recording and streaming
//! helpers there without widening their visibility.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{
    arguments_string, body, error_response, parsed, scripted, split_words, streaming_response,
    unix_seconds, waited_head_delay, Decision, Ending, Outcome, Shared, SHUTTING_DOWN,
};
use crate::request::content_text;
use crate::scenario::{Scenario, ToolCall, Turn, Usage};

/// The `input` items of a Responses request, or an empty slice.
fn input(body: &Value) -> &[Value] {
    body.get("input")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn str_field<'a>(item: &'a Value, key: &str) -> &'a str {
    item.get(key).and_then(Value::as_str).unwrap_or("")
}

/// True for an item the model wrote (an assistant message, a function call,
/// reasoning): what a previous reply left in the conversation.
fn is_model_item(item: &Value) -> bool {
    match str_field(item, "type") {
        "message" => str_field(item, "role") == "assistant",
        "function_call" | "reasoning" | "custom_tool_call" | "local_shell_call" => true,
        _ => false,
    }
}

/// How many model replies `input` already holds: each run of model items
/// separated by anything else (user text, function output) counts once.
pub(crate) fn reply_count(body: &Value) -> usize {
    let mut count = 0;
    let mut in_reply = false;
    for item in input(body) {
        let model = is_model_item(item);
        if model && !in_reply {
            count += 1;
        }
        in_reply = model;
    }
    count
}

/// Codex's own context, sent as user messages: AGENTS.md instructions, the
/// environment, and the like. Each starts with a tag such as `<environment_context>`
/// or a heading Codex writes (`# AGENTS.md instructions`).
fn is_agent_context(text: &str) -> bool {
    let text = text.trim_start();
    text.starts_with('<') || text.starts_with("# AGENTS.md")
}

/// The text of the first user message that the person wrote ("" when none).
pub(crate) fn first_user_text(body: &Value) -> String {
    input(body)
        .iter()
        .filter(|item| {
            str_field(item, "role") == "user" && matches!(str_field(item, "type"), "message" | "")
        })
        .filter_map(|item| item.get("content"))
        .map(content_text)
        .find(|text| !is_agent_context(text))
        .unwrap_or_default()
}

/// The shell tool the request offers, by what Codex has called it over its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShellTool {
    /// `exec_command` with `{"cmd": "..."}`.
    ExecCommand,
    /// `shell_command` with `{"command": "..."}`.
    ShellCommand,
    /// `shell` with `{"command": ["bash", "-lc", "..."]}`.
    Shell,
}

impl ShellTool {
    fn name(self) -> &'static str {
        match self {
            ShellTool::ExecCommand => "exec_command",
            ShellTool::ShellCommand => "shell_command",
            ShellTool::Shell => "shell",
        }
    }

    /// The first of Codex's shell tools that `tools` names.
    fn offered(body: &Value) -> Option<ShellTool> {
        let tools = body.get("tools").and_then(Value::as_array)?;
        let names: Vec<&str> = tools.iter().map(|t| str_field(t, "name")).collect();
        [
            ShellTool::ExecCommand,
            ShellTool::ShellCommand,
            ShellTool::Shell,
        ]
        .into_iter()
        .find(|tool| names.contains(&tool.name()))
    }

    /// The arguments for running `command`.
    fn arguments(self, command: &str) -> Value {
        match self {
            ShellTool::ExecCommand => json!({"cmd": command}),
            ShellTool::ShellCommand => json!({"command": command}),
            ShellTool::Shell => json!({"command": ["bash", "-lc", command]}),
        }
    }
}

/// A scripted call as the request's tools want it: `bash` with a string
/// `command` becomes the offered shell tool; anything else goes out as written.
fn translate_call(call: ToolCall, shell: Option<ShellTool>) -> ToolCall {
    let command = call
        .arguments
        .get("command")
        .and_then(Value::as_str)
        .map(str::to_string);
    match (call.name.as_str(), shell, command) {
        ("bash", Some(shell), Some(command)) => {
            ToolCall::new(shell.name(), shell.arguments(&command))
        }
        _ => call,
    }
}

fn decide(scenario: &Scenario, body: &Value) -> Decision {
    scripted(scenario, &first_user_text(body), reply_count(body))
}

/// `POST /v1/responses`.
pub(super) async fn responses(State(shared): State<Arc<Shared>>, uri: Uri, raw: Bytes) -> Response {
    let request = match parsed(&shared, &uri, &raw, error_response) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let shell = ShellTool::offered(&request.body);
    let decision = decide(&shared.scenario, &request.body);
    let turn = decision.turn.clone();
    shared.record(request.path, request.body, &decision, request.stream);

    if !waited_head_delay(&shared, &turn).await {
        return error_response(503, SHUTTING_DOWN);
    }
    let reply = Reply {
        id: format!(
            "resp_mock_{}",
            shared.next_reply_id.fetch_add(1, Ordering::Relaxed)
        ),
        created_at: unix_seconds(),
        model: request.model,
    };
    respond(&shared, &reply, turn, shell, request.stream)
}

/// Fields of the `response` object repeated in its events.
struct Reply {
    id: String,
    created_at: u64,
    model: String,
}

impl Reply {
    fn response(&self, status: &str, output: &[Value], usage: Option<&Usage>) -> Value {
        let mut response = json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.model,
            "output": output,
        });
        if let Some(usage) = usage {
            response["usage"] = usage_json(usage);
        }
        response
    }
}

/// `usage` as the Responses API reports it.
fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens(),
    })
}

/// One `event: NAME` / `data: JSON` pair; `data` gets `type` = `name`.
fn event(name: &str, mut data: Value) -> Bytes {
    if let Some(object) = data.as_object_mut() {
        object.insert("type".to_string(), Value::String(name.to_string()));
    }
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The events of one reply, in order, each with the delay before it.
struct Events {
    parts: Vec<(Option<Duration>, Bytes)>,
    output: Vec<Value>,
}

impl Events {
    fn new(reply: &Reply) -> Events {
        let created = event(
            "response.created",
            json!({"response": reply.response("in_progress", &[], None)}),
        );
        Events {
            parts: vec![(None, created)],
            output: Vec::new(),
        }
    }

    fn push(&mut self, delay: Option<Duration>, bytes: Bytes) {
        self.parts.push((delay, bytes));
    }

    /// An assistant message streamed word by word; `complete` sends its
    /// `output_item.done` (a cut stream stops before it).
    fn message(&mut self, id: &str, text: &str, chunk_delay: Option<Duration>, complete: bool) {
        let index = self.output.len();
        let item = |status: &str, text: Option<&str>| {
            let content = match text {
                Some(text) => json!([{"type": "output_text", "text": text, "annotations": []}]),
                None => json!([]),
            };
            json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": content})
        };
        self.push(
            None,
            event(
                "response.output_item.added",
                json!({"output_index": index, "item": item("in_progress", None)}),
            ),
        );
        self.push(
            None,
            event(
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0,
                       "part": {"type": "output_text", "text": "", "annotations": []}}),
            ),
        );
        for (i, piece) in split_words(text).into_iter().enumerate() {
            let delay = chunk_delay.filter(|_| i > 0);
            self.push(
                delay,
                event(
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "delta": piece}),
                ),
            );
        }
        if !complete {
            return;
        }
        self.push(
            None,
            event(
                "response.output_text.done",
                json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
            ),
        );
        self.item_done(index, item("completed", Some(text)));
    }

    /// A function call with its arguments in one delta.
    fn function_call(&mut self, id: &str, call_id: &str, call: &ToolCall) {
        let index = self.output.len();
        let arguments = arguments_string(&call.arguments);
        let item = |status: &str, arguments: &str| {
            json!({"id": id, "type": "function_call", "status": status, "call_id": call_id,
                   "name": call.name, "arguments": arguments})
        };
        self.push(
            None,
            event(
                "response.output_item.added",
                json!({"output_index": index, "item": item("in_progress", "")}),
            ),
        );
        self.push(
            None,
            event(
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": index, "delta": arguments}),
            ),
        );
        self.push(
            None,
            event(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": index, "arguments": arguments}),
            ),
        );
        self.item_done(index, item("completed", &arguments));
    }

    /// The item at `index` is whole: `response.output_item.done`, and it joins the output.
    fn item_done(&mut self, index: usize, done: Value) {
        self.push(
            None,
            event(
                "response.output_item.done",
                json!({"output_index": index, "item": done}),
            ),
        );
        self.output.push(done);
    }

    fn completed(mut self, reply: &Reply, usage: &Usage) -> Vec<(Option<Duration>, Bytes)> {
        let response = reply.response("completed", &self.output, Some(usage));
        self.push(
            None,
            event("response.completed", json!({"response": response})),
        );
        self.parts
    }
}

fn respond(
    shared: &Shared,
    reply: &Reply,
    turn: Turn,
    shell: Option<ShellTool>,
    stream: bool,
) -> Response {
    let next_id = |prefix: &str| {
        format!(
            "{prefix}_mock_{}",
            shared.next_call_id.fetch_add(1, Ordering::Relaxed)
        )
    };
    let answer = match Outcome::from(turn) {
        Outcome::Answer(answer) => answer,
        Outcome::Error { status, message } => return error_response(status, &message),
        Outcome::Hang => return streaming_response(body(shared, Vec::new(), Ending::Hang)),
        Outcome::Malformed(text) => {
            let mut events = Events::new(reply);
            let text = text.unwrap_or_else(|| "Partial".to_string());
            events.message(&next_id("msg"), &text, None, false);
            events.push(
                None,
                Bytes::from_static(
                    b"event: response.output_text.delta\ndata: {this is not json\n\n",
                ),
            );
            return streaming_response(body(shared, events.parts, Ending::Finish));
        }
        Outcome::Truncated(text, ending) => {
            let mut events = Events::new(reply);
            let text = text.unwrap_or_else(|| "This reply was cut off".to_string());
            events.message(&next_id("msg"), &text, None, false);
            return streaming_response(body(shared, events.parts, ending));
        }
    };
    let mut events = Events::new(reply);
    if let Some(text) = &answer.text {
        events.message(&next_id("msg"), text, answer.chunk_delay, true);
    }
    for call in answer.calls {
        let call = translate_call(call, shell);
        let id = next_id("fc");
        let call_id = next_id("call");
        events.function_call(&id, &call_id, &call);
    }
    if !stream {
        let response = reply.response("completed", &events.output, Some(&answer.usage));
        return Json(response).into_response();
    }
    streaming_response(body(
        shared,
        events.completed(reply, &answer.usage),
        Ending::Finish,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MockModel, Script};

    fn user(text: &str) -> Value {
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
    }

    fn assistant(text: &str) -> Value {
        json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})
    }

    fn call() -> Value {
        json!({"type": "function_call", "name": "exec_command", "arguments": "{}", "call_id": "c1"})
    }

    fn output() -> Value {
        json!({"type": "function_call_output", "call_id": "c1", "output": "ok"})
    }

    #[test]
    fn skips_codex_context_when_choosing_the_script() {
        let body = json!({"input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions instructions>"}]},
            user("# AGENTS.md instructions for /tmp\n\n<INSTRUCTIONS>x</INSTRUCTIONS>"),
            user("<environment_context>\n  <cwd>/tmp</cwd>\n</environment_context>"),
            user("run it [perm]"),
            user("second"),
        ]});
        assert_eq!(first_user_text(&body), "run it [perm]");
        assert_eq!(first_user_text(&json!({"input": "text"})), "");
    }

    #[test]
    fn a_reply_of_text_and_calls_counts_once() {
        let body = json!({"input": [user("go")]});
        assert_eq!(reply_count(&body), 0);
        let body = json!({"input": [
            user("go"),
            {"type": "reasoning", "summary": []},
            assistant("let me look"),
            call(),
            output(),
            assistant("done"),
            user("again"),
        ]});
        assert_eq!(reply_count(&body), 2);
        assert_eq!(reply_count(&json!({"input": 3})), 0);
    }

    #[test]
    fn bash_becomes_the_offered_shell_tool() {
        let bash = ToolCall::new("bash", json!({"command": "ls -la", "description": "List"}));
        let tools = |name: &str| json!({"tools": [{"type": "function", "name": "update_plan"}, {"type": "function", "name": name}]});
        let offered = |name: &str| ShellTool::offered(&tools(name));
        assert_eq!(
            translate_call(bash.clone(), offered("exec_command")),
            ToolCall::new("exec_command", json!({"cmd": "ls -la"}))
        );
        assert_eq!(
            translate_call(bash.clone(), offered("shell_command")),
            ToolCall::new("shell_command", json!({"command": "ls -la"}))
        );
        assert_eq!(
            translate_call(bash.clone(), offered("shell")),
            ToolCall::new("shell", json!({"command": ["bash", "-lc", "ls -la"]}))
        );
        // No shell tool offered, or another tool: sent as scripted.
        assert_eq!(translate_call(bash.clone(), offered("other")), bash);
        let plan = ToolCall::new("update_plan", json!({"plan": []}));
        assert_eq!(translate_call(plan.clone(), offered("exec_command")), plan);
    }

    /// The events of a streamed body as (name, data) pairs.
    fn events(text: &str) -> Vec<(String, Value)> {
        text.split("\n\n")
            .filter(|block| !block.trim().is_empty())
            .map(|block| {
                let mut lines = block.lines();
                let name = lines
                    .next()
                    .and_then(|l| l.strip_prefix("event: "))
                    .expect("event line");
                let data = lines
                    .next()
                    .and_then(|l| l.strip_prefix("data: "))
                    .expect("data line");
                (
                    name.to_string(),
                    serde_json::from_str(data).expect("data is JSON"),
                )
            })
            .collect()
    }

    async fn post(mock: &MockModel, body: Value) -> (u16, String) {
        let reply = reqwest::Client::new()
            .post(format!("{}/responses", mock.base_url()))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = reply.status().as_u16();
        (status, reply.text().await.expect("body"))
    }

    #[tokio::test]
    async fn streams_a_shell_call_then_text_with_usage() {
        let scenario = Scenario::new().script(
            Script::new("perm")
                .matching("[perm]")
                .turn(
                    Turn::tool_call("bash", json!({"command": "touch x"}))
                        .with_text("Running it.")
                        .usage(120, 9),
                )
                .turn(Turn::text("It ran fine.").with_usage(Usage::new(130, 3).cached(100))),
        );
        let mock = MockModel::start(scenario).await.expect("mock");
        let tools = json!([{"type": "function", "name": "exec_command", "parameters": {}}]);
        let (status, text) = post(
            &mock,
            json!({"model": "m", "stream": true, "tools": tools, "input": [user("do it [perm]")]}),
        )
        .await;
        assert_eq!(status, 200);
        let first = events(&text);
        let names: Vec<&str> = first.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names.first(), Some(&"response.created"));
        assert_eq!(names.last(), Some(&"response.completed"));
        for (name, data) in &first {
            assert_eq!(data["type"], name.as_str());
        }
        let done: Vec<&Value> = first
            .iter()
            .filter(|(name, _)| name == "response.output_item.done")
            .map(|(_, data)| &data["item"])
            .collect();
        assert_eq!(done.len(), 2);
        assert_eq!(done[0]["content"][0]["text"], "Running it.");
        assert_eq!(done[1]["type"], "function_call");
        assert_eq!(done[1]["name"], "exec_command");
        let arguments: Value =
            serde_json::from_str(done[1]["arguments"].as_str().expect("arguments")).expect("json");
        assert_eq!(arguments, json!({"cmd": "touch x"}));
        let deltas: String = first
            .iter()
            .filter(|(name, _)| name == "response.output_text.delta")
            .filter_map(|(_, data)| data["delta"].as_str())
            .collect();
        assert_eq!(deltas, "Running it.");
        let completed = &first.last().expect("events").1["response"];
        assert_eq!(completed["usage"]["input_tokens"], 120);
        assert_eq!(completed["usage"]["output_tokens"], 9);
        assert_eq!(completed["usage"]["total_tokens"], 129);

        // The follow-up carries the reply and the call's output: the next turn.
        let call_id = done[1]["call_id"].clone();
        let follow_up = json!({"model": "m", "stream": true, "tools": tools, "input": [
            user("do it [perm]"), done[0].clone(), done[1].clone(),
            {"type": "function_call_output", "call_id": call_id, "output": "ok"},
        ]});
        let (_, text) = post(&mock, follow_up).await;
        let second = events(&text);
        let completed = &second.last().expect("events").1["response"];
        assert_eq!(completed["output"][0]["content"][0]["text"], "It ran fine.");
        assert_eq!(
            completed["usage"]["input_tokens_details"]["cached_tokens"],
            100
        );

        let recorded = mock.requests();
        assert_eq!(recorded.len(), 2);
        assert_eq!(recorded[0].path, "/v1/responses");
        assert_eq!(recorded[1].script.as_deref(), Some("perm"));
        assert_eq!(recorded[1].turn_index, Some(1));
        assert_eq!(recorded[1].turn_kind, "text");
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn an_error_turn_is_openai_error_json_with_its_status() {
        let scenario = Scenario::new().default_script(
            Script::new("fail").turn(Turn::error(400, "the mock refuses this request")),
        );
        let mock = MockModel::start(scenario).await.expect("mock");
        let (status, text) = post(&mock, json!({"stream": true, "input": [user("hi")]})).await;
        assert_eq!(status, 400);
        let body: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(body["error"]["message"], "the mock refuses this request");
        mock.shutdown().await;
    }

    #[tokio::test]
    async fn a_truncated_turn_never_completes() {
        let scenario =
            Scenario::new().default_script(Script::new("cut").turn(Turn::truncated().clean_end()));
        let mock = MockModel::start(scenario).await.expect("mock");
        let (status, text) = post(&mock, json!({"stream": true, "input": [user("hi")]})).await;
        assert_eq!(status, 200);
        let names: Vec<String> = events(&text).into_iter().map(|(name, _)| name).collect();
        assert!(names.contains(&"response.output_text.delta".to_string()));
        assert!(!names.iter().any(|name| name == "response.completed"));
        mock.shutdown().await;
    }
}
