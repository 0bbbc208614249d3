//! `agent: codex`: Codex through its pinned ACP adapter (codex-acp 0.16.0, `AO_CODEX_ACP_BIN`) on
//! the mock model's OpenAI Responses API, offline. A session in each runtime reaches `ready` with
//! exact tokens and the cost its `price` makes of them; `send` runs a second turn; `kill` then
//! `restore` keeps the history; a request the mock fails blocks the session with the provider's
//! message; a shell call under `execute: ask` waits for `ao permit`, which runs it or
//! (`--reject`) refuses it; a plan shows in `ao status`; a turn cut by Codex's death leaves the
//! tokens and cost unknown after `restore`, never the short sum Codex's file then holds.
//!
//! What codex-acp reports, measured (/work/notes/codex-facts.md): no usage over ACP at all, so
//! the host reads Codex's exact tokens from its own session file; no cost (a configured `price`
//! makes it). Codex's only reject option for a command (`abort`) ends the turn, cancelled. Codex
//! asks no questions through codex-acp (its `request_user_input` is off outside its Plan mode).
//!
//! The config these tests write (see `ao_test_support::codex`):
//!
//! ```yaml
//! projects:
//!   - name: codex
//!     path: projects/codex
//!     agent: codex
//!     agentConfig:
//!       env: {CODEX_HOME: "/…/codex-codex", OPENAI_API_KEY: mock-key}
//!       model: gpt-5.4
//!       permission: {execute: ask}
//!       price: {input: 1.25, output: 10}
//! ```

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ao_test_support::acp::{assert_tokens, permit_execute, spawn, wait_gone, AcpWorld, Story};
use ao_test_support::codex::{codex_config, cost, price_line, write_codex_home, MODEL};
use ao_test_support::{assert_cost, error_of, script, wait_until, workspace_of, Scenario, Turn};
use serde_json::{json, Value};

const GONE: Duration = Duration::from_secs(15);

/// The model ao chooses (through the session's `model` config option); Codex's own config.toml
/// names another ([`MODEL`]).
const CHOSEN_MODEL: &str = "gpt-5.4";

fn bash(command: &str) -> Turn {
    Turn::tool_call("bash", json!({"command": command, "description": "Run it"}))
}

/// A world with one Codex project, `codex`, on the mock model: ao asks a person before any
/// command Codex asks about, and prices Codex's tokens.
fn world(scenario: Scenario) -> AcpWorld {
    let mut w = AcpWorld::new(scenario);
    let home = write_codex_home(&w, "codex");
    assert_ne!(
        CHOSEN_MODEL, MODEL,
        "ao's choice must differ from Codex's own"
    );
    let model = format!("model: {CHOSEN_MODEL}");
    let config = codex_config(
        &home,
        &[&model, "permission: {execute: ask}", &price_line()],
    );
    w.agent_project("codex", "codex", config);
    w
}

