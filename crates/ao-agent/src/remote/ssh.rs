//! One multiplexed OpenSSH connection per host, through the system's `ssh`.
//!
//! Theory of operation. ao never speaks SSH itself: it runs `ssh`, so the person's keys, agent,
//! `~/.ssh/config` and known hosts apply as they do in their terminal. The first use of a host
//! starts a **master** (`ssh -M -N`, detached like a session's process, its control socket under
//! the state home's `ssh/`); everything after goes through that socket: commands (a `sh -c`
//! script, whose secrets come on standard input, never in an argument) and local port forwards
//! (`ssh -O forward -L 127.0.0.1:L:127.0.0.1:R`). The master is found again by its socket
//! (`ssh -O check`); one that died is started again by the next caller that needs it, under a
//! lock per host: two callers that started one each (the monitor and the dashboard) would remove
//! each other's socket and leave a master that nothing finds.
//! `BatchMode=yes` keeps ssh from ever asking a question on ao's terminal, and `ConnectTimeout`
//! bounds how long an unreachable host can hold up a caller.
//!
//! `AO_SSH_CONFIG` names an ssh config file to use instead of ssh's default (which ssh finds
//! through the password database, not `$HOME`).
//!
//! Everything here blocks; async callers go through [`crate::blocking::unblock`].

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::home::StateHome;
use crate::runtime::process::{spawn_detached, ProcessIdentity};
use crate::runtime::LaunchSpec;

use super::SshDestination;
use crate::trust::Gated;

/// How long ssh may take to connect to a host before it counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A failure to reach a host or to run something there.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The host cannot be reached (or ssh cannot log in): the connection failed.
    #[error("cannot reach {host} over ssh: {message}")]
    Unreachable {
        /// The destination.
        host: String,
        /// What ssh said.
        message: String,
    },
    /// A command ran there and failed.
    #[error("on {host}: {message}")]
    Failed {
        /// The destination.
        host: String,
        /// What the command said.
        message: String,
    },
    /// `ssh` itself could not be run, or a local file of ao's could not be used.
    #[error("{0}")]
    Local(String),
    /// The host comes from a config file that is not trusted: ssh is not run.
    #[error(transparent)]
    Untrusted(#[from] crate::trust::Untrusted),
}

/// A host reached through its multiplexed connection.
#[derive(Debug, Clone)]
pub struct SshHost {
    destination: String,
    control_path: PathBuf,
    log: PathBuf,
    dir: PathBuf,
    id: String,
}

impl SshHost {
    /// The connection to `destination`, whose control socket and log live in the state home.
    /// Opens nothing; refused when the destination's config file is not trusted (every ssh that
    /// ao runs goes through an `SshHost`).
    pub fn new(home: &StateHome, destination: &Gated<SshDestination>) -> Result<SshHost, SshError> {
        let destination = destination.permit()?;
        let dir = home.root().join("ssh");
        crate::home::create_private_dir(&dir)
            .map_err(|e| SshError::Local(format!("cannot create {}: {e}", dir.display())))?;
        // A Unix socket's path has a short limit (108 bytes): a fixed-length name, not the host's.
        let id = fnv(destination.as_str());
        Ok(SshHost {
            destination: destination.as_str().to_string(),
            control_path: dir.join(format!("{id}.sock")),
            log: dir.join(format!("{id}.log")),
            dir,
            id,
        })
    }

    /// The destination, as the config names it.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// `ssh` with the options every call shares.
    fn ssh(&self) -> Command {
        let mut cmd = Command::new("ssh");
        if let Some(config) = std::env::var_os("AO_SSH_CONFIG").filter(|v| !v.is_empty()) {
            cmd.arg("-F").arg(config);
        }
        cmd.arg("-o")
            .arg("BatchMode=yes")
            .arg("-o")
            .arg(format!("ConnectTimeout={}", CONNECT_TIMEOUT.as_secs()))
            .arg("-o")
            .arg(format!("ControlPath={}", self.control_path.display()));
        cmd
    }

