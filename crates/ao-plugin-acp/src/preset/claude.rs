//! `agent: claude`: Claude Code through its ACP adapter, `@agentclientprotocol/claude-agent-acp`.

use crate::record::{PermissionAnswer, PermissionPolicy, ToolKind};

/// What Claude Code gets unless the project sets it: no update checks, no traffic but the model's.
pub const DEFAULT_ENV: &[(&str, &str)] = &[
    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    ("DISABLE_AUTOUPDATER", "1"),
];

/// What `ao init` writes under a new Claude Code project's `agentConfig`.
pub const CONFIG_TEMPLATE: &[&str] = &[
    "# Claude Code through its ACP adapter (scripts/install-agents; $AO_CLAUDE_ACP_BIN, else",
    "# claude-agent-acp on PATH). Its credentials are its own: `claude login` or ANTHROPIC_API_KEY.",
    "# model: claude-sonnet-4-5",
    "# How ao answers what it asks, per ACP tool kind or one word for all: ask | allow | deny.",
    "# permission: {execute: ask, edit: allow}",
    "# env: {ANTHROPIC_BASE_URL: 'https://api.anthropic.com'}",
];

/// Claude Code's permission mode for `permission`: it asks before edits and commands in
/// `default`, accepts edits in `acceptEdits`, and asks nothing in `bypassPermissions`. ao then
/// answers what is asked by kind.
pub fn mode_for(permission: &PermissionPolicy) -> Option<String> {
    let all_allowed = permission.default == PermissionAnswer::Allow
        && permission
            .by_kind
            .values()
            .all(|a| *a == PermissionAnswer::Allow);
    let mode = if all_allowed {
        "bypassPermissions"
    } else if permission.answer(Some(ToolKind::Edit)) == PermissionAnswer::Allow {
        "acceptEdits"
    } else {
        "default"
    };
    Some(mode.to_string())
}
