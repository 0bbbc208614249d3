//! What the plugin knows of a project's server, one kind per way it is reached: [`ServerRecord`].
//!
//! - [`LocalServer`]: an `opencode serve` that ao started on this machine, from the moment it is
//!   spawned ([`LocalStart::Starting`]) until it is stopped.
//! - [`TunnelServer`]: one that ao started on a host over ssh, reached here through a local port
//!   forward of the host's ssh master.
//! - [`BoxedServer`]: one that ao started in the project's container (`container:`), reached on
//!   127.0.0.1 through the port the engine publishes.
//! - [`ServerAtUrl`]: one that someone else runs. The config says where it is, so it is never
//!   stored.
//!
//! The store keeps a server ao started as the one flat JSON object ao has always written (`pid`,
//! `start_time`, `url`, `password_file`, …; `remote` for a tunnel, `starting` while a local server
//! starts, `projects` for a shared one, `container` for one in a container), not as a tagged enum:
//! a record an older ao wrote loads.
//!
//! Where it is kept ([`ProjectServer`]): a local server is shared by every project whose server
//! settings are the same, and a server on an ssh host by every project on that host whose settings
//! are ([`SharedKey`], a fingerprint of them, `ssh-…` for a host's): it is kept under
//! `shared-server:<fingerprint>` with the projects that use it, and `server:<project>` names it
//! (`{"shared": "<fingerprint>"}`). A record an older ao kept under `server:<project>` (a local
//! server, or one on a host, of the project's own) still loads there, as the project's, until the
//! project next moves to its shared server. A server in a
//! container is the project's own too, under `server:<project>`: a box per project is the point.
//!
//! `server.rs` (the servers on this machine) and `remote.rs` (those elsewhere) both build and
//! read records; this module imports neither.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use ao_agent::agent::{AgentError, ProjectContext};
use ao_agent::container::EngineKind;
use ao_agent::home::StateHome;
use ao_agent::remote::PasswordSource;
use ao_agent::runtime::process::ProcessIdentity;
use ao_agent::trust::Gated;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::client::Client;

/// A project's server, as the plugin reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerRecord {
    /// One ao started on this machine.
    Local(LocalServer),
    /// One ao started on an ssh host, reached through a tunnel.
    Tunnel(TunnelServer),
    /// One ao started in the project's container.
    Boxed(BoxedServer),
    /// One someone else runs at a URL.
    Url(ServerAtUrl),
}

/// An `opencode serve` ao started on this machine, on 127.0.0.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalServer {
    /// Its process (pid and start time, against pid reuse).
    pub process: ProcessIdentity,
    /// Whether it has said its port yet.
    pub start: LocalStart,
    /// The 0600 file holding its password, new at each start.
    pub password_file: PathBuf,
    /// When ao started it, epoch milliseconds: a turn begun before then was interrupted.
    pub started_at_ms: i64,
    /// A fingerprint of the OpenCode config it was started with (not the config itself, which
    /// may hold provider keys): a different one means the project's config changed since.
    pub config_fingerprint: String,
    /// The projects that use it, for a shared server (empty for a project's own, which an older ao
    /// started): it is stopped when the last of them releases it.
    pub projects: BTreeSet<String>,
}

/// How far a local server's start has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalStart {
    /// Spawned, and not yet listening: recorded before ao waits for its port, so that an `ao`
    /// interrupted meanwhile (Ctrl-C, SIGKILL) leaves no server, holding a password, that nothing
    /// finds. No client talks to it; `ao kill` and the next start stop it.
    Starting,
    /// Listening on `127.0.0.1:port`.
    Listening {
        /// The port it picked (`--port 0`) and printed.
        port: u16,
    },
}

/// An `opencode serve` ao started on an ssh host, and the tunnel that reaches it from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelServer {
    /// The host's ssh master here, which carries the forward: what runs on this machine for it.
    pub master: ProcessIdentity,
    /// The local end of the forward: the server is `http://127.0.0.1:<local_port>` here, for every
    /// client, follower and TUI alike.
    pub local_port: u16,
    /// Where it runs, there.
    pub remote: RemoteServer,
    /// The 0600 file holding its password, new at each start.
    pub password_file: PathBuf,
    /// When ao started it, epoch milliseconds: a turn begun before then was interrupted.
    pub started_at_ms: i64,
    /// A fingerprint of the OpenCode config it was started with (see [`LocalServer`]); for a
    /// shared one, its [`SharedKey`].
    pub config_fingerprint: String,
    /// The projects that use it, for a shared server (empty for a project's own, which an older ao
    /// started): it is stopped when the last of them releases it.
    pub projects: BTreeSet<String>,
}

