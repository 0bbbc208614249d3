//! `ao watch`: the full-screen dashboard, driven in a private tmux terminal as a person would use
//! it, against the real opencode and the mock model.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ao_test_support::{assert_cost, script, shell_quote, Scenario, Terminal, Turn, World};
use serde_json::json;

const SCREEN: Duration = Duration::from_secs(60);

fn bash(command: &str) -> Turn {
    Turn::tool_call("bash", json!({"command": command, "description": "Run it"}))
}

fn world(scenario: Scenario) -> World {
    let mut w = World::new(scenario);
    w.project("demo", &["permission: {bash: ask}"]);
    w
}

/// A terminal running `ao watch ARGS` in a shell that says how it ended, then stays at a prompt.
fn watch(w: &World, name: &str, args: &str, size: (u16, u16)) -> Terminal {
    let ao = shell_quote(&w.ao_script().to_string_lossy());
    // A person's terminal outside tmux: Enter attaches rather than switches a client.
    let command =
        format!("unset TMUX; {ao} watch {args}; echo WATCH-ENDED $?; PS1='PROMPT$ ' exec sh -i");
    w.sized_terminal(name, &command, size.0, size.1)
}

fn wait(w: &World, t: &Terminal, what: &str, pred: impl Fn(&str) -> bool) -> String {
    w.wait_screen(t, SCREEN, what, pred)
}

/// Waits for the shell's prompt after `ao watch` ended with 0, off the alternate screen.
fn shell_again(w: &World, t: &Terminal) {
    let screen = wait(w, t, "the shell again", |s| s.contains("PROMPT$"));
    assert!(screen.contains("WATCH-ENDED 0"), "{screen}");
    assert!(
        !t.alternate_screen(),
        "still on the alternate screen:\n{screen}"
    );
}

/// The line of the screen that holds `needle`.
fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line holds {needle:?}:\n{screen}"))
}

#[test]
fn a_permission_shows_without_a_key_and_p_permits_it_then_q_gives_the_terminal_back() {
    let w = world(
        Scenario::new().script(
            script("watch me")
                .turn(bash("echo hi > out.txt").usage(100, 5))
                .turn(Turn::text("Wrote it.").usage(120, 4))
                .turn(Turn::text("You're welcome.").usage(130, 3)),
        ),
    );
    let t = watch(&w, "dash", "", (80, 24));
    // Watching before the session exists: it appears, and turns waiting_input, with no key.
    wait(&w, &t, "the empty dashboard", |s| {
        s.contains("no sessions yet")
    });
    let id = w.spawn(&["demo", "watch me", "--runtime", "process"]);
    let screen = wait(&w, &t, "waiting_input", |s| {
        s.contains("waiting_input") && s.contains("echo hi > out.txt")
    });
    // 80x24: every column's header, on one line, nothing wrapped.
    let header = line_with(&screen, "SESSION");
    for h in ["SESSION", "ACTIVITY", "PROCESS", "MODEL", "TOKENS", "COST"] {
        assert!(header.contains(h), "{h} missing from {header:?}\n{screen}");
    }
    assert!(screen.lines().all(|l| l.chars().count() <= 80), "{screen}");
    assert!(
        screen.contains("permission bash: echo hi > out.txt"),
        "{screen}"
    );

    t.keys(&["p"]);
    let cost = (220.0 * 3.0 + 9.0 * 15.0) / 1e6;
    let screen = wait(&w, &t, "ready with the exact cost", |s| {
        s.contains("ready") && s.contains("$0.000795") && s.contains("Wrote it.")
    });
    assert!(
        screen.contains("allowed once: bash: echo hi > out.txt"),
        "{screen}"
    );
    // The detail names the session's agent.
    assert!(
        screen.contains("agent opencode  cost $0.000795"),
        "{screen}"
    );
    assert_cost(&w.session(&id), cost);

    // The log view: the conversation as `ao logs` prints it; Esc goes back.
    t.keys(&["l"]);
    wait(&w, &t, "the log view", |s| {
        s.contains("log of demo/agent-1") && s.contains("tool bash [completed] echo hi > out.txt")
    });
    t.keys(&["Escape"]);
    wait(&w, &t, "the table again", |s| s.contains("SESSION"));

    // s: a follow-up typed in the status line; the reply shows as the last one.
    t.keys(&["s"]);
    wait(&w, &t, "the message line", |s| {
        s.contains("send to demo/agent-1:")
    });
    t.type_line("thanks");
    wait(&w, &t, "the reply to the message", |s| {
        s.contains("sent to demo/agent-1") || s.contains("You're welcome.")
    });
    wait(&w, &t, "the reply to the message", |s| {
        s.contains("You're welcome.")
    });

    // A server that dies while watched: the screen says so without a key; r brings it back.
    w.wait_activity(&id, "ready");
    w.crash_server("demo");
    wait(&w, &t, "the session exited", |s| {
        line_with(s, "agent-1 ").contains("exited")
    });
    t.keys(&["r"]);
    let screen = wait(&w, &t, "the session back", |s| {
        s.contains("demo/agent-1: restored") && line_with(s, "agent-1 ").contains("ready")
    });
    // Both turns' cost, exact, survives the crash and the restore.
    assert!(screen.contains("cost $0.00123 "), "{screen}");
    assert_cost(&w.session(&id), (350.0 * 3.0 + 12.0 * 15.0) / 1e6);

    t.keys(&["q"]);
    shell_again(&w, &t);
}

