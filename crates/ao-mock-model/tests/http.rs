//! End-to-end checks of the mock over real HTTP.

mod common;

use std::time::{Duration, Instant};

use ao_mock_model::{MockConfig, MockModel, Scenario, Script, ToolCall, Turn, Usage};
use common::{chat_body, post_raw, read_stream, stream_chat, user};
use serde_json::{json, Value};

async fn start(scenario: Scenario) -> MockModel {
    MockModel::start(scenario).await.expect("mock starts")
}

#[tokio::test]
async fn streamed_text_concatenates_exactly_and_ends_with_exact_usage() {
    let text = "  Hello there,  world!\nSecond\tline with ünïcode ";
    let scenario = Scenario::new().default_script(
        Script::new("main").turn(
            Turn::text(text)
                .with_usage(Usage::new(110, 7).cached(100).reasoning(3))
                .chunk_delay_ms(5),
        ),
    );
    let mock = start(scenario).await;
    let s = stream_chat(&mock.base_url(), user("hi")).await;
    assert_eq!(s.status, 200);
    assert!(s.content_type.starts_with("text/event-stream"));
    assert!(s.error.is_none());
    assert_eq!(s.content(), text);

    let data = s.data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks = s.chunks();
    assert_eq!(
        chunks.len(),
        data.len() - 1,
        "every event but [DONE] is JSON"
    );
    let content_chunks = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["content"].is_string())
        .count();
    assert!(content_chunks >= 5, "text is split into several chunks");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");

    let usage = &chunks[chunks.len() - 1];
    let id = usage["id"].clone();
    let created = usage["created"].clone();
    assert_eq!(
        *usage,
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": "mock-1",
            "choices": [],
            "usage": {
                "prompt_tokens": 110,
                "completion_tokens": 7,
                "total_tokens": 117,
                "prompt_tokens_details": {"cached_tokens": 100},
                "completion_tokens_details": {"reasoning_tokens": 3}
            }
        })
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert!(chunks[..chunks.len() - 2]
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    assert!(chunks
        .iter()
        .all(|c| c["id"] == id && c["model"] == "mock-1"));
    mock.shutdown().await;
}

#[tokio::test]
async fn default_usage_and_default_scenario() {
    let mock = start(Scenario::default()).await;
    let s = stream_chat(&mock.base_url(), user("anything")).await;
    assert_eq!(s.content(), "Hello from the ao mock model.");
    let chunks = s.chunks();
    let usage = &chunks[chunks.len() - 1]["usage"];
    assert_eq!(usage["prompt_tokens"], 10);
    assert_eq!(usage["completion_tokens"], 5);
    assert_eq!(usage["total_tokens"], 15);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);
    mock.shutdown().await;
}

#[tokio::test]
async fn tool_call_chunks_have_the_openai_shape() {
    let args = json!({"command": "ls -la", "description": "List files"});
    let scenario = Scenario::new().default_script(
        Script::new("tools")
            .turn(
                Turn::tool_call("bash", args.clone())
                    .with_text("Let me look.")
                    .usage(50, 9),
            )
            .turn(Turn::tool_calls([
                ToolCall::new("read", json!({"filePath": "/tmp/a"})),
                ToolCall::new("bash", json!("{not json")),
            ])),
    );
    let mock = start(scenario).await;

    let s = stream_chat(&mock.base_url(), user("go")).await;
    assert_eq!(s.content(), "Let me look.");
    let chunks = s.chunks();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter(|c| !c["choices"][0]["delta"]["tool_calls"].is_null())
        .collect();
    assert_eq!(calls.len(), 1);
    let call = &calls[0]["choices"][0]["delta"]["tool_calls"];
    let id = call[0]["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("call_"), "{id}");
    assert_eq!(
        *call,
        json!([{"index": 0, "id": id, "type": "function",
                "function": {"name": "bash", "arguments": args.to_string()}}])
    );
    let arguments: Value =
        serde_json::from_str(call[0]["function"]["arguments"].as_str().expect("string"))
            .expect("arguments are JSON text");
    assert_eq!(arguments, args);
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(chunks[chunks.len() - 1]["usage"]["prompt_tokens"], 50);
    assert_eq!(chunks[chunks.len() - 1]["usage"]["completion_tokens"], 9);

    // Second turn: two calls with indices 0 and 1, distinct ids; a string is sent verbatim.
    let messages = json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function", "function": {"name": "bash", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": id, "content": "a\nb"},
    ]);
    let s = stream_chat(&mock.base_url(), messages).await;
    assert_eq!(s.content(), "");
    let calls: Vec<Value> = s
        .chunks()
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array().cloned())
        .flatten()
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["index"], 0);
    assert_eq!(calls[0]["function"]["name"], "read");
    assert_eq!(calls[1]["index"], 1);
    assert_eq!(calls[1]["function"]["arguments"], "{not json");
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    mock.shutdown().await;
}

