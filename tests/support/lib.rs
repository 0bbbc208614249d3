//! What every end-to-end test of ao needs, in one place, so that each test reads like the user's
//! story: a [`World`] holds a scripted mock model on 127.0.0.1, a private tmux server, temporary
//! homes for ao and OpenCode, and projects (git repositories) with a config file; it runs the real
//! `ao` binary and, when dropped, stops every process the test started (project monitors, session
//! followers, project servers), by pid, kills its tmux server and removes its temporary
//! directories.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

pub mod acp;
mod argv;
mod browser;
pub mod claude;
pub mod codex;
mod dashboard;
mod lines;
mod listener;
mod mcp;
pub mod remote;
mod terminal;
mod tls;

pub use argv::ArgvScanner;
pub use browser::{free_port, Browser};
pub use dashboard::{Answer, Dashboard, Events};
pub use lines::Lines;
pub use listener::Listener;
pub use mcp::{McpClient, McpHttpAnswer};
pub use terminal::Terminal;
pub use tls::TlsIngress;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ao_core::home::StateHome;
use ao_core::runtime::process::ProcessIdentity;
use ao_core::runtime::RuntimeHandle;
use ao_core::store::Store;
pub use ao_mock_model::{BlockingMockModel, Scenario, Script, ToolCall, Turn};
use serde_json::Value;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `ao` binary built by this `cargo test` run.
pub fn ao_bin() -> PathBuf {
    // Integration tests run from target/<profile>/deps/; the binaries are one level up.
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("ao");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or scripts/test)",
        bin.display()
    );
    bin
}

/// A pinned ACP adapter: the variable `variable` (`AO_CLAUDE_ACP_BIN`), else `name` as
/// scripts/install-agents installs it in `.tools/acp/bin`.
fn acp_adapter_path(variable: &str, name: &str) -> PathBuf {
    match std::env::var_os(variable).filter(|v| !v.is_empty()) {
        Some(bin) => PathBuf::from(bin),
        None => repo_root().join(".tools/acp/bin").join(name),
    }
}

/// The pinned OpenCode binary: `AO_OPENCODE_BIN`, else the one scripts/install-opencode installs.
pub fn opencode_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("AO_OPENCODE_BIN").filter(|v| !v.is_empty()) {
        return PathBuf::from(bin);
    }
    let bin = repo_root().join(".tools/opencode/node_modules/.bin/opencode");
    assert!(
        bin.exists(),
        "OpenCode is not installed: run scripts/install-opencode (or set AO_OPENCODE_BIN)"
    );
    bin
}

static WORLDS: AtomicUsize = AtomicUsize::new(0);

/// A config's `defaults` block, one YAML line each; nothing without any.
pub(crate) fn defaults_block(defaults: &[String]) -> String {
    if defaults.is_empty() {
        return String::new();
    }
    let mut text = String::from("defaults:\n");
    for line in defaults {
        text.push_str(&format!("  {line}\n"));
    }
    text
}

/// A process stopped (SIGSTOP) for a test, continued when dropped, so that a failing test leaves
/// nothing frozen.
pub struct Stopped(u32);

impl Stopped {
    /// Stops `pid`.
    pub fn stop(pid: u32) -> Stopped {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP");
        Stopped(pid.as_raw() as u32)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0 as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
    }
}

/// An `ao` paused at one of its fault points (`AO_FAULT_PAUSE_AT`), so that a test can run
/// another `ao` at exactly that moment; killed when dropped, so a failing test leaves none.
pub struct Paused {
    child: std::process::Child,
    args: String,
}

impl Paused {
    /// Runs `ao args` in `w` and waits (a minute at most) until it says it paused at `point`.
    pub fn start(w: &World, args: &[&str], point: &str) -> Paused {
        use std::io::BufRead;
        let mut child = w
            .ao_command(args)
            .env("AO_FAULT_PAUSE_AT", point)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ao");
        let stderr = child.stderr.take().expect("its standard error");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let paused = Paused {
            child,
            args: args.join(" "),
        };
        let wanted = format!("ao: paused at {point}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line == wanted => return paused,
                Ok(_) => continue,
                Err(e) => panic!("ao {} did not pause at {point}: {e}", paused.args),
            }
        }
    }

    /// Lets it go on, and waits until it has ended well.
    pub fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("wait for ao");
        assert!(status.success(), "ao {}: {status}", self.args);
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `AO_TIMING=1` made a command print (its standard error); shown as it is.
pub struct StatusTiming(pub String);

impl StatusTiming {
    /// How many requests `GET <path>` it made (the path alone: `/session` counts no
    /// `/session/{id}`).
    pub fn requests(&self, path: &str) -> usize {
        let line = format!("ao: timing: request GET {path} ");
        self.0.lines().filter(|l| l.starts_with(&line)).count()
    }
}

