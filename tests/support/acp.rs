//! ACP sessions in a test's world: projects whose agent is `acp` (the scripted fake agent, or
//! `opencode acp` on the mock model) beside OpenCode ones, the host's record of a session
//! (`<session dir>/acp/state.json`), and the processes a host and its agent leave, found by pid.
//!
//! An [`AcpWorld`] is a [`World`] (it derefs to one) that writes the config itself: the world's
//! own config writer knows OpenCode projects only. Its projects are still made with
//! [`World::project`], so that the world cleans up after them; when dropped it also stops every
//! host and agent process that a session's record names, before the world does the rest.

use std::path::PathBuf;
use std::time::Duration;

use ao_core::runtime::process::ProcessIdentity;
use serde_json::{json, Value};

use crate::{opencode_bin, tokens, wait_until, Scenario, World};

/// The scripted ACP agent built beside `ao` (`tests/support/fake_acp_agent.rs`).
pub fn fake_agent_bin() -> PathBuf {
    let bin = crate::ao_bin().with_file_name("fake-acp-agent");
    assert!(
        bin.exists(),
        "{} is missing: build the test binaries (`cargo build --workspace --bins --tests`)",
        bin.display()
    );
    bin
}

/// `s` as a YAML scalar that means exactly `s`: a JSON string (JSON's escapes are YAML's).
pub fn yaml_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string is JSON")
}

/// `agentConfig` lines of a project whose agent is the fake ACP agent, with these variables in
/// its environment (`FAKE_ACP_NO_LOAD`, `FAKE_ACP_DATA`, ...) and `more` lines
/// (`permission: ...`, `price: ...`).
pub fn fake_agent_config(env: &[(&str, &str)], more: &[&str]) -> Vec<String> {
    fake_agent_config_with_args(&[], env, more)
}

/// As [`fake_agent_config`], with arguments after the program (`--silent-init`: a command of
/// its own, which `ao doctor` checks apart from the plain one).
pub fn fake_agent_config_with_args(
    args: &[&str],
    env: &[(&str, &str)],
    more: &[&str],
) -> Vec<String> {
    let mut argv = vec![yaml_string(&fake_agent_bin().to_string_lossy())];
    argv.extend(args.iter().map(|a| yaml_string(a)));
    let mut lines = vec![format!("command: [{}]", argv.join(", "))];
    lines.extend(env_lines(
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    ));
    lines.extend(more.iter().map(|l| l.to_string()));
    lines
}

fn env_lines(env: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let vars: Vec<String> = env
        .into_iter()
        .map(|(k, v)| format!("  {k}: {}", yaml_string(&v)))
        .collect();
    if vars.is_empty() {
        return vars;
    }
    let mut lines = vec!["env:".to_string()];
    lines.extend(vars);
    lines
}

/// One project of an [`AcpWorld`]'s config.
enum Entry {
    /// `agent: acp`, with these `agentConfig` lines.
    Acp(Vec<String>),
    /// An OpenCode project on the mock model, with these extra `agentConfig` lines.
    OpenCode(Vec<String>),
    /// `agent: <preset>` (`claude`, `codex`), with these `agentConfig` lines.
    Preset(&'static str, Vec<String>),
}

/// A world whose config holds ACP projects (and OpenCode ones beside them).
pub struct AcpWorld {
    world: World,
    entries: Vec<(String, Entry)>,
    defaults: Vec<String>,
    /// Each project's lines beside `agent` (`budget: ...`), by project name.
    project_lines: std::collections::BTreeMap<String, Vec<String>>,
}

impl std::ops::Deref for AcpWorld {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

impl std::ops::DerefMut for AcpWorld {
    fn deref_mut(&mut self) -> &mut World {
        &mut self.world
    }
}

impl AcpWorld {
    /// A world whose mock model plays `scenario` (for `opencode acp` and OpenCode projects).
    pub fn new(scenario: Scenario) -> AcpWorld {
        AcpWorld {
            world: World::new(scenario),
            entries: Vec::new(),
            defaults: Vec::new(),
            project_lines: Default::default(),
        }
    }

