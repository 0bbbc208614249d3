//! The plugin's face to ao: [`Agent`] for [`AcpPlugin`].

use std::path::Path;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use ao_agent::agent::{
    Agent, AgentError, Change, LaunchRole, MessageSummary, Observation, PlanItem, PreparedSession,
    ProjectContext, Reply, SessionContext,
};
use ao_agent::blocking::unblock;
use ao_agent::clock::EpochMillis;
use ao_agent::config::{ConfigValue, SettingProblem};
use ao_agent::remote::Location;
use ao_agent::runtime::process::ProcessIdentity;
use ao_agent::runtime::{LaunchSpec, RuntimeHandle};
use ao_agent::transcript::TranscriptEntry;

use crate::files::{self, FilesError};
use crate::record::{HostFiles, HostLaunch, HostRecord, HostStart};
use crate::settings::{self, AcpSettings};
use crate::{client, observe, transcript, AcpPlugin, HOST_HELPER, VIEW_HELPER};

/// A file of the host's that could not be used.
fn files_error(e: FilesError) -> AgentError {
    match e {
        FilesError::Io { what, path, source } => AgentError::Io {
            what: format!("cannot {what} {path}"),
            source,
        },
        garbled @ FilesError::Garbled { .. } => AgentError::Server(garbled.to_string()),
    }
}

/// A new ao-made id of an ACP session: `acp-` and 16 random hex digits. The protocol's own id is
/// known only once the host has opened the conversation.
fn new_session_id() -> String {
    format!("acp-{:016x}", rand::random::<u64>())
}

/// A new launch id ([`HostLaunch::launch_id`]): random, so that no two launches share one.
fn new_launch_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The session's current host record (blocking read, off the async threads).
async fn record_of(files: &HostFiles) -> Result<Option<HostRecord>, AgentError> {
    let files = files.clone();
    unblock(move || files::read_record(&files))
        .await
        .map_err(files_error)
}

impl AcpPlugin {
    /// The project's settings; a person's to fix when they cannot be used.
    fn settings_of(&self, cx: &ProjectContext<'_>) -> Result<AcpSettings, AgentError> {
        AcpSettings::of(cx.project, &self.defaults).map_err(|e| AgentError::Refused(e.to_string()))
    }

    /// Writes the session's launch and says how to run its host.
    async fn launch(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        agent_session_id: String,
        start: HostStart,
    ) -> Result<PreparedSession, AgentError> {
        let mut settings = self.settings_of(cx)?;
        // The program as found here: the host may run with another PATH (a tmux server's).
        if let Some(program) = settings.command.first().cloned() {
            let named = program.clone();
            let found = unblock(move || ao_agent::doctor::find_program(Path::new(&program))).await;
            settings.command[0] = match &cx.project.container {
                // In a container, an image's own PATH finds it.
                Some(container) => crate::boxed::program_inside(&container.source, &named, found),
                None => found.map_or(named, |f| f.to_string_lossy().into_owned()),
            };
        }
        let launch_id = new_launch_id();
        // A boxed agent: the host runs the engine's attached run of it (its container labelled
        // with the launch id), and the environment goes into the container's variable files.
        let (command, env, boxed) = match &cx.project.container {
            Some(container) => {
                let boxed = crate::boxed::command(
                    cx,
                    &session,
                    container,
                    &launch_id,
                    settings.command,
                    settings.env,
                )
                .await?;
                (boxed.command.clone(), Default::default(), Some(boxed))
            }
            None => (settings.command, settings.env, None),
        };
        let rec = session.record;
        let launch = HostLaunch {
            launch_id,
            command,
            env,
            cwd: rec.workspace.clone(),
            // A model asked for at spawn wins over the project's.
            model: rec.model.clone().or(settings.model),
            mode: settings.mode,
            mode_from_permission: settings.mode_from_permission,
            auth_hint: self.defaults.preset.auth_hint().map(str::to_owned),
            permission: settings.permission,
            price: settings.price,
            start,
        };
        let dir = session.dir();
        let files = HostFiles::of(&dir);
        let written = unblock(move || files::write_launch(&files, &launch))
            .await
            .map_err(files_error);
        if let Err(e) = written {
            // Nothing will run the container: its variables go, and a new session's volume.
            if let Some(boxed) = boxed {
                boxed.undo().await;
            }
            return Err(e);
        }
        Ok(PreparedSession {
            agent_session_id,
            launch: self.helper_launch(HOST_HELPER, &dir, rec.workspace.clone()),
            role: LaunchRole::Host,
        })
    }
}

