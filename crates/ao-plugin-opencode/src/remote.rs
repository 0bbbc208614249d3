//! Project servers on other machines: one someone else runs at a URL (`server:`), and one ao
//! starts on a host over ssh (`host:`).
//!
//! - **URL.** ao never starts, restarts or stops it. Its password comes from the config's
//!   `passwordEnv` or `passwordFile`; the follower of a process-runtime session gets it in a 0600
//!   file under the state home, as for a local server. Work trees come from its
//!   `/experimental/worktree` API.
//! - **SSH.** `opencode serve --hostname 127.0.0.1` is started on the host by a small `sh` script
//!   run over the host's multiplexed connection ([`ao_agent::remote::ssh`]); the password and the
//!   OpenCode config reach it on the script's standard input, so they are on no command line
//!   there or here. It runs in the login's home, no project's directory: the projects on the host
//!   whose settings are the same share it (`server_host.rs`), and every request names its
//!   directory. The script prints the server's pid and port; a local port forward through the ssh
//!   master makes it `http://127.0.0.1:<local>` here, so every client, follower and TUI is the
//!   same as for a local server. Its record ([`TunnelServer`]) names the master, which is what
//!   runs on this machine. A tunnel that died is opened again (on the same local port when it is
//!   free) by the next `ao` that looks.
//!
//! [`TunnelServer`]: crate::server_record::TunnelServer

use std::path::PathBuf;
use std::time::Duration;

use ao_agent::agent::AgentError;
use ao_agent::blocking::unblock;
use ao_agent::remote::ssh::{self, SshError, SshHost};
use ao_agent::remote::{SshDestination, UrlServer};
use ao_agent::session::{Activity, Why};
use ao_agent::trust::Gated;

use crate::client::Client;
use crate::server_record::{RemoteServer, ServerAtUrl, ServerRecord};
use crate::settings::OpenCodeSettings;

/// The `PATH` a non-interactive ssh shell may lack: where OpenCode's installer puts it.
const REMOTE_PATH: &str = r#"PATH=$PATH:$HOME/.opencode/bin:$HOME/.local/bin; export PATH"#;

/// Starts `opencode serve` on the host: `$1` the directory it runs in (`~`: the login's home),
/// `$2` `--pure` or empty, `$3` the port (0: its pick), `$4` its log's name, `$5` this start's
/// token, `$6` the token of an earlier start of the same name that never finished (or empty),
/// `$7` a pid never to stop (the recorded server's, or 0). Reads the password and the OpenCode
/// config (one line of JSON) from standard input. Prints `<pid> <port>`.
///
/// The new server's pid goes to `<name>.<token>.pid` beside its log before anything else: an `ao`
/// cut off from then on leaves a server there that no record names, and the next start of the
/// same name, told that token, stops it (an `opencode serve` still running under that pid).
const START: &str = r#"dir=$1; pure=$2; port=$3; name=$4; token=$5; unfinished=$6; keep=$7
case $dir in "~"|"~/"*) dir=$HOME${dir#"~"};; esac
IFS= read -r OPENCODE_SERVER_PASSWORD
IFS= read -r OPENCODE_CONFIG_CONTENT
export OPENCODE_SERVER_PASSWORD OPENCODE_CONFIG_CONTENT OPENCODE_DISABLE_AUTOUPDATE=1
NO_PROXY=${NO_PROXY:+$NO_PROXY,}127.0.0.1,localhost,::1; no_proxy=$NO_PROXY; export NO_PROXY no_proxy
command -v opencode >/dev/null 2>&1 || { echo "opencode is not installed there" >&2; exit 4; }
cd "$dir" 2>/dev/null || { echo "the directory $dir does not exist there" >&2; exit 3; }
logs=${XDG_STATE_HOME:-$HOME/.local/state}/ao/servers
mkdir -p "$logs" || exit 5
if [ -n "$unfinished" ] && [ -f "$logs/$name.$unfinished.pid" ]; then
  orphan=$(cat "$logs/$name.$unfinished.pid")
  case $orphan in ''|*[!0-9]*) orphan=;; esac
  if [ -n "$orphan" ] && [ "$orphan" != "$keep" ]; then
    case $(ps -p "$orphan" -o args= 2>/dev/null) in
      *opencode*serve*)
        kill "$orphan" 2>/dev/null
        i=0
        while kill -0 "$orphan" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
        kill -9 "$orphan" 2>/dev/null;;
    esac
  fi
