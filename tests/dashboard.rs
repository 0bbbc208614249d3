//! `ao dashboard`: the page in a real browser (headless Chromium over WebDriver) and the JSON API
//! as a script uses it, on the real opencode and the mock model.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ao_test_support::{
    assert_cost, free_port, script, wait_until, Browser, Dashboard, Scenario, Turn, World,
};
use nix::sys::signal::Signal;
use serde_json::{json, Value};

/// How long a page may take to show what the server knows.
const SHOWN: Duration = Duration::from_secs(60);

fn bash(command: &str) -> Turn {
    Turn::tool_call("bash", json!({"command": command, "description": "Run it"}))
}

fn color_question() -> Turn {
    Turn::tool_call(
        "question",
        json!({"questions": [{
            "question": "Pick a color?", "header": "Color",
            "options": [{"label": "red", "description": "Red"}, {"label": "blue", "description": "Blue"}]
        }]}),
    )
}

/// Two projects: `demo` asks before running bash, `other` does not.
fn world(scenario: Scenario) -> World {
    let mut w = World::new(scenario);
    w.project("demo", &["permission: {bash: ask}"]);
    w.project("other", &[]);
    w
}

/// The card of session `id` on the page, by CSS.
fn card(id: &str) -> String {
    format!("article.session[data-id=\"{id}\"]")
}

/// The card of `id` inside the group `group` (waiting, blocked, working, done, exited).
fn card_in(group: &str, id: &str) -> String {
    format!("section.group[data-group=\"{group}\"] {}", card(id))
}

fn wait_status(w: &World, id: &str, pred: impl Fn(&Value) -> bool, what: &str) -> Value {
    w.wait_for(id, SHOWN, what, pred)
}

