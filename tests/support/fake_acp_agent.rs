//! `fake-acp-agent`: a scripted Agent Client Protocol agent (the SDK's agent side, over stdio), for
//! the tests of ao's ACP plugin: what a real agent cannot be made to do on cue.
//!
//! Each prompt's text is one directive (surrounding blanks ignored):
//!
//! | prompt | what the agent does |
//! |---|---|
//! | `say:<text>` | a message `<text>`; `end_turn`, usage [`SAY_USAGE`] in the result |
//! | `stop:<reason>` | a message `stopping: <reason>`; that stop reason (`refusal`, `max_tokens`, `max_turn_requests`, `cancelled`, `end_turn`); no usage |
//! | `fail:<message>` | a message `failing`; the prompt answers a JSON-RPC error (-32603) with `<message>` |
//! | `crash` | a message `crashing`, then the process exits with status 3, mid-turn |
//! | `child` | starts `sleep 300` in the agent's own process group (as a tool's shell would, left running); a message `child <its pid>`; `end_turn`; no usage |
//! | `plan` | a plan of [`PLAN`] (3 entries, one completed); a message `planned`; `end_turn` |
//! | `usage:<in>/<out>` | a message `counted`; `end_turn` with usage in/out (total in+out); no cost |
//! | `cost:<usd>` | a `usage_update` with cost `{amount: <usd>, currency: USD}` (cumulative, as agents say it); a message `priced`; `end_turn` with usage [`SAY_USAGE`] |
//! | `title:<text>` | a session info update with that title; a message `titled`; `end_turn` |
//! | `permit:<kind>` | a tool call (id `call-<pid>-<n>`, that ACP kind, title `echo <n>` for `execute`, else `<kind> call <n>`; raw input `{"command": "echo <n>"}`), then `session/request_permission` with the options of [`PERMISSION_OPTIONS`] (in that order); then a message `chose <option id>` and the tool call `completed` (an allow option) or `failed` (a reject option); `end_turn`. Cancelled (by the client's answer or `session/cancel`): the tool call `failed`, stop `cancelled` |
//! | `ask:<field>=<opt1>\|<opt2>[+<text>]` | `elicitation/create` (form: one required choice among the options, one optional free-text field `<text>`), then a message `answer: accept {...}` / `answer: decline` / `answer: cancel`; `end_turn`. A client without form elicitation is not asked: `the client offers no form elicitation`. `ask-url:<url>`: the same in URL mode (see `fake_acp_ask.rs`) |
//! | `spend:<usd>` | a `usage_update` with cost `{amount: <usd>, currency: USD}`, then a message chunk `spending <i>.` after each [`SPEND_TICK`] until `session/cancel` stops it with `cancelled` and usage 0/0 (after [`SPEND_TICKS`] of them it ends with `end_turn`, usage [`SAY_USAGE`]): what a budget stop has to cancel |
//! | `slow:<ms>` | ten message chunks `tick <i>.` spread over `<ms>`; `end_turn`, usage [`SAY_USAGE`]; `session/cancel` stops it with `cancelled` and usage 0/0 |
//! | anything else | a message `fake: <text>`; `end_turn`; no usage |
//!
//! Environment:
//! - `FAKE_ACP_NO_LOAD=1`: the agent does not advertise `loadSession` (and refuses `session/load`).
//! - `FAKE_ACP_SILENT_INIT=1`: the agent never answers `initialize`.
//! - `FAKE_ACP_MODELS=a,b`: `session/new` and `session/load` offer these models as a session
//!   config option (id `model`, category `model`, a select whose current value is the first);
//!   `session/set_config_option` chooses among them (an unknown value is an invalid-params error).
//! - `FAKE_ACP_MODES=a,b`: `session/new` and `session/load` announce these session modes (the
//!   first current); `session/set_mode` chooses among them, and says so on stderr.
//! - `FAKE_ACP_MODE_OPTION=1`: those modes are also a session config option of category `mode`,
//!   which `session/set_config_option` sets (and says so on stderr).
//! - `FAKE_ACP_AUTH_REQUIRED=1`: `session/new` and `session/load` answer `auth_required`.
//! - `FAKE_ACP_DATA=<dir>`: each session's updates are kept in `<dir>/<session id>.jsonl`, so a
//!   later process's `session/load` replays them (as `session/update`s, before it answers).
//!   Without it, only sessions of this process can be loaded.
//!
//! The arguments `--no-load` and `--silent-init` do what the first two do: a command of its own
//! for a project (`ao doctor` checks each distinct command once).
//!
//! Its agentInfo is `{name: "fake-acp-agent", version: "0.1.0"}`. It logs each request on stderr.

