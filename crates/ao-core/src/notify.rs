//! Firing notifiers: a command (argv, or a line for `sh -c`), a webhook, a desktop notification.
//!
//! The event is JSON: `{"event", "previous", "at", "session": <the status JSON>}`. A command gets
//! it on standard input and `AO_EVENT`, `AO_SESSION` and `AO_ACTIVITY` in its environment, never
//! on its command line, so that no prompt, summary or title can reach a shell. Each notifier runs
//! with its own timeout, all of them at once, so a slow or failing one never delays the others:
//! a command that outlives its timeout is killed with its whole process group; a webhook is tried
//! again with backoff a bounded number of times.
//!
//! The timeout bounds the whole run, the writing of the event included: a program that neither
//! reads its input nor exits holds no thread past it. A webhook follows a redirect only to the
//! same origin (scheme, host and port), so that a URL cannot pass the event on elsewhere.

use std::io::Write;
use std::os::fd::AsFd;
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
            tokens: Some(Tokens::default()),
            cost_usd: Some(0.0),
            budget_usd: None,
            pending: vec![PendingRequest {
                kind: PendingKind::Permission,
                id: "per_example".into(),
                title: "bash: echo hello".into(),
                from_session: None,
                tool: Some("bash".into()),
                options: Vec::new(),
                questions: Vec::new(),
            }],
            error: None,
            stale: false,
            stale_since: None,
            host: None,
            server: None,
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
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    // The event goes in as the program takes it, between the looks at whether it has finished:
    // a blocking write of more than the pipe holds would wait, before any timeout, for a program
    // that may never read.
    let mut input = child.stdin.take().filter(|pipe| {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        fcntl(pipe.as_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).is_ok()
    });
    let mut written = 0;
    loop {
        if let Some(pipe) = input.as_mut() {
            if feed(pipe, stdin, &mut written) {
                // All of it, or a program that closed its input (no failure of ours): closing
                // our end tells it the event is complete.
                input = None;
            }
        }
        match child.try_wait() {
            Ok(Some(status)) if status.success() => {
                return Ok(format!(
                    "{program} ran ({} ms)",
                    started.elapsed().as_millis()
                ))
            }
            Ok(Some(status)) => return Err(format!("{program} failed ({status})")),
            Ok(None) if started.elapsed() < timeout => {
                // Sooner while the event is still going in, so that a reader is not kept waiting.
                let pause = if input.is_some() { 1 } else { 10 };
                std::thread::sleep(Duration::from_millis(pause))
            }
            Ok(None) => {
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                // And by pid, should the program have moved to a group of its own.
                let _ = child.kill();
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

/// Writes what the non-blocking `pipe` takes now of `data[*written..]`; true when there is nothing
/// more to write (all of it is written, or the reader is gone).
fn feed(pipe: &mut std::process::ChildStdin, data: &[u8], written: &mut usize) -> bool {
    while let Some(rest) = data.get(*written..).filter(|r| !r.is_empty()) {
        match pipe.write(rest) {
            Ok(0) => return true,
            Ok(n) => *written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    true
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
            Ok(r) if r.status().is_redirection() => {
                let to = r
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
                    .unwrap_or_default();
                return Err(format!(
                    "POST {url}: {} to {to:?}, which ao does not follow (a webhook's redirect \
                     goes only to the same scheme, host and port); give the final URL",
                    r.status()
                ));
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
/// It follows a redirect only within the webhook's origin (see [`same_origin_redirects`]).
pub async fn http_client() -> reqwest::Client {
    unblock(|| {
        reqwest::Client::builder()
            .redirect(same_origin_redirects())
            .build()
            .or_else(|_| {
                reqwest::Client::builder()
                    .redirect(same_origin_redirects())
                    .tls_built_in_root_certs(false)
                    .build()
            })
    })
    .await
    // A client without roots to read has nothing left that can fail.
    .unwrap_or_default()
}

/// How many redirects a webhook follows, all within its origin.
const WEBHOOK_REDIRECTS: usize = 5;

/// Follows a redirect only to the scheme, host and port of the webhook's own URL: the event (a
/// session's status, its prompt's summary) goes where the person said, not wherever the server
/// that answers there sends it (another host, or another port of this one). Any other redirect
/// is the answer, which [`post`] reports.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt.previous().first().is_some_and(|first| {
            first.scheme() == attempt.url().scheme()
                && first.host() == attempt.url().host()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if same && attempt.previous().len() <= WEBHOOK_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    use super::*;
    use crate::runtime::process::ProcessIdentity;

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
        wait_gone(pid, "the group's sleep outlived the kill");
    }

    /// Waits (5 s at most) until process `pid` is gone; fails with `why` if it is not.
    fn wait_gone(pid: u32, why: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while ProcessIdentity::of(pid).is_some() {
            assert!(Instant::now() < deadline, "{why}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    // A notifier's run is bounded whatever the program does with its input, and a webhook's
    // event goes to no other origin.

    #[test]
    fn a_program_that_neither_reads_nor_exits_is_killed_at_the_timeout_with_a_big_event() {
        let tmp = tempfile::tempdir().unwrap();
        let pid_file = tmp.path().join("pid");
        // The sleep is the program itself (exec), so its pid is the notifier's.
        let argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            format!("echo $$ > {}; exec sleep 1000", pid_file.display()),
        ];
        let event = vec![b'x'; 1 << 20];
        let (tx, rx) = mpsc::channel();
        let started = Instant::now();
        std::thread::spawn(move || {
            let _ = tx.send(run_command(&argv, &[], &event, Duration::from_secs(2)));
        });
        let pid =
            || -> Option<u32> { std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok() };
        let result = rx.recv_timeout(Duration::from_secs(15));
        let Ok(result) = result else {
            // The code before the fix blocks in the write for good: end the sleep, then fail.
            if let Some(pid) = pid() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            panic!("the notifier's run outlived its 2 s timeout by 13 s");
        };
        let err = result.unwrap_err();
        assert!(
            err.contains("did not finish within 2000 ms and was killed"),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        let pid = pid().expect("the notifier wrote its pid before its 2 s ran out");
        wait_gone(pid, &format!("sleep {pid} outlived the timeout"));
    }

    #[test]
    fn a_program_that_reads_gets_all_of_a_big_event() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            format!("sleep 0.2; cat > {}", out.display()),
        ];
        let event: Vec<u8> = (0..(3 << 20)).map(|i| (i % 251) as u8).collect();
        run_command(&argv, &[], &event, Duration::from_secs(30)).unwrap();
        assert!(
            std::fs::read(&out).unwrap() == event,
            "the event came through changed"
        );
    }

    /// Answers one request on `listener` with `head` (status line and headers); sends what it
    /// received, if anything, on the channel.
    fn answer_once(listener: TcpListener, head: String) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                request.push_str(&line);
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = tx.send(request);
            let _ = reader.get_mut().write_all(
                format!("{head}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes(),
            );
        });
        rx
    }

    #[tokio::test]
    async fn a_webhook_does_not_follow_a_redirect_to_another_origin() {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let second = TcpListener::bind("127.0.0.1:0").unwrap();
        let elsewhere = format!(
            "http://127.0.0.1:{}/stolen",
            second.local_addr().unwrap().port()
        );
        let url = format!(
            "http://127.0.0.1:{}/hook",
            first.local_addr().unwrap().port()
        );
        let first_got = answer_once(
            first,
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {elsewhere}"),
        );
        let second_got = answer_once(second, "HTTP/1.1 200 OK".into());
        let http = http_client().await;
        let result = post(
            &http,
            &url,
            b"{\"secret\":1}".to_vec(),
            Duration::from_secs(5),
        )
        .await;
        let err = result.unwrap_err();
        assert!(
            err.contains("307") && err.contains("does not follow"),
            "{err}"
        );
        assert!(first_got.recv_timeout(Duration::from_secs(5)).is_ok());
        // The second listener's thread is still in accept: nothing connected to it.
        assert!(
            second_got.recv_timeout(Duration::from_millis(500)).is_err(),
            "the redirect was followed to another port"
        );
    }

    #[tokio::test]
    async fn a_webhook_follows_a_redirect_within_its_origin() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for head in [
                format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{port}/moved"
                ),
                "HTTP/1.1 200 OK".to_string(),
            ] {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream);
                let mut first_line = String::new();
                let _ = reader.read_line(&mut first_line);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let _ = tx.send(first_line);
                let _ = reader.get_mut().write_all(
                    format!("{head}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes(),
                );
            }
        });
        let http = http_client().await;
        let url = format!("http://127.0.0.1:{port}/hook");
        let result = post(&http, &url, b"{}".to_vec(), Duration::from_secs(5)).await;
        assert!(result.is_ok(), "{result:?}");
        let lines: Vec<String> = rx.try_iter().collect();
        assert_eq!(
            lines,
            ["POST /hook HTTP/1.1\r\n", "POST /moved HTTP/1.1\r\n"]
        );
    }
}
