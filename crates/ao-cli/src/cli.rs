//! The command line, as clap sees it.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use ao_core::session::{Activity, RuntimeKind};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::UsageError;

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented agent-orchestrator.yaml for a directory (default: the current one).
    #[command(
        after_help = "The project is the git repository the directory is in (its root), else the directory itself, without work trees. Sessions run in tmux when tmux is on PATH, else as processes. An existing file is never replaced.\n\nExamples:\n  ao init\n  ao init ~/code/my-project\n  ao init && ao doctor"
    )]
    Init {
        /// The directory to write agent-orchestrator.yaml in (default: the current directory).
        path: Option<PathBuf>,
    },
    /// Start a new agent session in a project.
    #[command(
        after_help = "Examples:\n  ao spawn my-project \"Fix the linting errors\"\n  ao spawn my-project --prompt-file task.md --runtime process\n  git diff | ao spawn my-project --prompt-file - --name review"
    )]
    Spawn(SpawnArgs),
    /// Show what each session is doing and what it has cost.
    #[command(
        after_help = "TARGET is a project, project/name, or a name unique across projects.\n\nExamples:\n  ao status\n  ao status my-project --json\n  ao status --watch --json | jq -c '{id, activity, activity_since}'"
    )]
    Status(StatusArgs),
    /// A live, full-screen view of every session: pick one to permit, answer, send, kill, restore or attach.
    #[command(
        after_help = "Keys: ↑/↓ select, p permit once, P permit always, x reject, a answer, s send, k kill, r restore, l log, Enter attach, q quit.\nScripts use `ao status --watch --json` instead.\n\nExamples:\n  ao watch\n  ao watch my-project"
    )]
    Watch {
        /// A project, project/name, or a name unique across projects (default: all sessions).
        target: Option<String>,
        /// How long to wait for each project's agent, in seconds, before showing what was last
        /// seen of its sessions, marked stale (default 2, or $AO_STATUS_TIMEOUT).
        #[arg(long, value_name = "SECS", env = "AO_STATUS_TIMEOUT", value_parser = parse_seconds)]
        timeout: Option<std::time::Duration>,
    },
    /// The web dashboard: every session live in a browser, with its actions, and a JSON API.
    #[command(
        after_help = "The first line of standard output is the URL to open, with the token in it. The API takes `Authorization: Bearer TOKEN`.\n\nExamples:\n  ao dashboard\n  ao dashboard --port 8484 --token-file ~/.config/ao/dashboard-token\n  ao dashboard --port 8484   # on build-box; then on your laptop: ssh -L 8484:127.0.0.1:8484 build-box"
    )]
    Dashboard(DashboardArgs),
    /// Everything about one session: status, plan, files changed, last messages, resources.
    #[command(
        after_help = "Files are counted against the commit the session's work tree started from, committed or not, new files included.\n\nExamples:\n  ao show my-project/agent-1\n  ao show agent-1 --json | jq .plan"
    )]
    Show {
        /// project/name, or a name unique across projects.
        target: String,
        /// The object of `ao status --json` with plan, files, messages and resources.
        #[arg(long)]
        json: bool,
    },
    /// A session's changes against the commit its work tree started from, committed and not.
    #[command(
        after_help = "Runs git diff in the session's work tree (paged like git diff); arguments after -- go to git.\n\nExamples:\n  ao diff my-project/agent-1\n  ao diff agent-1 -- --stat\n  ao diff agent-1 -- -- src/"
    )]
    Diff {
        /// project/name, or a name unique across projects.
        target: String,
        /// Arguments for git diff, after `--` (e.g. `--stat`, `-- PATH`).
        #[arg(last = true, allow_hyphen_values = true)]
        git_args: Vec<String>,
    },
    /// Start a new session from another's conversation and work.
    #[command(
        after_help = "The fork gets a work tree of its own on a new branch from the source's last commit, with the source's uncommitted changes (new files too) carried over as uncommitted changes; the source is left as it was.\n\nExamples:\n  ao fork my-project/agent-1 \"Try it with a hash map instead\"\n  ao fork agent-1 --name retry --at msg_216086470001JdqdpdDtKS1Ute\n  ao show agent-1 --json | jq -r '.messages[].id'"
    )]
    Fork(ForkArgs),
    /// One line per session: address, activity, runtime, workspace (tab-separated).
    #[command(after_help = "Examples:\n  ao list\n  ao list | cut -f1")]
    List,
    /// Attach your terminal to a session (tmux: attach or switch-client; process: the agent's own UI).
    #[command(after_help = "Examples:\n  ao attach my-project/agent-1\n  ao attach agent-1")]
    Attach {
        /// project/name, or a name unique across projects.
        target: String,
    },
    /// Stop a session; a work tree with uncommitted changes or unmerged commits is kept.
    #[command(
        after_help = "A clean work tree is removed with its branch ao/<name>. One that holds uncommitted changes or commits on no other branch is kept, and ao says where it is; --force removes it anyway (its uncommitted changes are lost; a branch with commits of its own is kept).\n\nExamples:\n  ao kill my-project/agent-1\n  ao kill my-project            # every session of the project\n  ao kill agent-1 --purge --force"
    )]
    Kill {
        /// project/name, a unique name, or a project (all its sessions).
        target: String,
        /// Also delete the agent's conversation and forget the session.
        #[arg(long)]
        purge: bool,
        /// Remove the work tree even if it holds uncommitted changes.
        #[arg(long)]
        force: bool,
    },
    /// Check what ao needs: tmux, git, each agent's program, the state home, the config, each project's server.
    #[command(
        after_help = "Each problem comes with how to fix it. Exits 1 when something is wrong.\n\nExamples:\n  ao doctor\n  ao doctor --config ~/work/agent-orchestrator.yaml"
    )]
    Doctor,
    /// Let a config file use the keys that run programs or read secrets: notifier commands,
    /// webhooks, server.passwordFile, server.passwordEnv and host.
    #[command(
        after_help = "A config file that someone else wrote (a cloned repository's) loads, but those keys are refused until you trust it. Files that `ao init` wrote and files under $XDG_CONFIG_HOME/ao/ (default ~/.config/ao/) are trusted. Trust is by the file's path, recorded in the state home.\n\nExamples:\n  ao trust\n  ao trust ~/code/app/agent-orchestrator.yaml\n  ao trust --revoke"
    )]
    Trust(crate::trust::TrustArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  ao completions bash > ~/.local/share/bash-completion/completions/ao\n  ao completions zsh > \"${fpath[1]}/_ao\"\n  ao completions fish > ~/.config/fish/completions/ao.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Send a follow-up message to a session.
    #[command(
        after_help = "Examples:\n  ao send my-project/agent-1 \"Now add a test\"\n  ao send agent-1 - < notes.md"
    )]
    Send {
        /// project/name, or a name unique across projects.
        target: String,
        /// The message; `-` or nothing reads it from standard input.
        message: Option<String>,
        /// Send even though the session is over its budget: the turn it starts runs to its end.
        #[arg(long)]
        over_budget: bool,
    },
    /// Answer a pending permission request: allow once (default), always, or reject.
    #[command(
        after_help = "With several requests pending, name one by its id (`ao status` lists them).\n\nExamples:\n  ao permit my-project/agent-1\n  ao permit agent-1 --always\n  ao permit agent-1 --reject per_1fedf2dcb0015MsLj6Nnz08NsT"
    )]
    Permit(PermitArgs),
    /// Answer a pending question, or dismiss it with --reject.
    #[command(
        after_help = "Give one ANSWER per question the request asks (an option's label, or your own text).\n\nExamples:\n  ao answer my-project/agent-1 blue\n  ao answer agent-1 --request que_1ff0 \"use PostgreSQL\"\n  ao answer agent-1 --reject"
    )]
    Answer(AnswerArgs),
    /// Wait until a session reaches a state (default: until it stops working).
    #[command(
        after_help = "Exits 0 once the state is reached, 1 on timeout or if the session exits first.\n\nExamples:\n  ao wait my-project/agent-1 --until ready --timeout 600\n  ao wait agent-1 --until waiting_input && ao permit agent-1"
    )]
    Wait(WaitArgs),
    /// Show a session's conversation: messages, tool calls and their results, errors, cost.
    #[command(after_help = "Examples:\n  ao logs my-project/agent-1\n  ao logs agent-1 --follow")]
    Logs {
        /// project/name, or a name unique across projects.
        target: String,
        /// Keep printing new entries as they come, until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Print JSON lines for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Bring a killed or exited session back on the same agent conversation.
    #[command(after_help = "Examples:\n  ao restore my-project/agent-1")]
    Restore {
        /// project/name, or a name unique across projects.
        target: String,
        /// Restore even though the session is over its budget.
        #[arg(long)]
        over_budget: bool,
    },
    /// Notifications: `ao notify test [PROJECT]` sends a sample event through the notifiers.
    #[command(
        subcommand,
        after_help = "Notifiers are configured under `notifications:` (top level and per project).\n\nExamples:\n  ao notify test\n  ao notify test my-project"
    )]
    Notify(NotifyCommand),
    /// Runs the monitor of a project (started by ao itself: it notifies and enforces budgets).
    #[command(hide = true)]
    Monitor {
        /// The project it watches.
        project: String,
    },
    /// Runs ao's own live view of a session (what the pane of a lazy tmux session runs).
    #[command(name = "pane-view", hide = true)]
    PaneView {
        /// The session's address.
        address: String,
    },
    /// Closes the TUI of each lazy tmux session no client is attached to (run by tmux's hook).
    #[command(name = "tmux-hook", hide = true)]
    TmuxHook {
        /// The tmux server's `-L` socket name; none for the default server.
        #[arg(long)]
        socket: Option<String>,
        /// Ignored: the hook of a session an older ao made names it, and the hook now sweeps
        /// every session of the server.
        #[arg(long, hide = true)]
        session: Option<String>,
    },
    /// Runs a helper process of an agent plugin (what a process-runtime session runs).
    #[command(name = "agent-helper", hide = true)]
    AgentHelper {
        /// The agent plugin.
        agent: String,
        /// The helper and its arguments, as the plugin defines them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `ao notify …`.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a sample event through every configured notifier and say what each did.
    #[command(
        after_help = "Without PROJECT, the notifiers of the top level and of every project.\n\nExamples:\n  ao notify test\n  ao notify test my-project"
    )]
    Test {
        /// Only this project's notifiers (the top level's and its own).
        project: Option<String>,
    },
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

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "ao", &mut script);
    script
}

