//! One OpenCode server for every project whose server settings are the same: two projects share
//! it, and each one's permission is answered only through its own sessions' addresses; the shared
//! server killed, a restore of each project finds one server again; a config change moves the
//! changed project's next session to a server of its own while the other's turn goes on. The
//! projects on one server have one monitor, which tells of each project's requests and hands a
//! project that moves to a monitor of its own.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use ao_core::runtime::process::ProcessIdentity;
use ao_test_support::{script, wait_until, Scenario, Stopped, Turn, World};
use serde_json::{json, Value};

/// The sessions that `file`'s notifier was told are waiting.
fn told_waiting(file: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|e| e["event"] == "waiting_input")
        .map(|e| e["session"]["id"].as_str().unwrap_or_default().to_string())
        .collect();
    ids.sort();
    ids
}

/// The monitors recorded for `alpha` and `beta`, once `check` holds of them and exactly `count`
/// monitor processes of the world run.
fn wait_monitors(
    w: &World,
    count: usize,
    what: &str,
    check: impl Fn(ProcessIdentity, ProcessIdentity) -> bool,
) -> (ProcessIdentity, ProcessIdentity) {
    wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        let (a, b) = (w.monitor_process("alpha"), w.monitor_process("beta"));
        let running = w.monitor_pids();
        match (a, b) {
            (Some(a), Some(b))
                if a.is_alive() && b.is_alive() && check(a, b) && running.len() == count =>
            {
                Ok((a, b))
            }
            _ => Err(format!(
                "not {what}: alpha's {a:?}, beta's {b:?}, running {running:?}"
            )),
        }
    })
}

/// The pending permission of a session waiting on one.
fn pending_id(s: &Value) -> String {
    assert_eq!(s["pending"].as_array().map(Vec::len), Some(1), "{s:#}");
    s["pending"][0]["id"].as_str().unwrap().to_string()
}

