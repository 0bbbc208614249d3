use super::*;
use crate::AGENT_NAME;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use ao_agent::agent::PermitDecision;
use ao_agent::config::AgentConfig;
use ao_agent::home::StateHome;
use ao_agent::project::Project;
use ao_agent::session::{Lifecycle, RuntimeKind, SessionAddress, SessionRecord};
use ao_agent::state::{MemoryStore, PluginState};
use serde_json::json;

use crate::record::{AgentIdentity, PermissionAnswer, ToolKind};

struct World {
    _tmp: tempfile::TempDir,
    home: StateHome,
    project: Project,
    state: PluginState,
    record: SessionRecord,
    plugin: AcpPlugin,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let home = StateHome::at(tmp.path().join("home"));
        let workspace = tmp.path().join("ws");
        std::fs::create_dir_all(&workspace).unwrap();
        let project = Project {
            name: "web".into(),
            path: workspace.clone(),
            agent_config: AgentConfig {
                model: Some("mock/m1".into()),
                permission: Some(json!({"execute": "ask", "edit": "allow"})),
                settings: [
                    ("command".to_string(), json!(["sh", "-c", "exit 0"])),
                    ("env".to_string(), json!({"TOKEN": "s3cret"})),
                ]
                .into(),
                ..Default::default()
            },
            location: Default::default(),
            container: None,
            workspace: ao_agent::session::WorkspaceKind::Worktree,
        };
        let record = SessionRecord {
            address: SessionAddress {
                project: "web".into(),
                name: "one".into(),
            },
            agent: AGENT_NAME.into(),
            runtime: RuntimeKind::Process,
            lifecycle: Lifecycle::Live,
            agent_session_id: None,
            workspace,
            branch: None,
            base: None,
            runtime_handle: None,
            model: None,
            agent_mode: None,
            created_at: 0,
        };
        home.session_dir("web", "one").unwrap();
        World {
            plugin: AcpPlugin::new(home.clone(), "/usr/bin/ao".into()),
            state: PluginState::new(Arc::new(MemoryStore::new()), AGENT_NAME),
            _tmp: tmp,
            home,
            project,
            record,
        }
    }

    fn cx(&self) -> ProjectContext<'_> {
        ProjectContext {
            project: &self.project,
            home: &self.home,
            state: &self.state,
        }
    }

    fn session(&self) -> SessionContext<'_> {
        SessionContext {
            record: &self.record,
            home: &self.home,
        }
    }

    fn files(&self) -> HostFiles {
        HostFiles::of(&self.session().dir())
    }
}

#[tokio::test]
async fn prepare_writes_a_private_launch_and_runs_the_host_with_no_secret_in_its_argv() {
    let w = World::new();
    let prepared = w.plugin.prepare(&w.cx(), w.session()).await.unwrap();
    let id = &prepared.agent_session_id;
    assert!(id.starts_with("acp-") && id.len() == 20, "{id}");
    assert!(id[4..].chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert_eq!(prepared.role, LaunchRole::Host);
    let dir = w.session().dir().to_string_lossy().into_owned();
    assert_eq!(prepared.launch.program, std::path::Path::new("/usr/bin/ao"));
    assert_eq!(
        prepared.launch.args,
        ["agent-helper", "acp", "host", "--dir", dir.as_str()]
    );
    assert_eq!(prepared.launch.cwd, w.record.workspace);
    assert!(prepared.launch.env.is_empty());

    let files = w.files();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(files.dir()), 0o700);
    assert_eq!(mode(&files.launch()), 0o600);
    let launch = files::read_launch(&files).unwrap();
    // The program as ao found it on its PATH: the host's may differ (a tmux server's).
    let program = std::path::Path::new(&launch.command[0]);
    assert!(
        program.is_absolute() && program.ends_with("sh"),
        "{program:?}"
    );
    assert_eq!(launch.command[1..], ["-c", "exit 0"]);
    assert_eq!(launch.env.get("TOKEN").map(String::as_str), Some("s3cret"));
    assert_eq!(launch.model.as_deref(), Some("mock/m1"));
    assert_eq!(launch.start, HostStart::New);
    assert_eq!(
        launch.permission.answer(Some(ToolKind::Edit)),
        PermissionAnswer::Allow
    );

    let view = w.plugin.attach_launch(&w.cx(), w.session()).await.unwrap();
    assert_eq!(
        view.args,
        ["agent-helper", "acp", "view", "--dir", dir.as_str()]
    );
}

