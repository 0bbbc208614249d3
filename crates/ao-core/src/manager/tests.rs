//! The manager's own rules, on a fake agent and an injected clock: no server, no sleeping on the
//! clock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use super::{KillOptions, SessionManager};
use crate::agent::{Agent, AgentError, Observation, PreparedSession, Reply, SpawnRequest};
use crate::clock::FixedClock;
use crate::config::{Config, ProjectConfig};
use crate::home::StateHome;
use crate::runtime::{LaunchSpec, TmuxRuntime};
use crate::session::{Activity, Lifecycle, RuntimeKind, SessionRecord};
use crate::store::NewSession;
use crate::transcript::TranscriptEntry;

const THRESHOLD: u64 = 300_000;
const FINISHED_AT: i64 = 1_800_000_000_000;

/// An agent that reports the observations it is given, one per call, the last one repeated.
struct FakeAgent {
    script: Mutex<VecDeque<Activity>>,
    observed: Mutex<usize>,
}

impl FakeAgent {
    fn new(script: &[Activity]) -> Arc<FakeAgent> {
        Arc::new(FakeAgent {
            script: Mutex::new(script.iter().copied().collect()),
            observed: Mutex::new(0),
        })
    }
}

#[async_trait]
impl Agent for FakeAgent {
    fn name(&self) -> &'static str {
        "opencode"
    }
    async fn prepare(&self, _: SpawnRequest<'_>) -> Result<PreparedSession, AgentError> {
        Err(AgentError::Launch("not in this test".into()))
    }
    async fn send(&self, _: &ProjectConfig, _: &SessionRecord, _: &str) -> Result<(), AgentError> {
        Ok(())
    }
    async fn observe(&self, _: &ProjectConfig, sessions: &[&SessionRecord]) -> Vec<Observation> {
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
    async fn attach_launch(
        &self,
        _: &ProjectConfig,
        _: &SessionRecord,
    ) -> Result<LaunchSpec, AgentError> {
        Err(AgentError::Launch("not in this test".into()))
    }
    async fn kill(&self, _: &ProjectConfig, _: &SessionRecord, _: bool) -> Result<(), AgentError> {
        Ok(())
    }
    async fn release(&self, _: &ProjectConfig) {}
    async fn reply(
        &self,
        _: &ProjectConfig,
        _: &SessionRecord,
        _: &Reply,
    ) -> Result<(), AgentError> {
        Ok(())
    }
    async fn transcript(
        &self,
        _: &ProjectConfig,
        _: &SessionRecord,
    ) -> Result<Vec<TranscriptEntry>, AgentError> {
        Ok(vec![])
    }
    async fn changes(
        &self,
        _: &ProjectConfig,
        _: &SessionRecord,
    ) -> Result<BoxStream<'static, ()>, AgentError> {
        // A stream that breaks at once: `wait` must go on by polling.
        Ok(Box::pin(futures_util::stream::empty()))
    }
    async fn restore(&self, _: SpawnRequest<'_>) -> Result<PreparedSession, AgentError> {
        Err(AgentError::Launch("not in this test".into()))
    }
}

/// A manager with one live session `demo/agent-1`, at time `now`.
fn manager(tmp: &tempfile::TempDir, agent: Arc<FakeAgent>, now: i64) -> SessionManager {
    let project = tmp.path().join("demo");
    std::fs::create_dir_all(&project).unwrap();
    let file = tmp.path().join("agent-orchestrator.yaml");
    let text = format!(
        "readyThresholdMs: {THRESHOLD}\nprojects:\n  - name: demo\n    path: {}\n    workspace: none\n",
        project.display()
    );
    let config = Config::parse(&text, &file).unwrap();
    let home = StateHome::at(tmp.path().join("home"));
    let mgr = SessionManager::new(
        config,
        home,
        vec![agent],
        TmuxRuntime::from_env(),
        Arc::new(FixedClock(now)),
    )
    .unwrap();
    let mut rec = mgr
        .store()
        .reserve(&NewSession {
            project: "demo",
            name: None,
            prefix: "agent",
            agent: "opencode",
            runtime: RuntimeKind::Process,
            workspace: &project,
            model: None,
            agent_mode: None,
            created_at: FINISHED_AT,
        })
        .unwrap();
    rec.lifecycle = Lifecycle::Live;
    rec.agent_session_id = Some("ses_fake".into());
    mgr.store().update(&rec).unwrap();
    mgr
}

async fn activity_at(now: i64) -> Activity {
    let tmp = tempfile::tempdir().unwrap();
    let mgr = manager(&tmp, FakeAgent::new(&[Activity::Ready]), now);
    mgr.status(None).await.unwrap()[0].activity
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
    let agent = FakeAgent::new(&[Activity::Active, Activity::Active, Activity::Ready]);
    let mgr = manager(&tmp, agent.clone(), FINISHED_AT);
    let status = mgr
        .wait(
            "demo/agent-1",
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
    let mgr = manager(&tmp, FakeAgent::new(&[Activity::Active]), FINISHED_AT);
    let err = mgr
        .wait(
            "demo/agent-1",
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
    let mgr = manager(&tmp, FakeAgent::new(&[Activity::Ready]), FINISHED_AT);
    // What `ao spawn` does first: reserve the name, holding the spawn lock.
    let (_, lock) = mgr
        .store()
        .reserve_with(
            &NewSession {
                project: "demo",
                name: None,
                prefix: "agent",
                agent: "opencode",
                runtime: RuntimeKind::Process,
                workspace: &tmp.path().join("demo"),
                model: None,
                agent_mode: None,
                created_at: FINISHED_AT,
            },
            |name| super::spawning::SpawnLock::take(mgr.home(), "demo", name),
        )
        .unwrap();

    let s = mgr.status(Some("demo/agent-2")).await.unwrap().remove(0);
    assert_eq!((s.activity, s.error), (Activity::Active, None));
    let err = mgr
        .kill("demo/agent-2", KillOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_usage(), "{err}");
    assert!(
        err.to_string().contains("still setting up demo/agent-2"),
        "{err}"
    );

    // The spawning process dies: the kernel releases its lock.
    drop(lock);
    let s = mgr.status(Some("demo/agent-2")).await.unwrap().remove(0);
    assert_eq!(s.activity, Activity::Exited);
    let e = s.error.unwrap();
    assert_eq!(e.name, "SpawnIncomplete");
    assert_eq!(
        e.message,
        "ao spawn stopped before it set this session up; `ao kill demo/agent-2` removes it"
    );
    let killed = mgr
        .kill("demo/agent-2", KillOptions::default())
        .await
        .unwrap();
    assert!(killed[0].purged);
    let left: Vec<String> = mgr
        .store()
        .list()
        .unwrap()
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    assert_eq!(left, vec!["demo/agent-1"]);
}
