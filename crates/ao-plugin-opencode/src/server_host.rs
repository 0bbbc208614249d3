//! The shared servers on ssh hosts: one `opencode serve` on a host for every project there whose
//! server settings are the same, reached here through one forward of the host's ssh master.
//!
//! Joining, leaving and moving are `server_shared.rs`'s, as for a local server; this module has
//! what differs on a host: the server's name ([`SharedKey`] `ssh-<fingerprint>` of the
//! destination, `--pure` and the OpenCode config: not the local binary, which does not run
//! there), the check that a joining project's directory exists there (the server runs in the
//! login's home and serves any directory, so nothing else would tell), the start and the stop, and
//! the tunnel opened again after its master died.

use std::collections::BTreeSet;

use ao_agent::agent::{AgentError, ProjectContext};
use ao_agent::blocking::unblock;
use ao_agent::project::Project;
use ao_agent::remote::SshDestination;
use ao_agent::trust::Gated;

use crate::client::Client;
use crate::remote;
use crate::server::{new_password, wait_healthy, Servers};
use crate::server_record::{key, ServerRecord, SharedKey, TunnelServer};
use crate::settings::OpenCodeSettings;

impl Servers {
    /// The name of the server on `dest` for the project's settings as they are now.
    pub(crate) fn host_key(&self, dest: &Gated<SshDestination>, project: &Project) -> SharedKey {
        SharedKey(format!(
            "ssh-{}",
            host_fingerprint(self.settings(), dest.shown(), project)
        ))
    }

    /// Fails, saying so, when the project's directory does not exist on its host.
    pub(crate) async fn check_directory(
        &self,
        cx: &ProjectContext<'_>,
        dest: &Gated<SshDestination>,
    ) -> Result<(), AgentError> {
        let host = remote::host(self.settings(), dest)?;
        remote::check_directory(host, cx.project.path.clone())
            .await
            .map_err(|e| match e {
                AgentError::Launch(m) => {
                    AgentError::Launch(format!("project {}: {m}", cx.project.name))
                }
                other => other,
            })
    }

    /// Starts the shared server `shared` on `dest` for `projects`, with a new password, and a
    /// tunnel to it: on the local port of `previous` (a server of the same name that died) when
    /// it is free, so that the TUIs and followers pointed at it find the new one.
    pub(crate) async fn start_on_host(
        &self,
        cx: &ProjectContext<'_>,
        dest: &Gated<SshDestination>,
        shared: &SharedKey,
        projects: BTreeSet<String>,
        previous: Option<&ServerRecord>,
    ) -> Result<(ServerRecord, Client), AgentError> {
        let password = new_password();
        let stem = shared.file_stem();
        let password_file = unblock({
            let (home, name, password) = (
                self.settings().home.clone(),
                format!("opencode-{stem}.password"),
                password.clone(),
            );
            move || home.write_secret(&name, &password)
        })
        .await?;
        let host = remote::host(self.settings(), dest)?;
        let started_at_ms = crate::now_ms();
        let previous_ports = match previous {
            Some(ServerRecord::Tunnel(old)) => Some((old.local_port, old.remote.port)),
            _ => None,
        };
        // A start that an `ao` cut off after the server began there left it running with no
        // record: its token, noted here before it began, lets this start stop it there. Noted
        // before this start begins, for the next one, should this one be cut off too.
        let here = dest.shown().to_string();
        let unfinished = cx
            .state
            .get::<StartOnHost>(&start_key(shared))
            .await
            .ok()
            .flatten()
            .filter(|m| m.host == here)
            .map(|m| {
                let recorded = match previous {
                    Some(ServerRecord::Tunnel(old)) => Some(old.remote.pid),
                    _ => None,
                };
                (m.token, recorded)
            });
        let token = new_password();
        let marker = StartOnHost {
            host: here,
            token: token.clone(),
        };
        cx.state.set(&start_key(shared), marker).await?;
        let spec = remote::StartSpec {
            dir: "~".into(),
            log: stem,
            pure: self.settings().pure,
            password,
            config: crate::settings::server_config(cx.project).to_string(),
            token,
            unfinished,
        };
        let started = remote::start(host.clone(), spec, previous_ports)
            .await
            .map_err(|e| match e {
                AgentError::Launch(m) => AgentError::Launch(format!(
                    "cannot start the OpenCode server of project {} on {}: {m}",
                    cx.project.name,
                    dest.shown()
                )),
                other => other,
            })?;
        ao_agent::fault::pause_point("after-starting-on-host").await;
        let forward = Some((started.local_port, started.server.port));
        let rec = ServerRecord::Tunnel(TunnelServer {
            master: started.master,
            local_port: started.local_port,
            remote: started.server.clone(),
            password_file,
            started_at_ms,
            config_fingerprint: shared.0.clone(),
            projects,
        });
        let stop_it = || async {
            let _ = remote::stop(host.clone(), started.server.pid, forward, false).await;
            forget_start(cx, shared).await;
        };
        let client = match wait_healthy(&rec, remote::HEALTH_DEADLINE).await {
            Ok(c) => c,
            Err(e) => {
                stop_it().await;
                return Err(e);
            }
        };
        if let Err(e) = cx.state.set(&shared.state_key(), rec.clone()).await {
            // Unrecorded, no later ao could find it: stop it rather than leave it running.
            stop_it().await;
            return Err(e.into());
        }
        // Recorded: the start is over. A note that outlives this (a store that refused the
        // removal) costs the next start a look at a pid file, nothing more.
        forget_start(cx, shared).await;
        self.on_host(cx, dest.shown().as_str(), shared).await;
        Ok((rec, client))
    }

