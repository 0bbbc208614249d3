//! A project's OpenCode server in a container of its own (`container:`): started, found again,
//! stopped, and removed with its data for good.
//!
//! Theory of operation. The server runs the tools (bash, edit), so it is what goes in the box: one
//! container per project (`ao-<project>-<hash>`, [`ContainerName`]), never shared with another
//! project, since a box per project is the point. ao picks a free port on 127.0.0.1 and the engine
//! publishes it there at the same number (with `network: host` the server listens on the host's
//! 127.0.0.1 itself); the password, the OpenCode config and OpenCode's XDG directories (under the
//! named data volume, so conversations outlive the container) reach the program through the
//! container's variable files, never its argv. The record ([`BoxedServer`], under
//! `server:<project>`) keeps the container's name, its engine, its port, and the pid of its first
//! process on this machine: a status checks that pid (no engine call), a start asks the engine.
//!
//! Lifetime. `ensure` reuses a container that runs and answers `/global/health`; otherwise it
//! removes whatever holds the name (a hung server, or one an interrupted `ao` started and never
//! recorded: its password is not the one ao has) and starts a new one on the same volume.
//! `release` (no session of the project live) stops it; `forget` (none left at all) removes the
//! container, its volume and its variables.
//!
//! Races. Every `ensure` takes the container's lock (`servers/<container>.lock`) and, under it,
//! stamps its claim (`boxed-claim:<project>`, epoch ms) before it reuses or starts the container;
//! `release` and `forget` take the same lock and leave the container (and its volume) alone when
//! a claim is later than the moment ao saw the project idle: a spawn or restore the manager's
//! look missed began after that look, so it claims after it, and either its claim is seen or it
//! waits for the lock and starts a new container. docs/containers.md is the person's guide.

use std::path::PathBuf;
use std::time::Duration;

use ao_agent::agent::{AgentError, ProjectContext};
use ao_agent::blocking::unblock;
use ao_agent::container::{
    data_homes, own_user, work_dir, work_mounts, ContainerError, ContainerLaunch, ContainerName,
    ContainerSettings, Engine, EnvName, Network, Source, DATA_INSIDE,
};
use ao_agent::home::StateHome;
use ao_agent::project::Project;
use ao_agent::runtime::process::ProcessIdentity;

use crate::client::Client;
use crate::server::{lock_file, new_password, wait_healthy, ServerState, Servers};
use crate::server_record::{save, BoxedServer, ServerRecord};
use crate::settings::OpenCodeSettings;
use ao_agent::clock::EpochMillis;

/// How long a stopped server gets to end its turn's writes before the engine kills it.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The OpenCode switches ao passes into the container when they are set for ao (the XDG
/// directories are not: inside they are under the data volume).
const PASSED_SWITCHES: &[&str] = &[
    "OPENCODE_DISABLE_MODELS_FETCH",
    "OPENCODE_DISABLE_LSP_DOWNLOAD",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS",
];

/// A container failure as the plugin's callers match on it.
pub(crate) fn container_error(e: ContainerError) -> AgentError {
    AgentError::from(e)
}

/// Refuses what no container of OpenCode's can be: one without a network. Engines drop a
/// published port with `--network none`, and OpenCode 1.18.33 serves on a TCP port only (no Unix
/// socket), so ao would have no way to reach the server.
pub(crate) fn check_boxable(project: &Project) -> Result<(), AgentError> {
    match project.container.as_ref().map(|c| c.network) {
        Some(Network::None) => Err(AgentError::Refused(format!(
            "project {}: `container.network: none` leaves ao no way to reach the OpenCode server \
             in the container (the engines drop a published port without a network, and OpenCode \
             serves on a TCP port only); use `network: default` (out through the engine's NAT, in \
             only through 127.0.0.1) or `network: host`",
            project.name
        ))),
        _ => Ok(()),
    }
}

/// The store key of the project's last claim of its container: when an `ensure` last reused or
/// started it (epoch ms).
fn claim_key(project: &str) -> String {
    format!("boxed-claim:{project}")
}

/// The engine the settings name, with their runtime. Scans PATH: off the async threads.
fn engine_of(settings: &ContainerSettings) -> Result<Engine, AgentError> {
    Engine::for_settings(settings).map_err(container_error)
}

/// Stops the container `name` with the engine `engine` finds (a PATH scan), off the async
/// threads.
async fn stop_named(
    name: ContainerName,
    engine: impl FnOnce() -> Result<Engine, AgentError> + Send + 'static,
) -> Result<(), AgentError> {
    unblock(move || engine()?.stop(&name, STOP_GRACE).map_err(container_error)).await
}