/// The URL of the server a session's status names.
fn url(s: &Value) -> String {
    s["server"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{s:#}"))
        .to_string()
}

#[test]
fn projects_share_a_server_and_nothing_of_one_is_reached_through_the_other() {
    let scenario = Scenario::new().script(
        script("write")
            .turn(Turn::tool_call(
                "bash",
                json!({"command": "echo hi > out.txt", "description": "Write out.txt"}),
            ))
            .turn(Turn::text("Wrote it.")),
    );
    let mut w = World::new(scenario);
    let told = w.root().join("told.jsonl");
    w.set_top(&format!(
        "notifyDebounceMs: 0\nnotifications:\n  - on: [waiting_input]\n    command: ['sh', '-c', '{{ cat; echo; }} >> {}']\n",
        told.display()
    ));
    w.project("alpha", &["permission: {bash: ask}"]);
    w.project("beta", &["permission: {bash: ask}"]);
    let a = w.spawn(&["alpha", "write", "--runtime", "process"]);
    let b = w.spawn(&["beta", "write", "--runtime", "process"]);
    let sa = w.wait_activity(&a, "waiting_input");
    let sb = w.wait_activity(&b, "waiting_input");

    // One monitor for the server's two projects (the second one started finds the group's lock
    // taken), which tells of each project's request.
    let (first_monitor, _) = wait_monitors(&w, 1, "one monitor for both", |a, b| a == b);
    let both = {
        let mut both = vec![a.clone(), b.clone()];
        both.sort();
        both
    };
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || match told_waiting(&told) {
            told if told == both => Ok(()),
            told => Err(format!("told of {told:?}, not {both:?}")),
        },
    );

    // A status that finds the group's monitor gone starts one monitor for the group, not one
    // per project (each start writes its project's log under `monitors/`).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first_monitor.pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the monitor");
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || match first_monitor.is_alive() {
            true => Err("the monitor did not die".to_string()),
            false => Ok(()),
        },
    );
    let logs = w.home().join("monitors");
    let started = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&logs)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".log"))
            .collect();
        names.sort();
        names
    };
    for log in started() {
        std::fs::remove_file(logs.join(log)).unwrap();
    }
    w.ao_ok(&["status"]);
    assert_eq!(started().len(), 1, "monitors started: {:?}", started());
    wait_monitors(&w, 1, "one new monitor for both", |a, b| {
        a == b && a != first_monitor
    });

    // One server, which both sessions name, with both projects.
    assert_eq!(w.server_pids().len(), 1);
    assert_eq!(url(&sa), url(&sb));
    assert_eq!(sa["server"]["projects"], json!(["alpha", "beta"]), "{sa:#}");
    // Both mid-turn, so both must list: one list request for the server, not one per project.
    let (_, timing) = w.timed_status();
    assert_eq!(timing.requests("/experimental/session"), 1, "{timing}");
    assert_eq!(timing.requests("/session"), 0, "{timing}");
    // Each project's status lists its own session alone.
    let of_alpha = w.status(Some("alpha"));
    assert_eq!(of_alpha.len(), 1, "{of_alpha:#?}");
    assert_eq!(of_alpha[0]["id"], a.as_str());

    // A permission asked in one project is not answered through the other's address: ao refuses
    // it (exit 2), and so does the server when asked in the other's directory.
    let (pa, pb) = (pending_id(&sa), pending_id(&sb));
    for (through, other) in [(&b, &pa), (&a, &pb)] {
        let out = w.ao(&["permit", through, other]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
    }
    let (server, password) = w.server_endpoint("alpha");
    let refused = reqwest::blocking::Client::new()
        .post(format!("{server}/permission/{pa}/reply"))
        .query(&[("directory", sb["workspace"].as_str().unwrap())])
        .basic_auth("opencode", Some(&password))
        .json(&json!({"reply": "once"}))
        .send()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 404, "{:?}", refused.text());
    assert_eq!(pending_id(&w.session(&a)), pa);
    assert_eq!(pending_id(&w.session(&b)), pb);

    // Through its own address each is answered, and the other still waits.
    w.ao_ok(&["permit", &a, &pa]);
    w.wait_activity(&a, "ready");
    assert_eq!(w.session(&b)["activity"], "waiting_input");
    w.ao_ok(&["permit", &b, &pb]);
    w.wait_activity(&b, "ready");
    assert!(workspace_file(&sa, "out.txt") && workspace_file(&sb, "out.txt"));
    // Each session's follower hears its own work tree's events on the shared server (not every
    // project's), and so its log (the process runtime's) has the turn to the end: the reply that
    // came after the permission.
    for id in [&a, &b] {
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(100),
            || match w.session_log(id) {
                log if log.contains("Wrote it.") => Ok(()),
                log => Err(format!("the log of {id} lacks the reply:\n{log}")),
            },
        );
    }
    // Quiet again, the feeds vouch for both projects' mirrors: a status asks the shared server
    // nothing. (Its list is asked early, beside the projects' other reads, only when one of them
    // will need it.)
    wait_until(
        Duration::from_secs(15),
        Duration::from_millis(200),
        || match w.timed_status().1 {
            timing if timing.0.contains("ao: timing: request ") => {
                Err(format!("a quiet status still asks the server:\n{timing}"))
            }
            _ => Ok(()),
        },
    );

    // The shared server frozen: each of its projects' sessions shows what was last seen, stale.
    {
        let _stopped = Stopped::stop(w.server_pids()[0].pid);
        let text = w.ao_ok(&["status", "--json", "--timeout", "2"]);
        let all: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(all.len(), 2, "{all:#?}");
        for s in &all {
            assert_eq!(
                (s["activity"].as_str(), s["stale"].as_bool()),
                (Some("ready"), Some(true)),
                "{s:#}"
            );
        }
    }

    // The shared server dies: a restore of either project finds one server again, for both.
    w.crash_server("alpha");
    w.wait_activity(&a, "exited");
    w.ao_ok(&["restore", &a]);
    w.ao_ok(&["restore", &b]);
    let (sa, sb) = (w.wait_activity(&a, "ready"), w.wait_activity(&b, "ready"));
    assert_eq!(w.server_pids().len(), 1);
    assert_eq!(url(&sa), url(&sb));
    assert_eq!(sb["server"]["projects"], json!(["alpha", "beta"]), "{sb:#}");
    let shared = url(&sb);

    // Alpha's last session killed: alpha leaves the server, which goes on for beta; restored,
    // alpha joins it again.
    let server = w.server_pids()[0];
    w.ao_ok(&["kill", &a]);
    assert!(
        server.is_alive(),
        "the shared server stopped with beta still on it"
    );
    assert_eq!(w.session(&b)["server"]["projects"], json!(["beta"]));
    w.ao_ok(&["restore", &a]);
    let sa = w.wait_activity(&a, "ready");
    assert_eq!(url(&sa), shared);
    assert_eq!(sa["server"]["projects"], json!(["alpha", "beta"]), "{sa:#}");

    // A turn of beta waits on the shared server while alpha's settings change: alpha's next
    // session runs on a server of its own, and beta's turn goes on where it is.
    let b2 = w.spawn(&["beta", "write", "--runtime", "process"]);
    w.wait_activity(&b2, "waiting_input");
    w.opencode_config("alpha", json!({"autoupdate": false}));
    let a2 = w.spawn(&["alpha", "write", "--runtime", "process"]);
    let sa2 = w.wait_activity(&a2, "waiting_input");
    assert_eq!(w.server_pids().len(), 2);
    assert_ne!(url(&sa2), shared);
    assert_eq!(sa2["server"]["projects"], json!(["alpha"]), "{sa2:#}");
    let sb2 = w.session(&b2);
    assert_eq!(url(&sb2), shared);
    assert_eq!(sb2["server"]["projects"], json!(["beta"]), "{sb2:#}");
    // Alpha has moved to a server of its own, and so to a monitor of its own.
    wait_monitors(&w, 2, "a monitor each", |a, b| a != b);
    w.ao_ok(&["permit", &b2]);
    w.wait_activity(&b2, "ready");
    w.ao_ok(&["permit", &a2]);
    w.wait_activity(&a2, "ready");

    // `ao doctor` lists each server with its projects.
    let doctor = w.ao(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains(&shared), "{text}");
    assert!(text.contains("used by beta"), "{text}");
    assert!(text.contains("used by alpha"), "{text}");

    // Killing every session of both releases both servers, and ends both monitors.
    let servers = w.server_pids();
    w.ao_ok(&["kill", "--force", "alpha"]);
    w.ao_ok(&["kill", "--force", "beta"]);
    wait_until(
        Duration::from_secs(15),
        Duration::from_millis(50),
        || match w.monitor_pids() {
            running if running.is_empty() => Ok(()),
            running => Err(format!("monitors still run: {running:?}")),
        },
    );
    for id in servers {
        ao_test_support::wait_until(
            std::time::Duration::from_secs(15),
            std::time::Duration::from_millis(50),
            || match id.is_alive() {
                true => Err(format!("the server {} still runs", id.pid)),
                false => Ok(()),
            },
        );
    }
}

/// Whether the session's work tree holds `name`.
fn workspace_file(s: &Value, name: &str) -> bool {
    std::path::Path::new(s["workspace"].as_str().unwrap())
        .join(name)
        .exists()
}