impl std::fmt::Display for StatusTiming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One test's private world.
pub struct World {
    /// The mock model.
    pub mock: BlockingMockModel,
    tmp: tempfile::TempDir,
    tmux_socket: String,
    projects: Vec<(String, String)>,
    opencode_extra: std::collections::HashMap<String, Value>,
    extra_env: Vec<(String, std::ffi::OsString)>,
    defaults: Vec<String>,
    /// YAML put at the top of the config, before `defaults` (`notifications:`).
    top: String,
}

impl World {
    /// A world whose mock model plays `scenario`.
    pub fn new(scenario: Scenario) -> World {
        let mock = BlockingMockModel::start(scenario).expect("start the mock model");
        let n = WORLDS.fetch_add(1, Ordering::SeqCst);
        let tmp = tempfile::Builder::new()
            .prefix("ao-test-")
            .tempdir()
            .expect("temp dir");
        for d in ["home", "xdg/data", "xdg/state", "xdg/cache", "projects"] {
            std::fs::create_dir_all(tmp.path().join(d)).expect("mkdir");
        }
        World {
            mock,
            tmp,
            tmux_socket: format!("ao-test-{}-{n}", std::process::id()),
            projects: Vec::new(),
            opencode_extra: Default::default(),
            extra_env: Vec::new(),
            defaults: Vec::new(),
            top: String::new(),
        }
    }

    /// The world's temporary root.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The tmux socket name of this world's private tmux server.
    pub fn tmux_socket(&self) -> &str {
        &self.tmux_socket
    }