/// An `opencode serve` ao started in the project's container, listening on the port the engine
/// publishes on 127.0.0.1 at the same number (or on the host's 127.0.0.1, with the host's network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoxedServer {
    /// The container's name, `ao-<project>-<hash>`.
    pub container: String,
    /// The engine that runs it.
    pub engine: EngineKind,
    /// The OCI runtime it was started with (podman's `--runtime`), which its later commands use.
    pub runtime: Option<String>,
    /// The container's first process on this machine (its init): it lives exactly as long as the
    /// container runs, so a status checks it without asking the engine.
    pub process: ProcessIdentity,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The 0600 file holding its password, new at each start.
    pub password_file: PathBuf,
    /// When ao started it, epoch milliseconds: a turn begun before then was interrupted.
    pub started_at_ms: i64,
    /// A fingerprint of the OpenCode config and the container settings it was started with.
    pub config_fingerprint: String,
}

/// Where the server ao started on a host runs, there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteServer {
    /// The ssh destination.
    pub host: String,
    /// The server's pid on the host.
    pub pid: u32,
    /// Its port on the host's 127.0.0.1.
    pub port: u16,
}

/// A server someone else runs: ao never starts, restarts or stops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAtUrl {
    /// Where it is (`http://…` or `https://…`).
    pub url: Url,
    /// Its basic-auth user name.
    pub username: String,
    /// Where its password comes from (the config's `passwordEnv` or `passwordFile`).
    pub password: Gated<PasswordSource>,
    /// For an https URL: the PEM file of the CAs its certificate is checked against
    /// (`server.caFile`), for the follower and the TUI.
    pub ca_file: Option<PathBuf>,
    /// Where the password is put (0600, under the state home) for a session's follower, which
    /// reads it from there.
    pub password_file: PathBuf,
}

impl ServerAtUrl {
    /// Its user name when not OpenCode's default: what a follower or TUI must be told.
    pub fn custom_username(&self) -> Option<&str> {
        Some(self.username.as_str()).filter(|u| *u != crate::client::DEFAULT_USERNAME)
    }

    /// The URL as ao writes it in messages and on command lines: without a trailing slash.
    pub fn shown(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }
}

/// The key of a project's server record in the plugin's state.
pub(crate) fn key(project: &str) -> String {
    format!("server:{project}")
}

/// The name of a shared server: the fingerprint of the settings it runs with (here: the binary,
/// `--pure`, the OpenCode config; on an ssh host, `ssh-` and a fingerprint of the destination,
/// `--pure` and the OpenCode config). Projects whose settings give the same fingerprint use the
/// same server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SharedKey(pub String);

impl SharedKey {
    /// Its record's key in the plugin's state.
    pub fn state_key(&self) -> String {
        format!("shared-server:{}", self.0)
    }

    /// What files of it are named by under the state home (`servers/`, `secrets/`).
    pub fn file_stem(&self) -> String {
        format!("shared-{}", self.0)
    }
}

impl fmt::Display for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `server:<project>` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProjectServer {
    /// The project uses the shared server of this name (here or on its ssh host).
    Shared {
        /// The shared server's name.
        shared: SharedKey,
        /// The shared servers the project is moving away from, still to be left: named when the
        /// move begins, so that a move cut off before the project left them (an `ao` killed while
        /// the new server starts) is finished by the next one, or by the project's release.
        #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
        from: BTreeSet<SharedKey>,
    },
    /// The project's own server: in its container, or one an older ao started (here or on its
    /// ssh host).
    Own(ServerRecord),
}

/// The project's server as the store names it now: the record and, for a shared server, its name.
/// A pointer to a shared server whose record is gone is no server.
pub async fn load(
    state: &ao_agent::state::PluginState,
    project: &str,
) -> Result<Option<(ServerRecord, Option<SharedKey>)>, ao_agent::error::StateError> {
    resolve(state, &key(project)).await
}