#[test]
fn the_page_shows_every_session_live_and_acts_on_them() {
    let w = world(
        Scenario::new()
            .script(script("keep chatting").turns([
                Turn::text("Ready for more.").usage(50, 3),
                Turn::text("Follow-up done: forty-two.").usage(60, 4),
            ]))
            .script(script("other work").turn(Turn::text("Other done.").usage(40, 2)))
            .script(
                script("needs permission")
                    .turn(bash("echo hi > out.txt").usage(100, 5))
                    .turn(Turn::text("Wrote it.").usage(120, 4)),
            )
            .script(
                script("pick a color")
                    .turn(color_question())
                    .turn(Turn::text("Red it is.").usage(70, 3)),
            ),
    );
    let chat = w.spawn(&["demo", "keep chatting", "--runtime", "process"]);
    let other = w.spawn(&["other", "other work", "--runtime", "process"]);
    // A fixed port and a kept token, so that the dashboard can be restarted under the page.
    let port = free_port().to_string();
    let token_file = w.root().join("dashboard-token");
    let args = [
        "--port",
        &port,
        "--token-file",
        token_file.to_str().unwrap(),
    ];
    let dash = w.dashboard(&args);
    assert_eq!(
        dash.base,
        format!("http://127.0.0.1:{port}"),
        "{}",
        dash.url
    );

    // Without the token: 401 for the API; the page (which holds no secret) says so.
    assert_eq!(dash.get_anonymous("/api/sessions").status, 401);
    let browser = Browser::start(&w.root().join("chromium"), 1280, 860);
    browser.goto(&format!("{}/", dash.base));
    assert!(
        browser.body_text().contains("no valid token"),
        "{}",
        browser.body_text()
    );

    // With it: the page keeps it in the tab, it leaves the address bar, and both sessions of both
    // projects show, with a total per project.
    browser.goto(&dash.url);
    wait_until(SHOWN, Duration::from_millis(50), || {
        let at = browser.url();
        (at == format!("{}/", dash.base))
            .then_some(())
            .ok_or(format!("the address bar shows {at}"))
    });
    browser.wait_text(&card(&chat), SHOWN, "the demo session", |t| {
        t.contains(&chat)
    });
    // Each card names its session's agent.
    browser.wait_text(&card(&other), SHOWN, "the other session", |t| {
        t.contains(&other) && t.contains("opencode")
    });
    // other/agent-1's one turn: 40 tokens in at $3/M, 2 out at $15/M.
    browser.wait_text(
        "#totals tr[data-project=\"other\"]",
        SHOWN,
        "other's total",
        |t| t.contains("40 / 2") && t.contains("$0.00015"),
    );
    browser.wait_text(
        "#totals tr[data-project=\"demo\"]",
        SHOWN,
        "demo's total",
        |t| t.contains("demo"),
    );
    browser.wait_text(&card_in("done", &chat), SHOWN, "the chat done", |t| {
        t.contains("ready")
    });

    // A session spawned from the page's form goes `waiting_input` and shows under "waiting for
    // you", without a reload.
    browser.click("#spawn-open");
    browser.wait_text("#spawn-project", SHOWN, "the config's projects", |t| {
        t.contains("demo (") && t.contains("other (")
    });
    browser.select("#spawn-project", "demo");
    browser.fill("#spawn-prompt", "needs permission");
    browser.select("#spawn-runtime", "process");
    browser.click("#spawn-submit");
    let permit = "demo/agent-2";
    browser.wait_text("#notice", SHOWN, "the spawn's report", |t| {
        t.contains(&format!("{permit} runs opencode session ses_"))
    });
    browser.wait_text(&card_in("waiting", permit), SHOWN, "waiting for you", |t| {
        t.contains("waiting input") && t.contains("permission: bash: echo hi > out.txt")
    });
    // The detail (opened by the spawn) offers the three answers.
    browser.wait_text("#detail", SHOWN, "the permission", |t| {
        t.contains("Allow once") && t.contains("Allow always") && t.contains("Reject")
    });
    // The conversation follows: the call waits in it.
    browser.wait_text("#conversation", SHOWN, "the call waiting", |t| {
        t.contains("tool bash") && t.contains("echo hi > out.txt")
    });
    screenshot(&browser);

    browser.click("#pending button[data-permit=\"once\"]");
    browser.wait_text("#notice", SHOWN, "the permit's report", |t| {
        t.contains(&format!(
            "{permit}: allowed once: bash: echo hi > out.txt (per_"
        ))
    });
    let cost = (220.0 * 3.0 + 9.0 * 15.0) / 1e6;
    browser.wait_text(
        &card_in("done", permit),
        SHOWN,
        "ready with its cost",
        |t| t.contains("ready") && t.contains("$0.000795"),
    );
    assert_cost(&w.session(permit), cost);
    // The model really got the tool's result, and the conversation shows the call with it.
    let told = w.mock.requests().iter().any(|r| {
        r.script.as_deref() == Some("needs permission")
            && r.turn_index == Some(1)
            && r.body.to_string().contains("hi")
    });
    assert!(told, "the tool's result never reached the model");
    browser.wait_text("#conversation", SHOWN, "the tool call", |t| {
        t.contains("tool bash") && t.contains("[completed]") && t.contains("Wrote it.")
    });

    // A question, answered by clicking an option.
    let question = w.spawn(&["demo", "pick a color", "--runtime", "tmux"]);
    browser.wait_text(&card_in("waiting", &question), SHOWN, "the question", |t| {
        t.contains("question: Pick a color?")
    });
    browser.click(&card(&question));
    browser.click("#pending button[data-option=\"red\"]");
    browser.wait_text(&card_in("done", &question), SHOWN, "answered", |t| {
        t.contains("ready")
    });
    let told = w.mock.requests().iter().any(|r| {
        r.script.as_deref() == Some("pick a color")
            && r.turn_index == Some(1)
            && r.body.to_string().contains("red")
    });
    assert!(told, "the answer never reached the model");

    // A follow-up from the box; its reply shows in the conversation.
    browser.click(&card(&chat));
    browser.wait_text("#detail-title", SHOWN, "the chat's detail", |t| t == chat);
    browser.fill("#send-text", "what next?");
    browser.click("#send-submit");
    browser.wait_text("#conversation", SHOWN, "the reply", |t| {
        t.contains("what next?") && t.contains("Follow-up done: forty-two.")
    });
    // The turn ends: its second step counted (50 + 60 tokens in, 3 + 4 out).
    browser.wait_text(
        &card_in("done", &chat),
        SHOWN,
        "the follow-up's turn done",
        |t| t.contains("ready") && t.contains("110 in / 7 out"),
    );
    browser.wait_text(".attach code", SHOWN, "the attach command", |t| {
        t == format!("ao attach {chat}")
    });

    // Kill, after the confirmation; restore brings it back on the same conversation.
    let conversation = w.session(&chat)["agent_session_id"].clone();
    browser.click("#kill");
    browser.wait_text("#kill-confirm", SHOWN, "the confirmation", |t| {
        t.contains("Stop this session?")
    });
    let before = w.session(&chat);
    assert!(
        before["activity"] != "exited" && before["process"] == "running",
        "killed before the confirmation: {before:#}"
    );
    browser.click("#kill-yes");
    browser.wait_text(&card_in("exited", &chat), SHOWN, "exited", |t| {
        t.contains("exited")
    });
    browser.click("#restore");
    browser.wait_text("#notice", SHOWN, "the restore's report", |t| {
        t.contains(&format!(
            "{chat}: restored on opencode session {}",
            conversation.as_str().unwrap()
        ))
    });
    let back = wait_status(&w, &chat, |s| s["activity"] != "exited", "restored");
    assert_eq!(back["agent_session_id"], conversation);
    browser.wait_text(&card_in("done", &chat), SHOWN, "back", |t| {
        t.contains(&chat)
    });

    // The page's POSTs carry the token; another site's page is refused even with it, and so is
    // a request with no token at all.
    let forged = dash.post_raw(
        &format!("/api/sessions/{chat}/send"),
        json!({"message": "from elsewhere"}).to_string(),
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(forged.status, 403, "{forged:?}");
    let anonymous = dash.post_anonymous(
        &format!("/api/sessions/{chat}/send"),
        &json!({"message": "anonymous"}),
    );
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert!(!w.mock.requests().iter().any(|r| {
        let body = r.body.to_string();
        body.contains("from elsewhere") || body.contains("anonymous")
    }));

    // The laptop slept: meanwhile the dashboard was restarted (same port, same token) and another
    // `ao` killed a session. The page reconnects by itself, shows the whole state again, then
    // the changes after it.
    stop(dash);
    browser.wait_text("#conn", SHOWN, "the lost connection", |t| {
        t.contains("reconnecting")
    });
    w.ao_ok(&["kill", &other]);
    let dash = w.dashboard(&args);
    browser.wait_text(
        &card_in("exited", &other),
        SHOWN,
        "the kill, after reconnecting",
        |t| t.contains("exited"),
    );
    browser.wait_text("#conn", SHOWN, "the connection back", |t| t == "live");
    w.ao_ok(&["restore", &other]);
    browser.wait_text(&card_in("done", &other), SHOWN, "the restore, live", |t| {
        t.contains("ready")
    });

    // A phone-sized window reads the same page in one column.
    drop(browser);
    let phone = Browser::start(&w.root().join("chromium-phone"), 390, 844);
    phone.goto(&dash.url);
    phone.wait_text(&card(permit), SHOWN, "the list on a phone", |t| {
        t.contains("$0.000795")
    });
    let overflow = phone.eval(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        vec![],
    );
    assert_eq!(overflow, json!(0), "the page is wider than a phone");
    // Stopped with the page's event stream open.
    stop(dash);
    drop(phone);
}

/// Saves the page as docs/dashboard.png when AO_UPDATE_SCREENSHOT=1 (so that a normal run does
/// not change the tree); checks it is a PNG either way.
fn screenshot(browser: &Browser) {
    // The spawn's report names the test's temporary directory: not for the picture.
    browser.eval("document.getElementById('notice').hidden = true", vec![]);
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    if std::env::var_os("AO_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let path = ao_test_support::repo_root().join("docs/dashboard.png");
        std::fs::write(&path, png).expect("write docs/dashboard.png");
    }
}

/// SIGTERM ends the dashboard cleanly (exit 0, at once), event streams open or not.
fn stop(mut dash: Dashboard) {
    let status = dash.process.stop_with(Signal::SIGTERM);
    assert!(status.success(), "{status}");
}

#[test]
fn the_api_answers_bad_requests_clearly_and_keeps_serving_through_faults() {
    let w = world(
        Scenario::new()
            .script(script("first").turn(Turn::text("First done.").usage(10, 1)))
            .script(script("second").turn(Turn::text("Second done.").usage(10, 1)))
            .default_script(script("anything").turns([
                Turn::text("Got it.").usage(10, 1),
                Turn::text("Got more.").usage(10, 1),
            ])),
    );
    let first = w.spawn(&["demo", "first", "--runtime", "process"]);
    let second = w.spawn(&["other", "second", "--runtime", "process"]);
    w.wait_activity(&first, "ready");
    w.wait_activity(&second, "ready");
    let token_file = w.root().join("dashboard-token");
    let dash = w.dashboard(&["--token-file", token_file.to_str().unwrap()]);

    // The list is `ao status --json` plus when each activity began.
    let listed = dash.get("/api/sessions");
    assert_eq!(listed.status, 200, "{listed:?}");
    let status = w.status(None);
    let listed = listed.json.as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{listed:#?}");
    for s in &status {
        let l = listed.iter().find(|l| l["id"] == s["id"]).expect("listed");
        for key in s.as_object().unwrap().keys() {
            assert!(l.get(key).is_some(), "{key} missing from {l}");
        }
        assert!(l["activity_since"].as_str().is_some(), "{l}");
    }

    // What does not exist: 404, with the CLI's words.
    let missing = dash.get("/api/sessions/demo/nope/logs");
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(
        missing.error().starts_with("no session demo/nope;"),
        "{missing:?}"
    );
    let missing = dash.post("/api/sessions/demo/nope/permit", &json!({}));
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(dash.get("/api/nothing").status, 404);
    // Malformed JSON: 400, saying what is wrong.
    let bad = dash.post_raw(
        &format!("/api/sessions/{first}/send"),
        "{\"message\": ",
        &[],
    );
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(
        bad.error().contains("not the JSON this request takes"),
        "{bad:?}"
    );
    let bad = dash.post(
        &format!("/api/sessions/{first}/permit"),
        &json!({"decision": "maybe"}),
    );
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.error().contains("unknown variant `maybe`"), "{bad:?}");
    let bad = dash.post("/api/sessions", &json!({"project": "nope", "prompt": "x"}));
    assert_eq!(bad.status, 404, "{bad:?}");
    assert!(
        bad.error()
            .contains("cannot spawn a session in project nope"),
        "{bad:?}"
    );
    // Nothing pending: 409, as `ao permit` says it.
    let nothing = dash.post(&format!("/api/sessions/{first}/permit"), &json!({}));
    assert_eq!(nothing.status, 409, "{nothing:?}");
    assert_eq!(
        nothing.error(),
        format!("{first} has no pending permission request (it is ready)")
    );

    // A prompt of 1 MB through the spawn API arrives byte for byte.
    let mut prompt = String::from("big prompt: ");
    let mut i = 0u32;
    while prompt.len() < 1024 * 1024 {
        prompt.push_str(&format!(
            "line {i}: \"quotes\", \\backslashes\\, ünïcödé ✓, tabs\t\n"
        ));
        i += 1;
    }
    let spawned = dash.post(
        "/api/sessions",
        &json!({"project": "demo", "prompt": prompt, "runtime": "process", "name": "big"}),
    );
    assert_eq!(spawned.status, 201, "{:?}", spawned.error());
    assert_eq!(spawned.json["id"], "demo/big");
    w.wait_activity("demo/big", "ready");
    let logs = dash.get("/api/sessions/demo/big/logs");
    assert_eq!(logs.status, 200, "{}", logs.error());
    let said = logs
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "user")
        .cloned();
    assert!(
        said.as_ref().and_then(|e| e["text"].as_str()) == Some(prompt.as_str()),
        "the prompt did not arrive whole"
    );

    // A browser that reconnects gets the whole state, then the changes.
    let events = dash.events();
    let (name, snapshot) = events.next(SHOWN);
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot.as_array().unwrap().len(), 3, "{snapshot:#}");
    // Another `ao` kills a session: the stream says so, and an action on it is a conflict, not
    // a failure of the dashboard.
    w.ao_ok(&["kill", &first]);
    events.until(SHOWN, "the kill", |name, s| {
        name == "session" && s["id"] == first.as_str() && s["activity"] == "exited"
    });
    let killed = dash.post(
        &format!("/api/sessions/{first}/send"),
        &json!({"message": "hi"}),
    );
    assert_eq!(killed.status, 409, "{killed:?}");
    assert_eq!(
        killed.error(),
        format!("session {first} was killed; `ao restore {first}` brings it back")
    );
    drop(events);
    let again = dash.events();
    let (name, snapshot) = again.next(SHOWN);
    assert_eq!(name, "snapshot");
    let shown = snapshot.as_array().unwrap();
    assert_eq!(shown.len(), 3);
    assert!(shown
        .iter()
        .any(|s| s["id"] == first.as_str() && s["activity"] == "exited"));
    let sent = dash.post("/api/sessions/demo/big/send", &json!({"message": "more"}));
    assert_eq!(sent.status, 200, "{sent:?}");
    assert_eq!(sent.json["message"], "sent to demo/big");
    again.until(SHOWN, "the send's turn", |name, s| {
        name == "session" && s["id"] == "demo/big"
    });

    // One project's server dies: the dashboard goes on serving the others.
    w.crash_server("other");
    again.until(SHOWN, "the dead server", |name, s| {
        name == "session" && s["id"] == second.as_str() && s["activity"] != "ready"
    });
    let listed = dash.get("/api/sessions");
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json.as_array().unwrap().len(), 3);
    let logs = dash.get("/api/sessions/demo/big/logs");
    assert_eq!(logs.status, 200, "{}", logs.error());
    drop(again);

    // Killing from the API says what the CLI says.
    let killed = dash.post("/api/sessions/demo/big/kill", &json!({"force": true}));
    assert_eq!(killed.status, 200, "{killed:?}");
    assert!(
        killed.json["message"]
            .as_str()
            .unwrap()
            .starts_with("demo/big: stopped"),
        "{killed:?}"
    );

    // The token file keeps the token across restarts, 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = dash.token.clone();
    stop(dash);
    // Beyond loopback, it says loudly that the traffic is plain HTTP and what to do.
    let warned = w.root().join("dashboard.stderr");
    let mut cmd = w.ao_command(&[
        "dashboard",
        "--listen",
        "0.0.0.0",
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    cmd.stderr(std::fs::File::create(&warned).unwrap());
    let mut lines = ao_test_support::Lines::start(cmd);
    let url = lines.next(SHOWN);
    assert!(url.ends_with(&format!("/#token={token}")), "{url}");
    assert!(lines.stop_with(Signal::SIGINT).success());
    let warning = std::fs::read_to_string(&warned).unwrap();
    assert!(
        warning.contains("PLAIN HTTP")
            && warning.contains("ssh -L")
            && warning.contains("TLS proxy"),
        "{warning}"
    );
    assert!(
        !warning.contains(&token),
        "the token is in the log: {warning}"
    );
}
