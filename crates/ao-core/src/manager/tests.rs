//! The manager's own rules, on test-only agents and an injected clock: no server, no sleeping on
//! the clock. These agents are made up for the tests: the manager needs nothing of a plugin but the
//! [`Agent`] trait and what the registry hands it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use super::{KillOptions, SessionManager, SpawnOptions};
use crate::agent::{
    Agent, AgentError, Change, Observation, PreparedSession, ProjectContext, Reply, SessionContext,
};
use crate::clock::{EpochMillis, FixedClock};
use crate::config::{Config, Context};
use crate::home::StateHome;
use crate::runtime::{LaunchSpec, TmuxRuntime};
use crate::session::{Activity, Lifecycle, ProcessState, RuntimeKind, Why};
use crate::store::NewSession;
use crate::target::Target;
use crate::transcript::TranscriptEntry;

const THRESHOLD: u64 = 300_000;
pub(crate) const FINISHED_AT: i64 = 1_800_000_000_000;

/// `impl Agent for $agent` with the given calls, and the calls no agent of these tests takes
/// part in (`restore` among them, but with `restoring`: the agent gives its own). With `inert`,
/// also a `prepare` that fails and a `send`, `kill` and `release` that do nothing.
macro_rules! test_agent {
    (inert $agent:ty { $($calls:tt)* }) => {
        test_agent!($agent {
            $($calls)*
            async fn prepare(
                &self,
                _: &ProjectContext<'_>,
                _: SessionContext<'_>,
            ) -> Result<PreparedSession, AgentError> {
                Err(AgentError::Launch("not in these tests".into()))
            }
            async fn send(
                &self,
                _: &ProjectContext<'_>,
                _: SessionContext<'_>,
                _: &str,
            ) -> Result<(), AgentError> {
                Ok(())
            }
            async fn kill(
                &self,
                _: &ProjectContext<'_>,
                _: SessionContext<'_>,
                _: bool,
            ) -> Result<(), AgentError> {
                Ok(())
            }
            async fn release(&self, _: &ProjectContext<'_>, _: $crate::clock::EpochMillis) -> Result<(), AgentError> {
                Ok(())
            }
        });
    };
    (restoring $agent:ty { $($calls:tt)* }) => {
        #[async_trait]
        impl Agent for $agent {
            $($calls)*
        async fn attach_launch(
            &self,
            _: &ProjectContext<'_>,
            _: SessionContext<'_>,
        ) -> Result<LaunchSpec, AgentError> {
            Err(AgentError::Launch("not in these tests".into()))
        }
        async fn reply(
            &self,
            _: &ProjectContext<'_>,
            _: SessionContext<'_>,
            _: &Reply,
        ) -> Result<(), AgentError> {
            Err(AgentError::Refused("not in these tests".into()))
        }
        async fn transcript(
            &self,
            _: &ProjectContext<'_>,
            _: SessionContext<'_>,
        ) -> Result<Vec<TranscriptEntry>, AgentError> {
            Ok(vec![])
        }
        }
    };
    ($agent:ty { $($calls:tt)* }) => {
        test_agent!(restoring $agent {
            $($calls)*
            async fn restore(
                &self,
                _: &ProjectContext<'_>,
                _: SessionContext<'_>,
            ) -> Result<PreparedSession, AgentError> {
                Err(AgentError::Launch("not in these tests".into()))
            }
        });
    };
}

pub(crate) use test_agent;

/// An agent that reports the activities it is given, one per call, the last one repeated.
struct ScriptedAgent {
    script: Mutex<VecDeque<Activity>>,
    observed: Mutex<usize>,
}

impl ScriptedAgent {
    fn new(script: &[Activity]) -> Arc<ScriptedAgent> {
        Arc::new(ScriptedAgent {
            script: Mutex::new(script.iter().copied().collect()),
            observed: Mutex::new(0),
        })
    }
}

