//! Attacks on a project's OpenCode server and its credentials (issue 22): a password that outlives
//! its server, a follower that sends it to whatever listens on the old port.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ao_core::fault::{CRASH_AT_ENV, SERVER_STARTING};
use ao_core::runtime::process::ProcessIdentity;
use ao_test_support::remote::{RemoteServerGuard, Sshd};
use ao_test_support::{proc_stat, script, wait_until, Scenario, Turn, World};
use serde_json::Value;

/// The status a server at `url` answers to `password` (OpenCode's user name).
fn status_with(url: &str, password: &str) -> u16 {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
        .get(format!("{url}/global/health"))
        .basic_auth("opencode", Some(password))
        .send()
        .expect("the server answers")
        .status()
        .as_u16()
}

/// A plain TCP listener on a port that a dead server held: it keeps what every connection sends
/// first (a request's head), and answers nothing.
struct Squatter {
    heard: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Squatter {
    fn bind(port: u16) -> Squatter {
        // The dead server's socket may take a moment to go.
        let listener = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            TcpListener::bind(("127.0.0.1", port))
                .map_err(|e| format!("cannot bind the old port {port}: {e}"))
        });
        listener.set_nonblocking(true).expect("nonblocking");
        let heard = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (heard, stop) = (heard.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            let _ = s.set_nonblocking(false);
                            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                            let mut buf = vec![0u8; 16 * 1024];
                            let n = s.read(&mut buf).unwrap_or(0);
                            heard
                                .lock()
                                .expect("lock")
                                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Squatter {
            heard,
            stop,
            thread: Some(thread),
        }
    }

    /// Asserts that no connection carried credentials; how many connections came.
    fn assert_no_credentials(&self, password: &str) -> usize {
        let heard = self.heard.lock().expect("lock").clone();
        for request in heard.iter() {
            assert!(
                !request.to_ascii_lowercase().contains("authorization:")
                    && !request.contains(password),
                "credentials were sent to the listener on the old port:\n{request}"
            );
        }
        heard.len()
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

#[test]
fn a_restarted_server_has_a_new_password_and_no_follower_sends_the_old_one_to_its_port() {
    let scenario = Scenario::new()
        .script(
            script("first")
                .turn(Turn::text("First answer.").usage(110, 7))
                .turn(Turn::text("Second answer.").usage(120, 8)),
        )
        .script(script("other").turn(Turn::text("Other answer.").usage(100, 5)));
    let mut w = World::new(scenario);
    w.project("demo", &[]);
    let first = w.spawn(&["demo", "first", "--runtime", "process"]);
    w.wait_activity(&first, "ready");
    w.wait_log(&first, "First answer.");
    let (old_url, old_password) = w.server_endpoint("demo");

    // A config edit restarts the server (no turn is under way): its password is new, and the old
    // one is refused.
    w.set_agent_config("demo", &["permission: {bash: ask}"]);
    let other = w.spawn(&["demo", "other", "--runtime", "process"]);
    w.wait_activity(&other, "ready");
    let (url, password) = w.server_endpoint("demo");
    assert_ne!(
        password, old_password,
        "the restarted server kept its password"
    );
    assert_eq!(status_with(&url, &password), 200);
    assert_eq!(status_with(&url, &old_password), 401, "{old_url} -> {url}");

    // The server dies; another local user binds its port before ao starts it again. The
    // follower of the first session, which was reading that server's events, sends nothing there;
    // once ao has started the server again, it follows the new one.
    w.crash_server("demo");
    let squatter = Squatter::bind(port_of(&url));
    w.ao_ok(&["send", &first, "go on"]);
    squatter.assert_no_credentials(&password);
    w.wait_log(&first, "Second answer.");
    let (new_url, _) = w.server_endpoint("demo");
    assert_ne!(port_of(&new_url), port_of(&url));
    squatter.assert_no_credentials(&password);
}

#[test]
fn a_plain_http_server_off_loopback_is_warned_of_once() {
    let mut w = World::new(Scenario::new());
    let dir = w.project("far", &[]);
    w.set_env("AO_TEST_SERVER_PASSWORD", "not-sent-anywhere");
    // `.invalid` never resolves (RFC 6761), and `ao list` with no session reaches no server.
    let project = |name: &str, url: &str| {
        format!(
            "  - name: {name}\n    path: {}\n    server:\n      url: {url}\n      \
             passwordEnv: AO_TEST_SERVER_PASSWORD\n",
            dir.display()
        )
    };
    w.set_config_text(&format!(
        "projects:\n{}{}{}",
        project("far", "http://opencode.ao-test.invalid:4096"),
        project("near", "http://127.0.0.1:9"),
        project("sealed", "https://opencode.ao-test.invalid"),
    ));
    let out = w.ao(&["list"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("PLAIN HTTP").count(),
        1,
        "one warning, for far only:\n{stderr}"
    );
    assert!(
        stderr.contains("project far reaches its OpenCode server at http://opencode.ao-test.invalid:4096 over PLAIN HTTP"),
        "{stderr}"
    );
}

/// The `opencode serve` processes that run in `dir`, found by their working directory (a server
/// that no record names has nothing else to find it by). A server's child between its fork and
/// its exec has the server's command line and directory for a moment; it is not a server.
fn servers_in(dir: &Path) -> Vec<ProcessIdentity> {
    let dir = std::fs::canonicalize(dir).expect("the project's directory");
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    let serving: Vec<u32> = procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let proc = Path::new("/proc").join(pid.to_string());
            let serve = std::fs::read(proc.join("cmdline")).is_ok_and(|c| {
                c.split(|b| *b == 0)
                    .nth(1)
                    .is_some_and(|arg| arg == b"serve")
            });
            serve && std::fs::read_link(proc.join("cwd")).is_ok_and(|cwd| cwd == dir)
        })
        .collect();
    serving
        .iter()
        .filter(|pid| proc_stat(**pid).is_some_and(|stat| !serving.contains(&stat.ppid)))
        .filter_map(|pid| ProcessIdentity::of(*pid))
        .collect()
}

/// Kills, when dropped, the processes it holds: what a failed test would otherwise leave.
struct Reaper(Vec<ProcessIdentity>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for id in &self.0 {
            if id.is_alive() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(id.pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// `ao spawn` killed while its project's server starts; the server it left, which must be the
/// only one running in `repo`.
fn spawn_cut_while_the_server_starts(w: &World, repo: &Path, name: &str) -> ProcessIdentity {
    let out = w
        .ao_command(&[
            "spawn",
            "demo",
            "steady",
            "--runtime",
            "process",
            "--name",
            name,
        ])
        .env(CRASH_AT_ENV, SERVER_STARTING)
        .stdin(Stdio::null())
        .output()
        .expect("run ao");
    assert_eq!(out.status.signal(), Some(9), "{out:?}");
    // A project's server is shared and runs in the state home's `servers/`, no project's directory.
    let _ = repo;
    let left = servers_in(&w.home().join("servers"));
    assert_eq!(left.len(), 1, "one server left running: {left:?}");
    left[0]
}

fn wait_gone(id: ProcessIdentity, what: &str) {
    wait_until(
        Duration::from_secs(15),
        Duration::from_millis(50),
        || match id.is_alive() {
            true => Err(format!("{what}: the server {} still runs", id.pid)),
            false => Ok(()),
        },
    );
}

#[test]
fn a_server_start_cut_short_is_found_by_kill_and_by_the_next_ao() {
    let scenario =
        Scenario::new().script(script("steady").turn(Turn::text("Steady.").usage(110, 7)));
    let mut w = World::new(scenario);
    let repo = w.project("demo", &[]);
    let mut reaper = Reaper(vec![]);

    // Killed while `opencode serve` starts: `ao kill` of the half-made session stops the server
    // with the rest, its project having nothing else live.
    let orphan = spawn_cut_while_the_server_starts(&w, &repo, "cut");
    reaper.0.push(orphan);
    w.ao_ok(&["kill", "demo/cut"]);
    wait_gone(orphan, "after ao kill");

    // Again: the next `ao` that needs the server stops the one left and starts its own.
    let orphan = spawn_cut_while_the_server_starts(&w, &repo, "cut-again");
    reaper.0.push(orphan);
    let id = w.spawn(&["demo", "steady", "--runtime", "process"]);
    w.wait_activity(&id, "ready");
    wait_gone(orphan, "after the next spawn");
    assert_eq!(
        servers_in(&w.home().join("servers")),
        vec![w.server_process("demo")]
    );
}

/// The ssh masters of `w`'s state home that run: processes `ssh -M` whose control socket is in
/// its `ssh/` directory.
fn ssh_masters(w: &World) -> Vec<ProcessIdentity> {
    let control = format!("ControlPath={}", w.home().join("ssh").display());
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"ssh"))
                && args.iter().any(|a| *a == b"-M")
                && args.iter().any(|a| a.starts_with(control.as_bytes()))
        })
        .filter_map(ProcessIdentity::of)
        .collect()
}

