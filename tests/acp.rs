//! ACP sessions on a real ACP agent: `opencode acp` (the pinned OpenCode 1.18.33) on the mock
//! model, given its whole config in `OPENCODE_CONFIG_CONTENT` through `agentConfig.env`. A session
//! in each runtime reaches `ready` with the exact tokens and cost OpenCode reports; a bash call
//! that OpenCode asks about waits for `ao permit`, which lets it run or (`--reject`) stops it;
//! `send` runs another turn; `kill` leaves no process and `restore` keeps the history; `ao watch`
//! shows the ACP session beside an OpenCode one.
//!
//! What `opencode acp` 1.18.33 reports, measured: `usage` in each prompt's result, the last model
//! step's only (a turn of steps 50/5 and 60/2 reports 60/2), so ao shows no tokens (`null`) once
//! a turn ran a tool, and a turn's tokens when it ran none (one step: the report is whole); and,
//! after each turn, a `usage_update` whose `cost` is the session's whole cost so far, exact (the
//! mock's price is 3 and 15 dollars per million tokens, so 50/5 + 60/2 cost 0.000435).
//!
//! The config these tests write (see `ao_test_support::acp`):
//!
//! ```yaml
//! projects:
//!   - name: acp
//!     path: projects/acp
//!     agent: acp
//!     agentConfig:
//!       command: ["/…/opencode", acp, --pure]
//!       env:
//!         OPENCODE_CONFIG_CONTENT: "{\"provider\": {\"mock\": …}, \"model\": \"mock/mock-1\", \"permission\": {\"bash\": \"ask\"}}"
//!         XDG_DATA_HOME: "/…"          # and the other XDG homes, isolated as for OpenCode
//!       permission: {execute: ask}
//! ```

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ao_test_support::acp::{assert_tokens, permit_execute, spawn, wait_gone, AcpWorld, Story};
use ao_test_support::{assert_cost, script, shell_quote, workspace_of, Scenario, Turn};
use serde_json::{json, Value};

const GONE: Duration = Duration::from_secs(15);

fn bash(command: &str) -> Turn {
    Turn::tool_call("bash", json!({"command": command, "description": "Run it"}))
}

/// What the mock's price makes of these tokens (OpenCode's own cost).
fn cost(input: u64, output: u64) -> f64 {
    (input as f64 * 3.0 + output as f64 * 15.0) / 1e6
}

/// A world with one ACP project, `acp`: `opencode acp` on the mock model, which asks before
/// bash (its own `permission`), and whose asks wait for a person (ao's `permission`).
fn world(scenario: Scenario) -> AcpWorld {
    let mut w = AcpWorld::new(scenario);
    let config = w.opencode_acp_config(
        json!({"permission": {"bash": "ask"}}),
        &["permission: {execute: ask}"],
    );
    w.acp_project("acp", config);
    w
}

#[test]
fn sessions_reach_ready_with_exact_usage_go_on_and_come_back_after_kill() {
    let mut w = world(
        Scenario::new()
            .script(
                script("hello from process")
                    .turn(Turn::text("Hello from the mock.").usage(110, 7))
                    .turn(Turn::text("Hello again.").usage(130, 9))
                    .turn(Turn::text("Third time.").usage(150, 11)),
            )
            .script(script("hello from tmux").turn(Turn::text("Hello in the pane.").usage(110, 7)))
            .script(
                script("hello opencode").turn(Turn::text("Hello from OpenCode.").usage(120, 4)),
            ),
    );
    w.opencode_project("oc", &[]);
    let process = spawn(&w, "acp", "proc", "hello from process", "process");
    let pane = spawn(&w, "acp", "pane", "hello from tmux", "tmux");
    let plain = spawn(&w, "oc", "plain", "hello opencode", "process");

    // Each runtime: ready, with the one step's tokens and OpenCode's own cost.
    for (id, runtime) in [(&process, "process"), (&pane, "tmux")] {
        let s = w.wait_activity(id, "ready");
        assert_eq!(s["agent"], "acp", "{s:#}");
        assert_eq!(s["runtime"], runtime, "{s:#}");
        assert!(
            s["agent_session_id"]
                .as_str()
                .is_some_and(|a| a.starts_with("acp-")),
            "{s:#}"
        );
        assert_tokens(&s, 110, 7);
        assert_cost(&s, cost(110, 7));
        assert_eq!(s["error"], Value::Null, "{s:#}");
    }
    // The tmux pane is the host, showing the conversation.
    w.wait_pane(
        &pane,
        true,
        Duration::from_secs(30),
        "the answer",
        |screen| screen.contains("Hello in the pane."),
    );

    // `ao watch`: the ACP sessions beside the OpenCode one, each as it is.
    w.wait_activity(&plain, "ready");
    let ao = shell_quote(&w.ao_script().to_string_lossy());
    let t = w.sized_terminal(
        "watch",
        &format!("unset TMUX; {ao} watch; echo WATCH-ENDED $?; PS1='PROMPT$ ' exec sh -i"),
        120,
        30,
    );
    // Rows are grouped by project, each named by the session's name under its project's row.
    let row = |screen: &str, id: &str| -> String {
        let name = id.split_once('/').map_or(id, |(_, n)| n);
        screen
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|w| w == name || w == ">")
                    && l.contains(&format!(" {name} "))
            })
            .unwrap_or_else(|| panic!("no row of {id}:\n{screen}"))
            .to_string()
    };
    let screen = w.wait_screen(&t, Duration::from_secs(60), "all three sessions", |s| {
        s.contains("acp (2)")
            && s.contains("oc (1)")
            && [&process, &pane, &plain].iter().all(|id| {
                s.lines().any(|l| {
                    l.contains(&format!(
                        " {} ",
                        id.split_once('/').map_or(id.as_str(), |(_, n)| n)
                    ))
                })
            })
    });
    for id in [&process, &pane, &plain] {
        assert!(row(&screen, id).contains("ready"), "{screen}");
    }
    // With sessions of two agents, each row names its agent.
    assert!(row(&screen, &plain).contains("opencode"), "{screen}");
    assert!(
        row(&screen, &process)
            .split_whitespace()
            .any(|w| w == "acp"),
        "{screen}"
    );
    t.keys(&["q"]);
    let screen = w.wait_screen(&t, Duration::from_secs(20), "the shell again", |s| {
        s.contains("PROMPT$")
    });
    assert!(screen.contains("WATCH-ENDED 0"), "{screen}");

    // A second turn, kill, restore (the same conversation, session/load), a third turn.
    let story = Story {
        w: &w,
        id: &process,
        agent: "opencode acp",
        first_answer: "Hello from the mock.",
    };
    assert_cost(&story.second_turn(), cost(240, 16));
    story.kill_and_restore();
    assert_cost(&story.third_turn(), cost(390, 27));

    // kill in tmux: the pane's host, the agent and the tmux session end.
    let (host, agent) = (w.host_process(&pane), w.agent_process(&pane));
    w.ao_ok(&["kill", &pane]);
    wait_gone(host, "the host in the pane after ao kill", GONE);
    wait_gone(agent, "opencode acp after ao kill", GONE);
    assert!(
        !w.tmux_sessions().contains(&pane),
        "{:?}",
        w.tmux_sessions()
    );
}

