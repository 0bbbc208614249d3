//! ACP sessions on the scripted fake agent (`tests/support/fake_acp_agent.rs`): what a real agent
//! cannot be made to do on cue. Each stop reason, a failed prompt and a crash as `ao status`
//! shows them; a plan; tokens and cost from the agent's usage, its own cost, or a configured
//! price; permission requests answered by a person (once, always, reject, mapped to the options by
//! their kind), by the configured policy, and by two people at once; a budget stop that cancels a
//! turn the agent would spend on; the host SIGKILLed; `ao kill` and `ao restore` (with and without
//! `loadSession`); the tmux runtime; an agent that never answers `initialize`, and one without the
//! configured model; config errors.
//!
//! The config these tests write (see `ao_test_support::acp`):
//!
//! ```yaml
//! projects:
//!   - name: fake
//!     path: projects/fake
//!     agent: acp
//!     agentConfig:
//!       command: ["/…/target/debug/fake-acp-agent"]
//!       env:
//!         FAKE_ACP_DATA: "/…"
//!       permission: {execute: ask}
//!       price: {input: 3.0, output: 15.0}
//! ```

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ao_core::runtime::process::ProcessIdentity;
use ao_test_support::acp::{
    assert_tokens, fake_agent_config, fake_agent_config_with_args, race, spawn, wait_gone,
    wait_ready_with, AcpWorld, FAKE_PERMISSION_OPTIONS, FAKE_SAY_USAGE,
};
use ao_test_support::{assert_cost, error_of, wait_until, Scenario};
use serde_json::{json, Value};

/// How long a process may take to go once it should.
const GONE: Duration = Duration::from_secs(10);

fn world() -> AcpWorld {
    AcpWorld::new(Scenario::new())
}

fn logs(w: &AcpWorld, id: &str) -> String {
    w.ao_ok(&["logs", id])
}

