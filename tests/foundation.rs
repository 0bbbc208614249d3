//! What the foundation promises, end to end: one project's hung server does not slow another's
//! status; a send racing a status never loses the mark that tells an interrupted turn from a
//! finished one; ao's own requests never go through a proxy while the server keeps the person's; a
//! session renamed or deleted in OpenCode shows so without waiting for the whole session list.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ao_test_support::{error_of, script, tokens, Paused, Scenario, Stopped, Turn, World};
use serde_json::Value;

#[test]
fn a_frozen_server_shows_as_last_seen_marked_stale_within_the_budget_and_slows_no_other() {
    let mut w = World::new(
        Scenario::new().script(script("hello").turn(Turn::text("Hello.").usage(110, 7))),
    );
    w.project("frozen", &[]);
    w.project("lively", &[]);
    // Settings of its own: a server of its own, which the frozen one does not stop.
    w.opencode_config("lively", serde_json::json!({"autoupdate": false}));
    let frozen = w.spawn(&["frozen", "hello", "--runtime", "process"]);
    let lively = w.spawn(&["lively", "hello", "--runtime", "process"]);
    w.ao_ok(&["wait", &frozen, "--until", "ready", "--timeout", "60"]);
    w.ao_ok(&["wait", &lively, "--until", "ready", "--timeout", "60"]);

    let server = w.server_process("frozen");
    let stopped = Stopped::stop(server.pid);

    // The lively project's status never waits on the frozen server: it answers well before the
    // frozen server's first health check could even give up (1.5 s).
    let started = Instant::now();
    let s = w.session(&lively);
    let lively_took = started.elapsed();
    assert_eq!(s["activity"], "ready", "{s:#}");
    assert!(
        lively_took < Duration::from_millis(1500),
        "ao status lively took {lively_took:?} while the frozen project's server was stopped"
    );

    // All projects at once, within the status budget: the frozen one shows what ao last knew,
    // marked stale and since when; it is not called dead. The other is fresh.
    let started = Instant::now();
    let text = w.ao_ok(&["status", "--json", "--timeout", "2"]);
    let all_took = started.elapsed();
    let all: Vec<Value> = serde_json::from_str(&text).expect("JSON");
    let of = |all: &[Value], id: &str| {
        all.iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing: {all:#?}"))
            .clone()
    };
    let f = of(&all, &frozen);
    assert_eq!(f["activity"], "ready", "{f:#}");
    assert_eq!(f["stale"], true, "{f:#}");
    assert_eq!(tokens(&f), (110, 7), "{f:#}");
    let since = f["stale_since"].as_str().expect("stale_since");
    chrono::DateTime::parse_from_rfc3339(since).expect("RFC 3339");
    let l = of(&all, &lively);
    assert_eq!(
        (l["activity"].as_str(), l["stale"].as_bool()),
        (Some("ready"), Some(false))
    );
    // A margin over the budget for starting the process on a loaded machine; scripts/bench
    // measures the real figure.
    assert!(
        all_took < Duration::from_secs(4),
        "ao status took {all_took:?}"
    );

    // The table marks it.
    let table = w.ao_ok(&["status", "--timeout", "1", &frozen]);
    let row = table
        .lines()
        .find(|l| l.starts_with(frozen.as_str()))
        .unwrap_or_else(|| panic!("no row for {frozen}:\n{table}"));
    assert!(row.contains("ready") && row.contains('?'), "{table}");
    assert!(
        table.contains("stale: its agent did not answer in time"),
        "{table}"
    );

    // Thawed, it is fresh again.
    drop(stopped);
    let f = w.wait_for(&frozen, Duration::from_secs(30), "fresh", |s| {
        s["stale"] == false
    });
    assert_eq!(f["activity"], "ready", "{f:#}");
    assert!(f["stale_since"].is_null(), "{f:#}");
    eprintln!("status of lively alone: {lively_took:?}; of everything: {all_took:?}");
}

#[test]
fn a_send_racing_statuses_never_loses_the_mark_of_a_turn_under_way() {
    const ROUNDS: usize = 3;
    let mut turns = vec![Turn::text("Ready.").usage(110, 7)];
    // Every later request hangs, so that each send leaves a turn under way.
    turns.extend((0..3 * ROUNDS).map(|_| Turn::hang()));
    let mut w = World::new(Scenario::new().script(script("race").turns(turns)));
    w.project("demo", &[]);
    let id = w.spawn(&["demo", "race", "--runtime", "process"]);
    w.ao_ok(&["wait", &id, "--until", "ready", "--timeout", "60"]);

    for round in 0..ROUNDS {
        // One status has looked (the session done, or interrupted) and not yet written what it
        // saw; more run the whole time the send does.
        // `ao status` paused between its look at the sessions and its write of what it saw.
        let paused = Paused::start(
            &w,
            &["status", "--json", "demo"],
            "before-recording-observation",
        );
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let looker = scope.spawn(|| {
                let mut looks = 0;
                while !done.load(Ordering::SeqCst) || looks == 0 {
                    let out = w.ao(&["status", "--json", "demo"]);
                    assert!(out.status.success(), "status failed: {out:?}");
                    looks += 1;
                }
                looks
            });
            w.ao_ok(&["send", &id, &format!("go on, round {round}")]);
            done.store(true, Ordering::SeqCst);
            looker.join().expect("statuses");
        });
        paused.finish();
        // The server dies in the middle of the turn: the session was cut off, not finished.
        w.crash_server("demo");
        let s = w.session(&id);
        assert_eq!(
            (s["activity"].as_str(), error_of(&s).0.as_str()),
            (Some("blocked"), "Interrupted"),
            "round {round}: {s:#}"
        );
        w.ao_ok(&["restore", &id]);
    }
}

