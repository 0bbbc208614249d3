//! The OpenCode agent for ao, tracked through OpenCode's own HTTP server API.
//!
//! It depends on ao's plugin API (`ao-agent`) alone: docs/architecture.md ("A plugin") uses it as
//! the worked example.
//!
//! - [`server`]: one `opencode serve` on 127.0.0.1 for all the projects whose server settings are
//!   the same, password-protected, found again by every `ao` invocation and restarted when dead;
//!   [`remote`]: the servers elsewhere (at a URL, or started on an ssh host); [`server_record`]:
//!   what both know of a server, by kind, and how the store keeps it; `server_boxed`: a project's
//!   own server in its container (`container:`); `server_shared`: joining
//!   and leaving a shared server, and which one a project's settings name; `server_host`: what
//!   differs for one shared on an ssh host (its name, start, stop and tunnel); `server_list`: one list of
//!   a shared server's sessions for its projects observed together; `directories`: which of a
//!   shared server's events are a project's.
//! - [`client`] and [`types`]: a typed client of the server API.
//! - `agent`: the [`Agent`](ao_agent::agent::Agent) implementation, the plugin's face to ao.
//! - `gather`: one project's sessions observed through the server in a batch of requests;
//!   [`observe`]: the activity rules applied to what was gathered, as one pure function.
//! - `session_list`: the project's list of sessions mirrored in the plugin's state, so a status
//!   asks only for those that changed; `quiet`: whether the server has been quiet since, as its
//!   event feeds say.
//! - `mid_turn` and `last_messages`: what the plugin remembers between invocations, in its state
//!   in ao's store.
//! - [`events`] and [`follow`]: the global event stream and the follower that logs a
//!   process-runtime session's conversation (run by `ao agent-helper opencode follow`).
//! - [`transcript`]: a session's messages as ao's transcript; `fork`: its plan, its messages in
//!   short, and a fork of its conversation.
//! - [`settings`]: the binary, the environment, and the project config the server gets.
//! - [`doctor`]: what `ao doctor` checks for OpenCode: the binary, its version, each server.
//!
//! Nothing here scrapes a terminal or reads OpenCode's database: every fact comes from the server.
//! A session is created through the API before anything runs, so its `ses_…` id is known at once,
//! and prompts go through the API, never on a command line.

mod agent;
pub mod client;
mod directories;
pub mod doctor;
pub mod events;
mod feed;
pub mod follow;
mod fork;
mod gather;
mod last_messages;
mod mid_turn;
pub mod observe;
#[cfg(test)]
mod props;
mod quiet;
pub mod remote;
pub mod server;
mod server_boxed;
mod server_host;
mod server_list;
pub mod server_record;
mod server_shared;
mod session_list;
pub mod settings;
pub mod transcript;
pub mod types;

use std::path::Path;

use ao_agent::agent::AgentError;
use ao_agent::runtime::LaunchSpec;
use ao_agent::session::SessionRecord;
use ao_agent::state::OpenState;

use crate::client::{Client, ClientError};
use crate::server::{ServerRecord, Servers};
pub use crate::settings::OpenCodeSettings;

/// The plugin's name in config and in the store.
pub const AGENT_NAME: &str = "opencode";

/// The helper (`ao agent-helper opencode follow …`) that runs [`follow::follow`] for a
/// process-runtime session.
const FOLLOW_HELPER: &str = "follow";

/// The OpenCode agent.
pub struct OpenCodeAgent {
    servers: Servers,
}

impl OpenCodeAgent {
    /// The agent with these settings. Starts and opens nothing: servers are found or started
    /// when a call needs one.
    pub fn new(settings: OpenCodeSettings) -> OpenCodeAgent {
        OpenCodeAgent {
            servers: Servers::new(settings),
        }
    }

    /// The project servers this agent manages.
    pub fn servers(&self) -> &Servers {
        &self.servers
    }

    fn settings(&self) -> &OpenCodeSettings {
        self.servers.settings()
    }