    /// Adds a project (a git repository) whose agent is `acp`, with these `agentConfig` lines
    /// (see [`fake_agent_config`], [`AcpWorld::opencode_acp_config`]).
    pub fn acp_project(&mut self, name: &str, agent_config: Vec<String>) -> PathBuf {
        let dir = self.world.project(name, &[]);
        self.entries
            .push((name.to_string(), Entry::Acp(agent_config)));
        self.write_config();
        dir
    }

    /// Adds a project (a git repository) whose agent is the preset `agent` (`claude`, `codex`),
    /// with these `agentConfig` lines.
    pub fn agent_project(
        &mut self,
        name: &str,
        agent: &'static str,
        agent_config: Vec<String>,
    ) -> PathBuf {
        let dir = self.world.project(name, &[]);
        self.entries
            .push((name.to_string(), Entry::Preset(agent, agent_config)));
        self.write_config();
        dir
    }

    /// Adds an OpenCode project on the mock model, with extra `agentConfig` lines as
    /// [`World::project`] takes them.
    pub fn opencode_project(&mut self, name: &str, agent_config: &[&str]) -> PathBuf {
        let dir = self.world.project(name, &[]);
        let lines = agent_config.iter().map(|l| l.to_string()).collect();
        self.entries
            .push((name.to_string(), Entry::OpenCode(lines)));
        self.write_config();
        dir
    }

    /// Replaces an ACP (or preset) project's `agentConfig` lines and rewrites the config.
    pub fn set_acp_config(&mut self, name: &str, agent_config: Vec<String>) {
        let entry = self
            .entries
            .iter_mut()
            .find(|(n, _)| n == name)
            .expect("a project of this world");
        entry.1 = match entry.1 {
            Entry::Preset(agent, _) => Entry::Preset(agent, agent_config),
            _ => Entry::Acp(agent_config),
        };
        self.write_config();
    }

    /// Sets a project's own lines beside `agent` (`budget: {sessionUsd: 0.1}`, one YAML line
    /// each) and rewrites the config.
    pub fn set_project_lines(&mut self, name: &str, lines: &[&str]) {
        let lines = lines.iter().map(|l| l.to_string()).collect();
        self.project_lines.insert(name.to_string(), lines);
        self.write_config();
    }

    /// Sets the config's `defaults` (one YAML line each) and rewrites the config.
    pub fn set_defaults(&mut self, lines: &[&str]) {
        self.defaults = lines.iter().map(|l| l.to_string()).collect();
        self.write_config();
    }

    /// The config text: the defaults, then each project as added.
    pub fn config_text(&self) -> String {
        let mut text = crate::defaults_block(&self.defaults);
        text.push_str("projects:\n");
        for (name, entry) in &self.entries {
            text.push_str(&format!("  - name: {name}\n    path: projects/{name}\n"));
            for line in self.project_lines.get(name).into_iter().flatten() {
                text.push_str(&format!("    {line}\n"));
            }
            match entry {
                Entry::Acp(lines) | Entry::Preset(_, lines) => {
                    let agent = match entry {
                        Entry::Preset(agent, _) => agent,
                        _ => "acp",
                    };
                    text.push_str(&format!("    agent: {agent}\n    agentConfig:\n"));
                    for line in lines {
                        text.push_str(&format!("      {line}\n"));
                    }
                }
                Entry::OpenCode(lines) => {
                    text.push_str("    agentConfig:\n      model: mock/mock-1\n");
                    for line in lines {
                        text.push_str(&format!("      {line}\n"));
                    }
                    text.push_str(&format!(
                        "      opencodeConfig: {}\n",
                        self.world.provider_config()
                    ));
                }
            }
        }
        text
    }

