//! The scripted fake ACP agent itself, driven by the SDK's client side over its stdio: what the
//! tests of ao's ACP plugin count on it to do (its identity, each directive, its switches).

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    CancelNotification, ContentBlock, InitializeRequest, InitializeResponse, LoadSessionRequest,
    NewSessionRequest, PermissionOptionKind, PlanEntryStatus, PromptRequest, PromptResponse,
    RequestPermissionOutcome, RequestPermissionRequest, RequestPermissionResponse,
    SelectedPermissionOutcome, SessionConfigKind, SessionConfigOptionCategory, SessionId,
    SessionNotification, SessionUpdate, SetSessionConfigOptionRequest, StopReason, TextContent,
    ToolCallStatus, ToolKind,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{Agent, ByteStreams, Client, Error};
use tokio::process::{Child, Command};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

const LIMIT: Duration = Duration::from_secs(30);

type Updates = Arc<Mutex<Vec<SessionUpdate>>>;
type Asked = Arc<Mutex<Vec<RequestPermissionRequest>>>;

/// The fake agent, started with these variables, and a transport over its stdio.
fn start(env: &[(&str, &str)]) -> (Child, impl agent_client_protocol::ConnectTo<Client>) {
    start_with(&[], env)
}

/// As [`start`], with these arguments.
fn start_with(
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, impl agent_client_protocol::ConnectTo<Client>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fake-acp-agent"));
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start fake-acp-agent");
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    (
        child,
        ByteStreams::new(stdin.compat_write(), stdout.compat()),
    )
}

/// A client that records every update and permission request, and answers each request with
/// its option of kind `choose`.
macro_rules! client {
    ($updates:expr, $asked:expr, $choose:expr) => {{
        let updates: Updates = $updates.clone();
        let asked: Asked = $asked.clone();
        let choose: PermissionOptionKind = $choose;
        Client
            .v1()
            .on_receive_notification(
                async move |n: SessionNotification, _cx| {
                    updates.lock().unwrap().push(n.update);
                    Ok(())
                },
                agent_client_protocol::on_receive_notification!(),
            )
            .on_receive_request(
                async move |req: RequestPermissionRequest,
                            responder: Responder<RequestPermissionResponse>,
                            _cx| {
                    let id = req
                        .options
                        .iter()
                        .find(|o| o.kind == choose)
                        .map(|o| o.option_id.clone())
                        .expect("an option of the chosen kind");
                    asked.lock().unwrap().push(req);
                    responder.respond(RequestPermissionResponse::new(
                        RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(id)),
                    ))
                },
                agent_client_protocol::on_receive_request!(),
            )
    }};
}

async fn initialize(cx: &ConnectionTo<Agent>) -> Result<InitializeResponse, Error> {
    cx.send_request(InitializeRequest::new(ProtocolVersion::V1))
        .block_task()
        .await
}

async fn new_session(cx: &ConnectionTo<Agent>) -> Result<SessionId, Error> {
    Ok(cx
        .send_request(NewSessionRequest::new(std::env::temp_dir()))
        .block_task()
        .await?
        .session_id)
}

/// Sends `text`, cancels the turn (`session/cancel`) after `after`, and returns the answer.
async fn cancelled_after(
    cx: &ConnectionTo<Agent>,
    session: &SessionId,
    text: &str,
    after: Duration,
) -> Result<PromptResponse, Error> {
    let running = cx.send_request(PromptRequest::new(
        session.clone(),
        vec![ContentBlock::Text(TextContent::new(text))],
    ));
    tokio::time::sleep(after).await;
    cx.send_notification(CancelNotification::new(session.clone()))?;
    running.block_task().await
}

async fn prompt(
    cx: &ConnectionTo<Agent>,
    session: &SessionId,
    text: &str,
) -> Result<PromptResponse, Error> {
    cx.send_request(PromptRequest::new(
        session.clone(),
        vec![ContentBlock::Text(TextContent::new(text))],
    ))
    .block_task()
    .await
}