// A test program: a failed unwrap is the program failing, which the test sees.
#![allow(clippy::unwrap_used)]

#[path = "fake_acp_ask.rs"]
mod ask;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    AgentCapabilities, CancelNotification, ContentBlock, ContentChunk, Cost, Implementation,
    InitializeRequest, InitializeResponse, LoadSessionRequest, LoadSessionResponse,
    NewSessionRequest, NewSessionResponse, PermissionOption, PermissionOptionKind, Plan, PlanEntry,
    PlanEntryPriority, PlanEntryStatus, PromptRequest, PromptResponse, RequestPermissionOutcome,
    RequestPermissionRequest, SessionConfigOption, SessionConfigOptionCategory,
    SessionConfigSelectOption, SessionId, SessionInfoUpdate, SessionMode, SessionModeState,
    SessionNotification, SessionUpdate, SetSessionConfigOptionRequest,
    SetSessionConfigOptionResponse, SetSessionModeRequest, SetSessionModeResponse, StopReason,
    TextContent, ToolCall, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields, ToolKind, Usage,
    UsageUpdate,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{Agent, ByteStreams, Client, Error};
use tokio::sync::watch;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

/// The usage (input, output) a `say:` or `cost:` turn reports in its result.
pub const SAY_USAGE: (u64, u64) = (100, 10);

/// How often a `spend:` turn sends a message chunk.
pub const SPEND_TICK: Duration = Duration::from_millis(200);

/// How many chunks a `spend:` turn sends before it ends by itself (a minute's worth): longer than
/// a test waits for its cancel.
pub const SPEND_TICKS: u32 = 300;

/// The plan a `plan` prompt sends: (content, status, priority).
pub const PLAN: [(&str, PlanEntryStatus, PlanEntryPriority); 3] = [
    (
        "Read the code",
        PlanEntryStatus::Completed,
        PlanEntryPriority::High,
    ),
    (
        "Write the fix",
        PlanEntryStatus::InProgress,
        PlanEntryPriority::Medium,
    ),
    (
        "Run the tests",
        PlanEntryStatus::Pending,
        PlanEntryPriority::Low,
    ),
];

/// The options of a permission request, in the order offered: (id, name, kind). Not in the
/// order of the kinds, and with ids that are not the kinds' words, so that a client that picks by
/// position or sends a kind's word is caught.
pub const PERMISSION_OPTIONS: [(&str, &str, PermissionOptionKind); 4] = [
    (
        "fake-reject-always",
        "Never",
        PermissionOptionKind::RejectAlways,
    ),
    ("fake-allow-once", "Yes", PermissionOptionKind::AllowOnce),
    ("fake-reject-once", "No", PermissionOptionKind::RejectOnce),
    (
        "fake-allow-always",
        "Always",
        PermissionOptionKind::AllowAlways,
    ),
];

/// What the agent knows, shared by its handlers.
#[derive(Default)]
struct Agentstate {
    /// Each open session's updates so far (what `session/load` replays) and its model.
    sessions: HashMap<String, SessionState>,
    /// Responders never answered (`FAKE_ACP_SILENT_INIT`): kept, since dropping one answers.
    held: Vec<Responder<InitializeResponse>>,
}

struct SessionState {
    model: Option<String>,
    /// Set to true by `session/cancel`; a new turn resets it.
    cancel: watch::Sender<bool>,
}

type Shared = Arc<Mutex<Agentstate>>;

static NEXT: AtomicU64 = AtomicU64::new(1);