#[test]
fn ao_never_sends_its_requests_through_a_proxy_and_the_server_keeps_the_persons() {
    let mut w = World::new(
        Scenario::new().script(script("hello").turn(Turn::text("Hello.").usage(110, 7))),
    );
    w.project("demo", &[]);
    // A proxy that does not exist: any request sent through it fails.
    let dead = "http://127.0.0.1:9";
    let proxied = |args: &[&str]| {
        let mut cmd = w.ao_command(args);
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
        ] {
            cmd.env(var, dead);
        }
        cmd.env("NO_PROXY", "example.internal")
            .env_remove("no_proxy");
        let out = cmd.output().expect("run ao");
        assert!(
            out.status.success(),
            "ao {args:?} failed behind a dead proxy:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let id = proxied(&["spawn", "demo", "hello", "--runtime", "process"])
        .trim()
        .to_string();
    proxied(&["wait", &id, "--until", "ready", "--timeout", "60"]);
    let status: serde_json::Value =
        serde_json::from_str(&proxied(&["status", "--json", &id])).expect("status JSON");
    assert_eq!(status[0]["activity"], "ready", "{status:#}");

    // The server keeps the person's proxy for the provider, and reaches this machine directly.
    let server = w.server_process("demo");
    let environ = std::fs::read(format!("/proc/{}/environ", server.pid)).expect("environ");
    let env: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(env.contains(&format!("HTTPS_PROXY={dead}")), "{env:?}");
    let no_proxy = env
        .iter()
        .find_map(|v| v.strip_prefix("NO_PROXY="))
        .expect("NO_PROXY set for the server");
    let hosts: Vec<&str> = no_proxy.split(',').collect();
    for host in ["example.internal", "127.0.0.1", "localhost"] {
        assert!(hosts.contains(&host), "NO_PROXY={no_proxy}");
    }
}

/// One request to a project's OpenCode server, as a person's other client would make it; the
/// answer's status line must be a success.
fn opencode_request(url: &str, password: &str, method: &str, path: &str, body: &str) {
    use base64::Engine;
    use std::io::{Read, Write};
    let host = url.strip_prefix("http://").expect("an http URL");
    let mut conn = std::net::TcpStream::connect(host).expect("connect to the server");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("opencode:{password}"));
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read the answer");
    let status = answer.lines().next().unwrap_or_default();
    assert!(status.contains(" 200 "), "{method} {path}: {status}");
}

