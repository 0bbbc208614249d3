//! One `opencode serve` per project: started on demand, found again, health-checked, restarted
//! when dead.
//!
//! Theory of operation. The server runs detached from `ao` (its own session and process group) on
//! 127.0.0.1 with a port it picks itself (`--port 0`; ao reads the port from the line the server
//! prints, so no other program can take it in between), with a random password, new for each
//! start, in its environment and the project's OpenCode settings in `OPENCODE_CONFIG_CONTENT`. Its pid, start time, port and
//! the path of its password file (0600) are kept in the session store (from the moment it is
//! spawned, before it answers: see [`ServerRecord::starting`]); a later `ao` reuses the
//! server after a health check with short timeouts (a fresh server accepts connections before it
//! answers them) and starts a new one when the old one is gone. A file lock per project keeps two
//! `ao spawn` started at once from starting two servers. ao's own requests to it never go through a
//! proxy; the server keeps the person's proxy settings for its calls to the provider, with the
//! loopback names added to `NO_PROXY`.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ao_agent::agent::{AgentError, ProjectContext};
use ao_agent::blocking::unblock;
use ao_agent::home::StateHome;
use ao_agent::project::Project;
use ao_agent::runtime::process::{spawn_detached, ProcessIdentity};
use ao_agent::runtime::LaunchSpec;
use rand::Rng;
use serde::{Deserialize, Serialize};

use ao_agent::remote::Location;

use crate::client::Client;
use crate::remote::{self, RemoteServer};
use crate::settings::OpenCodeSettings;

/// How long a new server may take to answer its first health check (a cold start on a loaded
/// 2-core machine takes several seconds).
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a known server may take to answer before it is considered hung.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(1500);
/// The second chance of a server that did not answer [`HEALTH_TIMEOUT`].
const HEALTH_RETRY_TIMEOUT: Duration = Duration::from_secs(6);

/// What the store keeps about a project's server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRecord {
    /// The server's pid.
    pub pid: u32,
    /// Its start time (clock ticks since boot), against pid reuse.
    pub start_time: u64,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The 0600 file holding its password.
    pub password_file: PathBuf,
    /// When ao started it, epoch milliseconds: a turn begun before then was interrupted.
    #[serde(default)]
    pub started_at_ms: i64,
    /// A fingerprint of the OpenCode config it was started with (not the config itself, which
    /// may hold provider keys): a different one means the project's config changed since.
    #[serde(default)]
    pub config_fingerprint: String,
    /// For a server ao started on a host over ssh: where it runs there. `pid` and `start_time`
    /// are then those of the ssh master here, which carries the forward that `url` reaches.
    #[serde(default)]
    pub remote: Option<RemoteServer>,
    /// For a server someone else runs: its basic-auth user name, when not OpenCode's default.
    /// (Never stored: such a server has no record.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// For a server someone else runs at an https URL: the PEM file of the CAs its certificate is
    /// checked against (`server.caFile`), for the follower and the TUI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Set while the server starts, before it has said its port (`url` is then empty): recorded
    /// before ao waits for it, so that an `ao` interrupted meanwhile (Ctrl-C, SIGKILL) leaves no
    /// server, holding a password, that nothing finds. No client talks to such a record's
    /// server; `ao kill` and the next start stop it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub starting: bool,
}

impl ServerRecord {
    /// The process that runs here for it: the server's, or its tunnel's ssh master.
    pub(crate) fn identity(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: self.pid,
            start_time: self.start_time,
        }
    }

    /// The server's process when it runs on this machine (not a tunnel's, not elsewhere).
    pub fn process_here(&self) -> Option<ProcessIdentity> {
        (self.remote.is_none() && self.pid != 0).then(|| self.identity())
    }

    /// The key the session-list mirror and the feed holders name this server by: its URL and pid.
    pub fn list_key(&self) -> String {
        format!("{} {}", self.url, self.pid)
    }

    /// The server's password, from its file.
    pub fn password(&self) -> Result<String, AgentError> {
        StateHome::read_secret(&self.password_file)
            .map(|p| p.trim().to_string())
            .map_err(AgentError::from)
    }

    /// A client for this server.
    pub fn client(&self) -> Result<Client, AgentError> {
        Client::new(&self.url, &self.password()?).map_err(crate::agent_error)
    }
}

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

