//! An agent that orchestrates agents: a real OpenCode session whose config lists `ao mcp` as a
//! local MCP server, on the mock model. The model calls ao's tools as OpenCode offers them
//! (`ao_spawn`, `ao_wait`, `ao_show`: the server's name, `_`, the tool's), and the test checks
//! what a person would: the sub-session in `ao status`, and the outer session's conversation in
//! `ao logs`, which holds what the tools answered.

use std::time::Duration;

use ao_test_support::{ao_bin, assert_cost, script, wait_until, Scenario, Turn, World};
use serde_json::{json, Value};

/// What the sub-session's one turn uses, at the mock's price ($3 and $15 per million tokens).
const SUB_USAGE: (u64, u64) = (110, 7);
const SUB_COST: f64 = (110.0 * 3.0 + 7.0 * 15.0) / 1e6;

fn scenario() -> Scenario {
    Scenario::new()
        // The outer agent hands a task to a sub-session, waits for it and reads what it did.
        .script(script("[orchestrate]").turns([
            Turn::tool_call(
                "ao_spawn",
                json!({"project": "worker", "prompt": "[sub] Write the report.", "name": "sub",
                       "runtime": "process"}),
            ),
            Turn::tool_call(
                "ao_wait",
                json!({"session": "worker/sub", "until": ["ready"], "timeout": 120}),
            ),
            Turn::tool_call("ao_show", json!({"session": "worker/sub"})),
            Turn::text("The sub-session wrote the report."),
        ]))
        .script(script("[sub]").turn(Turn::text("Report written.").usage(SUB_USAGE.0, SUB_USAGE.1)))
        // The outer agent hands over a task whose command needs a person's yes.
        .script(script("[delegate]").turns([
            Turn::tool_call(
                "ao_spawn",
                json!({"project": "guarded", "prompt": "[guarded] Touch the file.",
                       "name": "held", "runtime": "process"}),
            ),
            Turn::tool_call(
                "ao_wait",
                json!({"session": "guarded/held", "until": ["waiting_input", "ready"],
                       "timeout": 120}),
            ),
            Turn::text("A person must answer it."),
        ]))
        .script(script("[guarded]").turns([
            Turn::tool_call(
                "bash",
                json!({"command": "touch held.txt", "description": "Touch the file"}),
            ),
            Turn::text("Touched."),
        ]))
}

/// A world with the outer project `boss`, whose OpenCode server runs `ao mcp` (without
/// `--allow-replies`, and without `--config`: it runs under the config of the `ao` that started
/// the server), and the projects its agent hands work to.
fn world() -> World {
    let mut w = World::new(scenario());
    w.project("boss", &[]);
    w.project("worker", &[]);
    w.project("guarded", &["permission: {bash: ask}"]);
    let command = [ao_bin().to_string_lossy().into_owned(), "mcp".into()];
    w.opencode_config(
        "boss",
        json!({"mcp": {"ao": {"type": "local", "command": command, "enabled": true}}}),
    );
    w
}

