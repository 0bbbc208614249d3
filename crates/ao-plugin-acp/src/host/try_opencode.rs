//! A run of the host against the real `opencode acp` on the mock model, by hand:
//!
//! The mock's scenario: a script matching `[shell]` whose turns are a `bash` call (`ls`), a
//! text, a text, a `bash` call (`touch rejected.txt`), a text with `delay_ms: 20000` (the turn
//! that is cancelled), then texts.
//!
//! ```sh
//! ao-mock-model --scenario scenario.json &   # prints its base URL
//! AO_ACP_TRY_MOCK_URL=http://127.0.0.1:PORT/v1 AO_OPENCODE_BIN=.../opencode \
//!   cargo test -p ao-plugin-acp --lib try_opencode -- --ignored --nocapture
//! ```
//!
//! It prints what the host recorded at each step (end-to-end tests with assertions are in
//! tests/acp.rs).

// Test code: a failed unwrap is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ao_agent::agent::PermitDecision;
use serde_json::json;

use super::control_server::ask;
use crate::control::{Request, Response};
use crate::record::{HostFiles, HostLaunch, HostPhase, HostRecord, HostStart, PermissionPolicy};

fn launch(root: &Path, mock_url: &str, opencode: &str, start: HostStart) -> HostLaunch {
    let config = json!({
        "provider": {"mock": {
            "npm": "@ai-sdk/openai-compatible", "name": "ao mock model",
            "options": {"baseURL": mock_url, "apiKey": "mock-key"},
            "models": {"mock-1": {"name": "Mock 1", "tool_call": true,
                                  "cost": {"input": 3, "output": 15},
                                  "limit": {"context": 128000, "output": 4096}}}}},
        "permission": {"bash": "ask"}
    });
    let mut env = BTreeMap::new();
    env.insert("OPENCODE_CONFIG_CONTENT".into(), config.to_string());
    for (key, dir) in [
        ("XDG_DATA_HOME", "xdg/data"),
        ("XDG_STATE_HOME", "xdg/state"),
        ("XDG_CACHE_HOME", "xdg/cache"),
        ("XDG_CONFIG_HOME", "xdg/config"),
        ("HOME", "home"),
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        env.insert(key.into(), root.join(dir).display().to_string());
    }
    std::fs::create_dir_all(root.join("ws")).unwrap();
    HostLaunch {
        command: vec![opencode.into(), "acp".into()],
        env,
        cwd: root.join("ws"),
        model: Some("mock/mock-1".into()),
        permission: PermissionPolicy::default(),
        price: None,
        start,
    }
}

fn state(files: &HostFiles) -> HostRecord {
    serde_json::from_slice(&std::fs::read(files.state()).unwrap_or_default()).unwrap_or_default()
}

