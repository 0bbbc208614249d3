//! A launch's role in a tmux session, and every command path of an agent that has no server and
//! whose `kill` only cancels the running turn (an ACP agent's: its host is the session's
//! program). On a private tmux server, with made-up agents: ao-core names no real one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use super::tests::{live_session, manager_on, test_agent, FINISHED_AT};
use super::{AoBinary, KillOptions, SessionManager, SpawnOptions};
use crate::agent::{
    Agent, AgentError, Change, LaunchRole, Observation, PreparedSession, ProjectContext, Reply,
    SessionContext,
};
use crate::clock::EpochMillis;
use crate::home::StateHome;
use crate::runtime::tmux::tui::tests::Server;
use crate::runtime::{LaunchSpec, RuntimeHandle, TmuxRuntime};
use crate::session::{Activity, Lifecycle, ProcessState};
use crate::target::Target;
use crate::transcript::TranscriptEntry;

/// The file a host launch touches in its session's directory when it runs.
const RAN: &str = "host-ran";

/// An agent without a server whose launch has the role it is given: its program touches [`RAN`]
/// and waits; its `kill` only notes the cancel (and the purge) it was asked for. It has no TUI to
/// give (`attach_launch` fails).
struct RoleAgent {
    name: &'static str,
    role: LaunchRole,
    /// Each `kill`'s session and purge flag, in order.
    kills: Mutex<Vec<(String, bool)>>,
}

impl RoleAgent {
    fn new(name: &'static str, role: LaunchRole) -> Arc<RoleAgent> {
        Arc::new(RoleAgent {
            name,
            role,
            kills: Mutex::new(Vec::new()),
        })
    }

    fn launch(&self, session: SessionContext<'_>) -> PreparedSession {
        PreparedSession {
            agent_session_id: format!("{}-{}", self.name, session.record.address.name),
            launch: LaunchSpec {
                program: "sh".into(),
                args: vec!["-c".into(), format!("touch {RAN}; exec sleep 600")],
                cwd: session.dir(),
                ..LaunchSpec::default()
            },
            role: self.role,
        }
    }
}

test_agent!(restoring RoleAgent {
    fn name(&self) -> &'static str {
        self.name
    }
    async fn prepare(
        &self,
        _: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<PreparedSession, AgentError> {
        Ok(self.launch(session))
    }
    async fn restore(
        &self,
        _: &ProjectContext<'_>,
        session: SessionContext<'_>,
    ) -> Result<PreparedSession, AgentError> {
        Ok(self.launch(session))
    }
    async fn send(
        &self,
        _: &ProjectContext<'_>,
        _: SessionContext<'_>,
        _: &str,
    ) -> Result<(), AgentError> {
        Ok(())
    }
    async fn observe(
        &self,
        _: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
    ) -> Vec<Observation> {
        let mut obs = Observation::bare(Activity::Active, None);
        obs.last_activity_at = Some(FINISHED_AT);
        vec![obs; sessions.len()]
    }
    async fn project_changes(
        &self,
        _: &ProjectContext<'_>,
    ) -> Result<BoxStream<'static, Change>, AgentError> {
        Err(AgentError::Unreachable("no feed in these tests".into()))
    }
    async fn kill(
        &self,
        _: &ProjectContext<'_>,
        session: SessionContext<'_>,
        purge: bool,
    ) -> Result<(), AgentError> {
        self.kills
            .lock()
            .unwrap()
            .push((session.record.address.to_string(), purge));
        Ok(())
    }
    async fn release(&self, _: &ProjectContext<'_>, _: EpochMillis) -> Result<(), AgentError> {
        Ok(())
    }
});

/// A manager over the agents `host` (a [`LaunchRole::Host`]) and `viewer`, with projects of the
/// same names in lazy tmux sessions (the default) on `server`. Its ao binary runs a pane's view
/// as a shell that waits, and a monitor as one that leaves a mark in the state home
/// (`monitor-<project>`) and ends.
async fn manager(
    tmp: &tempfile::TempDir,
    server: &Server,
    agents: Vec<Arc<dyn Agent>>,
) -> SessionManager {
    let mut text = "projects:\n".to_string();
    for name in ["host", "viewer"] {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        text.push_str(&format!(
            "  - name: {name}\n    path: {}\n    agent: {name}\n    workspace: none\n    runtime: tmux\n",
            dir.display()
        ));
    }
    let tmux = TmuxRuntime::new(Some(server.0.clone()));
    manager_on(tmp, agents, &text, FINISHED_AT, tmux)
        .await
        .with_ao_binary(AoBinary {
            program: "sh".into(),
            global_args: vec![
                "-c".into(),
                // A monitor (`monitor <project>`, run in the state home) only leaves a mark.
                "case $0 in pane-view) exec sleep 600;; monitor) touch \"monitor-$1\";; esac"
                    .into(),
            ],
        })
}

fn lazy(server: &Server, handle: &RuntimeHandle) -> bool {
    TmuxRuntime::new(Some(server.0.clone()))
        .is_lazy_session(handle)
        .unwrap()
}

