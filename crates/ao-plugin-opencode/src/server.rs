//! The OpenCode servers ao runs: one `opencode serve` on this machine for every group of projects
//! whose server settings are the same, and one on an ssh host for every group of projects there
//! whose settings are (`server_host.rs`); started on demand, found again, health-checked,
//! restarted when dead.
//!
//! Theory of operation. A local server runs detached from `ao` (its own session and process group)
//! on 127.0.0.1 with a port it picks itself (`--port 0`; ao reads the port from the line the server
//! prints, so no other program can take it in between), with a random password, new for each
//! start, in its environment and the OpenCode settings in `OPENCODE_CONFIG_CONTENT`. OpenCode
//! serves any directory from one server (an instance per directory), so a server is not a
//! project's: projects whose settings have the same fingerprint ([`SharedKey`]: the binary,
//! `--pure`, the OpenCode config) share one, which runs in the state
//! home's `servers/` (no project's directory) and knows which projects use it. Its pid, start
//! time, port and the path of its password file (0600) are kept in the session store (from the
//! moment it is spawned, before it answers: see [`LocalStart::Starting`]); a later `ao` reuses the
//! server after a health check with short timeouts (a fresh server accepts connections before it
//! answers them) and starts a new one when the old one is gone. A file lock per server keeps two
//! `ao spawn` started at once from starting two servers, and orders joining and leaving it.
//!
//! A project with `container:` has a server of its own in its own container instead
//! (`server_boxed.rs`): never a shared one, since a box per project is the point.
//!
//! Lifetime (`server_shared.rs`). A project joins the server of its settings when it first needs one (a spawn, a
//! restore), and leaves it when nothing of it is live (`release`); the last project to leave stops
//! it. A project whose settings changed moves to the server of its new settings at its next
//! `ensure` when none of its turns is under way (a turn lives in its server's memory), and the
//! other projects of its old server are left as they are. ao's own requests to a server never go
//! through a proxy; the server keeps the person's proxy settings for its calls to the provider,
//! with the loopback names added to `NO_PROXY`.

use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use ao_agent::agent::{AgentError, ProjectContext};
use ao_agent::blocking::unblock;
use ao_agent::runtime::process::ProcessIdentity;
use rand::Rng;

use ao_agent::remote::Location;

use crate::client::Client;
use crate::remote;
use futures_util::future::join_all;
// Re-exported: the plugin's other modules name the record through `server`.
pub use crate::server_record::ServerRecord;
pub use crate::server_record::SharedKey;
use crate::server_record::{key, LocalServer};
use crate::settings::OpenCodeSettings;

/// How long a new server may take to answer its first health check (a cold start on a loaded
/// 2-core machine takes several seconds).
pub(crate) const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a known server may take to answer before it is considered hung.
pub(crate) const HEALTH_TIMEOUT: Duration = Duration::from_millis(1500);
/// The second chance of a server that did not answer [`HEALTH_TIMEOUT`].
pub(crate) const HEALTH_RETRY_TIMEOUT: Duration = Duration::from_secs(6);

/// What is known about a project's server without starting one.
#[derive(Debug)]
pub enum ServerState {
    /// It runs and answers.
    Up {
        /// What the store keeps about it.
        record: ServerRecord,
        /// A client of it.
        client: Client,
        /// The version its health check gave.
        version: String,
    },
    /// Its process runs but it does not answer.
    Unresponsive(ServerRecord),
    /// There is none (never started, or it died).
    Gone,
}

/// The servers of all projects, found through the plugin's state in ao's store.
pub struct Servers {
    settings: OpenCodeSettings,
}

impl Servers {
    /// The servers of a plugin with these settings.
    pub fn new(settings: OpenCodeSettings) -> Servers {
        Servers { settings }
    }

    /// The settings in use.
    pub fn settings(&self) -> &OpenCodeSettings {
        &self.settings
    }

