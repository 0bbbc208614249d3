//! `ao mcp`: the MCP server, driven by a scripted JSON-RPC client over its stdio (and the
//! dashboard's `/mcp` over HTTP), on the real opencode and the mock model. One world for every
//! case: one OpenCode server.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ao_test_support::{script, wait_until, McpClient, Scenario, Turn, World};
use reqwest::Method;
use serde_json::{json, Value};

/// How long a notification the live model drives may take.
const NOTIFIED: Duration = Duration::from_secs(60);

fn scenario() -> Scenario {
    Scenario::new()
        .script(
            script("mcp chat").turns([
                Turn::tool_call(
                    "write",
                    json!({"filePath": "notes.txt", "content": "one\ntwo\n"}),
                )
                .usage(40, 3),
                Turn::text("Wrote the notes.").usage(50, 4),
                Turn::text("Second answer.").usage(60, 4),
                Turn::text("Third answer.").usage(65, 4),
                Turn::text("Fork answer.").usage(70, 4),
            ]),
        )
        .script(
            script("mcp ask")
                .turn(Turn::tool_call(
                    "bash",
                    json!({"command": "echo hi > out.txt", "description": "Run it"}),
                ))
                .turn(Turn::text("Ran it.")),
        )
        .script(
            script("mcp question")
                .turn(Turn::tool_call(
                    "question",
                    json!({"questions": [{
                        "question": "Pick a color?", "header": "Color",
                        "options": [{"label": "red", "description": "Red"},
                                    {"label": "blue", "description": "Blue"}],
                    }]}),
                ))
                .turn(Turn::text("Blue it is.")),
        )
}

fn tool_names(c: &mut McpClient) -> BTreeSet<String> {
    let list = c.request("tools/list", json!({}));
    list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn tool<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool {name}: {list:#}"))
}

/// The words of a CLI error as `ao` prints them, without its `ao: ` prefix.
fn cli_error(w: &World, args: &[&str]) -> String {
    let err = w.ao_fails(args, 2);
    err.trim()
        .strip_prefix("ao: ")
        .unwrap_or(err.trim())
        .to_string()
}

fn updated(uri: &str) -> impl Fn(&Value) -> bool + '_ {
    move |n| n["method"] == "notifications/resources/updated" && n["params"]["uri"] == uri
}