/// The ssh master that the project's server record names (the shared record of its host's
/// server, which the project's record points to).
fn recorded_master(w: &World, project: &str) -> ProcessIdentity {
    let v = w.server_record(project);
    ProcessIdentity {
        pid: v["pid"].as_u64().expect("pid") as u32,
        start_time: v["start_time"].as_u64().expect("start_time"),
    }
}

#[test]
fn two_ao_that_reopen_a_killed_tunnel_at_once_leave_one_master_the_recorded_one() {
    let mut w = World::new(
        Scenario::new().script(script("hello").turn(Turn::text("Hello.").usage(110, 7))),
    );
    let web = w.project("web", &[]);
    let _sshd = Sshd::start(&mut w);
    let provider = w.provider_config();
    w.set_config_text(&format!(
        "projects:\n  - name: web\n    path: {}\n    host: builder\n    workspace: worktree\n    \
         agentConfig:\n      model: mock/mock-1\n      opencodeConfig: {provider}\n",
        web.display()
    ));
    let _remote_server = RemoteServerGuard::new(&w, "web", &["builder"]);
    let id = w.spawn(&["web", "hello", "--runtime", "process"]);
    w.wait_activity(&id, "ready");

    // The tunnel dies, and two `ao` (the monitor and a dashboard, say) need it at the same moment,
    // a few milliseconds apart or none.
    for (round, lag_ms) in [0u64, 30, 80, 150].into_iter().enumerate() {
        let master = recorded_master(&w, "web");
        assert_eq!(ssh_masters(&w), vec![master], "round {round}: before");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(master.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill the master");
        wait_gone(master, "the killed master");
        let first = w
            .ao_command(&["status", "--json", &id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ao");
        std::thread::sleep(Duration::from_millis(lag_ms));
        let second = w
            .ao_command(&["status", "--json", &id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ao");
        for child in [first, second] {
            let out = child.wait_with_output().expect("wait for ao");
            assert!(out.status.success(), "round {round}: {out:?}");
            let s: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
            assert_eq!(s[0]["activity"], "ready", "round {round}: {s:#}");
        }
        let recorded = recorded_master(&w, "web");
        assert!(
            recorded.is_alive(),
            "round {round}: the recorded master is dead"
        );
        assert_eq!(
            ssh_masters(&w),
            vec![recorded],
            "round {round} (second ao {lag_ms} ms later): one master, the recorded one"
        );
    }
}