fi
rm -f "$logs/$name".*.pid
log=$logs/$name.log
: > "$log"
setsid opencode serve --hostname 127.0.0.1 --port "$port" $pure </dev/null >"$log" 2>&1 &
pid=$!
echo "$pid" > "$logs/$name.$token.pid"
i=0
while [ $i -lt 600 ]; do
  p=$(sed -n 's/.*server listening on http:\/\/127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
  if [ -n "$p" ]; then echo "$pid $p"; exit 0; fi
  kill -0 "$pid" 2>/dev/null || { echo "opencode serve exited during start:" >&2; tail -n 20 "$log" >&2; exit 6; }
  sleep 0.1; i=$((i+1))
done
kill "$pid"; echo "opencode serve did not start within 60s; see $log there" >&2; exit 7"#;

/// Fails, saying so, when the project's directory `$1` does not exist on the host.
const CHECK_DIRECTORY: &str = r#"dir=$1
case $dir in "~"|"~/"*) dir=$HOME${dir#"~"};; esac
[ -d "$dir" ] || { echo "the project directory $dir does not exist there" >&2; exit 3; }"#;

/// Stops the server with pid `$1` on the host (TERM, then KILL after 5 s).
const STOP: &str = r#"kill "$1" 2>/dev/null || exit 0
i=0
while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -9 "$1" 2>/dev/null; exit 0"#;

/// A client of a server someone else runs; an error naming the project and where its password
/// comes from when there is none. Made on the blocking pool: it reads the password file, and for
/// an https URL the CAs it trusts.
pub async fn url_client(project: &str, server: &UrlServer) -> Result<Client, AgentError> {
    let (project, server) = (project.to_string(), server.clone());
    unblock(move || {
        let password = server.password.permit()?.read().map_err(|e| {
            AgentError::Unauthorized(format!(
                "project {project}: no password for the OpenCode server at {}: {e}",
                server.url
            ))
        })?;
        Client::remote(
            server.url.as_str(),
            &server.username,
            &password,
            server.ca_file.as_deref(),
        )
        .map_err(crate::agent_error)
    })
    .await
}

/// What stands for a server someone else runs in the plugin's calls: its URL and where the
/// password is put for a follower (written when `write` says so).
pub fn url_record(
    settings: &OpenCodeSettings,
    project: &str,
    server: &UrlServer,
    write: bool,
) -> Result<ServerRecord, AgentError> {
    let name = format!("opencode-{project}.password");
    let password_file = if write {
        let password = server
            .password
            .permit()?
            .read()
            .map_err(|e| AgentError::Unauthorized(format!("project {project}: {e}")))?;
        settings.home.write_secret(&name, &password)?
    } else {
        settings.home.secrets_dir()?.join(name)
    };
    let url = reqwest::Url::parse(server.url.as_str()).map_err(|e| {
        AgentError::Unreachable(format!(
            "project {project}: the server URL {} is not a URL: {e}",
            server.url
        ))
    })?;
    Ok(ServerRecord::Url(ServerAtUrl {
        url,
        username: server.username.clone(),
        password: server.password.clone(),
        ca_file: server.ca_file.clone(),
        password_file,
    }))
}

/// A wrong password at a URL, said with the project and where the password comes from.
pub fn unauthorized(project: &str, server: &UrlServer) -> AgentError {
    AgentError::Unauthorized(format!(
        "project {project}: the OpenCode server at {} refused the password from {} (as user {})",
        server.url,
        server.password.shown().describe(),
        server.username
    ))
}

/// The error of an ssh failure, as the agent's callers match on it.
pub fn ssh_error(e: SshError) -> AgentError {
    match e {
        SshError::Unreachable { .. } => AgentError::Unreachable(e.to_string()),
        SshError::Failed { .. } => AgentError::Launch(e.to_string()),
        SshError::Local(m) => AgentError::Launch(m),
        SshError::Untrusted(u) => AgentError::Untrusted(u),
    }
}

/// The connection to a project's host.
pub fn host(
    settings: &OpenCodeSettings,
    dest: &Gated<SshDestination>,
) -> Result<SshHost, AgentError> {
    SshHost::new(&settings.home, dest).map_err(ssh_error)
}

/// Checks that the host can be reached and has `opencode`; a host without it is not kept
/// connected.
pub async fn check_host(host: SshHost) -> Result<(), AgentError> {
    unblock(move || {
        host.connect()?;
        let script = format!(
            "{REMOTE_PATH}\ncommand -v opencode >/dev/null 2>&1 || {{ echo \"opencode is not \
             installed there (looked on the PATH of a non-interactive ssh shell and in \
             ~/.opencode/bin); install it there\" >&2; exit 4; }}"
        );
        let checked = host.run_ok(&script, &[], b"").map(|_| ());
        if checked.is_err() {
            host.close();
        }
        checked
    })
    .await
    .map_err(ssh_error)
}

/// What [`start`] started.
pub struct Started {
    /// The master's process here.
    pub master: ao_agent::runtime::process::ProcessIdentity,
    /// The server there.
    pub server: RemoteServer,
    /// The local end of the forward.
    pub local_port: u16,
}

/// What a server on a host is started with.
pub struct StartSpec {
    /// The directory it runs in there (`~`: the login's home).
    pub dir: String,
    /// Its log's name there (`…/ao/servers/<log>.log` under the host's state home).
    pub log: String,
    /// Whether it runs with `--pure`.
    pub pure: bool,
    /// Its password.
    pub password: String,
    /// The OpenCode config it gets, as JSON.
    pub config: String,
    /// This start's token: its pid file there is `<log>.<token>.pid`.
    pub token: String,
    /// An earlier start of the same name that never finished: its token, and the pid of the
    /// recorded server, which is never stopped for it.
    pub unfinished: Option<(String, Option<u32>)>,
}

/// Checks that the project's directory exists on the host (a server there serves any directory,
/// so nothing else would tell before its first session fails).
pub async fn check_directory(host: SshHost, dir: PathBuf) -> Result<(), AgentError> {
    unblock(move || {
        host.connect()?;
        host.run_ok(CHECK_DIRECTORY, &[&dir.to_string_lossy()], b"")
            .map(|_| ())
    })
    .await
    .map_err(ssh_error)
}

/// Starts a server on the host and forwards a local port to it: that of `previous` (the old
/// server's local and remote ports) when free, else one the kernel picks.
pub async fn start(
    host: SshHost,
    spec: StartSpec,
    previous: Option<(u16, u16)>,
) -> Result<Started, AgentError> {
    unblock(move || {
        let master = host.connect()?;
        // The old server's forward (local, remote) still holds the local port the TUIs and
        // followers know: it goes, so that the new server gets that port.
        if let Some((local, remote)) = previous {
            host.cancel_forward(local, remote);
        }
        let local_port = previous.map(|(local, _)| local);
        let stdin = format!("{}\n{}\n", spec.password, spec.config);
        let script = format!("{REMOTE_PATH}\n{START}");
        let (unfinished, keep) = match &spec.unfinished {
            Some((token, keep)) => (token.as_str(), keep.unwrap_or(0).to_string()),
            None => ("", "0".to_string()),
        };
        let out = host.run_ok(
            &script,
            &[
                &spec.dir,
                if spec.pure { "--pure" } else { "" },
                "0",
                &spec.log,
                &spec.token,
                unfinished,
                &keep,
            ],
            stdin.as_bytes(),
        )?;
        let mut words = out.split_whitespace();
        let (Some(pid), Some(port)) = (
            words.next().and_then(|w| w.parse().ok()),
            words.next().and_then(|w| w.parse().ok()),
        ) else {
            return Err(SshError::Failed {
                host: host.destination().to_string(),
                message: format!("the start of opencode serve gave an unexpected answer: {out:?}"),
            });
        };
        let server = RemoteServer {
            host: host.destination().to_string(),
            pid,
            port,
        };
        let local_port = forward(&host, local_port, port)?;
        Ok(Started {
            master,
            server,
            local_port,
        })
    })
    .await
    .map_err(ssh_error)
}

/// Forwards a local port (`want` when free) to `remote` on the host; returns the local port.
fn forward(host: &SshHost, want: Option<u16>, remote: u16) -> Result<u16, SshError> {
    let local = match want {
        Some(p) if ssh::local_port_free(p) => p,
        _ => ssh::free_local_port()?,
    };
    host.forward(local, remote)?;
    Ok(local)
}

/// Opens the tunnel of `rec` again (the master, and its forward); returns the master and the
/// local port (the old one when it was free).
pub async fn reopen(
    host: SshHost,
    local_port: Option<u16>,
    remote_port: u16,
) -> Result<(ao_agent::runtime::process::ProcessIdentity, u16), AgentError> {
    unblock(move || {
        let master = host.connect()?;
        let local = forward(&host, local_port, remote_port)?;
        Ok((master, local))
    })
    .await
    .map_err(ssh_error)
}

/// Whether the server's process still runs on the host.
pub async fn alive(host: SshHost, pid: u32) -> Result<bool, AgentError> {
    unblock(move || {
        host.run(r#"kill -0 "$1" 2>/dev/null"#, &[&pid.to_string()], b"")
            .map(|o| o.status.success())
    })
    .await
    .map_err(ssh_error)
}

/// Stops the server on the host and cancels its `forward` (local, remote) here; with `close`,
/// ends the connection too (nothing of ao's is left there to reach).
pub async fn stop(
    host: SshHost,
    pid: u32,
    forward: Option<(u16, u16)>,
    close: bool,
) -> Result<(), AgentError> {
    unblock(move || {
        host.connect()?;
        let stopped = host.run_ok(STOP, &[&pid.to_string()], b"").map(|_| ());
        if let Some((local, remote)) = forward {
            host.cancel_forward(local, remote);
        }
        if close {
            host.close();
        }
        stopped
    })
    .await
    .map_err(ssh_error)
}

/// How long a fresh remote server may take to answer (its start already waited for its port).
pub const HEALTH_DEADLINE: Duration = Duration::from_secs(30);

/// What a failed look at a project on another machine shows for its sessions: `exited` with
/// `Unreachable` for a connection that could not be made or broke, `exited` with `Unauthorized`
/// for a refused password, `blocked` with `ServerUnresponsive` for a server that is there but
/// slow (anything else); and the message.
pub fn observe_failure(
    project: &ao_agent::project::Project,
    e: crate::client::ClientError,
) -> (Activity, Why, String) {
    use crate::client::ClientError;
    let where_ = project.location.host_label().unwrap_or_default();
    match &e {
        ClientError::Unreachable { source, .. } if source.is_connect() || !source.is_timeout() => (
            Activity::Exited,
            Why::Unreachable,
            format!(
                "project {}: the OpenCode server on {where_} cannot be reached: {e}",
                project.name
            ),
        ),
        ClientError::Status { status, .. } if status.as_u16() == 401 => {
            let m = match &project.location {
                ao_agent::remote::Location::Url(server) => {
                    unauthorized(&project.name, server).to_string()
                }
                _ => format!(
                    "project {}: the server on {where_} refused ao's password",
                    project.name
                ),
            };
            (Activity::Exited, Why::Unauthorized, m)
        }
        _ => (
            Activity::Blocked,
            Why::ServerUnresponsive,
            format!("the OpenCode server on {where_} does not answer: {e}"),
        ),
    }
}
