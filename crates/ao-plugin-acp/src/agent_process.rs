//! Starting an ACP agent: the child whose stdin and stdout carry the protocol.
//!
//! The agent leads a process group of its own (`setpgid`), so that ending a session ends
//! everything the agent started; and it gets `PR_SET_PDEATHSIG = SIGKILL`, so that it dies with
//! the host that holds its stdio even when the host is SIGKILLed. Its stderr goes to a file (the
//! host's `agent.log`) or nowhere. [`probe`] starts an agent only to ask who it is (`ao doctor`).
//!
//! The death signal is tied to the thread that forks, not to the process: a host spawns the
//! agent from its runtime's main thread (ao runs a current-thread runtime), which lives as long as
//! the host does.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    ClientCapabilities, ElicitationCapabilities, ElicitationFormCapabilities, Implementation,
    InitializeRequest, InitializeResponse,
};
use agent_client_protocol::{ByteStreams, Client};
use ao_agent::runtime::process::ProcessIdentity;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt as _, TokioAsyncWriteCompatExt as _};

use crate::record::{AgentIdentity, ProcessRecord};

/// Why an agent could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// `command` is empty.
    #[error("the agent's command is empty")]
    NoCommand,
    /// The program is not there (or not on PATH).
    #[error("cannot find the agent's program `{program}` (is it installed and on PATH?)")]
    Missing {
        /// The program named.
        program: String,
    },
    /// The directory to run it in is not there.
    #[error("cannot start the agent in {}: no such directory", cwd.display())]
    NoCwd {
        /// The directory.
        cwd: PathBuf,
    },
    /// Anything else the operating system refused.
    #[error("cannot start the agent `{program}`: {source}")]
    Io {
        /// The program named.
        program: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// A started agent: the child (its group's leader) and the pipes that carry the protocol.
pub struct AgentProcess {
    /// The child, to wait for its exit.
    pub child: Child,
    /// Its pid and start time (the leader of its process group).
    pub identity: ProcessRecord,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
}

/// The protocol's transport over an agent's stdin (out) and stdout (in).
pub type AgentStreams = ByteStreams<Compat<ChildStdin>, Compat<ChildStdout>>;

impl AgentProcess {
    /// Starts `command` (program and arguments) in `cwd` with `env` added to this process's
    /// environment, stdin and stdout piped, stderr appended to `stderr_log` (or discarded).
    ///
    /// Call it from the host's main thread (see the module's doc).
    pub fn spawn(
        command: &[String],
        env: &BTreeMap<String, String>,
        cwd: &Path,
        stderr_log: Option<&Path>,
    ) -> Result<AgentProcess, SpawnError> {
        let (program, args) = command.split_first().ok_or(SpawnError::NoCommand)?;
        // Checked first: a missing directory fails the spawn as NotFound, like a missing program.
        if !cwd.is_dir() {
            return Err(SpawnError::NoCwd {
                cwd: cwd.to_path_buf(),
            });
        }
        let io = |source| SpawnError::Io {
            program: program.clone(),
            source,
        };
        let stderr = match stderr_log {
            Some(log) => Stdio::from(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(log)
                    .map_err(io)?,
            ),
            None => Stdio::null(),
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(env)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(false);
        let parent = std::process::id();
        // SAFETY: only async-signal-safe calls (setpgid, prctl, getppid) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))
                    .map_err(std::io::Error::from)?;
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The host may have died between fork and prctl: then no signal comes.
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::other("the host ended while starting"));
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                // NotFound is the program's: the directory was checked above.
                SpawnError::Missing {
                    program: program.clone(),
                }
            } else {
                SpawnError::Io {
                    program: program.clone(),
                    source,
                }
            }
        })?;
        // Taken before anything waits for the child (after a wait it has no id). Never 0: a
        // later killpg(0) would signal the host's own group.
        let Some(pid) = child.id().filter(|pid| *pid != 0) else {
            return Err(SpawnError::Io {
                program: program.clone(),
                source: std::io::Error::other("the started agent has no process id"),
            });
        };
        // Read before anything can reap it; an agent that ended at once has start time 0, and
        // its exit is seen by whoever waits for `child`.
        let start_time = ProcessIdentity::of(pid)
            .map(|p| p.start_time)
            .unwrap_or_default();
        Ok(AgentProcess {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            child,
            identity: ProcessRecord { pid, start_time },
        })
    }

    /// The protocol's transport over the agent's pipes (once; `None` after).
    pub fn streams(&mut self) -> Option<AgentStreams> {
        let stdin = self.stdin.take()?;
        let stdout = self.stdout.take()?;
        Some(ByteStreams::new(stdin.compat_write(), stdout.compat()))
    }
}

