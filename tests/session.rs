//! A session's life, end to end: real opencode, real tmux on a private socket, the mock model.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ao_test_support::{assert_cost, script, tokens, workspace_of, Scenario, Turn, World};
use serde_json::json;

/// 110 input x $3/M + 7 output x $15/M, OpenCode's own arithmetic on the mock's usage.
const HELLO_COST: f64 = (110.0 * 3.0 + 7.0 * 15.0) / 1e6;

fn hello_world() -> World {
    // The reply waits a moment, so that the session is seen working before it is seen done.
    let scenario = Scenario::new().script(
        script("hello").turn(
            Turn::text("Hello from the mock.")
                .usage(110, 7)
                .delay_ms(2500),
        ),
    );
    let mut w = World::new(scenario);
    w.project("demo", &[]);
    w
}

#[test]
fn spawn_in_tmux_and_as_process_goes_active_then_ready_with_exact_cost() {
    // One session in each runtime, side by side on the project's one server.
    let w = hello_world();
    let mut ids = Vec::new();
    for (runtime, expected) in [("tmux", "demo/agent-1"), ("process", "demo/agent-2")] {
        let id = w.spawn(&["demo", "hello", "--runtime", runtime]);
        assert_eq!(id, expected);
        let s = w.session(&id);
        assert!(
            s["agent_session_id"].as_str().unwrap().starts_with("ses_"),
            "{s:#}"
        );
        assert_eq!(s["runtime"], runtime);
        assert_eq!(s["activity"], "active", "right after spawn: {s:#}");
        assert_eq!(s["process"], "running");
        ids.push(id);
    }

    for id in &ids {
        let s = w.wait_activity(id, "ready");
        assert_eq!(tokens(&s), (110, 7));
        assert_cost(&s, HELLO_COST);
        assert_eq!(s["model"], "mock/mock-1");
        assert_eq!(
            s["process"], "running",
            "the runtime outlives the turn: {s:#}"
        );
        assert_eq!(s["branch"], format!("ao/{}", s["name"].as_str().unwrap()));
        assert!(s["error"].is_null());
    }
}

#[test]
fn permission_request_stays_pending_in_tmux_and_as_process() {
    let scenario = Scenario::new().script(script("write a file").turn(Turn::tool_call(
        "bash",
        json!({"command": "echo hi > out.txt", "description": "Write out.txt"}),
    )));
    let mut w = World::new(scenario);
    w.project("demo", &["permission: {bash: ask}"]);
    let ids: Vec<String> = ["tmux", "process"]
        .iter()
        .map(|runtime| w.spawn(&["demo", "write a file", "--runtime", runtime]))
        .collect();

    let mut pending = Vec::new();
    for id in &ids {
        let s = w.wait_activity(id, "waiting_input");
        let p = s["pending"].as_array().unwrap();
        assert_eq!(p.len(), 1, "{s:#}");
        assert_eq!(p[0]["kind"], "permission");
        assert!(p[0]["id"].as_str().unwrap().starts_with("per_"));
        assert_eq!(p[0]["title"], "bash: echo hi > out.txt");
        pending.push((id, p[0]["id"].clone(), workspace_of(&s)));
    }

    // Nothing of ours answers them: they are still there, unanswered, a while later.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        for (id, request, _) in &pending {
            let again = w.session(id);
            assert_eq!(again["activity"], "waiting_input", "{again:#}");
            assert_eq!(&again["pending"][0]["id"], request);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    for (_, _, workspace) in &pending {
        assert!(!workspace.join("out.txt").exists());
    }
}

#[test]
fn one_megabyte_prompt_reaches_the_model_byte_for_byte() {
    let w = hello_world();
    let mut prompt = String::from("hello: quotes ' \" $(rm -rf /) `uname` $HOME \\n \n");
    let line =
        "line with 'single' \"double\" $(subshell) `backticks` ${VAR} & | ; < > * ? [ ] # ~ \\\n";
    while prompt.len() < 1_048_576 {
        prompt.push_str(line);
    }
    let file = w.root().join("prompt.txt");
    std::fs::write(&file, &prompt).unwrap();
    let id = w.spawn(&[
        "demo",
        "--prompt-file",
        file.to_str().unwrap(),
        "--runtime",
        "process",
    ]);
    w.wait_activity(&id, "ready");

    let requests = w.mock.requests();
    let turn = requests
        .iter()
        .find(|r| !r.is_side && r.script.as_deref() == Some("hello"))
        .expect("the model got the prompt");
    assert_eq!(turn.first_user_text().len(), prompt.len());
    assert!(
        turn.first_user_text() == prompt,
        "the prompt changed on its way"
    );
}