/// What the project record under `key` names: see [`load`].
pub async fn resolve(
    state: &ao_agent::state::PluginState,
    key: &str,
) -> Result<Option<(ServerRecord, Option<SharedKey>)>, ao_agent::error::StateError> {
    match state.get::<ProjectServer>(key).await? {
        None => Ok(None),
        Some(ProjectServer::Own(rec)) => Ok(Some((rec, None))),
        Some(ProjectServer::Shared { shared, .. }) => Ok(state
            .get::<ServerRecord>(&shared.state_key())
            .await?
            .map(|rec| (rec, Some(shared)))),
    }
}

/// [`resolve`], blocking: for a caller already on the blocking pool.
pub fn resolve_blocking(
    state: &ao_agent::state::PluginState,
    key: &str,
) -> Result<Option<(ServerRecord, Option<SharedKey>)>, ao_agent::error::StateError> {
    match state.get_blocking::<ProjectServer>(key)? {
        None => Ok(None),
        Some(ProjectServer::Own(rec)) => Ok(Some((rec, None))),
        Some(ProjectServer::Shared { shared, .. }) => Ok(state
            .get_blocking::<ServerRecord>(&shared.state_key())?
            .map(|rec| (rec, Some(shared)))),
    }
}

/// Saves the record of the project's server, one that ao started.
pub async fn save(cx: &ProjectContext<'_>, rec: &ServerRecord) -> Result<(), AgentError> {
    cx.state
        .set(&key(&cx.project.name), rec.clone())
        .await
        .map_err(AgentError::from)
}