#[test]
fn codex_sessions_reach_ready_with_exact_tokens_go_on_fail_and_come_back_after_kill() {
    let w = world(
        Scenario::new()
            .script(
                script("hello from process")
                    .turn(Turn::text("Hello from Codex.").usage(110, 7))
                    .turn(Turn::text("Hello again.").usage(130, 9))
                    .turn(Turn::text("Third time.").usage(150, 11)),
            )
            .script(script("hello from tmux").turn(Turn::text("Hello in the pane.").usage(110, 7)))
            .script(script("fail now").turn(Turn::error(
                400,
                "The mock refuses: you exceeded your current quota.",
            ))),
    );
    let process = spawn(&w, "codex", "proc", "hello from process", "process");
    let pane = spawn(&w, "codex", "pane", "hello from tmux", "tmux");
    let failing = spawn(&w, "codex", "failing", "fail now", "process");

    // Each runtime: ready, with Codex's exact tokens and what the price makes of them.
    for (id, runtime) in [(&process, "process"), (&pane, "tmux")] {
        let s = w.wait_activity(id, "ready");
        assert_eq!(s["agent"], "codex", "{s:#}");
        assert_eq!(s["model"], CHOSEN_MODEL, "{s:#}");
        assert_eq!(s["runtime"], runtime, "{s:#}");
        assert_tokens(&s, 110, 7);
        assert_cost(&s, cost(110, 7));
        assert_eq!(s["error"], Value::Null, "{s:#}");
    }
    // ao chose the project's model over Codex's own, and Codex asked the mock for it, on the
    // Responses API.
    let requests = w.mock.requests();
    let asked: Vec<(&str, &Value)> = requests
        .iter()
        .map(|r| (r.path.as_str(), &r.body["model"]))
        .collect();
    assert!(
        !asked.is_empty()
            && asked
                .iter()
                .all(|(path, model)| *path == "/v1/responses" && *model == CHOSEN_MODEL),
        "{asked:?}"
    );
    w.wait_pane(
        &pane,
        true,
        Duration::from_secs(30),
        "the answer",
        |screen| screen.contains("Hello in the pane."),
    );

    // A request the provider refuses (400: Codex does not retry it): blocked, in its words.
    let s = w.wait_activity(&failing, "blocked");
    let (_, message) = error_of(&s);
    assert_eq!(
        message, "The mock refuses: you exceeded your current quota.",
        "{s:#}"
    );

    // A second turn, kill, restore (the same conversation, session/load), a third turn.
    let story = Story {
        w: &w,
        id: &process,
        agent: "codex-acp",
        first_answer: "Hello from Codex.",
    };
    assert_cost(&story.second_turn(), cost(240, 16));
    story.kill_and_restore();
    assert_cost(&story.third_turn(), cost(390, 27));

    for id in [&process, &pane, &failing] {
        let (host, agent) = (w.host_process(id), w.agent_process(id));
        w.ao_ok(&["kill", id]);
        wait_gone(host, "the host after ao kill", GONE);
        wait_gone(agent, "codex-acp after ao kill", GONE);
    }
    assert!(
        !w.tmux_sessions().contains(&pane),
        "{:?}",
        w.tmux_sessions()
    );
}