    /// `opencode attach <url> --session <id> --dir <workspace>`: OpenCode's TUI on the session,
    /// connected to the project's server (never a standalone TUI, which would run a server of its
    /// own that ao cannot see). The one place that says how the TUI is launched: a `tui: always`
    /// tmux pane, a lazy session's TUI window and `ao attach` of a process session all run this.
    fn tui_launch(
        &self,
        server: &ServerRecord,
        rec: &SessionRecord,
        id: &str,
    ) -> Result<LaunchSpec, AgentError> {
        let password = server.password()?;
        let mut args = vec![
            "attach".to_string(),
            server.to_string(),
            "--session".into(),
            id.to_string(),
            "--dir".into(),
            rec.workspace.to_string_lossy().into_owned(),
        ];
        if self.settings().pure {
            args.push("--pure".into());
        }
        let mut env = self.settings().client_env();
        env.push(("OPENCODE_SERVER_PASSWORD".into(), password));
        if let ServerRecord::Url(at) = server {
            if let Some(username) = at.custom_username() {
                env.push(("OPENCODE_SERVER_USERNAME".into(), username.to_string()));
            }
            // The TUI is Bun's: it trusts a private CA named here, besides its own roots
            // (measured with Bun 1.3.14, the one in opencode 1.18.33).
            if let Some(ca) = &at.ca_file {
                env.push((
                    "NODE_EXTRA_CA_CERTS".into(),
                    ca.to_string_lossy().into_owned(),
                ));
            }
        }
        Ok(LaunchSpec {
            program: self.settings().bin.clone(),
            args,
            cwd: self.local_dir(rec),
            env,
            stdin_file: None,
        })
    }

    /// Where a session's local program (TUI, follower) runs: its workspace, or, when that is on
    /// another machine, the session's own directory here.
    fn local_dir(&self, rec: &SessionRecord) -> std::path::PathBuf {
        if rec.workspace.is_dir() {
            rec.workspace.clone()
        } else {
            self.settings()
                .home
                .session_path(&rec.address.project, &rec.address.name)
        }
    }

    /// The detached event follower of a process-runtime session.
    fn follower_launch(
        &self,
        server: &ServerRecord,
        rec: &SessionRecord,
        id: &str,
        since_ms: i64,
    ) -> LaunchSpec {
        let mut args: Vec<String> = vec![
            ao_agent::agent::AGENT_HELPER_SUBCOMMAND.into(),
            AGENT_NAME.into(),
            FOLLOW_HELPER.into(),
            "--session".into(),
            id.to_string(),
            "--since".into(),
            since_ms.to_string(),
            // The session's directory on its server: the follower hears that directory's events
            // alone, not those of every project on a shared server.
            "--directory".into(),
            rec.workspace.to_string_lossy().into_owned(),
        ];
        match server {
            // A server someone else runs: its URL and password never change under ao.
            ServerRecord::Url(at) => {
                args.extend([
                    "--url".into(),
                    at.shown().to_string(),
                    "--password-file".into(),
                    at.password_file.to_string_lossy().into_owned(),
                ]);
                // Neither is a secret: a name, and the path of public certificates.
                if let Some(username) = at.custom_username() {
                    args.extend(["--username".into(), username.to_string()]);
                }
                if let Some(ca) = &at.ca_file {
                    args.extend(["--ca-file".into(), ca.to_string_lossy().into_owned()]);
                }
            }
            // A server ao started: the follower finds it, and each new one, through its record.
            ServerRecord::Local(_) | ServerRecord::Tunnel(_) | ServerRecord::Boxed(_) => args
                .extend([
                    "--home".into(),
                    self.settings().home.root().to_string_lossy().into_owned(),
                    "--project".into(),
                    rec.address.project.clone(),
                ]),
        }
        LaunchSpec {
            program: self.settings().ao_exe.clone(),
            args,
            cwd: self.local_dir(rec),
            env: vec![],
            stdin_file: None,
        }
    }
}

/// The `ses_…` id of a session's OpenCode conversation.
fn conversation_id(rec: &SessionRecord) -> Result<&str, AgentError> {
    rec.agent_session_id.as_deref().ok_or_else(|| {
        AgentError::NotFound(format!("session {} has no OpenCode session", rec.address))
    })
}

/// A failed request, as the cause ao's callers match on.
pub(crate) fn agent_error(e: ClientError) -> AgentError {
    let text = e.to_string();
    match &e {
        ClientError::Unreachable { source, .. } if source.is_timeout() => AgentError::Timeout(text),
        ClientError::Unreachable { .. } => AgentError::Unreachable(text),
        ClientError::Silent { .. } => AgentError::Timeout(text),
        ClientError::Status { status, .. } if status.as_u16() == 401 => {
            AgentError::Unauthorized(text)
        }
        ClientError::Status { status, .. } if status.as_u16() == 404 => AgentError::NotFound(text),
        ClientError::Status { .. }
        | ClientError::Decode { .. }
        | ClientError::Build(_)
        | ClientError::TooLarge { .. } => AgentError::Server(text),
        // ao cannot check the server's certificate, so it cannot reach it.
        ClientError::CaFile { .. } => AgentError::Unreachable(text),
    }
}

/// Now, in epoch milliseconds (OpenCode's unit too).
pub(crate) fn now_ms() -> i64 {
    use ao_agent::clock::Clock;
    ao_agent::clock::SystemClock.now_ms()
}

