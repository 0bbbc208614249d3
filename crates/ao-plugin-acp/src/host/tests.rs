//! Sessions that cannot start: each ends with phase `failed`, a name the plugin shows, and no
//! agent left behind.

// Test code: a failed unwrap is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use crate::record::{HostFiles, HostLaunch, HostPhase, HostRecord, HostStart, PermissionPolicy};

/// Timeouts short enough for a test: 300 ms each.
fn short() -> super::Timeouts {
    let each = Duration::from_millis(300);
    super::Timeouts {
        initialize: each,
        session_new: each,
        session_load: each,
    }
}

async fn start(command: &[&str], start: HostStart) -> (Result<(), String>, HostRecord) {
    let dir = tempfile::tempdir().unwrap();
    let files = HostFiles::of(dir.path());
    std::fs::create_dir_all(files.dir()).unwrap();
    let launch = HostLaunch {
        launch_id: "launch-1".into(),
        command: command.iter().map(|w| w.to_string()).collect(),
        env: BTreeMap::new(),
        cwd: dir.path().to_path_buf(),
        model: None,
        mode: None,
        mode_from_permission: false,
        auth_hint: None,
        permission: PermissionPolicy::default(),
        price: None,
        start,
    };
    std::fs::write(files.launch(), serde_json::to_vec(&launch).unwrap()).unwrap();
    let ran = super::run_with(dir.path(), short()).await;
    let record: HostRecord =
        serde_json::from_slice(&std::fs::read(files.state()).unwrap()).unwrap();
    assert!(!files.socket().exists());
    (ran, record)
}

fn failure(record: &HostRecord) -> (&str, &str) {
    match &record.phase {
        HostPhase::Failed { name, message, .. } => (name, message),
        other => panic!("not failed: {other:?}"),
    }
}

#[tokio::test]
async fn an_agent_that_never_answers_initialize_fails_the_start_and_is_ended() {
    let (ran, record) = start(&["sleep", "30"], HostStart::New).await;
    let (name, message) = failure(&record);
    assert_eq!(name, "InitializeTimeout");
    assert!(message.contains("within 300 ms"), "{message}");
    assert_eq!(ran.unwrap_err(), message);
    let agent = record.agent_process.unwrap();
    assert!(ao_agent::runtime::process::ProcessIdentity::of(agent.pid).is_none());
    assert!(record.host.is_some());
}

#[tokio::test]
async fn a_missing_agent_fails_the_start() {
    let (_, record) = start(&["ao-no-such-agent-here"], HostStart::New).await;
    let (name, message) = failure(&record);
    assert_eq!(name, "AgentMissing");
    assert!(message.contains("ao-no-such-agent-here"), "{message}");
    assert_eq!(record.agent_process, None);
}

#[tokio::test]
async fn an_agent_that_ends_at_once_fails_the_start() {
    let (_, record) = start(&["sh", "-c", "exit 3"], HostStart::New).await;
    let (name, message) = failure(&record);
    assert_eq!(name, "AgentExited", "{message}");
    assert!(message.contains("exit status 3"), "{message}");
}

/// An agent that answers `initialize` (echoing its request's id) and then nothing.
const ANSWERS_INITIALIZE_ONLY: &str = r#"read -r line
id=$(printf '%s' "$line" | sed 's/.*"id":\([^,}]*\).*/\1/')
printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":1,"agentCapabilities":{"loadSession":true}}}\n' "$id"
exec sleep 30"#;

#[tokio::test]
async fn an_agent_that_never_answers_session_new_fails_the_start_and_is_ended() {
    let (ran, record) = start(&["sh", "-c", ANSWERS_INITIALIZE_ONLY], HostStart::New).await;
    let (name, message) = failure(&record);
    assert_eq!(name, "SessionNewTimeout", "{message}");
    assert!(
        message.contains("did not answer session/new within 300 ms"),
        "{message}"
    );
    assert_eq!(ran.unwrap_err(), message);
    let agent = record.agent_process.unwrap();
    assert!(ao_agent::runtime::process::ProcessIdentity::of(agent.pid).is_none());
}

#[tokio::test]
async fn an_agent_that_never_answers_session_load_fails_the_start() {
    let (_, record) = start(
        &["sh", "-c", ANSWERS_INITIALIZE_ONLY],
        HostStart::Load("s-1".into()),
    )
    .await;
    let (name, message) = failure(&record);
    assert_eq!(name, "SessionLoadTimeout", "{message}");
    assert!(
        message.contains("did not answer session/load within 300 ms"),
        "{message}"
    );
}

#[tokio::test]
async fn a_malformed_launch_is_reported_by_place_never_by_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let files = HostFiles::of(dir.path());
    std::fs::create_dir_all(files.dir()).unwrap();
    std::fs::write(
        files.launch(),
        b"{\"command\": [\"a\"],\n \"env\": {\"KEY\": \"sk-secret-value\"}, \"cwd\": 3}",
    )
    .unwrap();
    let err = super::run_with(dir.path(), short()).await.unwrap_err();
    assert!(!err.contains("sk-secret"), "{err}");
    assert!(err.contains("launch.json"), "{err}");
    assert!(err.contains("line 2, column"), "{err}");
}

#[test]
fn exit_statuses_read_as_the_record_says_them() {
    use std::os::unix::process::ExitStatusExt as _;
    let code = std::process::ExitStatus::from_raw(1 << 8);
    assert_eq!(super::status_text(&Ok(code)), "exit status 1");
    let killed = std::process::ExitStatus::from_raw(9);
    assert_eq!(super::status_text(&Ok(killed)), "signal 9");
}
