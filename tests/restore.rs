//! `ao restore`: a killed session, and one whose tmux server died, come back on the same OpenCode
//! session with the history, tokens and cost intact, and the conversation goes on. The killed
//! tmux session runs with `tui: always` (its pane is OpenCode's TUI), the one whose server died is
//! lazy (its pane is ao's view), so that both modes come back.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ao_test_support::{assert_cost, script, tokens, wait_until, Scenario, Turn, World};

fn world(defaults: &[&str]) -> World {
    let mut w = World::new(
        Scenario::new().script(
            script("hello")
                .turn(Turn::text("Hello from the mock.").usage(110, 7))
                .turn(Turn::text("Hello again.").usage(130, 9)),
        ),
    );
    w.set_defaults(defaults);
    w.project("demo", &[]);
    w
}

/// What the session's tmux pane shows.
fn pane(w: &World, id: &str) -> String {
    let target = format!("={id}:");
    String::from_utf8_lossy(&w.tmux(&["capture-pane", "-p", "-t", &target]).stdout).into_owned()
}

fn wait_pane(w: &World, id: &str, text: &str) {
    wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        let screen = pane(w, id);
        if screen.contains(text) {
            Ok(())
        } else {
            Err(format!(
                "the pane of {id} never showed {text:?}; it shows:\n{screen}"
            ))
        }
    })
}

/// Restored: same OpenCode session, history and cost as before, and a follow-up adds to them.
fn check_restored(w: &World, id: &str, before: &serde_json::Value) {
    let s = w.wait_activity(id, "ready");
    assert_eq!(s["agent_session_id"], before["agent_session_id"]);
    assert_eq!(s["process"], "running");
    assert_eq!(tokens(&s), (110, 7));
    w.ao_ok(&["send", id, "hello once more"]);
    let s = w.wait_for(id, Duration::from_secs(60), "done twice", |s| {
        s["activity"] == "ready" && tokens(s) == (240, 16)
    });
    assert_cost(&s, (240.0 * 3.0 + 16.0 * 15.0) / 1e6);
}

#[test]
fn a_killed_tmux_session_comes_back_with_its_history() {
    let w = world(&["tmux: {tui: always}"]);
    let id = w.spawn(&["demo", "hello", "--runtime", "tmux"]);
    let before = w.wait_activity(&id, "ready");
    wait_pane(&w, &id, "Hello from the mock.");
    w.ao_ok(&["kill", &id]);
    assert_eq!(w.session(&id)["activity"], "exited");
    // Sending to a killed session says how to bring it back.
    let err = w.ao_fails(&["send", &id, "hi"], 2);
    assert!(err.contains(&format!("`ao restore {id}`")), "{err}");

    let out = w.ao_ok(&["restore", &id]);
    assert!(
        out.contains(before["agent_session_id"].as_str().unwrap()),
        "{out}"
    );
    // The pane shows OpenCode's TUI on that session again, history included.
    wait_pane(&w, &id, "Hello from the mock.");
    check_restored(&w, &id, &before);
    wait_pane(&w, &id, "Hello again.");
}

#[test]
fn a_killed_process_session_comes_back_and_its_log_goes_on() {
    let w = world(&[]);
    let id = w.spawn(&["demo", "hello", "--runtime", "process"]);
    let before = w.wait_activity(&id, "ready");
    w.ao_ok(&["kill", &id]);
    let s = w.session(&id);
    assert_eq!(
        (s["activity"].as_str(), s["process"].as_str()),
        (Some("exited"), Some("exited"))
    );

    w.ao_ok(&["restore", &id]);
    check_restored(&w, &id, &before);
    w.wait_log(&id, "Hello again.");
}

#[test]
fn sessions_come_back_after_the_tmux_server_was_killed() {
    let w = world(&[]);
    let id = w.spawn(&["demo", "hello", "--runtime", "tmux"]);
    let before = w.wait_activity(&id, "ready");
    assert!(w.tmux(&["kill-server"]).status.success());
    // The agent is fine (its server is not tmux's); the process column says the pane is gone.
    let s = w.session(&id);
    assert_eq!(s["process"], "exited", "{s:#}");
    assert_eq!(s["activity"], "ready", "{s:#}");

    w.ao_ok(&["restore", &id]);
    // ao's view again, with the conversation.
    wait_pane(&w, &id, "Hello from the mock.");
    wait_pane(&w, &id, "t: open opencode's TUI here");
    check_restored(&w, &id, &before);
}