/// The engine a record names: the one that started the container, whatever the config says now.
/// Scans PATH: off the async threads.
fn engine_of_record(boxed: &BoxedServer) -> Result<Engine, AgentError> {
    Engine::on_path(Some(boxed.engine))
        .map(|e| e.with_runtime(boxed.runtime.clone()))
        .map_err(container_error)
}

/// The `opencode` the container runs: the image's own on its PATH, or, for an overlaid root of
/// this machine, this machine's (found on PATH when the setting is a bare name: off the async
/// threads).
pub(crate) fn program_inside(settings: &OpenCodeSettings, source: &Source) -> String {
    match source {
        Source::Image(_) => "opencode".to_string(),
        Source::Rootfs(_) => ao_agent::doctor::find_program(&settings.bin)
            .unwrap_or_else(|| settings.bin.clone())
            .to_string_lossy()
            .into_owned(),
    }
}

impl Servers {
    /// The project's container's name.
    pub(crate) fn container_name(&self, project: &str) -> ContainerName {
        ContainerName::for_project(&self.settings().home, project)
    }

    /// What a spawn in the project's container needs before it makes anything: a network ao can
    /// reach the server through, the engine (and docker's daemon), and the image (ao never pulls).
    pub(crate) async fn preflight_boxed(&self, project: &Project) -> Result<(), AgentError> {
        let Some(settings) = &project.container else {
            return Ok(());
        };
        check_boxable(project)?;
        let settings = settings.clone();
        unblock(move || {
            engine_of(&settings)?
                .check_source(&settings.source)
                .map_err(container_error)
        })
        .await
    }

    /// Takes the lock of the project's container: one start, release or removal at a time.
    async fn lock_container(
        &self,
        name: &ContainerName,
    ) -> Result<nix::fcntl::Flock<std::fs::File>, AgentError> {
        let (home, file) = (self.settings().home.clone(), format!("{name}.lock"));
        unblock(move || lock_file(&home.servers_dir()?.join(file))).await
    }

    /// The lock of the project's container, for a stop or a removal decided at `idle_at`;
    /// `None` (and the lock let go) when an `ensure` claimed the container since.
    async fn lock_unclaimed(
        &self,
        cx: &ProjectContext<'_>,
        idle_at: EpochMillis,
    ) -> Result<Option<nix::fcntl::Flock<std::fs::File>>, AgentError> {
        let lock = self
            .lock_container(&self.container_name(&cx.project.name))
            .await?;
        Ok((!self.claimed_since(cx, idle_at).await?).then_some(lock))
    }

    /// Whether an `ensure` claimed the project's container at or after `idle_at` (the same
    /// millisecond counts as after: keeping a container running is the safe mistake).
    async fn claimed_since(
        &self,
        cx: &ProjectContext<'_>,
        idle_at: EpochMillis,
    ) -> Result<bool, AgentError> {
        let claimed: Option<EpochMillis> = cx.state.get(&claim_key(&cx.project.name)).await?;
        Ok(claimed.is_some_and(|at| at >= idle_at))
    }

