//! `ao watch`: the full-screen dashboard, driven in a private tmux terminal as a person would use
//! it, against the real opencode and the mock model.

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
    let command = format!("{ao} watch {args}; echo WATCH-ENDED $?; PS1='PROMPT$ ' exec sh -i");
    w.sized_terminal(name, &command, size.0, size.1)
}

fn wait(w: &World, t: &Terminal, what: &str, pred: impl Fn(&str) -> bool) -> String {
    w.wait_screen(t, SCREEN, what, pred)
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
                .turn(Turn::text("Wrote it.").usage(120, 4)),
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
    assert_cost(&w.session(&id), cost);

    t.keys(&["q"]);
    let screen = wait(&w, &t, "the shell again", |s| s.contains("PROMPT$"));
    assert!(screen.contains("WATCH-ENDED 0"), "{screen}");
    assert!(
        !t.alternate_screen(),
        "still on the alternate screen:\n{screen}"
    );
}
