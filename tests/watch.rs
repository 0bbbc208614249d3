//! `ao status --watch`: the live session model as scripts see it, one JSON object per line.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ao_test_support::{assert_cost, script, Lines, Scenario, Turn, World};
use nix::sys::signal::Signal;
use serde_json::{json, Value};

const LINE: Duration = Duration::from_secs(60);

fn bash(command: &str) -> Turn {
    Turn::tool_call("bash", json!({"command": command, "description": "Run it"}))
}

fn world(scenario: Scenario) -> World {
    let mut w = World::new(scenario);
    w.project("demo", &["permission: {bash: ask}"]);
    w
}

fn watch(w: &World, args: &[&str]) -> Lines {
    let mut all = vec!["status", "--watch", "--json"];
    all.extend_from_slice(args);
    Lines::start(w.ao_command(&all))
}

/// The activities `lines` show for session `id`, a run of one activity counted once.
fn activities(lines: &[Value], id: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in lines.iter().filter(|l| l["id"] == id) {
        let a = l["activity"].as_str().unwrap_or("?").to_string();
        if out.last() != Some(&a) {
            out.push(a);
        }
    }
    out
}

#[test]
fn status_watch_json_prints_each_transition_in_order_with_when_it_began() {
    let w = world(
        Scenario::new().script(
            script("watch me")
                // Long enough for `active` to be seen before the request.
                .turn(bash("echo hi > out.txt").usage(100, 5).delay_ms(3000))
                .turn(Turn::text("Wrote it.").usage(120, 4)),
        ),
    );
    // Watching the project before it has a session: the session spawned by another `ao`
    // appears without a restart.
    let mut lines = watch(&w, &["demo"]);
    let id = w.spawn(&["demo", "watch me", "--runtime", "process"]);

    let mut seen = lines.until_json(LINE, "waiting_input", |l| {
        l["id"] == id.as_str() && l["activity"] == "waiting_input"
    });
    let waiting = seen.last().unwrap().clone();
    assert_eq!(waiting["pending"][0]["kind"], "permission", "{waiting:#}");
    assert_eq!(
        waiting["pending"][0]["title"], "bash: echo hi > out.txt",
        "{waiting:#}"
    );

    // Another process answers; the watcher sees the end of the turn and its exact cost.
    w.ao_ok(&["permit", &id]);
    seen.extend(lines.until_json(LINE, "ready", |l| {
        l["id"] == id.as_str() && l["activity"] == "ready"
    }));
    let ready = seen.last().unwrap();
    assert_cost(ready, (220.0 * 3.0 + 9.0 * 15.0) / 1e6);
    assert!(ready["pending"].as_array().unwrap().is_empty(), "{ready:#}");

    let order = activities(&seen, &id);
    assert!(
        order == ["active", "waiting_input", "ready"]
            || order == ["active", "waiting_input", "active", "ready"],
        "out of order: {order:?}\n{}",
        lines.seen.join("\n")
    );
    // Every line has the fields of `ao status --json`, plus when its activity began; that time
    // moves only when the activity changes.
    let status = w.session(&id);
    let mut since_of: Vec<(String, String)> = Vec::new();
    for l in &seen {
        for key in status.as_object().unwrap().keys() {
            assert!(l.get(key).is_some(), "{key} missing from {l}");
        }
        let since = l["activity_since"].as_str().expect("activity_since");
        chrono::DateTime::parse_from_rfc3339(since).expect("RFC 3339");
        let activity = l["activity"].as_str().unwrap().to_string();
        match since_of.last() {
            Some((a, s)) if *a == activity => assert_eq!(s, since, "{}", lines.seen.join("\n")),
            _ => since_of.push((activity, since.to_string())),
        }
    }
    let times: Vec<&String> = since_of.iter().map(|(_, s)| s).collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]), "{since_of:?}");

    // What the server still says about the finished turn (its title, the files it changed) may
    // come a moment later; the session stays ready through it. Then nothing changes any more,
    // and nothing is printed.
    let mut settled = false;
    for _ in 0..20 {
        if lines.quiet_for(Duration::from_secs(3)) {
            settled = true;
            break;
        }
        let late: Value = serde_json::from_str(lines.seen.last().unwrap()).expect("JSON");
        assert_eq!(late["activity"], "ready", "{}", lines.seen.join("\n"));
    }
    assert!(settled, "never quiet:\n{}", lines.seen.join("\n"));
    assert!(
        lines.quiet_for(Duration::from_secs(3)),
        "{}",
        lines.seen.join("\n")
    );
    assert!(lines.stop_with(Signal::SIGTERM).success());
}