#[tokio::test]
async fn script_is_chosen_by_first_user_message_and_turn_by_assistant_count() {
    let scenario = Scenario::new()
        .script(
            Script::new("alpha")
                .matching("[alpha]")
                .turn(Turn::text("alpha zero"))
                .turn(Turn::text("alpha one")),
        )
        .script(
            Script::new("beta")
                .matching("[beta]")
                .turn(Turn::text("beta zero")),
        )
        .default_script(Script::new("fallback").turn(Turn::text("fallback zero")));
    let mock = start(scenario).await;
    let url = mock.base_url();

    let s = stream_chat(&url, user("please [beta] then [alpha]")).await;
    assert_eq!(
        s.content(),
        "alpha zero",
        "the first matching script in list order wins, wherever its match is in the text"
    );

    let s = stream_chat(&url, user("do [alpha]")).await;
    assert_eq!(s.content(), "alpha zero");

    // A follow-up user message mentioning another script does not switch scripts.
    let history = json!([
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "do [alpha]"}]},
        {"role": "assistant", "content": "alpha zero"},
        {"role": "user", "content": "now [beta]"},
    ]);
    let s = stream_chat(&url, history).await;
    assert_eq!(s.content(), "alpha one");

    // Past the end of the script: "Done." with usage (10, 2).
    let history = json!([
        {"role": "user", "content": "do [alpha]"},
        {"role": "assistant", "content": "alpha zero"},
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": "alpha one"},
        {"role": "user", "content": "more"},
    ]);
    let s = stream_chat(&url, history).await;
    assert_eq!(s.content(), "Done.");
    let chunks = s.chunks();
    let usage = &chunks[chunks.len() - 1]["usage"];
    assert_eq!(
        (
            usage["prompt_tokens"].as_u64(),
            usage["completion_tokens"].as_u64()
        ),
        (Some(10), Some(2))
    );

    let s = stream_chat(&url, user("nothing matches")).await;
    assert_eq!(s.content(), "fallback zero");

    let seen: Vec<(Option<String>, Option<usize>, String)> = mock
        .requests()
        .into_iter()
        .map(|r| (r.script, r.turn_index, r.turn_kind))
        .collect();
    let expect = |s: &str, n: usize, k: &str| (Some(s.to_string()), Some(n), k.to_string());
    assert_eq!(
        seen,
        vec![
            expect("alpha", 0, "text"),
            expect("alpha", 0, "text"),
            expect("alpha", 1, "text"),
            expect("alpha", 2, "done"),
            expect("fallback", 0, "text"),
        ]
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn title_requests_are_answered_without_consuming_a_turn() {
    let scenario = Scenario::new().script(
        Script::new("s")
            .matching("[s]")
            .turn(Turn::text("first turn"))
            .turn(Turn::text("second turn")),
    );
    let mock = start(scenario).await;
    let url = mock.base_url();
    let title = json!([
        {"role": "system", "content": "You are a Title Generator. You output ONLY a thread title."},
        {"role": "user", "content": "Generate a title for this conversation: [s]"},
    ]);
    let s = stream_chat(&url, title.clone()).await;
    assert_eq!(s.content(), "Mock session");

    // Non-streaming title calls work too.
    let response = post_raw(&format!("{url}/chat/completions"), &chat_body(title, false)).await;
    let value: Value = response.json().await.expect("json");
    assert_eq!(value["choices"][0]["message"]["content"], "Mock session");

    let s = stream_chat(&url, user("[s]")).await;
    assert_eq!(s.content(), "first turn");

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests[0].is_side && requests[1].is_side);
    assert_eq!(requests[0].script, None);
    assert_eq!(requests[0].turn_kind, "title");
    assert!(!requests[2].is_side);
    assert_eq!(requests[2].script.as_deref(), Some("s"));
    mock.shutdown().await;
}