#[test]
fn a_session_renamed_or_deleted_in_opencode_shows_without_waiting_for_the_whole_list() {
    let mut w =
        World::new(Scenario::new().script(script("bench").turn(Turn::text("Done.").usage(110, 7))));
    w.project("demo", &[]);
    let conversation = |id: &str| {
        w.wait_activity(id, "ready")["agent_session_id"]
            .as_str()
            .expect("a conversation")
            .to_string()
    };
    let renamed = w.spawn(&["demo", "bench", "--runtime", "process"]);
    let renamed_ses = conversation(&renamed);
    // A filtered list starts 2 s before the newest update seen, so a session updated within 2 s
    // of the newest is read again anyway: the renamed one must be older than that. (Not a wait
    // for something to happen: the time itself is the condition.)
    std::thread::sleep(Duration::from_millis(2500));
    let deleted = w.spawn(&["demo", "bench", "--runtime", "process"]);
    let deleted_ses = conversation(&deleted);
    // From here on a status lists only the sessions updated since its last look, and neither a
    // rename nor a deletion updates one; the whole list is read again only every 30 s. The
    // project's monitor follows the server's events and tells the mirror at once.
    let (url, password) = w.server_endpoint("demo");
    opencode_request(
        &url,
        &password,
        "PATCH",
        &format!("/session/{renamed_ses}"),
        r#"{"title":"Renamed by hand"}"#,
    );
    opencode_request(
        &url,
        &password,
        "DELETE",
        &format!("/session/{deleted_ses}"),
        "",
    );
    ao_test_support::wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        let all: Value = serde_json::from_str(&w.ao_ok(&["status", "--json"])).expect("JSON");
        let of = |id: &str| {
            all.as_array()
                .and_then(|a| a.iter().find(|s| s["id"] == id))
                .cloned()
                .unwrap_or_default()
        };
        let (r, d) = (of(&renamed), of(&deleted));
        if r["summary"] == "Renamed by hand"
            && d["activity"] == "exited"
            && error_of(&d).0 == "SessionDeleted"
        {
            Ok(())
        } else {
            Err(format!(
                "renamed: {} {}; deleted: {} {:?}",
                r["summary"],
                r["activity"],
                d["activity"],
                error_of(&d).0
            ))
        }
    });

    // The project is quiet and its monitor follows the server: a status takes the mirror as the
    // list, and asks the server nothing at all (AO_TIMING names each request it makes), not even
    // for the session whose conversation was deleted: a deletion is for good.
    let timed_status = || {
        let out = w
            .ao_command(&["status", "--json"])
            .env("AO_TIMING", "1")
            .output()
            .expect("run ao status");
        assert!(out.status.success(), "{out:?}");
        let all: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (all, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let summary_of = |all: &Value| {
        all.as_array()
            .and_then(|a| a.iter().find(|s| s["id"] == renamed))
            .map(|s| (s["summary"].clone(), s["activity"].clone()))
    };
    ao_test_support::wait_until(Duration::from_secs(15), Duration::from_millis(200), || {
        let (all, timing) = timed_status();
        match (
            timing.contains("unchanged, as the feeds vouch"),
            timing.contains("request "),
        ) {
            (true, false)
                if summary_of(&all) == Some(("Renamed by hand".into(), "ready".into()))
                    && all.as_array().is_some_and(|a| {
                        a.iter().any(|s| {
                            s["id"] == deleted.as_str()
                                && s["activity"] == "exited"
                                && error_of(s).0 == "SessionDeleted"
                        })
                    }) =>
            {
                Ok(())
            }
            _ => Err(format!("{all}\n{timing}")),
        }
    });
    // Someone changes the session through OpenCode: the feed hears it, and a status asks again
    // at once (vouching alone would last 10 s).
    opencode_request(
        &url,
        &password,
        "PATCH",
        &format!("/session/{renamed_ses}"),
        r#"{"title":"Renamed again"}"#,
    );
    ao_test_support::wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        let (all, timing) = timed_status();
        match summary_of(&all) {
            Some((summary, _)) if summary == "Renamed again" && timing.contains("request ") => {
                Ok(())
            }
            other => Err(format!("{other:?}\n{timing}")),
        }
    });
}