/// `http://127.0.0.1:PORT`: where a server ao started is reached from here.
fn loopback(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

impl ServerRecord {
    /// The process that runs on this machine for it: the server's, or its tunnel's ssh master.
    /// None for a server at a URL.
    pub fn identity(&self) -> Option<ProcessIdentity> {
        match self {
            ServerRecord::Local(local) => Some(local.process),
            ServerRecord::Tunnel(tunnel) => Some(tunnel.master),
            ServerRecord::Boxed(boxed) => Some(boxed.process),
            ServerRecord::Url(_) => None,
        }
    }

    /// The server's process when it runs on this machine (not a tunnel's, not elsewhere); for a
    /// container, its init, which lives as long as the server.
    pub fn process_here(&self) -> Option<ProcessIdentity> {
        match self {
            ServerRecord::Local(local) => Some(local.process),
            ServerRecord::Boxed(boxed) => Some(boxed.process),
            ServerRecord::Tunnel(_) | ServerRecord::Url(_) => None,
        }
    }

    /// Whether it is a local server that has not said its port yet: nothing to talk to.
    pub fn is_starting(&self) -> bool {
        matches!(
            self,
            ServerRecord::Local(LocalServer {
                start: LocalStart::Starting,
                ..
            })
        )
    }

    /// When ao started it, epoch milliseconds; 0 for a server at a URL, which ao never started
    /// (so no turn was cut off by its start).
    pub fn started_at_ms(&self) -> i64 {
        match self {
            ServerRecord::Local(local) => local.started_at_ms,
            ServerRecord::Tunnel(tunnel) => tunnel.started_at_ms,
            ServerRecord::Boxed(boxed) => boxed.started_at_ms,
            ServerRecord::Url(_) => 0,
        }
    }

    /// The fingerprint of the OpenCode config ao started it with; none for a server at a URL.
    pub fn config_fingerprint(&self) -> Option<&str> {
        match self {
            ServerRecord::Local(local) => Some(&local.config_fingerprint),
            ServerRecord::Tunnel(tunnel) => Some(&tunnel.config_fingerprint),
            ServerRecord::Boxed(boxed) => Some(&boxed.config_fingerprint),
            ServerRecord::Url(_) => None,
        }
    }

    /// Whether there is something here to talk to: a server done starting whose process (or
    /// tunnel's master) runs. Reads `/proc`.
    pub fn runs_here(&self) -> bool {
        !self.is_starting() && self.identity().is_some_and(|p| p.is_alive())
    }

    /// The projects that use it, for a server that can be shared (here or on an ssh host); empty
    /// for a project's own that an older ao started.
    pub fn projects(&self) -> Option<&BTreeSet<String>> {
        match self {
            ServerRecord::Local(local) => Some(&local.projects),
            ServerRecord::Tunnel(tunnel) => Some(&tunnel.projects),
            ServerRecord::Boxed(_) | ServerRecord::Url(_) => None,
        }
    }

    /// The projects that use it, to change; see [`projects`](Self::projects).
    pub fn projects_mut(&mut self) -> Option<&mut BTreeSet<String>> {
        match self {
            ServerRecord::Local(local) => Some(&mut local.projects),
            ServerRecord::Tunnel(tunnel) => Some(&mut tunnel.projects),
            ServerRecord::Boxed(_) | ServerRecord::Url(_) => None,
        }
    }

    /// What ao's status says of it for a session of `project`: where it is, and which projects use
    /// it (those of a shared server; the project alone for its own server or one at a URL).
    pub fn shown_to(&self, project: &str) -> ao_agent::session::AgentServer {
        let projects = match self.projects() {
            Some(projects) if !projects.is_empty() => projects.iter().cloned().collect(),
            _ => vec![project.to_string()],
        };
        ao_agent::session::AgentServer {
            url: self.to_string(),
            projects,
        }
    }

    /// The key the session-list mirror and the feed holders name this server by: its URL and the
    /// pid of what runs here for it (0 for a server at a URL), as ao has always written it.
    pub fn list_key(&self) -> String {
        format!("{self} {}", self.identity().map_or(0, |p| p.pid))
    }

    /// The server's password: from its file for a server ao started, from the configured source
    /// for one at a URL.
    pub fn password(&self) -> Result<String, AgentError> {
        let file = match self {
            ServerRecord::Local(local) => &local.password_file,
            ServerRecord::Tunnel(tunnel) => &tunnel.password_file,
            ServerRecord::Boxed(boxed) => &boxed.password_file,
            ServerRecord::Url(at) => {
                return at
                    .password
                    .permit()?
                    .read()
                    .map_err(|e| AgentError::Unauthorized(e.to_string()))
            }
        };
        StateHome::read_secret(file)
            .map(|p| p.trim().to_string())
            .map_err(AgentError::from)
    }

    /// A client for this server. Blocks for a server at an https URL (it reads its CAs).
    pub fn client(&self) -> Result<Client, AgentError> {
        self.client_with(&self.password()?)
    }

    /// A client for this server with its password, already read. Blocks for a server at an
    /// https URL (it reads its CAs).
    pub fn client_with(&self, password: &str) -> Result<Client, AgentError> {
        let password = password.to_string();
        match self {
            ServerRecord::Url(at) => Client::remote(
                at.url.as_str(),
                &at.username,
                &password,
                at.ca_file.as_deref(),
            ),
            ServerRecord::Local(_) | ServerRecord::Tunnel(_) | ServerRecord::Boxed(_) => {
                Client::new(&self.to_string(), &password)
            }
        }
        .map_err(crate::agent_error)
    }
}

impl fmt::Display for ServerRecord {
    /// Where it is reached, as ao writes it: `http://127.0.0.1:PORT`, or the server's URL without
    /// a trailing slash. A local server still starting has none yet: it is named by its pid.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerRecord::Local(LocalServer {
                start: LocalStart::Listening { port },
                ..
            }) => f.write_str(&loopback(*port)),
            ServerRecord::Local(local) => {
                write!(f, "(a server starting as pid {})", local.process.pid)
            }
            ServerRecord::Tunnel(tunnel) => f.write_str(&loopback(tunnel.local_port)),
            ServerRecord::Boxed(boxed) => f.write_str(&loopback(boxed.port)),
            ServerRecord::Url(at) => f.write_str(at.shown()),
        }
    }
}

/// What the store keeps: the one flat object ao has always written for a server it started
/// (the fields, their order and their defaults are those of the record before it was an enum).
#[derive(Serialize, Deserialize)]
struct Stored {
    /// The server's pid, or its tunnel's ssh master's.
    pid: u32,
    start_time: u64,
    /// `http://127.0.0.1:PORT`; empty while a local server starts.
    url: String,
    password_file: PathBuf,
    #[serde(default)]
    started_at_ms: i64,
    #[serde(default)]
    config_fingerprint: String,
    /// Set for a tunnel.
    #[serde(default)]
    remote: Option<RemoteServer>,
    /// Only ever written for a server at a URL, which is never stored: read and dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// As `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    starting: bool,
    /// The projects that use a shared server.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    projects: BTreeSet<String>,
    /// Set for a server in a container. An older ao, which knows no such field, reads the record
    /// as a local server whose pid is the container's init: it still sees it die and stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    container: Option<StoredContainer>,
}

/// The container of a stored server.
#[derive(Serialize, Deserialize)]
struct StoredContainer {
    name: String,
    /// `podman` or `docker`.
    engine: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    runtime: Option<String>,
}

