//! The OpenCode servers ao runs: one `opencode serve` on this machine for every group of projects
//! whose server settings are the same, one on an ssh host per project; started on demand, found
//! again, health-checked, restarted when dead.
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
//! Lifetime. A project joins the server of its settings when it first needs one (a spawn, a
//! restore), and leaves it when nothing of it is live (`release`); the last project to leave stops
//! it. A project whose settings changed moves to the server of its new settings at its next
//! `ensure` when none of its turns is under way (a turn lives in its server's memory), and the
//! other projects of its old server are left as they are. ao's own requests to a server never go
//! through a proxy; the server keeps the person's proxy settings for its calls to the provider,
//! with the loopback names added to `NO_PROXY`.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use ao_agent::agent::{AgentError, ProjectContext};
use ao_agent::blocking::unblock;
use ao_agent::project::Project;
use ao_agent::runtime::process::{spawn_detached, ProcessIdentity};
use ao_agent::runtime::LaunchSpec;
use rand::Rng;

use ao_agent::remote::{Location, SshDestination};
use ao_agent::trust::Gated;

use crate::client::Client;
use crate::remote;
// Re-exported: the plugin's other modules name the record through `server`.
pub use crate::server_record::ServerRecord;
pub use crate::server_record::SharedKey;
use crate::server_record::{key, save, LocalServer, LocalStart, ProjectServer, TunnelServer};
use crate::settings::OpenCodeSettings;