test_agent!(inert ScriptedAgent {
    fn name(&self) -> &'static str {
        "scripted"
    }
    async fn project_changes(
        &self,
        _: &ProjectContext<'_>,
    ) -> Result<BoxStream<'static, Change>, AgentError> {
        // A stream that breaks at once: `wait` must go on by polling.
        Ok(Box::pin(futures_util::stream::empty()))
    }
    async fn observe(
        &self,
        _: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
    ) -> Vec<Observation> {
        *self.observed.lock().unwrap() += 1;
        let mut script = self.script.lock().unwrap();
        let activity = if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script[0]
        };
        let mut obs = Observation::bare(activity, None);
        obs.last_activity_at = Some(FINISHED_AT);
        vec![obs; sessions.len()]
    }
});

/// A manager over `agents` (the first the default) and the projects `demo` and `other`.
pub(crate) async fn manager_of(
    tmp: &tempfile::TempDir,
    agents: Vec<Arc<dyn Agent>>,
    now: i64,
) -> SessionManager {
    let mut text = format!("readyThresholdMs: {THRESHOLD}\nprojects:\n");
    for name in ["demo", "other"] {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        text.push_str(&format!(
            "  - name: {name}\n    path: {}\n    workspace: none\n    runtime: process\n",
            dir.display()
        ));
    }
    manager_with_config(tmp, agents, &text, now).await
}

/// A manager over `agents` (the first the default) and the config `text`, at time `now`; the
/// store is `tmp`'s, so managers made one after another share it.
pub(crate) async fn manager_with_config(
    tmp: &tempfile::TempDir,
    agents: Vec<Arc<dyn Agent>>,
    text: &str,
    now: i64,
) -> SessionManager {
    manager_on(tmp, agents, text, now, TmuxRuntime::from_env()).await
}

/// As [`manager_with_config`], with tmux sessions on `tmux` (a private server).
pub(crate) async fn manager_on(
    tmp: &tempfile::TempDir,
    agents: Vec<Arc<dyn Agent>>,
    text: &str,
    now: i64,
    tmux: TmuxRuntime,
) -> SessionManager {
    let file = tmp.path().join("agent-orchestrator.yaml");
    std::fs::write(&file, text).unwrap();
    let config = Config::parse_in(
        text,
        &file,
        Context {
            agents: &agents,
            ..Context::process()
        },
    )
    .unwrap();
    SessionManager::new(
        config,
        StateHome::at(tmp.path().join("home")),
        agents,
        tmux,
        Arc::new(FixedClock(now)),
    )
    .await
    .unwrap()
}

/// Records a live session `project/agent-N` of `agent`, as a finished spawn leaves it.
pub(crate) fn live_session(mgr: &SessionManager, project: &str, agent: &str) {
    let mut rec = mgr
        .store()
        .reserve(&NewSession {
            project,
            name: None,
            prefix: "agent",
            agent,
            runtime: RuntimeKind::Process,
            workspace: &mgr.config().project(project).unwrap().path,
            model: None,
            agent_mode: None,
            created_at: FINISHED_AT,
        })
        .unwrap();
    rec.lifecycle = Lifecycle::Live;
    rec.agent_session_id = Some(format!("conv-{}", rec.address.name));
    mgr.store().update(&rec).unwrap();
}

/// A manager with one live session `demo/agent-1` of the scripted agent, at time `now`.
async fn manager(tmp: &tempfile::TempDir, agent: Arc<ScriptedAgent>, now: i64) -> SessionManager {
    let mgr = manager_of(tmp, vec![agent], now).await;
    live_session(&mgr, "demo", "scripted");
    mgr
}

async fn activity_at(now: i64) -> Activity {
    let tmp = tempfile::tempdir().unwrap();
    let mgr = manager(&tmp, ScriptedAgent::new(&[Activity::Ready]), now).await;
    mgr.status(&Target::All).await.unwrap()[0].activity
}

#[tokio::test]
async fn ready_turns_idle_after_the_threshold() {
    let t = THRESHOLD as i64;
    assert_eq!(activity_at(FINISHED_AT).await, Activity::Ready);
    assert_eq!(activity_at(FINISHED_AT + t).await, Activity::Ready);
    assert_eq!(activity_at(FINISHED_AT + t + 1).await, Activity::Idle);
}