#[test]
fn a_killed_server_shows_its_sessions_interrupted_and_watching_resumes_after_restore() {
    let w = world(
        Scenario::new().script(
            script("long one")
                .turn(bash("echo hi > out.txt"))
                .turn(Turn::text("Back again.").usage(50, 3)),
        ),
    );
    let id = w.spawn(&["demo", "long one", "--runtime", "process"]);
    w.wait_activity(&id, "waiting_input");
    let mut lines = watch(&w, &[&id]);
    let first = lines.next_json(LINE);
    assert_eq!(first["activity"], "waiting_input", "{first:#}");

    w.crash_server("demo");
    let seen = lines.until_json(LINE, "the interruption", |l| {
        l["activity"] == "blocked" || l["activity"] == "exited"
    });
    let cut = seen.last().unwrap();
    assert!(cut["error"]["message"].is_string(), "{cut:#}");

    // Restored elsewhere, the same watcher follows the new server: the interrupted turn is
    // continued with `ao send`, and its answer shows.
    w.ao_ok(&["restore", &id]);
    w.ao_ok(&["send", &id, "again"]);
    let seen = lines.until_json(LINE, "the follow-up's answer", |l| {
        l["activity"] == "ready" && l["tokens"]["output"].as_u64() >= Some(3)
    });
    assert_eq!(seen.last().unwrap()["id"], id.as_str());
    assert!(lines.stop_with(Signal::SIGINT).success());
}

#[test]
fn status_watch_names_what_exists_for_a_bad_target_and_ends_on_a_closed_pipe() {
    let w = world(Scenario::new().script(script("hello").turn(Turn::text("Hi."))));
    let id = w.spawn(&["demo", "hello", "--runtime", "process"]);
    w.wait_activity(&id, "ready");

    let err = w.ao_fails(&["status", "--watch", "--json", "nonesuch"], 2);
    assert!(err.contains("no project or session named"), "{err}");

    // The table form, and a config edited while it watches: a broken edit is said under the
    // table (the last good config goes on), a fixed one is read again.
    let mut table = Lines::start(w.ao_command(&["status", "--watch"]));
    let footer = |l: &str| l.starts_with("-- ") && l.ends_with("1 sessions; Ctrl-C ends");
    let until = |table: &mut Lines, what: &str, pred: &dyn Fn(&str) -> bool| loop {
        let line = table.next(LINE);
        if pred(&line) {
            return line;
        }
        assert!(
            table.seen.len() < 10_000,
            "never {what}:\n{}",
            table.seen.join("\n")
        );
    };
    until(&mut table, "the table", &footer);
    let good = std::fs::read_to_string(w.config_path()).expect("read the config");
    w.set_config_text("projects: [oops\n");
    let said = until(&mut table, "the broken config said", &|l: &str| {
        l.contains("the config no longer reads")
    });
    assert!(
        said.contains("still watching with the one before"),
        "{said}"
    );
    w.set_config_text(&good);
    until(&mut table, "the config read again", &|l: &str| {
        l.contains("the config was read again")
    });
    assert!(table.stop_with(Signal::SIGINT).success());

    // `| head -1`: the watcher ends, with success, once nobody reads.
    let mut pipeline = w.command("bash");
    pipeline.args([
        "-c",
        "set -o pipefail; \"$0\" status --watch --json | head -1",
        &ao_test_support::ao_bin().to_string_lossy(),
    ]);
    let mut run = Lines::start(pipeline);
    let line: Value = run.next_json(LINE);
    assert_eq!(line["id"], id.as_str());
    assert!(run.wait(Duration::from_secs(10)).success());
}