/// The port of a stored `http://127.0.0.1:PORT`.
fn stored_port(url: &str) -> Result<u16, String> {
    Url::parse(url)
        .ok()
        .and_then(|u| u.port_or_known_default())
        .ok_or_else(|| format!("a server record with the URL {url:?}, which names no port"))
}

impl TryFrom<Stored> for ServerRecord {
    type Error = String;

    fn try_from(stored: Stored) -> Result<ServerRecord, String> {
        let process = ProcessIdentity {
            pid: stored.pid,
            start_time: stored.start_time,
        };
        if let Some(container) = stored.container {
            return Ok(ServerRecord::Boxed(BoxedServer {
                engine: container.engine.parse().map_err(|_| {
                    format!(
                        "a server record of container {} names the engine {:?}, which ao does \
                         not know",
                        container.name, container.engine
                    )
                })?,
                container: container.name,
                runtime: container.runtime,
                process,
                port: stored_port(&stored.url)?,
                password_file: stored.password_file,
                started_at_ms: stored.started_at_ms,
                config_fingerprint: stored.config_fingerprint,
            }));
        }
        Ok(match stored.remote {
            Some(remote) => ServerRecord::Tunnel(TunnelServer {
                master: process,
                local_port: stored_port(&stored.url)?,
                remote,
                password_file: stored.password_file,
                started_at_ms: stored.started_at_ms,
                config_fingerprint: stored.config_fingerprint,
                projects: stored.projects,
            }),
            None => ServerRecord::Local(LocalServer {
                process,
                start: match stored.starting {
                    true => LocalStart::Starting,
                    false => LocalStart::Listening {
                        port: stored_port(&stored.url)?,
                    },
                },
                password_file: stored.password_file,
                started_at_ms: stored.started_at_ms,
                config_fingerprint: stored.config_fingerprint,
                projects: stored.projects,
            }),
        })
    }
}

impl TryFrom<&ServerRecord> for Stored {
    type Error = &'static str;

    fn try_from(rec: &ServerRecord) -> Result<Stored, &'static str> {
        Ok(match rec {
            ServerRecord::Local(local) => Stored {
                pid: local.process.pid,
                start_time: local.process.start_time,
                url: match local.start {
                    LocalStart::Starting => String::new(),
                    LocalStart::Listening { port } => loopback(port),
                },
                password_file: local.password_file.clone(),
                started_at_ms: local.started_at_ms,
                config_fingerprint: local.config_fingerprint.clone(),
                remote: None,
                username: None,
                ca_file: None,
                starting: local.start == LocalStart::Starting,
                projects: local.projects.clone(),
                container: None,
            },
            ServerRecord::Tunnel(tunnel) => Stored {
                pid: tunnel.master.pid,
                start_time: tunnel.master.start_time,
                url: loopback(tunnel.local_port),
                password_file: tunnel.password_file.clone(),
                started_at_ms: tunnel.started_at_ms,
                config_fingerprint: tunnel.config_fingerprint.clone(),
                remote: Some(tunnel.remote.clone()),
                username: None,
                ca_file: None,
                starting: false,
                projects: tunnel.projects.clone(),
                container: None,
            },
            ServerRecord::Boxed(boxed) => Stored {
                pid: boxed.process.pid,
                start_time: boxed.process.start_time,
                url: loopback(boxed.port),
                password_file: boxed.password_file.clone(),
                started_at_ms: boxed.started_at_ms,
                config_fingerprint: boxed.config_fingerprint.clone(),
                remote: None,
                username: None,
                ca_file: None,
                starting: false,
                projects: BTreeSet::new(),
                container: Some(StoredContainer {
                    name: boxed.container.clone(),
                    engine: boxed.engine.to_string(),
                    runtime: boxed.runtime.clone(),
                }),
            },
            ServerRecord::Url(_) => {
                return Err("a server at a URL is not stored: the config says where it is")
            }
        })
    }
}

