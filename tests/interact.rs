//! Talking to sessions: `ao permit` (once, always, reject; choosing among several), `ao send` in
//! either runtime, `ao wait`, and `ao logs`.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use ao_test_support::{script, tokens, workspace_of, Scenario, ToolCall, Turn, World};
use serde_json::json;

fn bash(command: &str) -> Turn {
    Turn::tool_call("bash", json!({"command": command, "description": "Run it"}))
}

fn world(scenario: Scenario) -> World {
    let mut w = World::new(scenario);
    w.project("demo", &["permission: {bash: ask}"]);
    w
}

#[test]
fn permit_once_runs_the_tool_and_permit_reject_stops_the_turn_without_running_it() {
    // Two sessions of one project, one allowed and one refused: one server for both.
    let w = world(
        Scenario::new()
            .script(
                script("allow this")
                    .turn(bash("echo hi > out.txt"))
                    .turn(Turn::text("Wrote it.")),
            )
            .script(
                script("refuse this")
                    .turn(bash("echo hi > out.txt"))
                    .turn(Turn::text("Never sent.")),
            ),
    );
    let allowed = w.spawn(&["demo", "allow this", "--runtime", "tmux"]);
    let rejected = w.spawn(&["demo", "refuse this", "--runtime", "process"]);

    w.wait_activity(&allowed, "waiting_input");
    let out = w.ao_ok(&["permit", &allowed]);
    assert!(
        out.contains("allowed once: bash: echo hi > out.txt"),
        "{out}"
    );
    let s = w.wait_activity(&allowed, "ready");
    let file = workspace_of(&s).join("out.txt");
    assert_eq!(std::fs::read_to_string(file).unwrap(), "hi\n");
    // Nothing is pending any more, and ao says so rather than answer nothing.
    let err = w.ao_fails(&["permit", &allowed], 2);
    assert!(
        err.contains("has no pending permission request (it is ready)"),
        "{err}"
    );
    let err = w.ao_fails(&["answer", &allowed, "yes"], 2);
    assert!(err.contains("has no pending question"), "{err}");

    w.wait_activity(&rejected, "waiting_input");
    let out = w.ao_ok(&["permit", &rejected, "--reject"]);
    assert!(out.contains("rejected"), "{out}");
    let s = w.wait_activity(&rejected, "ready");
    assert!(!workspace_of(&s).join("out.txt").exists());
    // The log says what happened to the call.
    let logs = w.ao_ok(&["logs", &rejected]);
    assert!(
        logs.contains("tool bash [error] echo hi > out.txt"),
        "{logs}"
    );
    assert!(logs.contains("rejected permission"), "{logs}");
}

#[test]
fn permit_always_lets_later_calls_like_it_run_unasked() {
    let w = world(
        Scenario::new().script(
            script("write")
                .turn(bash("echo one > one.txt"))
                .turn(bash("echo two > two.txt"))
                .turn(Turn::text("Both written.")),
        ),
    );
    let id = w.spawn(&["demo", "write", "--runtime", "process"]);
    w.wait_activity(&id, "waiting_input");
    w.ao_ok(&["permit", &id, "--always"]);
    // The second `echo` matches the approved pattern: no second request, straight to done.
    let s = w.wait_for(&id, Duration::from_secs(90), "ready", |s| {
        assert_ne!(s["activity"], "waiting_input", "asked again: {s:#}");
        s["activity"] == "ready"
    });
    let ws = workspace_of(&s);
    assert!(ws.join("one.txt").exists() && ws.join("two.txt").exists());
}

