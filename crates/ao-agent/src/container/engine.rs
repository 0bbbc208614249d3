//! The engine's command line: which one, how it is run, and what its failures mean.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::settings::EngineKind;

/// How long one engine command may take before it counts as hanging (a docker daemon that
/// accepts and never answers, a podman waiting on a lock). `run` of a new container and `stop`
/// take longer and say so.
pub const ENGINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure of a container operation, by whose it is.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No engine program: the one named, or neither podman nor docker on PATH.
    #[error("{}", missing_message(*.wanted))]
    EngineMissing {
        /// The engine the config named, if it named one.
        wanted: Option<EngineKind>,
    },
    /// The docker client runs but cannot reach its daemon.
    #[error(
        "the docker daemon is not running ({message}); start it (e.g. `systemctl start docker`)"
    )]
    DaemonDown {
        /// What the client said.
        message: String,
    },
    /// The image is not on this machine; ao never pulls one by itself.
    #[error("the image {image} is not on this machine; pull it first: {engine} pull {image}")]
    ImageMissing {
        /// The engine.
        engine: EngineKind,
        /// The image, as the config names it.
        image: String,
    },
    /// The container is not there (removed, or never made).
    #[error("the container {name} is gone")]
    Gone {
        /// Its name.
        name: String,
    },
    /// The engine ran the command and it failed.
    #[error("{engine} {action} failed: {message}")]
    Failed {
        /// The engine.
        engine: EngineKind,
        /// What was being done: `run`, `stop`, `inspect`, ...
        action: String,
        /// What the engine said.
        message: String,
    },
    /// What was asked cannot be done this way (`network: none` with a published port, a rootfs
    /// with docker): the person's config, said with what to change.
    #[error("{0}")]
    Refused(String),
    /// A file of ao's (a container's variables under the state home) could not be written.
    #[error("{0}")]
    Local(String),
    /// The container's `env` or `mounts` come from a config file that is not trusted.
    #[error(transparent)]
    Untrusted(#[from] crate::trust::Untrusted),
}

/// A container failure as an agent's callers match on it: the person's to fix (exit 2) when the
/// config or a missing image is the cause.
impl From<ContainerError> for crate::agent::AgentError {
    fn from(e: ContainerError) -> Self {
        use crate::agent::AgentError;
        match e {
            ContainerError::Untrusted(u) => AgentError::Untrusted(u),
            ContainerError::Refused(_) | ContainerError::ImageMissing { .. } => {
                AgentError::Refused(e.to_string())
            }
            ContainerError::DaemonDown { .. } | ContainerError::Gone { .. } => {
                AgentError::Unreachable(e.to_string())
            }
            ContainerError::EngineMissing { .. }
            | ContainerError::Failed { .. }
            | ContainerError::Local(_) => AgentError::Launch(e.to_string()),
        }
    }
}

fn missing_message(wanted: Option<EngineKind>) -> String {
    match wanted {
        Some(kind) => format!(
            "{kind} is not on PATH, and the project's `container.engine` names it; install it \
             (e.g. `apt-get install {}`), or name the other engine",
            match kind {
                EngineKind::Podman => "podman runc",
                EngineKind::Docker => "docker.io",
            }
        ),
        None => "neither podman nor docker is on PATH, and the project runs in a container; \
                 install one (e.g. `apt-get install podman runc`)"
            .into(),
    }
}

/// A container engine found on this machine: its kind, its program, and the options every call
/// of a project's gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    kind: EngineKind,
    program: PathBuf,
    /// Podman's global `--runtime`, so that every command (not only `run`) uses the same one.
    runtime: Option<String>,
}

impl Engine {
    /// The engine a project's `container:` names (or the first on PATH), with its runtime.
    pub fn for_settings(settings: &super::ContainerSettings) -> Result<Engine, ContainerError> {
        Ok(Engine::on_path(settings.engine)?.with_runtime(settings.runtime.clone()))
    }

    /// Finds the engine: `wanted`, else podman when it is on PATH, else docker.
    pub fn on_path(wanted: Option<EngineKind>) -> Result<Engine, ContainerError> {
        let order: &[EngineKind] = match wanted {
            Some(kind) => &[kind][..],
            None => &[EngineKind::Podman, EngineKind::Docker],
        };
        order
            .iter()
            .find_map(|kind| {
                let program = which::which(kind.program()).ok()?;
                Some(Engine {
                    kind: *kind,
                    program,
                    runtime: None,
                })
            })
            .ok_or(ContainerError::EngineMissing { wanted })
    }

    /// An engine at a given program (tests, a program off PATH).
    pub fn at(kind: EngineKind, program: impl Into<PathBuf>) -> Engine {
        Engine {
            kind,
            program: program.into(),
            runtime: None,
        }
    }

    /// The same engine with the OCI runtime `runtime` (`container.runtime`).
    pub fn with_runtime(mut self, runtime: Option<String>) -> Engine {
        self.runtime = runtime;
        self
    }

    /// Podman or docker.
    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// The engine's program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The OCI runtime it is told to use, if any.
    pub fn runtime(&self) -> Option<&str> {
        self.runtime.as_deref()
    }

