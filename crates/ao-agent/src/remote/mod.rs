//! Where a project's agent server lives: on this machine, at a URL that someone else runs, or on
//! a host that ao reaches over SSH.
//!
//! This says only *where*: the agent plugin decides what runs there and how it is reached (for
//! OpenCode: `opencode serve`, its HTTP API). What is generic lives here: the config's vocabulary
//! ([`Location`], a parsed [`ServerUrl`], a checked [`SshDestination`]), the password of a server
//! someone else runs ([`PasswordSource`]), and [`ssh`], the one multiplexed OpenSSH connection per
//! host that carries commands, git and port forwards. The one agent word here is
//! [`DEFAULT_USERNAME`]. docs/remote.md is the person's guide.

pub mod ssh;

use std::fmt;
use std::path::PathBuf;

use reqwest::Url;

use crate::trust::Gated;

/// Where a project's agent server runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Location {
    /// On this machine, started by the agent plugin (the default).
    #[default]
    Local,
    /// At a URL, run by someone else (a container, a pod, a VM): ao never starts or stops it.
    Url(UrlServer),
    /// On a host reached with the system's `ssh`, where the plugin starts it; ssh runs only
    /// when the config file is trusted.
    Ssh(Gated<SshDestination>),
}

/// `server:` of a project: a server that someone else runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlServer {
    /// Its `http://…` or `https://…` URL.
    pub url: ServerUrl,
    /// The HTTP basic-auth user name.
    pub username: String,
    /// Where its password comes from; read only when the config file is trusted.
    pub password: Gated<PasswordSource>,
    /// `caFile`: a PEM file of the CA (or CAs) that signed an https server's certificate, trusted
    /// instead of the system's roots. Absolute (the config made it so).
    pub ca_file: Option<PathBuf>,
}

impl UrlServer {
    /// Whether its password would cross a network unencrypted: a plain `http://` URL whose host
    /// is not loopback (`localhost`, `127.0.0.0/8`, `::1`). A name other than `localhost` may
    /// resolve anywhere, so it counts as not loopback.
    pub fn sends_password_in_clear(&self) -> bool {
        let url = self.url.url();
        if url.scheme() != "http" {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
            Ok(std::net::IpAddr::V6(ip)) => {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
            Err(_) => {
                let name = host.to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        !loopback
    }
}

/// The basic-auth user name of a server at a URL when `server.username` is not set: OpenCode's
/// default, which most servers keep (the default has to be some word; the config fills it in).
pub const DEFAULT_USERNAME: &str = "opencode";

/// The URL of a server someone else runs: `http` or `https`, with a host. The config parses it
/// once; it shows itself as written, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl(Url);

impl ServerUrl {
    /// The URL, when it is one a server can have (`http` or `https`, with a host); else the URL
    /// back, for the message that says why not.
    pub fn new(url: Url) -> Result<ServerUrl, Url> {
        if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() {
            Ok(ServerUrl(url))
        } else {
            Err(url)
        }
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The URL as text, without a trailing slash (the base that request paths are put after).
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    /// Whether it is an https URL.
    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ServerUrl {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Whether `url` is an https URL.
pub fn is_https(url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| u.scheme() == "https")
}

/// The certificates of a PEM file of CAs (`caFile`). Blocks (it reads the file). The error says
/// what is wrong with the file, for a config error or a failed client.
pub fn ca_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|_| "is not a PEM file (its base64 is broken)".to_string())?;
    if certs.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}

/// [`ca_certificates`], checked as trust anchors: what the config does once, when it is loaded.
pub fn checked_ca_certificates(
    path: &std::path::Path,
) -> Result<Vec<reqwest::Certificate>, String> {
    let certs = ca_certificates(path)?;
    // PEM armour around bytes that are no certificate passes the parse; a client refuses them as
    // anchors, so one is built to check.
    certs
        .iter()
        .fold(
            reqwest::Client::builder().tls_built_in_root_certs(false),
            |b, c| b.add_root_certificate(c.clone()),
        )
        .build()
        .map_err(|e| {
            let why = crate::error::chain(&e);
            format!(
                "holds something that is not a certificate ({})",
                why.trim_start_matches("builder error: ")
            )
        })?;
    Ok(certs)
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

/// `host:` of a project: an ssh destination, `user@host` or a `Host` of the ssh config, checked
/// once (by the config) to be one that ssh takes as a destination, never as an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshDestination(String);

impl SshDestination {
    /// The destination, when `raw` is one: not empty, not starting with `-` (which ssh would take
    /// as an option), without spaces or control characters. `None` otherwise.
    pub fn parse(raw: &str) -> Option<SshDestination> {
        let bad = raw.is_empty()
            || raw.starts_with('-')
            || raw.chars().any(|c| c.is_whitespace() || c.is_control());
        (!bad).then(|| SshDestination(raw.to_string()))
    }

    /// The destination as written, for ssh's command line and for people.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SshDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Location {
    /// What the HOST column and `host` in the JSON say: `None` on this machine, the ssh
    /// destination, or the URL's `host:port`.
    pub fn host_label(&self) -> Option<String> {
        match self {
            Location::Local => None,
            Location::Ssh(d) => Some(d.shown().as_str().to_string()),
            Location::Url(s) => {
                let url = s.url.url();
                let host = url.host_str().unwrap_or_default();
                Some(match url.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host.to_string(),
                })
            }
        }
    }

    /// Whether the project's files are on another machine.
    pub fn is_remote(&self) -> bool {
        !matches!(self, Location::Local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_off_loopback_sends_the_password_in_clear() {
        let at = |url: &str| UrlServer {
            url: ServerUrl::new(Url::parse(url).unwrap()).unwrap(),
            username: DEFAULT_USERNAME.into(),
            password: crate::trust::Gated::trusted(PasswordSource::Env("P".into())),
            ca_file: None,
        };
        for clear in [
            "http://10.0.0.5:4096",
            "http://box.example:4096",
            "HTTP://box.example",
            "http://[2001:db8::1]:80",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(at(clear).sends_password_in_clear(), "{clear}");
        }
        for safe in [
            "https://box.example",
            "http://127.0.0.1:4096",
            "http://127.8.9.10",
            "http://localhost:1",
            "http://LOCALHOST",
            "http://ao.localhost",
            "http://[::1]:4096",
            "http://[::ffff:127.0.0.1]:4096",
        ] {
            assert!(!at(safe).sends_password_in_clear(), "{safe}");
        }
    }
}
