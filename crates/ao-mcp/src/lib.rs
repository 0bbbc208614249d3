//! ao over the Model Context Protocol: an MCP client (Claude Code, OpenCode, Codex, any other)
//! spawns sessions, follows them and reads what they did, through tools; and sees each session
//! as a resource it can subscribe to.
//!
//! Like every surface of ao it only presents: every action goes through the live hub's current
//! [`SessionManager`] (`ao_core::live::LiveHub`, the live model the dashboard shares), and says
//! what the CLI says. Two transports serve it: stdio (`ao mcp`, [`serve_stdio`]) and, with the
//! `http` feature, streamable HTTP ([`http_service`], the dashboard's `/mcp`).
//!
//! - [`server`]: the handler: what it says it is and can do, the tools' list and dispatch.
//! - [`tools`]: each tool's input (its JSON Schema comes from the type and its doc comments)
//!   and what it does; [`wait`] the one that runs long (progress, cancel).
//! - [`resources`]: `ao://sessions` and `ao://sessions/{project}/{name}`, read from the hub, and
//!   the task that turns the hub's changes into notifications for what a client subscribed to.
//!
//! `permit` and `answer` exist only when a person allows it ([`Options::allow_replies`]):
//! otherwise an agent could approve another agent's tool calls.
//!
//! docs/architecture.md ("`ao mcp`") has the rest.

pub mod resources;
pub mod server;
pub mod tools;
pub mod wait;

use std::sync::Arc;

use ao_core::live::{LiveHub, LiveModel, LiveOptions};
use ao_core::manager::SessionManager;

pub use server::AoMcp;
/// What stops the HTTP service ([`http_service`]).
#[cfg(feature = "http")]
pub use tokio_util::sync::CancellationToken;

/// The dashboard's `/mcp`: [`http_service`]'s type.
#[cfg(feature = "http")]
pub type HttpService = rmcp::transport::streamable_http_server::StreamableHttpService<
    AoMcp,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
>;

/// How the server behaves.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Whether the `permit` and `answer` tools exist: a person's choice (`ao mcp
    /// --allow-replies`), since they let the client answer for a person.
    pub allow_replies: bool,
    /// The command line by which a person allows replies where this server runs, told to a
    /// client that asks for them.
    pub allowed_by: &'static str,
}

impl Default for Options {
    /// No replies; allowed by `ao mcp --allow-replies`.
    fn default() -> Options {
        Options {
            allow_replies: false,
            allowed_by: "ao mcp --allow-replies",
        }
    }
}

/// What can stop the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The live session model would not start (a config or store problem, as `ao status` has).
    #[error("{0}")]
    Live(#[from] ao_core::Error),
    /// The client never completed the protocol's start.
    #[error("the MCP client did not start the session: {0}")]
    Initialize(String),
    /// The connection failed while serving.
    #[error("the MCP connection failed: {0}")]
    Serve(String),
}

/// Starts the live model over `manager` and serves MCP on standard input and output until the
/// client closes its end.
pub async fn serve_stdio(manager: Arc<SessionManager>, options: Options) -> Result<(), Error> {
    use rmcp::ServiceExt;
    let model = LiveModel::start(
        manager,
        ao_core::target::Target::All,
        LiveOptions::default(),
    )
    .await?;
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let (hub, following) = LiveHub::start(model, stop_rx);
    let server = AoMcp::new(hub, options);
    let running = match server.serve(rmcp::transport::stdio()).await {
        Ok(running) => running,
        // A client that closed its end before it began asked for nothing: a normal end.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {
            following.abort();
            return Ok(());
        }
        Err(e) => {
            following.abort();
            return Err(Error::Initialize(e.to_string()));
        }
    };
    let done = running.waiting().await;
    following.abort();
    done.map(|_| ()).map_err(|e| Error::Serve(e.to_string()))
}

/// The streamable HTTP service (sessions kept in memory), one [`AoMcp`] per client session, all
/// over `hub`. It ends its streams when `stop` is cancelled. It checks no `Host` of its own: the
/// caller's guard (the dashboard's, with its `--listen` and `--allow-host` names) does.
#[cfg(feature = "http")]
pub fn http_service(hub: Arc<LiveHub>, options: Options, stop: CancellationToken) -> HttpService {
    use rmcp::transport::streamable_http_server::{
        session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
    };
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(Vec::<String>::new())
        .with_cancellation_token(stop);
    StreamableHttpService::new(
        move || Ok(AoMcp::new(hub.clone(), options)),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