    /// Adds a project: a git repository with one commit, and its entry in the config.
    /// `agent_config` is extra YAML under `agentConfig` (indented by the caller's choice of keys,
    /// one per line, e.g. `"permission: {bash: ask}"`).
    pub fn project(&mut self, name: &str, agent_config: &[&str]) -> PathBuf {
        let dir = self.root().join("projects").join(name);
        std::fs::create_dir_all(&dir).expect("mkdir project");
        git(&dir, &["init", "-q", "-b", "main"]);
        // OpenCode names a project by its root commit: two repositories made the same second
        // with the same message would be one project to it.
        git(
            &dir,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("init {name}"),
            ],
        );
        let mut extra = String::new();
        for line in agent_config {
            extra.push_str(&format!("      {line}\n"));
        }
        self.projects.push((name.to_string(), extra));
        self.write_config();
        dir
    }

    /// Merges `extra` into a project's `opencodeConfig` (which registers the mock model), e.g.
    /// `json!({"provider": {"mock": {"options": {"chunkTimeout": 2000}}}})`.
    pub fn opencode_config(&mut self, project: &str, extra: Value) {
        self.opencode_extra.insert(project.to_string(), extra);
        self.write_config();
    }

    /// Replaces a project's extra `agentConfig` lines (see [`World::project`]) and rewrites the
    /// config file, as a person editing it would.
    pub fn set_agent_config(&mut self, name: &str, agent_config: &[&str]) {
        let extra: String = agent_config
            .iter()
            .map(|line| format!("      {line}\n"))
            .collect();
        let entry = self
            .projects
            .iter_mut()
            .find(|(n, _)| n == name)
            .expect("a project of this world");
        entry.1 = extra;
        self.write_config();
    }

    /// Sets the YAML at the top of the config (`notifications:` and the like, whole lines) and
    /// rewrites the config file.
    pub fn set_top(&mut self, yaml: &str) {
        self.top = yaml.to_string();
        self.write_config();
    }

    /// Sets the config's `defaults` (one YAML line each, e.g. `"tmux: {tui: always}"`) and
    /// rewrites the config file.
    pub fn set_defaults(&mut self, lines: &[&str]) {
        self.defaults = lines.iter().map(|l| l.to_string()).collect();
        self.write_config();
    }

    fn write_config(&self) {
        let mut text = self.top.clone();
        text.push_str(&defaults_block(&self.defaults));
        text.push_str("projects:\n");
        for (name, extra) in &self.projects {
            let mut provider = ao_mock_model::opencode_provider_config(&self.mock.base_url());
            if let Some(more) = self.opencode_extra.get(name) {
                merge_json(&mut provider, more);
            }
            text.push_str(&format!(
                "  - name: {name}\n    path: projects/{name}\n    agentConfig:\n      model: mock/mock-1\n{extra}      opencodeConfig: {provider}\n"
            ));
        }
        std::fs::write(self.config_path(), text).expect("write config");
        self.trust_config();
    }

    /// Trusts the world's config file, as `ao init` does for the file it writes: the person's
    /// own config may use notifier commands, webhooks, passwords and hosts.
    fn trust_config(&self) {
        let home = ao_core::home::StateHome::at(self.home());
        ao_core::trust::TrustStore::new(&home)
            .trust(&self.config_path())
            .expect("trust the world's config");
    }

    /// The config file.
    pub fn config_path(&self) -> PathBuf {
        self.root().join("agent-orchestrator.yaml")
    }

    /// The state home.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }

    /// A command running `ao` in this world.
    pub fn ao_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(ao_bin());
        cmd.args(args);
        cmd
    }

    /// Any program with this world's environment (what `ao` runs with), in its directory: a shell
    /// that starts `ao`, `opencode` itself, script(1).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.root())
            .env("AO_CONFIG", self.config_path())
            .env("AO_HOME", self.home())
            .env("AO_TMUX_SOCKET", &self.tmux_socket)
            .env("AO_OPENCODE_BIN", opencode_bin())
            .env("AO_OPENCODE_PURE", "1")
            .env(
                "AO_CLAUDE_ACP_BIN",
                acp_adapter_path("AO_CLAUDE_ACP_BIN", "claude-agent-acp"),
            )
            .env(
                "AO_CODEX_ACP_BIN",
                acp_adapter_path("AO_CODEX_ACP_BIN", "codex-acp"),
            )
            .env("XDG_DATA_HOME", self.root().join("xdg/data"))
            .env("XDG_STATE_HOME", self.root().join("xdg/state"))
            .env("XDG_CACHE_HOME", self.root().join("xdg/cache"))
            // One OpenCode config home for the whole run: its first use may install plugin
            // dependencies, which should happen once, not per test.
            .env("XDG_CONFIG_HOME", shared_config_home())
            .env("OPENCODE_DISABLE_MODELS_FETCH", "1")
            .env("OPENCODE_DISABLE_LSP_DOWNLOAD", "1")
            .env("NO_COLOR", "1")
            // A loaded test machine can keep a server from answering for seconds; a test that
            // means the budget passes --timeout itself.
            .env("AO_STATUS_TIMEOUT", "20")
            .env_remove("TMUX");
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Sets an environment variable for every program this world runs from now on (`HOME` and
    /// `AO_SSH_CONFIG` for a test's own ssh setup, say).
    pub fn set_env(&mut self, key: &str, value: impl Into<std::ffi::OsString>) {
        self.extra_env.retain(|(k, _)| k != key);
        self.extra_env.push((key.to_string(), value.into()));
    }

    /// Runs `ao` and returns its output, whatever its exit code.
    pub fn ao(&self, args: &[&str]) -> Output {
        self.ao_command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run ao")
    }

    /// Runs `ao`, asserts success, returns standard output.
    pub fn ao_ok(&self, args: &[&str]) -> String {
        let out = self.ao(args);
        assert!(
            out.status.success(),
            "ao {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ao spawn <args>`: the session's address it printed.
    pub fn spawn(&self, args: &[&str]) -> String {
        let mut all = vec!["spawn"];
        all.extend_from_slice(args);
        self.ao_ok(&all).trim().to_string()
    }

    /// `ao status --json [target]`, parsed.
    pub fn status(&self, target: Option<&str>) -> Vec<Value> {
        let mut args = vec!["status", "--json"];
        args.extend(target);
        let text = self.ao_ok(&args);
        serde_json::from_str::<Value>(&text)
            .unwrap_or_else(|e| panic!("status is not JSON ({e}): {text}"))
            .as_array()
            .cloned()
            .expect("status is an array")
    }

    /// The status of one session.
    pub fn session(&self, id: &str) -> Value {
        let mut all = self.status(Some(id));
        assert_eq!(all.len(), 1, "{id}: {all:?}");
        all.remove(0)
    }

    /// Polls the session's status until `pred` holds, failing after `timeout` with the last status.
    pub fn wait_for(
        &self,
        id: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_until(timeout, Duration::from_millis(100), || {
            let s = self.session(id);
            if pred(&s) {
                Ok(s)
            } else {
                Err(format!(
                    "{id} did not become {what} within {timeout:?}; last status:\n{s:#}"
                ))
            }
        })
    }

    /// Polls until the session's log (see [`World::session_log`]) holds `text`; returns the log.
    pub fn wait_log(&self, id: &str, text: &str) -> String {
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            let log = self.session_log(id);
            if log.contains(text) {
                Ok(log)
            } else {
                Err(format!("the log of {id} never got {text:?}:\n{log}"))
            }
        })
    }

    /// Waits until the session's activity is `activity` (within 90 s) and returns its status.
    ///
    /// A state that lasts until someone acts (waiting_input, blocked, ready, idle, exited) is
    /// waited for with `ao wait`: one process that follows the server's events instead of an
    /// `ao status` every 100 ms, and that fails at once when the session exits first instead of
    /// at the timeout. `active`, which a session may leave before a second look, is polled; so
    /// must be any state a test needs to see while it lasts (a retry in progress): use
    /// [`World::wait_for`] for those.
    pub fn wait_activity(&self, id: &str, activity: &str) -> Value {
        const TIMEOUT: Duration = Duration::from_secs(90);
        if activity == "active" {
            return self.wait_for(id, TIMEOUT, activity, |s| s["activity"] == activity);
        }
        let timeout = TIMEOUT.as_secs().to_string();
        let out = self.ao(&["wait", id, "--until", activity, "--timeout", &timeout]);
        if !out.status.success() {
            let s = self.session(id);
            panic!(
                "{id} did not become {activity}: `ao wait` failed ({}): {}last status:\n{s:#}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The status that is returned must show it too (`ao wait --until ready` accepts idle;
        // the tests mean ready). Looked for a while rather than once: on a loaded machine one
        // status can find the server slow to answer for a moment (`ServerUnresponsive`).
        self.wait_for(id, Duration::from_secs(30), activity, |s| {
            s["activity"] == activity
        })
    }

    /// Runs `ao`, asserts it fails with `code`, returns its standard error.
    pub fn ao_fails(&self, args: &[&str], code: i32) -> String {
        let out = self.ao(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "ao {} should fail with {code}; stdout:\n{}\nstderr:\n{stderr}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    /// The log of a process-runtime session (`project/name`).
    pub fn session_log(&self, id: &str) -> String {
        let (project, name) = id.split_once('/').expect("project/name");
        let path = self
            .home()
            .join("sessions")
            .join(project)
            .join(name)
            .join("output.jsonl");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Kills a project's OpenCode server with SIGKILL, as a crash would, and waits until it is gone.
    pub fn crash_server(&self, project: &str) {
        let id = self.server_process(project);
        assert!(id.is_alive(), "the server of {project} is not running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(id.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill the server");
        wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            if id.is_alive() {
                Err("the server did not die".to_string())
            } else {
                Ok(())
            }
        })
    }

    /// The process of a project's OpenCode server, as ao recorded it.
    pub fn server_process(&self, project: &str) -> ProcessIdentity {
        let store = self
            .store()
            .and_then(|s| s.ok_or_else(|| "no store: nothing was started".to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        server_of(&store, project)
            .unwrap_or_else(|e| panic!("{e}"))
            .expect("the project has a server")
    }

    /// Where a project's OpenCode server listens and its password, as ao recorded them: for a
    /// test or bench that listens to the server's own events beside ao.
    pub fn server_endpoint(&self, project: &str) -> (String, String) {
        let v = self.server_record(project);
        let url = v["url"].as_str().expect("the server's url").to_string();
        let file = v["password_file"].as_str().expect("the password file");
        let password = std::fs::read_to_string(file).expect("read the password file");
        (url, password.trim().to_string())
    }

    /// The 0600 file of the password of the server a project uses, as ao recorded it.
    pub fn server_password_file(&self, project: &str) -> PathBuf {
        let v = self.server_record(project);
        PathBuf::from(v["password_file"].as_str().expect("the password file"))
    }

    /// The record of the server a project uses, as ao stored it (a shared one through the
    /// project's pointer).
    pub fn server_record(&self, project: &str) -> Value {
        let store = self
            .store()
            .and_then(|s| s.ok_or_else(|| "no store: nothing was started".to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        server_value(&store, project)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("{project} has no server"))
    }

    /// Runs a tmux command on this world's private server.
    pub fn tmux(&self, args: &[&str]) -> Output {
        self.tmux_command(args).output().expect("run tmux")
    }

    fn tmux_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-L").arg(&self.tmux_socket).args(args);
        cmd
    }

    /// The names of the sessions of the world's tmux server (none when it does not run).
    pub fn tmux_sessions(&self) -> Vec<String> {
        self.tmux_lines(&["list-sessions", "-F", "#{session_name}"])
    }

    /// The sessions the clients of the world's tmux server are attached to.
    pub fn tmux_clients(&self) -> Vec<String> {
        self.tmux_lines(&["list-clients", "-F", "#{client_session}"])
    }

    fn tmux_lines(&self, args: &[&str]) -> Vec<String> {
        tmux_lines(self.tmux_command(args), &self.tmux_socket)
    }

    /// What the first window of a session's tmux session shows (a lazy session's view), or the
    /// window the session shows now (`current`: the TUI while it is open).
    pub fn pane_screen(&self, id: &str, current: bool) -> String {
        let target = if current {
            format!("={id}:")
        } else {
            format!("={id}:^")
        };
        let out = self.tmux(&["capture-pane", "-p", "-t", &target]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls until `pred` holds for [`World::pane_screen`], failing after `timeout` with it.
    pub fn wait_pane(
        &self,
        id: &str,
        current: bool,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        wait_until(timeout, Duration::from_millis(100), || {
            let screen = self.pane_screen(id, current);
            if pred(&screen) {
                Ok(screen)
            } else {
                Err(format!(
                    "the pane of {id} did not show {what} within {timeout:?}; it shows:\n{screen}"
                ))
            }
        })
    }

    /// The pids of the agent TUIs (`opencode attach … --session <conversation> --dir <work
    /// tree>`) running on a conversation of this world: found in /proc by their arguments, which
    /// name the conversation and a directory under the world's root.
    pub fn tui_processes(&self, agent_session_id: &str) -> Vec<u32> {
        let root = self.root().to_string_lossy().into_owned();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return vec![];
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    return false;
                };
                let args: Vec<String> = raw
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                args.iter().any(|a| a == "attach")
                    && args.iter().any(|a| a == agent_session_id)
                    && args.iter().any(|a| a.starts_with(&root))
                    && ProcessIdentity::of(*pid).is_some()
            })
            .collect()
    }

    /// Polls until no agent TUI runs on the conversation, failing after `timeout`.
    pub fn wait_no_tui(&self, agent_session_id: &str, timeout: Duration) {
        wait_until(timeout, Duration::from_millis(50), || {
            let left = self.tui_processes(agent_session_id);
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "agent TUIs still run on {agent_session_id} after {timeout:?}: {left:?}"
                ))
            }
        })
    }

    /// The detached process a session's record points at (`demo/agent-1`), if it has one.
    pub fn session_process(&self, id: &str) -> Option<ProcessIdentity> {
        self.session_processes()
            .into_iter()
            .find_map(|(address, p)| (address == id).then_some(p))
    }

    /// Every session's recorded detached process, with the session's address.
    fn session_processes(&self) -> Vec<(String, ProcessIdentity)> {
        self.try_session_processes()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_session_processes(&self) -> Result<Vec<(String, ProcessIdentity)>, String> {
        let Some(store) = self.store()? else {
            return Ok(vec![]);
        };
        let records = store
            .list()
            .map_err(|e| format!("cannot list the sessions in the store: {e}"))?;
        Ok(records
            .into_iter()
            .filter_map(|rec| match rec.runtime_handle {
                Some(RuntimeHandle::Process {
                    pid, start_time, ..
                }) => Some((rec.address.to_string(), ProcessIdentity { pid, start_time })),
                _ => None,
            })
            .collect())
    }

    /// The world's store; `None` only when it does not exist, because no `ao` has written to it
    /// yet. Any other failure is an error: a list read from a store that could not be read would
    /// be empty, which would make "a server was started" untestable and the clean-up leak.
    fn store(&self) -> Result<Option<Store>, String> {
        let path = StateHome::at(self.home()).store_path();
        match path.try_exists() {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(e) => return Err(format!("cannot look for the store {}: {e}", path.display())),
        }
        Store::open(&path)
            .map(Some)
            .map_err(|e| format!("cannot open the store {}: {e}", path.display()))
    }

    /// A shell script that runs `ao` with this world's environment, for programs started outside
    /// the test process (a tmux pane, a person's terminal). Unlike [`World::ao_command`] it keeps
    /// `TMUX` as it finds it.
    pub fn ao_script(&self) -> PathBuf {
        let path = self.root().join("ao.sh");
        if !path.exists() {
            let cmd = self.command(ao_bin());
            let mut text = String::from("#!/bin/sh\n");
            // Removed variables (TMUX) are left as the caller has them: the script runs inside
            // tmux and outside it.
            for (k, v) in cmd.get_envs() {
                if let Some(v) = v {
                    let v = shell_quote(&v.to_string_lossy());
                    text.push_str(&format!("export {}={v}\n", k.to_string_lossy()));
                }
            }
            text.push_str(&format!(
                "cd {}\nexec {} \"$@\"\n",
                shell_quote(&self.root().to_string_lossy()),
                shell_quote(&ao_bin().to_string_lossy())
            ));
            std::fs::write(&path, text).expect("write ao.sh");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
                .expect("chmod ao.sh");
        }
        path
    }

    /// Polls until the clients of the session server are attached to exactly `sessions`.
    pub fn wait_for_clients(&self, sessions: &[&str]) {
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            let now = self.tmux_clients();
            if now == sessions {
                Ok(())
            } else {
                Err(format!("tmux clients are on {now:?}, not {sessions:?}"))
            }
        })
    }

    /// The monitor a project's `ao` recorded, if any (it may have ended since).
    pub fn monitor_process(&self, project: &str) -> Option<ProcessIdentity> {
        self.try_monitor_processes()
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .find_map(|(p, id)| (p == project).then_some(id))
    }

    /// One `ao status --json` with `AO_TIMING=1`: the sessions it listed, and what its timing
    /// says (see [`StatusTiming::requests`]).
    pub fn timed_status(&self) -> (Vec<Value>, StatusTiming) {
        let out = self
            .ao_command(&["status", "--json"])
            .env("AO_TIMING", "1")
            .output()
            .expect("run ao status");
        assert!(out.status.success(), "{out:?}");
        let listed = serde_json::from_slice(&out.stdout).expect("status JSON");
        (
            listed,
            StatusTiming(String::from_utf8_lossy(&out.stderr).into_owned()),
        )
    }

    /// The running monitor processes of this world (`ao --config <its config> monitor …`), by
    /// their command lines, whether recorded or not.
    pub fn monitor_pids(&self) -> Vec<u32> {
        let config = self.config_path();
        let config = config.to_string_lossy();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let running = proc_stat(pid).is_some_and(|s| s.state != 'Z');
            if running
                && args.iter().any(|a| a == config.as_ref())
                && args.iter().any(|a| a == "monitor")
            {
                pids.push(pid);
            }
        }
        pids
    }

    /// Every recorded monitor, with its project.
    fn try_monitor_processes(&self) -> Result<Vec<(String, ProcessIdentity)>, String> {
        let Some(store) = self.store()? else {
            return Ok(vec![]);
        };
        Ok(store
            .monitors()
            .map_err(|e| format!("cannot list the monitors in the store: {e}"))?
            .into_iter()
            .map(|m| (m.project, m.process))
            .collect())
    }

    /// The pids of the project servers this world's ao started. Panics when the store exists but
    /// cannot be read.
    pub fn server_pids(&self) -> Vec<ProcessIdentity> {
        self.try_server_pids().unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_server_pids(&self) -> Result<Vec<ProcessIdentity>, String> {
        let Some(store) = self.store()? else {
            return Ok(vec![]);
        };
        let mut pids = Vec::new();
        for (project, _) in &self.projects {
            // Projects that share a server name it once.
            if let Some(id) = server_of(&store, project)? {
                if !pids.contains(&id) {
                    pids.push(id);
                }
            }
        }
        Ok(pids)
    }
}

