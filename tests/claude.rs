//! Claude Code sessions (`agent: claude`: the pinned `claude-agent-acp` 0.101.0, Claude Code
//! 2.1.318) on the mock model's Anthropic Messages API, offline. A session in each runtime
//! reaches `ready` with the exact tokens Claude reports and the cost it computes; a shell call
//! under `execute: ask` waits for `ao permit`, which lets it run or (`--reject`) stops it while the
//! turn goes on; `send` runs another turn; `kill` then `restore` keeps the history (Claude loads
//! its session); a request the mock fails (400) blocks the session with the provider's message;
//! a plan and a question come through. `permission` picks Claude's mode (all allowed:
//! `bypassPermissions`, which asks nothing; otherwise `default`, whose asks ao answers by kind),
//! and `model: sonnet` picks Claude's Sonnet, at its price.
//!
//! What Claude Code reports, measured (/work/notes/claude-facts.md): each turn's tokens in the
//! prompt's result, its main requests summed (its side requests, such as the session's title,
//! left out); and, after each turn, a `usage_update` whose `cost` is the session's whole cost so
//! far, the title's request included, at Claude's own price for its model (`claude-opus-5-5`,
//! which the mock serves under that name: $4 / $20 per million tokens). The title is asked for
//! once, as the first prompt is sent, and counted in the turn during which it finished: the first
//! turns here wait a little, so that it is usually the first, but on a loaded machine it may be
//! the second, and the first turn's cost is then its main requests' alone.
//!
//! The config these tests write (see `ao_test_support::claude`):
//!
//! ```yaml
//! projects:
//!   - name: claude
//!     path: projects/claude
//!     agent: claude
//!     agentConfig:
//!       env:
//!         ANTHROPIC_BASE_URL: "http://127.0.0.1:PORT"
//!         ANTHROPIC_API_KEY: "mock-key"
//!         CLAUDE_CONFIG_DIR: "/…/claude"
//!       permission: {execute: ask}
//! ```

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ao_test_support::acp::{
    assert_tokens, permit_execute, spawn, wait_gone, wait_ready_with, AcpWorld, Story,
};
use ao_test_support::claude::{
    claude_config, claude_world, session_cost, session_cost_before_title, DEFAULT_MODEL, PRICE,
    SONNET_MODEL, SONNET_PRICE,
};
use ao_test_support::{error_of, script, workspace_of, Scenario, Turn};
use serde_json::{json, Value};

const GONE: Duration = Duration::from_secs(15);

/// Long enough for the title's request, sent beside the first, to be answered first.
const FIRST_TURN_DELAY_MS: u64 = 700;

fn bash(command: &str) -> Turn {
    Turn::tool_call("bash", json!({"command": command, "description": "Run it"}))
}

/// Waits (20 s: the turn has ended) until the session's cost is what Claude charges for the
/// requests the mock answered for it (by the words of its first prompt), title included, and
/// returns the session: after a second turn, by whose end the title's request has been answered.
fn wait_cost(w: &AcpWorld, scenario: &Scenario, id: &str, prompt: &str) -> Value {
    wait_cost_at(w, scenario, id, prompt, PRICE, Title::Counted)
}

/// Whether the session's title request must be in its cost yet.
#[derive(Clone, Copy, PartialEq)]
enum Title {
    /// After the first turn: Claude counts a request in the turn during which it finished, and
    /// its title request, sent beside the first prompt, may finish after that turn on a loaded
    /// machine (the first replies wait a little so that it usually finishes first).
    MayBeLate,
    /// Counted.
    Counted,
}

/// [`wait_cost`] after a session's first turn.
fn wait_first_cost(w: &AcpWorld, scenario: &Scenario, id: &str, prompt: &str) -> Value {
    wait_cost_at(w, scenario, id, prompt, PRICE, Title::MayBeLate)
}