impl Serialize for ServerRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Stored::try_from(self)
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ServerRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ServerRecord::try_from(Stored::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(start: LocalStart) -> ServerRecord {
        ServerRecord::Local(LocalServer {
            process: ProcessIdentity {
                pid: 4242,
                start_time: 987654,
            },
            start,
            password_file: "/home/me/.local/state/ao/secrets/opencode-web.password".into(),
            started_at_ms: 1_780_000_000_123,
            config_fingerprint: "8c1f0e2d3b4a5968".into(),
            projects: BTreeSet::new(),
        })
    }

    /// Loads `json` and writes it back unchanged.
    fn round_trip(json: &str, expected: &ServerRecord) {
        let read: ServerRecord = serde_json::from_str(json).expect("it loads");
        assert_eq!(&read, expected);
        assert_eq!(serde_json::to_string(&read).expect("it is written"), json);
    }

    // The JSON below is what ao wrote before the record was an enum, byte for byte
    // (`serde_json::to_string`, as the plugin's state does).

    #[test]
    fn a_local_server_still_starting_loads_as_written_before() {
        round_trip(
            r#"{"pid":4242,"start_time":987654,"url":"","password_file":"/home/me/.local/state/ao/secrets/opencode-web.password","started_at_ms":1780000000123,"config_fingerprint":"8c1f0e2d3b4a5968","remote":null,"starting":true}"#,
            &local(LocalStart::Starting),
        );
        assert!(local(LocalStart::Starting).is_starting());
    }

    #[test]
    fn a_local_server_listening_loads_as_written_before() {
        let rec = local(LocalStart::Listening { port: 40123 });
        round_trip(
            r#"{"pid":4242,"start_time":987654,"url":"http://127.0.0.1:40123","password_file":"/home/me/.local/state/ao/secrets/opencode-web.password","started_at_ms":1780000000123,"config_fingerprint":"8c1f0e2d3b4a5968","remote":null}"#,
            &rec,
        );
        assert_eq!(rec.to_string(), "http://127.0.0.1:40123");
        assert_eq!(rec.list_key(), "http://127.0.0.1:40123 4242");
        assert_eq!(rec.process_here(), rec.identity());
        assert!(!rec.is_starting());
    }

    /// A server on `me@builder` (pid 777, port 41000 there), tunnelled to port 38001 here.
    fn on_builder(
        password_file: &str,
        fingerprint: &str,
        projects: BTreeSet<String>,
    ) -> ServerRecord {
        ServerRecord::Tunnel(TunnelServer {
            master: ProcessIdentity {
                pid: 5151,
                start_time: 42,
            },
            local_port: 38001,
            remote: RemoteServer {
                host: "me@builder".into(),
                pid: 777,
                port: 41000,
            },
            password_file: password_file.into(),
            started_at_ms: 1_780_000_000_000,
            config_fingerprint: fingerprint.into(),
            projects,
        })
    }

    #[test]
    fn a_server_on_a_host_loads_as_written_before() {
        let rec = on_builder(
            "/s/opencode-web.password",
            "0000000000000001",
            BTreeSet::new(),
        );
        round_trip(
            r#"{"pid":5151,"start_time":42,"url":"http://127.0.0.1:38001","password_file":"/s/opencode-web.password","started_at_ms":1780000000000,"config_fingerprint":"0000000000000001","remote":{"host":"me@builder","pid":777,"port":41000}}"#,
            &rec,
        );
        assert_eq!(rec.list_key(), "http://127.0.0.1:38001 5151");
        assert_eq!(rec.process_here(), None, "the master is not the server");
    }

    #[test]
    fn a_shared_server_on_a_host_keeps_its_projects() {
        let rec = on_builder(
            "/s/opencode-shared-ssh-00000000000000a1.password",
            "ssh-00000000000000a1",
            ["api".to_string(), "web".to_string()].into(),
        );
        round_trip(
            r#"{"pid":5151,"start_time":42,"url":"http://127.0.0.1:38001","password_file":"/s/opencode-shared-ssh-00000000000000a1.password","started_at_ms":1780000000000,"config_fingerprint":"ssh-00000000000000a1","remote":{"host":"me@builder","pid":777,"port":41000},"projects":["api","web"]}"#,
            &rec,
        );
        let shown = rec.shown_to("web");
        assert_eq!(shown.projects, ["api", "web"]);
        assert_eq!(shown.url, "http://127.0.0.1:38001");
    }

    #[test]
    fn a_record_from_before_the_start_time_and_fingerprint_were_kept_loads() {
        let read: ServerRecord = serde_json::from_str(
            r#"{"pid":1,"start_time":2,"url":"http://127.0.0.1:3/","password_file":"/p"}"#,
        )
        .expect("it loads");
        let ServerRecord::Local(local) = read else {
            panic!("{read:?}")
        };
        assert_eq!(local.start, LocalStart::Listening { port: 3 });
        assert_eq!(
            (local.started_at_ms, local.config_fingerprint.as_str()),
            (0, "")
        );
    }

    #[test]
    fn a_shared_server_keeps_its_projects_and_a_project_names_it() {
        let ServerRecord::Local(mut shared) = local(LocalStart::Listening { port: 40123 }) else {
            unreachable!()
        };
        shared.projects = ["api".to_string(), "web".to_string()].into();
        let rec = ServerRecord::Local(shared);
        round_trip(
            r#"{"pid":4242,"start_time":987654,"url":"http://127.0.0.1:40123","password_file":"/home/me/.local/state/ao/secrets/opencode-web.password","started_at_ms":1780000000123,"config_fingerprint":"8c1f0e2d3b4a5968","remote":null,"projects":["api","web"]}"#,
            &rec,
        );
        let pointer: ProjectServer =
            serde_json::from_str(r#"{"shared":"8c1f0e2d3b4a5968"}"#).unwrap();
        assert_eq!(
            pointer,
            ProjectServer::Shared {
                shared: SharedKey("8c1f0e2d3b4a5968".into()),
                from: BTreeSet::new(),
            }
        );
        // A move under way names what the project still has to leave; none is written as before.
        let moving = ProjectServer::Shared {
            shared: SharedKey("b".into()),
            from: BTreeSet::from([SharedKey("a".into())]),
        };
        let text = serde_json::to_string(&moving).unwrap();
        assert_eq!(text, r#"{"shared":"b","from":["a"]}"#);
        assert_eq!(
            serde_json::from_str::<ProjectServer>(&text).unwrap(),
            moving
        );
        // A record an older ao wrote for the project's own server still loads as such.
        let own: ProjectServer = serde_json::from_str(
            r#"{"pid":1,"start_time":2,"url":"http://127.0.0.1:3/","password_file":"/p"}"#,
        )
        .unwrap();
        assert!(matches!(own, ProjectServer::Own(ServerRecord::Local(_))));
    }

    #[test]
    fn a_server_in_a_container_keeps_its_name_and_engine_and_an_older_ao_reads_its_process() {
        let rec = ServerRecord::Boxed(BoxedServer {
            container: "ao-web-0123456789ab".into(),
            engine: EngineKind::Podman,
            runtime: Some("runc".into()),
            process: ProcessIdentity {
                pid: 6161,
                start_time: 7,
            },
            port: 40500,
            password_file: "/s/opencode-ao-web-0123456789ab.password".into(),
            started_at_ms: 1_780_000_000_000,
            config_fingerprint: "00000000000000b0".into(),
        });
        let json = r#"{"pid":6161,"start_time":7,"url":"http://127.0.0.1:40500","password_file":"/s/opencode-ao-web-0123456789ab.password","started_at_ms":1780000000000,"config_fingerprint":"00000000000000b0","remote":null,"container":{"name":"ao-web-0123456789ab","engine":"podman","runtime":"runc"}}"#;
        round_trip(json, &rec);
        assert_eq!(rec.to_string(), "http://127.0.0.1:40500");
        assert_eq!(rec.process_here(), rec.identity());
        // A project's own record, under `server:<project>`.
        let own: ProjectServer = serde_json::from_str(json).unwrap();
        assert!(matches!(own, ProjectServer::Own(ServerRecord::Boxed(_))));
        let strange = json.replace(r#""engine":"podman""#, r#""engine":"lxc""#);
        let e = serde_json::from_str::<ServerRecord>(&strange).unwrap_err();
        assert!(e.to_string().contains("lxc"), "{e}");
    }

    #[test]
    fn a_server_at_a_url_is_shown_as_configured_and_never_stored() {
        let rec = ServerRecord::Url(ServerAtUrl {
            url: Url::parse("https://box.example:8443").unwrap(),
            username: "opencode".into(),
            password: Gated::trusted(PasswordSource::Env("P".into())),
            ca_file: None,
            password_file: "/s/opencode-far.password".into(),
        });
        assert_eq!(rec.to_string(), "https://box.example:8443");
        assert_eq!(rec.list_key(), "https://box.example:8443 0");
        assert_eq!((rec.identity(), rec.started_at_ms()), (None, 0));
        let ServerRecord::Url(at) = &rec else {
            unreachable!()
        };
        assert_eq!(at.custom_username(), None);
        assert!(serde_json::to_string(&rec).is_err());
    }
}
