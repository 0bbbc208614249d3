//! Text from outside in every string field of the config: each load is a config or an error,
//! never a panic (a slice of a string at a byte inside a character would be one).

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::*;

/// Where a value goes: each field of the config that holds text, and keys of its maps.
const FIELDS: &[&str] = &[
    "readyThresholdMs: V",
    "notifyDebounceMs: V",
    "V: 1",
    "notifications:\n  - on: V\n    desktop: true",
    "notifications:\n  - on: [V]\n    command: [V, V]\n    timeoutMs: V",
    "notifications:\n  - on: [ready]\n    command: V",
    "notifications:\n  - on: [ready]\n    webhook: V",
    "notifications:\n  - on: [ready]\n    desktop: V\n    V: V",
    "defaults:\n  runtime: V\n  agent: V\n  workspace: V\n  tmux: {tui: V}\n  budget: {sessionUsd: V, projectUsd: V}",
    "defaults: {V: V}",
    "plugins: {agent: V, runtime: V}",
    "plugins: {V: V}",
    "projects:\n  V:\n    path: .",
    "projects:\n  - name: V\n    path: .",
    "projects:\n  - name: demo\n    path: V",
    "projects:\n  - name: demo\n    path: .\n    runtime: V\n    agent: V\n    workspace: V",
    "projects:\n  - name: demo\n    path: .\n    sessionPrefix: V\n    defaultBranch: V",
    "projects:\n  - name: demo\n    path: .\n    V: V",
    "projects:\n  - name: demo\n    path: .\n    host: V",
    "projects:\n  - name: demo\n    path: .\n    tmux: {tui: V, V: V}",
    "projects:\n  - name: demo\n    path: .\n    budget: {sessionUsd: V, projectUsd: V, V: V}",
    "projects:\n  - name: demo\n    path: .\n    agentConfig: {model: V, prompt: V, agent: V, permission: V}",
    "projects:\n  - name: demo\n    path: .\n    agentConfig: {permission: {bash: V, V: allow}, V: V}",
    "projects:\n  - name: demo\n    path: .\n    agentConfig: {permission: {bash: {V: V}}}",
    "projects:\n  - name: demo\n    path: .\n    server: {url: V, username: V, passwordEnv: V}",
    "projects:\n  - name: demo\n    path: .\n    server: {url: V, passwordFile: V, caFile: V, V: V}",
    "projects:\n  - name: demo\n    path: .\n    notifications:\n      - on: [ready]\n        webhook: V",
];

/// Text that is more than one byte a character, or that is otherwise unusual.
const TEXTS: &[&str] = &[
    "é", "日本", "😀", "\u{202e}", "e\u{301}", "\u{3000}", "\t", "", " ", "\u{0}", "\u{feff}",
];

/// Each text alone, and inside shapes that the reader looks into (URLs, paths, ssh hosts).
fn values() -> Vec<String> {
    let mut out = Vec::new();
    for t in TEXTS {
        for shape in [
            "{}",
            "http:/{}",
            "http://{}",
            "https://{}/{}",
            "HTTP:{}",
            "h{}",
            "~{}",
            "~/{}",
            "${{}}",
            "${}",
            "{}${",
            "/{}/{}",
            "{}/{}",
            "-{}",
            "{}@{}:22",
            "ssh://{}@{}:{}",
            "{}:{}",
            "anthropic/{}",
            "{}{}{}{}{}{}{}{}",
        ] {
            out.push(shape.replace("{}", t));
        }
        out.push(t.repeat(70));
    }
    out
}

#[test]
fn multibyte_text_in_every_field_loads_or_is_an_error_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("agent-orchestrator.yaml");
    let mut panics = Vec::new();
    let mut unplaced = Vec::new();
    // The default hook would print every caught panic; the list below says which ones.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for field in FIELDS {
        for value in values() {
            // A JSON string is a YAML double-quoted scalar.
            let quoted = serde_json::to_string(&value).unwrap();
            let text = field.replace('V', &quoted);
            match catch_unwind(AssertUnwindSafe(|| Config::parse(&text, &file))) {
                Err(_) => panics.push(text),
                // A clean error names its place in the file.
                Ok(Err(e)) if !e.to_string().contains("agent-orchestrator.yaml:") => {
                    unplaced.push(format!("{text}\n=> {e}"))
                }
                Ok(_) => {}
            }
        }
    }
    std::panic::set_hook(hook);
    assert!(
        panics.is_empty(),
        "{} of these configs panicked:\n{}",
        panics.len(),
        panics.join("\n---\n")
    );
    assert!(
        unplaced.is_empty(),
        "{} errors name no place in the file:\n{}",
        unplaced.len(),
        unplaced.join("\n---\n")
    );
}

#[test]
fn a_webhook_with_a_character_across_the_scheme_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "notifications:\n  - on: [ready]\n    webhook: \"http:/é\"\nprojects: {}\n";
    let err = Config::parse(text, &tmp.path().join("agent-orchestrator.yaml")).unwrap_err();
    let err = err.to_string();
    assert!(
        err.contains(
            "agent-orchestrator.yaml:3:14: webhook \"http:/é\" is not an http:// or https:// URL"
        ),
        "{err}"
    );
}
