//! `ao attach`, driven the way a person uses it: from a terminal (a pane of a second private tmux
//! server), outside tmux and inside it, reading what the terminal shows. Outside tmux the session
//! is lazy (the default: the TUI opens for the attach); inside it, `tui: always` (the pane runs
//! the TUI from the start), so that both modes attach the same way. tests/light_tmux.rs has the
//! rest of lazy sessions.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ao_test_support::{script, shell_quote, Scenario, Turn, World};

const SCREEN: Duration = Duration::from_secs(30);

fn world(defaults: &[&str]) -> World {
    let scenario = Scenario::new().script(
        script("hello")
            .turn(Turn::text("Hello from the mock.").usage(110, 7))
            .turn(Turn::text("Second reply.").usage(130, 9)),
    );
    let mut w = World::new(scenario);
    w.set_defaults(defaults);
    w.project("demo", &[]);
    w
}

/// OpenCode's TUI on the session: the conversation (the prompt and the mock's reply) is on screen.
fn shows_the_conversation(screen: &str) -> bool {
    screen.contains("hello") && screen.contains("Hello from the mock.")
}

#[test]
fn attach_from_a_terminal_outside_tmux_attaches_to_the_session() {
    let w = world(&[]);
    let id = w.spawn(&["demo", "hello", "--runtime", "tmux"]);
    w.wait_activity(&id, "ready");
    assert!(w.tmux_clients().is_empty());

    let ao = shell_quote(&w.ao_script().to_string_lossy());
    let term = w.terminal("person", &format!("unset TMUX; exec {ao} attach {id}"));
    w.wait_screen(
        &term,
        SCREEN,
        "OpenCode's TUI on the session",
        shows_the_conversation,
    );
    assert_eq!(w.tmux_clients(), vec![id.clone()]);
}

#[test]
fn attach_inside_tmux_switches_the_client() {
    let w = world(&["tmux: {tui: always}"]);
    let id = w.spawn(&["demo", "hello", "--runtime", "tmux"]);
    let s = w.wait_activity(&id, "ready");
    // `tui: always`: the pane runs OpenCode's TUI from the start, before anyone attaches.
    let ses = s["agent_session_id"].as_str().expect("a conversation");
    assert_eq!(w.tui_processes(ses).len(), 1);

    // A person already in a shell on the session server (a "lobby" session), attached from their
    // terminal, runs `ao attach` there: their client moves to the session, no nested tmux.
    let out = w.tmux(&[
        "new-session",
        "-d",
        "-s",
        "lobby",
        "-x",
        "200",
        "-y",
        "50",
        "sh",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let term = w.terminal(
        "person",
        &format!("exec tmux -L {} attach -t =lobby", w.tmux_socket()),
    );
    w.wait_for_clients(&["lobby"]);
    let ao = shell_quote(&w.ao_script().to_string_lossy());
    let out = w.tmux(&[
        "send-keys",
        "-t",
        "=lobby:",
        "-l",
        &format!("{ao} attach {id}"),
    ]);
    assert!(out.status.success());
    w.tmux(&["send-keys", "-t", "=lobby:", "Enter"]);

    w.wait_for_clients(&[id.as_str()]);
    w.wait_screen(
        &term,
        SCREEN,
        "OpenCode's TUI on the session",
        shows_the_conversation,
    );
    // Switched, not nested: the lobby's shell is still there, with no client of its own.
    assert!(w.tmux_sessions().iter().any(|s| s.contains("lobby")));
}

#[test]
fn attach_to_a_process_session_opens_the_tui_on_the_same_session() {
    let w = world(&[]);
    let id = w.spawn(&["demo", "hello", "--runtime", "process"]);
    let s = w.wait_activity(&id, "ready");

    let ao = shell_quote(&w.ao_script().to_string_lossy());
    let term = w.terminal("person", &format!("exec {ao} attach {id}"));
    w.wait_screen(
        &term,
        SCREEN,
        "OpenCode's TUI on the session",
        shows_the_conversation,
    );

    // It is a client of the project's server, not a second OpenCode with its own: the session's
    // id is unchanged and a message typed in the TUI reaches the same conversation.
    term.type_line("hello again");
    w.wait_screen(&term, SCREEN, "the second reply", |s| {
        s.contains("Second reply.")
    });
    let again = w.wait_for(&id, SCREEN, "counting the second turn", |st| {
        st["tokens"]["output"].as_u64() == Some(7 + 9)
    });
    assert_eq!(again["agent_session_id"], s["agent_session_id"]);
}