#[tokio::test]
async fn wait_polls_on_when_the_event_stream_breaks() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = ScriptedAgent::new(&[Activity::Active, Activity::Active, Activity::Ready]);
    let mgr = manager(&tmp, agent.clone(), FINISHED_AT).await;
    let status = mgr
        .wait(
            &Target::parse("demo/agent-1"),
            &[Activity::Ready],
            Duration::from_secs(10),
            Duration::from_millis(1),
        )
        .await
        .unwrap();
    assert_eq!(status.activity, Activity::Ready);
    assert_eq!(*agent.observed.lock().unwrap(), 3);
}

#[tokio::test]
async fn wait_gives_up_at_the_timeout_with_the_state_it_saw() {
    let tmp = tempfile::tempdir().unwrap();
    let mgr = manager(&tmp, ScriptedAgent::new(&[Activity::Active]), FINISHED_AT).await;
    let err = mgr
        .wait(
            &Target::parse("demo/agent-1"),
            &[Activity::WaitingInput],
            Duration::from_millis(20),
            Duration::from_millis(1),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "demo/agent-1 is still active after 0.0s (waited for waiting_input)"
    );
}

#[tokio::test]
async fn a_spawn_in_progress_is_active_and_one_that_died_is_reported_and_killable() {
    let tmp = tempfile::tempdir().unwrap();
    let mgr = manager(&tmp, ScriptedAgent::new(&[Activity::Ready]), FINISHED_AT).await;
    // What `ao spawn` does first: reserve the name, holding the spawn lock.
    let (_, lock) = mgr
        .store()
        .reserve_with(
            &NewSession {
                project: "demo",
                name: None,
                prefix: "agent",
                agent: "scripted",
                runtime: RuntimeKind::Process,
                workspace: &tmp.path().join("demo"),
                model: None,
                agent_mode: None,
                created_at: FINISHED_AT,
            },
            |name| super::abandoned::SpawnLock::take(mgr.home(), "demo", name),
        )
        .unwrap();

    let s = mgr
        .status(&Target::parse("demo/agent-2"))
        .await
        .unwrap()
        .remove(0);
    assert_eq!((s.activity, s.error), (Activity::Active, None));
    let err = mgr
        .kill(&Target::parse("demo/agent-2"), KillOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_usage(), "{err}");
    assert!(
        err.to_string().contains("still setting up demo/agent-2"),
        "{err}"
    );

    // The spawning process dies: the kernel releases its lock.
    drop(lock);
    let s = mgr
        .status(&Target::parse("demo/agent-2"))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(s.activity, Activity::Exited);
    let e = s.error.unwrap();
    assert_eq!(e.why, Why::SpawnIncomplete);
    assert_eq!(
        e.message,
        "ao spawn stopped before it set this session up; `ao kill demo/agent-2` removes it"
    );
    let killed = mgr
        .kill(&Target::parse("demo/agent-2"), KillOptions::default())
        .await
        .unwrap();
    assert!(killed.complete(), "{killed:?}");
    assert!(killed.sessions[0].purged);
    let left: Vec<String> = mgr
        .store()
        .list()
        .unwrap()
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert_eq!(left, vec!["demo/agent-1"]);
}

/// A test-only agent of a kind of its own: its "conversation" is a file of prompts in the
/// session's directory, its program a process that only waits, and what it knows between calls
/// lives in its plugin state. It uses every part of the context a plugin gets.
#[derive(Default)]
struct NotebookAgent {
    /// A session whose conversation it cannot delete.
    undeletable: Option<&'static str>,
}