/// [`wait_cost`] at `price` (the price of the model the session chose), the title counted or not
/// yet.
fn wait_cost_at(
    w: &AcpWorld,
    scenario: &Scenario,
    id: &str,
    prompt: &str,
    price: (f64, f64),
    title: Title,
) -> Value {
    let whole = |w: &AcpWorld| session_cost(scenario, &w.mock.requests(), prompt, price);
    let before_title =
        |w: &AcpWorld| session_cost_before_title(scenario, &w.mock.requests(), prompt, price);
    let what = format!("Claude's cost of its requests, ${:.9}", whole(w));
    w.wait_for(id, Duration::from_secs(20), &what, |s| {
        s["cost_usd"].as_f64().is_some_and(|c| {
            (c - whole(w)).abs() < 1e-9
                || (title == Title::MayBeLate && (c - before_title(w)).abs() < 1e-9)
        })
    })
}

fn sessions_scenario() -> Scenario {
    Scenario::new()
        .script(
            script("hello from process")
                .turn(
                    Turn::text("Hello from the mock.")
                        .usage(110, 7)
                        .delay_ms(FIRST_TURN_DELAY_MS),
                )
                .turn(Turn::text("Hello again.").usage(130, 9))
                .turn(Turn::text("Third time.").usage(150, 11)),
        )
        .script(
            script("hello from tmux").turn(
                Turn::text("Hello in the pane.")
                    .usage(110, 7)
                    .delay_ms(FIRST_TURN_DELAY_MS),
            ),
        )
}

#[test]
fn sessions_reach_ready_with_claude_s_tokens_and_cost_go_on_and_come_back_after_kill() {
    let scenario = sessions_scenario();
    let w = claude_world(scenario.clone(), &["permission: {execute: ask}"]);
    let process = spawn(&w, "claude", "proc", "hello from process", "process");
    let pane = spawn(&w, "claude", "pane", "hello from tmux", "tmux");

    for (id, runtime, prompt) in [
        (&process, "process", "hello from process"),
        (&pane, "tmux", "hello from tmux"),
    ] {
        let s = w.wait_activity(id, "ready");
        assert_eq!(s["agent"], "claude", "{s:#}");
        assert_eq!(s["runtime"], runtime, "{s:#}");
        assert_tokens(&s, 110, 7);
        assert_eq!(s["error"], Value::Null, "{s:#}");
        let s = wait_first_cost(&w, &scenario, id, prompt);
        assert_eq!(s["summary"], "Mock session", "{s:#}");
        // The model Claude ran on, which it names beside its usage (its `model` option says
        // `default`).
        assert_eq!(s["model"], DEFAULT_MODEL, "{s:#}");
    }
    w.wait_pane(
        &pane,
        true,
        Duration::from_secs(30),
        "the answer",
        |screen| screen.contains("Hello in the pane."),
    );

    // A second turn, kill, restore (Claude loads the same session), a third turn.
    let story = Story {
        w: &w,
        id: &process,
        agent: "claude-agent-acp",
        first_answer: "Hello from the mock.",
    };
    story.second_turn();
    wait_cost(&w, &scenario, &process, "hello from process");
    let s = story.kill_and_restore();
    // The model Claude ran on, kept through the load (its model option says `default`).
    assert_eq!(s["model"], DEFAULT_MODEL, "{s:#}");
    story.third_turn();
    // Claude restores its cost from its own transcript on a load; a title counted after the
    // first turn (a loaded machine) was seen missing from it, so either figure is Claude's.
    wait_cost_at(
        &w,
        &scenario,
        &process,
        "hello from process",
        PRICE,
        Title::MayBeLate,
    );

    // kill in tmux: the pane's host, the agent and the tmux session end.
    let (host, agent) = (w.host_process(&pane), w.agent_process(&pane));
    w.ao_ok(&["kill", &pane]);
    wait_gone(host, "the host in the pane after ao kill", GONE);
    wait_gone(agent, "claude-agent-acp after ao kill", GONE);
    assert!(
        !w.tmux_sessions().contains(&pane),
        "{:?}",
        w.tmux_sessions()
    );
}