/// The key of a project's server record in the plugin's state.
pub(crate) fn key(project: &str) -> String {
    format!("server:{project}")
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
        Ok(cx.state.get(&key(&cx.project.name)).await?)
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
        let rec = match &cx.project.location {
            _ if rec.starting => return Ok(None),
            // The tunnel is what runs here: one that died is opened again.
            Location::Ssh(_) => self.tunnel(cx, rec).await?,
            _ if !rec.identity().is_alive() => return Ok(None),
            _ => rec,
        };
        let client = rec.client()?;
        Ok(Some((rec, client)))
    }

    /// The record of a server on a host with its tunnel open: as it is when its master runs, else
    /// with the master opened again and the forward made again (on the same local port when it is
    /// free). Fails, `Unreachable`, when the host cannot be reached.
    async fn tunnel(
        &self,
        cx: &ProjectContext<'_>,
        rec: ServerRecord,
    ) -> Result<ServerRecord, AgentError> {
        if rec.identity().is_alive() {
            return Ok(rec);
        }
        let (Location::Ssh(dest), Some(_)) = (&cx.project.location, &rec.remote) else {
            return Ok(rec);
        };
        let _timed = ao_agent::timing::phase(|| "ssh tunnel re-opened".into());
        let host = remote::host(&self.settings, dest)?;
        // One `ao` at a time opens the host's tunnel again; the others then find it in the record.
        let _lock = {
            let host = host.clone();
            unblock(move || host.lock("tunnel"))
                .await
                .map_err(remote::ssh_error)?
        };
        let mut rec = self.record(cx).await?.unwrap_or(rec);
        let Some(server) = rec.remote.clone() else {
            return Ok(rec);
        };
        if rec.identity().is_alive() {
            return Ok(rec);
        }
        let (master, port) = remote::reopen(host, port_of(&rec.url), server.port).await?;
        rec.pid = master.pid;
        rec.start_time = master.start_time;
        rec.url = format!("http://127.0.0.1:{port}");
        remote::save(cx, &rec).await?;
        Ok(rec)
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
        let rec = match &cx.project.location {
            // One whose start was cut short: nothing to talk to (the next start stops it).
            _ if rec.starting => return Ok(ServerState::Gone),
            Location::Ssh(_) => self.tunnel(cx, rec).await?,
            _ if !rec.identity().is_alive() => return Ok(ServerState::Gone),
            _ => rec,
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
        if let (Location::Ssh(dest), Some(server)) = (&cx.project.location, &rec.remote) {
            let host = remote::host(&self.settings, dest)?;
            if !remote::alive(host, server.pid).await? {
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
        let fingerprint = config_fingerprint(project);
        let stale = |rec: &ServerRecord| rec.config_fingerprint != fingerprint;
        if let ServerState::Up { record, client, .. } = self.lookup(cx).await? {
            if !stale(&record) || self.busy(cx).await? {
                return Ok((record, client));
            }
        }
        let lock_path = self
            .settings
            .home
            .servers_dir()?
            .join(format!("{}.lock", project.name));
        let lock = unblock(move || lock_file(&lock_path)).await?;
        // Another ao may have started it while we waited for the lock.
        let result = match self.lookup(cx).await? {
            // The config changed and no turn would be cut off: restart it with the new config.
            ServerState::Up { record, .. } if stale(&record) && !self.busy(cx).await? => {
                self.replace(cx, &record).await
            }
            ServerState::Up { record, client, .. } => Ok((record, client)),
            ServerState::Unresponsive(rec) => {
                // Give a busy server a moment before replacing it.
                match wait_healthy(&rec, Duration::from_secs(10)).await {
                    Ok(client) => Ok((rec, client)),
                    Err(_) => self.replace(cx, &rec).await,
                }
            }
            ServerState::Gone => self.start(cx).await,
        };
        drop(lock);
        result
    }

    /// Stops the project's server `old` and starts it again.
    async fn replace(
        &self,
        cx: &ProjectContext<'_>,
        old: &ServerRecord,
    ) -> Result<(ServerRecord, Client), AgentError> {
        self.stop(cx, old, false).await?;
        self.start(cx).await
    }

    /// Stops a server ao started: here by pid, on a host over ssh (ending the connection with
    /// `close`). Never one at a URL.
    pub async fn stop(
        &self,
        cx: &ProjectContext<'_>,
        rec: &ServerRecord,
        close: bool,
    ) -> Result<(), AgentError> {
        match (&cx.project.location, &rec.remote) {
            (Location::Url(_), _) => Ok(()),
            (Location::Ssh(dest), Some(server)) => {
                let host = remote::host(&self.settings, dest)?;
                remote::stop(host, server.pid, close).await
            }
            _ => {
                stop_server(rec.identity()).await;
                Ok(())
            }
        }
    }

    /// Starts the project's server, with a new password: one that outlived its server could
    /// be sent, by a TUI or a follower still pointed at the old port, to whoever binds that port
    /// next. A local server takes a port of its own; ao's followers find it through the record.
    async fn start(&self, cx: &ProjectContext<'_>) -> Result<(ServerRecord, Client), AgentError> {
        let password: String = {
            let mut rng = rand::rng();
            (0..32)
                .map(|_| format!("{:02x}", rng.random::<u8>()))
                .collect()
        };
        let previous = self.record(cx).await?;
        if let Location::Ssh(dest) = &cx.project.location {
            return self
                .start_remote(cx, dest, previous.as_ref(), &password)
                .await;
        }
        // A server whose start an interrupted `ao` left behind.
        if let Some(orphan) = previous.filter(|r| r.starting) {
            stop_server(orphan.identity()).await;
        }
        self.start_on(cx, &password).await
    }

    async fn start_on(
        &self,
        cx: &ProjectContext<'_>,
        password: &str,
    ) -> Result<(ServerRecord, Client), AgentError> {
        let project = cx.project;
        let home = &self.settings.home;
        let password_file =
            home.write_secret(&format!("opencode-{}.password", project.name), password)?;
        let log = home.servers_dir()?.join(format!("{}.log", project.name));
        let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);

        let mut args = vec![
            "serve".to_string(),
            "--hostname".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
        ];
        if self.settings.pure {
            args.push("--pure".into());
        }
        let mut env = self.settings.client_env();
        env.push(("OPENCODE_SERVER_PASSWORD".into(), password.to_string()));
        env.extend(crate::settings::loopback_no_proxy());
        env.push((
            "OPENCODE_CONFIG_CONTENT".into(),
            crate::settings::server_config(project).to_string(),
        ));
        let spec = LaunchSpec {
            program: self.settings.bin.clone(),
            args,
            cwd: project.path.clone(),
            env,
            stdin_file: None,
        };
        let started_at_ms = crate::now_ms();
        let id = spawn_detached(&spec, &log).map_err(|e| {
            AgentError::Launch(format!(
                "cannot start `{} serve` for project {}: {e}; install it with scripts/install-opencode \
                 or set AO_OPENCODE_BIN",
                self.settings.bin.display(),
                project.name
            ))
        })?;

        // Recorded before waiting for it: see `ServerRecord::starting`.
        let mut rec = ServerRecord {
            pid: id.pid,
            start_time: id.start_time,
            url: String::new(),
            password_file,
            started_at_ms,
            config_fingerprint: config_fingerprint(project),
            remote: None,
            username: None,
            ca_file: None,
            starting: true,
        };
        if let Err(e) = cx.state.set(&key(&project.name), rec.clone()).await {
            stop_server(id).await;
            return Err(e.into());
        }
        ao_agent::fault::crash_point(ao_agent::fault::SERVER_STARTING);

        let deadline = Instant::now() + START_DEADLINE;
        let url = loop {
            if let Some(url) = listening_url(&log, offset) {
                break url;
            }
            if !id.is_alive() {
                return Err(AgentError::Launch(format!(
                    "the OpenCode server of project {} exited during start:\n{}",
                    project.name,
                    log_tail(&log, offset)
                )));
            }
            if Instant::now() > deadline {
                stop_server(id).await;
                return Err(AgentError::Launch(format!(
                    "the OpenCode server of project {} did not start within {}s; see {}",
                    project.name,
                    START_DEADLINE.as_secs(),
                    log.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        rec.url = url;
        rec.starting = false;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let client = match wait_healthy(&rec, remaining).await {
            Ok(c) => c,
            Err(e) => {
                stop_server(id).await;
                return Err(e);
            }
        };
        if let Err(e) = cx.state.set(&key(&project.name), rec.clone()).await {
            // Unrecorded, no later ao could find it: stop it rather than leave it running.
            stop_server(id).await;
            return Err(e.into());
        }
        Ok((rec, client))
    }

    /// Starts the project's server on its host, with a tunnel to it; the old one's ports when
    /// they are free.
    async fn start_remote(
        &self,
        cx: &ProjectContext<'_>,
        dest: &ao_agent::trust::Gated<ao_agent::remote::SshDestination>,
        previous: Option<&ServerRecord>,
        password: &str,
    ) -> Result<(ServerRecord, Client), AgentError> {
        let project = cx.project;
        let password_file = self
            .settings
            .home
            .write_secret(&format!("opencode-{}.password", project.name), password)?;
        let host = remote::host(&self.settings, dest)?;
        let started_at_ms = crate::now_ms();
        let started = remote::start(
            host.clone(),
            project.path.clone(),
            project.name.clone(),
            self.settings.pure,
            0,
            previous.and_then(|r| Some((port_of(&r.url)?, r.remote.as_ref()?.port))),
            password.to_string(),
            crate::settings::server_config(project).to_string(),
        )
        .await
        .map_err(|e| match e {
            AgentError::Launch(m) => AgentError::Launch(format!(
                "cannot start the OpenCode server of project {} on {}: {m}",
                project.name,
                dest.shown()
            )),
            other => other,
        })?;
        let rec = ServerRecord {
            pid: started.master.pid,
            start_time: started.master.start_time,
            url: format!("http://127.0.0.1:{}", started.local_port),
            password_file,
            started_at_ms,
            config_fingerprint: config_fingerprint(project),
            remote: Some(started.server.clone()),
            username: None,
            ca_file: None,
            starting: false,
        };
        let stop_it = || remote::stop(host.clone(), started.server.pid, false);
        let client = match wait_healthy(&rec, remote::HEALTH_DEADLINE).await {
            Ok(c) => c,
            Err(e) => {
                let _ = stop_it().await;
                return Err(e);
            }
        };
        if let Err(e) = remote::save(cx, &rec).await {
            let _ = stop_it().await;
            return Err(e);
        }
        Ok((rec, client))
    }

    /// Whether a session of the project was last seen in the middle of a turn.
    async fn busy(&self, cx: &ProjectContext<'_>) -> Result<bool, AgentError> {
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
        Ok(self.record(cx).await?.map(|r| r.identity()))
    }
}

/// Polls `/global/health` with short timeouts until it answers or `within` passes.
async fn wait_healthy(rec: &ServerRecord, within: Duration) -> Result<Client, AgentError> {
    let client = rec.client()?;
    let deadline = Instant::now() + within;
    loop {
        if client.health(Duration::from_millis(800)).await.is_ok() {
            return Ok(client);
        }
        if !rec.identity().is_alive() {
            return Err(AgentError::Unreachable(format!(
                "the OpenCode server at {} exited",
                rec.url
            )));
        }
        if Instant::now() > deadline {
            return Err(AgentError::Timeout(format!(
                "the OpenCode server at {} does not answer",
                rec.url
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A stable fingerprint (FNV-1a, 64 bits) of the OpenCode config a project's server gets.
fn config_fingerprint(project: &Project) -> String {
    let text = crate::settings::server_config(project).to_string();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// The port of `http://127.0.0.1:PORT`.
pub(crate) fn port_of(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

/// The URL from the server's `opencode server listening on http://…` line, written after `offset`.
fn listening_url(log: &std::path::Path, offset: u64) -> Option<String> {
    let text = read_from(log, offset);
    let line = text.lines().find(|l| l.contains("server listening on "))?;
    let url = line.split("listening on ").nth(1)?.trim();
    Some(url.trim_end_matches('/').to_string())
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

fn log_tail(log: &std::path::Path, offset: u64) -> String {
    let text = read_from(log, offset);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Stops a server's process (TERM, then KILL after 5 s), off the async thread since it waits.
pub(crate) async fn stop_server(id: ProcessIdentity) {
    unblock(move || id.stop(Duration::from_secs(5))).await;
}

/// An exclusive lock on a file, released when dropped.
fn lock_file(path: &std::path::Path) -> Result<nix::fcntl::Flock<std::fs::File>, AgentError> {
    ao_agent::home::lock_file(path).map_err(|source| AgentError::Io {
        what: format!("cannot lock {}", path.display()),
        source,
    })
}