/// How long a new server may take to answer its first health check (a cold start on a loaded
/// 2-core machine takes several seconds).
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a known server may take to answer before it is considered hung.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(1500);
/// The second chance of a server that did not answer [`HEALTH_TIMEOUT`].
const HEALTH_RETRY_TIMEOUT: Duration = Duration::from_secs(6);

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

    /// The name of the shared server the project uses now, if it uses one.
    pub async fn shared_of(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<Option<SharedKey>, AgentError> {
        Ok(
            match cx
                .state
                .get::<ProjectServer>(&key(&cx.project.name))
                .await?
            {
                Some(ProjectServer::Shared { shared }) => Some(shared),
                _ => None,
            },
        )
    }

    /// The name of the shared server for the project's settings as they are now.
    pub fn shared_key(&self, project: &Project) -> SharedKey {
        SharedKey(shared_fingerprint(&self.settings, project))
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
        Ok(rec.identity().is_some_and(|p| p.is_alive()).then_some(rec))
    }

    /// The record of a server on a host with its tunnel open: as it is when its master runs, else
    /// with the master opened again and the forward made again (on the same local port when it is
    /// free). Fails, `Unreachable`, when the host cannot be reached.
    async fn tunnel(
        &self,
        cx: &ProjectContext<'_>,
        dest: &Gated<SshDestination>,
        rec: ServerRecord,
    ) -> Result<ServerRecord, AgentError> {
        // A record of another kind (the project's `host:` is new) has no tunnel to open.
        let ServerRecord::Tunnel(known) = rec else {
            return Ok(rec);
        };
        if known.master.is_alive() {
            return Ok(ServerRecord::Tunnel(known));
        }
        let _timed = ao_agent::timing::phase(|| "ssh tunnel re-opened".into());
        let host = remote::host(&self.settings, dest)?;
        // One `ao` at a time opens the host's tunnel again; the others then find it in the record.
        let _lock = {
            let host = host.clone();
            unblock(move || host.lock("tunnel"))
                .await
                .map_err(remote::ssh_error)?
        };
        let mut tunnel = match self.record(cx).await? {
            Some(ServerRecord::Tunnel(tunnel)) => tunnel,
            Some(other) => return Ok(other),
            None => known,
        };
        if tunnel.master.is_alive() {
            return Ok(ServerRecord::Tunnel(tunnel));
        }
        let (master, port) =
            remote::reopen(host, Some(tunnel.local_port), tunnel.remote.port).await?;
        tunnel.master = master;
        tunnel.local_port = port;
        let rec = ServerRecord::Tunnel(tunnel);
        save(cx, &rec).await?;
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
        if let Location::Local = &project.location {
            return self.ensure_shared(cx).await;
        }
        self.ensure_own(cx).await
    }

    /// A client of the shared server for the project's settings, joining it (starting it if it
    /// is not running); the project leaves its previous server if it moves.
    async fn ensure_shared(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<(ServerRecord, Client), AgentError> {
        let wanted = self.shared_key(cx.project);
        let current = crate::server_record::load(cx.state, &cx.project.name).await?;
        let here = matches!(&current, Some((_, Some(k))) if *k == wanted);
        // A turn under way lives in its server's memory: the project stays where it is until none
        // is, even if its settings changed.
        if here || (current.is_some() && self.busy(cx).await?) {
            if let ServerState::Up { record, client, .. } = self.lookup(cx).await? {
                return Ok((record, client));
            }
        }
        let joined = match self.join(cx, &wanted).await {
            Ok(joined) => joined,
            Err(e) => {
                // Still where it was: its sessions there go on.
                if let Some((_, Some(old))) = current {
                    let pointer = ProjectServer::Shared { shared: old };
                    let _ = cx.state.set(&key(&cx.project.name), pointer).await;
                }
                return Err(e);
            }
        };
        // The project has moved: an old server it fails to leave only keeps running until its
        // other projects release it, which is no reason to fail what the project asked for.
        match current {
            Some((_, Some(old))) if old != wanted => {
                let _ = self.leave(cx.state, &cx.project.name, &old).await;
            }
            // A server of the project's own, which an older ao started (or a tunnel, the project's
            // `host:` gone from the config).
            Some((own, None)) => {
                let _ = self.stop(cx, &own, false).await;
            }
            _ => {}
        }
        Ok(joined)
    }

    /// Joins the project to the shared server `shared`: the running one, or one started now (with
    /// the projects that already used it, whose sessions follow it through their records).
    async fn join(
        &self,
        cx: &ProjectContext<'_>,
        shared: &SharedKey,
    ) -> Result<(ServerRecord, Client), AgentError> {
        let lock_path = self
            .settings
            .home
            .servers_dir()?
            .join(format!("{}.lock", shared.file_stem()));
        let lock = unblock(move || lock_file(&lock_path)).await?;
        let project = cx.project.name.clone();
        let stored: Option<ServerRecord> = cx.state.get(&shared.state_key()).await?;
        let mut users: BTreeSet<String> = match &stored {
            Some(ServerRecord::Local(local)) => local.projects.clone(),
            _ => BTreeSet::new(),
        };
        users.insert(project.clone());
        // Named before anything starts: a start cut short is then found, and stopped, by the
        // project's release (`ao kill`) as by the next start.
        let pointer = ProjectServer::Shared {
            shared: shared.clone(),
        };
        cx.state.set(&key(&project), pointer).await?;
        // A server whose start an interrupted `ao` left behind is stopped before another starts.
        let orphan = rec_starting(&stored);
        let running = match stored {
            Some(rec) => match probe(rec).await {
                ServerState::Up { record, client, .. } => Some((record, client)),
                ServerState::Unresponsive(rec) => {
                    // Give a busy server a moment before replacing it.
                    match wait_healthy(&rec, Duration::from_secs(10)).await {
                        Ok(client) => Some((rec, client)),
                        Err(_) => {
                            if let Some(id) = rec.identity() {
                                stop_server(id).await;
                            }
                            None
                        }
                    }
                }
                ServerState::Gone => None,
            },
            None => None,
        };
        let result = match running {
            Some((record, client)) => {
                let p = project.clone();
                cx.state
                    .update(&shared.state_key(), move |r: &mut Option<ServerRecord>| {
                        if let Some(ServerRecord::Local(local)) = r {
                            local.projects.insert(p);
                        }
                    })
                    .await?;
                let record = match record {
                    ServerRecord::Local(mut local) => {
                        local.projects = users;
                        ServerRecord::Local(local)
                    }
                    other => other,
                };
                Ok((record, client))
            }
            None => {
                if let Some(orphan) = orphan {
                    stop_server(orphan).await;
                }
                self.start_shared(cx, shared, users).await
            }
        };
        drop(lock);
        result
    }

    /// The project leaves the shared server `shared`; the last project to leave stops it.
    pub async fn leave(
        &self,
        state: &ao_agent::state::PluginState,
        project: &str,
        shared: &SharedKey,
    ) -> Result<(), AgentError> {
        let lock_path = self
            .settings
            .home
            .servers_dir()?
            .join(format!("{}.lock", shared.file_stem()));
        let lock = unblock(move || lock_file(&lock_path)).await?;
        let p = project.to_string();
        let unused = state
            .update(&shared.state_key(), move |r: &mut Option<ServerRecord>| {
                if let Some(ServerRecord::Local(local)) = r {
                    local.projects.remove(&p);
                    if local.projects.is_empty() {
                        return r.take();
                    }
                }
                None
            })
            .await?;
        if let Some(id) = unused.and_then(|rec| rec.identity()) {
            stop_server(id).await;
        }
        drop(lock);
        Ok(())
    }

    /// A client of the project's own server (on its ssh host), starting (or restarting) it if
    /// needed.
    async fn ensure_own(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<(ServerRecord, Client), AgentError> {
        let project = cx.project;
        let fingerprint = config_fingerprint(project);
        let stale = |rec: &ServerRecord| rec.config_fingerprint() != Some(fingerprint.as_str());
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
        match (&cx.project.location, rec) {
            (Location::Url(_), _) | (_, ServerRecord::Url(_)) => Ok(()),
            (Location::Ssh(dest), ServerRecord::Tunnel(tunnel)) => {
                let host = remote::host(&self.settings, dest)?;
                remote::stop(host, tunnel.remote.pid, close).await
            }
            // A server here; or, the project's `host:` gone from the config, the tunnel to one
            // there.
            (_, ServerRecord::Local(LocalServer { process, .. }))
            | (
                _,
                ServerRecord::Tunnel(TunnelServer {
                    master: process, ..
                }),
            ) => {
                stop_server(*process).await;
                Ok(())
            }
        }
    }

    /// Starts the project's server, with a new password: one that outlived its server could
    /// be sent, by a TUI or a follower still pointed at the old port, to whoever binds that port
    /// next. A local server takes a port of its own; ao's followers find it through the record.
    async fn start(&self, cx: &ProjectContext<'_>) -> Result<(ServerRecord, Client), AgentError> {
        let password = new_password();
        let previous = self.record(cx).await?;
        let Location::Ssh(dest) = &cx.project.location else {
            return Err(AgentError::Launch(format!(
                "project {} has no server of its own to start: it shares one",
                cx.project.name
            )));
        };
        self.start_remote(cx, dest, previous.as_ref(), &password)
            .await
    }

    /// Starts the shared server `shared` for `projects`, with a new password.
    async fn start_shared(
        &self,
        cx: &ProjectContext<'_>,
        shared: &SharedKey,
        projects: BTreeSet<String>,
    ) -> Result<(ServerRecord, Client), AgentError> {
        let password = new_password();
        let project = cx.project;
        let home = &self.settings.home;
        let stem = shared.file_stem();
        let password_file = home.write_secret(&format!("opencode-{stem}.password"), &password)?;
        let servers_dir = home.servers_dir()?;
        let log = servers_dir.join(format!("{stem}.log"));
        let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let record_key = shared.state_key();

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
        env.push(("OPENCODE_SERVER_PASSWORD".into(), password.clone()));
        env.extend(crate::settings::loopback_no_proxy());
        env.push((
            "OPENCODE_CONFIG_CONTENT".into(),
            crate::settings::server_config(project).to_string(),
        ));
        // No project's directory: a request that names none reaches no project's instance.
        let spec = LaunchSpec {
            program: self.settings.bin.clone(),
            args,
            cwd: servers_dir,
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

        // Recorded before waiting for it: see `LocalStart::Starting`.
        let mut local = LocalServer {
            process: id,
            start: LocalStart::Starting,
            password_file,
            started_at_ms,
            config_fingerprint: shared.0.clone(),
            projects,
        };
        let starting = ServerRecord::Local(local.clone());
        if let Err(e) = cx.state.set(&record_key, starting).await {
            stop_server(id).await;
            return Err(e.into());
        }
        ao_agent::fault::crash_point(ao_agent::fault::SERVER_STARTING);

        let deadline = Instant::now() + START_DEADLINE;
        let port = loop {
            if let Some(port) = listening_port(&log, offset) {
                break port;
            }
            if !id.is_alive() {
                return Err(AgentError::Launch(format!(
                    "the OpenCode server for project {} exited during start:\n{}",
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
        local.start = LocalStart::Listening { port };
        let rec = ServerRecord::Local(local);
        let remaining = deadline.saturating_duration_since(Instant::now());
        let client = match wait_healthy(&rec, remaining).await {
            Ok(c) => c,
            Err(e) => {
                stop_server(id).await;
                return Err(e);
            }
        };
        if let Err(e) = cx.state.set(&record_key, rec.clone()).await {
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
        dest: &Gated<SshDestination>,
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
        let previous_ports = match previous {
            Some(ServerRecord::Tunnel(old)) => Some((old.local_port, old.remote.port)),
            _ => None,
        };
        let started = remote::start(
            host.clone(),
            project.path.clone(),
            project.name.clone(),
            self.settings.pure,
            0,
            previous_ports,
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
        let rec = ServerRecord::Tunnel(TunnelServer {
            master: started.master,
            local_port: started.local_port,
            remote: started.server.clone(),
            password_file,
            started_at_ms,
            config_fingerprint: config_fingerprint(project),
        });
        let stop_it = || remote::stop(host.clone(), started.server.pid, false);
        let client = match wait_healthy(&rec, remote::HEALTH_DEADLINE).await {
            Ok(c) => c,
            Err(e) => {
                let _ = stop_it().await;
                return Err(e);
            }
        };
        if let Err(e) = save(cx, &rec).await {
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
        Ok(self.record(cx).await?.and_then(|r| r.identity()))
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

/// A stable fingerprint (FNV-1a, 64 bits) of the OpenCode config a project's server gets.
fn config_fingerprint(project: &Project) -> String {
    fnv(&crate::settings::server_config(project).to_string())
}

/// The fingerprint of what a local server runs with and a project chooses: the binary (its path,
/// size and modification time, so that an update is another server), `--pure` and the OpenCode
/// config. Projects with the same one share a server.
///
/// The environment (OpenCode's data and config homes, its switches, the proxies) is the one of the
/// `ao` that starts the server, as before servers were shared, and not part of it: a later `ao`
/// run from another shell would otherwise move the project to a server of another data home,
/// where its conversations are not.
fn shared_fingerprint(settings: &OpenCodeSettings, project: &Project) -> String {
    let bin = std::fs::metadata(&settings.bin)
        .ok()
        .or_else(|| {
            // A bare name: the one on PATH.
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join(&settings.bin))
                    .find_map(|p| std::fs::metadata(p).ok())
            })
        })
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{mtime}", m.len())
        })
        .unwrap_or_default();
    let all = serde_json::json!({
        "bin": settings.bin.to_string_lossy(),
        "binary": bin,
        "pure": settings.pure,
        "config": crate::settings::server_config(project),
    });
    fnv(&all.to_string())
}

/// 32 random bytes in hex: a server's password, new for each start.
fn new_password() -> String {
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// FNV-1a, 64 bits, as 16 hex digits: stable across ao's versions and machines.
fn fnv(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// The state of a local server from its record alone: gone when its start was cut short or its
/// process is gone; else up or unresponsive, as its health check says.
async fn probe(rec: ServerRecord) -> ServerState {
    if rec.is_starting() || !rec.identity().is_some_and(|p| p.is_alive()) {
        return ServerState::Gone;
    }
    let client = match rec.client() {
        Ok(client) => client,
        // Its password file is gone: ao cannot talk to it, so it is replaced.
        Err(_) => return ServerState::Unresponsive(rec),
    };
    for timeout in [HEALTH_TIMEOUT, HEALTH_RETRY_TIMEOUT] {
        if let Ok(version) = client.health(timeout).await {
            return ServerState::Up {
                record: rec,
                client,
                version,
            };
        }
    }
    ServerState::Unresponsive(rec)
}

/// The process of a local server whose start was cut short.
fn rec_starting(rec: &Option<ServerRecord>) -> Option<ProcessIdentity> {
    match rec {
        Some(ServerRecord::Local(local)) if local.start == LocalStart::Starting => {
            Some(local.process)
        }
        _ => None,
    }
}

/// The port of the URL in the server's `opencode server listening on http://…` line, written
/// after `offset` (the server listens on 127.0.0.1, as it was told).
fn listening_port(log: &std::path::Path, offset: u64) -> Option<u16> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_with_the_same_server_settings_name_the_same_server() {
        let tmp = tempfile::tempdir().unwrap();
        let settings = OpenCodeSettings {
            bin: tmp.path().join("opencode"),
            ao_exe: "ao".into(),
            pure: true,
            events: true,
            feed_silence: Duration::from_secs(30),
            home: ao_agent::home::StateHome::at(tmp.path()),
        };
        let project = |name: &str, config: serde_json::Value| {
            let mut p = Project {
                name: name.into(),
                path: tmp.path().join(name),
                agent_config: Default::default(),
                location: Default::default(),
            };
            p.agent_config
                .settings
                .insert(crate::agent::OPENCODE_CONFIG_KEY.into(), config);
            p
        };
        let config = serde_json::json!({"provider": {"mock": {"name": "m"}}});
        let a = shared_fingerprint(&settings, &project("a", config.clone()));
        // Another project, another directory: the same server.
        assert_eq!(a, shared_fingerprint(&settings, &project("b", config)));
        // Other OpenCode settings, or another way of running OpenCode: another server.
        let other = serde_json::json!({"provider": {"mock": {"name": "n"}}});
        assert_ne!(a, shared_fingerprint(&settings, &project("a", other)));
        let impure = OpenCodeSettings {
            pure: false,
            ..settings.clone()
        };
        let config = serde_json::json!({"provider": {"mock": {"name": "m"}}});
        assert_ne!(a, shared_fingerprint(&impure, &project("a", config)));
        assert_eq!(a.len(), 16);
    }

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