    fn write_config(&self) {
        self.world.set_config_text(&self.config_text());
    }

    /// `agentConfig` lines of a project whose agent is `opencode acp --pure` (the pinned OpenCode) on
    /// the mock model: OpenCode's whole config in `OPENCODE_CONFIG_CONTENT` (the mock provider,
    /// model `mock/mock-1`, `opencode` merged over it, e.g. `{"permission": {"bash": "ask"}}`),
    /// and OpenCode's homes isolated as the suite does for OpenCode; then `more` lines.
    pub fn opencode_acp_config(&self, opencode: Value, more: &[&str]) -> Vec<String> {
        let mut config = ao_mock_model::opencode_provider_config(&self.world.mock.base_url());
        config["model"] = json!("mock/mock-1");
        merge(&mut config, &opencode);
        let root = self.world.root();
        // --pure: no external plugins, as the suite runs OpenCode (AO_OPENCODE_PURE).
        let mut lines = vec![format!(
            "command: [{}, acp, \"--pure\"]",
            yaml_string(&opencode_bin().to_string_lossy())
        )];
        let path = |p: &str| root.join(p).to_string_lossy().into_owned();
        lines.extend(env_lines([
            ("OPENCODE_CONFIG_CONTENT".to_string(), config.to_string()),
            ("XDG_DATA_HOME".to_string(), path("xdg/data")),
            ("XDG_STATE_HOME".to_string(), path("xdg/state")),
            ("XDG_CACHE_HOME".to_string(), path("xdg/cache")),
            (
                "XDG_CONFIG_HOME".to_string(),
                crate::repo_root()
                    .join("target/test-opencode-config")
                    .to_string_lossy()
                    .into_owned(),
            ),
            ("OPENCODE_DISABLE_MODELS_FETCH".to_string(), "1".to_string()),
            ("OPENCODE_DISABLE_LSP_DOWNLOAD".to_string(), "1".to_string()),
            ("OPENCODE_DISABLE_AUTOUPDATE".to_string(), "1".to_string()),
        ]));
        lines.extend(more.iter().map(|l| l.to_string()));
        lines
    }

    /// A session's private directory (`<AO_HOME>/sessions/<project>/<name>`).
    pub fn session_dir(&self, id: &str) -> PathBuf {
        let (project, name) = id.split_once('/').expect("project/name");
        self.world.home().join("sessions").join(project).join(name)
    }

    /// The host's record of a session (`acp/state.json`), if it wrote one.
    pub fn host_record(&self, id: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.session_dir(id).join("acp/state.json")).ok()?;
        Some(
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("the state.json of {id} is not JSON ({e}): {text}")),
        )
    }

    /// The agent's process as the host recorded it, waiting (20 s) for the record.
    pub fn agent_process(&self, id: &str) -> ProcessIdentity {
        self.recorded_process(id, "agent_process")
    }

    /// The host's own process as it recorded it, waiting (20 s) for the record.
    pub fn host_process(&self, id: &str) -> ProcessIdentity {
        self.recorded_process(id, "host")
    }

    fn recorded_process(&self, id: &str, field: &str) -> ProcessIdentity {
        wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
            self.host_record(id)
                .and_then(|r| process_of(&r[field]))
                .ok_or_else(|| {
                    format!(
                        "the host of {id} recorded no {field}: {:?}",
                        self.host_record(id)
                    )
                })
        })
    }

    /// What the agent wrote on its standard error (`acp/agent.log`), for a failure's message.
    pub fn agent_log(&self, id: &str) -> String {
        std::fs::read_to_string(self.session_dir(id).join("acp/agent.log")).unwrap_or_default()
    }

    /// Every host and agent process that a session's record names.
    fn recorded_processes(&self) -> Vec<ProcessIdentity> {
        let mut found = Vec::new();
        let Ok(projects) = std::fs::read_dir(self.world.home().join("sessions")) else {
            return found;
        };
        for project in projects.flatten() {
            let Ok(sessions) = std::fs::read_dir(project.path()) else {
                continue;
            };
            for session in sessions.flatten() {
                let file = session.path().join("acp/state.json");
                let Some(record) = std::fs::read_to_string(file)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                else {
                    continue;
                };
                found.extend(process_of(&record["host"]));
                found.extend(process_of(&record["agent_process"]));
            }
        }
        found
    }
}

