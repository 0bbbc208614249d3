//! Where a project's agent server lives: on this machine, at a URL that someone else runs, or on
//! a host that ao reaches over SSH.
//!
//! ao-core names no agent, so this says only *where*: the agent plugin decides what runs there and
//! how it is reached (for OpenCode: `opencode serve`, its HTTP API). What is generic lives here:
//! the config's vocabulary ([`Location`]), the password of a server someone else runs
//! ([`PasswordSource`]), and [`ssh`], the one multiplexed OpenSSH connection per host that carries
//! commands, git and port forwards. docs/remote.md is the person's guide.

pub mod ssh;

use std::path::PathBuf;

/// Where a project's agent server runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Location {
    /// On this machine, started by the agent plugin (the default).
    #[default]
    Local,
    /// At a URL, run by someone else (a container, a pod, a VM): ao never starts or stops it.
    Url(UrlServer),
    /// On a host reached with the system's `ssh`, where the plugin starts it.
    Ssh(SshDestination),
}

/// `server:` of a project: a server that someone else runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlServer {
    /// `http://…` or `https://…`, without a trailing slash.
    pub url: String,
    /// The HTTP basic-auth user name.
    pub username: String,
    /// Where its password comes from.
    pub password: PasswordSource,
}

/// Where the password of a server someone else runs comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// An environment variable of the `ao` process (`passwordEnv`).
    Env(String),
    /// A file readable by its owner only (`passwordFile`).
    File(PathBuf),
}

impl PasswordSource {
    /// Reads the password; the error names where it was looked for and what to do.
    pub fn read(&self) -> Result<String, String> {
        match self {
            PasswordSource::Env(name) => std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    format!(
                        "{} is not set; export the server's password in it",
                        self.describe()
                    )
                }),
            PasswordSource::File(path) => std::fs::read_to_string(path)
                .map(|v| v.trim().to_string())
                .map_err(|e| format!("cannot read {}: {e}", self.describe())),
        }
    }

    /// Where it comes from, for messages: `the environment variable X`, `the file F`.
    pub fn describe(&self) -> String {
        match self {
            PasswordSource::Env(name) => format!("the environment variable {name} (passwordEnv)"),
            PasswordSource::File(path) => format!("the file {} (passwordFile)", path.display()),
        }
    }
}

/// `host:` of a project: an ssh destination, `user@host` or a `Host` of the ssh config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshDestination(pub String);

impl Location {
    /// What the HOST column and `host` in the JSON say: `None` on this machine, the ssh
    /// destination, or the URL's `host:port`.
    pub fn host_label(&self) -> Option<String> {
        match self {
            Location::Local => None,
            Location::Ssh(d) => Some(d.0.clone()),
            Location::Url(s) => Some(
                reqwest::Url::parse(&s.url)
                    .ok()
                    .and_then(|u| {
                        let host = u.host_str()?.to_string();
                        Some(match u.port() {
                            Some(p) => format!("{host}:{p}"),
                            None => host,
                        })
                    })
                    .unwrap_or_else(|| s.url.clone()),
            ),
        }
    }

    /// Whether the project's files are on another machine.
    pub fn is_remote(&self) -> bool {
        !matches!(self, Location::Local)
    }
}