/// The session is an ACP one: agent `acp`, and the conversation id ao made for it.
fn assert_acp(s: &Value) {
    assert_eq!(s["agent"], "acp", "{s:#}");
    let id = s["agent_session_id"].as_str().expect("agent_session_id");
    let hex = id.strip_prefix("acp-").unwrap_or_else(|| panic!("{id}"));
    assert!(
        hex.len() == 16 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
}

/// The fake's permission options as `ao status --json` lists them.
fn fake_options() -> Value {
    Value::Array(
        FAKE_PERMISSION_OPTIONS
            .iter()
            .map(|(id, name, kind)| json!({"id": id, "name": name, "kind": kind}))
            .collect(),
    )
}

/// The one pending permission request of a waiting session, checked against what the fake asked:
/// (request id, title).
fn pending_request(s: &Value, kind: &str) -> (String, String) {
    let pending = s["pending"].as_array().expect("pending");
    assert_eq!(pending.len(), 1, "{s:#}");
    let p = &pending[0];
    let id = p["id"].as_str().expect("an id").to_string();
    // The tool call's id: `call-<pid>-<n>`; its title the command for a shell call.
    let n = id.rsplit('-').next().unwrap();
    let title = if kind == "execute" {
        format!("echo {n}")
    } else {
        format!("{kind} call {n}")
    };
    assert!(id.starts_with("call-"), "{p}");
    assert_eq!(p["kind"], "permission", "{p}");
    assert_eq!(p["tool"], kind, "{p}");
    assert_eq!(p["title"], title.as_str(), "{p}");
    assert_eq!(p["options"], fake_options(), "{p}");
    (id, title)
}

#[test]
fn each_way_a_turn_ends_shows_in_status_with_exact_usage_and_cost() {
    let mut w = world();
    w.acp_project("fake", fake_agent_config(&[], &[]));
    w.acp_project(
        "priced",
        fake_agent_config(&[], &["price: {input: 3.0, output: 15.0}"]),
    );
    let run = |name: &str, prompt: &str| spawn(&w, "fake", name, prompt, "process");
    let said = run("said", "say:Hello there.");
    let cancelled = run("cancelled", "stop:cancelled");
    let refused = run("refused", "stop:refusal");
    let max_tokens = run("max-tokens", "stop:max_tokens");
    let max_turns = run("max-turns", "stop:max_turn_requests");
    let failed = run("failed", "fail:the model is on fire");
    let crashed = run("crashed", "crash");
    let planned = run("planned", "plan");
    let counted = run("counted", "usage:1234/56");
    let costed = run("costed", "cost:0.0123");
    let titled = run("titled", "title:Fix the flaky test");
    let by_price = spawn(&w, "priced", "by-price", "usage:1000/200", "process");
    let own_cost = spawn(&w, "priced", "own-cost", "cost:0.5", "process");

    // end_turn: ready, the usage of the prompt's result, no cost (none reported, no price).
    let s = w.wait_activity(&said, "ready");
    assert_acp(&s);
    assert_eq!(s["runtime"], "process");
    assert_tokens(&s, FAKE_SAY_USAGE.0, FAKE_SAY_USAGE.1);
    assert_eq!(s["cost_usd"], Value::Null, "{s:#}");
    assert_eq!(s["error"], Value::Null, "{s:#}");
    assert_eq!(s["pending"], json!([]), "{s:#}");
    let log = logs(&w, &said);
    assert!(log.contains("you: say:Hello there."), "{log}");
    assert!(log.contains("agent: Hello there."), "{log}");

    // cancelled is a normal end; the others block, each by its name. These turns report no
    // usage, so what they spent is not known: no tokens are shown, never a zero.
    let s = w.wait_activity(&cancelled, "ready");
    assert_eq!(s["error"], Value::Null, "{s:#}");
    assert_eq!(s["tokens"], Value::Null, "{s:#}");
    for (id, name) in [
        (&refused, "refusal"),
        (&max_tokens, "max_tokens"),
        (&max_turns, "max_turn_requests"),
    ] {
        let s = w.wait_activity(id, "blocked");
        let (why, message) = error_of(&s);
        assert_eq!(why, name, "{s:#}");
        assert!(!message.trim().is_empty(), "{s:#}");
    }

    // A JSON-RPC error: blocked with the agent's message.
    let s = w.wait_activity(&failed, "blocked");
    let (why, message) = error_of(&s);
    assert_eq!(why, "AgentError", "{s:#}");
    assert!(message.contains("the model is on fire"), "{s:#}");

    // The agent died mid-turn: interrupted, and neither it nor its host is left.
    let agent = w.agent_process(&crashed);
    let s = w.wait_activity(&crashed, "blocked");
    assert_eq!(error_of(&s).0, "Interrupted", "{s:#}");
    wait_gone(agent, "the crashed agent", GONE);
    wait_gone(w.host_process(&crashed), "the crashed agent's host", GONE);
    assert!(
        w.agent_log(&crashed).contains("crashing on purpose"),
        "its stderr is kept in agent.log: {:?}",
        w.agent_log(&crashed)
    );

    // A plan: todos, and `ao show`'s plan, in the agent's order and words.
    let s = w.wait_activity(&planned, "ready");
    assert_eq!(s["todos"], json!({"done": 1, "total": 3}), "{s:#}");
    let show = w.ao_ok(&["show", &planned]);
    let plan = "Plan 1/3\n  [x] Read the code (high)\n  [~] Write the fix (medium)\n  [ ] Run the tests (low)\n";
    assert!(show.contains(plan), "{show}");

    // Usage without cost: exact tokens, cost unknown (null), never a guess.
    let s = w.wait_activity(&counted, "ready");
    assert_tokens(&s, 1234, 56);
    assert_eq!(s["cost_usd"], Value::Null, "{s:#}");

    // The agent's own cost, cumulative as the agent says it: the last one holds.
    let s = w.wait_activity(&costed, "ready");
    assert_cost(&s, 0.0123);
    assert_tokens(&s, FAKE_SAY_USAGE.0, FAKE_SAY_USAGE.1);
    w.ao_ok(&["send", &costed, "cost:0.02"]);
    let s = wait_ready_with(&w, &costed, 2 * FAKE_SAY_USAGE.0, 2 * FAKE_SAY_USAGE.1);
    assert_cost(&s, 0.02);

    // The session's title is its summary.
    let s = w.wait_activity(&titled, "ready");
    assert_eq!(s["summary"], "Fix the flaky test", "{s:#}");

    // A configured price makes the cost where the agent reports none, over every turn.
    let s = w.wait_activity(&by_price, "ready");
    assert_tokens(&s, 1000, 200);
    let cost = s["cost_usd"].as_f64().expect("a cost from the price");
    assert!((cost - 0.006).abs() < 1e-9, "{cost}");
    w.ao_ok(&["send", &by_price, "usage:500/100"]);
    let s = wait_ready_with(&w, &by_price, 1500, 300);
    let cost = s["cost_usd"].as_f64().expect("a cost from the price");
    assert!((cost - 0.009).abs() < 1e-9, "{cost}");
    // ... but the agent's own cost wins over it.
    let s = w.wait_activity(&own_cost, "ready");
    assert_cost(&s, 0.5);
}

#[test]
fn permission_requests_are_answered_by_their_options_kinds_by_a_person_or_by_the_policy() {
    let mut w = world();
    w.acp_project(
        "ask",
        fake_agent_config(&[], &["permission: {execute: ask}"]),
    );
    w.acp_project(
        "allow",
        fake_agent_config(&[], &["permission: {execute: allow}"]),
    );
    w.acp_project("deny", fake_agent_config(&[], &["permission: deny"]));
    let once = spawn(&w, "ask", "once", "permit:execute", "process");
    let always = spawn(&w, "ask", "always", "permit:execute", "process");
    let reject = spawn(&w, "ask", "reject", "permit:edit", "process");
    let raced = spawn(&w, "ask", "race", "permit:execute", "process");
    let allowed = spawn(&w, "allow", "allowed", "permit:execute", "process");
    let unlisted = spawn(&w, "allow", "unlisted", "permit:edit", "process");
    let denied = spawn(&w, "deny", "denied", "permit:fetch", "process");

    // Once, always, reject: each the option of that kind (the fake says which id it got).
    for (id, kind, flag, verb, chosen, status) in [
        (
            &once,
            "execute",
            None,
            "allowed once",
            "fake-allow-once",
            "completed",
        ),
        (
            &always,
            "execute",
            Some("--always"),
            "allowed always",
            "fake-allow-always",
            "completed",
        ),
        (
            &reject,
            "edit",
            Some("--reject"),
            "rejected",
            "fake-reject-once",
            "error",
        ),
    ] {
        let s = w.wait_activity(id, "waiting_input");
        let (request, title) = pending_request(&s, kind);
        let mut args = vec!["permit", id.as_str()];
        args.extend(flag);
        let out = w.ao_ok(&args);
        assert_eq!(out.trim(), format!("{id}: {verb}: {title} ({request})"));
        let s = w.wait_activity(id, "ready");
        assert_eq!(s["pending"], json!([]), "{s:#}");
        let log = logs(&w, id);
        assert!(log.contains(&format!("agent: chose {chosen}\n")), "{log}");
        assert!(
            log.contains(&format!("tool {kind} [{status}] {title}")),
            "{log}"
        );
        // Answered: nothing is pending any more, and ao says so.
        let err = w.ao_fails(&["permit", id], 2);
        assert!(err.contains("has no pending permission request"), "{err}");
    }

    // `allow` for execute: the host answers at once with the allow-once option.
    w.wait_activity(&allowed, "ready");
    let log = logs(&w, &allowed);
    assert!(log.contains("agent: chose fake-allow-once\n"), "{log}");
    assert!(log.contains("tool execute [completed] echo "), "{log}");
    // A kind the map does not name is left to a person.
    let s = w.wait_activity(&unlisted, "waiting_input");
    pending_request(&s, "edit");
    w.ao_ok(&["permit", &unlisted, "--reject"]);
    w.wait_activity(&unlisted, "ready");
    assert!(logs(&w, &unlisted).contains("agent: chose fake-reject-once\n"));
    // `deny`, one word for every kind: the reject-once option, at once.
    w.wait_activity(&denied, "ready");
    let log = logs(&w, &denied);
    assert!(log.contains("agent: chose fake-reject-once\n"), "{log}");
    assert!(log.contains("tool fetch [error] fetch call "), "{log}");

    // Two people answer at once: one wins, the other is told the request is gone.
    let s = w.wait_activity(&raced, "waiting_input");
    let (request, _) = pending_request(&s, "execute");
    let (first_won, err) = race(
        &w,
        &["permit", &raced, &request, "--once"],
        &["permit", &raced, &request, "--reject"],
    );
    assert!(
        err.to_lowercase().contains("gone")
            || err.contains("no longer pending")
            || err.contains("has no pending permission request"),
        "the loser says the request is gone: {err}"
    );
    w.wait_activity(&raced, "ready");
    let log = logs(&w, &raced);
    let chosen = if first_won {
        "fake-allow-once"
    } else {
        "fake-reject-once"
    };
    assert_eq!(log.matches("agent: chose ").count(), 1, "{log}");
    assert!(log.contains(&format!("agent: chose {chosen}\n")), "{log}");
}

/// Waits (30 s) until the host recorded its last turn's end, and returns the record.
fn wait_turn_ended(w: &AcpWorld, id: &str, what: &str) -> Value {
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || match w.host_record(id) {
            Some(r) if r["phase"]["phase"] == "ended" => Ok(r),
            r => Err(format!("{what}: the host of {id} recorded {r:?}")),
        },
    )
}