/// Runs one of the plugin's helper processes, from the arguments after
/// `ao agent-helper opencode`: `follow --session ID --since MS [--directory DIR]` and either
/// `--home DIR --project NAME` (a server ao started, found through its record in the store under
/// that state home) or
/// `--url URL --password-file FILE` (a server someone else runs) runs the follower of a
/// process-runtime session, writing to standard output until the session is deleted or its server
/// is gone. `open_state` opens the plugin's state in a state home's store (the follower reads the
/// server's record there).
pub async fn run_helper(args: &[String], open_state: OpenState) -> Result<(), String> {
    let usage = || {
        format!(
            "usage: ao {} {AGENT_NAME} {FOLLOW_HELPER} --session ID [--since MS] \
             [--directory DIR] (--home DIR --project NAME | --url URL --password-file FILE \
             [--username NAME] [--ca-file PEM])",
            ao_agent::agent::AGENT_HELPER_SUBCOMMAND
        )
    };
    let (helper, rest) = args.split_first().ok_or_else(usage)?;
    if helper != FOLLOW_HELPER || rest.len() % 2 != 0 {
        return Err(usage());
    }
    let mut flags = std::collections::HashMap::new();
    for pair in rest.chunks(2) {
        flags.insert(pair[0].as_str(), pair[1].as_str());
    }
    let flag = |name: &str| flags.get(name).copied().ok_or_else(usage);
    let since = match flags.get("--since") {
        Some(ms) => ms.parse().map_err(|_| usage())?,
        None => 0,
    };
    let session = flag("--session")?;
    let directory = flags.get("--directory").copied();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(home) = flags.get("--home") {
        let mut target = follow::Target::recorded(
            (ao_agent::home::StateHome::at(home), open_state),
            server_record::key(flag("--project")?),
        );
        return follow::follow(&mut target, session, directory, since, &mut out).await;
    }
    let password_file = Path::new(flag("--password-file")?);
    let password = std::fs::read_to_string(password_file)
        .map_err(|e| format!("cannot read {}: {e}", password_file.display()))?;
    let url = flag("--url")?.to_string();
    let password = password.trim().to_string();
    let username = flags.get("--username").map(|u| u.to_string());
    let ca_file = flags.get("--ca-file").map(std::path::PathBuf::from);
    let client = match (username, ca_file) {
        (None, None) => Client::new(&url, &password),
        // A server someone else runs; for https, reading its CAs blocks.
        (username, ca_file) => {
            ao_agent::blocking::unblock(move || {
                Client::remote(
                    &url,
                    username.as_deref().unwrap_or(client::DEFAULT_USERNAME),
                    &password,
                    ca_file.as_deref(),
                )
            })
            .await
        }
    }
    .map_err(|e| e.to_string())?;
    let mut target = follow::Target::Fixed(client);
    follow::follow(&mut target, session, directory, since, &mut out).await
}

/// What the plugin's unit tests of its memories share.
#[cfg(test)]
pub(crate) mod test_world {
    use std::sync::Arc;

    use ao_agent::home::StateHome;
    use ao_agent::project::Project;
    use ao_agent::state::{MemoryStore, PluginState};

    /// A project `p`, the plugin state of a store in memory, and that store (to make it refuse
    /// changes, as a store whose write lock another process holds).
    pub fn world(tmp: &tempfile::TempDir) -> (Project, StateHome, PluginState, Arc<MemoryStore>) {
        let home = StateHome::at(tmp.path());
        let store = Arc::new(MemoryStore::new());
        let state = PluginState::new(store.clone(), "t");
        let project = Project {
            name: "p".into(),
            path: tmp.path().to_path_buf(),
            agent_config: Default::default(),
            location: Default::default(),
            container: None,
            workspace: ao_agent::session::WorkspaceKind::Worktree,
        };
        (project, home, state, store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn status(code: u16) -> ClientError {
        ClientError::Status {
            method: "GET".into(),
            path: "/session/x".into(),
            status: reqwest::StatusCode::from_u16(code).unwrap(),
            body: String::new(),
        }
    }

    #[tokio::test]
    async fn each_failure_keeps_its_cause() {
        assert!(matches!(agent_error(status(404)), AgentError::NotFound(_)));
        assert!(matches!(
            agent_error(status(401)),
            AgentError::Unauthorized(_)
        ));
        assert!(matches!(agent_error(status(500)), AgentError::Server(_)));

        // Nothing listens on the privileged port 1 (a freed ephemeral port could be taken by
        // another test): unreachable.
        let e = Client::new("http://127.0.0.1:1", "pw")
            .unwrap()
            .health(Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(matches!(agent_error(e), AgentError::Unreachable(_)));

        // It accepts the connection and never answers: a timeout.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let e = Client::new(&url, "pw")
            .unwrap()
            .health(Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(agent_error(e), AgentError::Timeout(_)));
        drop(silent);
    }
}