    /// Notes that the shared server `shared` runs on `host` (see [`last_on_host`]).
    ///
    /// [`last_on_host`]: Self::last_on_host
    pub(crate) async fn on_host(&self, cx: &ProjectContext<'_>, host: &str, shared: &SharedKey) {
        let name = shared.0.clone();
        let _ = cx
            .state
            .update(
                &servers_on_key(host),
                move |on: &mut Option<BTreeSet<String>>| {
                    on.get_or_insert_with(BTreeSet::new).insert(name);
                },
            )
            .await;
    }

    /// Notes that the shared server `shared` on `host` is released; true when no other server
    /// ao started there is recorded, so that the host's connection can end with it. The
    /// connection carries every server's forward there: ending it under another server would cut
    /// that one's clients off until the next `ao` opened it again.
    pub(crate) async fn last_on_host(
        &self,
        cx: &ProjectContext<'_>,
        host: &str,
        shared: &SharedKey,
    ) -> bool {
        let name = shared.0.clone();
        cx.state
            .update(
                &servers_on_key(host),
                move |on: &mut Option<BTreeSet<String>>| {
                    let servers = on.get_or_insert_with(BTreeSet::new);
                    servers.remove(&name);
                    let last = servers.is_empty();
                    if last {
                        *on = None;
                    }
                    last
                },
            )
            .await
            .unwrap_or(true)
    }

    /// Stops a server on the project's host and its forward here; with `close`, ends the host's
    /// connection too. A record of another host (the project's `host:` changed since) is not
    /// reached through this one: its tunnel's master is stopped, as for a project whose `host:`
    /// is gone.
    pub(crate) async fn stop_on_host(
        &self,
        cx: &ProjectContext<'_>,
        tunnel: &TunnelServer,
        close: bool,
    ) -> Result<(), AgentError> {
        match &cx.project.location {
            ao_agent::remote::Location::Ssh(dest)
                if dest.shown().as_str() == tunnel.remote.host =>
            {
                let host = remote::host(self.settings(), dest)?;
                let forward = Some((tunnel.local_port, tunnel.remote.port));
                remote::stop(host, tunnel.remote.pid, forward, close).await
            }
            _ => {
                crate::server::stop_server(tunnel.master).await;
                Ok(())
            }
        }
    }