    /// A client of the project's server in its container, starting (or restarting) the
    /// container if needed. A project that used a shared server on this machine leaves it once
    /// its own runs (its conversations there stay there).
    pub(crate) async fn ensure_boxed(
        &self,
        cx: &ProjectContext<'_>,
        settings: &ContainerSettings,
    ) -> Result<(ServerRecord, Client), AgentError> {
        check_boxable(cx.project)?;
        let fingerprint = {
            let (oc, project, settings) = (
                self.settings().clone(),
                cx.project.clone(),
                settings.clone(),
            );
            unblock(move || boxed_fingerprint(&oc, &project, &settings)).await
        };
        let current = crate::server_record::load(cx.state, &cx.project.name).await?;
        let fits = |rec: &ServerRecord| {
            matches!(rec, ServerRecord::Boxed(_))
                && rec.config_fingerprint() == Some(fingerprint.as_str())
        };
        // A turn under way lives in its server's memory: a project stays in its box until none
        // is, even if its settings changed. Never on a server outside a box, though: the person
        // asked for one, so a new session waits until the project's turns there have ended.
        let stay = match &current {
            Some((rec, _)) if fits(rec) => true,
            Some((ServerRecord::Boxed(_), _)) => self.busy(cx).await?,
            Some((rec, _)) => {
                if self.busy(cx).await? {
                    return Err(AgentError::Refused(format!(
                        "project {} now asks for a container, and a turn of it still runs on the \
                         server outside one ({rec}); let it end (`ao wait`) or stop it (`ao \
                         kill`), then try again",
                        cx.project.name
                    )));
                }
                false
            }
            None => false,
        };
        let name = self.container_name(&cx.project.name);
        let lock = self.lock_container(&name).await?;
        // Claimed before it is looked at: a release or purge that saw the project idle before
        // now leaves what this reuses or starts alone (`release_boxed`, `remove_boxed`).
        cx.state
            .set(&claim_key(&cx.project.name), crate::now_ms())
            .await?;
        // Up, and fitting (or kept for a turn under way); another ao may have started it while
        // this one waited for the lock.
        if let ServerState::Up { record, client, .. } = self.lookup(cx).await? {
            if stay || fits(&record) {
                drop(lock);
                return Ok((record, client));
            }
        }
        let started = self.start_boxed(cx, settings, &name, fingerprint).await;
        drop(lock);
        let started = started?;
        // The project has moved into its box: a shared server it used goes on for its other
        // projects, and stops when the last one leaves.
        if let Some((_, Some(shared))) = current {
            let _ = self.leave(cx, &shared).await;
        }
        Ok(started)
    }

    /// Starts the project's container with a new password and port, on its volume, and records
    /// it once it answers.
    async fn start_boxed(
        &self,
        cx: &ProjectContext<'_>,
        settings: &ContainerSettings,
        name: &ContainerName,
        fingerprint: String,
    ) -> Result<(ServerRecord, Client), AgentError> {
        let _timed = ao_agent::timing::phase(|| "container started".into());
        let project = cx.project;
        let (engine, password_file, launch) = {
            let (oc, project, settings, name) = (
                self.settings().clone(),
                project.clone(),
                settings.clone(),
                name.clone(),
            );
            unblock(move || {
                let engine = engine_of(&settings)?;
                let password = new_password();
                let password_file = oc
                    .home
                    .write_secret(&format!("opencode-{name}.password"), &password)?;
                let launch = container_launch(&oc, &project, &settings, &name, &password)?;
                Ok::<_, AgentError>((engine, password_file, launch))
            })
            .await?
        };
        let started_at_ms = crate::now_ms();
        let found = {
            let (engine, launch) = (engine.clone(), launch.clone());
            unblock(move || {
                // Whatever holds the name now is not a server ao can talk to: a hung one, or
                // one started by an `ao` that was interrupted before it recorded it. Another
                // state home's of that name is refused by `remove` and left alone.
                engine.check_source(&launch.source)?;
                engine.remove(&launch.name)?;
                engine.start(&launch)
            })
            .await
            .map_err(|e| {
                let e = container_error(e);
                match e {
                    AgentError::Launch(m) => AgentError::Launch(format!(
                        "cannot start the container of project {}: {m}",
                        project.name
                    )),
                    other => other,
                }
            })?
        };
        let Some(process) = found.pid.and_then(ProcessIdentity::of) else {
            let what = format!("the container {name} ended as soon as it started");
            let m = removed_saying(&engine, name, what).await;
            return Err(AgentError::Launch(m));
        };
        let rec = ServerRecord::Boxed(BoxedServer {
            container: name.to_string(),
            engine: engine.kind(),
            runtime: engine.runtime().map(str::to_string),
            process,
            port: launch.port.unwrap_or_default(),
            password_file,
            started_at_ms,
            config_fingerprint: fingerprint,
        });
        let client = match wait_healthy(&rec, crate::server::START_DEADLINE).await {
            Ok(client) => client,
            Err(e) => {
                let what = format!(
                    "the OpenCode server of project {} in container {name} did not start: {e}",
                    project.name
                );
                let m = removed_saying(&engine, name, what).await;
                return Err(AgentError::Launch(m));
            }
        };
        if let Err(e) = save(cx, &rec).await {
            // Unrecorded, its password would be lost: the next start replaces it anyway.
            let name = name.clone();
            let _ = unblock(move || engine.stop(&name, STOP_GRACE)).await;
            return Err(e);
        }
        Ok((rec, client))
    }