fn next() -> u64 {
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// Whether the variable `name` is `1`, or the argument `arg` is given.
fn switch(name: &str, arg: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1") || std::env::args().skip(1).any(|a| a == arg)
}

fn models() -> Vec<String> {
    std::env::var("FAKE_ACP_MODELS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect()
}

/// The session modes announced, when `FAKE_ACP_MODES` names some.
fn modes() -> Option<SessionModeState> {
    let modes: Vec<SessionMode> = std::env::var("FAKE_ACP_MODES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| SessionMode::new(m.to_string(), format!("Mode {m}")))
        .collect();
    let current = modes.first()?.id.clone();
    Some(SessionModeState::new(current, modes))
}

fn data_file(session: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("FAKE_ACP_DATA").filter(|d| !d.is_empty())?;
    Some(PathBuf::from(dir).join(format!("{session}.jsonl")))
}

/// The session config options offered (the model select), when `FAKE_ACP_MODELS` names some.
fn config_options(current: Option<&str>) -> Option<Vec<SessionConfigOption>> {
    let mut options = Vec::new();
    let models = models();
    if let Some(current) = current.or(models.first().map(String::as_str)) {
        let values: Vec<SessionConfigSelectOption> = models
            .iter()
            .map(|m| SessionConfigSelectOption::new(m.clone(), format!("Model {m}")))
            .collect();
        options.push(
            SessionConfigOption::select("model", "Model", current.to_string(), values)
                .category(SessionConfigOptionCategory::Model),
        );
    }
    if let Some(modes) = modes().filter(|_| switch("FAKE_ACP_MODE_OPTION", "--mode-option")) {
        let values: Vec<SessionConfigSelectOption> = modes
            .available_modes
            .iter()
            .map(|m| SessionConfigSelectOption::new(m.id.to_string(), m.name.clone()))
            .collect();
        options.push(
            SessionConfigOption::select("mode", "Mode", modes.current_mode_id.to_string(), values)
                .category(SessionConfigOptionCategory::Mode),
        );
    }
    (!options.is_empty()).then_some(options)
}

/// Sends an update and keeps it in the session's history (in `FAKE_ACP_DATA`).
fn update(
    cx: &ConnectionTo<Client>,
    session: &SessionId,
    update: SessionUpdate,
) -> Result<(), Error> {
    if let Some(file) = data_file(&session.0) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .map_err(Error::into_internal_error)?;
        let line = serde_json::to_string(&update).map_err(Error::into_internal_error)?;
        writeln!(f, "{line}").map_err(Error::into_internal_error)?;
    }
    cx.send_notification(SessionNotification::new(session.clone(), update))
}

fn text(s: impl Into<String>) -> ContentBlock {
    ContentBlock::Text(TextContent::new(s.into()))
}

fn message(cx: &ConnectionTo<Client>, session: &SessionId, s: &str) -> Result<(), Error> {
    update(
        cx,
        session,
        SessionUpdate::AgentMessageChunk(ContentChunk::new(text(s))),
    )
}

fn usage(input: u64, output: u64) -> Usage {
    Usage::new(input + output, input, output)
}

fn parse_kind(word: &str) -> Option<ToolKind> {
    serde_json::from_value(serde_json::Value::String(word.to_string())).ok()
}

fn parse_stop(word: &str) -> Option<StopReason> {
    serde_json::from_value(serde_json::Value::String(word.to_string())).ok()
}

/// Runs one prompt to its end; the result is what the prompt answers.
async fn turn(
    cx: ConnectionTo<Client>,
    session: SessionId,
    prompt: String,
    mut cancel: watch::Receiver<bool>,
) -> Result<PromptResponse, Error> {
    let directive = prompt.trim();
    let (verb, arg) = directive.split_once(':').unwrap_or((directive, ""));
    match verb {
        "say" => {
            message(&cx, &session, arg)?;
            Ok(PromptResponse::new(StopReason::EndTurn).usage(usage(SAY_USAGE.0, SAY_USAGE.1)))
        }
        "stop" => {
            let stop = parse_stop(arg)
                .ok_or_else(|| Error::invalid_params().data(format!("no stop reason {arg:?}")))?;
            message(&cx, &session, &format!("stopping: {arg}"))?;
            Ok(PromptResponse::new(stop))
        }
        "fail" => {
            message(&cx, &session, "failing")?;
            Err(Error::new(-32603, arg.to_string()))
        }
        "crash" => {
            message(&cx, &session, "crashing")?;
            // Time for the update to reach the client before the process goes.
            tokio::time::sleep(Duration::from_millis(300)).await;
            eprintln!("fake-acp-agent: crashing on purpose");
            std::process::exit(3);
        }
        "child" => {
            // Inherits the agent's process group; never waited for: what an agent leaves running.
            let child = std::process::Command::new("sleep")
                .arg("300")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| Error::new(-32603, format!("cannot start sleep: {e}")))?;
            message(&cx, &session, &format!("child {}", child.id()))?;
            Ok(PromptResponse::new(StopReason::EndTurn))
        }
        "plan" => {
            let entries = PLAN
                .iter()
                .map(|(content, status, priority)| {
                    PlanEntry::new(*content, priority.clone(), status.clone())
                })
                .collect();
            update(&cx, &session, SessionUpdate::Plan(Plan::new(entries)))?;
            message(&cx, &session, "planned")?;
            Ok(PromptResponse::new(StopReason::EndTurn))
        }
        "usage" => {
            let (input, output) = arg
                .split_once('/')
                .and_then(|(i, o)| Some((i.parse().ok()?, o.parse().ok()?)))
                .ok_or_else(|| Error::invalid_params().data("usage:<in>/<out>"))?;
            message(&cx, &session, "counted")?;
            Ok(PromptResponse::new(StopReason::EndTurn).usage(usage(input, output)))
        }
        "cost" => {
            report_cost(&cx, &session, "cost", arg)?;
            message(&cx, &session, "priced")?;
            Ok(PromptResponse::new(StopReason::EndTurn).usage(usage(SAY_USAGE.0, SAY_USAGE.1)))
        }
        "spend" => {
            report_cost(&cx, &session, "spend", arg)?;
            let ended = stream(
                &cx,
                &session,
                "spending",
                SPEND_TICKS,
                SPEND_TICK,
                &mut cancel,
            );
            Ok(ended.await?.unwrap_or_else(|| {
                PromptResponse::new(StopReason::EndTurn).usage(usage(SAY_USAGE.0, SAY_USAGE.1))
            }))
        }
        "title" => {
            update(
                &cx,
                &session,
                SessionUpdate::SessionInfoUpdate(SessionInfoUpdate::new().title(arg.to_string())),
            )?;
            message(&cx, &session, "titled")?;
            Ok(PromptResponse::new(StopReason::EndTurn))
        }
        "permit" => permit(cx, session, arg, cancel).await,
        "ask" => ask::ask(cx, session, arg, cancel).await,
        "ask-url" => ask::ask_url(cx, session, arg, cancel).await,
        "slow" => {
            let ms: u64 = arg
                .parse()
                .map_err(|_| Error::invalid_params().data("slow:<ms>"))?;
            let every = Duration::from_millis(ms / 10);
            let ended = stream(&cx, &session, "tick", 10, every, &mut cancel).await?;
            Ok(ended.unwrap_or_else(|| {
                PromptResponse::new(StopReason::EndTurn).usage(usage(SAY_USAGE.0, SAY_USAGE.1))
            }))
        }
        _ => {
            message(&cx, &session, &format!("fake: {directive}"))?;
            Ok(PromptResponse::new(StopReason::EndTurn))
        }
    }
}

/// `<verb>:<usd>`'s `usage_update` with the cost `<usd>` (cumulative, as agents say it).
fn report_cost(
    cx: &ConnectionTo<Client>,
    session: &SessionId,
    verb: &str,
    usd: &str,
) -> Result<(), Error> {
    let amount: f64 = usd
        .parse()
        .map_err(|_| Error::invalid_params().data(format!("{verb}:<usd>")))?;
    update(
        cx,
        session,
        SessionUpdate::UsageUpdate(UsageUpdate::new(1000, 200_000).cost(Cost::new(amount, "USD"))),
    )
}

/// Sends `count` message chunks `<word> <i>. `, one after each `every`; the answer `cancelled`
/// when `session/cancel` comes first, else `None` (the caller ends the turn its way).
async fn stream(
    cx: &ConnectionTo<Client>,
    session: &SessionId,
    word: &str,
    count: u32,
    every: Duration,
    cancel: &mut watch::Receiver<bool>,
) -> Result<Option<PromptResponse>, Error> {
    for i in 1..=count {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            // As opencode acp does: a cancelled turn reports what it used, nothing.
            _ = cancel.wait_for(|c| *c) => {
                return Ok(Some(PromptResponse::new(StopReason::Cancelled).usage(usage(0, 0))));
            }
        }
        message(cx, session, &format!("{word} {i}. "))?;
    }
    Ok(None)
}

