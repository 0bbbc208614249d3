//! Every activity state, reached on the real OpenCode and reported by `ao status`, with the cause
//! of each `blocked` in `error`.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ao_test_support::{assert_cost, error_of, script, tokens, wait_until, Scenario, Turn, World};
use serde_json::json;

fn world(scenario: Scenario, agent_config: &[&str]) -> World {
    let mut w = World::new(scenario);
    w.project("demo", agent_config);
    w
}

#[test]
fn each_failure_of_the_provider_blocks_its_session_with_its_error() {
    // Four sessions of one project, each meeting its own failure: one server for all four.
    let w = world(
        Scenario::new()
            .script(script("refuse").turn(Turn::error(400, "mock bad request")))
            .script(script("auth").turn(Turn::error(401, "invalid api key")))
            .script(script("overflow").turn(Turn::error(
                400,
                "This model's maximum context length is 8192 tokens. However, your messages \
                 resulted in 9000 tokens. Please reduce the length of the messages.",
            )))
            .script(script("flaky").turn(Turn::error(500, "mock overloaded"))),
        &[],
    );
    let spawn = |prompt: &str| w.spawn(&["demo", prompt, "--runtime", "process"]);
    let refused = spawn("refuse");
    let auth = spawn("auth");
    let overflow = spawn("overflow");
    // Last, and looked at first: its first attempt shows only until OpenCode tries again. So it
    // is polled, not waited for, to be seen while it lasts.
    let flaky = spawn("flaky");
    let s = w.wait_for(&flaky, Duration::from_secs(90), "blocked", |s| {
        s["activity"] == "blocked"
    });
    let (name, message) = error_of(&s);
    assert_eq!(name, "Retry", "{s:#}");
    assert!(message.contains("attempt 1"), "{s:#}");
    assert!(message.contains("mock overloaded"), "{s:#}");

    // A request the provider refuses.
    let s = w.wait_activity(&refused, "blocked");
    let (name, message) = error_of(&s);
    assert_eq!(name, "APIError", "{s:#}");
    assert!(message.contains("mock bad request"), "{s:#}");
    assert_eq!(s["process"], "running");

    // Credentials the provider refuses.
    let s = w.wait_activity(&auth, "blocked");
    let (name, message) = error_of(&s);
    assert!(!name.is_empty(), "{s:#}");
    assert!(message.contains("invalid api key"), "{s:#}");

    // A context too long: OpenCode recognises the provider's message and says so in its own words.
    let s = w.wait_activity(&overflow, "blocked");
    let (name, message) = error_of(&s);
    assert_eq!(name, "ContextOverflowError", "{s:#}");
    assert!(message.contains("context exceeds model limit"), "{s:#}");
}

#[test]
fn a_question_waits_for_input_and_an_answer_lets_the_agent_go_on_or_a_dismissal_stops_it() {
    let color = json!({"questions": [{
        "question": "Pick a color?", "header": "Color",
        "options": [{"label": "red", "description": "Red"}, {"label": "blue", "description": "Blue"}]
    }]});
    let proceed = json!({"questions": [{
        "question": "Proceed?", "header": "Go",
        "options": [{"label": "yes", "description": "Yes"}, {"label": "no", "description": "No"}]
    }]});
    let w = world(
        Scenario::new()
            .script(
                script("pick a color")
                    .turn(Turn::tool_call("question", color))
                    .turn(Turn::text("Blue it is.").usage(120, 4)),
            )
            .script(
                script("may I proceed")
                    .turn(Turn::tool_call("question", proceed))
                    .turn(Turn::text("Never sent.")),
            ),
        &[],
    );
    let answered = w.spawn(&["demo", "pick a color", "--runtime", "process"]);
    let dismissed = w.spawn(&["demo", "may I proceed", "--runtime", "process"]);

    let s = w.wait_activity(&answered, "waiting_input");
    assert_eq!(s["pending"][0]["kind"], "question", "{s:#}");
    assert_eq!(s["pending"][0]["title"], "Pick a color?");
    assert!(s["pending"][0]["id"].as_str().unwrap().starts_with("que_"));

    // Two answers for one question: refused as the person's mistake (exit 2, though the plugin
    // is what found it), and it says what is asked.
    let err = w.ao_fails(&["answer", &answered, "blue", "red"], 2);
    assert!(
        err.contains("asks 1 question") && err.contains("[red, blue]"),
        "{err}"
    );

    let out = w.ao_ok(&["answer", &answered, "blue"]);
    assert!(out.contains("answered: Pick a color?"), "{out}");
    let s = w.wait_activity(&answered, "ready");
    assert!(s["pending"].as_array().unwrap().is_empty());
    // The model was told the answer.
    let told = w.mock.requests().iter().any(|r| {
        r.script.as_deref() == Some("pick a color")
            && r.turn_index == Some(1)
            && r.body.to_string().contains("blue")
    });
    assert!(told, "the answer never reached the model");

    // Dismissed, the question stops the turn: the agent does not go on.
    w.wait_activity(&dismissed, "waiting_input");
    let out = w.ao_ok(&["answer", &dismissed, "--reject"]);
    assert!(out.contains("dismissed"), "{out}");
    w.wait_activity(&dismissed, "ready");
    assert!(
        !w.mock
            .requests()
            .iter()
            .any(|r| r.script.as_deref() == Some("may I proceed") && r.turn_index == Some(1)),
        "the agent went on after the question was dismissed"
    );
}

