//! Telling the person: each project's monitor fires its notifiers exactly once per real
//! transition (not for a flicker, not again after it is SIGKILLed and restarted), a webhook is
//! POSTed, a hanging notifier is killed at its timeout while the others fire, a session past its
//! budget is stopped and `ao send`/`ao restore` refuse it until told `--over-budget`, and nothing
//! of the monitor is left once its project's last session is killed.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ao_core::runtime::process::ProcessIdentity;
use ao_test_support::{error_of, script, wait_until, Scenario, Turn, World};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

const EVENT: Duration = Duration::from_secs(60);

fn bash(command: &str) -> Turn {
    Turn::tool_call("bash", json!({"command": command, "description": "Run it"}))
}

/// A notifier that appends each event's JSON, one line each, to `file`, as YAML list items
/// indented by `indent`.
fn appender(indent: &str, on: &str, file: &Path) -> String {
    format!(
        "{indent}- on: [{on}]\n{indent}  command:\n{indent}    - sh\n{indent}    - -c\n{indent}    - '{{ cat; echo; }} >> {}'\n",
        file.display()
    )
}

/// The config of `demo` (process runtime) with `top` and `project` YAML inserted.
fn configure(w: &World, debounce_ms: u64, top: &str, project: &str, agent: &str) {
    let dir = w.root().join("projects/demo");
    w.set_config_text(&format!(
        "notifyDebounceMs: {debounce_ms}\n{top}projects:\n  - name: demo\n    path: {}\n    runtime: process\n{project}    agentConfig:\n      model: mock/mock-1\n{agent}      opencodeConfig: {}\n",
        dir.display(),
        w.provider_config()
    ));
}

