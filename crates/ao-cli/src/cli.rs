//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::commands;

/// Run many coding-agent sessions side by side, and see at a glance which one is working, which
/// one waits for you, which one failed, and what each has cost.
#[derive(Debug, Parser)]
#[command(
    name = "ao",
    version,
    propagate_version = true,
    after_help = "Examples:\n  ao spawn my-project \"Fix the linting errors\"\n  ao status\n  ao attach my-project/agent-1\n  ao doctor\n\nExit codes: 0 success, 1 a runtime failure, 2 bad usage or a bad config."
)]
pub struct Cli {
    /// The config file (default: $AO_CONFIG, else agent-orchestrator.yaml here or in a parent).
    #[arg(short = 'c', long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// When to use colours: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

/// Every command; each one's arguments, help and handler are in its own file under `commands/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    Init(commands::init::InitArgs),
    Spawn(commands::spawn::SpawnArgs),
    Status(commands::status::StatusArgs),
    Watch(commands::watch::WatchArgs),
    Dashboard(commands::dashboard::DashboardArgs),
    Mcp(commands::mcp::McpArgs),
    Show(commands::show::ShowArgs),
    Diff(commands::diff::DiffArgs),
    Fork(commands::fork::ForkArgs),
    List(commands::list::ListArgs),
    Attach(commands::attach::AttachArgs),
    Kill(commands::kill::KillArgs),
    Doctor(commands::doctor::DoctorArgs),
    Trust(commands::trust::TrustArgs),
    Completions(commands::completions::CompletionsArgs),
    Send(commands::send::SendArgs),
    Permit(commands::permit::PermitArgs),
    Answer(commands::answer::AnswerArgs),
    Wait(commands::wait::WaitArgs),
    Logs(commands::logs::LogsArgs),
    Restore(commands::restore::RestoreArgs),
    /// Notifications: `ao notify test [PROJECT]` sends a sample event through the notifiers.
    #[command(
        subcommand,
        after_help = "Notifiers are configured under `notifications:` (top level and per project).\n\nExamples:\n  ao notify test\n  ao notify test my-project"
    )]
    Notify(commands::notify::NotifyCommand),
    Monitor(commands::monitor::MonitorArgs),
    #[command(name = "pane-view")]
    PaneView(commands::pane_view::PaneViewArgs),
    #[command(name = "tmux-hook")]
    TmuxHook(commands::tmux_hook::TmuxHookArgs),
    #[command(name = "agent-helper")]
    AgentHelper(commands::agent_helper::AgentHelperArgs),
}

/// When to use colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always, even into a pipe (and despite NO_COLOR).
    Always,
    /// Never.
    Never,
}

/// Parses the command line. clap's own help and errors follow `--color` too, so it is looked
/// for before clap runs.
pub fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut choice = None;
    for (i, a) in args.iter().enumerate() {
        let value = match a.to_str() {
            Some("--color") => args.get(i + 1).and_then(|v| v.to_str()),
            Some(s) => s.strip_prefix("--color="),
            None => None,
        };
        if let Some(v) = value.and_then(|v| ColorChoice::from_str(v, false).ok()) {
            choice = Some(v);
        }
    }
    let no_color = crate::output::no_color_env();
    let clap_choice = match choice {
        Some(ColorChoice::Always) => clap::ColorChoice::Always,
        Some(ColorChoice::Never) => clap::ColorChoice::Never,
        _ if no_color => clap::ColorChoice::Never,
        _ => clap::ColorChoice::Auto,
    };
    let matches = Cli::command()
        .color(clap_choice)
        .try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

/// A positive number of seconds, whole or not, at most a day (`--timeout`).
pub fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() && s <= 86_400.0 => {
            Ok(std::time::Duration::from_secs_f64(s))
        }
        _ => Err(format!(
            "{text:?} is not a number of seconds between 0 and 86400 (e.g. 2 or 0.5)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use ao_core::agent::{PermitDecision, PlanPriority, PlanStatus};
    use ao_core::config::TuiMode;
    use ao_core::session::{Activity, Lifecycle, RuntimeKind, WorkspaceKind};
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use strum::VariantNames;

    /// Every word of `T` reads back as the value serde reads from it, and serde writes it the
    /// same: the two derives agree.
    fn words_agree<T>()
    where
        T: VariantNames + std::str::FromStr + DeserializeOwned + PartialEq + std::fmt::Debug,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for word in T::VARIANTS {
            let parsed: T = word.parse().unwrap();
            let read: T = serde_json::from_value(serde_json::json!(word)).unwrap();
            assert_eq!(parsed, read, "{word}");
        }
    }

    fn written_as_read<T: Serialize + std::str::FromStr + VariantNames>()
    where
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for word in T::VARIANTS {
            let value: T = word.parse().unwrap();
            assert_eq!(serde_json::to_value(&value).unwrap(), *word);
        }
    }

    #[test]
    fn each_enums_words_are_the_same_for_serde_and_for_its_derived_text() {
        words_agree::<RuntimeKind>();
        words_agree::<WorkspaceKind>();
        words_agree::<Activity>();
        words_agree::<Lifecycle>();
        words_agree::<PermitDecision>();
        words_agree::<PlanStatus>();
        words_agree::<PlanPriority>();
        written_as_read::<RuntimeKind>();
        written_as_read::<Activity>();
        written_as_read::<PlanStatus>();
        written_as_read::<PlanPriority>();
        assert_eq!(TuiMode::VARIANTS, ["lazy", "always"]);
    }

    #[test]
    fn a_plan_keeps_a_word_it_does_not_know_and_writes_it_back() {
        let item: ao_core::agent::PlanItem = serde_json::from_value(serde_json::json!(
            {"content": "x", "status": "blocked_on_review", "priority": "urgent"}
        ))
        .unwrap();
        assert_eq!(item.status, PlanStatus::Other("blocked_on_review".into()));
        assert_eq!(item.priority, PlanPriority::Other("urgent".into()));
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            serde_json::json!({"content": "x", "status": "blocked_on_review", "priority": "urgent"})
        );
        let done: PlanStatus = "in_progress".to_string().into();
        assert_eq!(done, PlanStatus::InProgress);
    }
}