/// `permit:<kind>`: a tool call that asks for permission, and what was chosen.
async fn permit(
    cx: ConnectionTo<Client>,
    session: SessionId,
    kind_word: &str,
    mut cancel: watch::Receiver<bool>,
) -> Result<PromptResponse, Error> {
    let kind = parse_kind(kind_word)
        .ok_or_else(|| Error::invalid_params().data(format!("no tool kind {kind_word:?}")))?;
    let n = next();
    let id = format!("call-{}-{n}", std::process::id());
    let command = format!("echo {n}");
    // A shell call's title is its command, as `opencode acp` and Codex give it.
    let title = if kind == ToolKind::Execute {
        command.clone()
    } else {
        format!("{kind_word} call {n}")
    };
    let input = serde_json::json!({ "command": command });
    update(
        &cx,
        &session,
        SessionUpdate::ToolCall(
            ToolCall::new(id.clone(), title.clone())
                .kind(kind)
                .status(ToolCallStatus::Pending)
                .raw_input(input.clone()),
        ),
    )?;
    let options = PERMISSION_OPTIONS
        .iter()
        .map(|(id, name, kind)| PermissionOption::new(*id, *name, *kind))
        .collect();
    let request = RequestPermissionRequest::new(
        session.clone(),
        ToolCallUpdate::new(
            id.clone(),
            ToolCallUpdateFields::new()
                .kind(kind)
                .title(title)
                .status(ToolCallStatus::Pending)
                .raw_input(input),
        ),
        options,
    );
    let answer = tokio::select! {
        answer = cx.send_request(request).block_task() => answer?.outcome,
        _ = cancel.wait_for(|c| *c) => RequestPermissionOutcome::Cancelled,
    };
    let finish = |status: ToolCallStatus| {
        update(
            &cx,
            &session,
            SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(
                id.clone(),
                ToolCallUpdateFields::new().status(status),
            )),
        )
    };
    match answer {
        RequestPermissionOutcome::Selected(selected) => {
            let chosen = selected.option_id.0.to_string();
            let allowed = PERMISSION_OPTIONS.iter().any(|(id, _, kind)| {
                *id == chosen
                    && matches!(
                        kind,
                        PermissionOptionKind::AllowOnce | PermissionOptionKind::AllowAlways
                    )
            });
            message(&cx, &session, &format!("chose {chosen}"))?;
            finish(if allowed {
                ToolCallStatus::Completed
            } else {
                ToolCallStatus::Failed
            })?;
            Ok(PromptResponse::new(StopReason::EndTurn))
        }
        _ => {
            finish(ToolCallStatus::Failed)?;
            Ok(PromptResponse::new(StopReason::Cancelled))
        }
    }
}

