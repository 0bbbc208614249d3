//! The session host (`ao agent-helper acp host --dir D`): it keeps one ACP agent and its
//! conversation alive, and records what the protocol says.
//!
//! [`run`] reads `launch.json`, starts the agent ([`crate::agent_process`]), runs `initialize`
//! (within [`INIT_TIMEOUT`], or `AO_ACP_INIT_TIMEOUT_MS`), `session/new` or `session/load`,
//! chooses the configured model through the session's config options, and then serves: prompts,
//! permits, answers, cancels and shutdowns from the control socket ([`control_server`]), updates,
//! permission requests and questions (form elicitation, [`question`]) from the agent ([`serve`]).
//! Everything is recorded in `state.json` and `conversation.jsonl` ([`recorder`]), and printed
//! for people to stdout ([`pane`]).
//!
//! The host ends when the agent's process ends (phase `agent_exited`), or on SIGTERM or SIGHUP
//! (cancel the turn, end the agent's process group). SIGINT (Ctrl-C in an attached pane) only
//! cancels the running turn: `ao kill` ends a session. A session that cannot start ends with
//! phase `failed` (`InitializeTimeout`, `SessionNewTimeout`, `ModelUnavailable`, `SessionNew`,
//! ...), which the plugin turns into a clear error.

mod choice;
mod claude;
mod codex;
pub mod control_server;
mod fold;
mod pane;
mod permission;
mod question;
mod recorder;
mod serve;
mod setup;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use agent_client_protocol::v1::schema::{
    CreateElicitationRequest, CreateElicitationResponse, RequestPermissionRequest,
    RequestPermissionResponse, SessionNotification,
};
use agent_client_protocol::{v1::Responder, Client};
use ao_agent::blocking::unblock;
use ao_agent::clock::{Clock as _, EpochMillis, SystemClock};
use ao_agent::runtime::process::ProcessIdentity;
use ao_agent::session::Tokens;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use crate::agent_process::{agent_log, end_group, AgentProcess, SpawnError};
use crate::files::FilesError;
use crate::record::{HostFiles, HostLaunch, HostPhase, HostRecord, HostStart, ProcessRecord};
use pane::Pane;
use recorder::Recorder;

/// How long the agent has to answer `initialize`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Overrides [`INIT_TIMEOUT`], in milliseconds (for tests).
pub const INIT_TIMEOUT_ENV: &str = "AO_ACP_INIT_TIMEOUT_MS";

/// How long `session/new` may take, and choosing the model.
pub const SESSION_NEW_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `session/load` may take (longer: the agent replays the conversation).
pub const SESSION_LOAD_TIMEOUT: Duration = Duration::from_secs(120);

// A host's whole shutdown must fit inside the tmux runtime's DESTROY_GRACE (2 s; the process
// runtime gives 5 s), or `ao kill` SIGKILLs it mid-cleanup and its record says nothing: the
// running turn gets CANCEL_GRACE (0.5 s) to answer the cancel, then the agent's group gets
// END_GRACE (0.7 s) between SIGTERM and SIGKILL; with the record's writes, about 1.3 s.

/// How long a shutdown waits for the agent to answer the cancel of the running turn.
const CANCEL_GRACE: Duration = Duration::from_millis(500);

/// How long the agent's group has between SIGTERM and SIGKILL when the host ends it.
const END_GRACE: Duration = Duration::from_millis(700);

/// How long each step of opening a session may take.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    /// `initialize`.
    initialize: Duration,
    /// `session/new`, and choosing the model.
    session_new: Duration,
    /// `session/load`.
    session_load: Duration,
}

impl Timeouts {
    /// `initialize`'s from the environment ([`init_timeout`]), the others' fixed.
    fn from_env() -> Timeouts {
        Timeouts {
            initialize: init_timeout(),
            session_new: SESSION_NEW_TIMEOUT,
            session_load: SESSION_LOAD_TIMEOUT,
        }
    }
}

/// What the agent sends that the host's loop handles.
enum AgentEvent {
    /// A `session/update`.
    Update(SessionNotification),
    /// A `session/request_permission`, and where its answer goes.
    Permission(
        RequestPermissionRequest,
        Responder<RequestPermissionResponse>,
    ),
    /// An `elicitation/create` (a question for a person), and where its answer goes.
    Question(
        CreateElicitationRequest,
        Responder<CreateElicitationResponse>,
    ),
}

/// Why a session could not start: phase `failed` with this name and message.
#[derive(Debug)]
struct Failure {
    name: &'static str,
    message: String,
}

impl Failure {
    fn new(name: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            name,
            message: message.into(),
        }
    }
}