#[test]
fn with_several_requests_pending_the_id_picks_one() {
    let w = world(
        Scenario::new().script(
            script("two at once")
                .turn(Turn::tool_calls([
                    ToolCall::new(
                        "bash",
                        json!({"command": "echo a > a.txt", "description": "a"}),
                    ),
                    ToolCall::new(
                        "bash",
                        json!({"command": "echo b > b.txt", "description": "b"}),
                    ),
                ]))
                .turn(Turn::text("Done both.")),
        ),
    );
    let id = w.spawn(&["demo", "two at once", "--runtime", "process"]);
    let s = w.wait_for(&id, Duration::from_secs(90), "two pending", |s| {
        s["pending"].as_array().is_some_and(|p| p.len() == 2)
    });
    let ids: Vec<String> = s["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();

    let err = w.ao_fails(&["permit", &id], 2);
    assert!(err.contains("2 pending permission requests"), "{err}");
    assert!(err.contains(&ids[0]) && err.contains(&ids[1]), "{err}");
    let err = w.ao_fails(&["permit", &id, "per_nope"], 2);
    assert!(
        err.contains("no pending permission request per_nope"),
        "{err}"
    );

    w.ao_ok(&["permit", &id, &ids[1]]);
    let s = w.wait_for(&id, Duration::from_secs(30), "one pending", |s| {
        s["pending"].as_array().is_some_and(|p| p.len() == 1)
    });
    assert_eq!(s["pending"][0]["id"], ids[0].as_str());
    w.ao_ok(&["permit", &id]);
    w.wait_activity(&id, "ready");
}

#[test]
fn send_continues_a_process_session_and_its_log_keeps_the_output() {
    let w = world(
        Scenario::new().script(
            script("hello")
                .turn(Turn::text("First reply.").usage(110, 7))
                .turn(Turn::text("Second reply.").usage(130, 9)),
        ),
    );
    let id = w.spawn(&["demo", "hello", "--runtime", "process"]);
    w.wait_activity(&id, "ready");
    // From standard input, as a script would.
    let mut child = w
        .ao_command(&["send", &id, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"and now the second part")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let s = w.wait_for(&id, Duration::from_secs(60), "done twice", |s| {
        s["activity"] == "ready" && tokens(s).1 == 16
    });
    assert_eq!(tokens(&s), (240, 16));

    let log = w.wait_log(&id, "Second reply.");
    assert!(log.contains("First reply."));
}

#[test]
fn wait_returns_when_the_state_is_reached_and_fails_on_timeout() {
    let w = world(
        Scenario::new().script(
            script("write")
                .turn(bash("echo hi > out.txt"))
                .turn(Turn::text("Wrote it.").delay_ms(1500)),
        ),
    );
    let id = w.spawn(&["demo", "write", "--runtime", "process"]);
    let out = w.ao_ok(&["wait", &id, "--until", "waiting_input", "--timeout", "90"]);
    assert_eq!(out.trim(), format!("{id}: waiting_input"));
    assert_eq!(w.session(&id)["activity"], "waiting_input");

    // Not ready yet: a short wait times out with a message and exit code 1.
    let err = w.ao_fails(&["wait", &id, "--until", "ready", "--timeout", "0.5"], 1);
    assert!(
        err.contains("is still waiting_input after") && err.contains("waited for ready"),
        "{err}"
    );

    w.ao_ok(&["permit", &id]);
    let out = w.ao_ok(&["wait", &id, "--until", "ready", "--timeout", "90"]);
    assert_eq!(out.trim(), format!("{id}: ready"));
    assert_eq!(w.session(&id)["activity"], "ready");

    // A killed session never gets there: said at once, not at the timeout.
    w.ao_ok(&["kill", &id]);
    let t = Instant::now();
    let err = w.ao_fails(&["wait", &id, "--until", "active", "--timeout", "60"], 1);
    assert!(err.contains("exited before it was active"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(30));
}

#[test]
fn logs_show_the_conversation_with_a_tool_call_and_its_result() {
    let mut w = World::new(
        Scenario::new().script(
            script("list")
                .turn(bash("echo listing-output").usage(50, 5))
                .turn(Turn::text("That was the listing.").usage(60, 2)),
        ),
    );
    w.project("demo", &["permission: {bash: allow}"]);
    let id = w.spawn(&["demo", "list the files", "--runtime", "process"]);
    w.wait_activity(&id, "ready");
    let logs = w.ao_ok(&["logs", &id]);
    for expected in [
        "you: list the files",
        "tool bash [completed] echo listing-output",
        "│ listing-output",
        "step tool-calls: 50 in, 5 out, $0.000225",
        "agent: That was the listing.",
        "step stop: 60 in, 2 out, $0.000210",
    ] {
        assert!(logs.contains(expected), "missing {expected:?} in:\n{logs}");
    }
    let json = w.ao_ok(&["logs", &id, "--json"]);
    let tool = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["type"] == "tool")
        .expect("a tool entry");
    assert_eq!(tool["status"], "completed");
    assert_eq!(tool["output"], "listing-output\n");
}

#[test]
fn logs_follow_prints_new_entries_as_they_come() {
    let w = world(
        Scenario::new().script(
            script("hello")
                .turn(Turn::text("First reply."))
                .turn(Turn::text("Second reply.").delay_ms(1000)),
        ),
    );
    let id = w.spawn(&["demo", "hello", "--runtime", "process"]);
    w.wait_activity(&id, "ready");
    let mut follower = w
        .ao_command(&["logs", &id, "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read its output on a thread, so the test can give up at a deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let mut read_until = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !seen.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Err(_) => panic!("ao logs --follow never printed {text:?}; it printed:\n{seen}"),
            }
        }
    };
    read_until("agent: First reply.");
    w.ao_ok(&["send", &id, "once more"]);
    read_until("you: once more");
    read_until("agent: Second reply.");
    let _ = follower.kill();
    let _ = follower.wait();
}