#[test]
fn a_session_past_its_budget_has_its_turn_cancelled_and_goes_on_only_when_told() {
    // The agent reports a cost of $0.50 at once and then streams on until it is cancelled (a
    // minute, longer than any wait here): only the cancel ends that turn in time.
    let mut w = world();
    w.acp_project("fake", fake_agent_config(&[], &[]));
    w.set_project_lines("fake", &["budget: {sessionUsd: 0.25}"]);
    let id = spawn(&w, "fake", "spender", "spend:0.5", "process");
    let s = w.wait_for(&id, Duration::from_secs(60), "stopped by its budget", |s| {
        error_of(s).0 == "BudgetExceeded"
    });
    assert_eq!(s["activity"], "blocked", "{s:#}");
    assert_eq!(
        error_of(&s).1,
        "cost $0.50 passed the session budget of $0.25",
        "{s:#}"
    );
    assert_cost(&s, 0.5);

    // The monitor cancelled the turn (`session/cancel`), and the agent ended it as cancelled.
    let record = wait_turn_ended(&w, &id, "the turn past the budget was not cancelled");
    assert_eq!(record["phase"]["stop"], "cancelled", "{record:#}");
    // Only the turn: the host and its agent are still there, the session live and still stopped.
    let (host, agent) = (w.host_process(&id), w.agent_process(&id));
    assert!(host.is_alive() && agent.is_alive(), "{record:#}");
    let s = w.session(&id);
    assert_eq!(s["process"], "running", "{s:#}");
    assert_eq!(error_of(&s).0, "BudgetExceeded", "{s:#}");

    // As for OpenCode: ao sends nothing more until told to go over the budget; told to, the
    // same agent runs the turn to its end, and the session is over its budget again.
    let err = w.ao_fails(&["send", &id, "say:Went on."], 2);
    assert!(err.contains("over budget"), "{err}");
    assert!(
        err.contains(&format!("ao send --over-budget {id}")),
        "{err}"
    );
    w.ao_ok(&["send", "--over-budget", &id, "say:Went on."]);
    let s = w.wait_for(&id, Duration::from_secs(60), "over budget again", |s| {
        error_of(s).0 == "BudgetExceeded"
            && w.host_record(&id)
                .is_some_and(|r| r["phase"]["stop"] == "end_turn")
    });
    assert_eq!(s["activity"], "blocked", "{s:#}");
    // The cancelled turn reported 0/0, the later one its own.
    assert_tokens(&s, FAKE_SAY_USAGE.0, FAKE_SAY_USAGE.1);
    assert!(logs(&w, &id).contains("agent: Went on."));
    assert_eq!(w.agent_process(&id), agent, "the same agent went on");
}

