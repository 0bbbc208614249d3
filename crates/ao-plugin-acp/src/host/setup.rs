//! Opening a session: `initialize` (within a timeout), `session/new` or `session/load` (whose
//! replayed updates are ignored: the conversation file already holds them), the model, chosen
//! through the session's config option of category `model`, and the mode ([`super::mode`]).

use std::future::Future;
use std::time::Duration;

use agent_client_protocol::v1::schema::{
    LoadSessionRequest, NewSessionRequest, RequestPermissionOutcome, RequestPermissionResponse,
    SessionConfigKind, SessionConfigOption, SessionConfigOptionCategory,
    SessionConfigSelectOptions, SessionConfigValueId, SessionId, SetSessionConfigOptionRequest,
};
use agent_client_protocol::{v1::ConnectionTo, Agent};
use tokio::process::Child;
use tokio::sync::mpsc;

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
                        "the agent could not start a session: {}",
                        describe_error(&e)
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
                        "the agent could not load session {id}: {}",
                        describe_error(&e)
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
    if model.is_some() {
        recorder.record.model = model;
    }
    if let Some(wanted) = &launch.mode {
        let chosen = super::mode::choose_mode(cx, &session_id, &options, modes.as_ref(), wanted);
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

/// The values (and names) a select option offers, groups flattened.
pub(super) fn offered(options: &SessionConfigSelectOptions) -> Vec<(String, String)> {
    match options {
        SessionConfigSelectOptions::Ungrouped(list) => list
            .iter()
            .map(|o| (o.value.to_string(), o.name.clone()))
            .collect(),
        SessionConfigSelectOptions::Grouped(groups) => groups
            .iter()
            .flat_map(|g| g.options.iter())
            .map(|o| (o.value.to_string(), o.name.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

/// Chooses `wanted` through the session's config option of category `model`: the model's id
/// must be one of the values it offers.
async fn choose_model(
    cx: &ConnectionTo<Agent>,
    session_id: &SessionId,
    options: &[SessionConfigOption],
    wanted: &str,
) -> Result<String, Failure> {
    let unavailable = |message: String| Failure::new("ModelUnavailable", message);
    let found = options
        .iter()
        .find_map(|option| match (&option.category, &option.kind) {
            (Some(SessionConfigOptionCategory::Model), SessionConfigKind::Select(select)) => {
                Some((option, select))
            }
            _ => None,
        });
    let Some((option, select)) = found else {
        return Err(unavailable(format!(
            "the agent offers no way to choose a model, so `model: {wanted}` cannot be \
             honoured: remove `model` from agentConfig and configure the model in the agent's \
             own config"
        )));
    };
    let values = offered(&select.options);
    if !values.iter().any(|(value, _)| value == wanted) {
        let list: Vec<&str> = values.iter().map(|(value, _)| value.as_str()).collect();
        return Err(unavailable(if list.is_empty() {
            format!("the agent offers no models, so not `{wanted}`")
        } else {
            format!(
                "the agent offers no model `{wanted}`; it offers: {}",
                list.join(", ")
            )
        }));
    }
    if select.current_value.to_string() != wanted {
        cx.send_request(SetSessionConfigOptionRequest::new(
            session_id.clone(),
            option.id.clone(),
            SessionConfigValueId::new(wanted),
        ))
        .block_task()
        .await
        .map_err(|e| {
            unavailable(format!(
                "the agent refused model `{wanted}`: {}",
                describe_error(&e)
            ))
        })?;
    }
    Ok(wanted.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_and_ungrouped_models_are_offered_alike() {
        let options: Vec<SessionConfigOption> = serde_json::from_value(serde_json::json!([
            {"id": "model", "name": "Model", "category": "model", "type": "select",
             "currentValue": "mock/mock-1",
             "options": [{"value": "opencode/big-pickle", "name": "Big Pickle"},
                         {"value": "mock/mock-1", "name": "Mock 1"}]},
            {"id": "mode", "name": "Mode", "category": "mode", "type": "select",
             "currentValue": "build", "options": [{"value": "build", "name": "build"}]}
        ]))
        .unwrap();
        assert_eq!(current_model(&options).as_deref(), Some("mock/mock-1"));
        let SessionConfigKind::Select(select) = &options[0].kind else {
            panic!("a select");
        };
        let values: Vec<String> = offered(&select.options).into_iter().map(|v| v.0).collect();
        assert_eq!(values, ["opencode/big-pickle", "mock/mock-1"]);
        let grouped: SessionConfigSelectOptions = serde_json::from_value(serde_json::json!([
            {"group": "g", "name": "G", "options": [{"value": "a/b", "name": "B"}]}
        ]))
        .unwrap();
        assert_eq!(offered(&grouped), [("a/b".to_string(), "B".to_string())]);
    }
}
