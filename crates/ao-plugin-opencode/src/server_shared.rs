//! The servers that projects share, here or on an ssh host: which server a project's settings name
//! ([`SharedKey`]), joining it (starting it when it does not run), leaving it (the last project to
//! leave stops it), and moving a project whose settings changed. See `server.rs` for the theory of
//! operation, `server_host.rs` for what differs on a host, and docs/architecture.md, "Shared
//! OpenCode servers".

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ao_agent::agent::{AgentError, ProjectContext};
use ao_agent::blocking::unblock;
use ao_agent::project::Project;
use ao_agent::remote::Location;
use ao_agent::runtime::process::{spawn_detached, ProcessIdentity};
use ao_agent::runtime::LaunchSpec;

use crate::client::Client;
use crate::server::{
    listening_port, lock_file, log_tail, new_password, stop_server, wait_healthy, ServerState,
    Servers, HEALTH_RETRY_TIMEOUT, HEALTH_TIMEOUT, START_DEADLINE,
};
use crate::server_record::{key, LocalServer, LocalStart, ProjectServer, ServerRecord, SharedKey};
use crate::settings::OpenCodeSettings;

impl Servers {
    /// The name of the shared server for the project's settings (and host) as they are now.
    pub fn shared_key(&self, project: &Project) -> SharedKey {
        match &project.location {
            Location::Ssh(dest) => self.host_key(dest, project),
            Location::Local | Location::Url(_) => {
                SharedKey(shared_fingerprint(self.settings(), project))
            }
        }
    }