#[test]
fn an_mcp_client_spawns_follows_and_steers_sessions() {
    let mut w = World::new(scenario());
    w.project("demo", &["permission: {bash: ask}"]);
    let mut c = w.mcp(&[]);

    // initialize: who it is and what it can do.
    let init = c.initialize();
    assert_eq!(init["serverInfo"]["name"], "ao", "{init:#}");
    assert_eq!(init["protocolVersion"], "2025-06-18", "{init:#}");
    let caps = &init["capabilities"];
    assert!(caps["tools"].is_object(), "{init:#}");
    assert_eq!(caps["resources"]["subscribe"], true, "{init:#}");
    assert_eq!(caps["resources"]["listChanged"], true, "{init:#}");

    // tools/list: without --allow-replies, neither permit nor answer; the schemas say what each
    // takes.
    let names = tool_names(&mut c);
    let expected: BTreeSet<String> = [
        "spawn", "status", "wait", "send", "show", "diff", "logs", "kill", "fork",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, expected);
    let list = c.request("tools/list", json!({}));
    let spawn = &tool(&list, "spawn")["inputSchema"];
    assert_eq!(spawn["type"], "object");
    let required: BTreeSet<&str> = spawn["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(required, BTreeSet::from(["project", "prompt"]), "{spawn:#}");
    assert_eq!(spawn["additionalProperties"], false, "{spawn:#}");
    assert_eq!(spawn["properties"]["project"]["type"], "string");
    assert!(
        spawn["properties"]["project"]["description"]
            .as_str()
            .unwrap()
            .contains("config"),
        "{spawn:#}"
    );
    let wait = &tool(&list, "wait")["inputSchema"];
    assert_eq!(wait["required"], json!(["session"]), "{wait:#}");
    assert!(
        wait["properties"]["timeout"]["type"]
            .to_string()
            .contains("number"),
        "{wait:#}"
    );
    assert!(
        wait["properties"]["until"]["type"]
            .to_string()
            .contains("array"),
        "{wait:#}"
    );
    // Hints a client may act on: what only reads, what destroys.
    assert_eq!(tool(&list, "status")["annotations"]["readOnlyHint"], true);
    assert_eq!(tool(&list, "kill")["annotations"]["destructiveHint"], true);
    let diff = &tool(&list, "diff")["inputSchema"];
    assert_eq!(diff["properties"]["full"]["type"], "boolean", "{diff:#}");
    // Asked for anyway, permit says who may allow it.
    for name in ["permit", "answer"] {
        let text = c.call_refused(name, json!({"session": "demo/x"}));
        assert!(text.contains("ao mcp --allow-replies"), "{name}: {text}");
    }

    // spawn: a project the config does not name is refused with the CLI's words, which list the
    // config's projects. An argument of the wrong type is a tool error too (rmcp 3.11 makes
    // invalid arguments one, as MCP 2025-11-25 asks, so that the model can correct itself); a
    // tool that does not exist is the protocol's error.
    let text = c.call_refused("spawn", json!({"project": "nope", "prompt": "hi"}));
    let cli = cli_error(&w, &["spawn", "nope", "hi"]);
    assert_eq!(text, cli);
    assert!(text.contains("known projects: demo"), "{text}");
    let text = c.call_refused("spawn", json!({"project": 7, "prompt": "hi"}));
    assert!(text.contains("expected a string"), "{text}");
    let text = c.call_refused(
        "spawn",
        json!({"project": "demo", "prompt": "hi", "mode": "x"}),
    );
    assert!(text.contains("unknown field `mode`"), "{text}");
    let id = c.send("tools/call", json!({"name": "nope", "arguments": {}}));
    let answer = c.answer(id);
    assert!(answer["error"]["code"].is_i64(), "{answer:#}");

    c.request("resources/subscribe", json!({"uri": "ao://sessions"}));
    let spawned = c.call_ok(
        "spawn",
        json!({"project": "demo", "prompt": "mcp chat", "name": "chat", "runtime": "process"}),
    );
    assert_eq!(spawned["id"], "demo/chat", "{spawned:#}");
    assert!(spawned["agent_session_id"]
        .as_str()
        .unwrap()
        .starts_with("ses"));
    assert!(
        spawned["message"]
            .as_str()
            .unwrap()
            .contains("demo/chat runs opencode session"),
        "{spawned:#}"
    );
    // The new session is a new resource, and the list changed.
    c.notification(NOTIFIED, "the list changed", |n| {
        n["method"] == "notifications/resources/list_changed"
    });
    c.notification(NOTIFIED, "ao://sessions updated", updated("ao://sessions"));
    c.request(
        "resources/subscribe",
        json!({"uri": "ao://sessions/demo/chat"}),
    );

    // wait: until ready; a bad state word or timeout is a person's mistake.
    let waited = c.call_ok(
        "wait",
        json!({"session": "demo/chat", "until": ["ready"], "timeout": 120}),
    );
    assert_eq!(waited["reached"], true, "{waited:#}");
    assert_eq!(waited["timed_out"], false, "{waited:#}");
    assert_eq!(waited["activity"], "ready", "{waited:#}");
    assert_eq!(waited["status"]["id"], "demo/chat", "{waited:#}");
    let text = c.call_refused("wait", json!({"session": "demo/chat", "until": ["done"]}));
    assert!(
        text.contains("\"done\"") && text.contains("waiting_input"),
        "{text}"
    );
    let text = c.call_refused("wait", json!({"session": "demo/chat", "timeout": 5000}));
    assert!(text.contains("timeout 5000"), "{text}");
    let waited = c.call_ok(
        "wait",
        json!({"session": "demo/chat", "until": ["exited"], "timeout": 1}),
    );
    assert_eq!(waited["reached"], false, "{waited:#}");
    assert_eq!(waited["timed_out"], true, "{waited:#}");

    // status: what `ao status --json` says; a target that names nothing is the CLI's error.
    let status = c.call_ok("status", json!({}));
    let cli: Vec<Value> = w.status(None);
    let ids = |all: &[Value]| -> Vec<String> {
        all.iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(status["sessions"].as_array().unwrap()),
        ids(&cli),
        "{status:#}"
    );
    let one = &status["sessions"][0];
    assert_eq!(one["activity"], "ready");
    assert_eq!(one["cost_usd"], cli[0]["cost_usd"], "{status:#}");
    let text = c.call_refused("status", json!({"target": "nope/x"}));
    assert_eq!(text, cli_error(&w, &["status", "nope/x"]));

    // show, diff, logs.
    let show = c.call_ok("show", json!({"session": "chat"}));
    assert_eq!(show["id"], "demo/chat", "{show:#}");
    assert!(show["cost_usd"].is_number(), "{show:#}");
    assert_eq!(
        show["messages"].as_array().unwrap().last().unwrap()["text"],
        "Wrote the notes.",
        "{show:#}"
    );
    let stat = c.call_ok("diff", json!({"session": "demo/chat"}));
    assert!(
        stat["stat"].as_str().unwrap().contains("notes.txt"),
        "{stat:#}"
    );
    let full = c.call_ok("diff", json!({"session": "demo/chat", "full": true}));
    assert!(full["diff"].as_str().unwrap().contains("+two"), "{full:#}");
    assert_eq!(full["truncated"], false);
    // A session that is not there: each tool says it as its command does.
    for tool in ["show", "diff", "fork"] {
        let text = c.call_refused(tool, json!({"session": "demo/none"}));
        assert_eq!(text, cli_error(&w, &[tool, "demo/none"]), "{tool}");
    }
    let logs = c.call_ok("logs", json!({"session": "demo/chat", "last": 2}));
    let entries = logs["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{logs:#}");
    assert!(
        entries
            .iter()
            .any(|e| e.to_string().contains("Wrote the notes.")),
        "{logs:#}"
    );
    let text = c.call_refused("logs", json!({"session": "demo/chat", "last": 0}));
    assert!(text.contains("last 0"), "{text}");

    // Resources: the list and one session, as the live model has them.
    let read = c.request("resources/read", json!({"uri": "ao://sessions/demo/chat"}));
    let contents = &read["contents"][0];
    assert_eq!(contents["mimeType"], "application/json");
    let session: Value = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
    assert_eq!(session["id"], "demo/chat");
    let read = c.request("resources/read", json!({"uri": "ao://sessions"}));
    let all: Value = serde_json::from_str(read["contents"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(all[0]["id"], "demo/chat");
    let listed = c.request("resources/list", json!({}));
    assert!(
        listed["resources"]
            .to_string()
            .contains("ao://sessions/demo/chat"),
        "{listed:#}"
    );
    let id = c.send("resources/read", json!({"uri": "ao://sessions/demo/none"}));
    assert!(c.answer(id)["error"].is_object());

    // send: an empty message is refused; a real one starts a turn, and the subscribed session's
    // transition is notified.
    let text = c.call_refused("send", json!({"session": "demo/chat", "message": " "}));
    assert_eq!(text, "the message is empty");
    c.drain();
    let sent = c.call_ok(
        "send",
        json!({"session": "demo/chat", "message": "mcp more"}),
    );
    assert_eq!(sent["message"], "sent to demo/chat");
    c.notification(
        NOTIFIED,
        "demo/chat updated",
        updated("ao://sessions/demo/chat"),
    );
    let waited = c.call_ok("wait", json!({"session": "demo/chat", "until": ["ready"]}));
    assert_eq!(waited["reached"], true, "{waited:#}");

    // A long wait with a progress token says how the session is, and ends when cancelled: no
    // answer comes for it, and the server goes on serving.
    let long = c.send(
        "tools/call",
        json!({
            "name": "wait",
            "arguments": {"session": "demo/chat", "until": ["exited"], "timeout": 600},
            "_meta": {"progressToken": "long-wait"},
        }),
    );
    // The first may still say `active`: the live model follows the agent a moment behind the
    // wait's own look. It says `ready` at the latest on its next change or tick.
    let progress = c.notification(NOTIFIED, "progress of the wait", |n| {
        n["method"] == "notifications/progress" && n["params"]["progressToken"] == "long-wait"
    });
    assert!(
        progress["params"]["message"]
            .as_str()
            .unwrap()
            .starts_with("demo/chat: "),
        "{progress:#}"
    );
    c.notification(NOTIFIED, "progress saying ready", |n| {
        n["method"] == "notifications/progress"
            && n["params"]["progressToken"] == "long-wait"
            && n["params"]["message"] == "demo/chat: ready"
    });
    c.notify(
        "notifications/cancelled",
        json!({"requestId": long, "reason": "enough"}),
    );
    // rmcp handles a notification before the messages after it: once a later request is
    // answered, the wait has been told. A progress that left before that may still come.
    let status = c.call_ok("status", json!({"target": "demo/chat"}));
    assert_eq!(status["sessions"][0]["activity"], "ready");
    let told = Instant::now();
    // A turn of the session: a wait still running would say so (progress on each change of the
    // session, and every 5 s besides) before the turn is over.
    let sent = c.call_ok(
        "send",
        json!({"session": "demo/chat", "message": "mcp again"}),
    );
    assert_eq!(sent["message"], "sent to demo/chat");
    wait_until(NOTIFIED, Duration::from_millis(200), || {
        let show = c.call_ok("show", json!({"session": "demo/chat"}));
        let last = &show["messages"].as_array().unwrap().last().unwrap()["text"];
        let waited = c.call_ok("wait", json!({"session": "demo/chat", "until": ["ready"]}));
        if last == "Third answer." && waited["reached"] == true {
            Ok(())
        } else {
            Err(format!("the turn is not over: {last}, {waited}"))
        }
    });
    let late = c.notifications_since(told, |n| {
        n["method"] == "notifications/progress" && n["params"]["progressToken"] == "long-wait"
    });
    assert!(late.is_empty(), "the cancelled wait went on: {late:#?}");
    assert!(!c.answered(long), "a cancelled wait was answered");

    // fork, then kill it; a kill that names nothing is the CLI's error.
    let forked = c.call_ok(
        "fork",
        json!({"session": "demo/chat", "prompt": "mcp forked", "name": "fork"}),
    );
    assert_eq!(forked["id"], "demo/fork", "{forked:#}");
    assert!(
        forked["message"]
            .as_str()
            .unwrap()
            .starts_with("demo/fork is a fork of demo/chat"),
        "{forked:#}"
    );
    c.call_ok("wait", json!({"session": "demo/fork", "until": ["ready"]}));
    let killed = c.call_ok("kill", json!({"session": "demo/fork", "force": true}));
    assert_eq!(killed["complete"], true, "{killed:#}");
    assert!(
        killed["sessions"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("demo/fork: stopped"),
        "{killed:#}"
    );
    let text = c.call_refused("kill", json!({"session": "demo/none"}));
    assert_eq!(text, cli_error(&w, &["kill", "demo/none"]));

    // A session that asks permission: status says a person answers it. Another asks a
    // question, meanwhile.
    c.call_ok(
        "spawn",
        json!({"project": "demo", "prompt": "mcp ask", "name": "asker", "runtime": "process"}),
    );
    c.call_ok(
        "spawn",
        json!({"project": "demo", "prompt": "mcp question", "name": "quiz", "runtime": "process"}),
    );
    let waited = c.call_ok(
        "wait",
        json!({"session": "demo/asker", "until": ["waiting_input"]}),
    );
    assert_eq!(waited["reached"], true, "{waited:#}");
    let status = c.call_ok("status", json!({"target": "demo/asker"}));
    let pending = &status["sessions"][0]["pending"][0];
    assert_eq!(pending["kind"], "permission", "{status:#}");
    assert_eq!(
        pending["answered_by"], "a person: ao permit demo/asker",
        "{status:#}"
    );

    // With --allow-replies, permit and answer are listed, and permit answers it.
    let mut replier = w.mcp(&["--allow-replies"]);
    replier.initialize();
    let names = tool_names(&mut replier);
    assert!(
        names.contains("permit") && names.contains("answer"),
        "{names:?}"
    );
    let status = replier.call_ok("status", json!({"target": "demo/asker"}));
    assert!(
        status["sessions"][0]["pending"][0]["answered_by"]
            .as_str()
            .unwrap()
            .starts_with("the permit tool"),
        "{status:#}"
    );
    let text = replier.call_refused("permit", json!({"session": "demo/chat"}));
    assert_eq!(text, cli_error(&w, &["permit", "demo/chat"]));
    let permitted = replier.call_ok("permit", json!({"session": "demo/asker"}));
    assert!(
        permitted["message"]
            .as_str()
            .unwrap()
            .contains("allowed once: bash: echo hi > out.txt"),
        "{permitted:#}"
    );
    let waited = replier.call_ok("wait", json!({"session": "demo/asker", "until": ["ready"]}));
    assert_eq!(waited["reached"], true, "{waited:#}");

    // answer: answers and reject together are a mistake, as are two answers to one question
    // (the CLI's words); one answer lets the agent go on.
    let waited = replier.call_ok(
        "wait",
        json!({"session": "demo/quiz", "until": ["waiting_input"]}),
    );
    assert_eq!(waited["reached"], true, "{waited:#}");
    let text = replier.call_refused(
        "answer",
        json!({"session": "demo/quiz", "answers": ["blue"], "reject": true}),
    );
    assert!(
        text.contains("answers") && text.contains("reject"),
        "{text}"
    );
    let text = replier.call_refused(
        "answer",
        json!({"session": "demo/quiz", "answers": ["blue", "red"]}),
    );
    assert_eq!(text, cli_error(&w, &["answer", "demo/quiz", "blue", "red"]));
    let answered = replier.call_ok(
        "answer",
        json!({"session": "demo/quiz", "answers": ["blue"]}),
    );
    assert_eq!(answered["id"], "demo/quiz", "{answered:#}");
    assert!(
        answered["request"].as_str().unwrap().starts_with("que_"),
        "{answered:#}"
    );
    assert!(
        answered["message"]
            .as_str()
            .unwrap()
            .contains("answered: Pick a color?"),
        "{answered:#}"
    );
    let waited = replier.call_ok("wait", json!({"session": "demo/quiz", "until": ["ready"]}));
    assert_eq!(waited["reached"], true, "{waited:#}");
    let told = w.mock.requests().iter().any(|r| {
        r.script.as_deref() == Some("mcp question")
            && r.turn_index == Some(1)
            && r.body.to_string().contains("blue")
    });
    assert!(told, "the answer never reached the model");

    // The dashboard's /mcp: refused without the token; with it, the same server.
    let d = w.dashboard(&[]);
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "ao-test", "version": "1"}},
    });
    let refused = d.mcp_post(None, &init, false);
    assert_eq!(refused.status, 401, "{}", refused.text);
    let started = d.mcp_post(None, &init, true);
    assert_eq!(started.status, 200, "{}", started.text);
    assert_eq!(
        started.messages[0]["result"]["serverInfo"]["name"], "ao",
        "{}",
        started.text
    );
    let session = started.session.expect("an Mcp-Session-Id");
    let initialized = d.mcp_post(
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        true,
    );
    assert_eq!(initialized.status, 202, "{}", initialized.text);
    let called = d.mcp_post(
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "status", "arguments": {"target": "demo/chat"}}}),
        true,
    );
    assert_eq!(called.status, 200, "{}", called.text);
    let result = called
        .messages
        .iter()
        .find(|m| m["id"] == 2)
        .unwrap_or_else(|| panic!("no answer: {}", called.text));
    assert_eq!(
        result["result"]["structuredContent"]["sessions"][0]["id"], "demo/chat",
        "{result:#}"
    );
    let listed = d.mcp_post(
        Some(&session),
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}),
        true,
    );
    assert_eq!(listed.status, 200, "{}", listed.text);
    let tools = listed
        .messages
        .iter()
        .find(|m| m["id"] == 3)
        .unwrap_or_else(|| panic!("no answer: {}", listed.text));
    let names: BTreeSet<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {tools:#}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains("spawn"), "{names:?}");
    assert!(
        !names.contains("permit") && !names.contains("answer"),
        "{names:?}"
    );

    // /mcp is behind the dashboard's guard: another site's page is refused even with the token
    // (its event stream too), as is a name rebound to 127.0.0.1; no token is 401.
    let evil = [("Origin", "http://evil.example")];
    let list = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"});
    let forged = d.mcp_request(Method::POST, Some(&session), Some(&list), true, &evil);
    assert_eq!(forged.status, 403, "{}", forged.text);
    let forged = d.mcp_request(Method::GET, Some(&session), None, true, &evil);
    assert_eq!(forged.status, 403, "{}", forged.text);
    let port = d.base.rsplit(':').next().unwrap();
    let rebound = format!("rebound.example:{port}");
    let host = [("Host", rebound.as_str())];
    let forged = d.mcp_request(Method::POST, Some(&session), Some(&list), true, &host);
    assert_eq!(forged.status, 403, "{}", forged.text);
    let anonymous = d.mcp_post(Some(&session), &list, false);
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);

    // A client that closes its end ends the server, cleanly.
    assert!(replier.close().success());
    assert!(c.close().success());

    // A config that cannot be read is said on stderr, as every command says it, with exit 2;
    // stdout stays the protocol's (empty).
    let missing = w.root().join("no-such-config.yaml");
    let out = w.ao(&["--config", missing.to_str().unwrap(), "mcp"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read the config file"),
        "{out:?}"
    );
}
