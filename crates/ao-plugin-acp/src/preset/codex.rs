//! `agent: codex`: Codex through its ACP adapter, `@zed-industries/codex-acp`.

use crate::record::PermissionPolicy;

/// What Codex gets unless the project sets it.
pub const DEFAULT_ENV: &[(&str, &str)] = &[];

/// What `ao init` writes under a new Codex project's `agentConfig`.
pub const CONFIG_TEMPLATE: &[&str] = &[
    "# Codex through its ACP adapter (scripts/install-agents; $AO_CODEX_ACP_BIN, else codex-acp",
    "# on PATH). Its provider and credentials are its own: $CODEX_HOME/config.toml, `codex login`",
    "# or OPENAI_API_KEY.",
    "# model: gpt-5-codex",
    "# How ao answers what it asks, per ACP tool kind or one word for all: ask | allow | deny.",
    "# permission: {execute: ask}",
    "# US dollars per million tokens: Codex reports tokens but no cost.",
    "# price: {input: 1.25, output: 10}",
];

/// Codex's session mode for `permission`, when the project names none.
pub fn mode_for(_permission: &PermissionPolicy) -> Option<String> {
    None
}