/// The record of the server a project uses, as ao keeps it: its own (`server:<project>`), or the
/// shared one that names (`{"shared": KEY}`, the record under `shared-server:KEY`).
fn server_value(store: &Store, project: &str) -> Result<Option<Value>, String> {
    let state = store.plugin_state("opencode");
    let read = |key: &str| {
        state
            .get_blocking::<Value>(key)
            .map_err(|e| format!("cannot read the server of {project} from the store: {e}"))
    };
    match read(&format!("server:{project}"))? {
        Some(v) => match v["shared"].as_str() {
            Some(shared) => read(&format!("shared-server:{shared}")),
            None => Ok(Some(v)),
        },
        None => Ok(None),
    }
}

/// The process of a project's server, as ao recorded it; `None` when there is no record.
fn server_of(store: &Store, project: &str) -> Result<Option<ProcessIdentity>, String> {
    let Some(v) = server_value(store, project)? else {
        return Ok(None);
    };
    let id = (|| {
        Some(ProcessIdentity {
            pid: v["pid"].as_u64()? as u32,
            start_time: v["start_time"].as_u64()?,
        })
    })();
    id.map(Some)
        .ok_or_else(|| format!("the server record of {project} has no pid or start_time: {v}"))
}

/// The lines a tmux listing command printed, for `socket`'s server. No server running on the
/// socket is no lines: that is what tmux says once its server is killed, or before anything
/// started it, and tests assert exactly that absence. Any other failure (no tmux, a socket
/// directory it cannot use, a bad command) panics with tmux's message, so that an assertion that
/// something is gone cannot pass because tmux was never asked.
pub fn tmux_lines(mut cmd: Command, socket: &str) -> Vec<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(
            no_server(&stderr, socket),
            "{cmd:?} failed ({}): {stderr}",
            out.status
        );
        return vec![];
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Whether tmux's error says that no server runs on `socket` (`-L` name), in one of the two ways
/// tmux 3 says it: the socket file is missing, or it is there but nothing listens on it.
fn no_server(stderr: &str, socket: &str) -> bool {
    let line = stderr.trim_end_matches('\n');
    let path = line.strip_prefix("no server running on ").or_else(|| {
        line.strip_prefix("error connecting to ")?
            .strip_suffix(" (No such file or directory)")
    });
    path.is_some_and(|p| !p.contains('\n') && p.ends_with(&format!("/{socket}")))
}