    /// The engine's command with the options every call shares, then `args`.
    pub(super) fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.program);
        if let (EngineKind::Podman, Some(runtime)) = (self.kind, &self.runtime) {
            cmd.arg("--runtime").arg(runtime);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs the engine with `args` within `timeout`; its output, or the failure it means. `action`
    /// names it in errors.
    pub(super) fn run(
        &self,
        action: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<Output, ContainerError> {
        let child = self.command(args).spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ContainerError::EngineMissing {
                    wanted: Some(self.kind),
                }
            } else {
                self.failed(
                    action,
                    format!("cannot run {}: {e}", self.program.display()),
                )
            }
        })?;
        let out = wait_with_deadline(child, timeout).map_err(|why| self.failed(action, why))?;
        Ok(out)
    }

    /// Like [`run`](Self::run), but a non-zero exit is an error: the engine's own words, sorted
    /// into a daemon that is down, a container that is gone, or a plain failure.
    pub(super) fn run_ok(
        &self,
        action: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<Output, ContainerError> {
        let out = self.run(action, args, timeout)?;
        if out.status.success() {
            return Ok(out);
        }
        Err(self.classify(action, &out))
    }

    /// What a failed command's standard error means.
    pub(super) fn classify(&self, action: &str, out: &Output) -> ContainerError {
        let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if self.kind == EngineKind::Docker && daemon_down(&message) {
            return ContainerError::DaemonDown { message };
        }
        self.failed(action, message)
    }

    pub(super) fn failed(&self, action: &str, message: String) -> ContainerError {
        ContainerError::Failed {
            engine: self.kind,
            action: action.to_string(),
            message,
        }
    }
}

/// Whether the docker client's words say its daemon cannot be reached.
fn daemon_down(stderr: &str) -> bool {
    stderr.contains("Cannot connect to the Docker daemon")
        || stderr.contains("Is the docker daemon running")
        || stderr.contains("error during connect")
}

/// Whether an engine's words say the thing named does not exist (podman: `no such container`,
/// `no container with name or ID`, `no such volume`; docker: `No such container`).
pub(super) fn says_no_such(stderr: &[u8]) -> bool {
    let text = String::from_utf8_lossy(stderr).to_ascii_lowercase();
    text.contains("no such")
        || text.contains("no container with name")
        || text.contains("no volume with name")
}

/// Waits for `child` and collects its output, killing it after `timeout`. Output is read on
/// threads of its own, so a chatty engine never blocks on a full pipe.
fn wait_with_deadline(mut child: std::process::Child, timeout: Duration) -> Result<Output, String> {
    use std::io::Read;
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
    };
    let stdout = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    )
    .map_err(|e| format!("cannot read the engine's output: {e}"))?;
    let stderr = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    )
    .map_err(|e| format!("cannot read the engine's output: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {}s", timeout.as_secs()));
            }
            Err(e) => return Err(format!("cannot wait for the engine: {e}")),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_sorted_by_what_the_engine_said() {
        let docker = Engine::at(EngineKind::Docker, "/bin/sh");
        let out = |stderr: &str| Output {
            status: std::os::unix::process::ExitStatusExt::from_raw(1 << 8),
            stdout: vec![],
            stderr: stderr.as_bytes().to_vec(),
        };
        let e = docker.classify(
            "ps",
            &out("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"),
        );
        assert!(matches!(e, ContainerError::DaemonDown { .. }), "{e}");
        assert!(e.to_string().contains("systemctl start docker"));
        let e = docker.classify("rm", &out("Error: boom"));
        assert_eq!(e.to_string(), "docker rm failed: Error: boom");
        assert!(says_no_such(
            b"Error: no container with name or ID \"x\" found: no such container"
        ));
        assert!(says_no_such(
            b"Error response from daemon: No such container: x"
        ));
        assert!(says_no_such(
            b"Error: no volume with name \"v\" found: no such volume"
        ));
        assert!(!says_no_such(b"Error: permission denied"));
    }

    #[test]
    fn a_missing_engine_says_what_to_install() {
        let e = ContainerError::EngineMissing { wanted: None };
        assert!(e.to_string().contains("apt-get install podman runc"), "{e}");
        let e = ContainerError::EngineMissing {
            wanted: Some(EngineKind::Docker),
        };
        assert!(e.to_string().starts_with("docker is not on PATH"), "{e}");
        assert!(matches!(
            Engine::at(EngineKind::Podman, "/surely/not/podman").run(
                "info",
                &[],
                Duration::from_secs(5)
            ),
            Err(ContainerError::EngineMissing { .. })
        ));
    }

    #[test]
    fn a_hanging_engine_is_cut_off() {
        let slow = Engine::at(EngineKind::Podman, "/bin/sh");
        let e = slow
            .run(
                "info",
                &["-c".into(), "sleep 5".into()],
                Duration::from_millis(100),
            )
            .unwrap_err();
        assert!(e.to_string().contains("no answer within"), "{e}");
    }
}
