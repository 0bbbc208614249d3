//! ao's web dashboard: every session of every project live in a browser, with the actions a
//! person needs, and a JSON API under `/api` that mirrors the CLI.
//!
//! It is one more consumer of the live session model (`ao_core::live`), like `ao watch`, and like
//! every surface of ao it only presents: actions go through the model's current
//! [`SessionManager`], never to tmux or an agent.
//!
//! - [`hub`]: one task owns the live model and keeps the sessions it last said, each already as
//!   JSON; every browser's event stream starts from them and then follows the changes, so a
//!   browser that reconnects gets the whole state again.
//! - [`api`]: the routes, and the reads: they come from the hub.
//! - [`actions`]: spawn, permit, answer, send, kill, restore: they call the manager and answer
//!   with the words the CLI prints, or with `{"error": …}` and a status code from the error's
//!   type ([`reply`]).
//! - [`auth`]: a random token per run (or one kept in a file), traded for an HttpOnly
//!   SameSite=Strict cookie by the page, or sent as `Authorization: Bearer`; a POST from a foreign
//!   `Origin` is refused.
//! - [`assets`]: the page (plain HTML, CSS and JS), embedded in the binary: no build step, no
//!   request leaving the machine.
//!
//! docs/architecture.md ("`ao dashboard`") has the rest.

pub mod actions;
pub mod api;
pub mod assets;
pub mod auth;
pub mod hub;
pub mod reply;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ao_core::live::{LiveModel, LiveOptions};
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
}

impl Dashboard {
    /// Listens on `addr` (port 0: any free one).
    pub async fn bind(addr: SocketAddr, token: Token) -> Result<Dashboard, Error> {
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
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a person opens: the token in it is traded for a cookie on the first visit.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.token.reveal())
    }

    /// A URL for `--open`: a code that works once, for a minute, so the token itself never goes
    /// on a browser's command line.
    pub fn url_once(&self) -> String {
        format!("http://{}/?once={}", self.addr, self.token.once_code())
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
        let model = LiveModel::start(manager, None, LiveOptions::default()).await?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (hub, mut following) = hub::Hub::start(model, stop_rx.clone());
        let stopping = stop_rx.clone();
        let app = api::router(api::AppState {
            hub,
            auth: Arc::new(auth::Auth::new(self.token, self.addr.port())),
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
