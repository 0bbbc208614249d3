//! Opening a session: `initialize` (within a timeout), `session/new` or `session/load` (whose
//! replayed updates are ignored: the conversation file already holds them), the model, chosen
//! through the session's config option of category `model`, and the mode ([`super::choice`]).

use std::future::Future;
use std::time::Duration;

use agent_client_protocol::v1::schema::{
    LoadSessionRequest, NewSessionRequest, RequestPermissionOutcome, RequestPermissionResponse,
    SessionId,
};
use agent_client_protocol::{v1::ConnectionTo, Agent};
use tokio::process::Child;
use tokio::sync::mpsc;

use super::choice::{choose_mode, choose_model, ModeFrom};
use super::fold::current_model;
use super::pane::Pane;
use super::recorder::Recorder;
use super::{status_text, AgentEvent, Ending, Failure, StopSignals, Timeouts};
use crate::agent_process::{describe_error, identity, initialize_request};
use crate::record::{HostLaunch, HostStart};

/// What ended a session before it opened.
type NotOpened = Result<Ending, Failure>;

/// What can end a session while it opens: the agent's exit, a stop signal.
pub(super) struct Watch<'a> {
    /// The agent.
    pub child: &'a mut Child,
    /// SIGTERM, SIGHUP (SIGINT is ignored while opening: there is no turn to cancel).
    pub stop: &'a mut StopSignals,
}

impl Watch<'_> {
    /// Waits for `work`, unless the agent ends or the host is asked to stop first.
    async fn unless_ended<T>(&mut self, work: impl Future<Output = T>) -> Result<T, NotOpened> {
        tokio::select! {
            done = work => Ok(done),
            status = self.child.wait() => Err(Err(Failure::new(
                "AgentExited",
                format!("the agent ended while starting ({}); see agent.log", status_text(&status)),
            ))),
            () = self.stop.recv() => Err(Ok(Ending::Shutdown)),
        }
    }

    /// Why the agent's pipe closed while starting: its exit, when it comes soon, else `e`.
    async fn exited(&mut self, program: &str, e: &agent_client_protocol::Error) -> Failure {
        match tokio::time::timeout(super::END_GRACE, self.child.wait()).await {
            Ok(status) => Failure::new(
                "AgentExited",
                format!(
                    "the agent ended while starting ({}); see agent.log",
                    status_text(&status)
                ),
            ),
            Err(_) => Failure::new(
                "InitializeFailed",
                format!("`{program}` failed initialize: {}", describe_error(e)),
            ),
        }
    }
}