test_agent!(NotebookAgent {
    fn name(&self) -> &'static str {
        "notebook"
    }
    async fn prepare(
        &self,
        _: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<PreparedSession, AgentError> {
        Ok(PreparedSession {
            role: crate::agent::LaunchRole::Viewer,
            agent_session_id: format!("nb-{}", session.record.address.name),
            launch: LaunchSpec {
                program: "sleep".into(),
                args: vec!["600".into()],
                cwd: session.record.workspace.clone(),
                ..LaunchSpec::default()
            },
        })
    }
    async fn send(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        prompt: &str,
    ) -> Result<(), AgentError> {
        // The runtime handle is in the context: the program the prompt is for runs.
        if session.record.runtime_handle.is_none() {
            return Err(AgentError::Refused("no program to prompt".into()));
        }
        let file = session.dir().join("prompts.txt");
        std::fs::write(&file, prompt).map_err(|source| AgentError::Io {
            what: format!("cannot write {}", file.display()),
            source,
        })?;
        let id = session.record.agent_session_id.clone().unwrap();
        cx.state
            .update(&format!("turns:{id}"), |n: &mut Option<u32>| {
                *n = Some(n.unwrap_or(0) + 1)
            })
            .await?;
        Ok(())
    }
    async fn observe(
        &self,
        cx: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
    ) -> Vec<Observation> {
        let mut out = Vec::new();
        for s in sessions {
            let id = s.record.agent_session_id.clone().unwrap();
            let turns: Option<u32> = cx.state.get(&format!("turns:{id}")).await.unwrap();
            let mut obs = Observation::bare(Activity::Ready, None);
            obs.last_activity_at = Some(FINISHED_AT);
            obs.summary = std::fs::read_to_string(s.dir().join("prompts.txt")).ok();
            obs.cost_usd = Some(f64::from(turns.unwrap_or(0)));
            out.push(obs);
        }
        out
    }
    async fn kill(
        &self,
        cx: &ProjectContext<'_>,
        session: SessionContext<'_>,
        purge: bool,
    ) -> Result<(), AgentError> {
        let id = session.record.agent_session_id.clone().unwrap();
        if purge && Some(session.record.address.name.as_str()) == self.undeletable {
            return Err(AgentError::Unreachable(format!("cannot delete {id}")));
        }
        if purge {
            cx.state
                .update(&format!("turns:{id}"), |n: &mut Option<u32>| *n = None)
                .await?;
        }
        Ok(())
    }
    async fn release(&self, cx: &ProjectContext<'_>, _: EpochMillis) -> Result<(), AgentError> {
        cx.state
            .set(&format!("released:{}", cx.project.name), true)
            .await?;
        Ok(())
    }
});

#[tokio::test]
async fn a_second_agent_needs_nothing_of_the_manager_but_the_trait() {
    let tmp = tempfile::tempdir().unwrap();
    let notebook: Arc<dyn Agent> = Arc::new(NotebookAgent::default());
    let mgr = manager_of(&tmp, vec![notebook], FINISHED_AT).await;
    let spawned = mgr
        .spawn(SpawnOptions {
            project: "demo".into(),
            prompt: Some("write the notes".into()),
            ..SpawnOptions::default()
        })
        .await
        .unwrap()
        .session;
    assert_eq!(spawned.agent, "notebook");
    assert_eq!(spawned.agent_session_id.as_deref(), Some("nb-agent-1"));

    let s = mgr
        .status(&Target::parse("demo/agent-1"))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(s.record.agent, "notebook");
    assert_eq!(s.activity, Activity::Ready);
    assert_eq!(s.process, ProcessState::Running);
    assert_eq!(s.summary.as_deref(), Some("write the notes"));
    assert_eq!(s.cost_usd, Some(1.0));

    let report = mgr
        .kill(
            &Target::parse("demo/agent-1"),
            KillOptions {
                purge: true,
                force: false,
            },
        )
        .await
        .unwrap();
    assert!(report.complete(), "{report:?}");
    assert!(report.sessions[0].purged);
    assert!(mgr.store().list().unwrap().is_empty());
    let state = mgr.store().plugin_state("notebook");
    assert_eq!(state.get_blocking::<u32>("turns:nb-agent-1").unwrap(), None);
    assert_eq!(
        state.get_blocking::<bool>("released:demo").unwrap(),
        Some(true)
    );
    // Its program was stopped by pid: the handle's process no longer runs.
    let handle = spawned.runtime_handle.unwrap();
    let alive = crate::runtime::Runtime::alive(&crate::runtime::ProcessRuntime::new(), &[&handle]);
    assert_eq!(alive, vec![false]);
}