#[test]
fn a_subagents_permission_request_shows_on_its_parent() {
    let w = world(
        Scenario::new()
            .script(
                script("delegate")
                    .turn(Turn::tool_call(
                        "task",
                        json!({"description": "Write a file", "prompt": "child: write the file",
                               "subagent_type": "general"}),
                    ))
                    .turn(Turn::text("Delegated.")),
            )
            .script(script("child: write").turn(Turn::tool_call(
                "bash",
                json!({"command": "echo child > child.txt", "description": "Write child.txt"}),
            ))),
        &["permission: {bash: ask}"],
    );
    let id = w.spawn(&["demo", "delegate", "--runtime", "process"]);
    let s = w.wait_activity(&id, "waiting_input");
    let pending = &s["pending"][0];
    assert_eq!(pending["kind"], "permission", "{s:#}");
    assert_eq!(pending["title"], "bash: echo child > child.txt");
    let child = pending["from_session"].as_str().expect("from_session");
    assert!(child.starts_with("ses_") && child != s["agent_session_id"]);

    // Answering it on the parent lets the child, then the parent, finish.
    w.ao_ok(&["permit", &id]);
    w.wait_activity(&id, "ready");
    let workspace = s["workspace"].as_str().unwrap();
    assert!(std::path::Path::new(workspace).join("child.txt").exists());
}

#[test]
fn a_dead_server_says_exited_or_interrupted_at_once_and_restore_resumes() {
    let w = world(
        Scenario::new()
            .script(
                script("done")
                    .turn(Turn::text("Finished.").usage(110, 7))
                    .turn(Turn::text("More.").usage(50, 3)),
            )
            .script(script("long").turn(Turn::text("Cut off.").delay_ms(600_000))),
        &[],
    );
    let done = w.spawn(&["demo", "done", "--runtime", "process"]);
    let long = w.spawn(&["demo", "long", "--runtime", "tmux"]);
    let before = w.wait_activity(&done, "ready");
    w.wait_activity(&long, "active");

    w.crash_server("demo");
    // One status call, no waiting: the finished session has exited, the working one was cut off.
    let all = w.status(None);
    let find = |id: &str| all.iter().find(|s| s["id"] == id).expect("listed").clone();
    let s = find(&done);
    assert_eq!(s["activity"], "exited", "{s:#}");
    assert_eq!(error_of(&s).0, "ServerGone");
    let s = find(&long);
    assert_eq!(s["activity"], "blocked", "{s:#}");
    assert_eq!(error_of(&s).0, "Interrupted");

    // Restore: the server comes back, the same OpenCode session, the turn still interrupted.
    let out = w.ao_ok(&["restore", &long]);
    assert!(out.contains("restored"), "{out}");
    let s = w.session(&long);
    assert_eq!(s["activity"], "blocked", "{s:#}");
    assert_eq!(error_of(&s).0, "Interrupted");
    assert_eq!(s["process"], "running");
    // `ao send` continues the conversation: the model gets the new message after the old one.
    w.ao_ok(&["send", &long, "please go on"]);
    w.wait_activity(&long, "active");
    let resumed = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        w.mock
            .requests()
            .into_iter()
            .find(|r| !r.is_side && r.body.to_string().contains("please go on"))
            .ok_or_else(|| "the follow-up never reached the model".to_string())
    });
    assert!(resumed.first_user_text().contains("long"), "history lost");

    // The finished one comes back with its history and cost as they were, and goes on from there.
    w.ao_ok(&["restore", &done]);
    let s = w.wait_activity(&done, "ready");
    assert_eq!(s["agent_session_id"], before["agent_session_id"]);
    assert_eq!(tokens(&s), (110, 7));
    assert_cost(&s, (110.0 * 3.0 + 7.0 * 15.0) / 1e6);
    w.ao_ok(&["send", &done, "more please"]);
    let s = w.wait_for(&done, Duration::from_secs(60), "given more", |s| {
        s["activity"] == "ready" && tokens(s) == (160, 10)
    });
    assert_cost(&s, (160.0 * 3.0 + 10.0 * 15.0) / 1e6);
}