impl Drop for AcpWorld {
    fn drop(&mut self) {
        // Hosts first (they would restart nothing, but end their agents cleanly), then any agent
        // whose host is gone; each only if it is still the recorded process. The world's own
        // drop then stops what its records name, and what still works in its directory.
        for p in self.recorded_processes() {
            if p.is_alive() {
                let pid = nix::unistd::Pid::from_raw(p.pid as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                // An agent leads its own group: its children go with it.
                let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// `ao spawn PROJECT PROMPT --runtime RUNTIME --name NAME`: the session's address.
pub fn spawn(w: &World, project: &str, name: &str, prompt: &str, runtime: &str) -> String {
    let id = w.spawn(&[project, prompt, "--runtime", runtime, "--name", name]);
    assert_eq!(id, format!("{project}/{name}"));
    id
}

/// Every token count of the session, exactly.
pub fn assert_tokens(s: &Value, input: u64, output: u64) {
    assert_eq!(
        s["tokens"],
        json!({"input": input, "output": output, "reasoning": 0, "cache_read": 0, "cache_write": 0}),
        "{s:#}"
    );
}

/// Waits (90 s) until the session is ready with these tokens (a later turn than the one it was
/// ready after).
pub fn wait_ready_with(w: &World, id: &str, input: u64, output: u64) -> Value {
    w.wait_for(id, Duration::from_secs(90), "ready after the turn", |s| {
        s["activity"] == "ready" && tokens(s) == (input, output)
    })
}

/// A `{pid, start_time}` record as a process identity.
pub fn process_of(v: &Value) -> Option<ProcessIdentity> {
    Some(ProcessIdentity {
        pid: u32::try_from(v["pid"].as_u64()?).ok()?,
        start_time: v["start_time"].as_u64()?,
    })
}

/// The processes of process group `pgid` still running (zombies not counted).
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            crate::proc_stat(*pid).is_some_and(|stat| stat.state != 'Z' && stat.pgrp == pgid)
        })
        .collect()
}

/// Waits until `process` has ended and no process of the group it led runs, failing after
/// `timeout` with what is left.
pub fn wait_gone(process: ProcessIdentity, what: &str, timeout: Duration) {
    wait_until(timeout, Duration::from_millis(50), || {
        let group = group_members(process.pid);
        if !process.is_alive() && group.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{what} (pid {}) is still there after {timeout:?} (alive: {}, its group: {group:?})",
                process.pid,
                process.is_alive()
            ))
        }
    })
}