/// How a host ended, other than by a failure to start.
enum Ending {
    /// The agent's process ended on its own.
    AgentExited { mid_turn: bool, status: String },
    /// A `Shutdown` or a signal: the host ended the agent.
    Shutdown,
}

/// What a signal asks of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGTERM or SIGHUP: end the session.
    Shutdown,
    /// SIGINT: cancel the running turn.
    Interrupt,
}

/// SIGTERM and SIGHUP ask the host to shut down; SIGINT (Ctrl-C in an attached tmux pane) to
/// cancel the running turn.
struct StopSignals {
    term: Signal,
    hup: Signal,
    int: Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next of them.
    async fn next(&mut self) -> Stop {
        tokio::select! {
            _ = self.term.recv() => Stop::Shutdown,
            _ = self.hup.recv() => Stop::Shutdown,
            _ = self.int.recv() => Stop::Interrupt,
        }
    }

    /// Waits for SIGTERM or SIGHUP; a SIGINT meanwhile is ignored (while opening a session there
    /// is no turn to cancel).
    async fn recv(&mut self) {
        while self.next().await == Stop::Interrupt {}
    }
}

fn now() -> EpochMillis {
    SystemClock.now_ms()
}

/// How long `initialize` may take: `AO_ACP_INIT_TIMEOUT_MS`, else [`INIT_TIMEOUT`].
fn init_timeout() -> Duration {
    std::env::var(INIT_TIMEOUT_ENV)
        .ok()
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(INIT_TIMEOUT)
}

/// Why `launch.json` could not be read. Of a malformed one, only where (path, line, column):
/// serde's own text can quote a value, and the launch holds agentConfig.env (secrets).
fn launch_error(e: &FilesError) -> String {
    match e {
        FilesError::Garbled { path, source } => format!(
            "{path} is not a launch this ao wrote (at line {}, column {})",
            source.line(),
            source.column()
        ),
        FilesError::Io { .. } => e.to_string(),
    }
}

/// An exit status as the record says it: `exit status 1`, `signal 9`.
fn status_text(status: &std::io::Result<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => s.to_string(),
        },
        Err(e) => format!("unknown ({e})"),
    }
}

/// Runs the host of the session whose private directory is `session_dir`, until the session
/// ends. `Err` says why it could not start (also recorded as phase `failed`).
pub async fn run(session_dir: &Path) -> Result<(), String> {
    run_with(session_dir, Timeouts::from_env()).await
}

/// [`run`], with the timeouts given.
async fn run_with(session_dir: &Path, timeouts: Timeouts) -> Result<(), String> {
    let files = HostFiles::of(session_dir);
    let launch_files = files.clone();
    let launch: HostLaunch =
        unblock(move || crate::files::read_launch(&launch_files).map_err(|e| launch_error(&e)))
            .await?;
    let mut record = HostRecord {
        launch_id: launch.launch_id.clone(),
        // A new conversation has spent nothing yet.
        tokens: Some(Tokens::default()),
        ..HostRecord::default()
    };
    if let HostStart::Load(_) = launch.start {
        // A restored session carries on from what it had: its usage, cost, title and plan.
        if let Some(previous) = Recorder::previous(&files).await {
            record.tokens = fold::restored_tokens(&previous);
            record.cost_usd = fold::restored_cost(&previous, launch.price.is_some());
            record.title = previous.title;
            record.plan = previous.plan;
            record.model = previous.model;
        }
    }
    record.host = unblock(|| ProcessIdentity::of(std::process::id()))
        .await
        .map(|p| ProcessRecord {
            pid: p.pid,
            start_time: p.start_time,
        });
    let mut recorder = Recorder::new(files, record);
    let mut pane = Pane::new();
    recorder.save().await.map_err(|e| e.to_string())?;
    let mut stop = StopSignals::install().map_err(|e| format!("cannot handle signals: {e}"))?;

    let ended = host(&launch, timeouts, &mut recorder, &mut pane, &mut stop).await;
    let at = now();
    recorder.record.pending.clear();
    recorder.record.questions.clear();
    let result = match ended {
        Ok(Ending::AgentExited { mid_turn, status }) => {
            pane.note(&format!("the agent ended ({status})"));
            recorder.record.phase = HostPhase::AgentExited {
                at,
                mid_turn,
                status,
            };
            Ok(())
        }
        Ok(Ending::Shutdown) => {
            pane.note("ended");
            recorder.record.phase = HostPhase::AgentExited {
                at,
                mid_turn: false,
                status: "ended by ao".into(),
            };
            Ok(())
        }
        Err(failure) => {
            pane.note(&format!("{}: {}", failure.name, failure.message));
            recorder.record.phase = HostPhase::Failed {
                at,
                name: failure.name.into(),
                message: failure.message.clone(),
            };
            Err(failure.message)
        }
    };
    let saved = recorder.save().await;
    let socket = recorder.files().socket();
    let _ = unblock(move || std::fs::remove_file(socket)).await;
    result.and(saved.map_err(|e| e.to_string()))
}

