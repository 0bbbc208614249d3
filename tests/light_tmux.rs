//! Lazy tmux sessions (`tmux: {tui: lazy}`, the default): the pane runs ao's own view of the
//! session, and OpenCode's TUI runs only while someone looks. Driven the way a person uses them:
//! `ao attach` and `tmux attach` from terminals (panes of a second private tmux server), keys in
//! the pane, detaching with tmux's own key; what runs is read from /proc, what shows from the
//! panes.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ao_test_support::{script, shell_quote, Scenario, Terminal, Turn, World};
use serde_json::json;

const SCREEN: Duration = Duration::from_secs(30);
/// The bound: no TUI process is left this long after the last client detached.
const TUI_GONE: Duration = Duration::from_secs(2);

fn bash(command: &str) -> Turn {
    Turn::tool_call("bash", json!({"command": command, "description": "Run it"}))
}

/// ao's view: the hint at its foot is always there.
fn shows_the_view(screen: &str) -> bool {
    screen.contains("t: open opencode's TUI here") && screen.contains("ao attach")
}

/// Asserts that `pred` keeps holding for `how_long` (a thing that must not happen, such as a TUI
/// closed while a client still looks).
fn holds_for(how_long: Duration, what: &str, pred: impl Fn() -> bool) {
    let end = Instant::now() + how_long;
    while Instant::now() < end {
        assert!(pred(), "{what} stopped holding");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A person's terminal attached to the session with `tmux attach`, as if typed by hand.
fn tmux_attach(w: &World, name: &str, id: &str) -> Terminal {
    w.terminal(
        name,
        &format!(
            "unset TMUX; exec tmux -L {} attach -t ={id}",
            w.tmux_socket()
        ),
    )
}

/// The number of windows of the session (the view's, and the TUI's while it is open).
fn windows(w: &World, id: &str) -> usize {
    let out = w.tmux(&[
        "list-windows",
        "-t",
        &format!("={id}"),
        "-F",
        "#{window_id}",
    ]);
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn the_pane_shows_the_conversation_and_ao_attach_opens_the_tui_until_the_client_detaches() {
    let mut w = World::new(
        Scenario::new().script(
            script("write the file")
                .turn(bash("echo hi > out.txt"))
                .turn(Turn::text("Wrote out.txt for you.").usage(120, 8))
                .turn(bash("echo again > two.txt"))
                .turn(Turn::text("Wrote two.txt as well.").usage(130, 9)),
        ),
    );
    w.project("demo", &["permission: {bash: ask}"]);
    let id = w.spawn(&["demo", "write the file", "--runtime", "tmux"]);
    let s = w.wait_activity(&id, "waiting_input");
    let ses = s["agent_session_id"]
        .as_str()
        .expect("a conversation")
        .to_string();

    // The pane: the state on top, the conversation, then the request with its commands.
    let screen = w.wait_pane(&id, false, SCREEN, "the pending permission", |s| {
        s.contains("permission asked: bash: echo hi > out.txt")
    });
    let lines: Vec<&str> = screen.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{id} · waiting_input")),
        "{screen}"
    );
    let said = lines.iter().position(|l| l.contains("you: write the file"));
    let asked = lines.iter().position(|l| l.contains("permission asked"));
    assert!(said.is_some() && said < asked, "{screen}");
    assert!(
        screen.contains(&format!("ao permit {id} --reject")),
        "{screen}"
    );
    assert!(shows_the_view(&screen), "{screen}");
    assert!(w.tui_processes(&ses).is_empty(), "a TUI runs after spawn");

    // A TUI that cannot start: `ao attach` says why, and the session keeps ao's view alone.
    let broken = w.root().join("broken-opencode");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'opencode: cannot start here' >&2\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = w
        .ao_command(&["attach", &id])
        .env("AO_OPENCODE_BIN", &broken)
        .output()
        .expect("run ao attach");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("opencode's TUI did not start for {id}"))
            && err.contains("status 3")
            && err.contains("opencode: cannot start here"),
        "{err}"
    );
    assert_eq!(windows(&w, &id), 1);
    assert!(shows_the_view(&w.pane_screen(&id, true)));

    // Answered from the command line the view names, the turn goes on and the view shows it.
    w.ao_ok(&["permit", &id]);
    w.wait_activity(&id, "ready");
    w.wait_pane(&id, false, SCREEN, "the reply", |s| {
        s.contains("Wrote out.txt for you.") && !s.contains("permission asked")
    });

    // `ao attach` from a person's terminal: OpenCode's TUI on the session.
    let ao = shell_quote(&w.ao_script().to_string_lossy());
    let term = w.terminal("person", &format!("unset TMUX; exec {ao} attach {id}"));
    w.wait_screen(&term, SCREEN, "OpenCode's TUI on the session", |s| {
        s.contains("write the file") && s.contains("Wrote out.txt for you.")
    });
    assert_eq!(w.tui_processes(&ses).len(), 1);
    // A permission asked while it looks is answered in the TUI, and the turn goes on. (OpenCode
    // 1.18.33's TUI does not show a request asked before it started: the view and `ao permit`
    // answer those.)
    w.ao_ok(&["send", &id, "write another"]);
    w.wait_screen(&term, SCREEN, "the TUI's permission prompt", |s| {
        s.contains("Permission required") && s.contains("Allow once")
    });
    term.keys(&["Enter"]);
    w.wait_screen(&term, SCREEN, "the reply after the tool ran", |s| {
        s.contains("Wrote two.txt as well.")
    });
    w.wait_activity(&id, "ready");

    // The person detaches: the TUI goes within the bound, and the pane is ao's view again.
    term.keys(&["C-b", "d"]);
    w.wait_no_tui(&ses, TUI_GONE);
    // The view reads the status, then the conversation: the reply can show a moment before the
    // server says the turn is over, and the next look (on that event) says ready.
    let ready = format!("{id} · ready");
    let screen = w.wait_pane(&id, true, SCREEN, "ao's view with the reply, ready", |s| {
        shows_the_view(s) && s.contains("Wrote two.txt as well.") && s.contains(&ready)
    });
    assert!(screen.contains(&ready), "{screen}");
    assert_eq!(windows(&w, &id), 1);
}

