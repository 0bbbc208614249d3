//! Three agents side by side, offline: an OpenCode session, a Claude Code session (`agent:
//! claude`) and a Codex session (`agent: codex`), each in a project of its own on the one mock
//! model (which serves each its own API), as a person sees them: `ao status`, the live dashboard
//! `ao watch` in a terminal, and the web dashboard in a browser, each session named by its agent.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ao_test_support::acp::{assert_tokens, spawn, AcpWorld};
use ao_test_support::claude::claude_config;
use ao_test_support::codex::{codex_config, price_line, write_codex_home};
use ao_test_support::{script, shell_quote, Browser, Scenario, Turn};
use nix::sys::signal::Signal;

const SHOWN: Duration = Duration::from_secs(30);

/// Each project, its agent, the prompt its session gets, and the tokens its reply reports.
const SESSIONS: [(&str, &str, &str, (u64, u64)); 3] = [
    ("web", "opencode", "hello from the web project", (110, 7)),
    ("api", "claude", "hello from the api project", (120, 8)),
    ("cli", "codex", "hello from the cli project", (130, 9)),
];

#[test]
fn opencode_claude_and_codex_sessions_show_side_by_side_each_named_by_its_agent() {
    let mut scenario = Scenario::new();
    for (project, _, prompt, (input, output)) in SESSIONS {
        scenario = scenario.script(
            script(prompt).turn(Turn::text(format!("Hello from {project}.")).usage(input, output)),
        );
    }
    let mut w = AcpWorld::new(scenario);
    w.opencode_project("web", &[]);
    let claude = claude_config(&w, &[]);
    w.agent_project("api", "claude", claude);
    let codex_home = write_codex_home(&w, "cli");
    w.agent_project("cli", "codex", codex_config(&codex_home, &[&price_line()]));

    // One in tmux, two as processes: every runtime shows alike.
    let ids: Vec<String> = SESSIONS
        .iter()
        .map(|(project, agent, prompt, _)| {
            let runtime = if *agent == "claude" {
                "tmux"
            } else {
                "process"
            };
            spawn(&w, project, "one", prompt, runtime)
        })
        .collect();
    for (id, (_, agent, _, (input, output))) in ids.iter().zip(SESSIONS) {
        let s = w.wait_activity(id, "ready");
        assert_eq!(s["agent"], agent, "{s:#}");
        assert_tokens(&s, input, output);
    }

    // `ao status`: an AGENT column, each row its session's agent.
    let table = w.ao_ok(&["status"]);
    assert!(table.lines().next().unwrap().contains("AGENT"), "{table}");
    for (id, (_, agent, _, _)) in ids.iter().zip(SESSIONS) {
        let row = table.lines().find(|l| l.contains(id.as_str()));
        assert!(
            row.is_some_and(|r| r.split_whitespace().any(|word| word == agent)),
            "{id} is not shown as {agent}'s:\n{table}"
        );
    }

    // `ao watch`: the same, live, in a person's terminal.
    let ao = shell_quote(&w.ao_script().to_string_lossy());
    let terminal = w.terminal("watch", &format!("unset TMUX; exec {ao} watch"));
    // The table groups sessions under their project's line: `api (1)`, then `one  ready ...`.
    let shown = |screen: &str, project: &str, agent: &str| {
        let lines: Vec<&str> = screen.lines().collect();
        lines.windows(2).any(|pair| {
            pair[0].trim_start().starts_with(&format!("{project} (1)"))
                && pair[1].split_whitespace().any(|word| word == "one")
                && pair[1].split_whitespace().any(|word| word == agent)
                && pair[1].contains("ready")
        })
    };
    let screen = w.wait_screen(&terminal, SHOWN, "the three sessions", |screen| {
        screen.contains("AGENT")
            && SESSIONS
                .iter()
                .all(|(project, agent, _, _)| shown(screen, project, agent))
    });
    assert!(!screen.contains("error"), "{screen}");
    terminal.keys(&["q"]);

    // The web dashboard: each session's card names its agent.
    let mut dashboard = w.dashboard(&[]);
    let browser = Browser::start(&w.root().join("chromium"), 1280, 860);
    browser.goto(&dashboard.url);
    for (id, (_, agent, _, _)) in ids.iter().zip(SESSIONS) {
        let card = format!("article.session[data-id=\"{id}\"] .agent");
        browser.wait_text(&card, SHOWN, &format!("{id}'s agent"), |t| t == agent);
    }
    drop(browser);
    assert!(dashboard.process.stop_with(Signal::SIGTERM).success());
}