    /// The pid of the running master, if there is one (`ssh -O check`).
    pub fn master(&self) -> Option<u32> {
        if !self.control_path.exists() {
            return None;
        }
        let out = self
            .ssh()
            .args(["-O", "check", &self.destination])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stderr);
        text.split("pid=")
            .nth(1)?
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }

    /// Takes the host's lock `what` (`master`, or a caller's own name such as `tunnel`), waiting
    /// until it is free; the kernel drops it with the returned file, or the process.
    pub fn lock(&self, what: &str) -> Result<nix::fcntl::Flock<std::fs::File>, SshError> {
        let path = self.dir.join(format!("{}.{what}.lock", self.id));
        crate::home::lock_file(&path)
            .map_err(|e| SshError::Local(format!("cannot lock {}: {e}", path.display())))
    }

    /// The master's process, started when none runs. Fails with what ssh said when the host
    /// cannot be reached within [`CONNECT_TIMEOUT`].
    pub fn connect(&self) -> Result<ProcessIdentity, SshError> {
        if let Some(id) = self.master().and_then(ProcessIdentity::of) {
            return Ok(id);
        }
        let _lock = self.lock("master")?;
        // Another caller may have started one while this one waited.
        if let Some(id) = self.master().and_then(ProcessIdentity::of) {
            return Ok(id);
        }
        // A socket left by a master that died would make the new one refuse to start.
        let _ = std::fs::remove_file(&self.control_path);
        let offset = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let cmd = self.ssh();
        let mut args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        args.extend(
            [
                "-M",
                "-N",
                "-o",
                "ControlPersist=no",
                "-o",
                "ExitOnForwardFailure=yes",
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                &self.destination,
            ]
            .map(String::from),
        );
        let spec = LaunchSpec {
            program: PathBuf::from("ssh"),
            args,
            cwd: std::env::temp_dir(),
            env: vec![],
            stdin_file: None,
        };
        let id = spawn_detached(&spec, &self.log).map_err(|e| {
            if which::which("ssh").is_err() {
                return SshError::Local(format!(
                    "cannot run ssh ({e}); install the OpenSSH client"
                ));
            }
            // ssh ran and gave up at once (a refused connection, say): what it said is in its log.
            SshError::Unreachable {
                host: self.destination.clone(),
                message: log_since(&self.log, offset),
            }
        })?;
        let deadline = Instant::now() + CONNECT_TIMEOUT + Duration::from_secs(1);
        loop {
            if self.control_path.exists() && self.master() == Some(id.pid) {
                return Ok(id);
            }
            if !id.is_alive() {
                return Err(SshError::Unreachable {
                    host: self.destination.clone(),
                    message: log_since(&self.log, offset),
                });
            }
            if Instant::now() > deadline {
                id.stop(Duration::from_secs(1));
                return Err(SshError::Unreachable {
                    host: self.destination.clone(),
                    message: format!("no connection within {}s", CONNECT_TIMEOUT.as_secs()),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs `script` with `sh -c` on the host (through the master, which must run), `args` as its
    /// `$1…`, `stdin` on its standard input. Secrets go in `stdin`: the script and its arguments
    /// are on a command line there.
    pub fn run(&self, script: &str, args: &[&str], stdin: &[u8]) -> Result<Output, SshError> {
        // ssh hands the remote login shell one string: every word is quoted for it.
        let mut words = vec![
            "sh".to_string(),
            "-c".to_string(),
            quote(script)?,
            "sh".to_string(),
        ];
        for a in args {
            words.push(quote(a)?);
        }
        let mut child = self
            .ssh()
            .arg("-T")
            .arg(&self.destination)
            .arg("--")
            .arg(words.join(" "))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SshError::Local(format!("cannot run ssh: {e}")))?;
        if let Some(mut input) = child.stdin.take() {
            use std::io::Write;
            let _ = input.write_all(stdin);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| SshError::Local(format!("ssh: {e}")))?;
        // 255 is ssh's own failure: the connection, not the command.
        if out.status.code() == Some(255) {
            return Err(SshError::Unreachable {
                host: self.destination.clone(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(out)
    }

    /// Like [`run`](Self::run), but a non-zero exit is an error with what the script printed on
    /// standard error; returns its standard output.
    pub fn run_ok(&self, script: &str, args: &[&str], stdin: &[u8]) -> Result<String, SshError> {
        let out = self.run(script, args, stdin)?;
        if !out.status.success() {
            return Err(SshError::Failed {
                host: self.destination.clone(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Forwards `127.0.0.1:local` here to `127.0.0.1:remote` on the host, through the master.
    pub fn forward(&self, local: u16, remote: u16) -> Result<(), SshError> {
        let spec = format!("127.0.0.1:{local}:127.0.0.1:{remote}");
        let out = self
            .ssh()
            .args(["-O", "forward", "-L", &spec, &self.destination])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| SshError::Local(format!("cannot run ssh: {e}")))?;
        if !out.status.success() {
            return Err(SshError::Unreachable {
                host: self.destination.clone(),
                message: format!(
                    "the port forward {spec} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(())
    }

    /// Cancels the forward of `127.0.0.1:local` to `remote`, freeing the local port; nothing when
    /// there is no such forward.
    pub fn cancel_forward(&self, local: u16, remote: u16) {
        let spec = format!("127.0.0.1:{local}:127.0.0.1:{remote}");
        let _ = self
            .ssh()
            .args(["-O", "cancel", "-L", &spec, &self.destination])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Ends the master, and with it every forward it carries (`ssh -O exit`); nothing when none
    /// runs.
    pub fn close(&self) {
        if self.master().is_some() {
            let _ = self
                .ssh()
                .args(["-O", "exit", &self.destination])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// The master's log, for `ao doctor` and error messages.
    pub fn log(&self) -> &Path {
        &self.log
    }
}

/// A port on 127.0.0.1 that is free now (the kernel's pick), for the local end of a forward.
pub fn free_local_port() -> Result<u16, SshError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| SshError::Local(format!("cannot find a free local port: {e}")))
}

/// Whether a port on 127.0.0.1 is free to listen on.
pub fn local_port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn quote(word: &str) -> Result<String, SshError> {
    shlex::try_quote(word)
        .map(|q| q.into_owned())
        .map_err(|_| SshError::Local(format!("{word:?} cannot be passed to a shell (a NUL byte)")))
}

/// A stable 64-bit FNV-1a hash, in hex.
pub fn fnv(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn log_since(log: &Path, offset: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.read_to_string(&mut text);
        }
    }
    let text = text.trim();
    if text.is_empty() {
        "ssh exited".into()
    } else {
        text.to_string()
    }
}