fn asks_scenario() -> Scenario {
    Scenario::new()
        .script(
            script("[allow] make a file")
                .turn(bash("touch allowed.txt && echo made-it").usage(200, 20))
                .turn(Turn::text("Made it.").usage(230, 5))
                .turn(Turn::text("Once more.").usage(250, 3)),
        )
        .script(
            script("[reject] make a file")
                .turn(bash("touch rejected.txt").usage(200, 20))
                .turn(Turn::text("Left it alone.").usage(240, 6)),
        )
        .script(
            script("[fail] the request").turn(Turn::error(400, "mock credit is gone")),
        )
        .script(
            script("[plan] some steps")
                .turn(Turn::tool_call(
                    "TodoWrite",
                    json!({"todos": [
                        {"content": "Read the code", "status": "completed", "activeForm": "Reading the code"},
                        {"content": "Write the fix", "status": "in_progress", "activeForm": "Writing the fix"},
                        {"content": "Run the tests", "status": "pending", "activeForm": "Running the tests"}
                    ]}),
                ))
                .turn(Turn::text("Planned.")),
        )
        .script(
            script("[ask] pick a colour")
                .turn(Turn::tool_call(
                    "AskUserQuestion",
                    json!({"questions": [{"question": "Which colour?", "header": "Colour",
                        "multiSelect": false, "options": [
                            {"label": "Red", "description": "warm"},
                            {"label": "Blue", "description": "cold"}]}]}),
                ))
                .turn(Turn::text("Blue it is.")),
        )
        .script(
            script("[free] make a file")
                .turn(bash("touch free.txt").usage(200, 20))
                .turn(Turn::text("Made it freely.").usage(230, 5)),
        )
        .script(
            script("[policy] make a file")
                .turn(bash("touch policy.txt").usage(200, 20))
                .turn(Turn::text("Made it by policy.").usage(230, 5)),
        )
}