/// What `/proc/<pid>/stat` says of a process's state and kin.
pub struct ProcStat {
    /// Its state letter (`Z` for a zombie).
    pub state: char,
    /// Its parent's pid.
    pub ppid: u32,
    /// Its process group.
    pub pgrp: u32,
}

/// The state, parent and group of process `pid`, while it exists.
pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's closing parenthesis (the command may hold one): state, ppid, pgrp.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(ProcStat { state, ppid, pgrp })
}

/// Checks every `every` until `check` gives `Ok`; after `timeout`, panics with its last `Err`.
pub fn wait_until<T>(
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(v) => return v,
            Err(why) => assert!(Instant::now() < deadline, "{why}"),
        }
        std::thread::sleep(every);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Every process this world started, by pid: session followers, then project servers.
        // What cannot be found is said after the rest is cleaned up, not skipped in silence.
        let mut lost = Vec::new();
        // Monitors first, so that none restarts what follows; again at the end, for one an `ao`
        // started just before and that recorded itself meanwhile.
        let stop_monitors = |lost: &mut Vec<String>| match self.try_monitor_processes() {
            Ok(monitors) => {
                for (_, process) in monitors {
                    process.stop(Duration::from_secs(3));
                }
            }
            Err(e) => lost.push(e),
        };
        stop_monitors(&mut lost);
        match self.try_session_processes() {
            Ok(processes) => {
                for (_, process) in processes {
                    process.stop(Duration::from_secs(3));
                }
            }
            Err(e) => lost.push(e),
        }
        match self.try_server_pids() {
            Ok(servers) => {
                for server in servers {
                    server.stop(Duration::from_secs(5));
                }
            }
            Err(e) => lost.push(e),
        }
        stop_monitors(&mut lost);
        let term = format!("{}-term", self.tmux_socket);
        for socket in [&self.tmux_socket, &term] {
            // The panes' programs outlive their server for a moment and may still write under the
            // world's directory (OpenCode's TUI does), so they are waited for before it goes.
            let panes: Vec<ProcessIdentity> = Command::new("tmux")
                .args(["-L", socket, "list-panes", "-a", "-F", "#{pane_pid}"])
                .stderr(Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| ProcessIdentity::of(l.trim().parse().ok()?))
                .collect();
            let _ = Command::new("tmux")
                .args(["-L", socket, "kill-server"])
                .stderr(Stdio::null())
                .status();
            // tmux leaves its socket file behind when the server is killed.
            let _ = std::fs::remove_file(tmux_socket_dir().join(socket));
            for pane in panes {
                pane.stop(Duration::from_secs(3));
            }
        }
        // A last net, by pid: a process that still works in this world's directories, which no
        // record named (an OpenCode server whose start an `ao` this test killed cut short, say).
        // It is stopped, and named, so that a run that meets one says where it came from.
        for stray in processes_in(self.root()) {
            eprintln!(
                "the world in {} left a process that no record names: pid {} ({}); stopping it",
                self.root().display(),
                stray.0.pid,
                stray.1
            );
            stray.0.stop(Duration::from_secs(5));
        }
        if !lost.is_empty() {
            let why = format!(
                "the world in {} may leave processes running: {}",
                self.root().display(),
                lost.join("; ")
            );
            // A second panic while a failed test unwinds would abort every test of the run.
            if std::thread::panicking() {
                eprintln!("{why}");
            } else {
                panic!("{why}");
            }
        }
    }
}