#[test]
fn a_answers_a_question_by_picking_an_option_and_k_kills_after_a_confirmation() {
    let color = json!({"questions": [{
        "question": "Pick a color?", "header": "Color",
        "options": [{"label": "red", "description": "Red"}, {"label": "blue", "description": "Blue"}]
    }]});
    let w = world(
        Scenario::new().script(
            script("pick a color")
                .turn(Turn::tool_call("question", color))
                .turn(Turn::text("Blue it is.").usage(120, 4)),
        ),
    );
    let id = w.spawn(&["demo", "pick a color", "--runtime", "process"]);
    let t = watch(&w, "dash", "demo", (80, 24));
    wait(&w, &t, "the question and its options", |s| {
        s.contains("question: Pick a color?") && s.contains("options: red blue")
    });

    // a, then ↓↓ picks the second option, Enter answers with it.
    t.keys(&["a"]);
    wait(&w, &t, "the answer line", |s| {
        s.contains("answer (↑↓ picks an option):")
    });
    t.keys(&["Down", "Down", "Enter"]);
    wait(&w, &t, "ready after the answer", |s| {
        s.contains("answered: Pick a color?") && line_with(s, "agent-1 ").contains("ready")
    });
    wait(&w, &t, "the agent going on", |s| s.contains("Blue it is."));
    let told = w.mock.requests().iter().any(|r| {
        r.script.as_deref() == Some("pick a color")
            && r.turn_index == Some(1)
            && r.body.to_string().contains("blue")
    });
    assert!(told, "the answer never reached the model");

    // k asks first; anything but y keeps the session.
    t.keys(&["k"]);
    wait(&w, &t, "the confirmation", |s| {
        s.contains("kill demo/agent-1?")
    });
    t.keys(&["n"]);
    wait(&w, &t, "the session kept", |s| {
        s.contains("demo/agent-1 is left running")
    });
    assert_eq!(w.session(&id)["activity"], "ready");
    t.keys(&["k"]);
    wait(&w, &t, "the confirmation", |s| {
        s.contains("kill demo/agent-1?")
    });
    t.keys(&["y"]);
    wait(&w, &t, "the session killed", |s| {
        s.contains("demo/agent-1: stopped") && line_with(s, "agent-1 ").contains("exited")
    });
    let s = w.session(&id);
    assert_eq!(
        (s["activity"].as_str(), s["process"].as_str()),
        (Some("exited"), Some("exited"))
    );

    // Ctrl-C gives the terminal back as q does.
    t.keys(&["C-c"]);
    shell_again(&w, &t);
}

#[test]
fn without_a_terminal_it_refuses_and_points_to_status_watch() {
    let w = world(Scenario::new());
    let err = w.ao_fails(&["watch"], 2);
    assert!(
        err.contains("needs a terminal") && err.contains("ao status --watch"),
        "{err}"
    );
}

#[test]
fn enter_attaches_to_a_tmux_session_and_detaching_comes_back_to_the_dashboard() {
    let w = world(Scenario::new().script(script("hello").turn(Turn::text("Hello from the mock."))));
    let id = w.spawn(&["demo", "hello", "--runtime", "tmux"]);
    w.wait_activity(&id, "ready");
    let t = watch(&w, "dash", "", (200, 50));
    wait(&w, &t, "the dashboard", |s| {
        s.contains("Hello from the mock.") && s.contains("q quit")
    });
    t.keys(&["Enter"]);
    w.wait_for_clients(&[id.as_str()]);
    wait(&w, &t, "the session instead of the dashboard", |s| {
        !s.contains("q quit")
    });
    // The person detaches: the dashboard is back, drawn anew, and still answers keys.
    w.tmux(&["detach-client", "-s", &format!("={id}")]);
    wait(&w, &t, "the dashboard again", |s| {
        s.contains(&format!("back from {id}")) && s.contains("q quit")
    });
    t.keys(&["q"]);
    shell_again(&w, &t);
}

#[test]
fn a_panic_gives_the_terminal_back_before_its_message_prints() {
    let w = world(Scenario::new());
    let ao = shell_quote(&w.ao_script().to_string_lossy());
    let t = w.sized_terminal(
        "dash",
        &format!(
            "AO_FAULT_WATCH_PANIC=1 RUST_BACKTRACE=0 {ao} watch; echo WATCH-ENDED $?; PS1='PROMPT$ ' exec sh -i"
        ),
        80,
        24,
    );
    let screen = wait(&w, &t, "the shell again", |s| s.contains("PROMPT$"));
    // The message is on the normal screen, readable, lines starting at the left edge (no raw
    // mode), and the exit code is a panic's.
    assert!(screen.contains("ao watch panics on purpose"), "{screen}");
    // Nothing was written over: a second exit from the alternate screen would put the cursor
    // back at the top, and the shell would write over the message.
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let message = lines.iter().position(|l| l.contains("panics on purpose"));
    let ended = lines.iter().position(|l| *l == "WATCH-ENDED 101");
    assert!(
        matches!((message, ended), (Some(m), Some(e)) if m < e),
        "{screen}"
    );
    assert!(
        !t.alternate_screen(),
        "still on the alternate screen:\n{screen}"
    );
}

#[test]
fn sigterm_gives_the_terminal_back_and_ends_cleanly() {
    let w = world(Scenario::new());
    let t = watch(&w, "dash", "", (80, 24));
    wait(&w, &t, "the empty dashboard", |s| {
        s.contains("no sessions yet")
    });
    // The pane's shell runs `ao watch` as its child (ao.sh execs it).
    let out = t.tmux(&["display-message", "-p", "-t", "=dash:", "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let ps = std::process::Command::new("ps")
        .args(["-o", "pid=", "--ppid", &shell])
        .output()
        .expect("ps");
    let pid: i32 = String::from_utf8_lossy(&ps.stdout)
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no child of the pane's shell {shell}"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    shell_again(&w, &t);
}