    /// A client of the shared server for the project's settings, joining it (starting it if it
    /// is not running); the project leaves its previous server if it moves.
    pub(crate) async fn ensure_shared(
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
                if here {
                    // A move cut off after it joined, before it left the old server.
                    self.leave_moved_from(cx).await;
                }
                return Ok((record, client));
            }
        }
        let joined = match self.join(cx, &wanted).await {
            Ok(joined) => joined,
            Err(e) => {
                // Still where it was: its sessions there go on.
                if let Some((_, Some(old))) = current {
                    let _ = cx
                        .state
                        .update(
                            &key(&cx.project.name),
                            move |p: &mut Option<ProjectServer>| {
                                let mut from = match p.take() {
                                    Some(ProjectServer::Shared { from, .. }) => from,
                                    _ => BTreeSet::new(),
                                };
                                from.remove(&old);
                                *p = Some(ProjectServer::Shared { shared: old, from });
                            },
                        )
                        .await;
                }
                return Err(e);
            }
        };
        // The project has moved: it leaves the servers it moved away from, now or in a move
        // cut off before. One it fails to leave only keeps running until its other projects
        // release it, which is no reason to fail what the project asked for.
        self.leave_moved_from(cx).await;
        // A server of the project's own, which an older ao started (or a tunnel, the project's
        // `host:` gone from the config).
        if let Some((own, None)) = current {
            let _ = self.stop(cx, &own, false).await;
        }
        Ok(joined)
    }

    /// Leaves the shared servers the project's pointer says it moved away from (`from`); those
    /// it could not leave stay named, for its next move or its release.
    pub(crate) async fn leave_moved_from(&self, cx: &ProjectContext<'_>) {
        let pointer_key = key(&cx.project.name);
        let from = match cx.state.get::<ProjectServer>(&pointer_key).await {
            Ok(Some(ProjectServer::Shared { from, .. })) => from,
            _ => return,
        };
        let mut left = BTreeSet::new();
        for old in from {
            if self.leave(cx, &old).await.is_ok() {
                left.insert(old);
            }
        }
        if left.is_empty() {
            return;
        }
        let _ = cx
            .state
            .update(&pointer_key, move |p: &mut Option<ProjectServer>| {
                if let Some(ProjectServer::Shared { from, .. }) = p {
                    from.retain(|k| !left.contains(k));
                }
            })
            .await;
    }

    /// Joins the project to the shared server `shared`: the running one, or one started now (with
    /// the projects that already used it, whose sessions follow it through their records).
    async fn join(
        &self,
        cx: &ProjectContext<'_>,
        shared: &SharedKey,
    ) -> Result<(ServerRecord, Client), AgentError> {
        // A server on a host serves any directory there: a project whose directory is not there
        // is told now, before it is one of the server's.
        if let Location::Ssh(dest) = &cx.project.location {
            self.check_directory(cx, dest).await?;
        }
        let lock = self.lock_shared(shared).await?;
        let project = cx.project.name.clone();
        let stored: Option<ServerRecord> = cx.state.get(&shared.state_key()).await?;
        let mut users: BTreeSet<String> = stored
            .as_ref()
            .and_then(ServerRecord::projects)
            .cloned()
            .unwrap_or_default();
        users.insert(project.clone());
        // Named before anything starts: a start cut short is then found, and stopped, by the
        // project's release (`ao kill`) as by the next start. The server it moves away from is
        // named too, to be left once this one is joined.
        let to = shared.clone();
        cx.state
            .update(&key(&project), move |p: &mut Option<ProjectServer>| {
                let from = match p.take() {
                    Some(ProjectServer::Shared { shared, mut from }) => {
                        from.insert(shared);
                        from.remove(&to);
                        from
                    }
                    _ => BTreeSet::new(),
                };
                *p = Some(ProjectServer::Shared { shared: to, from });
            })
            .await?;
        // A server whose start an interrupted `ao` left behind is stopped before another starts.
        let orphan = rec_starting(&stored);
        let running = match stored {
            Some(_) if matches!(cx.project.location, Location::Ssh(_)) => {
                self.running_on_host(cx).await?
            }
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
                        if let Some(projects) = r.as_mut().and_then(ServerRecord::projects_mut) {
                            projects.insert(p);
                        }
                    })
                    .await?;
                let mut record = record;
                if let Some(projects) = record.projects_mut() {
                    *projects = users;
                }
                Ok((record, client))
            }
            None => {
                if let Some(orphan) = orphan {
                    stop_server(orphan).await;
                }
                match &cx.project.location {
                    Location::Ssh(dest) => {
                        // As the look above left it (its tunnel may have been opened again).
                        let previous = cx.state.get(&shared.state_key()).await?;
                        self.start_on_host(cx, dest, shared, users, previous.as_ref())
                            .await
                    }
                    Location::Local | Location::Url(_) => {
                        self.start_shared(cx, shared, users).await
                    }
                }
            }
        };
        drop(lock);
        result
    }

    /// The lock of the shared server `shared`: who joins it, starts it, leaves it or stops it
    /// holds it, so that two `ao` never start it twice or stop it under a project that joins.
    async fn lock_shared(
        &self,
        shared: &SharedKey,
    ) -> Result<nix::fcntl::Flock<std::fs::File>, AgentError> {
        let lock_path = self
            .settings()
            .home
            .servers_dir()?
            .join(format!("{}.lock", shared.file_stem()));
        unblock(move || lock_file(&lock_path)).await
    }

    /// The project leaves the shared server `shared`; the last project to leave stops it (on a
    /// host, with its forward and the host's connection).
    pub async fn leave(
        &self,
        cx: &ProjectContext<'_>,
        shared: &SharedKey,
    ) -> Result<(), AgentError> {
        let lock = self.lock_shared(shared).await?;
        let p = cx.project.name.clone();
        let unused = cx
            .state
            .update(&shared.state_key(), move |r: &mut Option<ServerRecord>| {
                let projects = r.as_mut().and_then(ServerRecord::projects_mut)?;
                projects.remove(&p);
                if projects.is_empty() {
                    return r.take();
                }
                None
            })
            .await?;
        let stopped = match unused {
            Some(ServerRecord::Tunnel(tunnel)) => {
                let close = self.last_on_host(cx, &tunnel.remote.host, shared).await;
                let stopped = self.stop_on_host(cx, &tunnel, close).await;
                if stopped.is_err() {
                    // The host could not be reached: the record stays, with no projects, so that
                    // the next release (the project's pointer is kept) or start finds the server.
                    self.on_host(cx, &tunnel.remote.host, shared).await;
                    let kept = ServerRecord::Tunnel(tunnel);
                    cx.state.set(&shared.state_key(), kept).await?;
                }
                stopped
            }
            Some(rec) => {
                if let Some(id) = rec.identity() {
                    stop_server(id).await;
                }
                Ok(())
            }
            None => Ok(()),
        };
        drop(lock);
        stopped
    }

    /// The shared server on the project's host that the project's record now names, when it runs
    /// (its tunnel opened again if need be) and answers; one that runs there and does not answer
    /// is given a moment, then stopped.
    async fn running_on_host(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<Option<(ServerRecord, Client)>, AgentError> {
        Ok(match self.lookup(cx).await? {
            ServerState::Up { record, client, .. } => Some((record, client)),
            ServerState::Unresponsive(rec) => {
                match wait_healthy(&rec, Duration::from_secs(10)).await {
                    Ok(client) => Some((rec, client)),
                    Err(_) => {
                        if let ServerRecord::Tunnel(tunnel) = &rec {
                            self.stop_on_host(cx, tunnel, false).await?;
                        }
                        None
                    }
                }
            }
            ServerState::Gone => None,
        })
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
        let stem = shared.file_stem();
        // The password's file, the servers' directory and where the log ends now: on the
        // blocking pool.
        let (password_file, servers_dir, log, offset) = unblock({
            let (home, stem, password) =
                (self.settings().home.clone(), stem.clone(), password.clone());
            move || -> Result<_, AgentError> {
                let password_file =
                    home.write_secret(&format!("opencode-{stem}.password"), &password)?;
                let servers_dir = home.servers_dir()?;
                let log = servers_dir.join(format!("{stem}.log"));
                let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
                Ok((password_file, servers_dir, log, offset))
            }
        })
        .await?;
        let record_key = shared.state_key();

        let mut args = vec![
            "serve".to_string(),
            "--hostname".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
        ];
        if self.settings().pure {
            args.push("--pure".into());
        }
        let mut env = self.settings().client_env();
        env.push(("OPENCODE_SERVER_PASSWORD".into(), password.clone()));
        env.extend(crate::settings::loopback_no_proxy());
        env.push((
            "OPENCODE_CONFIG_CONTENT".into(),
            crate::settings::server_config(project).to_string(),
        ));
        // No project's directory: a request that names none reaches no project's instance.
        let spec = LaunchSpec {
            program: self.settings().bin.clone(),
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
                self.settings().bin.display(),
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
    ao_agent::remote::ssh::fnv(&all.to_string())
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
                container: None,
                workspace: ao_agent::session::WorkspaceKind::Worktree,
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
}
