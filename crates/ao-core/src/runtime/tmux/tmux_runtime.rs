//! [`TmuxRuntime`]: the tmux runtime itself (see the module map, `runtime::tmux`, for its theory
//! of operation).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tmux_interface::{DisplayMessage, KillSession, ListPanes, NewSession, SetOption, Tmux};

use crate::runtime::interface::{AttachCommand, Runtime, RuntimeError};
use crate::runtime::process::ProcessIdentity;
use crate::session::RuntimeKind;
use ao_agent::runtime::{LaunchSpec, RuntimeHandle};

/// How long `destroy` gives a session's programs after SIGTERM before SIGKILL.
const DESTROY_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs programs in tmux sessions.
#[derive(Debug, Clone, Default)]
pub struct TmuxRuntime {
    pub(super) socket: Option<String>,
}

impl TmuxRuntime {
    /// A tmux runtime on the server named by `AO_TMUX_SOCKET`, or the default server.
    pub fn from_env() -> Self {
        TmuxRuntime::new(
            std::env::var("AO_TMUX_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
        )
    }

    /// A tmux runtime on the server with this `-L` socket name (`None`: the default server).
    pub fn new(socket: Option<String>) -> Self {
        TmuxRuntime { socket }
    }

    /// The handle `create` gives a session named `name`, whether or not it was created: what is
    /// left of a spawn that died before recording its handle is found by it.
    pub fn handle_for(&self, name: &str) -> RuntimeHandle {
        RuntimeHandle::Tmux {
            socket: self.socket.clone(),
            session: name.to_string(),
        }
    }

    pub(super) fn tmux(&self, socket: &Option<String>) -> Tmux<'static> {
        let tmux = Tmux::new();
        match socket {
            Some(s) => tmux.socket_name(s.clone()),
            None => tmux,
        }
    }

    pub(super) fn run(&self, tmux: Tmux<'_>) -> Result<String, RuntimeError> {
        let out = tmux.output().map_err(|e| {
            RuntimeError::Tmux(format!("cannot run tmux ({e}); is tmux installed?"))
        })?;
        let ok = out.success();
        let inner = out.into_inner();
        if !ok {
            let msg = String::from_utf8_lossy(&inner.stderr).trim().to_string();
            return Err(RuntimeError::Tmux(msg));
        }
        Ok(String::from_utf8_lossy(&inner.stdout).into_owned())
    }

    /// Every pane of the server: session name -> whether its program still runs.
    fn pane_liveness(&self, socket: &Option<String>) -> HashMap<String, bool> {
        let tmux = self.tmux(socket).command(
            ListPanes::new()
                .all()
                .format("#{session_name}\t#{pane_dead}")
                .build(),
        );
        // No server (nothing running, or killed) means no live pane.
        let Ok(text) = self.run(tmux) else {
            return HashMap::new();
        };
        let mut out = HashMap::new();
        for line in text.lines() {
            if let Some((name, dead)) = line.rsplit_once('\t') {
                let alive = dead != "1";
                out.entry(name.to_string())
                    .and_modify(|a: &mut bool| *a |= alive)
                    .or_insert(alive);
            }
        }
        out
    }
}

/// `s` quoted for `sh`. Only a NUL byte has no quoting, and no argument or environment value can
/// hold one; the value is not shown, since it may be a secret.
pub(super) fn shell_quote(s: &str) -> Result<Cow<'_, str>, RuntimeError> {
    shlex::try_quote(s)
        .map_err(|e| RuntimeError::Tmux(format!("cannot write the launch script: {e}")))
}