    /// Stops the container of a record (its volume and its logs stay).
    pub(crate) async fn stop_boxed(
        &self,
        project: &str,
        boxed: &BoxedServer,
    ) -> Result<(), AgentError> {
        let name = self.container_name_of(project, boxed)?;
        let boxed = boxed.clone();
        stop_named(name, move || engine_of_record(&boxed)).await
    }

    /// Stops the project's container by name, recorded or not (one an interrupted `ao` started).
    async fn stop_container(
        &self,
        project: &Project,
        settings: &ContainerSettings,
    ) -> Result<(), AgentError> {
        let name = self.container_name(&project.name);
        let settings = settings.clone();
        stop_named(name, move || engine_of(&settings)).await
    }

    /// Stops the project's container (its volume and logs stay) once no session of it is live:
    /// `ao kill` of its last one. Left running when an `ensure` claimed it after `idle_at`, when
    /// the manager saw the project idle: a session spawned or restored since is using it.
    pub(crate) async fn release_boxed(
        &self,
        cx: &ProjectContext<'_>,
        idle_at: EpochMillis,
    ) -> Result<(), AgentError> {
        let Some(_lock) = self.lock_unclaimed(cx, idle_at).await? else {
            return Ok(());
        };
        // Read again under the lock: a start since the manager's look wrote a new one.
        match crate::server_record::load(cx.state, &cx.project.name).await? {
            Some((ServerRecord::Boxed(boxed), None)) => {
                self.stop_boxed(&cx.project.name, &boxed).await
            }
            _ => match &cx.project.container {
                Some(settings) => self.stop_container(cx.project, settings).await,
                None => Ok(()),
            },
        }
    }

    /// Removes the project's container, its data volume (its conversations), its variables and
    /// its password, and forgets its record: `ao kill --purge` of the project's last session.
    /// Nothing is removed when an `ensure` claimed the container after `idle_at` (a session
    /// spawned or restored since uses it and its volume); the next purge of the project's last
    /// session removes them.
    pub(crate) async fn remove_boxed(
        &self,
        cx: &ProjectContext<'_>,
        idle_at: EpochMillis,
    ) -> Result<(), AgentError> {
        let Some(_lock) = self.lock_unclaimed(cx, idle_at).await? else {
            return Ok(());
        };
        let name = self.container_name(&cx.project.name);
        let recorded = match crate::server_record::load(cx.state, &cx.project.name).await? {
            Some((ServerRecord::Boxed(boxed), None)) => Some(boxed),
            _ => None,
        };
        if recorded.is_none() && cx.project.container.is_none() {
            return Ok(());
        }
        let (home, settings) = (self.settings().home.clone(), cx.project.container.clone());
        let password_file = recorded.as_ref().map(|b| b.password_file.clone());
        unblock({
            let (name, recorded) = (name.clone(), recorded.clone());
            move || {
                let engine = match (&recorded, &settings) {
                    (Some(boxed), _) => engine_of_record(boxed)?,
                    (None, Some(settings)) => engine_of(settings)?,
                    (None, None) => return Ok(()),
                };
                engine.remove(&name).map_err(container_error)?;
                engine.remove_volume(&name).map_err(container_error)?;
                if let Ok(dir) = env_dir(&home, &name) {
                    let _ = std::fs::remove_dir_all(dir);
                }
                if let Some(file) = password_file {
                    let _ = std::fs::remove_file(file);
                }
                Ok::<_, AgentError>(())
            }
        })
        .await?;
        if recorded.is_some() {
            let key = crate::server_record::key(&cx.project.name);
            cx.state
                .update(&key, |rec: &mut Option<ServerRecord>| {
                    if matches!(rec, Some(ServerRecord::Boxed(_))) {
                        *rec = None;
                    }
                })
                .await?;
        }
        cx.state
            .update(
                &claim_key(&cx.project.name),
                |claim: &mut Option<EpochMillis>| {
                    *claim = None;
                },
            )
            .await?;
        Ok(())
    }

    /// The name of the project's recorded container, as this state home computes it: a record
    /// that names another is refused rather than acted on.
    fn container_name_of(
        &self,
        project: &str,
        boxed: &BoxedServer,
    ) -> Result<ContainerName, AgentError> {
        let name = self.container_name(project);
        if name.as_str() != boxed.container {
            return Err(AgentError::Refused(format!(
                "the server record of project {project} names the container {}, not {name}; ao \
                 leaves it alone",
                boxed.container
            )));
        }
        Ok(name)
    }
}