/// The events a file notifier received.
fn events(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// How many events `event` of session `id` `all` holds.
fn count(all: &[Value], id: &str, event: &str) -> usize {
    all.iter()
        .filter(|e| e["session"]["id"] == id && e["event"] == event)
        .count()
}

/// Waits until `file` holds an event `event` of `id`; returns it.
fn wait_event(file: &Path, id: &str, event: &str) -> Value {
    wait_until(EVENT, Duration::from_millis(100), || {
        let all = events(file);
        all.iter()
            .find(|e| e["session"]["id"] == id && e["event"] == event)
            .cloned()
            .ok_or_else(|| format!("no {event} event of {id}; received:\n{all:#?}"))
    })
}

/// Checks that `check` holds throughout `span` (nothing more arrives), polling.
fn holds_for(span: Duration, check: impl Fn() -> Result<(), String>) {
    let end = Instant::now() + span;
    while Instant::now() < end {
        if let Err(why) = check() {
            panic!("{why}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The running monitor of `demo`, other than `not`: it records itself as it starts, which may be
/// after the `ao` that started it has returned.
fn monitor_of(w: &World, not: Option<ProcessIdentity>) -> ProcessIdentity {
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || match w.monitor_process("demo") {
            Some(m) if Some(m) != not && m.is_alive() => Ok(m),
            other => Err(format!("no running monitor but {other:?} (not {not:?})")),
        },
    )
}

/// A local webhook receiver: the bodies of the POSTs it got.
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Hook {
    fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/ao", listener.local_addr().expect("addr"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let got = bodies.clone();
        // Ends with the test process; it holds nothing else.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    if let Ok(v) = serde_json::from_slice(&body) {
                        got.lock().unwrap().push(v);
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Hook { url, bodies }
    }

    fn received(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

#[test]
fn each_real_transition_is_notified_once_with_its_json_and_a_flicker_not_at_all() {
    let mut w = World::new(
        Scenario::new()
            .script(
                script("ask me")
                    .turn(bash("echo hi > out.txt").usage(100, 5))
                    .turn(Turn::text("Wrote it.").usage(120, 4)),
            )
            .script(
                script("flicker")
                    .turn(bash("echo fl > fl.txt"))
                    .turn(Turn::text("Flickered.")),
            )
            .script(script("fail").turn(Turn::error(400, "mock bad request"))),
    );
    w.project("demo", &[]);
    let file = w.root().join("events.jsonl");
    let hook = Hook::start();
    // Long enough that a request answered at once is a flicker, even on a loaded machine.
    configure(
        &w,
        5000,
        &format!(
            "notifications:\n{}",
            appender("  ", "waiting_input, ready, blocked", &file)
        ),
        &format!(
            "    notifications:\n      - on: [ready]\n        webhook: {}\n",
            hook.url
        ),
        "      permission: {bash: ask}\n",
    );

    let asked = w.spawn(&["demo", "ask me"]);
    let flicker = w.spawn(&["demo", "flicker"]);
    let failed = w.spawn(&["demo", "fail"]);
    let monitor = w
        .monitor_process("demo")
        .expect("spawn started the monitor");
    assert!(monitor.is_alive());

    // The flicker: its request is answered as soon as it is seen.
    let s = w.wait_for(&flicker, EVENT, "waiting_input", |s| {
        s["activity"] == "waiting_input"
    });
    w.ao_ok(&["permit", &flicker]);
    assert!(s["activity_since"].is_string(), "{s:#}");

    // A request that waits: notified once it has lasted the debounce, with the status JSON.
    let e = wait_event(&file, &asked, "waiting_input");
    assert_eq!(e["previous"], "active", "{e:#}");
    chrono::DateTime::parse_from_rfc3339(e["at"].as_str().expect("at")).expect("RFC 3339");
    assert_eq!(e["session"]["activity"], "waiting_input", "{e:#}");
    assert_eq!(
        e["session"]["pending"][0]["title"],
        "bash: echo hi > out.txt"
    );
    // The table says how long it has waited.
    let table = w.ao_ok(&["status", &asked]);
    assert!(table.contains("waiting_input "), "{table}");
    let status = w.session(&asked);
    assert_eq!(status["activity_since"], e["at"], "{status:#}");
    w.ao_ok(&["permit", &asked]);

    let e = wait_event(&file, &asked, "ready");
    assert_eq!(
        e["session"]["cost_usd"].as_f64(),
        Some((220.0 * 3.0 + 9.0 * 15.0) / 1e6)
    );
    let e = wait_event(&file, &failed, "blocked");
    assert_eq!(e["session"]["error"]["name"], "APIError", "{e:#}");
    wait_event(&file, &flicker, "ready");
    wait_until(EVENT, Duration::from_millis(100), || {
        let got = hook.received();
        let ids: Vec<&Value> = got.iter().map(|e| &e["session"]["id"]).collect();
        if [&asked, &flicker]
            .iter()
            .all(|id| ids.contains(&&json!(id)))
        {
            Ok(())
        } else {
            Err(format!("the webhook got: {got:#?}"))
        }
    });

    // Exactly once each, and nothing for the flicker, however many `ao` look meanwhile.
    holds_for(Duration::from_secs(6), || {
        w.ao_ok(&["status"]);
        let all = events(&file);
        let counts = [
            count(&all, &asked, "waiting_input"),
            count(&all, &asked, "ready"),
            count(&all, &flicker, "waiting_input"),
            count(&all, &flicker, "ready"),
            count(&all, &failed, "blocked"),
        ];
        if counts == [1, 1, 0, 1, 1] && all.len() == 4 {
            Ok(())
        } else {
            Err(format!("{counts:?}:\n{all:#?}"))
        }
    });
    let hooked = hook.received();
    assert_eq!(hooked.len(), 2, "{hooked:#?}");
    assert!(hooked.iter().all(|e| e["event"] == "ready"), "{hooked:#?}");
    assert_eq!(
        w.monitor_process("demo"),
        Some(monitor),
        "one monitor all along"
    );
}

#[test]
fn a_sigkilled_monitor_is_restarted_by_the_next_ao_and_a_hanging_notifier_is_cut_short() {
    let mut w = World::new(
        Scenario::new().script(
            script("slow one")
                .turn(bash("echo hi > out.txt"))
                .turn(Turn::text("Done at last.").usage(50, 3).delay_ms(2000)),
        ),
    );
    w.project("demo", &[]);
    let file = w.root().join("events.jsonl");
    let pids = w.root().join("hang.pids");
    let hang = format!(
        "  - on: [waiting_input, ready]\n    timeoutMs: 4000\n    command: 'echo $$ >> {}; exec sleep 60'\n",
        pids.display()
    );
    configure(
        &w,
        300,
        &format!(
            "notifications:\n{hang}{}",
            appender("  ", "waiting_input, ready, exited", &file)
        ),
        "",
        "      permission: {bash: ask}\n",
    );
    let id = w.spawn(&["demo", "slow one"]);
    let first = monitor_of(&w, None);
    wait_event(&file, &id, "waiting_input");

    // The hanging notifier, listed first, did not hold up the other: it still runs as the other
    // has fired; and it is killed (its whole group) at its timeout.
    let hung: Vec<i32> = wait_until(EVENT, Duration::from_millis(50), || {
        let text = std::fs::read_to_string(&pids).unwrap_or_default();
        let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if pids.is_empty() {
            Err("the hanging notifier never ran".to_string())
        } else {
            Ok(pids)
        }
    });
    assert!(
        kill(Pid::from_raw(hung[0]), None).is_ok(),
        "the hanging notifier was over before the other fired"
    );
    wait_until(
        Duration::from_secs(15),
        Duration::from_millis(50),
        || match hung.iter().find(|p| kill(Pid::from_raw(**p), None).is_ok()) {
            Some(p) => Err(format!(
                "the hanging notifier {p} still runs past its timeout"
            )),
            None => Ok(()),
        },
    );
    // The monitor logs the kill once the group is gone: the log may come a moment after.
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        let log = std::fs::read_to_string(w.home().join("monitors/demo.log")).unwrap_or_default();
        if log.contains("and was killed") {
            Ok(())
        } else {
            Err(format!(
                "the monitor's log says nothing of the kill:\n{log}"
            ))
        }
    });
    // `ao doctor` shows the failure.
    wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let doctor = String::from_utf8_lossy(&w.ao(&["doctor"]).stdout).into_owned();
        if doctor.contains("monitor demo: running") && doctor.contains("last notifier failure") {
            Ok(())
        } else {
            Err(doctor)
        }
    });

    // The monitor dies between two transitions: the turn ends while none runs.
    w.ao_ok(&["permit", &id]);
    kill(Pid::from_raw(first.pid as i32), Signal::SIGKILL).expect("kill the monitor");
    w.wait_log(&id, "Done at last.");
    // The next `ao` records what happened and starts a new monitor, which notifies it once.
    let s = w.wait_activity(&id, "ready");
    assert!(s["activity_since"].is_string());
    let second = monitor_of(&w, Some(first));
    wait_event(&file, &id, "ready");
    holds_for(Duration::from_secs(2), || {
        let all = events(&file);
        let counts = [count(&all, &id, "waiting_input"), count(&all, &id, "ready")];
        if counts == [1, 1] {
            Ok(())
        } else {
            Err(format!("{counts:?}:\n{all:#?}"))
        }
    });

    // The project's last session killed: its monitor goes, and nothing of it is left.
    w.ao_ok(&["kill", &id]);
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        if second.is_alive() {
            Err("the monitor outlived the project's last session".to_string())
        } else {
            Ok(())
        }
    });
    assert_eq!(w.monitor_process("demo"), None);
    // A killed session's `exited` is the person's doing: nothing to tell them.
    w.ao_ok(&["status"]);
    assert_eq!(count(&events(&file), &id, "exited"), 0);
    assert_eq!(w.monitor_process("demo"), None, "nothing live: no monitor");
}