#[test]
fn the_key_in_the_pane_opens_the_tui_for_tmux_attach_and_it_stays_until_the_last_client_leaves() {
    let mut w = World::new(
        Scenario::new()
            .script(script("hello").turn(Turn::text("Hello from the mock.").usage(110, 7))),
    );
    w.project("demo", &[]);
    let id = w.spawn(&["demo", "hello", "--runtime", "tmux"]);
    // A second session on the server: tmux runs a detach's hooks in the context of whichever
    // session it deems best, not always the one the client left.
    let other = w.spawn(&["demo", "hello", "--runtime", "tmux"]);
    w.wait_activity(&other, "ready");
    let s = w.wait_activity(&id, "ready");
    let ses = s["agent_session_id"]
        .as_str()
        .expect("a conversation")
        .to_string();

    // `tmux attach` by hand shows ao's view; its key opens the TUI for both clients.
    let one = tmux_attach(&w, "one", &id);
    w.wait_screen(&one, SCREEN, "ao's view", |s| {
        shows_the_view(s) && s.contains("Hello from the mock.")
    });
    let two = tmux_attach(&w, "two", &id);
    w.wait_for_clients(&[id.as_str(), id.as_str()]);
    one.keys(&["t"]);
    for term in [&one, &two] {
        w.wait_screen(term, SCREEN, "OpenCode's TUI on the session", |s| {
            s.contains("Hello from the mock.") && !shows_the_view(s)
        });
    }
    assert_eq!(w.tui_processes(&ses).len(), 1);

    // One client leaves: the other still looks, so the TUI stays.
    one.keys(&["C-b", "d"]);
    w.wait_for_clients(&[id.as_str()]);
    holds_for(
        Duration::from_millis(1500),
        "the TUI for the client left",
        || w.tui_processes(&ses).len() == 1,
    );
    assert!(!shows_the_view(&two.screen()), "{}", two.screen());

    // The last one leaves: the TUI goes, and the pane is the view again.
    two.keys(&["C-b", "d"]);
    w.wait_no_tui(&ses, TUI_GONE);
    w.wait_pane(&id, true, SCREEN, "ao's view", shows_the_view);

    // A person who detaches while the TUI still starts leaves nothing behind.
    let three = tmux_attach(&w, "three", &id);
    w.wait_screen(&three, SCREEN, "ao's view", shows_the_view);
    three.keys(&["t"]);
    ao_test_support::wait_until(SCREEN, Duration::from_millis(10), || {
        if windows(&w, &id) == 2 {
            Ok(())
        } else {
            Err("the TUI's window never opened".to_string())
        }
    });
    three.keys(&["C-b", "d"]);
    w.wait_no_tui(&ses, TUI_GONE);
    // And none comes back (the view gives up on a TUI that nobody looks at).
    holds_for(Duration::from_secs(1), "no TUI without a client", || {
        w.tui_processes(&ses).is_empty()
    });
    assert_eq!(windows(&w, &id), 1);
    w.wait_pane(&id, true, SCREEN, "ao's view", shows_the_view);

    // `ao kill` while the TUI is open stops it with the view.
    let four = tmux_attach(&w, "four", &id);
    w.wait_screen(&four, SCREEN, "ao's view", shows_the_view);
    four.keys(&["t"]);
    w.wait_screen(&four, SCREEN, "OpenCode's TUI on the session", |s| {
        s.contains("Hello from the mock.") && !shows_the_view(s)
    });
    w.ao_ok(&["kill", &id]);
    assert!(w.tui_processes(&ses).is_empty());
    assert_eq!(w.tmux_sessions(), vec![other]);
}
