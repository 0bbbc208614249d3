//! The session mode (`agentConfig.mode`, or the one a preset derives from `permission`), chosen
//! through the protocol: the session's config option of category `mode` where the agent has one,
//! else `session/set_mode` among the modes `session/new` (or `session/load`) announced.

use agent_client_protocol::v1::schema::{
    SessionConfigKind, SessionConfigOption, SessionConfigOptionCategory, SessionConfigValueId,
    SessionId, SessionModeState, SetSessionConfigOptionRequest, SetSessionModeRequest,
};
use agent_client_protocol::{v1::ConnectionTo, Agent};

use super::setup::offered;
use super::Failure;
use crate::agent_process::describe_error;

/// Chooses mode `wanted`; fails, `ModeUnavailable`, when the agent offers no such mode, with
/// the modes it has.
pub(super) async fn choose_mode(
    cx: &ConnectionTo<Agent>,
    session_id: &SessionId,
    options: &[SessionConfigOption],
    modes: Option<&SessionModeState>,
    wanted: &str,
) -> Result<(), Failure> {
    let unavailable = |offers: Vec<String>| {
        Failure::new(
            "ModeUnavailable",
            if offers.is_empty() {
                format!(
                    "the agent offers no session modes, so `mode: {wanted}` cannot be honoured: \
                     remove `mode` from agentConfig"
                )
            } else {
                format!(
                    "the agent offers no mode `{wanted}`; it offers: {}",
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
    let option = options
        .iter()
        .find_map(|option| match (&option.category, &option.kind) {
            (Some(SessionConfigOptionCategory::Mode), SessionConfigKind::Select(select)) => {
                Some((option, select))
            }
            _ => None,
        });
    if let Some((option, select)) = option {
        let values: Vec<String> = offered(&select.options).into_iter().map(|v| v.0).collect();
        if !values.iter().any(|v| v == wanted) {
            return Err(unavailable(values));
        }
        if select.current_value.to_string() != wanted {
            cx.send_request(SetSessionConfigOptionRequest::new(
                session_id.clone(),
                option.id.clone(),
                SessionConfigValueId::new(wanted),
            ))
            .block_task()
            .await
            .map_err(refused)?;
        }
        return Ok(());
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