#[async_trait]
impl Agent for AcpPlugin {
    fn name(&self) -> &'static str {
        self.defaults.preset.name()
    }

    fn config_keys(&self) -> &'static [&'static str] {
        settings::CONFIG_KEYS
    }

    fn check_config(
        &self,
        key: &str,
        value: ConfigValue<'_>,
    ) -> Result<serde_json::Value, Vec<SettingProblem>> {
        settings::check(key, value)
    }

    fn permission_keys(&self) -> Option<&'static [&'static str]> {
        Some(settings::permission_keys())
    }

    fn config_template(&self) -> &'static [&'static str] {
        self.defaults.preset.config_template()
    }

    async fn prepare(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<PreparedSession, AgentError> {
        self.launch(cx, session, new_session_id(), HostStart::New)
            .await
    }

    async fn send(
        &self,
        _cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        prompt: &str,
    ) -> Result<(), AgentError> {
        // In the process runtime, the runtime's process is the host itself.
        let host_process = match &session.record.runtime_handle {
            Some(RuntimeHandle::Process {
                pid, start_time, ..
            }) => Some(ProcessIdentity {
                pid: *pid,
                start_time: *start_time,
            }),
            _ => None,
        };
        client::prompt(&HostFiles::of(&session.dir()), prompt, host_process).await
    }

    async fn observe(
        &self,
        cx: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
    ) -> Vec<Observation> {
        let wanted: Vec<(HostFiles, Option<RuntimeHandle>)> = sessions
            .iter()
            .map(|s| (HostFiles::of(&s.dir()), s.record.runtime_handle.clone()))
            .collect();
        // A boxed session whose host is gone: its container is removed (once), since a
        // SIGKILLed host leaves it running; only that launch's, never a restore's since.
        let boxes = cx.project.container.clone().map(|c| {
            let names: Vec<_> = sessions
                .iter()
                .map(|s| {
                    let name =
                        crate::boxed::name_of(cx.home, &cx.project.name, &s.record.address.name);
                    (name, s.dir())
                })
                .collect();
            (c, names)
        });
        let looks = unblock(move || {
            let looks: Vec<_> = wanted
                .iter()
                .map(|(files, runtime)| observe::look(files, runtime.as_ref()))
                .collect();
            // The engine is found here, off the async threads: a PATH scan.
            let boxes = boxes.and_then(|(c, names)| {
                let engine = crate::boxed::engine_of(&c).ok()?;
                Some((engine, names))
            });
            if let Some((engine, names)) = boxes {
                for (look, (name, dir)) in looks.iter().zip(&names) {
                    if let Some(record) = look.record.as_ref().filter(|_| !look.host_alive) {
                        crate::boxed::reap(&engine, name, dir, &record.launch_id);
                    }
                }
            }
            looks
        })
        .await;
        looks.iter().map(observe::observation).collect()
    }

    async fn attach_launch(
        &self,
        _cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<LaunchSpec, AgentError> {
        let dir = session.dir();
        Ok(self.helper_launch(VIEW_HELPER, &dir, dir.clone()))
    }

    /// Cancels the running turn, when the host lives, and removes a boxed session's container.
    /// With `purge` that container's data volume goes too; there is nothing else to delete: ACP
    /// has no way to delete a conversation, and the host's files go with the session's
    /// directory.
    async fn kill(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        purge: bool,
    ) -> Result<(), AgentError> {
        let cancelled = client::cancel(&HostFiles::of(&session.dir())).await;
        // The agent's container goes now, whether or not its host is there to end it: a
        // SIGKILLed host leaves it running.
        if let Some(container) = &cx.project.container {
            crate::boxed::remove(cx, &session, container, purge).await?;
        }
        cancelled
    }

    async fn release(&self, _cx: &ProjectContext<'_>, _: EpochMillis) -> Result<(), AgentError> {
        // Each session's host is its own; nothing is shared per project.
        Ok(())
    }

    async fn reply(
        &self,
        _cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        reply: &Reply,
    ) -> Result<(), AgentError> {
        match reply {
            Reply::Permit { id, decision } => {
                client::permit(&HostFiles::of(&session.dir()), id, *decision).await
            }
            // The host checks the answers against the agent's own form, which it holds.
            Reply::Answer { id, answers, .. } => {
                client::answer(&HostFiles::of(&session.dir()), id, Some(answers)).await
            }
            Reply::Dismiss { id } => client::answer(&HostFiles::of(&session.dir()), id, None).await,
        }
    }

    async fn transcript(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<TranscriptEntry>, AgentError> {
        let files = HostFiles::of(&session.dir());
        let lines = unblock(move || transcript::read_lines(&files))
            .await
            .map_err(files_error)?;
        let price = AcpSettings::of(cx.project, &self.defaults)
            .ok()
            .and_then(|s| s.price);
        Ok(transcript::fold(lines, price))
    }

    async fn project_changes(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<BoxStream<'static, Change>, AgentError> {
        crate::feed::watch(self.home.root().join("sessions").join(&cx.project.name)).await
    }

    async fn restore(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<PreparedSession, AgentError> {
        // Whichever host wrote the record: a restore that failed before its host recorded
        // anything leaves the previous host's, which still says what to load. A restored host
        // that failed before loading recorded no session id: its launch still names the one it
        // was to load, so a failed restore can be tried again.
        let files = HostFiles::of(&session.dir());
        let (record, launch) = unblock(move || {
            (
                files::read_last_record(&files),
                files::read_launch(&files).ok(),
            )
        })
        .await;
        let record = record.map_err(files_error)?.unwrap_or_default();
        let loaded = launch.and_then(|l| match l.start {
            HostStart::Load(id) => Some(id),
            HostStart::New => None,
        });
        let agent = match &record.agent {
            Some(agent) => agent.name.clone(),
            None => self.settings_of(cx)?.command.join(" "),
        };
        let acp_session_id = match record.acp_session_id.clone().or(loaded) {
            // The agent said at `initialize` that it cannot load one.
            Some(_) if record.agent.is_some() && !record.load_session => {
                return Err(AgentError::Refused(format!(
                    "{agent} cannot resume a session: it does not offer session/load"
                )))
            }
            Some(id) => id,
            None => {
                return Err(AgentError::Refused(format!(
                    "{agent} never opened a conversation for session {}: nothing to resume",
                    session.record.address
                )))
            }
        };
        let id = session
            .record
            .agent_session_id
            .clone()
            .unwrap_or_else(new_session_id);
        self.launch(cx, session, id, HostStart::Load(acp_session_id))
            .await
    }

    async fn plan(
        &self,
        _cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<PlanItem>, AgentError> {
        let record = record_of(&HostFiles::of(&session.dir())).await?;
        Ok(record.map(|r| r.plan).unwrap_or_default())
    }

    async fn messages(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<Vec<MessageSummary>, AgentError> {
        Ok(transcript::messages(&self.transcript(cx, session).await?))
    }

    async fn preflight(&self, cx: &ProjectContext<'_>) -> Result<(), AgentError> {
        if !matches!(cx.project.location, Location::Local) {
            return Err(AgentError::Refused(format!(
                "project {} names a server or host, but an ACP agent runs on this machine: \
                 remove `server:`/`host:` from the project, or use an agent that runs there",
                cx.project.name
            )));
        }
        let settings = self.settings_of(cx)?;
        if let Some(container) = &cx.project.container {
            // The program is the image's: what can be checked here is the engine and the image.
            let settings = container.clone();
            unblock(move || {
                crate::boxed::engine_of(&settings)?
                    .check_source(&settings.source)
                    .map_err(AgentError::from)
            })
            .await?;
            if matches!(container.source, ao_agent::container::Source::Image(_)) {
                return Ok(());
            }
        }
        let program = std::path::PathBuf::from(&settings.command[0]);
        let looked_up = program.clone();
        if unblock(move || ao_agent::doctor::find_program(&looked_up))
            .await
            .is_none()
        {
            return Err(AgentError::Launch(format!(
                "the ACP agent's program {} is not found: {}",
                program.display(),
                self.defaults.install_hint(&cx.project.name)
            )));
        }
        Ok(())
    }

    fn runs_in_container(&self, _project: &ao_agent::project::Project) -> bool {
        true
    }

    async fn doctor(&self, projects: &[ProjectContext<'_>]) -> Vec<ao_agent::doctor::Check> {
        crate::doctor::checks(projects, &self.defaults).await
    }
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
