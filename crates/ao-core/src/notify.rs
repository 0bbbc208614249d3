//! Firing notifiers: a command (argv, or a line for `sh -c`), a webhook, a desktop notification.
//!
//! The event is JSON: `{"event", "previous", "at", "session": <the status JSON>}`. A command gets
//! it on standard input and `AO_EVENT`, `AO_SESSION` and `AO_ACTIVITY` in its environment, never
//! on its command line, so that no prompt, summary or title can reach a shell. Each notifier runs
//! with its own timeout, all of them at once, so a slow or failing one never delays the others:
//! a command that outlives its timeout is killed with its whole process group; a webhook is tried
//! again with backoff a bounded number of times.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::Serialize;

use crate::blocking::unblock;
use crate::clock::rfc3339;
use crate::config::{Notifier, NotifierAction};
use crate::session::SessionStatus;

/// How many times a webhook is tried in all.
const WEBHOOK_ATTEMPTS: u32 = 3;
/// The wait before the second attempt; it doubles after.
const WEBHOOK_FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// What a notifier receives.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `waiting_input`, `blocked`, `ready`, `idle`, `exited` or `budget`.
    pub event: String,
    /// The event before it, if the session had one.
    pub previous: Option<String>,
    /// When the state began (RFC 3339).
    pub at: String,
    /// The session's status (the object of `ao status --json`) as the event fires.
    pub session: SessionStatus,
    /// Set by `ao notify test`: a sample, not a real transition.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

impl Event {
    /// The event of a transition that began at `at` (epoch ms).
    pub fn new(event: &str, previous: Option<String>, at: i64, session: SessionStatus) -> Event {
        Event {
            event: event.to_string(),
            previous,
            at: rfc3339(at),
            session,
            test: false,
        }
    }
}

impl Event {
    /// The sample event of `ao notify test`: a made-up session `<project>/example` waiting for a
    /// permission, marked `"test": true`.
    pub fn sample(project: &str, now: i64) -> Event {
        use crate::session::{
            Activity, PendingKind, PendingRequest, ProcessState, RuntimeKind, Tokens,
        };
        let id = format!("{project}/example");
        let session = SessionStatus {
            id: id.clone(),
            project: project.to_string(),
            name: "example".into(),
            agent: "example".into(),
            runtime: RuntimeKind::Process,
            process: ProcessState::Running,
            activity: Activity::WaitingInput,
            activity_since: Some(rfc3339(now)),
            agent_session_id: None,
            workspace: std::path::PathBuf::from("/"),
            branch: None,
            created_at: rfc3339(now),
            last_activity_at: Some(rfc3339(now)),
            model: None,
            summary: Some("A sample event from `ao notify test`".into()),
            tokens: Tokens::default(),
            cost_usd: 0.0,
            budget_usd: None,
            pending: vec![PendingRequest {
                kind: PendingKind::Permission,
                id: "per_example".into(),
                title: "bash: echo hello".into(),
                from_session: None,
                tool: Some("bash".into()),
                questions: Vec::new(),
            }],
            error: None,
            stale: false,
            stale_since: None,
            host: None,
            todos: None,
            files_changed: None,
            attach_command: Some(format!("ao attach {id}")),
            restore_command: Some(format!("ao restore {id}")),
        };
        Event {
            test: true,
            ..Event::new("waiting_input", Some("active".into()), now, session)
        }
    }
}

/// What became of one notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Which notifier: what it does, and where it is written.
    pub notifier: String,
    /// What it did (`Ok`), or why it failed.
    pub result: Result<String, String>,
    /// Whether it was refused, not run, because its config file is not trusted (the reason is
    /// in `result`).
    pub untrusted: bool,
}

/// Fires every notifier of `notifiers` that fires on the event (all of them with `all`), at once;
/// returns what each did, in order.
pub async fn fire(
    notifiers: &[Notifier],
    event: &Event,
    all: bool,
    http: &reqwest::Client,
) -> Vec<Outcome> {
    let json = match serde_json::to_vec(event) {
        Ok(j) => j,
        Err(e) => {
            return vec![Outcome {
                notifier: "every notifier".into(),
                result: Err(format!("the event could not be written as JSON: {e}")),
                untrusted: false,
            }]
        }
    };
    let chosen: Vec<&Notifier> = notifiers
        .iter()
        .filter(|n| all || n.fires_on(&event.event))
        .collect();
    join_all(chosen.into_iter().map(|n| {
        let json = json.clone();
        async move {
            let notifier = format!("{} (line {})", n.action, n.at.0);
            match n.action.permit() {
                Ok(action) => Outcome {
                    notifier,
                    result: fire_one(action, n.timeout_ms, event, json, http).await,
                    untrusted: false,
                },
                Err(why) => Outcome {
                    notifier,
                    result: Err(why.to_string()),
                    untrusted: true,
                },
            }
        }
    }))
    .await
}