#[test]
fn a_session_past_its_budget_is_stopped_and_goes_on_only_when_told() {
    // The first step costs $0.33 (100k input tokens at $3/M, 2k output at $15/M); the budget is
    // just below it, so the turn is stopped while its second step waits for the model (8 s). The
    // mock answers by the number of assistant messages, so the message sent with --over-budget
    // gets that same slow step, which must then run to its end.
    let mut w = World::new(
        Scenario::new().script(
            script("spend")
                .turn(bash("echo spent > spent.txt").usage(100_000, 2000))
                .turn(Turn::text("Went on.").usage(1000, 10).delay_ms(8000)),
        ),
    );
    w.project("demo", &[]);
    let file = w.root().join("events.jsonl");
    configure(
        &w,
        0,
        &format!(
            "notifications:\n{}",
            appender("  ", "budget, blocked", &file)
        ),
        "    budget: {sessionUsd: 0.32}\n",
        "      permission: allow\n",
    );
    let id = w.spawn(&["demo", "spend"]);
    let s = w.wait_for(&id, EVENT, "stopped by its budget", |s| {
        error_of(s).0 == "BudgetExceeded"
    });
    assert_eq!(s["activity"], "blocked", "{s:#}");
    assert_eq!(
        error_of(&s).1,
        "cost $0.33 passed the session budget of $0.32",
        "{s:#}"
    );
    assert_eq!(s["budget_usd"].as_f64(), Some(0.32));
    let table = w.ao_ok(&["status", &id]);
    assert!(table.contains("/$0.32"), "{table}");
    // The monitor aborted the turn that would never have ended.
    wait_until(EVENT, Duration::from_millis(200), || {
        let logs = w.ao_ok(&["logs", &id]);
        if logs.contains("MessageAbortedError") {
            Ok(())
        } else {
            Err(format!("the turn was not aborted:\n{logs}"))
        }
    });
    let e = wait_event(&file, &id, "budget");
    assert_eq!(e["session"]["error"]["name"], "BudgetExceeded", "{e:#}");

    let err = w.ao_fails(&["send", &id, "go on"], 2);
    assert!(err.contains("over budget"), "{err}");
    assert!(err.contains("budget.sessionUsd"), "{err}");
    assert!(
        err.contains(&format!("ao send --over-budget {id}")),
        "{err}"
    );

    // Told to, it runs its turn to the end, then is over budget again.
    w.ao_ok(&["send", "--over-budget", &id, "go on"]);
    w.wait_log(&id, "Went on.");
    let s = w.wait_for(&id, EVENT, "over budget again", |s| {
        error_of(s).0 == "BudgetExceeded" && s["tokens"]["output"].as_u64() >= Some(2010)
    });
    assert_eq!(s["activity"], "blocked");
    wait_until(EVENT, Duration::from_millis(100), || {
        match count(&events(&file), &id, "budget") {
            2 => Ok(()),
            n => Err(format!("{n} budget events")),
        }
    });
    assert_eq!(
        count(&events(&file), &id, "blocked"),
        0,
        "notified as `budget`"
    );

    // `ao restore` refuses it the same way.
    let monitor = monitor_of(&w, None);
    w.ao_ok(&["kill", &id]);
    assert!(
        !monitor.is_alive(),
        "ao kill stops the monitor before it returns"
    );
    let err = w.ao_fails(&["restore", &id], 2);
    assert!(
        err.contains(&format!("ao restore --over-budget {id}")),
        "{err}"
    );
    w.ao_ok(&["restore", "--over-budget", &id]);
    let s = w.wait_for(&id, EVENT, "blocked", |s| s["activity"] == "blocked");
    assert_eq!(error_of(&s).0, "BudgetExceeded");
    assert_ne!(monitor_of(&w, None), monitor);
}

/// `ao notify test` says what each notifier did.
#[test]
fn notify_test_sends_a_sample_through_every_notifier() {
    let mut w = World::new(Scenario::new());
    w.project("demo", &[]);
    let file = w.root().join("events.jsonl");
    let hook = Hook::start();
    configure(
        &w,
        1500,
        &format!("notifications:\n{}", appender("  ", "ready", &file)),
        &format!(
            "    notifications:\n      - on: [budget]\n        webhook: {}\n      - on: [idle]\n        command: [\"false\"]\n",
            hook.url
        ),
        "",
    );
    let out = w.ao(&["notify", "test"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("ok   command sh -c"), "{text}");
    assert!(
        text.contains(&format!("ok   webhook {}", hook.url)),
        "{text}"
    );
    assert!(text.contains("FAIL command false"), "{text}");
    let e = &events(&file)[0];
    assert_eq!(e["test"], true, "{e:#}");
    assert_eq!(e["session"]["id"], "demo/example");
    assert_eq!(hook.received().len(), 1);
}