/// Waits (a few seconds at most) for the host launch of `project/name` to have run.
fn host_ran(tmp: &tempfile::TempDir, project: &str, name: &str) -> bool {
    let file = StateHome::at(tmp.path().join("home"))
        .session_path(project, name)
        .join(RAN);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if file.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

async fn spawn(mgr: &SessionManager, project: &str) -> crate::session::SessionRecord {
    mgr.spawn(SpawnOptions {
        project: project.into(),
        prompt: Some("go".into()),
        ..SpawnOptions::default()
    })
    .await
    .unwrap()
    .session
}

#[tokio::test]
async fn a_host_runs_in_its_pane_of_a_lazy_project_and_a_viewer_gets_the_view() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server(format!("ao-unit-role-{}", std::process::id()));
    let (host, viewer) = (
        RoleAgent::new("host", LaunchRole::Host),
        RoleAgent::new("viewer", LaunchRole::Viewer),
    );
    let mgr = manager(&tmp, &server, vec![host.clone(), viewer.clone()]).await;

    // The host: in the pane, not marked lazy; attach attaches the pane as it is, without asking
    // the agent for a TUI (this agent has none to give).
    let rec = spawn(&mgr, "host").await;
    let handle = rec.runtime_handle.clone().unwrap();
    assert!(!lazy(&server, &handle));
    assert!(host_ran(&tmp, "host", "agent-1"), "the host launch ran");
    let attach = mgr.attach(&Target::parse("host/agent-1")).await.unwrap();
    assert_eq!(attach.program.to_string_lossy(), "tmux");

    // The viewer, as before: ao's view in a lazy session, and attach opens the agent's TUI.
    let rec = spawn(&mgr, "viewer").await;
    assert!(lazy(&server, rec.runtime_handle.as_ref().unwrap()));
    let err = mgr
        .attach(&Target::parse("viewer/agent-1"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not in these tests"), "{err}");
}

#[tokio::test]
async fn every_command_works_on_an_agent_whose_kill_only_cancels_the_turn() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server(format!("ao-unit-cancel-{}", std::process::id()));
    let host = RoleAgent::new("host", LaunchRole::Host);
    let mgr = manager(
        &tmp,
        &server,
        vec![host.clone(), RoleAgent::new("viewer", LaunchRole::Viewer)],
    )
    .await;
    let rec = spawn(&mgr, "host").await;
    let target = Target::parse("host/agent-1");
    let session_dir = StateHome::at(tmp.path().join("home")).session_path("host", "agent-1");

    // A budget stop cancels the turn; the host goes on running, and the session is live.
    mgr.abort_turn(&rec).await.unwrap();
    assert_eq!(
        *host.kills.lock().unwrap(),
        [("host/agent-1".to_string(), false)]
    );
    assert!(host_ran(&tmp, "host", "agent-1"), "the host launch ran");
    let seen = mgr.status(&target).await.unwrap().remove(0);
    assert_eq!(seen.process, ProcessState::Running);
    assert_eq!(seen.record.lifecycle, Lifecycle::Live);
    // It reports no cost: none is shown, and none is made up.
    assert_eq!(seen.cost_usd, None);

    // The host dies: the session has exited, and restore starts a host again in its pane.
    let tmux = TmuxRuntime::new(Some(server.0.clone()));
    crate::runtime::Runtime::destroy(&tmux, rec.runtime_handle.as_ref().unwrap()).unwrap();
    let seen = mgr.status(&target).await.unwrap().remove(0);
    assert_eq!(seen.process, ProcessState::Exited);
    std::fs::remove_file(session_dir.join(RAN)).unwrap();
    let restored = mgr.restore(&target).await.unwrap();
    assert!(!lazy(&server, restored.runtime_handle.as_ref().unwrap()));
    assert!(host_ran(&tmp, "host", "agent-1"), "the restored host ran");
    assert_eq!(
        mgr.status(&target).await.unwrap()[0].process,
        ProcessState::Running
    );

    // Kill: the turn is cancelled and the host's pane ends; the session is kept, killed.
    let report = mgr.kill(&target, KillOptions::default()).await.unwrap();
    assert!(report.complete(), "{report:?}");
    let handle = restored.runtime_handle.unwrap();
    assert_eq!(crate::runtime::Runtime::alive(&tmux, &[&handle]), [false]);
    assert_eq!(mgr.store().list().unwrap()[0].lifecycle, Lifecycle::Killed);

    // Restore after a kill, then kill --purge: the agent is asked to delete, the session goes.
    let restored = mgr.restore(&target).await.unwrap();
    let report = mgr
        .kill(
            &target,
            KillOptions {
                purge: true,
                force: false,
            },
        )
        .await
        .unwrap();
    assert!(report.complete() && report.sessions[0].purged, "{report:?}");
    assert_eq!(
        crate::runtime::Runtime::alive(&tmux, &[restored.runtime_handle.as_ref().unwrap()]),
        [false]
    );
    assert!(mgr.store().list().unwrap().is_empty());
    assert_eq!(
        host.kills.lock().unwrap().last().cloned(),
        Some(("host/agent-1".to_string(), true))
    );
}

#[tokio::test]
async fn a_live_view_starts_the_monitors_its_projects_lack_once_it_asks() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server(format!("ao-unit-monitor-{}", std::process::id()));
    let host = RoleAgent::new("host", LaunchRole::Host);
    let mgr = manager(
        &tmp,
        &server,
        vec![host, RoleAgent::new("viewer", LaunchRole::Viewer)],
    )
    .await;
    live_session(&mgr, "host", "host");
    let home = tmp.path().join("home");
    mgr.ensure_monitors_of(&Target::All).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !home.join("monitor-host").exists() {
        assert!(Instant::now() < deadline, "no monitor was started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A project with nothing live needs none; a target that names nothing starts nothing.
    assert!(!home.join("monitor-viewer").exists());
    mgr.ensure_monitors_of(&Target::parse("nothing/here")).await;
}
