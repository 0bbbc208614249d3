//! Choosing a session's model and mode through the protocol, each by the session's config option
//! of its category (`model`, `mode`): the value must be one the option offers. A mode has an
//! older way too: `session/set_mode` among the modes `session/new` (or `session/load`) announced.

use agent_client_protocol::v1::schema::{
    SessionConfigKind, SessionConfigOption, SessionConfigOptionCategory, SessionConfigSelect,
    SessionConfigSelectOptions, SessionConfigValueId, SessionId, SessionModeState,
    SetSessionConfigOptionRequest, SetSessionModeRequest,
};
use agent_client_protocol::{v1::ConnectionTo, Agent};

use super::Failure;
use crate::agent_process::describe_error;

/// The session's select option of `category`, when it has one.
fn select_of<'a>(
    options: &'a [SessionConfigOption],
    category: &SessionConfigOptionCategory,
) -> Option<(&'a SessionConfigOption, &'a SessionConfigSelect)> {
    options
        .iter()
        .find_map(|option| match (&option.category, &option.kind) {
            (Some(c), SessionConfigKind::Select(select)) if c == category => Some((option, select)),
            _ => None,
        })
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

/// Sets a select option to `wanted`, unless it is that already. `Err(values)`: `wanted` is not
/// one of the values it offers; `Ok(Err(e))`: the agent refused it.
async fn set_select(
    cx: &ConnectionTo<Agent>,
    session_id: &SessionId,
    option: &SessionConfigOption,
    select: &SessionConfigSelect,
    wanted: &str,
) -> Result<Result<(), agent_client_protocol::Error>, Vec<String>> {
    let values: Vec<String> = offered(&select.options).into_iter().map(|v| v.0).collect();
    if !values.iter().any(|v| v == wanted) {
        return Err(values);
    }
    if select.current_value.to_string() == wanted {
        return Ok(Ok(()));
    }
    let request = SetSessionConfigOptionRequest::new(
        session_id.clone(),
        option.id.clone(),
        SessionConfigValueId::new(wanted),
    );
    Ok(cx.send_request(request).block_task().await.map(|_| ()))
}

/// Chooses model `wanted`; fails, `ModelUnavailable`, when the agent offers no such model, with
/// the models it has.
pub(super) async fn choose_model(
    cx: &ConnectionTo<Agent>,
    session_id: &SessionId,
    options: &[SessionConfigOption],
    wanted: &str,
) -> Result<String, Failure> {
    let unavailable = |message: String| Failure::new("ModelUnavailable", message);
    let Some((option, select)) = select_of(options, &SessionConfigOptionCategory::Model) else {
        return Err(unavailable(format!(
            "the agent offers no way to choose a model, so `model: {wanted}` cannot be \
             honoured: remove `model` from agentConfig and configure the model in the agent's \
             own config"
        )));
    };
    match set_select(cx, session_id, option, select, wanted).await {
        Ok(Ok(())) => Ok(wanted.to_owned()),
        Ok(Err(e)) => Err(unavailable(format!(
            "the agent refused model `{wanted}`: {}",
            describe_error(&e)
        ))),
        Err(values) if values.is_empty() => Err(unavailable(format!(
            "the agent offers no models, so not `{wanted}`"
        ))),
        Err(values) => Err(unavailable(format!(
            "the agent offers no model `{wanted}`; it offers: {}",
            values.join(", ")
        ))),
    }
}

/// Where a mode to choose came from, for what to tell a person who must change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ModeFrom {
    /// `agentConfig.mode`.
    Configured,
    /// The preset's mode for `permission`.
    Permission,
}

/// Chooses mode `wanted`; fails, `ModeUnavailable`, when the agent offers no such mode, with
/// the modes it has.
pub(super) async fn choose_mode(
    cx: &ConnectionTo<Agent>,
    session_id: &SessionId,
    options: &[SessionConfigOption],
    modes: Option<&SessionModeState>,
    wanted: &str,
    from: ModeFrom,
) -> Result<(), Failure> {
    let unavailable = |offers: Vec<String>| {
        let what = match from {
            ModeFrom::Configured => format!("mode `{wanted}`"),
            ModeFrom::Permission => {
                format!("mode `{wanted}` (the one ao picks for the project's `permission`)")
            }
        };
        Failure::new(
            "ModeUnavailable",
            if offers.is_empty() {
                format!(
                    "the agent offers no session modes, so {what} cannot be chosen{}",
                    match from {
                        ModeFrom::Configured => ": remove `mode` from agentConfig",
                        ModeFrom::Permission => "",
                    }
                )
            } else {
                format!(
                    "the agent offers no {what}; it offers: {}: set agentConfig.mode to one of them",
                    offers.join(", ")
                )
            },
        )
    };
    let refused = |e: agent_client_protocol::Error| {
        Failure::new(
            "ModeUnavailable",
            format!("the agent refused mode `{wanted}`: {}", describe_error(&e)),
        )
    };
    if let Some((option, select)) = select_of(options, &SessionConfigOptionCategory::Mode) {
        return match set_select(cx, session_id, option, select, wanted).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(refused(e)),
            Err(values) => Err(unavailable(values)),
        };
    }
    let Some(modes) = modes else {
        return Err(unavailable(Vec::new()));
    };
    let ids: Vec<String> = modes
        .available_modes
        .iter()
        .map(|m| m.id.to_string())
        .collect();
    if !ids.iter().any(|id| id == wanted) {
        return Err(unavailable(ids));
    }
    if modes.current_mode_id.to_string() != wanted {
        cx.send_request(SetSessionModeRequest::new(
            session_id.clone(),
            wanted.to_owned(),
        ))
        .block_task()
        .await
        .map_err(refused)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::fold::current_model;

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