    /// What the store keeps about the project's server, if one was started.
    pub async fn record(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<Option<ServerRecord>, AgentError> {
        Ok(crate::server_record::load(cx.state, &cx.project.name)
            .await?
            .map(|(rec, _)| rec))
    }

    /// The project's server as the store knows it, when its process runs, with a client of it.
    /// No request is made: `ao status` takes the answer to its first request as the health
    /// check, which saves a round trip on every status. `None` when there is none.
    pub async fn running(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<Option<(ServerRecord, Client)>, AgentError> {
        if let Location::Url(server) = &cx.project.location {
            let rec = remote::url_record(&self.settings, &cx.project.name, server, false)?;
            return Ok(Some((
                rec,
                remote::url_client(&cx.project.name, server).await?,
            )));
        }
        let Some(rec) = self.record(cx).await? else {
            return Ok(None);
        };
        let Some(rec) = self.reachable(cx, rec).await? else {
            return Ok(None);
        };
        let client = rec.client()?;
        Ok(Some((rec, client)))
    }

    /// [`running`](Self::running) for each of the projects of one look. The servers on this
    /// machine are found in one trip to the blocking pool (their records, processes and
    /// passwords), and the projects that share one get one client of it; the others (at a URL,
    /// on an ssh host) each as `running` finds them.
    pub async fn running_all(
        &self,
        cxs: &[&ProjectContext<'_>],
    ) -> Vec<Result<Option<(ServerRecord, Client)>, AgentError>> {
        let here: Vec<usize> = (0..cxs.len())
            .filter(|&i| matches!(cxs[i].project.location, Location::Local))
            .collect();
        let elsewhere = join_all(
            (0..cxs.len())
                .filter(|i| !here.contains(i))
                .map(|i| async move { (i, self.running(cxs[i]).await) }),
        );
        let found_here = async {
            let Some(&first) = here.first() else {
                return Vec::new();
            };
            let state = cxs[first].state.clone();
            let names: Vec<String> = here.iter().map(|&i| cxs[i].project.name.clone()).collect();
            let found = unblock(move || {
                names
                    .iter()
                    .map(|name| {
                        let Some((rec, _)) =
                            crate::server_record::resolve_blocking(&state, &key(name))?
                        else {
                            return Ok(None);
                        };
                        if !rec.runs_here() {
                            return Ok(None);
                        }
                        let password = rec.password()?;
                        Ok(Some((rec, password)))
                    })
                    .collect::<Vec<Result<_, AgentError>>>()
            })
            .await;
            // One client per server: the projects that share it share its connections too.
            let mut clients: Vec<(String, String, Client)> = Vec::new();
            found
                .into_iter()
                .map(|f| {
                    let Some((rec, password)) = f? else {
                        return Ok(None);
                    };
                    let url = rec.to_string();
                    if let Some((_, _, c)) =
                        clients.iter().find(|(u, p, _)| *u == url && *p == password)
                    {
                        return Ok(Some((rec, c.clone())));
                    }
                    let client = rec.client_with(&password)?;
                    clients.push((url, password, client.clone()));
                    Ok(Some((rec, client)))
                })
                .collect()
        };
        let (elsewhere, found_here) = futures_util::join!(elsewhere, found_here);
        let mut out: Vec<Option<Result<_, AgentError>>> = (0..cxs.len()).map(|_| None).collect();
        for (i, f) in here.into_iter().zip(found_here) {
            out[i] = Some(f);
        }
        for (i, f) in elsewhere {
            out[i] = Some(f);
        }
        out.into_iter().map(|f| f.unwrap_or(Ok(None))).collect()
    }

    /// The stored record of a server ao started, when there is something to talk to: not one
    /// whose start was cut short (the next start stops it), nor one whose process is gone. On a
    /// host, the tunnel is what runs here: one that died is opened again.
    async fn reachable(
        &self,
        cx: &ProjectContext<'_>,
        rec: ServerRecord,
    ) -> Result<Option<ServerRecord>, AgentError> {
        if rec.is_starting() {
            return Ok(None);
        }
        if let Location::Ssh(dest) = &cx.project.location {
            return self.tunnel(cx, dest, rec).await.map(Some);
        }
        Ok(rec.runs_here().then_some(rec))
    }

    /// The state of a project's server; never starts one.
    pub async fn lookup(&self, cx: &ProjectContext<'_>) -> Result<ServerState, AgentError> {
        let _timed = ao_agent::timing::phase(|| "server lookup (record, pid, health)".into());
        if let Location::Url(server) = &cx.project.location {
            return self.lookup_url(cx, server).await;
        }
        let Some(rec) = self.record(cx).await? else {
            return Ok(ServerState::Gone);
        };
        let Some(rec) = self.reachable(cx, rec).await? else {
            return Ok(ServerState::Gone);
        };
        let client = match rec.client() {
            Ok(client) => client,
            // Its password file is gone or unreadable: ao cannot talk to it, so it is replaced
            // (with a new password) like a server that does not answer.
            Err(AgentError::State(_)) => return Ok(ServerState::Unresponsive(rec)),
            Err(e) => return Err(e),
        };
        // A request sent while the server is starting may never be answered, so the first try is
        // short; a server warming up a new work tree on a loaded machine can stall for seconds,
        // so the retry waits longer before calling it unresponsive.
        for timeout in [HEALTH_TIMEOUT, HEALTH_RETRY_TIMEOUT] {
            if let Ok(version) = client.health(timeout).await {
                return Ok(ServerState::Up {
                    record: rec,
                    client,
                    version,
                });
            }
        }
        if let (Location::Ssh(dest), ServerRecord::Tunnel(tunnel)) = (&cx.project.location, &rec) {
            let host = remote::host(&self.settings, dest)?;
            if !remote::alive(host, tunnel.remote.pid).await? {
                return Ok(ServerState::Gone);
            }
        }
        Ok(ServerState::Unresponsive(rec))
    }

    /// A server someone else runs: up, or why not (a wrong password is `Unauthorized`, naming
    /// where the password comes from).
    async fn lookup_url(
        &self,
        cx: &ProjectContext<'_>,
        server: &ao_agent::remote::UrlServer,
    ) -> Result<ServerState, AgentError> {
        let client = remote::url_client(&cx.project.name, server).await?;
        // The request a status makes first; a refused password is a 401 here (as on every
        // route, /global/health included, measured on 1.18.33).
        match client.sessions_page(HEALTH_RETRY_TIMEOUT).await {
            Ok(()) => {}
            Err(e) => {
                return Err(match crate::agent_error(e) {
                    AgentError::Unauthorized(_) => remote::unauthorized(&cx.project.name, server),
                    other => other,
                })
            }
        }
        let version = client
            .health(HEALTH_RETRY_TIMEOUT)
            .await
            .map_err(crate::agent_error)?;
        let record = remote::url_record(&self.settings, &cx.project.name, server, true)?;
        Ok(ServerState::Up {
            record,
            client,
            version,
        })
    }

    /// A client of the project's server, starting (or restarting) the server if needed.
    pub async fn ensure(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<(ServerRecord, Client), AgentError> {
        let project = cx.project;
        if let Location::Url(server) = &project.location {
            // Never started by ao: up, or an error that says why.
            return match self.lookup_url(cx, server).await? {
                ServerState::Up { record, client, .. } => Ok((record, client)),
                _ => Err(AgentError::Unreachable(format!(
                    "the OpenCode server of project {} at {} does not answer",
                    project.name, server.url
                ))),
            };
        }
        // A box per project: a project in a container never shares its server.
        if let (Location::Local, Some(container)) = (&project.location, &project.container) {
            return self.ensure_boxed(cx, container).await;
        }
        self.ensure_shared(cx).await
    }

    /// Stops a server ao started: here by pid, on a host over ssh (with its forward, and ending
    /// the connection with `close`). Never one at a URL.
    pub async fn stop(
        &self,
        cx: &ProjectContext<'_>,
        rec: &ServerRecord,
        close: bool,
    ) -> Result<(), AgentError> {
        match (&cx.project.location, rec) {
            (Location::Url(_), _) | (_, ServerRecord::Url(_)) => Ok(()),
            (_, ServerRecord::Boxed(boxed)) => self.stop_boxed(&cx.project.name, boxed).await,
            // On the project's host; or, the project's `host:` gone from the config, the tunnel
            // to one there.
            (_, ServerRecord::Tunnel(tunnel)) => self.stop_on_host(cx, tunnel, close).await,
            (_, ServerRecord::Local(LocalServer { process, .. })) => {
                stop_server(*process).await;
                Ok(())
            }
        }
    }

    /// Whether a session of the project was last seen in the middle of a turn.
    pub(crate) async fn busy(&self, cx: &ProjectContext<'_>) -> Result<bool, AgentError> {
        Ok(!crate::mid_turn::MidTurn::sessions(cx).await?.is_empty())
    }

    /// The process of a project's server, if one was started.
    pub async fn identity(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<Option<ProcessIdentity>, AgentError> {
        if cx.project.location.is_remote() {
            return Ok(None);
        }
        Ok(self.record(cx).await?.and_then(|r| r.identity()))
    }
}

/// Polls `/global/health` with short timeouts until it answers or `within` passes.
pub(crate) async fn wait_healthy(
    rec: &ServerRecord,
    within: Duration,
) -> Result<Client, AgentError> {
    let client = rec.client()?;
    let deadline = Instant::now() + within;
    loop {
        if client.health(Duration::from_millis(800)).await.is_ok() {
            return Ok(client);
        }
        if rec.identity().is_some_and(|p| !p.is_alive()) {
            return Err(AgentError::Unreachable(format!(
                "the OpenCode server at {rec} exited"
            )));
        }
        if Instant::now() > deadline {
            return Err(AgentError::Timeout(format!(
                "the OpenCode server at {rec} does not answer"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 32 random bytes in hex: a server's password, new for each start.
pub(crate) fn new_password() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// The port of the URL in the server's `opencode server listening on http://…` line, written
/// after `offset` (the server listens on 127.0.0.1, as it was told).
pub(crate) fn listening_port(log: &std::path::Path, offset: u64) -> Option<u16> {
    let text = read_from(log, offset);
    let line = text.lines().find(|l| l.contains("server listening on "))?;
    let url = line.split("listening on ").nth(1)?.trim();
    reqwest::Url::parse(url).ok()?.port_or_known_default()
}

fn read_from(log: &std::path::Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.read_to_string(&mut text);
        }
    }
    text
}

pub(crate) fn log_tail(log: &std::path::Path, offset: u64) -> String {
    let text = read_from(log, offset);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Stops a server's process (TERM, then KILL after 5 s), off the async thread since it waits.
pub(crate) async fn stop_server(id: ProcessIdentity) {
    unblock(move || id.stop(Duration::from_secs(5))).await;
}

/// An exclusive lock on a file, released when dropped.
pub(crate) fn lock_file(
    path: &std::path::Path,
) -> Result<nix::fcntl::Flock<std::fs::File>, AgentError> {
    ao_agent::home::lock_file(path).map_err(|source| AgentError::Io {
        what: format!("cannot lock {}", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_from_the_line_the_new_server_prints() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("p.log");
        std::fs::write(&log, "opencode server listening on http://127.0.0.1:4001\n").unwrap();
        let offset = std::fs::metadata(&log).unwrap().len();
        assert_eq!(listening_port(&log, offset), None, "an older start's line");
        let older = std::fs::read_to_string(&log).unwrap();
        std::fs::write(
            &log,
            format!(
                "{older}Warning: something\nopencode server listening on http://127.0.0.1:40123/\n"
            ),
        )
        .unwrap();
        assert_eq!(listening_port(&log, offset), Some(40123));
        assert_eq!(listening_port(&log, 0), Some(4001));
    }
}