#[test]
fn a_bash_call_waits_for_ao_permit_which_runs_it_or_rejects_it() {
    let w = world(
        Scenario::new()
            .script(
                script("run allowed")
                    .turn(bash("echo hi > out.txt").usage(50, 5))
                    .turn(Turn::text("Wrote it.").usage(60, 2)),
            )
            .script(
                script("run rejected")
                    .turn(bash("echo no > no.txt").usage(50, 5))
                    .turn(Turn::text("Never sent.").usage(60, 2)),
            ),
    );
    let allowed = spawn(&w, "acp", "allowed", "run allowed", "process");
    let rejected = spawn(&w, "acp", "rejected", "run rejected", "tmux");
    let options = json!([
        {"id": "once", "name": "Allow once", "kind": "allow_once"},
        {"id": "always", "name": "Always allow", "kind": "allow_always"},
        {"id": "reject", "name": "Reject", "kind": "reject_once"},
    ]);

    for (id, command, flag, verb) in [
        (&allowed, "echo hi > out.txt", "--once", "allowed once"),
        (&rejected, "echo no > no.txt", "--reject", "rejected"),
    ] {
        permit_execute(
            &w,
            id,
            command,
            |p| assert_eq!(p["options"], options, "{p}"),
            flag,
            verb,
        );
    }

    // Allowed: the command ran, the turn went on for a second step. OpenCode reports that last
    // step's tokens only (60/2), which is not what the turn spent: ao shows none. Its cost is the
    // whole turn's.
    let s = w.wait_activity(&allowed, "ready");
    assert_eq!(
        std::fs::read_to_string(workspace_of(&s).join("out.txt")).unwrap(),
        "hi\n"
    );
    assert_eq!(s["tokens"], Value::Null, "{s:#}");
    assert_cost(&s, cost(50, 5) + cost(60, 2));
    let log = w.ao_ok(&["logs", &allowed]);
    assert!(
        log.contains("tool execute [completed] echo hi > out.txt"),
        "{log}"
    );
    assert!(log.contains("agent: Wrote it."), "{log}");
    assert!(log.contains("step end_turn: - in, - out"), "{log}");

    // Rejected: the command never ran, and the turn ended after its one step, whose tokens are
    // the whole turn's.
    let s = w.wait_activity(&rejected, "ready");
    assert!(!workspace_of(&s).join("no.txt").exists());
    assert_tokens(&s, 50, 5);
    assert_cost(&s, cost(50, 5));
    let log = w.ao_ok(&["logs", &rejected]);
    assert!(
        log.contains("tool execute [error] echo no > no.txt"),
        "{log}"
    );
    assert!(!log.contains("Never sent."), "{log}");
    assert!(log.contains("step end_turn: 50 in, 5 out"), "{log}");

    // Nothing is left of either after kill.
    for id in [&allowed, &rejected] {
        let (host, agent) = (w.host_process(id), w.agent_process(id));
        w.ao_ok(&["kill", id]);
        wait_gone(host, "the host after ao kill", GONE);
        wait_gone(agent, "opencode acp after ao kill", GONE);
    }
}