/// Opens the session: returns its protocol id (the caller binds the control socket, then
/// records phase `open`).
pub(super) async fn open(
    cx: &ConnectionTo<Agent>,
    launch: &HostLaunch,
    timeouts: Timeouts,
    recorder: &mut Recorder,
    pane: &mut Pane,
    watch: &mut Watch<'_>,
    events: &mut mpsc::UnboundedReceiver<AgentEvent>,
) -> Result<SessionId, NotOpened> {
    let program = launch.command.first().cloned().unwrap_or_default();
    let timeout = timeouts.initialize;
    let asked = tokio::time::timeout(timeout, cx.send_request(initialize_request()).block_task());
    let init = match watch.unless_ended(asked).await? {
        Ok(Ok(init)) => init,
        // The agent closed its stdout: it is ending, and its exit says more than the transport.
        Ok(Err(e))
            if agent_client_protocol::is_incoming_transport_closed(&e)
                || agent_client_protocol::is_connection_terminated(&e) =>
        {
            return Err(Err(watch.exited(&program, &e).await));
        }
        Ok(Err(e)) => {
            return Err(Err(Failure::new(
                "InitializeFailed",
                format!("`{program}` failed initialize: {}", describe_error(&e)),
            )))
        }
        Err(_) => {
            return Err(Err(Failure::new(
                "InitializeTimeout",
                format!(
                    "`{program}` did not answer initialize within {} ms: is it an ACP agent?",
                    timeout.as_millis()
                ),
            )))
        }
    };
    let agent = identity(&init);
    pane.note(&format!("agent {} {}", agent.name, agent.version));
    recorder.record.agent = Some(agent);
    recorder.record.load_session = init.agent_capabilities.load_session;
    save(recorder).await?;

    let (session_id, options, modes) = match &launch.start {
        HostStart::New => {
            let asked = cx
                .send_request(NewSessionRequest::new(launch.cwd.clone()))
                .block_task();
            let asked = tokio::time::timeout(timeouts.session_new, asked);
            let created = watch.unless_ended(asked).await?;
            let created = unanswered(
                created,
                "SessionNewTimeout",
                "session/new",
                timeouts.session_new,
            )?;
            let created = created.map_err(|e| {
                Err(Failure::new(
                    "SessionNew",
                    format!(
                        "the agent could not start a session: {}{}",
                        describe_error(&e),
                        credentials_hint(&e, launch)
                    ),
                ))
            })?;
            (created.session_id, created.config_options, created.modes)
        }
        HostStart::Load(id) => {
            if !recorder.record.load_session {
                return Err(Err(Failure::new(
                    "LoadUnsupported",
                    format!(
                        "this agent ({program}) cannot resume a session: it does not advertise \
                         loadSession"
                    ),
                )));
            }
            let asked = cx
                .send_request(LoadSessionRequest::new(id.clone(), launch.cwd.clone()))
                .block_task();
            let asked = tokio::time::timeout(timeouts.session_load, asked);
            let loaded = watch.unless_ended(asked).await?;
            let loaded = unanswered(
                loaded,
                "SessionLoadTimeout",
                "session/load",
                timeouts.session_load,
            )?;
            let loaded = loaded.map_err(|e| {
                Err(Failure::new(
                    "SessionLoad",
                    format!(
                        "the agent could not load session {id}: {}{}",
                        describe_error(&e),
                        credentials_hint(&e, launch)
                    ),
                ))
            })?;
            skip_replay(events);
            (
                SessionId::new(id.as_str()),
                loaded.config_options,
                loaded.modes,
            )
        }
    };
    recorder.record.acp_session_id = Some(session_id.to_string());
    let options = options.unwrap_or_default();
    let model = match &launch.model {
        None => current_model(&options),
        Some(wanted) => {
            let chosen = choose_model(cx, &session_id, &options, wanted);
            let chosen = tokio::time::timeout(timeouts.session_new, chosen);
            let chosen = watch.unless_ended(chosen).await?;
            let chosen = unanswered(
                chosen,
                "SetModelTimeout",
                "the choice of the model (session/set_config_option)",
                timeouts.session_new,
            )?;
            Some(chosen.map_err(Err)?)
        }
    };
    // A loaded session keeps the model its last host recorded (the agent's own word for it, as
    // a turn reported it) over the option's value, unless ao chose one now.
    let keep = matches!(launch.start, HostStart::Load(_))
        && launch.model.is_none()
        && recorder.record.model.is_some();
    if model.is_some() && !keep {
        recorder.record.model = model;
    }
    if let Some(wanted) = &launch.mode {
        let from = match launch.mode_from_permission {
            true => ModeFrom::Permission,
            false => ModeFrom::Configured,
        };
        let chosen = choose_mode(cx, &session_id, &options, modes.as_ref(), wanted, from);
        let chosen = tokio::time::timeout(timeouts.session_new, chosen);
        let chosen = watch.unless_ended(chosen).await?;
        unanswered(
            chosen,
            "SetModeTimeout",
            "the choice of the session mode",
            timeouts.session_new,
        )?
        .map_err(Err)?;
    }
    save(recorder).await?;
    pane.note(&format!(
        "session {session_id} open{}{}",
        recorder
            .record
            .model
            .as_deref()
            .map(|m| format!(", model {m}"))
            .unwrap_or_default(),
        launch
            .mode
            .as_deref()
            .map(|m| format!(", mode {m}"))
            .unwrap_or_default()
    ));
    Ok(session_id)
}

/// A step's answer, or phase `failed` named `name` when the agent did not answer `what` in time.
fn unanswered<T>(
    answer: Result<T, tokio::time::error::Elapsed>,
    name: &'static str,
    what: &str,
    timeout: Duration,
) -> Result<T, NotOpened> {
    answer.map_err(|_| {
        Err(Failure::new(
            name,
            format!(
                "the agent did not answer {what} within {} ms; see agent.log",
                timeout.as_millis()
            ),
        ))
    })
}

async fn save(recorder: &mut Recorder) -> Result<(), NotOpened> {
    recorder
        .save()
        .await
        .map_err(|e| Err(Failure::new("HostRecord", e.to_string())))
}

/// Drops what `session/load` replayed (the conversation file holds it already). The agent sends
/// the replay before its answer, so all of it is queued by now. A permission request among it
/// (there should be none) is answered cancelled.
fn skip_replay(events: &mut mpsc::UnboundedReceiver<AgentEvent>) {
    while let Ok(event) = events.try_recv() {
        if let AgentEvent::Permission(_, responder) = event {
            let _ = responder.respond(RequestPermissionResponse::new(
                RequestPermissionOutcome::Cancelled,
            ));
        }
    }
}

/// What to do when the agent says it needs credentials (ACP's `auth_required`): the launch's
/// hint (a preset's login command and key variable), else a general one. Nothing for other
/// errors.
fn credentials_hint(e: &agent_client_protocol::Error, launch: &HostLaunch) -> String {
    if e.code != agent_client_protocol::ErrorCode::AUTH_REQUIRED {
        return String::new();
    }
    match &launch.auth_hint {
        Some(hint) => format!(": {hint}"),
        None => ": the agent needs its credentials: sign in with its own login command, or give \
                  its API key in the environment or agentConfig.env"
            .to_string(),
    }
}