#[test]
fn kill_restore_and_a_sigkilled_host_leave_no_agent_behind() {
    let mut w = world();
    let data = w.root().join("fake-data");
    std::fs::create_dir_all(&data).unwrap();
    w.acp_project("fake", fake_agent_config(&[], &[]));
    w.acp_project(
        "noload",
        fake_agent_config(&[("FAKE_ACP_NO_LOAD", "1")], &[]),
    );
    w.acp_project(
        "keep",
        fake_agent_config(&[("FAKE_ACP_DATA", &data.to_string_lossy())], &[]),
    );
    let sigkilled = spawn(&w, "fake", "sigkilled", "child", "process");
    let busy = spawn(&w, "fake", "busy", "slow:60000", "process");
    let cannot = spawn(&w, "noload", "cannot", "say:One.", "process");
    let kept = spawn(&w, "keep", "kept", "say:First answer.", "process");

    // The host SIGKILLed: exited, and neither its agent nor what the agent started (in its
    // group) outlives it.
    w.wait_activity(&sigkilled, "ready");
    let (host, agent) = (w.host_process(&sigkilled), w.agent_process(&sigkilled));
    let log = logs(&w, &sigkilled);
    let grandchild = log
        .split("agent: child ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse::<u32>().ok())
        .and_then(ProcessIdentity::of)
        .unwrap_or_else(|| panic!("the agent's child: {log}"));
    assert!(host.is_alive() && agent.is_alive() && grandchild.is_alive());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(host.pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let s = w.wait_for(&sigkilled, Duration::from_secs(30), "exited", |s| {
        s["activity"] == "exited"
    });
    assert_eq!(s["process"], "exited", "{s:#}");
    wait_gone(agent, "the agent of a SIGKILLed host", GONE);
    wait_gone(grandchild, "the agent's child, its host SIGKILLed", GONE);

    // `ao kill` mid-turn: the turn is cancelled, the agent's group and the host end.
    w.wait_for(&busy, Duration::from_secs(30), "active", |s| {
        s["activity"] == "active"
    });
    let (host, agent) = (w.host_process(&busy), w.agent_process(&busy));
    w.ao_ok(&["kill", &busy]);
    wait_gone(host, "the host after ao kill", GONE);
    wait_gone(agent, "the agent after ao kill", GONE);
    let s = w.session(&busy);
    assert_eq!(
        (s["activity"].as_str(), s["process"].as_str()),
        (Some("exited"), Some("exited")),
        "{s:#}"
    );

    // An agent without loadSession cannot be restored, and ao says so.
    w.wait_activity(&cannot, "ready");
    w.ao_ok(&["kill", &cannot]);
    let err = w.ao_fails(&["restore", &cannot], 2);
    let lower = err.to_lowercase();
    assert!(
        lower.contains("cannot") && (lower.contains("resume") || lower.contains("load")),
        "{err}"
    );

    // One with it comes back on the same conversation: history, tokens, and a new turn.
    let before = w.wait_activity(&kept, "ready");
    let (host, agent) = (w.host_process(&kept), w.agent_process(&kept));
    w.ao_ok(&["kill", &kept]);
    wait_gone(host, "the host after ao kill", GONE);
    wait_gone(agent, "the agent after ao kill", GONE);
    w.ao_ok(&["restore", &kept]);
    let s = w.wait_activity(&kept, "ready");
    assert_eq!(s["agent_session_id"], before["agent_session_id"]);
    assert_eq!(s["process"], "running", "{s:#}");
    assert_tokens(&s, FAKE_SAY_USAGE.0, FAKE_SAY_USAGE.1);
    assert_ne!(w.agent_process(&kept), agent, "a new agent process");
    // The history is there once: what the agent replays on load is not recorded again.
    let log = logs(&w, &kept);
    assert_eq!(log.matches("agent: First answer.").count(), 1, "{log}");
    w.ao_ok(&["send", &kept, "say:Second answer."]);
    wait_ready_with(&w, &kept, 2 * FAKE_SAY_USAGE.0, 2 * FAKE_SAY_USAGE.1);
    let log = logs(&w, &kept);
    let first = log.find("agent: First answer.").expect("turn 1");
    let second = log.find("agent: Second answer.").expect("turn 2");
    assert!(first < second, "{log}");
}

#[test]
fn a_tmux_session_runs_its_host_in_the_pane_and_kill_ends_it_all() {
    let mut w = world();
    w.acp_project("fake", fake_agent_config(&[], &[]));
    // The tmux server was started by another `ao`, under another config: a pane gets the
    // server's environment, yet the session (and an `ao mcp` its agent starts) must run under
    // the config that spawned it.
    let started = std::process::Command::new("tmux")
        .args([
            "-L",
            w.tmux_socket(),
            "new-session",
            "-d",
            "-s",
            "elsewhere",
            "sleep 600",
        ])
        .env("AO_CONFIG", "/elsewhere/agent-orchestrator.yaml")
        .env_remove("TMUX")
        .status()
        .expect("run tmux");
    assert!(started.success());
    let id = spawn(&w, "fake", "pane", "say:Hello from the pane.", "tmux");
    let s = w.wait_activity(&id, "ready");
    assert_acp(&s);
    assert_eq!(s["runtime"], "tmux", "{s:#}");
    let agent = w.agent_process(&id);
    let environ =
        std::fs::read(format!("/proc/{}/environ", agent.pid)).expect("the agent's environment");
    let config = std::fs::canonicalize(w.config_path()).expect("the config");
    let named = format!("AO_CONFIG={}", config.display());
    assert!(
        environ.split(|b| *b == 0).any(|v| v == named.as_bytes()),
        "the agent in the pane was not told {named}"
    );
    assert_tokens(&s, FAKE_SAY_USAGE.0, FAKE_SAY_USAGE.1);
    // The pane is the host: it shows the conversation as it goes.
    w.wait_pane(&id, true, Duration::from_secs(20), "the answer", |screen| {
        screen.contains("Hello from the pane.")
    });
    // A prompt sent while a turn runs waits for it, then runs; `ao logs --follow`, started
    // while the agent streams its answer, prints that answer whole, once.
    let mut follower = w
        .ao_command(&["logs", &id, "--follow"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ao logs --follow");
    w.ao_ok(&["send", &id, "slow:1500"]);
    w.ao_ok(&["send", &id, "say:And again."]);
    wait_ready_with(&w, &id, 3 * FAKE_SAY_USAGE.0, 3 * FAKE_SAY_USAGE.1);
    let stdout = follower.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut followed = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !followed.contains("agent: And again.") {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => followed.push_str(&format!("{line}\n")),
            Err(_) => panic!("ao logs --follow did not show the queued turn: {followed}"),
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    let ticks: String = (1..=10).map(|i| format!("tick {i}. ")).collect();
    assert!(
        followed.contains(&format!("agent: {}", ticks.trim_end())),
        "{followed}"
    );
    assert_eq!(followed.matches("tick 1.").count(), 1, "{followed}");
    w.wait_pane(
        &id,
        true,
        Duration::from_secs(20),
        "the queued answer",
        |screen| {
            screen.contains("ao: prompt queued behind the running turn")
                && screen.contains("And again.")
        },
    );
    let log = logs(&w, &id);
    let (slow, queued) = (log.find("tick 10."), log.find("agent: And again."));
    assert!(slow.is_some() && slow < queued, "{log}");

    let (host, agent) = (w.host_process(&id), w.agent_process(&id));
    w.ao_ok(&["kill", &id]);
    wait_gone(host, "the host after ao kill", GONE);
    wait_gone(agent, "the agent after ao kill", GONE);
    assert!(!w.tmux_sessions().contains(&id), "{:?}", w.tmux_sessions());
    assert_eq!(w.session(&id)["activity"], "exited");
}

#[test]
fn an_agent_that_never_answers_initialize_or_lacks_the_model_fails_spawn_and_doctor_says_so() {
    let mut w = world();
    w.set_env("AO_ACP_INIT_TIMEOUT_MS", "3000");
    let models = ("FAKE_ACP_MODELS", "fake/small,fake/large");
    w.acp_project("fake", fake_agent_config(&[], &[]));
    // A command of its own: `ao doctor` checks each distinct command once.
    w.acp_project(
        "silent",
        fake_agent_config_with_args(&["--silent-init"], &[], &[]),
    );
    w.acp_project(
        "chosen",
        fake_agent_config(&[models], &["model: fake/large"]),
    );
    w.acp_project(
        "missing",
        fake_agent_config(&[models], &["model: fake/none"]),
    );
    let modes = ("FAKE_ACP_MODES", "ask,plan");
    w.acp_project("moded", fake_agent_config(&[modes], &["mode: plan"]));
    w.acp_project("unmoded", fake_agent_config(&[modes], &["mode: yolo"]));
    let option = ("FAKE_ACP_MODE_OPTION", "1");
    w.acp_project(
        "optioned",
        fake_agent_config(&[modes, option], &["mode: plan"]),
    );
    // A preset's mode, picked for `permission`, and a preset's word on credentials.
    w.agent_project("modeless", "claude", fake_agent_config(&[], &[]));
    w.agent_project(
        "locked",
        "claude",
        fake_agent_config(&[("FAKE_ACP_AUTH_REQUIRED", "1")], &[]),
    );

    // doctor: the agent's name and version where it answers, the silence where it does not,
    // within the timeout.
    let started = Instant::now();
    let out = w.ao(&["doctor"]);
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(took < Duration::from_secs(25), "doctor took {took:?}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok ") && l.contains("fake-acp-agent") && l.contains("0.1.0")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL ") && l.contains("initialize")),
        "{text}"
    );
    // No project runs OpenCode: nothing of it is checked.
    assert!(!text.lines().any(|l| l.contains(" opencode: ")), "{text}");

    // spawn: fails within the timeout, saying why, and leaves no agent behind.
    let started = Instant::now();
    let out = w.ao(&[
        "spawn",
        "silent",
        "say:Hi.",
        "--runtime",
        "process",
        "--name",
        "mute",
    ]);
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(took < Duration::from_secs(25), "spawn took {took:?}");
    assert!(err.contains("initialize"), "{err}");
    if let Some(agent) = w
        .host_record("silent/mute")
        .and_then(|r| ao_test_support::acp::process_of(&r["agent_process"]))
    {
        wait_gone(agent, "the silent agent", GONE);
    }

    // The configured model, chosen through the protocol.
    let id = spawn(&w, "chosen", "chosen", "say:Hi.", "process");
    let s = w.wait_activity(&id, "ready");
    assert_eq!(s["model"], "fake/large", "{s:#}");
    // One the agent does not offer: spawn says which it offers.
    let out = w.ao(&["spawn", "missing", "say:Hi.", "--runtime", "process"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    for name in ["fake/none", "fake/small", "fake/large"] {
        assert!(err.contains(name), "{name} missing from: {err}");
    }

    // The configured mode, chosen through the protocol; one the agent lacks fails spawn alike.
    let id = spawn(&w, "moded", "moded", "say:Hi.", "process");
    w.wait_activity(&id, "ready");
    assert!(
        w.agent_log(&id).contains("session/set_mode plan"),
        "{}",
        w.agent_log(&id)
    );
    let out = w.ao(&["spawn", "unmoded", "say:Hi.", "--runtime", "process"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("no mode `yolo`; it offers: ask, plan"),
        "{err}"
    );
    // Chosen through the session's config option of category `mode`, where it has one.
    let id = spawn(&w, "optioned", "optioned", "say:Hi.", "process");
    w.wait_activity(&id, "ready");
    let log = w.agent_log(&id);
    assert!(log.contains("mode plan chosen"), "{log}");
    assert!(!log.contains("session/set_mode"), "{log}");
    // A mode ao picked, not the person: the message says so.
    let out = w.ao(&["spawn", "modeless", "say:Hi.", "--runtime", "process"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(
            "the agent offers no session modes, so mode `default` (the one ao picks for the \
             project's `permission`) cannot be chosen"
        ),
        "{err}"
    );
    // No credentials: the agent's own way to give them.
    let out = w.ao(&["spawn", "locked", "say:Hi.", "--runtime", "process"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("Authentication required") && err.contains("run `claude login`"),
        "{err}"
    );
}

/// A broken `agentConfig` and what ao must say of it.
struct BrokenConfig {
    /// The project's `agentConfig` lines.
    lines: Vec<String>,
    /// The text the error points at: its line, and its column unless `columns` names some.
    at: &'static str,
    /// The columns the error may point at instead (a key, or its value).
    columns: Vec<usize>,
    /// What the message says.
    says: &'static [&'static str],
}

#[test]
fn config_errors_say_file_line_and_column_and_exit_2() {
    let mut w = world();
    w.acp_project("fake", fake_agent_config(&[], &[]));
    let config = w.config_path().to_string_lossy().into_owned();
    let command = fake_agent_config(&[], &[]).remove(0);
    let cases = [
        BrokenConfig {
            lines: fake_agent_config(&[], &["permission:", "  exeucte: ask"]),
            at: "exeucte",
            columns: vec![],
            says: &["exeucte", "execute"],
        },
        BrokenConfig {
            lines: fake_agent_config(&[], &["permission: {execute: sometimes}"]),
            at: "sometimes",
            columns: vec![],
            says: &["sometimes", "ask, allow, deny"],
        },
        BrokenConfig {
            lines: vec!["command: []".to_string()],
            at: "command: []",
            // The key, or its empty value.
            columns: vec![7, 16],
            says: &["command"],
        },
        BrokenConfig {
            lines: vec![
                command,
                "price:".into(),
                "  input: 3.0".into(),
                "  ouput: 15.0".into(),
            ],
            at: "ouput",
            columns: vec![],
            says: &["ouput", "output"],
        },
    ];
    for case in cases {
        w.set_acp_config("fake", case.lines);
        let text = w.config_text();
        let (line, column) = text
            .lines()
            .enumerate()
            .find_map(|(i, l)| l.find(case.at).map(|c| (i + 1, c + 1)))
            .unwrap();
        let columns = if case.columns.is_empty() {
            vec![column]
        } else {
            case.columns
        };
        let err = w.ao_fails(&["status"], 2);
        assert!(
            columns
                .iter()
                .any(|c| err.contains(&format!("{config}:{line}:{c}: "))),
            "not at {config}:{line}:{columns:?}:\n{err}\n{text}"
        );
        for word in case.says {
            assert!(err.contains(word), "{word:?} missing from: {err}");
        }
    }
}
