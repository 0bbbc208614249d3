//! Claude Code sessions in a test's world: projects whose agent is `claude` (the pinned
//! `claude-agent-acp` that `AO_CLAUDE_ACP_BIN` names) on the mock model's Anthropic Messages
//! API, and what Claude Code makes of the mock's usage: its cost.
//!
//! Claude Code is pointed at the mock through `agentConfig.env` (`ANTHROPIC_BASE_URL`, a dummy
//! `ANTHROPIC_API_KEY`), with its configuration (and the transcripts `session/load` reads) in a
//! directory of the world's own (`CLAUDE_CONFIG_DIR`). The preset adds the rest: no traffic
//! but the model's, no prompt suggestions, and `IS_SANDBOX` when the suite runs as root.

use std::path::PathBuf;

use ao_mock_model::{RecordedRequest, Scenario, Turn, Usage, SIDE_USAGE};

use crate::acp::{yaml_string, AcpWorld};

/// The model Claude Code asks for when the project chooses none.
pub const DEFAULT_MODEL: &str = "claude-opus-5-5";

/// What Claude Code 2.1.318 charges per million input and output tokens of its default model,
/// `claude-opus-5-5` (and of a model it does not know, such as the mock's): 4 and 20 dollars.
pub const PRICE: (f64, f64) = (4.0, 20.0);

/// The model `model: sonnet` chooses.
pub const SONNET_MODEL: &str = "claude-sonnet-5-5";

/// What Claude Code 2.1.318 charges per million input and output tokens of `claude-sonnet-5-5`.
pub const SONNET_PRICE: (f64, f64) = (2.0, 10.0);

/// Claude Code's configuration directory in a world (`CLAUDE_CONFIG_DIR`).
pub fn config_dir(w: &AcpWorld) -> PathBuf {
    w.root().join("claude")
}

/// `agentConfig` lines of a project whose agent is `claude` on the world's mock model, then
/// `more` lines (`permission: ...`).
pub fn claude_config(w: &AcpWorld, more: &[&str]) -> Vec<String> {
    let env = [
        ("ANTHROPIC_BASE_URL", w.mock.anthropic_base_url()),
        ("ANTHROPIC_API_KEY", "mock-key".to_string()),
        (
            "CLAUDE_CONFIG_DIR",
            config_dir(w).to_string_lossy().into_owned(),
        ),
    ];
    let mut lines = vec!["env:".to_string()];
    lines.extend(
        env.iter()
            .map(|(k, v)| format!("  {k}: {}", yaml_string(v))),
    );
    lines.extend(more.iter().map(|l| l.to_string()));
    lines
}

/// A world with one Claude Code project, `claude`, whose `agentConfig` holds `more` lines too.
pub fn claude_world(scenario: Scenario, more: &[&str]) -> AcpWorld {
    let mut w = AcpWorld::new(scenario);
    let config = claude_config(&w, more);
    w.agent_project("claude", "claude", config);
    w
}

/// What one model request reported, as the scenario answered it: a side request's
/// [`SIDE_USAGE`], a scripted turn's usage, the mock's "Done." past a script's end; nothing for
/// a reply without usage (an error, a cut stream).
pub fn reported_usage(scenario: &Scenario, request: &RecordedRequest) -> Option<Usage> {
    if request.is_side {
        return Some(SIDE_USAGE);
    }
    let name = request.script.as_deref()?;
    let script = scenario
        .scripts
        .iter()
        .find(|s| s.name == name)
        .unwrap_or(&scenario.default);
    match script.turns.get(request.turn_index?) {
        None => Some(Usage::new(10, 2)),
        Some(Turn::Text { usage, .. })
        | Some(Turn::ToolCall { usage, .. })
        | Some(Turn::ToolCalls { usage, .. }) => Some(usage.unwrap_or_default()),
        Some(_) => None,
    }
}

/// What Claude Code charges for `usage` at `price` (dollars per million input and output
/// tokens; no cached tokens).
pub fn cost_of(usage: &Usage, price: (f64, f64)) -> f64 {
    (usage.prompt_tokens as f64 * price.0 + usage.completion_tokens as f64 * price.1) / 1e6
}

/// What the requests that a session (the words of its first prompt, the script's `match`) made
/// the mock answer cost at `price`, its title included: what Claude Code reports as the
/// session's cost. A side request belongs to the session whose prompt its text holds.
pub fn session_cost(
    scenario: &Scenario,
    requests: &[RecordedRequest],
    prompt: &str,
    price: (f64, f64),
) -> f64 {
    requests
        .iter()
        .filter(|r| r.first_user_text().contains(prompt))
        .filter_map(|r| reported_usage(scenario, r))
        .map(|u| cost_of(&u, price))
        .sum()
}

/// [`session_cost`] without the side requests (the title): what Claude reports at the end of a
/// turn during which its title request had not yet been answered (it counts a request in the
/// turn during which it finished).
pub fn session_cost_before_title(
    scenario: &Scenario,
    requests: &[RecordedRequest],
    prompt: &str,
    price: (f64, f64),
) -> f64 {
    let main: Vec<RecordedRequest> = requests.iter().filter(|r| !r.is_side).cloned().collect();
    session_cost(scenario, &main, prompt, price)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script;
    use serde_json::json;

    fn recorded(
        seq: u64,
        script: Option<&str>,
        turn: Option<usize>,
        text: &str,
    ) -> RecordedRequest {
        RecordedRequest {
            seq,
            path: "/v1/messages".into(),
            is_side: script.is_none(),
            script: script.map(String::from),
            turn_index: turn,
            turn_kind: if script.is_none() { "title" } else { "text" }.into(),
            stream: true,
            body: json!({"messages": [{"role": "user", "content": text}]}),
        }
    }

    #[test]
    fn a_session_costs_its_requests_and_its_title_at_claude_s_price() {
        let scenario = Scenario::new()
            .script(
                script("first one")
                    .turn(Turn::text("a").usage(110, 7))
                    .turn(Turn::error(400, "no")),
            )
            .script(script("other one").turn(Turn::text("b").usage(1000, 1000)));
        let requests = [
            recorded(0, Some("first one"), Some(0), "first one"),
            recorded(1, None, None, "<session>\nfirst one\n</session>"),
            recorded(2, Some("first one"), Some(1), "first one"),
            recorded(3, Some("first one"), Some(2), "first one"),
            recorded(4, Some("other one"), Some(0), "other one"),
        ];
        let expected =
            (110.0 * 4.0 + 7.0 * 20.0 + 10.0 * 4.0 + 2.0 * 20.0) + (10.0 * 4.0 + 2.0 * 20.0);
        let cost = session_cost(&scenario, &requests, "first one", PRICE);
        assert!((cost - expected / 1e6).abs() < 1e-12, "{cost}");
    }

    #[test]
    fn the_config_points_claude_at_the_mock_with_its_own_directory() {
        let w = AcpWorld::new(Scenario::new());
        let lines = claude_config(&w, &["permission: {execute: ask}"]);
        assert_eq!(lines[0], "env:");
        assert_eq!(
            lines[1],
            format!(
                "  ANTHROPIC_BASE_URL: \"http://127.0.0.1:{}\"",
                w.mock.port()
            )
        );
        assert!(lines[3].contains(&*config_dir(&w).to_string_lossy()));
        assert_eq!(lines.last().unwrap(), "permission: {execute: ask}");
    }
}