#[test]
fn kill_stops_the_runtime_and_status_says_exited() {
    let w = hello_world();
    let tmux_id = w.spawn(&["demo", "hello", "--runtime", "tmux"]);
    let proc_id = w.spawn(&["demo", "hello", "--runtime", "process"]);
    w.wait_activity(&tmux_id, "ready");
    w.wait_activity(&proc_id, "ready");

    let out = w.ao_ok(&["kill", &tmux_id]);
    assert!(out.contains("demo/agent-1: stopped"), "{out}");
    w.ao_ok(&["kill", &proc_id]);
    for id in [&tmux_id, &proc_id] {
        let s = w.session(id);
        assert_eq!(s["activity"], "exited", "{s:#}");
        assert_eq!(s["process"], "exited", "{s:#}");
    }
    assert!(!w.tmux_sessions().iter().any(|s| s.contains("demo/agent-1")));
}

#[test]
fn two_projects_report_their_own_status_tokens_and_cost() {
    let scenario = Scenario::new()
        .script(script("alpha").turn(Turn::text("A").usage(110, 7)))
        .script(script("beta").turn(Turn::text("B").usage(200, 10)));
    let mut w = World::new(scenario);
    w.project("alpha", &[]);
    w.project("beta", &[]);
    let a = w.spawn(&["alpha", "alpha task", "--runtime", "process"]);
    let b = w.spawn(&["beta", "beta task", "--runtime", "tmux"]);
    assert_eq!((a.as_str(), b.as_str()), ("alpha/agent-1", "beta/agent-1"));

    let sa = w.wait_activity(&a, "ready");
    let sb = w.wait_activity(&b, "ready");
    assert_eq!(tokens(&sa), (110, 7));
    assert_cost(&sa, HELLO_COST);
    assert_eq!(tokens(&sb), (200, 10));
    assert_cost(&sb, (200.0 * 3.0 + 10.0 * 15.0) / 1e6);
    assert_ne!(sa["agent_session_id"], sb["agent_session_id"]);
    // Two projects with the same server settings, one server, which both say they share.
    assert_eq!(w.server_pids().len(), 1);
    assert_eq!(sa["server"], sb["server"], "{sa:#}\n{sb:#}");
    assert_eq!(sa["server"]["projects"], json!(["alpha", "beta"]), "{sa:#}");
    let url = sa["server"]["url"].as_str().expect("the server's URL");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let show = w.ao_ok(&["show", &a]);
    assert!(
        show.contains(&format!("{url} (shared by alpha, beta)")),
        "{show}"
    );

    // A name unique across projects is a target too; an ambiguous one is an error that says so.
    let out = w.ao(&["status", "agent-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("alpha/agent-1, beta/agent-1"));
}

#[test]
fn a_config_change_reaches_the_next_session() {
    let scenario = Scenario::new().script(
        script("write")
            .turn(Turn::tool_call(
                "bash",
                json!({"command": "echo hi > out.txt", "description": "Write out.txt"}),
            ))
            .turn(Turn::text("Wrote it.")),
    );
    let mut w = World::new(scenario);
    w.project("demo", &["permission: {bash: allow}"]);
    let first = w.spawn(&["demo", "write", "--runtime", "process"]);
    w.wait_activity(&first, "ready");
    let server = w.server_pids();

    // The person tightens the policy: the next session runs on a server with the new config.
    w.set_agent_config("demo", &["permission: {bash: ask}"]);
    let second = w.spawn(&["demo", "write", "--runtime", "process"]);
    let s = w.wait_activity(&second, "waiting_input");
    assert_eq!(s["pending"][0]["title"], "bash: echo hi > out.txt");
    assert_ne!(w.server_pids(), server, "the server was not restarted");
    // The first session is still there, on the same OpenCode session, its history intact.
    let s = w.wait_activity(&first, "ready");
    assert_eq!(tokens(&s), (20, 10));
}