/// The processes whose working directory is inside `root`, with their command lines.
fn processes_in(root: &Path) -> Vec<(ProcessIdentity, String)> {
    let Ok(root) = root.canonicalize() else {
        return Vec::new();
    };
    let me = std::process::id();
    let Ok(dirs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dirs.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&root))
        })
        .filter_map(|pid| {
            let args = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args = String::from_utf8_lossy(&args).replace('\0', " ");
            Some((ProcessIdentity::of(pid)?, args.trim().to_string()))
        })
        .collect()
}

/// Where tmux keeps its sockets for this user.
fn tmux_socket_dir() -> PathBuf {
    let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
    PathBuf::from(dir).join(format!("tmux-{}", nix::unistd::Uid::current()))
}

/// `s` quoted for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    shlex::try_quote(s)
        .expect("a test string holds no NUL byte")
        .into_owned()
}

fn shared_config_home() -> PathBuf {
    let dir = repo_root().join("target/test-opencode-config");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Merges `more` into `base`: objects key by key, anything else replaced.
fn merge_json(base: &mut Value, more: &Value) {
    match (base, more) {
        (Value::Object(b), Value::Object(m)) => {
            for (k, v) in m {
                merge_json(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, m) => *b = m.clone(),
    }
}

/// Lines of a child's standard output, each with when it arrived, read on a thread of their
/// own until the output ends or nobody listens.
pub fn timed_lines(
    child: &mut std::process::Child,
) -> std::sync::mpsc::Receiver<(Instant, String)> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// A script whose first user message contains `marker`.
pub fn script(marker: &str) -> Script {
    Script::new(marker).matching(marker)
}

/// The session's `tokens` object as (input, output).
pub fn tokens(s: &Value) -> (u64, u64) {
    (
        s["tokens"]["input"].as_u64().unwrap_or(0),
        s["tokens"]["output"].as_u64().unwrap_or(0),
    )
}

/// The directory a session works in, from its `ao status --json` entry.
pub fn workspace_of(s: &Value) -> PathBuf {
    PathBuf::from(s["workspace"].as_str().expect("workspace"))
}

/// The error `ao status --json` gives a session: (name, message), empty when it has none.
pub fn error_of(s: &Value) -> (String, String) {
    (
        s["error"]["name"].as_str().unwrap_or_default().to_string(),
        s["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// The JSON cost, asserting it equals `expected` to within float rounding.
pub fn assert_cost(s: &Value, expected: f64) {
    let cost = s["cost_usd"].as_f64().expect("cost_usd");
    assert!(
        (cost - expected).abs() < 1e-12,
        "cost_usd {cost} != {expected} for {}",
        s["id"]
    );
}

/// Configs and programs beyond the default world: custom config text, a PATH without some tool.
impl World {
    /// Replaces the config file with `text`, for tests of config forms and options the default
    /// config does not use. Projects must still be added with [`World::project`] first, so that
    /// the world stops their servers when dropped.
    pub fn set_config_text(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config");
        self.trust_config();
    }

    /// The OpenCode provider config (JSON, which is YAML too) that points at this world's mock
    /// model, for `opencodeConfig:` in custom config text.
    pub fn provider_config(&self) -> String {
        ao_mock_model::opencode_provider_config(&self.mock.base_url()).to_string()
    }

    /// A directory of symlinks to the given programs (found on the current PATH) and nothing
    /// else, to stand in for `PATH` on a machine without some tool.
    pub fn path_with_only(&self, programs: &[&str]) -> PathBuf {
        let dir = self.root().join("limited-path");
        std::fs::create_dir_all(&dir).expect("mkdir limited-path");
        let path = std::env::var_os("PATH").unwrap_or_default();
        for program in programs {
            let found = std::env::split_paths(&path)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
                .unwrap_or_else(|| panic!("{program} is not on PATH"));
            let link = dir.join(program);
            if !link.exists() {
                std::os::unix::fs::symlink(&found, &link).expect("symlink");
            }
        }
        dir
    }
}

/// Runs `git` in `dir` with a fixed identity, asserting success; returns its standard output.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tmux list-sessions` on `socket` with its sockets under `tmpdir` instead of the usual place.
    fn list_sessions(tmpdir: &Path, socket: &str) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.env("TMUX_TMPDIR", tmpdir).args([
            "-L",
            socket,
            "list-sessions",
            "-F",
            "#{session_name}",
        ]);
        cmd
    }

    #[test]
    fn tmux_lines_are_none_when_no_server_runs_on_the_socket() {
        let tmpdir = tempfile::tempdir().expect("temp dir");
        // No socket file: no server was ever started there.
        assert!(tmux_lines(list_sessions(tmpdir.path(), "never"), "never").is_empty());
        // A socket file nothing listens on: what a killed server leaves behind. tmux made the
        // directory in the call above.
        let dir = tmpdir
            .path()
            .join(format!("tmux-{}", nix::unistd::Uid::current()));
        drop(std::os::unix::net::UnixListener::bind(dir.join("gone")).expect("bind"));
        assert!(tmux_lines(list_sessions(tmpdir.path(), "gone"), "gone").is_empty());
    }

    #[test]
    #[should_panic(expected = "couldn't create directory")]
    fn tmux_lines_panic_with_tmuxs_message_when_the_socket_directory_is_unusable() {
        // A file where tmux wants to make its socket directory.
        let tmpdir = tempfile::tempdir().expect("temp dir");
        let file = tmpdir.path().join("not-a-directory");
        std::fs::write(&file, "").expect("write");
        tmux_lines(list_sessions(&file, "x"), "x");
    }

    #[test]
    #[should_panic(expected = "cannot run")]
    fn tmux_lines_panic_when_tmux_is_missing() {
        let mut cmd = Command::new("tmux");
        cmd.env("PATH", "/nonexistent")
            .args(["-L", "x", "list-sessions"]);
        tmux_lines(cmd, "x");
    }
}