#[test]
fn a_shell_call_waits_for_permit_a_failed_request_blocks_and_plans_and_questions_come_through() {
    let scenario = asks_scenario();
    let mut w = claude_world(scenario.clone(), &["permission: {execute: ask}"]);
    // Everything allowed: Claude's mode asks nothing (bypassPermissions); and a model of
    // Claude's choosing, at its price. Commands allowed but edits not: Claude asks (mode
    // default), and ao answers by the policy.
    let config = claude_config(&w, &["permission: allow", "model: sonnet"]);
    w.agent_project("free", "claude", config);
    let config = claude_config(&w, &["permission: {execute: allow, edit: ask}"]);
    w.agent_project("policy", "claude", config);
    let free = spawn(&w, "free", "free", "[free] make a file", "tmux");
    let policy = spawn(&w, "policy", "policy", "[policy] make a file", "tmux");
    let allowed = spawn(&w, "claude", "allowed", "[allow] make a file", "process");
    let rejected = spawn(&w, "claude", "rejected", "[reject] make a file", "tmux");
    let failed = spawn(&w, "claude", "failed", "[fail] the request", "process");
    let planned = spawn(&w, "claude", "planned", "[plan] some steps", "process");
    let asked = spawn(&w, "claude", "asked", "[ask] pick a colour", "process");
    let options = json!([
        {"id": "allow-once", "name": "Yes", "kind": "allow_once"},
        {"id": "reject", "name": "No", "kind": "reject_once"},
    ]);

    for (id, command, flag, verb) in [
        (
            &allowed,
            "touch allowed.txt && echo made-it",
            "--once",
            "allowed once",
        ),
        (&rejected, "touch rejected.txt", "--reject", "rejected"),
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

    // Allowed: the command ran and the turn went on; the turn's tokens are both steps'. A
    // second turn adds its own, and the log holds both turns, the call and what it printed.
    let s = wait_ready_with(&w, &allowed, 430, 25);
    assert!(workspace_of(&s).join("allowed.txt").exists(), "{s:#}");
    wait_first_cost(&w, &scenario, &allowed, "[allow] make a file");
    w.ao_ok(&["send", &allowed, "one more turn"]);
    wait_ready_with(&w, &allowed, 680, 28);
    wait_cost(&w, &scenario, &allowed, "[allow] make a file");
    let log = w.ao_ok(&["logs", &allowed]);
    let lines = [
        "you: [allow] make a file",
        "tool execute [completed] touch allowed.txt && echo made-it",
        "│ made-it",
        "agent: Made it.",
        "step end_turn: 430 in, 25 out",
        "you: one more turn",
        "agent: Once more.",
        "step end_turn: 250 in, 3 out",
    ];
    let mut from = 0;
    for line in lines {
        let at = log[from..]
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} missing (in order) from:\n{log}"));
        from += at + line.len();
    }

    // Rejected: the command never ran, and the model heard so and went on.
    let s = wait_ready_with(&w, &rejected, 440, 26);
    assert!(!workspace_of(&s).join("rejected.txt").exists(), "{s:#}");
    let log = w.ao_ok(&["logs", &rejected]);
    assert!(
        log.contains("tool execute [error] touch rejected.txt"),
        "{log}"
    );
    assert!(log.contains("User refused permission to run tool"), "{log}");
    assert!(log.contains("agent: Left it alone."), "{log}");

    // Allowed by the project: the commands ran without a person. Claude asked nothing in
    // bypassPermissions; in default it asked, and the host's pane notes ao's answer.
    for (id, file) in [(&free, "free.txt"), (&policy, "policy.txt")] {
        let s = wait_ready_with(&w, id, 430, 25);
        assert!(workspace_of(&s).join(file).exists(), "{s:#}");
    }
    let by_policy = "allow by agentConfig.permission";
    let screen = w.wait_pane(&policy, true, Duration::from_secs(20), by_policy, |s| {
        s.contains("Made it by policy.")
    });
    assert!(screen.contains(by_policy), "{screen}");
    let screen = w.wait_pane(&free, true, Duration::from_secs(20), "the answer", |s| {
        s.contains("Made it freely.")
    });
    assert!(!screen.contains(by_policy), "{screen}");
    let s = wait_cost_at(
        &w,
        &scenario,
        &free,
        "[free] make a file",
        SONNET_PRICE,
        Title::MayBeLate,
    );
    assert_eq!(s["model"], SONNET_MODEL, "{s:#}");

    // A failed request: blocked, with what the provider said. (Claude retries a 400 a few times
    // in two seconds; a 500 or a 529 it retries for minutes.)
    let s = w.wait_activity(&failed, "blocked");
    assert_eq!(
        error_of(&s),
        (
            "AgentError".to_string(),
            "Internal error: API Error: 400 mock credit is gone".to_string()
        ),
        "{s:#}"
    );

    // A plan: Claude shows the model's todo list as the session's plan.
    let s = w.wait_activity(&planned, "ready");
    assert_eq!(s["todos"], json!({"done": 1, "total": 3}), "{s:#}");
    let show = w.ao_ok(&["show", &planned]);
    assert!(show.contains("Plan 1/3"), "{show}");

    // A question: Claude's AskUserQuestion is a form ao holds for a person: the choice, and a
    // free text Claude adds to every question.
    let s = w.wait_activity(&asked, "waiting_input");
    let pending = s["pending"].as_array().expect("pending");
    assert_eq!(pending.len(), 1, "{s:#}");
    let id = pending[0]["id"].as_str().expect("an id");
    assert_eq!(
        pending[0],
        json!({"kind": "question", "id": id, "title": "Which colour?", "questions": [
            {"question": "Colour", "options": ["Red", "Blue"]},
            {"question": "Other (Type your own answer, or add a note to the option you chose \
                          above (optional).)", "options": []}
        ]}),
        "{s:#}"
    );
    w.ao_ok(&["answer", &asked, "Blue", ""]);
    w.wait_activity(&asked, "ready");
    let log = w.ao_ok(&["logs", &asked]);
    assert!(log.contains("agent: Blue it is."), "{log}");
    let second = w
        .mock
        .requests()
        .into_iter()
        .rfind(|r| r.script.as_deref() == Some("[ask] pick a colour") && r.turn_index == Some(1))
        .expect("the request after the answer");
    assert!(
        second
            .body
            .to_string()
            .contains(r#"\"Which colour?\"=\"Blue\""#),
        "{}",
        second.body
    );
}
