//! Scenario construction, JSON format and validation.

use ao_mock_model::{opencode_provider_config, MockError, Scenario, Script, ToolCall, Turn, Usage};
use serde_json::json;

#[test]
fn default_scenario_says_hello() {
    let scenario = Scenario::default();
    assert!(scenario.scripts.is_empty());
    assert_eq!(
        scenario.default.turns,
        vec![Turn::text("Hello from the ao mock model.").usage(10, 5)]
    );
    assert_eq!(Scenario::new(), scenario);
    assert_eq!(Usage::default(), Usage::new(10, 5));
}

#[test]
fn json_format_parses_every_turn_kind() {
    let scenario = Scenario::from_json_str(
        r#"{
          "description": "all kinds",
          "scripts": [{
            "name": "all", "match": "[all]",
            "turns": [
              {"type": "text", "text": "hi", "usage": {"prompt_tokens": 110, "completion_tokens": 7}, "chunk_delay_ms": 5},
              {"type": "tool_call", "name": "bash", "arguments": {"command": "ls"}, "text": "Looking.", "delay_ms": 10},
              {"type": "tool_calls", "calls": [{"name": "read", "arguments": {"filePath": "a"}}]},
              {"type": "tool_calls", "tool_calls": [{"name": "read", "arguments": {"filePath": "b"}}]},
              {"type": "error", "status": 400, "message": "mock bad request"},
              {"type": "malformed"},
              {"type": "truncated", "text": "cut"},
              {"type": "truncated", "clean_end": true},
              {"type": "hang", "delay_ms": 1}
            ]
          }]
        }"#,
    )
    .expect("valid scenario");
    let expected = Scenario::new().script(
        Script::new("all").matching("[all]").turns([
            Turn::text("hi").usage(110, 7).chunk_delay_ms(5),
            Turn::tool_call("bash", json!({"command": "ls"}))
                .with_text("Looking.")
                .delay_ms(10),
            Turn::tool_calls([ToolCall::new("read", json!({"filePath": "a"}))]),
            Turn::tool_calls([ToolCall::new("read", json!({"filePath": "b"}))]),
            Turn::error(400, "mock bad request"),
            Turn::malformed(),
            Turn::truncated().with_text("cut"),
            Turn::truncated().clean_end(),
            Turn::hang().delay_ms(1),
        ]),
    );
    assert_eq!(scenario.scripts, expected.scripts);
    assert_eq!(
        scenario.default,
        Script::hello(),
        "default script is optional"
    );

    // Serialising and parsing again gives the same scenario.
    let text = serde_json::to_string(&scenario).expect("serialise");
    assert_eq!(Scenario::from_json_str(&text).expect("reparse"), scenario);
}

#[test]
fn bad_files_give_errors_that_name_the_file() {
    let dir = std::env::temp_dir().join(format!("ao-mock-model-scn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");

    let missing = dir.join("missing.json");
    let err = Scenario::from_json_file(&missing).expect_err("missing file");
    assert!(matches!(err, MockError::ScenarioRead { .. }));
    assert!(err.to_string().contains("missing.json"), "{err}");

    let broken = dir.join("broken.json");
    std::fs::write(
        &broken,
        "{\n  \"scripts\": [\n    {\"name\": \"x\",,}\n  ]\n}",
    )
    .expect("write");
    let err = Scenario::from_json_file(&broken).expect_err("bad JSON");
    let text = err.to_string();
    assert!(
        text.contains("broken.json") && text.contains("line 3"),
        "{text}"
    );

    let typo = dir.join("typo.json");
    std::fs::write(
        &typo,
        r#"{"default": {"turns": [{"type": "text", "text": "x", "usgae": {}}]}}"#,
    )
    .expect("write");
    let err = Scenario::from_json_file(&typo).expect_err("unknown field");
    let text = err.to_string();
    assert!(
        text.contains("typo.json") && text.contains("usgae"),
        "{text}"
    );

    let invalid = dir.join("invalid.json");
    std::fs::write(&invalid, r#"{"scripts": [{"name": "x", "turns": []}]}"#).expect("write");
    let err = Scenario::from_json_file(&invalid).expect_err("empty match");
    let text = err.to_string();
    assert!(
        text.contains("invalid.json") && text.contains("\"x\""),
        "{text}"
    );

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn validation_rejects_nonsense() {
    let bad = [
        Scenario::new().script(Script::new("").matching("[x]")),
        Scenario::new().default_script(Script::new("d").turn(Turn::error(42, "x"))),
        Scenario::new().default_script(Script::new("d").turn(Turn::tool_call("", json!({})))),
        Scenario::new().default_script(Script::new("d").turn(Turn::tool_call("bash", json!([1])))),
        Scenario::new().default_script(Script::new("d").turn(Turn::tool_calls([]))),
    ];
    for scenario in bad {
        assert!(scenario.validate().is_err(), "{scenario:?}");
    }
}

#[test]
fn provider_config_registers_mock_1() {
    assert_eq!(
        opencode_provider_config("http://127.0.0.1:5/v1"),
        json!({"provider": {"mock": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "ao mock model",
            "options": {"baseURL": "http://127.0.0.1:5/v1", "apiKey": "mock-key"},
            "models": {"mock-1": {
                "name": "Mock 1",
                "tool_call": true,
                "cost": {"input": 3, "output": 15},
                "limit": {"context": 128000, "output": 4096}
            }}
        }}})
    );
}

#[test]
fn shipped_example_scenario_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/example.json");
    let scenario = Scenario::from_json_file(path).expect("example scenario is valid");
    assert_eq!(scenario.select("please [ls] now").name, "list-files");
    assert_eq!(scenario.select("hello").name, "default");
}