/// Merges `more` into `base`: objects key by key, anything else replaced.
fn merge(base: &mut Value, more: &Value) {
    match (base, more) {
        (Value::Object(b), Value::Object(m)) => {
            for (k, v) in m {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, m) => *b = m.clone(),
    }
}

/// What the fake agent reports for a `say:` turn (input, output): `SAY_USAGE` in
/// `tests/support/fake_acp_agent.rs`.
pub const FAKE_SAY_USAGE: (u64, u64) = (100, 10);

/// The options of the fake agent's permission requests, in the order it offers them:
/// (id, name, kind), as `PERMISSION_OPTIONS` in `tests/support/fake_acp_agent.rs`.
pub const FAKE_PERMISSION_OPTIONS: [(&str, &str, &str); 4] = [
    ("fake-reject-always", "Never", "reject_always"),
    ("fake-allow-once", "Yes", "allow_once"),
    ("fake-reject-once", "No", "reject_once"),
    ("fake-allow-always", "Always", "allow_always"),
];

/// Runs two `ao` commands at once (two people answering the same request): exactly one must
/// succeed. Which one won (`true`: the first), and what the other wrote to its standard error.
pub fn race(w: &World, first: &[&str], second: &[&str]) -> (bool, String) {
    let start = |args: &[&str]| {
        w.ao_command(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start ao")
    };
    let (a, b) = (start(first), start(second));
    let outs = [
        a.wait_with_output().expect("the first ao"),
        b.wait_with_output().expect("the second ao"),
    ];
    let won: Vec<bool> = outs.iter().map(|o| o.status.success()).collect();
    assert_eq!(
        won.iter().filter(|w| **w).count(),
        1,
        "exactly one wins: {outs:?}"
    );
    let lost = if won[0] { &outs[1] } else { &outs[0] };
    (won[0], String::from_utf8_lossy(&lost.stderr).into_owned())
}

/// Waits until `id` waits on one permission request, for an `execute` call whose title is
/// `command`; checks its options with `options`; answers it with `ao permit <flag>`, and checks
/// what ao says it did (`verb`: `allowed once`, `rejected`).
pub fn permit_execute(
    w: &World,
    id: &str,
    command: &str,
    options: impl Fn(&Value),
    flag: &str,
    verb: &str,
) {
    let s = w.wait_activity(id, "waiting_input");
    let pending = s["pending"].as_array().expect("pending");
    assert_eq!(pending.len(), 1, "{s:#}");
    let p = &pending[0];
    assert_eq!(p["kind"], "permission", "{p}");
    assert_eq!(p["tool"], "execute", "{p}");
    assert_eq!(p["title"], command, "{p}");
    options(p);
    let request = p["id"].as_str().expect("the request's id");
    let out = w.ao_ok(&["permit", id, flag]);
    assert_eq!(out.trim(), format!("{id}: {verb}: {command} ({request})"));
}

/// The part of one session's story that every ACP agent's test tells alike. The session's script
/// answered its first prompt with `first_answer` (110 tokens in, 7 out), and answers "and again"
/// with "Hello again." (130/9) and "a third time" with "Third time." (150/11).
pub struct Story<'a> {
    /// The world.
    pub w: &'a AcpWorld,
    /// The session.
    pub id: &'a str,
    /// What the agent's program is called in messages (`claude-agent-acp`).
    pub agent: &'a str,
    /// The first turn's answer.
    pub first_answer: &'a str,
}

impl Story<'_> {
    /// A second turn adds to the first, and `ao logs` shows both; the session as it then is.
    pub fn second_turn(&self) -> Value {
        self.w.ao_ok(&["send", self.id, "and again"]);
        let s = wait_ready_with(self.w, self.id, 240, 16);
        let log = self.w.ao_ok(&["logs", self.id]);
        let first = format!("agent: {}", self.first_answer);
        for text in [first.as_str(), "you: and again", "agent: Hello again."] {
            assert!(log.contains(text), "{text:?} missing from:\n{log}");
        }
        s
    }

    /// `ao kill` ends the host and the agent; `ao restore` loads the same conversation
    /// (`session/load`) with a new agent, its history shown once and its tokens kept. The
    /// session once restored.
    pub fn kill_and_restore(&self) -> Value {
        let w = self.w;
        let before = w.session(self.id);
        let (host, agent) = (w.host_process(self.id), w.agent_process(self.id));
        w.ao_ok(&["kill", self.id]);
        let gone = Duration::from_secs(15);
        wait_gone(host, "the host after ao kill", gone);
        wait_gone(agent, &format!("{} after ao kill", self.agent), gone);
        let s = w.session(self.id);
        assert_eq!(
            (s["activity"].as_str(), s["process"].as_str()),
            (Some("exited"), Some("exited")),
            "{s:#}"
        );

        w.ao_ok(&["restore", self.id]);
        let s = w.wait_activity(self.id, "ready");
        assert_eq!(s["agent_session_id"], before["agent_session_id"]);
        assert_tokens(&s, 240, 16);
        assert_ne!(w.agent_process(self.id), agent, "a new agent process");
        let log = w.ao_ok(&["logs", self.id]);
        let first = format!("agent: {}", self.first_answer);
        assert_eq!(log.matches(first.as_str()).count(), 1, "{log}");
        s
    }

    /// A third turn after the restore goes on from the history; the session as it then is.
    pub fn third_turn(&self) -> Value {
        self.w.ao_ok(&["send", self.id, "a third time"]);
        let s = wait_ready_with(self.w, self.id, 390, 27);
        let log = self.w.ao_ok(&["logs", self.id]);
        let first = log
            .find(&format!("agent: {}", self.first_answer))
            .expect("turn 1");
        let third = log.find("agent: Third time.").expect("turn 3");
        assert!(first < third, "{log}");
        s
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    use super::*;

    #[test]
    fn the_config_holds_acp_projects_beside_opencode_ones() {
        let mut w = AcpWorld::new(Scenario::new());
        w.acp_project(
            "fake",
            fake_agent_config_with_args(&["--no-load"], &[("K", "a \"b\"")], &["permission: ask"]),
        );
        w.opencode_project("oc", &["permission: {bash: ask}"]);
        w.set_defaults(&["runtime: process"]);
        let bin = yaml_string(&fake_agent_bin().to_string_lossy());
        let expected = format!(
            "defaults:\n  runtime: process\nprojects:\n  - name: fake\n    path: projects/fake\n    \
             agent: acp\n    agentConfig:\n      command: [{bin}, \"--no-load\"]\n      env:\n        \
             K: \"a \\\"b\\\"\"\n      permission: ask\n  - name: oc\n    path: projects/oc\n    \
             agentConfig:\n      model: mock/mock-1\n      permission: {{bash: ask}}\n      \
             opencodeConfig: {}\n",
            w.provider_config()
        );
        assert_eq!(w.config_text(), expected);
        assert_eq!(std::fs::read_to_string(w.config_path()).unwrap(), expected);
        assert!(w.root().join("projects/fake/.git").is_dir());
    }

    #[test]
    fn opencode_acp_gets_its_config_and_isolated_homes_in_its_environment() {
        let w = AcpWorld::new(Scenario::new());
        let lines = w.opencode_acp_config(json!({"permission": {"bash": "ask"}}), &["x: 1"]);
        assert!(lines[0].ends_with(", acp, \"--pure\"]"), "{lines:?}");
        assert_eq!(lines[1], "env:");
        let content = lines
            .iter()
            .find_map(|l| l.strip_prefix("  OPENCODE_CONFIG_CONTENT: "))
            .expect("OPENCODE_CONFIG_CONTENT");
        let content: String = serde_json::from_str(content).unwrap();
        let config: Value = serde_json::from_str(&content).unwrap();
        assert_eq!(config["model"], "mock/mock-1");
        assert_eq!(config["permission"]["bash"], "ask");
        assert_eq!(
            config["provider"]["mock"]["options"]["baseURL"],
            w.mock.base_url().as_str()
        );
        let data = format!(
            "  XDG_DATA_HOME: {}",
            yaml_string(&w.root().join("xdg/data").to_string_lossy())
        );
        assert!(lines.contains(&data), "{lines:?}");
        assert_eq!(lines.last().unwrap(), "x: 1");
    }

    #[test]
    fn a_process_group_is_found_by_its_leader() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let leader = ProcessIdentity::of(child.id()).unwrap();
        assert_eq!(group_members(child.id()), vec![child.id()]);
        child.kill().unwrap();
        child.wait().unwrap();
        wait_gone(leader, "sleep", Duration::from_secs(5));
    }
}