#[tokio::test]
async fn error_turn_sends_status_and_openai_error_body() {
    let scenario =
        Scenario::new().default_script(Script::new("e").turn(Turn::error(429, "slow down")));
    let mock = start(scenario).await;
    for stream in [true, false] {
        let response = post_raw(
            &format!("{}/chat/completions", mock.base_url()),
            &chat_body(user("x"), stream),
        )
        .await;
        assert_eq!(response.status().as_u16(), 429);
        let body: Value = response.json().await.expect("json body");
        assert_eq!(
            body,
            json!({"error": {"message": "slow down", "type": "invalid_request_error", "code": null}})
        );
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn malformed_stream_has_one_good_chunk_then_garbage() {
    let scenario = Scenario::new().default_script(Script::new("m").turn(Turn::malformed()));
    let mock = start(scenario).await;
    let s = stream_chat(&mock.base_url(), user("x")).await;
    assert_eq!(s.status, 200);
    assert!(s.error.is_none(), "the stream itself ends normally");
    let data = s.data();
    assert_eq!(data.len(), 2, "{data:?}");
    let first: Value = serde_json::from_str(&data[0]).expect("first chunk is JSON");
    assert_eq!(first["choices"][0]["delta"]["content"], "Partial");
    assert_eq!(data[1], "{this is not json");
    mock.shutdown().await;
}

#[tokio::test]
async fn truncated_stream_is_cut_without_finish_usage_or_done() {
    let scenario = Scenario::new()
        .default_script(Script::new("t").turn(Turn::truncated().with_text("cut here please")));
    let mock = start(scenario).await;
    let s = stream_chat(&mock.base_url(), user("x")).await;
    assert_eq!(s.status, 200);
    assert!(s.error.is_some(), "the connection is dropped mid-body");
    assert_eq!(s.content(), "cut here please");
    assert!(!s.raw.contains("[DONE]"));
    assert!(!s.raw.contains("finish_reason\":\"") && !s.raw.contains("usage"));
    assert_eq!(s.chunks()[0]["choices"][0]["delta"]["role"], "assistant");

    let response = post_raw(
        &format!("{}/chat/completions", mock.base_url()),
        &chat_body(user("x"), false),
    )
    .await;
    assert!(
        response.text().await.is_err(),
        "non-streamed body is cut too"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn truncated_stream_with_clean_end_ends_normally_but_incomplete() {
    let scenario =
        Scenario::new().default_script(Script::new("t").turn(Turn::truncated().clean_end()));
    let mock = start(scenario).await;
    let s = stream_chat(&mock.base_url(), user("x")).await;
    assert!(s.error.is_none(), "the body ends normally");
    assert_eq!(s.content(), "This reply was cut off");
    assert!(!s.raw.contains("[DONE]") && !s.raw.contains("usage"));
    assert!(s
        .chunks()
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    mock.shutdown().await;
}

#[tokio::test]
async fn non_streaming_requests_get_a_chat_completion() {
    let scenario = Scenario::new().default_script(
        Script::new("n")
            .turn(Turn::text("plain answer").usage(33, 4))
            .turn(Turn::tool_call("bash", json!({"command": "pwd"})).with_text("Checking.")),
    );
    let mock = start(scenario).await;
    let url = format!("{}/chat/completions", mock.base_url());
    let mut body = chat_body(user("x"), false);
    body.as_object_mut().map(|o| o.remove("stream"));
    let value: Value = post_raw(&url, &body).await.json().await.expect("json");
    assert_eq!(value["object"], "chat.completion");
    assert_eq!(value["model"], "mock-1");
    assert_eq!(
        value["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": "plain answer"}, "finish_reason": "stop"}])
    );
    assert_eq!(
        value["usage"],
        json!({"prompt_tokens": 33, "completion_tokens": 4, "total_tokens": 37,
               "prompt_tokens_details": {"cached_tokens": 0},
               "completion_tokens_details": {"reasoning_tokens": 0}})
    );

    let messages =
        json!([{"role": "user", "content": "x"}, {"role": "assistant", "content": "plain answer"}]);
    let value: Value = post_raw(&url, &chat_body(messages, false))
        .await
        .json()
        .await
        .expect("json");
    let message = &value["choices"][0]["message"];
    assert_eq!(message["content"], "Checking.");
    assert_eq!(message["tool_calls"][0]["type"], "function");
    assert_eq!(message["tool_calls"][0]["function"]["name"], "bash");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        r#"{"command":"pwd"}"#
    );
    assert_eq!(value["choices"][0]["finish_reason"], "tool_calls");
    assert!(!mock.requests()[0].stream);
    mock.shutdown().await;
}

#[tokio::test]
async fn requests_are_recorded_in_memory_and_in_the_record_file() {
    let dir = std::env::temp_dir().join(format!("ao-mock-model-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let record = dir.join("requests.jsonl");
    let _ = std::fs::remove_file(&record);
    let mock = MockModel::start_with(
        Scenario::default(),
        MockConfig::default().record_file(&record),
    )
    .await
    .expect("start");
    let port = mock.port();
    let root = format!("http://127.0.0.1:{port}");
    assert_eq!(mock.base_url(), format!("{root}/v1"));

    stream_chat(&mock.base_url(), user("first")).await;
    let response = post_raw(
        &format!("{root}/chat/completions"),
        &chat_body(user("second"), false),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let bad = reqwest::Client::new()
        .post(format!("{root}/v1/chat/completions"))
        .body("{nope")
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status().as_u16(), 400);

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].seq, 0);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].body["some_unknown_field"], json!({"x": 1}));
    assert_eq!(requests[0].first_user_text(), "first");
    assert!(requests[0].stream);
    assert_eq!(requests[0].script.as_deref(), Some("default"));
    assert_eq!(requests[0].turn_index, Some(0));
    assert_eq!(requests[1].path, "/chat/completions");
    assert!(!requests[1].stream);
    assert_eq!(requests[2].turn_kind, "invalid_json");
    assert_eq!(requests[2].body, json!("{nope"));

    let lines: Vec<ao_mock_model::RecordedRequest> = std::fs::read_to_string(&record)
        .expect("record file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
        .collect();
    assert_eq!(lines, requests);
    mock.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn models_endpoint_and_unknown_paths() {
    let mock = start(Scenario::default()).await;
    let value: Value = reqwest::get(format!("{}/models", mock.base_url()))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        value,
        json!({"object": "list", "data": [{"id": "mock-1", "object": "model", "owned_by": "ao-mock"}]})
    );
    let missing = reqwest::get(format!("{}/nope", mock.base_url()))
        .await
        .expect("get");
    assert_eq!(missing.status().as_u16(), 404);
    assert!(
        mock.requests().is_empty(),
        "only chat requests are recorded"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn delay_holds_the_head_and_hang_ends_at_shutdown() {
    let scenario = Scenario::new()
        .script(
            Script::new("slow")
                .matching("[slow]")
                .turn(Turn::text("late").delay_ms(300)),
        )
        .script(Script::new("hang").matching("[hang]").turn(Turn::hang()));
    let mock = start(scenario).await;
    let url = mock.base_url();

    let started = Instant::now();
    let s = stream_chat(&url, user("[slow]")).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(s.content(), "late");

    let response = post_raw(
        &format!("{url}/chat/completions"),
        &chat_body(user("[hang]"), true),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200, "headers arrive at once");
    let reader = tokio::spawn(read_stream(response));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!reader.is_finished(), "nothing is sent while hanging");

    let stopping = Instant::now();
    mock.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "hang does not block shutdown"
    );
    let s = tokio::time::timeout(Duration::from_secs(3), reader)
        .await
        .expect("the hung stream ends at shutdown")
        .expect("reader task");
    assert_eq!(s.raw, "");
}

