//! ao's web dashboard: every session of every project live in a browser, with the actions a
//! person needs, and a JSON API under `/api` that mirrors the CLI.
//!
//! It is one more consumer of the live session model (`ao_core::live`), like `ao watch`, and like
//! every surface of ao it only presents: actions go through the model's current
//! [`SessionManager`], never to tmux or an agent.
//!
//! - [`browser`]: what a browser is sent of the live hub (`ao_core::live::LiveHub`, which owns
//!   the live model and keeps the sessions it last said, each already as JSON): every browser's
//!   event stream starts from them and then follows the changes, so a browser that reconnects
//!   gets the whole state again.
//! - [`api`]: the routes, and the reads: they come from the hub.
//! - [`actions`]: spawn, permit, answer, send, kill, restore: they call the manager and answer
//!   with the words the CLI prints, or with `{"error": …}` and a status code from the error's
//!   type ([`reply`]).
//! - [`auth`]: a random token per run (or one kept in a file), sent as `Authorization: Bearer` by
//!   scripts and by the page, which keeps it in the tab's `sessionStorage` (no cookie: one of
//!   `127.0.0.1` goes to every port of the host); a `Host` that is not the dashboard's, or a POST
//!   from a foreign `Origin`, is refused.
//! - `/mcp`: the MCP server (the ao-mcp crate) over streamable HTTP, on the same hub and behind
//!   the same checks as `/api`; `permit` and `answer` only with [`Dashboard::allow_mcp_replies`].
//! - [`assets`]: the page (plain HTML, CSS and JS), embedded in the binary: no build step, no
//!   request leaving the machine.
//!
//! docs/architecture.md ("`ao dashboard`") has the rest.

pub mod actions;
pub mod api;
pub mod assets;
pub mod auth;
pub mod browser;
pub mod reply;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ao_core::live::{LiveHub, LiveModel, LiveOptions};
use ao_core::manager::SessionManager;

pub use auth::{Token, TokenError};

/// What can stop the dashboard from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be listened on.
    #[error("cannot listen on {addr}: {source}{}", listen_hint(.source))]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The live session model would not start (a config or store problem, as `ao status` has).
    #[error("{0}")]
    Live(#[from] ao_core::Error),
    /// Serving failed.
    #[error("the dashboard stopped serving: {0}")]
    Serve(#[source] std::io::Error),
    /// The live session model stopped, so the page would no longer follow the sessions.
    #[error("the live session model stopped; the dashboard would no longer be live")]
    LiveStopped,
}

fn listen_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another program uses that port: pick another with --port, or 0 for any free one"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "; that address is not one of this machine's: --listen takes a local address"
        }
        _ => "",
    }
}

/// How long open event streams get to end once the dashboard is asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A dashboard bound to its address, not serving yet: its URL can be printed first.
pub struct Dashboard {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    token: Token,
    allow_hosts: Vec<String>,
    mcp: ao_mcp::Options,
}

