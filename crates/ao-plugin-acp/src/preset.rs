//! Presets: `agent: claude` and `agent: codex` are `agent: acp` with the adapter's command and
//! its defaults filled in. Everything under `agentConfig` works as for `acp`, and what a project
//! sets wins over the preset's default.
//!
//! Each preset's own knowledge (the environment its agent needs, how ao's `permission` maps onto
//! the agent's session modes) lives in its file: [`claude`], [`codex`].

pub mod claude;
pub mod codex;

use std::ffi::OsString;

use crate::record::PermissionPolicy;

/// Which agent a plugin instance is: any ACP agent, or one of the presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Preset {
    /// `agent: acp`: the command is the project's to give.
    Acp,
    /// `agent: claude`: Claude Code through `@agentclientprotocol/claude-agent-acp`.
    Claude,
    /// `agent: codex`: Codex through `@zed-industries/codex-acp`.
    Codex,
}

/// A preset's adapter: the variable that names its program, else the program looked up on PATH.
struct Adapter {
    variable: &'static str,
    program: &'static str,
}

impl Preset {
    /// The agent's name in config (`agent: claude`) and in session records.
    pub fn name(self) -> &'static str {
        self.into()
    }

    fn adapter(self) -> Option<Adapter> {
        match self {
            Preset::Acp => None,
            Preset::Claude => Some(Adapter {
                variable: "AO_CLAUDE_ACP_BIN",
                program: "claude-agent-acp",
            }),
            Preset::Codex => Some(Adapter {
                variable: "AO_CODEX_ACP_BIN",
                program: "codex-acp",
            }),
        }
    }

    /// The command a project of this preset runs when it sets none, given the value of the
    /// preset's variable (`AO_CLAUDE_ACP_BIN`, `AO_CODEX_ACP_BIN`) when it is set.
    pub fn default_command(self, variable: Option<OsString>) -> Option<Vec<String>> {
        let adapter = self.adapter()?;
        let program = variable
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_else(|| adapter.program.to_string());
        Some(vec![program])
    }

    /// The command of this preset as this process's environment names it.
    pub fn command_from_env(self) -> Option<Vec<String>> {
        let variable = self.adapter().and_then(|a| std::env::var_os(a.variable));
        self.default_command(variable)
    }

    /// The variable that names the adapter's program, for messages.
    pub fn variable(self) -> Option<&'static str> {
        self.adapter().map(|a| a.variable)
    }

    /// Variables the agent gets unless `agentConfig.env` sets them.
    pub fn default_env(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Preset::Acp => Vec::new(),
            Preset::Claude => claude::default_env(),
            Preset::Codex => codex::DEFAULT_ENV.to_vec(),
        }
    }

    /// The session mode that carries out `permission`, when the project names none
    /// (`agentConfig.mode`).
    pub fn mode_for(self, permission: &PermissionPolicy) -> Option<String> {
        match self {
            Preset::Acp => None,
            Preset::Claude => claude::mode_for(permission),
            Preset::Codex => codex::mode_for(permission),
        }
    }

    /// Arguments added after the agent's command for `permission`: how the agent is told what
    /// to ask about where it has no session mode for it.
    pub fn args_for(self, permission: &PermissionPolicy) -> Vec<String> {
        match self {
            Preset::Acp | Preset::Claude => Vec::new(),
            Preset::Codex => codex::args_for(permission),
        }
    }

    /// What to tell a person whose agent says it needs credentials: its own login and key.
    pub fn auth_hint(self) -> Option<&'static str> {
        match self {
            Preset::Acp => None,
            Preset::Claude => Some(claude::AUTH_HINT),
            Preset::Codex => Some(codex::AUTH_HINT),
        }
    }

    /// What `ao init` writes under a new project's `agentConfig`.
    pub fn config_template(self) -> &'static [&'static str] {
        match self {
            Preset::Acp => crate::settings::CONFIG_TEMPLATE,
            Preset::Claude => claude::CONFIG_TEMPLATE,
            Preset::Codex => codex::CONFIG_TEMPLATE,
        }
    }
}

/// A preset with its default command resolved once, when ao starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// The preset.
    pub preset: Preset,
    /// The command a project runs when it sets none.
    pub command: Option<Vec<String>>,
}

impl Defaults {
    /// The preset's defaults in this process's environment.
    pub fn from_env(preset: Preset) -> Defaults {
        Defaults {
            preset,
            command: preset.command_from_env(),
        }
    }

    /// How to make the agent's program found: install the adapter (a preset), or fix the
    /// command.
    pub fn install_hint(&self, project: &str) -> String {
        match self.preset.variable() {
            Some(variable) => format!(
                "install it (scripts/install-agents), set {variable} to its path, or give \
                 agentConfig.command of project {project}"
            ),
            None => format!(
                "install it, or fix agentConfig.command of project {project} (a program on PATH \
                 or a path)"
            ),
        }
    }

    /// Plain `agent: acp`: no default at all.
    pub fn acp() -> Defaults {
        Defaults {
            preset: Preset::Acp,
            command: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn presets_are_named_as_config_names_them() {
        let names: Vec<&str> = Preset::iter().map(Preset::name).collect();
        assert_eq!(names, ["acp", "claude", "codex"]);
    }

    #[test]
    fn the_adapter_is_the_variable_s_program_else_the_one_on_path() {
        assert_eq!(Preset::Acp.default_command(Some("/x".into())), None);
        assert_eq!(
            Preset::Claude.default_command(None),
            Some(vec!["claude-agent-acp".to_string()])
        );
        assert_eq!(
            Preset::Claude.default_command(Some("".into())),
            Some(vec!["claude-agent-acp".to_string()])
        );
        assert_eq!(
            Preset::Codex.default_command(Some("/opt/codex-acp".into())),
            Some(vec!["/opt/codex-acp".to_string()])
        );
    }
}