/// The agent's message text among `updates`.
fn said(updates: &[SessionUpdate]) -> String {
    updates
        .iter()
        .filter_map(|u| match u {
            SessionUpdate::AgentMessageChunk(c) => match &c.content {
                ContentBlock::Text(t) => Some(t.text.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn take(updates: &Updates) -> Vec<SessionUpdate> {
    std::mem::take(&mut *updates.lock().unwrap())
}

#[tokio::test]
async fn each_directive_does_what_it_says() {
    let (mut child, transport) = start(&[]);
    let updates = Updates::default();
    let asked = Asked::default();
    let run = client!(updates, asked, PermissionOptionKind::AllowAlways).connect_with(
        transport,
        async |cx: ConnectionTo<Agent>| {
            let init = initialize(&cx).await?;
            let info = init.agent_info.expect("agentInfo");
            assert_eq!(
                (info.name.as_str(), info.version.as_str()),
                ("fake-acp-agent", "0.1.0")
            );
            assert!(init.agent_capabilities.load_session);
            let session = new_session(&cx).await?;

            let r = prompt(&cx, &session, "say:Hello there.").await?;
            assert_eq!(r.stop_reason, StopReason::EndTurn);
            let usage = r.usage.expect("usage");
            assert_eq!((usage.input_tokens, usage.output_tokens), (100, 10));
            assert_eq!(said(&take(&updates)), "Hello there.");

            for (word, stop) in [
                ("refusal", StopReason::Refusal),
                ("max_tokens", StopReason::MaxTokens),
                ("max_turn_requests", StopReason::MaxTurnRequests),
                ("cancelled", StopReason::Cancelled),
            ] {
                let r = prompt(&cx, &session, &format!("stop:{word}")).await?;
                assert_eq!(r.stop_reason, stop);
                assert!(r.usage.is_none());
                assert_eq!(said(&take(&updates)), format!("stopping: {word}"));
            }

            let err = prompt(&cx, &session, "fail:the model is on fire")
                .await
                .expect_err("a JSON-RPC error");
            assert_eq!(err.message, "the model is on fire");
            take(&updates);

            let r = prompt(&cx, &session, "usage:1234/56").await?;
            let usage = r.usage.expect("usage");
            assert_eq!(
                (usage.input_tokens, usage.output_tokens, usage.total_tokens),
                (1234, 56, 1290)
            );
            assert!(!take(&updates)
                .iter()
                .any(|u| matches!(u, SessionUpdate::UsageUpdate(_))));

            prompt(&cx, &session, "cost:0.0123").await?;
            let cost = take(&updates)
                .into_iter()
                .find_map(|u| match u {
                    SessionUpdate::UsageUpdate(u) => u.cost,
                    _ => None,
                })
                .expect("a usage_update with a cost");
            assert_eq!((cost.amount, cost.currency.as_str()), (0.0123, "USD"));

            prompt(&cx, &session, "plan").await?;
            let plan = take(&updates)
                .into_iter()
                .find_map(|u| match u {
                    SessionUpdate::Plan(p) => Some(p),
                    _ => None,
                })
                .expect("a plan");
            assert_eq!(plan.entries.len(), 3);
            assert_eq!(
                plan.entries
                    .iter()
                    .filter(|e| e.status == PlanEntryStatus::Completed)
                    .count(),
                1
            );

            let r = prompt(&cx, &session, "permit:edit").await?;
            assert_eq!(r.stop_reason, StopReason::EndTurn);
            let request = asked.lock().unwrap().pop().expect("a permission request");
            assert_eq!(request.tool_call.fields.kind, Some(ToolKind::Edit));
            let kinds: Vec<PermissionOptionKind> = request.options.iter().map(|o| o.kind).collect();
            assert_eq!(
                kinds,
                [
                    PermissionOptionKind::RejectAlways,
                    PermissionOptionKind::AllowOnce,
                    PermissionOptionKind::RejectOnce,
                    PermissionOptionKind::AllowAlways
                ]
            );
            let seen = take(&updates);
            assert_eq!(said(&seen), "chose fake-allow-always");
            let last_status = seen.iter().rev().find_map(|u| match u {
                SessionUpdate::ToolCallUpdate(t) => t.fields.status,
                _ => None,
            });
            assert_eq!(last_status, Some(ToolCallStatus::Completed));

            // slow: streams, and stops as cancelled on session/cancel.
            let r =
                cancelled_after(&cx, &session, "slow:5000", Duration::from_millis(1200)).await?;
            assert_eq!(r.stop_reason, StopReason::Cancelled);
            let ticks = said(&take(&updates));
            assert!(ticks.starts_with("tick 1. "), "{ticks}");
            assert!(!ticks.contains("tick 10."), "{ticks}");

            // spend: the cost at once, then it streams on until cancelled.
            let r =
                cancelled_after(&cx, &session, "spend:0.5", Duration::from_millis(1000)).await?;
            assert_eq!(r.stop_reason, StopReason::Cancelled);
            let seen = take(&updates);
            let cost = seen.iter().find_map(|u| match u {
                SessionUpdate::UsageUpdate(u) => u.cost.clone(),
                _ => None,
            });
            assert_eq!(cost.map(|c| c.amount), Some(0.5));
            let spent = said(&seen);
            assert!(spent.starts_with("spending 1. spending 2. "), "{spent}");
            Ok(())
        },
    );
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("in time")
        .expect("the run");
    child.kill().await.ok();
}

#[tokio::test]
async fn a_rejected_permission_fails_the_call_and_a_crash_exits_3_mid_turn() {
    let (mut child, transport) = start(&[("FAKE_ACP_NO_LOAD", "1")]);
    let updates = Updates::default();
    let asked = Asked::default();
    let run = client!(updates, asked, PermissionOptionKind::RejectOnce).connect_with(
        transport,
        async |cx: ConnectionTo<Agent>| {
            let init = initialize(&cx).await?;
            assert!(!init.agent_capabilities.load_session);
            let session = new_session(&cx).await?;
            let err = cx
                .send_request(LoadSessionRequest::new(
                    session.clone(),
                    std::env::temp_dir(),
                ))
                .block_task()
                .await
                .expect_err("no session/load without loadSession");
            assert_eq!(err.code, agent_client_protocol::ErrorCode::METHOD_NOT_FOUND);

            prompt(&cx, &session, "permit:execute").await?;
            let seen = take(&updates);
            assert_eq!(said(&seen), "chose fake-reject-once");
            assert!(seen.iter().any(|u| matches!(
                u,
                SessionUpdate::ToolCallUpdate(t) if t.fields.status == Some(ToolCallStatus::Failed)
            )));

            let crashed = prompt(&cx, &session, "crash").await;
            assert!(crashed.is_err(), "{crashed:?}");
            assert_eq!(said(&take(&updates)), "crashing");
            Ok(())
        },
    );
    // The connection may end with the agent's exit before or after the prompt's error.
    let _ = tokio::time::timeout(LIMIT, run).await.expect("in time");
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("in time")
        .unwrap();
    assert_eq!(status.code(), Some(3));
}

#[tokio::test]
async fn a_silent_agent_never_answers_initialize() {
    let (mut child, transport) = start(&[("FAKE_ACP_SILENT_INIT", "1")]);
    silent(&mut child, transport).await;
    let (mut child, transport) = start_with(&["--silent-init"], &[]);
    silent(&mut child, transport).await;
}

async fn silent(child: &mut Child, transport: impl agent_client_protocol::ConnectTo<Client>) {
    let run = Client
        .v1()
        .connect_with(transport, async |cx: ConnectionTo<Agent>| {
            let answer = tokio::time::timeout(Duration::from_secs(2), initialize(&cx)).await;
            assert!(answer.is_err(), "it answered: {answer:?}");
            Ok(())
        });
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("in time")
        .expect("the run");
    // Whether it is still running now is a race: the closed connection ends its stdin, and it
    // may have read that end already. It was silent while it ran, which is what matters.
    child.kill().await.ok();
}

#[tokio::test]
async fn models_are_offered_and_chosen_as_a_config_option() {
    let (mut child, transport) = start(&[("FAKE_ACP_MODELS", "fake/small,fake/large")]);
    let run = Client
        .v1()
        .connect_with(transport, async |cx: ConnectionTo<Agent>| {
            initialize(&cx).await?;
            let new = cx
                .send_request(NewSessionRequest::new(std::env::temp_dir()))
                .block_task()
                .await?;
            let options = new.config_options.expect("config options");
            assert_eq!(options.len(), 1);
            let model = &options[0];
            assert_eq!(model.id.0.as_ref(), "model");
            assert_eq!(model.category, Some(SessionConfigOptionCategory::Model));
            let SessionConfigKind::Select(select) = &model.kind else {
                panic!("not a select: {model:?}");
            };
            assert_eq!(select.current_value.0.as_ref(), "fake/small");

            let set = cx
                .send_request(SetSessionConfigOptionRequest::new(
                    new.session_id.clone(),
                    "model",
                    "fake/large",
                ))
                .block_task()
                .await?;
            let SessionConfigKind::Select(select) = &set.config_options[0].kind else {
                panic!("not a select");
            };
            assert_eq!(select.current_value.0.as_ref(), "fake/large");
            let err = cx
                .send_request(SetSessionConfigOptionRequest::new(
                    new.session_id,
                    "model",
                    "fake/none",
                ))
                .block_task()
                .await
                .expect_err("an unknown model");
            assert_eq!(err.code, agent_client_protocol::ErrorCode::INVALID_PARAMS);
            Ok(())
        });
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("in time")
        .expect("the run");
    child.kill().await.ok();
}

#[tokio::test]
async fn a_later_process_loads_a_session_and_replays_its_history() {
    let data = tempfile::tempdir().unwrap();
    let env = [("FAKE_ACP_DATA", data.path().to_str().unwrap())];
    let (mut child, transport) = start(&env);
    let session = tokio::time::timeout(
        LIMIT,
        Client
            .v1()
            .connect_with(transport, async |cx: ConnectionTo<Agent>| {
                initialize(&cx).await?;
                let session = new_session(&cx).await?;
                prompt(&cx, &session, "say:First answer.").await?;
                Ok(session)
            }),
    )
    .await
    .expect("in time")
    .expect("the first run");
    child.kill().await.ok();

    let (mut child, transport) = start(&env);
    let updates = Updates::default();
    let asked = Asked::default();
    let run = client!(updates, asked, PermissionOptionKind::AllowOnce).connect_with(
        transport,
        async |cx: ConnectionTo<Agent>| {
            initialize(&cx).await?;
            cx.send_request(LoadSessionRequest::new(
                session.clone(),
                std::env::temp_dir(),
            ))
            .block_task()
            .await?;
            let replayed = take(&updates);
            assert!(matches!(
                &replayed[0],
                SessionUpdate::UserMessageChunk(c)
                    if matches!(&c.content, ContentBlock::Text(t) if t.text == "say:First answer.")
            ));
            assert_eq!(said(&replayed), "First answer.");
            // The conversation goes on.
            prompt(&cx, &session, "say:Second answer.").await?;
            assert_eq!(said(&take(&updates)), "Second answer.");
            Ok(())
        },
    );
    tokio::time::timeout(LIMIT, run)
        .await
        .expect("in time")
        .expect("the second run");
    child.kill().await.ok();
}