/// Writes a launch script at `path`: exports then `exec` of the program (its standard error
/// appended to `stderr` when given), mode 0600.
pub(super) fn write_script(
    spec: &LaunchSpec,
    path: &Path,
    stderr: Option<&Path>,
) -> Result<PathBuf, RuntimeError> {
    let path = path.to_path_buf();
    let mut text =
        String::from("# Written by ao: starts a program in this session's tmux window.\n");
    for (k, v) in &spec.env {
        text.push_str(&format!("export {k}={}\n", shell_quote(v)?));
    }
    let program = spec.program.to_string_lossy();
    let words = std::iter::once(program.as_ref()).chain(spec.args.iter().map(String::as_str));
    let line = shlex::try_join(words)
        .map_err(|e| RuntimeError::Tmux(format!("cannot write the launch script: {e}")))?;
    text.push_str("exec ");
    text.push_str(&line);
    if let Some(input) = &spec.stdin_file {
        text.push_str(&format!(" < {}", shell_quote(&input.to_string_lossy())?));
    }
    if let Some(err) = stderr {
        text.push_str(&format!(" 2>> {}", shell_quote(&err.to_string_lossy())?));
    }
    text.push('\n');
    let io = |source| RuntimeError::Io {
        what: format!("cannot write {}", path.display()),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(path)
}

impl Runtime for TmuxRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Tmux
    }

    fn create(
        &self,
        name: &str,
        spec: &LaunchSpec,
        session_dir: &Path,
    ) -> Result<RuntimeHandle, RuntimeError> {
        let script = write_script(spec, &session_dir.join("launch.sh"), None)?;
        let shell_command = format!("exec sh {}", shell_quote(&script.to_string_lossy())?);
        let target = format!("={name}");
        // One tmux call: create the session and keep its pane when the program ends.
        let build = || {
            self.tmux(&self.socket)
                .add_command(
                    NewSession::new()
                        .detached()
                        .session_name(name.to_string())
                        .start_directory(spec.cwd.to_string_lossy().into_owned())
                        .width(200)
                        .height(50)
                        .shell_command(shell_command.clone())
                        .build(),
                )
                .add_command(
                    SetOption::new()
                        .window()
                        .target_pane(format!("{target}:"))
                        .option("remain-on-exit")
                        .value("on")
                        .build(),
                )
        };
        // A server whose last session has just gone (ao restore replaces the only one) is still
        // exiting for a moment; a new client then sees it exit. The next one starts a new server.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.run(build()) {
                Ok(_) => break,
                Err(RuntimeError::Tmux(msg))
                    if msg.contains("server exited unexpectedly") && attempt < 5 =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(RuntimeError::Tmux(format!(
                        "cannot create tmux session {name}: {e}"
                    )))
                }
            }
        }
        Ok(self.handle_for(name))
    }

    fn alive(&self, handles: &[&RuntimeHandle]) -> Vec<bool> {
        let mut by_socket: HashMap<Option<String>, HashMap<String, bool>> = HashMap::new();
        handles
            .iter()
            .map(|h| match h {
                RuntimeHandle::Tmux { socket, session } => *by_socket
                    .entry(socket.clone())
                    .or_insert_with(|| self.pane_liveness(socket))
                    .get(session)
                    .unwrap_or(&false),
                _ => false,
            })
            .collect()
    }

    fn pids(&self, handle: &RuntimeHandle) -> Vec<u32> {
        let RuntimeHandle::Tmux { socket, session } = handle else {
            return Vec::new();
        };
        self.pane_processes(socket, session)
    }

    fn destroy(&self, handle: &RuntimeHandle) -> Result<(), RuntimeError> {
        let RuntimeHandle::Tmux { socket, session } = handle else {
            return Ok(());
        };
        let programs: Vec<ProcessIdentity> = self
            .pane_processes(socket, session)
            .into_iter()
            .filter_map(ProcessIdentity::of)
            .collect();
        ProcessIdentity::stop_all(&programs, DESTROY_GRACE);
        let tmux = self.tmux(socket).command(
            KillSession::new()
                .target_session(format!("={session}"))
                .build(),
        );
        match self.run(tmux) {
            Ok(_) => Ok(()),
            // Already gone: the session, or the whole server.
            Err(RuntimeError::Tmux(msg))
                if msg.contains("can't find session")
                    || msg.contains("no server running")
                    || msg.contains("error connecting") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn attach_command(
        &self,
        handle: &RuntimeHandle,
    ) -> Result<Option<AttachCommand>, RuntimeError> {
        let RuntimeHandle::Tmux { socket, session } = handle else {
            return Ok(None);
        };
        let mut base: Vec<String> = Vec::new();
        if let Some(s) = socket {
            base.extend(["-L".into(), s.clone()]);
        }
        let target = format!("={session}");
        // Inside a client of the same tmux server, switch that client; otherwise attach (from
        // inside another server too: TMUX is removed so tmux does not refuse to nest).
        let ours = self
            .run(
                self.tmux(socket).command(
                    DisplayMessage::new()
                        .print()
                        .target_pane(format!("{target}:"))
                        .message("#{socket_path}")
                        .build(),
                ),
            )
            .map_err(|e| RuntimeError::Tmux(format!("session {session} is gone: {e}")))?;
        let inside_same_server = std::env::var("TMUX").ok().is_some_and(|t| {
            let client_socket = t.split(',').next().unwrap_or_default();
            same_file(Path::new(client_socket), Path::new(ours.trim()))
        });
        let mut args = base;
        if inside_same_server {
            args.extend(["switch-client".into(), "-t".into(), target]);
        } else {
            args.extend(["attach-session".into(), "-t".into(), target]);
        }
        Ok(Some(AttachCommand {
            program: "tmux".into(),
            args,
            env: vec![],
            env_remove: if inside_same_server {
                vec![]
            } else {
                vec!["TMUX".into()]
            },
        }))
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launch_script_hands_every_word_to_the_program_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let words = [
            "plain",
            "it's",
            "a b",
            "$(x) `y` \"z\"",
            "",
            "{a,b}",
            "*",
            "~",
            "ünï\tcode",
            "a\nb",
        ];
        let input = tmp.path().join("in put");
        std::fs::write(&input, "from stdin").unwrap();
        let mut args: Vec<String> = ["-c", r#"printf '%s|' "$SECRET" "$@"; cat"#, "sh"]
            .map(String::from)
            .to_vec();
        args.extend(words.map(String::from));
        let spec = LaunchSpec {
            program: "sh".into(),
            args,
            cwd: tmp.path().to_path_buf(),
            env: vec![("SECRET".into(), "it's $HOME".into())],
            stdin_file: Some(input),
        };
        let script = write_script(&spec, &tmp.path().join("launch.sh"), None).unwrap();
        let out = std::process::Command::new("sh")
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let expected = format!("it's $HOME|{}|from stdin", words.join("|"));
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }

    #[test]
    fn a_nul_byte_is_refused_without_showing_the_value() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = LaunchSpec {
            program: "true".into(),
            env: vec![("SECRET".into(), "s3cret\0".into())],
            ..Default::default()
        };
        let err = write_script(&spec, &tmp.path().join("launch.sh"), None)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