/// Ends an agent's process group: SIGTERM, SIGKILL after `grace`; then SIGKILL to whatever of
/// the group is left. Blocks (call it through `ao_agent::blocking::unblock`).
pub fn end_group(agent: ProcessRecord, grace: Duration) {
    // Group 0 is the caller's own: never signal it.
    let Ok(group) = i32::try_from(agent.pid) else {
        return;
    };
    if group <= 0 {
        return;
    }
    ProcessIdentity {
        pid: agent.pid,
        start_time: agent.start_time,
    }
    .stop(grace);
    // The leader may have gone before its children (or been reaped already): the group id stays
    // valid while any member lives, and while it does no new process can take that pid. So
    // SIGKILL the group only when it still exists (signal 0 first), never a bare pid.
    let group = Pid::from_raw(group);
    if killpg(group, None).is_ok() {
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// What the host says of itself in `initialize`: protocol v1, no file system, no terminal; form
/// elicitation (the agent's questions, for `ao answer`), not URL elicitation (ao opens no browser).
pub fn initialize_request() -> InitializeRequest {
    InitializeRequest::new(ProtocolVersion::V1)
        .client_capabilities(
            ClientCapabilities::default().elicitation(
                ElicitationCapabilities::new().form(ElicitationFormCapabilities::new()),
            ),
        )
        .client_info(Implementation::new("ao", env!("CARGO_PKG_VERSION")))
}

/// The agent's name and version from `initialize`'s answer (name `unknown` when it gives none).
pub fn identity(response: &InitializeResponse) -> AgentIdentity {
    match &response.agent_info {
        Some(info) => AgentIdentity {
            name: info.name.clone(),
            version: info.version.clone(),
        },
        None => AgentIdentity {
            name: "unknown".into(),
            version: String::new(),
        },
    }
}

/// Starts the agent `command` in `cwd` with `env` added, runs `initialize`, and returns its name
/// and version; then ends its process group. A clear message when the program is missing, when
/// it ends, or when it does not answer within `timeout`.
pub async fn probe(
    command: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    timeout: Duration,
) -> Result<AgentIdentity, String> {
    let mut agent = AgentProcess::spawn(command, env, cwd, None).map_err(|e| e.to_string())?;
    let program = command.first().cloned().unwrap_or_default();
    let streams = agent
        .streams()
        .ok_or_else(|| "the agent's pipes are gone".to_string())?;
    let asked = Client.v1().name("ao").connect_with(streams, async |cx| {
        cx.send_request(initialize_request()).block_task().await
    });
    let answer = tokio::select! {
        answer = tokio::time::timeout(timeout, asked) => answer,
        status = agent.child.wait() => {
            // Its answer may have come with its exit; the protocol's error says more.
            let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            Ok(Err(agent_client_protocol::Error::internal_error()
                .data(serde_json::json!(format!("the agent ended ({status})")))))
        }
    };
    let record = agent.identity;
    ao_agent::blocking::unblock(move || end_group(record, Duration::from_millis(500))).await;
    let _ = agent.child.wait().await;
    match answer {
        Ok(Ok(response)) => Ok(identity(&response)),
        Ok(Err(e)) => Err(format!(
            "`{program}` did not answer initialize: {}",
            describe_error(&e)
        )),
        Err(_) => Err(format!(
            "`{program}` did not answer initialize within {} ms",
            timeout.as_millis()
        )),
    }
}

/// An SDK error as one line: its message, and its data when that says more.
pub fn describe_error(e: &agent_client_protocol::Error) -> String {
    match &e.data {
        Some(serde_json::Value::String(data)) => format!("{} ({data})", e.message),
        Some(serde_json::Value::Null) | None => e.message.clone(),
        Some(data) => format!("{} ({data})", e.message),
    }
}

/// Where a session's agent writes its stderr: `agent.log` beside the host's other files.
pub fn agent_log(files: &crate::record::HostFiles) -> PathBuf {
    files.dir().join("agent.log")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[tokio::test]
    async fn a_missing_program_is_named() {
        let err = probe(
            &argv(&["ao-no-such-agent-here", "acp"]),
            &BTreeMap::new(),
            Path::new("/"),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("cannot find the agent's program `ao-no-such-agent-here`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_missing_directory_is_not_a_missing_program() {
        let err = probe(
            &argv(&["sh"]),
            &BTreeMap::new(),
            Path::new("/no/such/dir/here"),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("/no/such/dir/here: no such directory"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_agent_that_never_answers_is_given_up_on_and_ended() {
        let started = std::time::Instant::now();
        let err = probe(
            &argv(&["sleep", "30"]),
            &BTreeMap::new(),
            Path::new("/"),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("did not answer initialize within 300 ms"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn an_agent_that_ends_at_once_says_so() {
        let err = probe(
            &argv(&["true"]),
            &BTreeMap::new(),
            Path::new("/"),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(err.contains("did not answer initialize"), "{err}");
    }

    #[tokio::test]
    async fn the_agent_leads_its_own_group_with_the_env_added() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("agent.log");
        let mut env = BTreeMap::new();
        env.insert("AO_TRY_WORD".to_string(), "hello".to_string());
        let mut agent = AgentProcess::spawn(
            &argv(&[
                "sh",
                "-c",
                "echo \"$AO_TRY_WORD $(pwd)\" >&2; exec sleep 30",
            ]),
            &env,
            dir.path(),
            Some(&log),
        )
        .unwrap();
        let pid = agent.identity.pid as i32;
        assert_eq!(
            nix::unistd::getpgid(Some(Pid::from_raw(pid))).unwrap(),
            Pid::from_raw(pid)
        );
        assert!(agent.identity.start_time > 0);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let identity = agent.identity;
        ao_agent::blocking::unblock(move || end_group(identity, Duration::from_secs(1))).await;
        let status = agent.child.wait().await.unwrap();
        assert!(!status.success());
        let said = std::fs::read_to_string(&log).unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(said.trim(), format!("hello {}", cwd.display()));
    }
}