    /// The record of a server on a host with its tunnel open: as it is when its master runs, else
    /// with the master opened again and the forward made again (on the same local port when it is
    /// free). Fails, `Unreachable`, when the host cannot be reached.
    pub(crate) async fn tunnel(
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
        let host = remote::host(self.settings(), dest)?;
        // One `ao` at a time opens the host's tunnels again; the others then find it in the
        // record.
        let _lock = {
            let host = host.clone();
            unblock(move || host.lock("tunnel"))
                .await
                .map_err(remote::ssh_error)?
        };
        let (mut tunnel, record_key) =
            match crate::server_record::load(cx.state, &cx.project.name).await? {
                Some((ServerRecord::Tunnel(tunnel), shared)) => {
                    let record_key = match shared {
                        Some(shared) => shared.state_key(),
                        None => key(&cx.project.name),
                    };
                    (tunnel, record_key)
                }
                Some((other, _)) => return Ok(other),
                None => (known, key(&cx.project.name)),
            };
        if tunnel.master.is_alive() {
            return Ok(ServerRecord::Tunnel(tunnel));
        }
        let (master, port) =
            remote::reopen(host, Some(tunnel.local_port), tunnel.remote.port).await?;
        tunnel.master = master;
        tunnel.local_port = port;
        // Only the tunnel's fields: a project may join a shared server meanwhile (under the
        // server's lock, not this one).
        cx.state
            .update(&record_key, move |r: &mut Option<ServerRecord>| {
                if let Some(ServerRecord::Tunnel(t)) = r {
                    t.master = master;
                    t.local_port = port;
                }
            })
            .await?;
        Ok(ServerRecord::Tunnel(tunnel))
    }
}

/// A start of a server on a host under way, or cut off: the host, and the token of the pid file
/// the start writes there (see `remote::START`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StartOnHost {
    host: String,
    token: String,
}

/// Where the start of the shared server `shared` on its host is noted.
fn start_key(shared: &SharedKey) -> String {
    format!("starting-on-host:{}", shared.0)
}

/// The start of `shared` is over (its server recorded, or stopped again).
async fn forget_start(cx: &ProjectContext<'_>, shared: &SharedKey) {
    let _ = cx
        .state
        .update(&start_key(shared), |m: &mut Option<StartOnHost>| *m = None)
        .await;
}

/// The key under which the plugin keeps the names of the shared servers it started on `host`.
fn servers_on_key(host: &str) -> String {
    format!("servers-on:{host}")
}

/// The fingerprint of what a server on a host runs with and a project chooses: the destination,
/// `--pure` and the OpenCode config. Projects on the host with the same one share a server. The
/// local binary is not part of it: it does not run there.
fn host_fingerprint(
    settings: &OpenCodeSettings,
    dest: &SshDestination,
    project: &Project,
) -> String {
    let all = serde_json::json!({
        "host": dest.as_str(),
        "pure": settings.pure,
        "config": crate::settings::server_config(project),
    });
    ao_agent::remote::ssh::fnv(&all.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_on_one_host_with_the_same_settings_name_the_same_server() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut project, home, _, _) = crate::test_world::world(&tmp);
        let settings = OpenCodeSettings {
            bin: tmp.path().join("opencode"),
            ao_exe: "ao".into(),
            pure: true,
            events: true,
            feed_silence: std::time::Duration::from_secs(30),
            home,
        };
        let servers = Servers::new(settings.clone());
        let dest = |d: &str| Gated::trusted(SshDestination::parse(d).unwrap());
        project.path = "/srv/a".into();
        let a = servers.host_key(&dest("me@builder"), &project);
        assert!(a.0.starts_with("ssh-"), "{a}");
        // Another project there, in another directory: the same server.
        let mut other = project.clone();
        other.name = "b".into();
        other.path = "/srv/b".into();
        assert_eq!(a, servers.host_key(&dest("me@builder"), &other));
        // Another host, or other OpenCode settings: another server.
        assert_ne!(a, servers.host_key(&dest("me@other"), &project));
        other.agent_config.settings.insert(
            crate::agent::OPENCODE_CONFIG_KEY.into(),
            serde_json::json!({"provider": {"mock": {"name": "n"}}}),
        );
        assert_ne!(a, servers.host_key(&dest("me@builder"), &other));
        // The local binary does not run there: an update of it is the same server.
        let moved = Servers::new(OpenCodeSettings {
            bin: "/elsewhere/opencode".into(),
            ..settings
        });
        assert_eq!(a, moved.host_key(&dest("me@builder"), &project));
    }
}