/// An agent whose observation of project `demo` writes to the store, and of any other project
/// reports at once that it was observed.
struct GateAgent {
    quick_observed: std::sync::mpsc::Sender<()>,
}

test_agent!(inert GateAgent {
    fn name(&self) -> &'static str {
        "gate"
    }
    async fn observe(
        &self,
        cx: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
    ) -> Vec<Observation> {
        if cx.project.name == "demo" {
            // Waits in SQLite's busy handler while another process holds the write lock.
            cx.state.set("seen", true).await.unwrap();
        } else {
            let _ = self.quick_observed.send(());
        }
        vec![Observation::bare(Activity::Ready, None); sessions.len()]
    }
});

/// One project whose plugin waits on a busy database must not hold up the observation of
/// another: on this single-threaded runtime (like the CLI's), a store call made on the runtime's
/// thread would stall every project until the database is free.
#[tokio::test(flavor = "current_thread")]
async fn a_busy_store_for_one_project_does_not_stall_another() {
    let tmp = tempfile::tempdir().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let gate: Arc<dyn Agent> = Arc::new(GateAgent { quick_observed: tx });
    let mgr = manager_of(&tmp, vec![gate], FINISHED_AT).await;
    live_session(&mgr, "demo", "gate");
    live_session(&mgr, "other", "gate");

    // Another process takes the write lock, and releases it once `other` was observed (or after
    // a deadline, which is the failure).
    let db = rusqlite::Connection::open(mgr.home().store_path()).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let holder = std::thread::spawn(move || {
        let in_time = rx.recv_timeout(Duration::from_secs(10)).is_ok();
        db.execute_batch("COMMIT").unwrap();
        in_time
    });
    let statuses = mgr.status(&Target::All).await.unwrap();
    assert!(
        holder.join().unwrap(),
        "project other was observed only after project demo's database wait ended"
    );
    assert_eq!(statuses.len(), 2);
    assert!(statuses.iter().all(|s| s.activity == Activity::Ready));
}

#[tokio::test]
async fn a_kill_of_several_goes_on_past_a_failure_says_what_was_not_done_and_releases() {
    let tmp = tempfile::tempdir().unwrap();
    let notebook: Arc<dyn Agent> = Arc::new(NotebookAgent {
        undeletable: Some("agent-1"),
    });
    let mgr = manager_of(&tmp, vec![notebook], FINISHED_AT).await;
    for _ in 0..2 {
        mgr.spawn(SpawnOptions {
            project: "demo".into(),
            prompt: Some("notes".into()),
            ..SpawnOptions::default()
        })
        .await
        .unwrap();
    }
    let report = mgr
        .kill(
            &Target::parse("demo"),
            KillOptions {
                purge: true,
                force: false,
            },
        )
        .await
        .unwrap();
    assert!(!report.complete());
    let [first, second] = &report.sessions[..] else {
        panic!("{report:?}")
    };
    // Its conversation was not deleted: it is not called purged, and it is kept (as killed), so
    // that a later purge can try again.
    assert_eq!(first.id, "demo/agent-1");
    assert!(!first.purged);
    assert_eq!(first.problems.len(), 1, "{first:?}");
    assert!(
        first.problems[0].contains("was not deleted (cannot delete nb-agent-1)")
            && first.problems[0].contains("`ao kill --purge demo/agent-1` can try again"),
        "{}",
        first.problems[0]
    );
    // The next one was still purged, and nothing of the project runs, so it was released.
    assert_eq!(second.id, "demo/agent-2");
    assert!(second.purged && second.problems.is_empty(), "{second:?}");
    let left = mgr.store().list().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].lifecycle, Lifecycle::Killed);
    let state = mgr.store().plugin_state("notebook");
    assert_eq!(
        state.get_blocking::<bool>("released:demo").unwrap(),
        Some(true)
    );
}