#[test]
fn a_codex_shell_call_waits_for_ao_permit_which_runs_it_or_rejects_it() {
    let w = world(
        Scenario::new()
            .script(
                script("run allowed")
                    .turn(bash("echo hi | tee out.txt").usage(50, 5))
                    .turn(Turn::text("Wrote it.").usage(60, 2)),
            )
            .script(
                script("run rejected")
                    .turn(bash("echo no > no.txt").usage(50, 5))
                    .turn(Turn::text("Left it alone.").usage(60, 2)),
            )
            .script(
                script("make a plan")
                    .turn(
                        Turn::tool_call(
                            "update_plan",
                            json!({"explanation": "Two steps", "plan": [
                                {"step": "Read the code", "status": "completed"},
                                {"step": "Fix the bug", "status": "in_progress"},
                            ]}),
                        )
                        .usage(40, 4),
                    )
                    .turn(Turn::text("Planned.").usage(45, 2)),
            )
            .script(
                script("cut short")
                    .turn(bash("touch cut.txt").usage(50, 5))
                    .turn(Turn::text("Carried on.").usage(60, 2)),
            ),
    );
    let allowed = spawn(&w, "codex", "allowed", "run allowed", "process");
    let rejected = spawn(&w, "codex", "rejected", "run rejected", "tmux");
    let planned = spawn(&w, "codex", "planned", "make a plan", "process");
    let cut = spawn(&w, "codex", "cut", "cut short", "process");

    for (id, command, flag, verb) in [
        (&allowed, "echo hi | tee out.txt", "--once", "allowed once"),
        (&rejected, "echo no > no.txt", "--reject", "rejected"),
    ] {
        // Codex's own options: run it, run it and its like from now on, or stop.
        let options = |p: &Value| {
            let options: Vec<(&str, &str)> = p["options"]
                .as_array()
                .expect("options")
                .iter()
                .map(|o| (o["id"].as_str().unwrap(), o["kind"].as_str().unwrap()))
                .collect();
            assert_eq!(
                options,
                [
                    ("approved", "allow_once"),
                    ("approved-execpolicy-amendment", "allow_always"),
                    ("abort", "reject_once")
                ],
                "{p}"
            );
        };
        permit_execute(&w, id, command, options, flag, verb);
    }

    // Allowed: the command ran, its output went back to Codex, and the turn went on; the tokens
    // are both steps', exactly.
    let s = w.wait_activity(&allowed, "ready");
    assert_eq!(
        std::fs::read_to_string(workspace_of(&s).join("out.txt")).unwrap(),
        "hi\n"
    );
    assert_tokens(&s, 110, 7);
    assert_cost(&s, cost(110, 7));
    let log = w.ao_ok(&["logs", &allowed]);
    let call = log
        .find("tool execute [completed] echo hi | tee out.txt")
        .expect(&log);
    let output = log.find("│ hi").expect(&log);
    let answer = log.find("agent: Wrote it.").expect(&log);
    assert!(call < output && output < answer, "{log}");
    assert!(log.contains("step end_turn: 110 in, 7 out"), "{log}");

    // Rejected: the command never ran, and Codex ended the turn there (its one reject option
    // aborts it). Codex never counts the reply it aborted, though the provider was paid for it:
    // ao shows no tokens, and no cost, rather than too few.
    let s = w.wait_activity(&rejected, "ready");
    assert!(!workspace_of(&s).join("no.txt").exists());
    assert_eq!(s["tokens"], Value::Null, "{s:#}");
    assert_eq!(s["cost_usd"], Value::Null, "{s:#}");
    let log = w.ao_ok(&["logs", &rejected]);
    let call = log
        .find("tool execute [error] echo no > no.txt")
        .expect(&log);
    let end = log.find("step cancelled").expect(&log);
    assert!(call < end, "{log}");
    assert!(!log.contains("Left it alone."), "{log}");
    // The conversation goes on with the next message.
    w.ao_ok(&["send", &rejected, "never mind"]);
    wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
        let log = w.ao_ok(&["logs", &rejected]);
        match log.contains("agent: Left it alone.") {
            true => Ok(()),
            false => Err(format!("the second turn never answered:\n{log}")),
        }
    });
    assert!(!workspace_of(&s).join("no.txt").exists());

    // A plan: Codex's update_plan is the session's to-do list.
    let s = w.wait_activity(&planned, "ready");
    assert_eq!(s["todos"], json!({"done": 1, "total": 2}), "{s:#}");
    assert_tokens(&s, 85, 6);
    assert_cost(&s, cost(85, 6));

    // Codex killed mid-turn (no cancel reaches it, so it writes no abort): the reply it was
    // acting on (50/5) is in none of its counts. After restore and one more turn its file's sum
    // is that turn's alone (60/2): ao must show unknown tokens and cost, not that short sum.
    w.wait_activity(&cut, "waiting_input");
    let agent = w.agent_process(&cut);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The process is gone; the turn it cut shows as the session's error.
    w.wait_for(&cut, Duration::from_secs(30), "process exited", |s| {
        s["process"] == "exited"
    });
    w.ao_ok(&["restore", &cut]);
    let s = w.wait_activity(&cut, "ready");
    assert_eq!(s["tokens"], Value::Null, "{s:#}");
    assert_eq!(s["cost_usd"], Value::Null, "{s:#}");
    w.ao_ok(&["send", &cut, "go on"]);
    wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
        let log = w.ao_ok(&["logs", &cut]);
        match log.contains("agent: Carried on.") {
            true => Ok(()),
            false => Err(format!("the turn after restore never answered:\n{log}")),
        }
    });
    let s = w.wait_activity(&cut, "ready");
    assert_eq!(s["tokens"], Value::Null, "{s:#}");
    assert_eq!(s["cost_usd"], Value::Null, "{s:#}");

    for id in [&allowed, &rejected, &planned, &cut] {
        let (host, agent) = (w.host_process(id), w.agent_process(id));
        w.ao_ok(&["kill", id]);
        wait_gone(host, "the host after ao kill", GONE);
        wait_gone(agent, "codex-acp after ao kill", GONE);
    }
}