async fn until(files: &HostFiles, what: &str, done: impl Fn(&HostRecord) -> bool) -> HostRecord {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let record = state(files);
        if done(&record) {
            println!("--- {what}:\n{}", serde_json::to_string(&record).unwrap());
            return record;
        }
        assert!(Instant::now() < deadline, "never {what}: {record:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn cancelled(r: &HostRecord) -> bool {
    matches!(
        r.phase,
        HostPhase::Ended {
            stop: crate::record::StopReason::Cancelled,
            ..
        }
    )
}

fn ended(r: &HostRecord) -> bool {
    matches!(r.phase, HostPhase::Ended { .. } | HostPhase::Failed { .. })
}

async fn send(files: &HostFiles, request: Request) -> Response {
    let response = ask(&files.socket(), &request).await.unwrap();
    println!("--- {request:?} -> {response:?}");
    response
}

async fn drive(files: &HostFiles) -> String {
    until(files, "open", |r| r.phase == HostPhase::Open).await;
    send(
        files,
        Request::Prompt {
            text: "[shell] please list the files".into(),
        },
    )
    .await;
    let r = until(files, "waiting for a permission", |r| !r.pending.is_empty()).await;
    let id = r.pending[0].id.clone();
    let gone = send(
        files,
        Request::Permit {
            id: "nope".into(),
            decision: PermitDecision::Once,
        },
    );
    assert!(matches!(gone.await, Response::Refused { .. }));
    send(
        files,
        Request::Permit {
            id: id.clone(),
            decision: PermitDecision::Once,
        },
    )
    .await;
    let again = send(
        files,
        Request::Permit {
            id,
            decision: PermitDecision::Once,
        },
    )
    .await;
    assert!(matches!(again, Response::Refused { .. }));
    until(files, "turn 1 ended", ended).await;

    send(
        files,
        Request::Prompt {
            text: "again".into(),
        },
    )
    .await;
    // Queued behind the running turn: the third turn is the rejected tool call.
    send(
        files,
        Request::Prompt {
            text: "touch a file".into(),
        },
    )
    .await;
    let r = until(files, "waiting again", |r| !r.pending.is_empty()).await;
    send(
        files,
        Request::Permit {
            id: r.pending[0].id.clone(),
            decision: PermitDecision::Reject,
        },
    )
    .await;
    until(files, "turn 3 ended", |r| ended(r) && r.pending.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = until(files, "settled", ended).await;

    send(files, Request::Shutdown).await;
    r.acp_session_id.unwrap()
}

#[tokio::test]
#[ignore = "needs opencode and a mock model: see the module's doc"]
async fn try_opencode() {
    let mock_url = std::env::var("AO_ACP_TRY_MOCK_URL").expect("AO_ACP_TRY_MOCK_URL");
    let opencode = std::env::var("AO_OPENCODE_BIN").expect("AO_OPENCODE_BIN");
    let root = tempfile::Builder::new()
        .prefix("ao-h3-try-")
        .tempdir()
        .unwrap();
    let session_dir = root.path().join("session");
    let files = HostFiles::of(&session_dir);
    std::fs::create_dir_all(files.dir()).unwrap();
    let write_launch = |start| {
        let launch = launch(root.path(), &mock_url, &opencode, start);
        std::fs::write(files.launch(), serde_json::to_vec(&launch).unwrap()).unwrap();
    };

    write_launch(HostStart::New);
    let (ran, acp_session) = tokio::join!(super::run(&session_dir), drive(&files));
    println!("--- host: {ran:?}");
    let r = state(&files);
    println!("--- final:\n{}", serde_json::to_string_pretty(&r).unwrap());
    let agent = r.agent_process.unwrap();
    assert!(
        ao_agent::runtime::process::ProcessIdentity::of(agent.pid).is_none(),
        "the agent outlived its host"
    );

    // Restore: session/load, then one more turn.
    write_launch(HostStart::Load(acp_session));
    let restored = async {
        until(&files, "restored", |r| r.phase == HostPhase::Open).await;
        // The script's slow reply: cancelled while it runs.
        let slow = "slow, after restore".to_string();
        send(&files, Request::Prompt { text: slow }).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        send(&files, Request::Cancel).await;
        until(&files, "cancelled", ended).await;
        let text = "after the cancel".to_string();
        send(&files, Request::Prompt { text }).await;
        until(&files, "restored turn ended", |r| ended(r) && !cancelled(r)).await;
        send(&files, Request::Shutdown).await;
    };
    let (ran, ()) = tokio::join!(super::run(&session_dir), restored);
    println!("--- host after restore: {ran:?}");
    println!(
        "--- conversation:\n{}",
        std::fs::read_to_string(files.conversation()).unwrap()
    );
    println!(
        "--- agent.log (tail):\n{}",
        std::fs::read_to_string(files.dir().join("agent.log"))
            .unwrap_or_default()
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test]
#[ignore = "needs opencode and a mock model: see the module's doc"]
async fn try_opencode_with_a_model_it_lacks() {
    let mock_url = std::env::var("AO_ACP_TRY_MOCK_URL").expect("AO_ACP_TRY_MOCK_URL");
    let opencode = std::env::var("AO_OPENCODE_BIN").expect("AO_OPENCODE_BIN");
    let root = tempfile::Builder::new()
        .prefix("ao-h3-try-")
        .tempdir()
        .unwrap();
    let session_dir = root.path().join("session");
    let files = HostFiles::of(&session_dir);
    std::fs::create_dir_all(files.dir()).unwrap();
    let mut launch = launch(root.path(), &mock_url, &opencode, HostStart::New);
    launch.model = Some("mock/no-such-model".into());
    std::fs::write(files.launch(), serde_json::to_vec(&launch).unwrap()).unwrap();
    let ran = super::run(&session_dir).await;
    println!("--- host: {ran:?}");
    println!("--- {:?}", state(&files).phase);

    let identity = crate::agent_process::probe(
        &launch.command,
        &launch.env,
        &launch.cwd,
        Duration::from_secs(30),
    )
    .await;
    println!("--- probe: {identity:?}");
}

/// Runs a host on `AO_ACP_TRY_DIR` (a session directory with `acp/launch.json`), for trying
/// signals on it from outside.
#[tokio::test]
#[ignore = "runs a host on AO_ACP_TRY_DIR until it ends"]
async fn host_in_dir() {
    let dir = std::env::var("AO_ACP_TRY_DIR").expect("AO_ACP_TRY_DIR");
    println!("--- host: {:?}", super::run(Path::new(&dir)).await);
}