#[tokio::test]
async fn concurrent_sessions_get_their_own_scripts() {
    let mut scenario = Scenario::new();
    for i in 0..8 {
        scenario = scenario.script(
            Script::new(format!("s{i}"))
                .matching(format!("[s{i}]"))
                .turn(Turn::text(format!("reply {i} zero")).chunk_delay_ms(3))
                .turn(Turn::text(format!("reply {i} one"))),
        );
    }
    let mock = start(scenario).await;
    let url = mock.base_url();
    let tasks: Vec<_> = (0..8)
        .flat_map(|i| [(i, 0), (i, 1)])
        .map(|(i, turn)| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut messages = vec![json!({"role": "user", "content": format!("task [s{i}]")})];
                if turn == 1 {
                    messages.push(json!({"role": "assistant", "content": "x"}));
                }
                let s = stream_chat(&url, Value::Array(messages)).await;
                let expected = if turn == 0 { "zero" } else { "one" };
                assert_eq!(s.content(), format!("reply {i} {expected}"));
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    assert_eq!(mock.requests().len(), 16);
    mock.shutdown().await;
}

#[tokio::test]
async fn fixed_port_and_drop_stops_the_server() {
    let first = start(Scenario::default()).await;
    let port = first.port();
    first.shutdown().await;
    let mock = MockModel::start_on(Scenario::default(), port)
        .await
        .expect("same port again");
    assert_eq!(mock.port(), port);
    let err = MockModel::start_on(Scenario::default(), port)
        .await
        .expect_err("port is taken");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    drop(mock);
    // Drop only signals; the listener goes away shortly after.
    let deadline = Instant::now() + Duration::from_secs(3);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "server still accepting after drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
