//! An ACP agent in the project's container (`container:`): the host stays on this machine and
//! the agent runs inside, one container per session.
//!
//! Theory of operation. The host starts the agent as it always does, but the command it is given
//! is the engine's attached run (`podman run -i --rm … <agent argv>`), so the protocol still goes
//! over the child's stdio and the host, its socket, its records and the pane stay outside. The
//! container is `ao-<project>-<session>-<hash>`; the agent's environment (which may hold
//! secrets) goes through the container's variable files, never the engine's argv, and the
//! session's own data volume holds its `HOME` and XDG directories, so an agent that keeps its
//! conversations there can load them after a restore. The engine removes the container when the
//! agent ends; but a client killed with SIGKILL (the host SIGKILLed, and the death signal it
//! passes on) leaves the container running, its stdin never closed (measured with podman 4.3.1).
//! So ao removes it: a new launch (restore) first, `ao kill`, and the first status that finds
//! the host gone (once: [`REAPED`] says it was done for this launch). Each container is labelled
//! with its launch's id, and that status removes only the container of the launch it found dead,
//! never one a restore has started since under the same name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ao_agent::agent::{AgentError, ProjectContext, SessionContext};
use ao_agent::blocking::unblock;
use ao_agent::container::{
    data_homes, own_user, work_dir, work_mounts, ContainerLaunch, ContainerName, ContainerSettings,
    Engine, EnvName, Source, DATA_INSIDE,
};
use ao_agent::home::StateHome;

/// The marker, in the session's directory, that the container of a launch was removed after its
/// host was found gone: it holds that launch's id, so the next launch's host is reaped again.
pub const REAPED: &str = "container.reaped";

/// The engine the settings name, with their runtime. Scans PATH: off the async threads.
pub(crate) fn engine_of(settings: &ContainerSettings) -> Result<Engine, AgentError> {
    Ok(Engine::for_settings(settings)?)
}

/// The session's container's name.
pub(crate) fn name_of(home: &StateHome, project: &str, session: &str) -> ContainerName {
    ContainerName::for_session(home, project, session)
}

/// A boxed session's launch, once its command is made: what [`undo`](BoxedLaunch::undo) removes
/// when the prepare that made it fails later.
pub(crate) struct BoxedLaunch {
    /// The engine's attached run of the agent, for the host.
    pub command: Vec<String>,
    engine: Engine,
    name: ContainerName,
    env_dir: PathBuf,
    /// Whether the session's data volume was made for this launch (a new session's), rather
    /// than found (a restore's, which holds its conversations).
    made_volume: bool,
}

impl BoxedLaunch {
    /// Removes what making the command left: the container's variable files, and the data
    /// volume when this launch made it. A volume that was there before (a restore's) stays.
    pub(crate) async fn undo(self) {
        unblock(move || {
            let _ = std::fs::remove_dir_all(&self.env_dir);
            if self.made_volume {
                let _ = self.engine.remove_volume(&self.name);
            }
        })
        .await
    }
}

/// The command the host runs for a boxed agent: the engine's attached run of `command` in the
/// session's container, labelled with `launch_id` (so a reap of this launch never removes a later
/// one's), with `env` (and the `env` names the config passes through) as its variables.
pub(crate) async fn command(
    cx: &ProjectContext<'_>,
    session: &SessionContext<'_>,
    settings: &ContainerSettings,
    launch_id: &str,
    command: Vec<String>,
    env: BTreeMap<String, String>,
) -> Result<BoxedLaunch, AgentError> {
    let project = cx.project;
    let rec = session.record;
    let engine = {
        let settings = settings.clone();
        unblock(move || engine_of(&settings)).await?
    };
    let work = work_dir(project, cx.home);
    // The agent's HOME and XDG directories are on the session's data volume.
    let mut vars: BTreeMap<String, String> = [("HOME", format!("{DATA_INSIDE}/home"))]
        .into_iter()
        .chain(data_homes())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    // The project's own variables win over the box's defaults.
    vars.extend(env);
    for name in settings.env.permit()? {
        if let Ok(value) = std::env::var(name.as_str()) {
            vars.insert(name.to_string(), value);
        }
    }
    let vars = vars
        .into_iter()
        .map(|(k, v)| {
            EnvName::parse(&k)
                .map(|n| (n, v))
                .map_err(|why| AgentError::Refused(format!("agentConfig.env: {why}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let name = name_of(cx.home, &project.name, &rec.address.name);
    let env_dir = env_dir(&session.dir());
    let launch = ContainerLaunch {
        name: name.clone().with_launch(launch_id),
        source: settings.source.clone(),
        argv: command,
        workdir: rec.workspace.clone(),
        // Filled in off the async threads: it looks at (and makes) `.git`'s directories.
        work: Vec::new(),
        mounts: settings.mounts.permit()?.clone(),
        env: vars,
        network: settings.network,
        port: None,
        volume: Some(PathBuf::from(DATA_INSIDE)),
        ulimits: settings.ulimits,
        env_dir: env_dir.clone(),
        user: Some(own_user()),
    };
    let project_path = project.path.clone();
    let mut launch = launch;
    unblock(move || {
        launch.work = work_mounts(&project_path, &work);
        let had_volume = engine.volume_exists(&name)?;
        let command = engine.attached_command(&launch)?;
        Ok(BoxedLaunch {
            command,
            engine,
            name,
            env_dir,
            made_volume: !had_volume,
        })
    })
    .await
    .map_err(|e: ao_agent::container::ContainerError| e.into())
}

/// The 0700 directory of the container's variable files, in the session's private directory.
fn env_dir(session_dir: &Path) -> PathBuf {
    session_dir.join("container-env")
}

/// The program the container runs: as the config names it for an image (its own PATH), as
/// found on this machine for an overlaid root of it.
pub(crate) fn program_inside(source: &Source, named: &str, found: Option<PathBuf>) -> String {
    match (source, found) {
        (Source::Rootfs(_), Some(found)) => found.to_string_lossy().into_owned(),
        _ => named.to_string(),
    }
}

/// Removes the session's container, whichever launch it is of (and with `purge` its data volume
/// and variables); nothing when they are gone, and refused when another state home's holds the
/// name.
pub(crate) async fn remove(
    cx: &ProjectContext<'_>,
    session: &SessionContext<'_>,
    settings: &ContainerSettings,
    purge: bool,
) -> Result<(), AgentError> {
    let settings = settings.clone();
    let name = name_of(cx.home, &cx.project.name, &session.record.address.name);
    let dir = env_dir(&session.dir());
    unblock(move || {
        let engine = engine_of(&settings)?;
        engine.remove(&name)?;
        if purge {
            engine.remove_volume(&name)?;
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok::<_, AgentError>(())
    })
    .await
}

/// Removes the container of a session whose host (of launch `launch_id`) is gone, once per
/// launch (blocking). Only that launch's container: a restore may have started another of the
/// same name since the host was found gone, and it is left running (as is one that names no
/// launch, or another state home's).
pub(crate) fn reap(engine: &Engine, name: &ContainerName, session_dir: &Path, launch_id: &str) {
    let marker = session_dir.join(REAPED);
    if std::fs::read_to_string(&marker).is_ok_and(|done| done == launch_id) {
        return;
    }
    // Done for this launch whether its container was there or not: none of it is left.
    if engine.remove_launch(name, launch_id).is_ok() {
        let _ = std::fs::write(marker, launch_id);
    }
}
