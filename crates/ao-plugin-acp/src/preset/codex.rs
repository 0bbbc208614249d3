//! `agent: codex`: Codex through its ACP adapter, `@zed-industries/codex-acp`.
//!
//! Measured with codex-acp 0.16.0 (/work/notes/codex-facts.md): offline it needs nothing in its
//! environment but its own credentials: its provider is its `$CODEX_HOME/config.toml`'s, and it
//! sends no update check or telemetry. Its session modes (`read-only`, `auto`, `full-access`)
//! are Codex's approval presets, and none of them asks before every shell call: only Codex's
//! `approval_policy = "untrusted"` does, and with that policy codex-acp offers no modes at all.
//! So the preset tells Codex its approval policy on its command line ([`args_for`]).

use crate::record::PermissionPolicy;

/// What Codex gets unless the project sets it: nothing (it needs nothing to stay quiet).
pub const DEFAULT_ENV: &[(&str, &str)] = &[];

/// What a person whose Codex has no credentials does.
pub const AUTH_HINT: &str = "Codex has no credentials: run `codex login`, or set OPENAI_API_KEY \
                             (in the environment or agentConfig.env), or name a provider in \
                             $CODEX_HOME/config.toml";

/// What `ao init` writes under a new Codex project's `agentConfig`.
pub const CONFIG_TEMPLATE: &[&str] = &[
    "# Codex through its ACP adapter (scripts/install-agents; $AO_CODEX_ACP_BIN, else codex-acp",
    "# on PATH). Its provider and credentials are its own: $CODEX_HOME/config.toml, `codex login`",
    "# or OPENAI_API_KEY. ao sets Codex's approval_policy from `permission` (untrusted: Codex",
    "# asks before each command that changes something, and ao answers; never, when all is allowed).",
    "# Its sandbox_mode still applies: without bubblewrap (bwrap) a sandboxed command fails.",
    "# One of the models Codex offers (gpt-5.5, gpt-5.4, gpt-5.4-mini, ...); a custom provider's",
    "# model goes in its config.toml instead.",
    "# model: gpt-5.4",
    "# How ao answers what it asks, per ACP tool kind or one word for all: ask | allow | deny.",
    "# permission: {execute: ask}",
    "# US dollars per million tokens: Codex reports tokens (ao reads its session files) but no cost.",
    "# price: {input: 1.25, output: 10}",
];

/// Codex's command-line settings for `permission` (`-c key=value`, over its own config):
///
/// - `approval_policy`: `never` when everything is allowed, else `untrusted`, under which Codex
///   asks before each command it does not know to be read-only, and ao answers by `permission`;
/// - `features.unified_exec = false`: Codex's shell tool becomes `shell_command`, whose end and
///   output codex-acp reports (of its default `exec_command` it reports neither, so a call would
///   show as running for ever).
pub fn args_for(permission: &PermissionPolicy) -> Vec<String> {
    let all_allowed = permission.allows_all();
    let approval = if all_allowed { "never" } else { "untrusted" };
    vec![
        "-c".into(),
        format!("approval_policy=\"{approval}\""),
        "-c".into(),
        "features.unified_exec=false".into(),
    ]
}

/// Codex's session mode for `permission`, when the project names none: none. No mode makes Codex
/// ask before a command (`read-only` and `auto` ask only when the model asks to leave the
/// sandbox, `full-access` never), and choosing one would override the `approval_policy` of the
/// person's own config, the one way Codex asks; with that policy set the adapter offers no modes,
/// so a derived mode would fail the spawn. ao's `permission` answers whatever Codex asks.
pub fn mode_for(_permission: &PermissionPolicy) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::PermissionAnswer;
    use crate::settings::policy;
    use serde_json::json;

    #[test]
    fn no_permission_picks_a_mode() {
        for permission in [
            json!("ask"),
            json!("allow"),
            json!("deny"),
            json!({"execute": "ask", "edit": "allow"}),
        ] {
            let permission = policy(Some(&permission)).expect("a policy");
            assert_eq!(mode_for(&permission), None, "{permission:?}");
        }
        assert_eq!(
            mode_for(&PermissionPolicy {
                default: PermissionAnswer::Allow,
                by_kind: Default::default()
            }),
            None
        );
    }

    #[test]
    fn codex_asks_before_commands_unless_all_is_allowed_and_reports_each_call_s_end() {
        let args = |p: serde_json::Value| args_for(&policy(Some(&p)).expect("a policy"));
        let asks = [
            "-c",
            "approval_policy=\"untrusted\"",
            "-c",
            "features.unified_exec=false",
        ];
        assert_eq!(args(json!({"execute": "ask"})), asks);
        assert_eq!(args(json!("deny")), asks);
        assert_eq!(args(json!({"execute": "allow", "edit": "ask"})), asks);
        assert_eq!(
            args(json!("allow")),
            [
                "-c",
                "approval_policy=\"never\"",
                "-c",
                "features.unified_exec=false"
            ]
        );
    }

    #[test]
    fn codex_needs_no_environment_of_ao_s() {
        assert!(DEFAULT_ENV.is_empty());
        assert!(CONFIG_TEMPLATE.iter().all(|line| line.starts_with('#')));
    }
}