impl Dashboard {
    /// Listens on `addr` (port 0: any free one). Requests must name it in their `Host` (see
    /// [`auth::Hosts`]), or one of `allow_hosts` (a TLS proxy's name).
    pub async fn bind(
        addr: SocketAddr,
        token: Token,
        allow_hosts: Vec<String>,
    ) -> Result<Dashboard, Error> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| Error::Listen { addr, source })?;
        Ok(Dashboard {
            listener,
            addr,
            token,
            allow_hosts,
            mcp: ao_mcp::Options {
                allow_replies: false,
                allowed_by: "ao dashboard --mcp-allow-replies",
            },
        })
    }

    /// Whether `/mcp` serves the `permit` and `answer` tools (`--mcp-allow-replies`): a client
    /// with the token could then answer sessions' requests, which otherwise only a person does
    /// (on the page, or with the API's own permit and answer).
    pub fn allow_mcp_replies(mut self, allow: bool) -> Dashboard {
        self.mcp.allow_replies = allow;
        self
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a person opens. The token is in its fragment, which the browser keeps to itself:
    /// the page's script takes it from there.
    pub fn url(&self) -> String {
        format!("http://{}/#token={}", self.addr, self.token.reveal())
    }

    /// Writes a page that sends the browser to [`Dashboard::url`] into `dir` (created 0700), as
    /// a file only its owner may read (0600), and returns its path: `--open` gives the browser
    /// that path, so that neither the token nor anything worth it goes on a command line, which
    /// every user of the machine can read (Jupyter opens its browser the same way).
    pub fn write_open_page(&self, dir: &Path) -> std::io::Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let path = dir.join(format!("open-{}.html", self.addr.port()));
        // A page left by a run that was killed is replaced, never written through.
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        // The URL is an address, `#token=` and hex: nothing in it needs escaping in HTML.
        let url = self.url();
        write!(
            file,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
             <meta name=\"referrer\" content=\"no-referrer\">\
             <meta http-equiv=\"refresh\" content=\"0;url={url}\">\
             <title>ao dashboard</title></head>\n\
             <body><p><a href=\"{url}\">Open the ao dashboard</a></p></body></html>\n"
        )?;
        file.sync_all()?;
        Ok(path)
    }

    /// Whether it listens on a loopback address only.
    pub fn is_loopback(&self) -> bool {
        self.addr.ip().is_loopback()
    }

    /// Starts the live model over `manager` and serves until `shutdown` completes; then open
    /// event streams are ended and requests under way get [`SHUTDOWN_GRACE`] to finish.
    pub async fn serve(
        self,
        manager: Arc<SessionManager>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let model = LiveModel::start(
            manager,
            ao_core::target::Target::All,
            LiveOptions::default(),
        )
        .await?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (hub, mut following) = LiveHub::start(model, stop_rx.clone());
        let stopping = stop_rx.clone();
        // MCP's event streams end with the dashboard, as the page's do.
        let mcp_stop = ao_mcp::CancellationToken::new();
        let mut stop_for_mcp = stop_rx.clone();
        let cancel_mcp = mcp_stop.clone();
        tokio::spawn(async move {
            let _ = stop_for_mcp.wait_for(|s| *s).await;
            cancel_mcp.cancel();
        });
        let app = api::router(api::AppState {
            mcp: ao_mcp::http_service(hub.clone(), self.mcp, mcp_stop),
            hub,
            auth: Arc::new(auth::Auth::new(
                self.token,
                auth::Hosts::new(self.addr, self.allow_hosts),
            )),
            stop: stop_rx,
        });
        let mut stopped = stop_tx.subscribe();
        let serving = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let serving = tokio::spawn(async move { serving.await });
        let mut serving = std::pin::pin!(serving);
        tokio::select! {
            done = &mut serving => return finish(done),
            _ = stopped.wait_for(|s| *s) => {}
            _ = &mut following => {
                // It also ends when the dashboard is told to stop.
                if !*stopping.borrow() {
                    return Err(Error::LiveStopped);
                }
            }
        }
        match tokio::time::timeout(SHUTDOWN_GRACE, serving).await {
            Ok(done) => finish(done),
            // A request still running is dropped with the process. A spawn cut short leaves
            // what a killed `ao spawn` leaves: a `spawning` row that `ao status` reports and
            // `ao kill` removes.
            Err(_) => Ok(()),
        }
    }
}

fn finish(done: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), Error> {
    match done {
        Ok(result) => result.map_err(Error::Serve),
        Err(e) => Err(Error::Serve(std::io::Error::other(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_page_for_the_browser_is_its_owners_alone_and_replaces_a_stale_one() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let token = Token::random();
        let secret = token.reveal().to_string();
        let dashboard = runtime
            .block_on(Dashboard::bind(
                "127.0.0.1:0".parse().unwrap(),
                token,
                vec![],
            ))
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dashboard");
        let stale = dir.join(format!("open-{}.html", dashboard.addr().port()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&stale, "a page left by a killed run").unwrap();
        std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let page = dashboard.write_open_page(&dir).unwrap();
        assert_eq!(page, stale);
        let mode = std::fs::metadata(&page).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.contains(&format!("url={}", dashboard.url())), "{html}");
        assert!(dashboard.url().ends_with(&format!("/#token={secret}")));
        // A directory it makes is private too.
        let fresh = tmp.path().join("new/dashboard");
        dashboard.write_open_page(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
