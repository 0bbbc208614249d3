//! How the host answers `session/request_permission`: by the configured policy for the call's
//! tool kind, or by a person's `ao permit`; always by an option's kind, never by its position or
//! its name.

use agent_client_protocol::v1::schema::{
    PermissionOption, PermissionOptionKind, RequestPermissionRequest, ToolKind as AcpToolKind,
};
use ao_agent::agent::PermitDecision;
use ao_agent::clock::EpochMillis;
use ao_agent::session::{PermitOption, PermitOptionKind};

use crate::record::{PendingPermission, PermissionAnswer, ToolKind};

/// ao's word for an ACP tool kind.
pub fn tool_kind(kind: &AcpToolKind) -> ToolKind {
    match kind {
        AcpToolKind::Read => ToolKind::Read,
        AcpToolKind::Edit => ToolKind::Edit,
        AcpToolKind::Delete => ToolKind::Delete,
        AcpToolKind::Move => ToolKind::Move,
        AcpToolKind::Search => ToolKind::Search,
        AcpToolKind::Execute => ToolKind::Execute,
        AcpToolKind::Think => ToolKind::Think,
        AcpToolKind::Fetch => ToolKind::Fetch,
        AcpToolKind::SwitchMode => ToolKind::SwitchMode,
        _ => ToolKind::Other,
    }
}

/// ao's record of a permission option.
pub fn permit_option(option: &PermissionOption) -> PermitOption {
    let kind = match option.kind {
        PermissionOptionKind::AllowOnce => PermitOptionKind::AllowOnce,
        PermissionOptionKind::AllowAlways => PermitOptionKind::AllowAlways,
        PermissionOptionKind::RejectOnce => PermitOptionKind::RejectOnce,
        PermissionOptionKind::RejectAlways => PermitOptionKind::RejectAlways,
        // The enum is non-exhaustive: a newer kind is kept by its wire word.
        ref other => PermitOptionKind::Other(
            serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "unknown".into()),
        ),
    };
    PermitOption {
        id: option.option_id.to_string(),
        name: option.name.clone(),
        kind,
    }
}

/// The id of the first option of the first of `kinds` that the request offers.
fn first_of(options: &[PermitOption], kinds: &[PermitOptionKind]) -> Option<String> {
    kinds.iter().find_map(|kind| {
        options
            .iter()
            .find(|o| o.kind == *kind)
            .map(|o| o.id.clone())
    })
}

/// The option the policy's answer picks: allow → allow once (else always), deny → reject once
/// (else always). `None`: a person decides (ask, or the request offers no option of that kind).
pub fn by_policy(answer: PermissionAnswer, options: &[PermitOption]) -> Option<String> {
    match answer {
        PermissionAnswer::Ask => None,
        PermissionAnswer::Allow => first_of(
            options,
            &[PermitOptionKind::AllowOnce, PermitOptionKind::AllowAlways],
        ),
        PermissionAnswer::Deny => first_of(
            options,
            &[PermitOptionKind::RejectOnce, PermitOptionKind::RejectAlways],
        ),
    }
}

/// The option a person's decision picks: once → allow once, always → allow always, reject →
/// reject once (else always). `None`: the request offers no option of that kind.
pub fn by_decision(decision: PermitDecision, options: &[PermitOption]) -> Option<String> {
    match decision {
        PermitDecision::Once => first_of(options, &[PermitOptionKind::AllowOnce]),
        PermitDecision::Always => first_of(options, &[PermitOptionKind::AllowAlways]),
        PermitDecision::Reject => first_of(
            options,
            &[PermitOptionKind::RejectOnce, PermitOptionKind::RejectAlways],
        ),
    }
}

/// Whether the option `id` refuses the call.
pub fn is_reject(options: &[PermitOption], id: &str) -> bool {
    options.iter().any(|o| {
        o.id == id
            && matches!(
                o.kind,
                PermitOptionKind::RejectOnce | PermitOptionKind::RejectAlways
            )
    })
}

/// What a permission request waits for, as ao records it.
pub fn pending(request: &RequestPermissionRequest, at: EpochMillis) -> PendingPermission {
    let call = &request.tool_call;
    let kind = call.fields.kind.as_ref().map(tool_kind);
    let title = call.fields.title.clone().unwrap_or_default();
    PendingPermission {
        id: call.tool_call_id.to_string(),
        kind,
        title: people_title(kind, title, call.fields.raw_input.as_ref()),
        options: request.options.iter().map(permit_option).collect(),
        at,
    }
}