/// `ao dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The port to listen on (default: any free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The address to listen on. Anything but loopback serves plain HTTP to the network: put a
    /// TLS proxy or an SSH tunnel in front.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub listen: std::net::IpAddr,
    /// Open the dashboard in the browser (through a file only you may read, so that the token
    /// never goes on the browser's command line).
    #[arg(long)]
    pub open: bool,
    /// Also accept requests whose Host header is NAME (or NAME:PORT): the name of a TLS proxy in
    /// front that keeps the Host. Others but 127.0.0.1, localhost and the --listen address get
    /// 403, so that a name rebound to this machine reaches nothing.
    #[arg(long, value_name = "NAME", value_parser = parse_host_name)]
    pub allow_host: Vec<String>,
    /// Keep the token in this file (created 0600 when missing), so it stays the same across
    /// restarts.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// How long to wait for each project's agent, in seconds, before showing what was last
    /// seen of its sessions, marked stale (default 2, or $AO_STATUS_TIMEOUT).
    #[arg(long, value_name = "SECS", env = "AO_STATUS_TIMEOUT", value_parser = parse_seconds)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// The project, as named in the config.
    pub project: String,
    /// The first prompt (default: the project's agentConfig.prompt).
    #[arg(conflicts_with = "prompt_file")]
    pub prompt: Option<String>,
    /// Read the prompt from a file, or from standard input with `-`.
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
    /// Where the session runs (default: the project's runtime).
    #[arg(long, value_parser = parse_runtime)]
    pub runtime: Option<RuntimeKind>,
    /// The model, as provider/model.
    #[arg(long, value_name = "P/M")]
    pub model: Option<String>,
    /// The agent's own agent or mode (e.g. build, plan).
    #[arg(long)]
    pub agent: Option<String>,
    /// The session's name (default: <prefix>-<N>).
    #[arg(long)]
    pub name: Option<String>,
}