#[tokio::test]
async fn restore_loads_the_protocols_session_only_where_the_agent_can() {
    let w = World::new();
    let files = w.files();
    std::fs::create_dir_all(files.dir()).unwrap();
    let mut record = HostRecord {
        agent: Some(AgentIdentity {
            name: "opencode".into(),
            version: "1.18.33".into(),
        }),
        acp_session_id: Some("ses_1".into()),
        load_session: false,
        ..Default::default()
    };
    std::fs::write(files.state(), serde_json::to_vec(&record).unwrap()).unwrap();
    let e = w.plugin.restore(&w.cx(), w.session()).await.unwrap_err();
    assert!(matches!(e, AgentError::Refused(_)));
    assert_eq!(
        e.to_string(),
        "opencode cannot resume a session: it does not offer session/load"
    );

    record.load_session = true;
    std::fs::write(files.state(), serde_json::to_vec(&record).unwrap()).unwrap();
    let mut w = w;
    w.record.agent_session_id = Some("acp-0123456789abcdef".into());
    let prepared = w.plugin.restore(&w.cx(), w.session()).await.unwrap();
    assert_eq!(prepared.agent_session_id, "acp-0123456789abcdef");
    assert_eq!(prepared.role, LaunchRole::Host);
    let launch = files::read_launch(&files).unwrap();
    assert_eq!(launch.start, HostStart::Load("ses_1".into()));
}

#[tokio::test]
async fn a_failed_restore_can_be_restored_again() {
    let w = World::new();
    let files = w.files();
    let first = w.plugin.prepare(&w.cx(), w.session()).await.unwrap();
    let launched = files::read_launch(&files).unwrap();
    let opened = HostRecord {
        launch_id: launched.launch_id.clone(),
        agent: Some(AgentIdentity {
            name: "fake-acp-agent".into(),
            version: "0.1.0".into(),
        }),
        acp_session_id: Some("ses_1".into()),
        load_session: true,
        ..Default::default()
    };
    std::fs::write(files.state(), serde_json::to_vec(&opened).unwrap()).unwrap();
    let mut w = w;
    w.record.agent_session_id = Some(first.agent_session_id.clone());

    // A restore whose host never wrote a record: the previous host's is still there, and is not
    // the current one's, yet it says what to load.
    w.plugin.restore(&w.cx(), w.session()).await.unwrap();
    let restored = files::read_launch(&files).unwrap();
    assert_ne!(restored.launch_id, launched.launch_id, "a new launch");
    assert_eq!(restored.start, HostStart::Load("ses_1".into()));
    assert_eq!(
        files::read_record(&files).unwrap(),
        None,
        "the previous host's"
    );
    let again = w.plugin.restore(&w.cx(), w.session()).await.unwrap();
    assert_eq!(again.agent_session_id, first.agent_session_id);
    let retried = files::read_launch(&files).unwrap();
    assert_eq!(retried.start, HostStart::Load("ses_1".into()));

    // A restored host that failed before it loaded the conversation recorded no session id: its
    // launch still names the one to load.
    let failed = HostRecord {
        launch_id: retried.launch_id.clone(),
        phase: crate::record::HostPhase::Failed {
            at: 1,
            name: "InitializeTimeout".into(),
            message: "no answer".into(),
        },
        ..Default::default()
    };
    std::fs::write(files.state(), serde_json::to_vec(&failed).unwrap()).unwrap();
    assert_eq!(files::read_record(&files).unwrap(), Some(failed));
    w.plugin.restore(&w.cx(), w.session()).await.unwrap();
    let last = files::read_launch(&files).unwrap();
    assert_eq!(last.start, HostStart::Load("ses_1".into()));
    assert_ne!(last.launch_id, retried.launch_id);
}

#[tokio::test]
async fn answers_and_permits_without_a_host_are_unreachable() {
    let w = World::new();
    let answer = Reply::Dismiss { id: "q".into() };
    let e = w
        .plugin
        .reply(&w.cx(), w.session(), &answer)
        .await
        .unwrap_err();
    assert!(matches!(e, AgentError::Unreachable(_)), "{e:?}");
    let permit = Reply::Permit {
        id: "call_1".into(),
        decision: PermitDecision::Once,
    };
    let e = w
        .plugin
        .reply(&w.cx(), w.session(), &permit)
        .await
        .unwrap_err();
    assert!(matches!(e, AgentError::Unreachable(_)), "{e:?}");
    // Nothing to cancel, nothing to delete.
    w.plugin.kill(&w.cx(), w.session(), true).await.unwrap();
    assert!(w
        .plugin
        .plan(&w.cx(), w.session())
        .await
        .unwrap()
        .is_empty());
    assert!(w
        .plugin
        .transcript(&w.cx(), w.session())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn preflight_wants_the_program_here_and_a_local_project() {
    let mut w = World::new();
    w.plugin.preflight(&w.cx()).await.unwrap();
    w.project
        .agent_config
        .settings
        .insert("command".into(), json!(["/surely/not/an/acp-agent"]));
    let e = w.plugin.preflight(&w.cx()).await.unwrap_err();
    assert!(matches!(e, AgentError::Launch(_)), "{e:?}");
    assert!(e.to_string().contains("/surely/not/an/acp-agent"), "{e}");
}

#[tokio::test]
async fn the_change_feed_fails_for_a_project_without_sessions() {
    let w = World::new();
    let mut other = w.project.clone();
    other.name = "none".into();
    let cx = ProjectContext {
        project: &other,
        ..w.cx()
    };
    assert!(w.plugin.project_changes(&cx).await.is_err());
    assert!(w.plugin.project_changes(&w.cx()).await.is_ok());
}