/// The outer session's conversation, as `ao logs --json` prints it.
fn conversation(w: &World, id: &str) -> Vec<Value> {
    w.ao_ok(&["logs", id, "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The output of the (one, finished) call of `tool` in `entries`.
fn tool_output(entries: &[Value], tool: &str) -> String {
    let calls: Vec<&Value> = entries
        .iter()
        .filter(|e| e["type"] == "tool" && e["tool"] == tool)
        .collect();
    assert_eq!(calls.len(), 1, "one call of {tool} in {entries:#?}");
    assert_eq!(calls[0]["status"], "completed", "{:#}", calls[0]);
    calls[0]["output"].as_str().unwrap_or_default().to_string()
}

/// Waits for a session that the outer agent made to appear in `ao status`.
fn appears(w: &World, id: &str) -> Value {
    wait_until(Duration::from_secs(90), Duration::from_millis(200), || {
        w.status(None)
            .into_iter()
            .find(|s| s["id"] == id)
            .ok_or_else(|| format!("{id} never appeared in ao status"))
    })
}

#[test]
fn an_agent_orchestrates_agents_through_ao_mcp() {
    let w = world();

    // Story 1: spawn, wait, show. The config is found from the directory `ao spawn` runs in, not
    // named by the environment: the server it starts is told which config, and so is the
    // `ao mcp` that the server starts in turn.
    let out = w
        .ao_command(&[
            "spawn",
            "boss",
            "[orchestrate] Hand the report to a sub-session.",
            "--runtime",
            "process",
        ])
        .env_remove("AO_CONFIG")
        .output()
        .expect("run ao spawn");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let boss = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let server = w.server_process("boss");
    let environ = std::fs::read(format!("/proc/{}/environ", server.pid)).expect("its environment");
    let config = std::fs::canonicalize(w.config_path()).expect("the config");
    let named = format!("AO_CONFIG={}", config.display());
    assert!(
        environ.split(|b| *b == 0).any(|v| v == named.as_bytes()),
        "the server was not told {named}"
    );
    let sub = appears(&w, "worker/sub");
    assert_eq!(sub["project"], "worker");
    w.wait_activity(&boss, "ready");
    // The sub-session ran to ready, at its own exact cost.
    let sub = w.session("worker/sub");
    assert_eq!(sub["activity"], "ready", "{sub:#}");
    assert_cost(&sub, SUB_COST);
    let entries = conversation(&w, &boss);
    let spawned = tool_output(&entries, "ao_spawn");
    assert!(spawned.contains("worker/sub"), "ao_spawn said: {spawned}");
    let waited = tool_output(&entries, "ao_wait");
    assert!(
        waited.contains("worker/sub") && waited.contains("ready"),
        "ao_wait said: {waited}"
    );
    // What the sub-session did, and what it cost, reached the outer agent.
    let shown = tool_output(&entries, "ao_show");
    assert!(shown.contains("Report written."), "ao_show said: {shown}");
    assert!(
        shown.contains(&format!("{SUB_COST}")) || shown.contains("$0.000435"),
        "ao_show did not give the cost ({SUB_COST}): {shown}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["type"] == "assistant" && e["text"] == "The sub-session wrote the report."),
        "{entries:#?}"
    );

    // Story 2: without --allow-replies, the outer agent is told that a person answers.
    let boss2 = w.spawn(&[
        "boss",
        "[delegate] Hand over the guarded task.",
        "--runtime",
        "process",
    ]);
    w.wait_activity(&boss2, "ready");
    let held = w.session("guarded/held");
    assert_eq!(held["activity"], "waiting_input", "{held:#}");
    let entries = conversation(&w, &boss2);
    let waited = tool_output(&entries, "ao_wait");
    assert!(
        waited.contains("waiting_input") && waited.contains("ao permit guarded/held"),
        "ao_wait did not say that a person answers: {waited}"
    );
    // The agent was never offered a way to answer it itself.
    let offered: Vec<String> = w
        .mock
        .requests()
        .iter()
        .filter(|r| !r.is_side)
        .flat_map(|r| {
            r.body["tools"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| t["function"]["name"].as_str().map(String::from))
        })
        .filter(|name| name.starts_with("ao_"))
        .collect();
    for tool in ["ao_spawn", "ao_wait", "ao_show", "ao_status"] {
        assert!(
            offered.iter().any(|t| t == tool),
            "{tool} not offered: {offered:?}"
        );
    }
    for tool in ["ao_permit", "ao_answer"] {
        assert!(
            !offered.iter().any(|t| t == tool),
            "{tool} offered: {offered:?}"
        );
    }
    // A person answers it, and the sub-session goes on.
    w.ao_ok(&["permit", "guarded/held"]);
    w.wait_activity("guarded/held", "ready");
}