fn parse_runtime(s: &str) -> Result<RuntimeKind, String> {
    s.parse()
}

impl SpawnArgs {
    /// The prompt from the argument, the file, or standard input.
    pub fn prompt_text(&self) -> anyhow::Result<Option<String>> {
        if let Some(p) = &self.prompt {
            return Ok(Some(p.clone()));
        }
        let Some(file) = &self.prompt_file else {
            return Ok(None);
        };
        let text = if file.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the prompt from standard input")?;
            s
        } else {
            std::fs::read_to_string(file).map_err(|e| {
                UsageError(format!(
                    "cannot read the prompt file {}: {e}",
                    file.display()
                ))
            })?
        };
        Ok(Some(text))
    }
}

#[derive(Debug, Args)]
pub struct ForkArgs {
    /// The session to fork: project/name, or a name unique across projects.
    pub target: String,
    /// The fork's first message (none: it waits for `ao send`).
    pub prompt: Option<String>,
    /// A name instead of the next <prefix>-<N>.
    #[arg(long)]
    pub name: Option<String>,
    /// Keep only the messages before this one (a message id, as `ao show` lists them).
    #[arg(long, value_name = "MESSAGE_ID")]
    pub at: Option<String>,
    /// tmux or process (default: the source's runtime).
    #[arg(long, value_parser = parse_runtime)]
    pub runtime: Option<RuntimeKind>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A project, project/name, or a name unique across projects (default: all sessions).
    pub target: Option<String>,
    /// Print JSON for scripts (with --watch: one object per line).
    #[arg(long)]
    pub json: bool,
    /// How long to wait for each project's agent, in seconds, before showing what was last seen
    /// of its sessions, marked stale (default 2, or $AO_STATUS_TIMEOUT).
    #[arg(long, value_name = "SECS", env = "AO_STATUS_TIMEOUT", value_parser = parse_seconds)]
    pub timeout: Option<std::time::Duration>,
    /// Keep watching: redraw the table on each change; with --json, print every session, then a
    /// session again each time any field of it changes (with `activity_since`). Ends on Ctrl-C.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct PermitArgs {
    /// project/name, or a name unique across projects.
    pub target: String,
    /// The request to answer (needed when several are pending).
    pub request_id: Option<String>,
    /// Allow this one call (the default).
    #[arg(long, conflicts_with_all = ["always", "reject"])]
    pub once: bool,
    /// Allow it and, from now on, calls like it in this project (until its server restarts).
    #[arg(long, conflicts_with = "reject")]
    pub always: bool,
    /// Refuse it; the agent stops its turn.
    #[arg(long)]
    pub reject: bool,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// project/name, or a name unique across projects.
    pub target: String,
    /// One answer per question asked.
    #[arg(required_unless_present = "reject")]
    pub answers: Vec<String>,
    /// The question to answer (needed when several are pending).
    #[arg(long, value_name = "ID")]
    pub request: Option<String>,
    /// Dismiss the question instead of answering; the agent stops its turn.
    #[arg(long, conflicts_with = "answers")]
    pub reject: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// project/name, or a name unique across projects.
    pub target: String,
    /// The state to wait for (repeatable; default: anything but active). `ready` also accepts
    /// `idle`.
    #[arg(long, value_parser = parse_activity, value_name = "STATE")]
    pub until: Vec<Activity>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "SECS")]
    pub timeout: f64,
}

fn parse_activity(s: &str) -> Result<Activity, String> {
    s.parse()
}

/// A positive number of seconds, whole or not.
/// A host name as a `Host` header carries it: letters, digits, `.`, `-`, `_`, an optional
/// `:PORT`, or a bracketed IPv6 address.
fn parse_host_name(text: &str) -> Result<String, String> {
    let (name, port) = match text.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && !port.contains(']') => (name, Some(port)),
        _ => (text, None),
    };
    let name_ok = !name.is_empty()
        && (name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            || (name.starts_with('[')
                && name.ends_with(']')
                && name.len() > 2
                && name[1..name.len() - 1]
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok()));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
    if name_ok && port_ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a host name as a browser sends it (e.g. ao.example.com or \
             ao.example.com:8443)"
        ))
    }
}

fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() && s <= 86_400.0 => {
            Ok(std::time::Duration::from_secs_f64(s))
        }
        _ => Err(format!(
            "{text:?} is not a number of seconds between 0 and 86400 (e.g. 2 or 0.5)"
        )),
    }
}