async fn fire_one(
    action: &NotifierAction,
    timeout_ms: u64,
    event: &Event,
    json: Vec<u8>,
    http: &reqwest::Client,
) -> Result<String, String> {
    let timeout = Duration::from_millis(timeout_ms);
    let env = vec![
        ("AO_EVENT".to_string(), event.event.clone()),
        ("AO_SESSION".to_string(), event.session.id.clone()),
        (
            "AO_ACTIVITY".to_string(),
            event.session.activity.as_str().to_string(),
        ),
    ];
    match action {
        NotifierAction::Command(argv) => {
            let argv = argv.clone();
            unblock(move || run_command(&argv, &env, &json, timeout)).await
        }
        NotifierAction::Shell(line) => {
            let argv = vec!["sh".to_string(), "-c".to_string(), line.clone()];
            unblock(move || run_command(&argv, &env, &json, timeout)).await
        }
        NotifierAction::Desktop => {
            let Ok(program) = which::which("notify-send") else {
                return Err(
                    "notify-send is not installed (e.g. `apt-get install libnotify-bin`)".into(),
                );
            };
            let title = format!("ao: {} {}", event.session.id, event.event);
            let body = event
                .session
                .pending
                .first()
                .map(|p| p.title.clone())
                .or_else(|| event.session.error.as_ref().map(|e| e.message.clone()))
                .unwrap_or_else(|| format!("{} since {}", event.event, event.at));
            let argv = vec![program.to_string_lossy().into_owned(), title, body];
            unblock(move || run_command(&argv, &env, &[], timeout)).await
        }
        NotifierAction::Webhook(url) => post(http, url, json, timeout).await,
    }
}

/// Runs a notifier's program in a process group of its own, the event on its standard input;
/// kills the whole group at `timeout`. Blocks.
fn run_command(
    argv: &[String],
    env: &[(String, String)],
    stdin: &[u8],
    timeout: Duration,
) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("an empty command")?;
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .process_group(0);
    // A monitor killed outright cannot kill its notifier at the timeout: the kernel does, for
    // the program it started (this thread waits on it, so the signal comes when the monitor
    // goes).
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let started = Instant::now();
    if let Some(mut input) = child.stdin.take() {
        // A program that does not read its input is no failure of ours.
        let _ = input.write_all(stdin);
    }
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => {
                return Ok(format!(
                    "{program} ran ({} ms)",
                    started.elapsed().as_millis()
                ))
            }
            Ok(Some(status)) => return Err(format!("{program} failed ({status})")),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(None) => {
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return Err(format!(
                    "{program} did not finish within {} ms and was killed",
                    timeout.as_millis()
                ));
            }
            Err(e) => return Err(format!("cannot wait for {program}: {e}")),
        }
    }
}

/// POSTs the event, trying again with backoff on a failure that may pass (no answer, a 5xx).
async fn post(
    http: &reqwest::Client,
    url: &str,
    json: Vec<u8>,
    timeout: Duration,
) -> Result<String, String> {
    let mut backoff = WEBHOOK_FIRST_BACKOFF;
    let mut last = String::new();
    for attempt in 1..=WEBHOOK_ATTEMPTS {
        let sent = http
            .post(url)
            .header("content-type", "application/json")
            .body(json.clone())
            .timeout(timeout)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                return Ok(format!("POST {url}: {}", r.status()));
            }
            Ok(r) if !r.status().is_server_error() => {
                return Err(format!("POST {url}: {}", r.status()));
            }
            Ok(r) => last = format!("POST {url}: {} (attempt {attempt})", r.status()),
            Err(e) => {
                last = format!(
                    "POST {url}: {} (attempt {attempt})",
                    crate::error::chain(&e)
                )
            }
        }
        if attempt < WEBHOOK_ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    Err(last)
}

/// The HTTP client of webhooks: the person's proxy settings apply (the URL is theirs), and an
/// https one's certificate is checked against the system's roots. Building it reads those roots,
/// so it is made on the blocking pool. Should they be unusable, it is made without them: http
/// webhooks still go, and an https one fails at each event saying its certificate is not trusted.
pub async fn http_client() -> reqwest::Client {
    unblock(|| {
        reqwest::Client::builder().build().or_else(|_| {
            reqwest::Client::builder()
                .tls_built_in_root_certs(false)
                .build()
        })
    })
    .await
    // A client without roots to read has nothing left that can fail.
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_gets_the_event_on_stdin_and_a_hanging_one_is_killed_with_its_group() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            format!("cat > {0}; echo \"$AO_EVENT\" >> {0}", out.display()),
        ];
        let env = vec![("AO_EVENT".to_string(), "ready".to_string())];
        run_command(&argv, &env, b"{\"x\":1}\n", Duration::from_secs(10)).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"x\":1}\nready\n");

        // A child of the command that hangs too goes with the group.
        let pid_file = tmp.path().join("pid");
        let hang = vec![
            "sh".to_string(),
            "-c".to_string(),
            format!("sleep 30 & echo $! > {}; wait", pid_file.display()),
        ];
        let t = Instant::now();
        let err = run_command(&hang, &[], b"", Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("was killed"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(5));
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while crate::runtime::process::ProcessIdentity::of(pid).is_some() {
            assert!(
                Instant::now() < deadline,
                "the group's sleep outlived the kill"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
