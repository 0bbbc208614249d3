//! `agent: claude`: Claude Code through its ACP adapter, `@agentclientprotocol/claude-agent-acp`.
//!
//! What the adapter does, measured with 0.101.0 (Claude Code 2.1.318; /work/notes/claude-facts.md
//! has the whole record):
//! - As root it refuses `session/new` ("--dangerously-skip-permissions cannot be used with
//!   root/sudo privileges") unless `IS_SANDBOX` is set, so ao sets it when it runs as root.
//! - Its session modes are `default` (asks before an edit or a command that changes something;
//!   read-only commands such as `ls` run unasked in every mode), `acceptEdits` (edits, and
//!   commands that only make or move files, such as `touch` and `mkdir`, run unasked), `plan`,
//!   `auto` (a model call decides instead of a person) and `bypassPermissions` (asks nothing).

use crate::record::{PermissionAnswer, PermissionPolicy, ToolKind};

/// What Claude Code gets unless the project sets it: no update checks, no traffic but the
/// model's, and no prompt suggestion after each turn (a model call whose answer ao never shows).
pub const DEFAULT_ENV: &[(&str, &str)] = &[
    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ("CLAUDE_CODE_ENABLE_PROMPT_SUGGESTION", "false"),
    ("DISABLE_AUTOUPDATER", "1"),
];

/// Added to [`DEFAULT_ENV`] for an ao that runs as root: without `IS_SANDBOX` the adapter
/// refuses every session as root. ao answers Claude's permission requests itself, by
/// `permission`, so the sandbox Claude asks for is the one the person configured.
pub const ROOT_ENV: &[(&str, &str)] = &[("IS_SANDBOX", "1")];

/// What Claude Code gets unless the project sets it, as this process runs (root or not).
pub fn default_env() -> Vec<(&'static str, &'static str)> {
    default_env_for(nix::unistd::geteuid().is_root())
}

/// What Claude Code gets unless the project sets it, when ao runs as root or not.
pub fn default_env_for(root: bool) -> Vec<(&'static str, &'static str)> {
    let root_env = if root { ROOT_ENV } else { &[] };
    DEFAULT_ENV.iter().chain(root_env).copied().collect()
}

/// What a person whose Claude Code has no credentials does.
pub const AUTH_HINT: &str = "Claude Code has no credentials: run `claude login`, or set \
                             ANTHROPIC_API_KEY (in the environment or agentConfig.env)";

/// What `ao init` writes under a new Claude Code project's `agentConfig`.
pub const CONFIG_TEMPLATE: &[&str] = &[
    "# Claude Code through its ACP adapter (scripts/install-agents; $AO_CLAUDE_ACP_BIN, else",
    "# claude-agent-acp on PATH). Its credentials are its own: `claude login` or ANTHROPIC_API_KEY.",
    "# model: sonnet",
    "# How ao answers what it asks, per ACP tool kind or one word for all: ask | allow | deny.",
    "# ao picks Claude's mode from it (default, acceptEdits, bypassPermissions); `mode` overrides.",
    "# Claude runs read-only commands (ls, cat) unasked in every mode: deny cannot stop those.",
    "# permission: {execute: ask, edit: allow}",
    "# env: {ANTHROPIC_BASE_URL: 'https://api.anthropic.com'}",
];

/// Claude Code's permission mode for `permission`: the mode that asks about everything ao is to
/// decide, and no more. Everything allowed: `bypassPermissions`, nothing is asked. Edits and
/// commands both allowed: `acceptEdits`, which lets edits and file-making commands run unasked.
/// Otherwise `default`, which asks before each edit and each command that changes something,
/// and ao answers each by its kind. (`acceptEdits` under `execute: ask` would let `touch` and
/// `mkdir` run unasked; `auto` and `plan` ask a model instead of a person.)
pub fn mode_for(permission: &PermissionPolicy) -> Option<String> {
    let allowed = |kind: ToolKind| permission.answer(Some(kind)) == PermissionAnswer::Allow;
    let all_allowed = permission.allows_all();
    let mode = if all_allowed {
        "bypassPermissions"
    } else if allowed(ToolKind::Edit) && allowed(ToolKind::Execute) {
        "acceptEdits"
    } else {
        "default"
    };
    Some(mode.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use PermissionAnswer::{Allow, Ask, Deny};

    fn policy(
        default: PermissionAnswer,
        by_kind: &[(ToolKind, PermissionAnswer)],
    ) -> PermissionPolicy {
        PermissionPolicy {
            default,
            by_kind: by_kind.iter().copied().collect(),
        }
    }

    fn mode(default: PermissionAnswer, by_kind: &[(ToolKind, PermissionAnswer)]) -> String {
        mode_for(&policy(default, by_kind)).expect("Claude always has a mode")
    }

    #[test]
    fn asking_about_commands_keeps_claude_asking_about_them() {
        assert_eq!(mode(Ask, &[]), "default");
        assert_eq!(mode(Allow, &[(ToolKind::Execute, Ask)]), "default");
        // Edits allowed but commands asked: not acceptEdits, which runs `touch` unasked.
        assert_eq!(mode(Ask, &[(ToolKind::Edit, Allow)]), "default");
        assert_eq!(mode(Allow, &[(ToolKind::Execute, Deny)]), "default");
        assert_eq!(mode(Deny, &[]), "default");
    }

    #[test]
    fn allowing_more_asks_less() {
        assert_eq!(
            mode(Ask, &[(ToolKind::Edit, Allow), (ToolKind::Execute, Allow)]),
            "acceptEdits"
        );
        assert_eq!(mode(Allow, &[(ToolKind::Fetch, Ask)]), "acceptEdits");
        assert_eq!(mode(Allow, &[]), "bypassPermissions");
        assert_eq!(
            mode(
                Allow,
                &[(ToolKind::Execute, Allow), (ToolKind::Edit, Allow)]
            ),
            "bypassPermissions"
        );
    }

    #[test]
    fn root_gets_the_sandbox_claude_needs_and_the_rest_is_shared() {
        assert!(!default_env_for(false)
            .iter()
            .any(|(name, _)| *name == "IS_SANDBOX"));
        assert!(default_env_for(true).contains(&("IS_SANDBOX", "1")));
        for pair in &default_env_for(false) {
            assert!(default_env_for(true).contains(pair), "{pair:?}");
        }
        assert!(DEFAULT_ENV.contains(&("CLAUDE_CODE_ENABLE_PROMPT_SUGGESTION", "false")));
        assert_eq!(
            default_env(),
            default_env_for(nix::unistd::geteuid().is_root())
        );
    }
}