/// Starts the agent and serves its session; ends the agent's process group however that ends.
async fn host(
    launch: &HostLaunch,
    timeouts: Timeouts,
    recorder: &mut Recorder,
    pane: &mut Pane,
    stop: &mut StopSignals,
) -> Result<Ending, Failure> {
    let log = agent_log(recorder.files());
    let mut agent = AgentProcess::spawn(&launch.command, &launch.env, &launch.cwd, Some(&log))
        .map_err(|e| match e {
            SpawnError::Missing { .. } | SpawnError::NoCommand => {
                Failure::new("AgentMissing", e.to_string())
            }
            SpawnError::NoCwd { .. } | SpawnError::Io { .. } => {
                Failure::new("AgentStart", e.to_string())
            }
        })?;
    let identity = agent.identity;
    recorder.record.agent_process = Some(identity);
    let saved = recorder.save().await;
    let ended = match (saved, agent.streams()) {
        (Err(e), _) => Err(Failure::new("HostRecord", e.to_string())),
        (Ok(()), None) => Err(Failure::new("AgentStart", "the agent's pipes are gone")),
        (Ok(()), Some(streams)) => {
            converse(streams, launch, timeouts, recorder, pane, stop, &mut agent).await
        }
    };
    // Whatever happened, no agent outlives its host.
    unblock(move || end_group(identity, END_GRACE)).await;
    let _ = agent.child.wait().await;
    ended
}

/// Speaks the protocol over the agent's pipes: opens the session, then serves it.
async fn converse(
    streams: crate::agent_process::AgentStreams,
    launch: &HostLaunch,
    timeouts: Timeouts,
    recorder: &mut Recorder,
    pane: &mut Pane,
    stop: &mut StopSignals,
    agent: &mut AgentProcess,
) -> Result<Ending, Failure> {
    let (events_tx, mut events) = mpsc::unbounded_channel::<AgentEvent>();
    let updates_tx = events_tx.clone();
    let questions_tx = events_tx.clone();
    let client = Client
        .v1()
        .name("ao")
        .on_receive_notification(
            async move |notification: SessionNotification, _cx| {
                // The loop may have ended; then nothing is left to record.
                let _ = updates_tx.send(AgentEvent::Update(notification));
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .on_receive_request(
            async move |request: RequestPermissionRequest, responder, _cx| {
                // Held by the loop until a policy or a person answers; dropped, it answers an
                // error.
                let _ = events_tx.send(AgentEvent::Permission(request, responder));
                Ok(())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: CreateElicitationRequest, responder, _cx| {
                // Held by the loop until a person answers; dropped, it answers an error.
                let _ = questions_tx.send(AgentEvent::Question(request, responder));
                Ok(())
            },
            agent_client_protocol::on_receive_request!(),
        );
    let child = &mut agent.child;
    let served = client
        .connect_with(streams, async |cx| {
            let mut watch = setup::Watch { child, stop };
            let opened = setup::open(
                &cx,
                launch,
                timeouts,
                recorder,
                pane,
                &mut watch,
                &mut events,
            )
            .await;
            let setup::Watch { child, stop } = watch;
            Ok(match opened {
                Ok(session_id) => {
                    let mut session =
                        serve::Session::new(cx, session_id, launch, recorder, pane).await;
                    session.serve(&mut events, child, stop).await
                }
                Err(ending) => ending,
            })
        })
        .await;
    match served {
        Ok(ending) => ending,
        // The transport failed: most often because the agent ended (a write to its closed
        // stdin). Then its exit is what happened.
        Err(e) => match tokio::time::timeout(END_GRACE, agent.child.wait()).await {
            Ok(status) => {
                let status = status_text(&status);
                match recorder.record.phase {
                    HostPhase::Starting => Err(Failure::new(
                        "AgentExited",
                        format!("the agent ended while starting ({status}); see agent.log"),
                    )),
                    HostPhase::Turn { .. } => {
                        // The turn's report never came: what it spent is unknown.
                        recorder.record.tokens = None;
                        Ok(Ending::AgentExited {
                            mid_turn: true,
                            status,
                        })
                    }
                    _ => Ok(Ending::AgentExited {
                        mid_turn: false,
                        status,
                    }),
                }
            }
            Err(_) => Err(Failure::new(
                "ProtocolError",
                crate::agent_process::describe_error(&e),
            )),
        },
    }
}