/// One line for people: the call's title; for a shell call, its command when the title lacks it.
pub fn people_title(
    kind: Option<ToolKind>,
    title: String,
    raw_input: Option<&serde_json::Value>,
) -> String {
    let command = raw_input
        .and_then(|input| input.get("command"))
        .and_then(|c| c.as_str())
        .filter(|c| !c.trim().is_empty());
    match (kind, command) {
        (Some(ToolKind::Execute), Some(command)) if !title.contains(command) => {
            if title.trim().is_empty() {
                command.to_owned()
            } else {
                format!("{title}: {command}")
            }
        }
        _ => title,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(id: &str, kind: PermitOptionKind) -> PermitOption {
        PermitOption {
            id: id.into(),
            name: id.into(),
            kind,
        }
    }

    /// What `opencode acp` offers: once, always, reject.
    fn opencode() -> Vec<PermitOption> {
        vec![
            option("once", PermitOptionKind::AllowOnce),
            option("always", PermitOptionKind::AllowAlways),
            option("reject", PermitOptionKind::RejectOnce),
        ]
    }

    #[test]
    fn the_policy_picks_an_option_by_its_kind() {
        let options = opencode();
        assert_eq!(
            by_policy(PermissionAnswer::Allow, &options),
            Some("once".into())
        );
        assert_eq!(
            by_policy(PermissionAnswer::Deny, &options),
            Some("reject".into())
        );
        assert_eq!(by_policy(PermissionAnswer::Ask, &options), None);
    }

    #[test]
    fn the_policy_falls_back_to_always_and_else_to_a_person() {
        let options = vec![
            option("a", PermitOptionKind::AllowAlways),
            option("r", PermitOptionKind::RejectAlways),
        ];
        assert_eq!(
            by_policy(PermissionAnswer::Allow, &options),
            Some("a".into())
        );
        assert_eq!(
            by_policy(PermissionAnswer::Deny, &options),
            Some("r".into())
        );
        let only_allow = vec![option("o", PermitOptionKind::AllowOnce)];
        assert_eq!(by_policy(PermissionAnswer::Deny, &only_allow), None);
        let odd = vec![option("x", PermitOptionKind::Other("maybe".into()))];
        assert_eq!(by_policy(PermissionAnswer::Allow, &odd), None);
    }

    #[test]
    fn a_decision_picks_its_own_kind_only() {
        let options = opencode();
        assert_eq!(
            by_decision(PermitDecision::Once, &options),
            Some("once".into())
        );
        assert_eq!(
            by_decision(PermitDecision::Always, &options),
            Some("always".into())
        );
        assert_eq!(
            by_decision(PermitDecision::Reject, &options),
            Some("reject".into())
        );
        let no_always = vec![
            option("o", PermitOptionKind::AllowOnce),
            option("ra", PermitOptionKind::RejectAlways),
        ];
        assert_eq!(by_decision(PermitDecision::Always, &no_always), None);
        assert_eq!(
            by_decision(PermitDecision::Reject, &no_always),
            Some("ra".into())
        );
    }

    #[test]
    fn a_shell_call_shows_its_command() {
        let input = serde_json::json!({"command": "ls -la", "description": "list"});
        let t = |kind, title: &str| people_title(kind, title.into(), Some(&input));
        assert_eq!(t(Some(ToolKind::Execute), "bash"), "bash: ls -la");
        assert_eq!(t(Some(ToolKind::Execute), ""), "ls -la");
        assert_eq!(t(Some(ToolKind::Execute), "ls -la"), "ls -la");
        assert_eq!(t(Some(ToolKind::Edit), "edit a.rs"), "edit a.rs");
    }

    #[test]
    fn a_request_becomes_a_pending_record() {
        let request: RequestPermissionRequest = serde_json::from_value(serde_json::json!({
            "sessionId": "s",
            "toolCall": {"toolCallId": "call_1", "kind": "execute", "title": "bash",
                         "rawInput": {"command": "echo hi"}},
            "options": [
                {"optionId": "once", "name": "Allow once", "kind": "allow_once"},
                {"optionId": "reject", "name": "Reject", "kind": "reject_once"}
            ]
        }))
        .unwrap();
        let p = pending(&request, 7);
        assert_eq!(p.id, "call_1");
        assert_eq!(p.kind, Some(ToolKind::Execute));
        assert_eq!(p.title, "bash: echo hi");
        assert_eq!(p.options.len(), 2);
        assert_eq!(p.options[1].kind, PermitOptionKind::RejectOnce);
        assert_eq!(p.at, 7);
    }
}