/// What the project's container runs and with what. Blocks (the work trees' directory is made
/// here, PATH scanned): off the async threads.
fn container_launch(
    oc: &OpenCodeSettings,
    project: &Project,
    settings: &ContainerSettings,
    name: &ContainerName,
    password: &str,
) -> Result<ContainerLaunch, AgentError> {
    let home = &oc.home;
    let work = work_dir(project, home);
    // A bind mount's source must exist before the first work tree does.
    std::fs::create_dir_all(&work).map_err(|source| AgentError::Io {
        what: format!("cannot create {}", work.display()),
        source,
    })?;
    let port = free_port()?;
    let mut env: Vec<(&str, String)> = vec![
        ("OPENCODE_SERVER_PASSWORD", password.to_string()),
        (
            "OPENCODE_CONFIG_CONTENT",
            crate::settings::server_config(project).to_string(),
        ),
        // ao pins the OpenCode version, inside as outside.
        ("OPENCODE_DISABLE_AUTOUPDATE", "1".into()),
    ];
    // OpenCode's data, config, state and cache are on the container's data volume.
    env.extend(data_homes());
    for switch in PASSED_SWITCHES {
        if let Ok(value) = std::env::var(switch) {
            env.push((switch, value));
        }
    }
    let no_proxy = crate::settings::loopback_no_proxy();
    let mut vars: Vec<(EnvName, String)> = env
        .into_iter()
        .chain(no_proxy.iter().map(|(k, v)| (k.as_str(), v.clone())))
        .filter_map(|(k, v)| EnvName::parse(k).ok().map(|n| (n, v)))
        .collect();
    // The person's own, by name: an unset one is simply not there inside either.
    for name in settings.env.permit().map_err(AgentError::from)? {
        if let Ok(value) = std::env::var(name.as_str()) {
            vars.retain(|(n, _)| n != name);
            vars.push((name.clone(), value));
        }
    }
    let mounts = settings.mounts.permit().map_err(AgentError::from)?.clone();
    let mut launch = ContainerLaunch {
        name: name.clone(),
        source: settings.source.clone(),
        argv: Vec::new(),
        workdir: work.clone(),
        work: work_mounts(&project.path, &work),
        mounts,
        env: vars,
        network: settings.network,
        port: Some(port),
        volume: Some(PathBuf::from(DATA_INSIDE)),
        ulimits: settings.ulimits,
        env_dir: env_dir(home, name)?,
        user: Some(own_user()),
    };
    let mut argv = vec![
        program_inside(oc, &settings.source),
        "serve".into(),
        "--hostname".into(),
        launch.listen_host().into(),
        "--port".into(),
        port.to_string(),
    ];
    if oc.pure {
        argv.push("--pure".into());
    }
    launch.argv = argv;
    Ok(launch)
}

/// The 0700 directory of the container's variable files (its password among them). Blocks.
fn env_dir(home: &StateHome, name: &ContainerName) -> Result<PathBuf, AgentError> {
    Ok(home.servers_dir()?.join(format!("{name}.env")))
}

/// Removes a container whose server failed to start, and says `what` with its last words.
async fn removed_saying(engine: &Engine, name: &ContainerName, what: String) -> String {
    let (engine, name) = (engine.clone(), name.clone());
    let logs = unblock(move || {
        let logs = engine.logs(&name, 10);
        let _ = engine.remove(&name);
        logs
    })
    .await;
    format!("{what}; its last words:\n{logs}")
}

/// A fingerprint of what the project's container runs with: the OpenCode config and the
/// container settings (a new image, network or mount means a new container).
fn boxed_fingerprint(
    settings: &OpenCodeSettings,
    project: &Project,
    container: &ContainerSettings,
) -> String {
    let all = serde_json::json!({
        "bin": program_inside(settings, &container.source),
        "pure": settings.pure,
        "config": crate::settings::server_config(project),
        "container": format!("{container:?}"),
        "workspace": project.workspace.to_string(),
    });
    ao_agent::remote::ssh::fnv(&all.to_string())
}