fn new_session_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("fake-ses-{nanos:x}-{}", std::process::id())
}

fn open_session(state: &Shared, id: &str) {
    let (cancel, _) = watch::channel(false);
    state.lock().unwrap().sessions.insert(
        id.to_string(),
        SessionState {
            model: models().first().cloned(),
            cancel,
        },
    );
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let state: Shared = Arc::default();
    let load = !switch("FAKE_ACP_NO_LOAD", "--no-load");
    let silent = switch("FAKE_ACP_SILENT_INIT", "--silent-init");
    let transport = ByteStreams::new(
        tokio::io::stdout().compat_write(),
        tokio::io::stdin().compat(),
    );
    let (s1, s2, s3, s4, s5, s6) = (
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
        state.clone(),
    );
    Agent
        .v1()
        .name("fake-acp-agent")
        .on_receive_request(
            async move |req: InitializeRequest, responder: Responder<InitializeResponse>, _cx| {
                eprintln!("fake-acp-agent: initialize");
                ask::note_client(&req.client_capabilities);
                if silent {
                    s1.lock().unwrap().held.push(responder);
                    return Ok(());
                }
                responder.respond(
                    InitializeResponse::new(req.protocol_version.min(ProtocolVersion::V1))
                        .agent_capabilities(AgentCapabilities::new().load_session(load))
                        .agent_info(Implementation::new("fake-acp-agent", "0.1.0")),
                )
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |_req: NewSessionRequest, responder: Responder<NewSessionResponse>, _cx| {
                if switch("FAKE_ACP_AUTH_REQUIRED", "--auth-required") {
                    return responder.respond_with_error(Error::auth_required());
                }
                let id = new_session_id();
                eprintln!("fake-acp-agent: session/new {id}");
                open_session(&s2, &id);
                if let Some(file) = data_file(&id) {
                    std::fs::write(file, "").map_err(Error::into_internal_error)?;
                }
                responder.respond(
                    NewSessionResponse::new(id)
                        .config_options(config_options(None))
                        .modes(modes()),
                )
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: LoadSessionRequest,
                        responder: Responder<LoadSessionResponse>,
                        cx: ConnectionTo<Client>| {
                let id = req.session_id.0.to_string();
                eprintln!("fake-acp-agent: session/load {id}");
                if !load {
                    return responder.respond_with_error(
                        Error::method_not_found().data("this agent cannot load sessions"),
                    );
                }
                let known = s3.lock().unwrap().sessions.contains_key(&id);
                let history = data_file(&id).and_then(|f| std::fs::read_to_string(f).ok());
                if !known && history.is_none() {
                    return responder.respond_with_error(
                        Error::invalid_params().data(format!("no session {id}")),
                    );
                }
                // Replayed as they were sent, before the answer (as the protocol asks).
                for line in history.unwrap_or_default().lines() {
                    let update: SessionUpdate =
                        serde_json::from_str(line).map_err(Error::into_internal_error)?;
                    cx.send_notification(SessionNotification::new(req.session_id.clone(), update))?;
                }
                if !known {
                    open_session(&s3, &id);
                }
                responder.respond(
                    LoadSessionResponse::new()
                        .config_options(config_options(None))
                        .modes(modes()),
                )
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: SetSessionModeRequest,
                        responder: Responder<SetSessionModeResponse>,
                        _cx| {
                let mode = req.mode_id.0.to_string();
                eprintln!("fake-acp-agent: session/set_mode {mode}");
                let known =
                    modes().is_some_and(|m| m.available_modes.iter().any(|a| a.id == req.mode_id));
                if !known {
                    return responder
                        .respond_with_error(Error::invalid_params().data("no such mode"));
                }
                responder.respond(SetSessionModeResponse::new())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: SetSessionConfigOptionRequest,
                        responder: Responder<SetSessionConfigOptionResponse>,
                        _cx| {
                let value = req.value.as_value_id().map(|v| v.0.to_string());
                eprintln!(
                    "fake-acp-agent: session/set_config_option {} = {value:?}",
                    req.config_id.0
                );
                let is_mode = |v: &String| {
                    modes().is_some_and(|m| m.available_modes.iter().any(|a| a.id.0.as_ref() == v))
                };
                if let Some(mode) = value
                    .as_ref()
                    .filter(|v| req.config_id.0.as_ref() == "mode" && is_mode(v))
                {
                    eprintln!("fake-acp-agent: mode {mode} chosen");
                    return responder.respond(SetSessionConfigOptionResponse::new(
                        config_options(None).unwrap_or_default(),
                    ));
                }
                let Some(value) =
                    value.filter(|v| req.config_id.0.as_ref() == "model" && models().contains(v))
                else {
                    return responder.respond_with_error(
                        Error::invalid_params().data("no such option or value"),
                    );
                };
                if let Some(s) = s4
                    .lock()
                    .unwrap()
                    .sessions
                    .get_mut(req.session_id.0.as_ref())
                {
                    s.model = Some(value.clone());
                }
                responder.respond(SetSessionConfigOptionResponse::new(
                    config_options(Some(&value)).unwrap_or_default(),
                ))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: PromptRequest,
                        responder: Responder<PromptResponse>,
                        cx: ConnectionTo<Client>| {
                let prompt: String = req
                    .prompt
                    .iter()
                    .filter_map(|b| match b {
                        ContentBlock::Text(t) => Some(t.text.as_str()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                eprintln!("fake-acp-agent: session/prompt {prompt:?}");
                let cancel = {
                    let state = s5.lock().unwrap();
                    let Some(s) = state.sessions.get(req.session_id.0.as_ref()) else {
                        drop(state);
                        return responder
                            .respond_with_error(Error::invalid_params().data("no such session"));
                    };
                    s.cancel.send_replace(false);
                    s.cancel.subscribe()
                };
                update(
                    &cx,
                    &req.session_id,
                    SessionUpdate::UserMessageChunk(ContentChunk::new(text(prompt.clone()))),
                )?;
                // The turn runs outside the dispatch loop, so that `session/cancel` and the
                // answer to a permission request can arrive meanwhile.
                let session = req.session_id.clone();
                cx.spawn({
                    let cx = cx.clone();
                    async move {
                        match turn(cx, session, prompt, cancel).await {
                            Ok(response) => responder.respond(response),
                            Err(e) => responder.respond_with_error(e),
                        }
                    }
                })
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_notification(
            async move |n: CancelNotification, _cx| {
                eprintln!("fake-acp-agent: session/cancel");
                if let Some(s) = s6.lock().unwrap().sessions.get(n.session_id.0.as_ref()) {
                    s.cancel.send_replace(true);
                }
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .connect_to(transport)
        .await
}