/// A free port on 127.0.0.1, which the container's server will listen on (inside and out).
fn free_port() -> Result<u16, AgentError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| AgentError::Io {
        what: "cannot find a free port on 127.0.0.1".into(),
        source,
    })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| AgentError::Io {
            what: "cannot find a free port on 127.0.0.1".into(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ao_agent::session::WorkspaceKind;
    use std::path::Path;

    use ao_agent::container::{run_args, EngineKind, Mount, Ulimits};
    use ao_agent::trust::Gated;

    fn settings(network: Network) -> ContainerSettings {
        ContainerSettings {
            source: Source::Image("localhost/ao-opencode:1.18.33".into()),
            engine: Some(EngineKind::Podman),
            network,
            mounts: Gated::trusted(vec![Mount {
                path: "/srv/cache".into(),
                writable: false,
            }]),
            env: Gated::trusted(vec![EnvName::parse("AO_BOXED_TEST_UNSET_VAR").unwrap()]),
            runtime: Some("runc".into()),
            ulimits: Ulimits::default(),
        }
    }

    #[test]
    fn the_server_gets_its_secrets_in_files_its_data_on_the_volume_and_its_work_at_the_same_path() {
        let tmp = tempfile::tempdir().unwrap();
        let home = ao_agent::home::StateHome::at(tmp.path().join("home"));
        let servers = Servers::new(OpenCodeSettings {
            bin: "/opt/opencode/bin/opencode".into(),
            ao_exe: "ao".into(),
            pure: true,
            events: true,
            feed_silence: Duration::from_secs(30),
            home: home.clone(),
        });
        let mut project = Project {
            name: "web".into(),
            path: tmp.path().join("web"),
            agent_config: Default::default(),
            location: Default::default(),
            container: Some(settings(Network::Default)),
            workspace: WorkspaceKind::Worktree,
        };
        let container = settings(Network::Default);
        let name = servers.container_name("web");
        let launch = container_launch(
            servers.settings(),
            &project,
            &container,
            &name,
            "pw-0123456789abcdef",
        )
        .unwrap();
        // The image's own opencode, listening on every interface of its namespace, behind the
        // port published on 127.0.0.1 at the same number.
        let port = launch.port.unwrap().to_string();
        assert_eq!(
            launch.argv,
            [
                "opencode",
                "serve",
                "--hostname",
                "0.0.0.0",
                "--port",
                &port,
                "--pure"
            ]
        );
        let var = |k: &str| {
            launch
                .env
                .iter()
                .find(|(n, _)| n.as_str() == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(var("OPENCODE_SERVER_PASSWORD"), Some("pw-0123456789abcdef"));
        assert_eq!(var("XDG_DATA_HOME"), Some("/var/lib/ao-agent/data"));
        assert_eq!(var("OPENCODE_DISABLE_AUTOUPDATE"), Some("1"));
        assert!(var("OPENCODE_CONFIG_CONTENT").is_some());
        // An `env` name that ao's environment does not have is not there inside either.
        assert_eq!(var("AO_BOXED_TEST_UNSET_VAR"), None);
        // The work trees' directory exists (a bind mount's source must) and is the work.
        let work = home.worktrees_dir("web");
        assert!(work.is_dir());
        assert_eq!(launch.workdir, work);
        assert_eq!(launch.work[0].path, work);
        assert_eq!(launch.mounts[0].path, PathBuf::from("/srv/cache"));
        assert_eq!(launch.volume.as_deref(), Some(Path::new(DATA_INSIDE)));
        assert!(launch.env_dir.starts_with(home.root().join("servers")));
        let podman = Engine::at(EngineKind::Podman, "/usr/bin/podman");
        let args = run_args(&podman, &launch).unwrap();
        assert!(args.iter().all(|a| !a.contains("pw-0123456789abcdef")));
        assert!(args.contains(&format!("--publish=127.0.0.1:{port}:{port}")));

        // `workspace: none`: the project directory itself is the work.
        project.workspace = WorkspaceKind::None;
        let launch =
            container_launch(servers.settings(), &project, &container, &name, "pw").unwrap();
        assert_eq!(launch.workdir, project.path);

        // The host's network: the server listens on its loopback.
        let host = settings(Network::Host);
        let launch = container_launch(servers.settings(), &project, &host, &name, "pw").unwrap();
        assert_eq!(launch.argv[3], "127.0.0.1");
    }

    #[test]
    fn no_network_is_refused_with_what_to_use_instead() {
        let mut project = Project {
            name: "sealed".into(),
            path: "/srv/sealed".into(),
            agent_config: Default::default(),
            location: Default::default(),
            container: None,
            workspace: WorkspaceKind::Worktree,
        };
        assert!(check_boxable(&project).is_ok());
        project.container = Some(settings(Network::None));
        let e = check_boxable(&project).unwrap_err();
        assert!(e.is_usage(), "{e:?}");
        assert!(e.to_string().contains("use `network: default`"), "{e}");
    }
}
