//! `server:` and `host:` of a project: where its agent server lives when not on this machine
//! (see [`crate::remote`]).

use std::path::PathBuf;

use super::reader::Reader;
use super::yaml::{Kind, Node, Pos};
use crate::remote::{Location, PasswordSource, ServerUrl, SshDestination, UrlServer};
use crate::trust::Gated;

/// What using a server's password does, for the refusal of an untrusted file's.
const SENDS_PASSWORD: &str = "reads a secret of yours and sends it to `server.url`";

const SERVER_KEYS: &[&str] = &["url", "username", "passwordEnv", "passwordFile", "caFile"];

/// Whether `node` is a map with the key `key`.
fn has_key(node: &Node, key: &str) -> bool {
    matches!(&node.kind, Kind::Map(entries) if entries.iter().any(|(k, _)| k.key_text() == key))
}

impl Reader<'_> {
    /// The project's location from its `server` and `host` keys (at most one of them).
    pub(super) fn location(
        &mut self,
        name: &str,
        server: Option<&Node>,
        host: Option<&Node>,
    ) -> Option<Location> {
        match (server, host) {
            // Over ssh ao reaches the server through its own tunnel, on this machine's loopback:
            // there is no certificate to check.
            (Some(s), Some(h)) if has_key(s, "caFile") => {
                self.problem(
                    h.pos,
                    format!(
                        "project {name:?} sets `host` and `server.caFile`; a server on an ssh \
                         host is reached through ao's ssh tunnel, which ssh already encrypts and \
                         authenticates, so there is no TLS certificate to check: drop `server` \
                         (caFile is for a server someone else runs at an https URL)"
                    ),
                );
                None
            }
            (Some(_), Some(h)) => {
                self.problem(
                    h.pos,
                    format!(
                        "project {name:?} sets both `server` and `host`; keep one: `server` for a \
                         server someone else runs, `host` for one ao starts over ssh"
                    ),
                );
                None
            }
            (Some(s), None) => self.url_server(name, s).map(Location::Url),
            (None, Some(h)) => self.ssh_host(name, h).map(Location::Ssh),
            (None, None) => Some(Location::Local),
        }
    }

    fn url_server(&mut self, name: &str, node: &Node) -> Option<UrlServer> {
        let what = format!("`server` of project {name:?}");
        let f = self.fields(node, &what, SERVER_KEYS, "a map with `url`")?;
        let before = self.problems.len();
        let url = match f.get("url") {
            Some(n) => self
                .string(n, "server.url")
                .and_then(|u| self.http_url(&u, n.pos)),
            None => {
                self.problem(
                    node.pos,
                    format!("{what} has no `url`; add one, e.g. `url: http://127.0.0.1:4096`"),
                );
                None
            }
        };
        let username = f
            .get("username")
            .and_then(|n| self.string(n, "server.username"))
            .unwrap_or_else(|| crate::remote::DEFAULT_USERNAME.into());
        let password = match (f.get("passwordEnv"), f.get("passwordFile")) {
            (Some(_), Some(file)) => {
                self.problem(
                    file.pos,
                    format!("{what} sets both `passwordEnv` and `passwordFile`; keep one"),
                );
                None
            }
            (Some(env), None) => self
                .string(env, "server.passwordEnv")
                .map(PasswordSource::Env)
                .map(|p| self.gate(p, env.pos, "server.passwordEnv", SENDS_PASSWORD)),
            (None, Some(file)) => self
                .string(file, "server.passwordFile")
                .and_then(|raw| self.password_file(&raw, file.pos))
                .map(PasswordSource::File)
                .map(|p| self.gate(p, file.pos, "server.passwordFile", SENDS_PASSWORD)),
            (None, None) => {
                self.problem(
                    node.pos,
                    format!(
                        "{what} has no password; add `passwordEnv: VAR` (an environment variable \
                         holding it) or `passwordFile: PATH` (a file only you can read)"
                    ),
                );
                None
            }
        };
        let ca_file = f.get("caFile").and_then(|n| {
            let raw = self.string(n, "server.caFile")?;
            match &url {
                Some(u) if !u.is_https() => {
                    self.problem(
                        n.pos,
                        format!(
                            "server.caFile is set, but server.url {:?} is http: there is no \
                             certificate to check; use the https URL of the server, or drop \
                             caFile",
                            u.as_str()
                        ),
                    );
                    None
                }
                _ => self.ca_file(&raw, n.pos),
            }
        });
        if self.problems.len() > before {
            return None;
        }
        Some(UrlServer {
            url: url?,
            username,
            password: password?,
            ca_file,
        })
    }

    /// An `http://` or `https://` URL with a host, parsed.
    fn http_url(&mut self, raw: &str, pos: Pos) -> Option<ServerUrl> {
        match reqwest::Url::parse(raw).map(ServerUrl::new) {
            Ok(Ok(url)) => Some(url),
            Ok(Err(u)) => {
                self.problem(
                    pos,
                    format!(
                        "server.url {raw:?} is not an http or https URL ({}:); ao talks to \
                         servers over HTTP, e.g. http://127.0.0.1:4096 or \
                         https://opencode.example.com",
                        u.scheme()
                    ),
                );
                None
            }
            Err(e) => {
                self.problem(
                    pos,
                    format!(
                        "server.url {raw:?} is not a URL ({e}); write it like \
                         http://127.0.0.1:4096"
                    ),
                );
                None
            }
        }
    }

    /// A path of the config, made absolute against the config file's directory.
    fn config_path(&mut self, raw: &str, pos: Pos, key: &str) -> Option<PathBuf> {
        match super::names::expand_path_in(raw, self.cx.var) {
            Ok(p) if p.is_absolute() => Some(p),
            Ok(p) => Some(self.base_dir.join(p)),
            Err(m) => {
                self.problem(pos, format!("{key}: {m}"));
                None
            }
        }
    }

    /// A PEM file of CAs that can be read and holds usable certificates.
    /// Absolute, since the follower and the TUI that read it run in another directory.
    fn ca_file(&mut self, raw: &str, pos: Pos) -> Option<PathBuf> {
        let path = self.config_path(raw, pos, "server.caFile")?;
        let path = std::path::absolute(&path).unwrap_or(path);
        match crate::remote::checked_ca_certificates(&path) {
            Ok(_) => Some(path),
            Err(m) => {
                self.problem(
                    pos,
                    format!(
                        "server.caFile {} {m}; name a PEM file with the certificate of the CA \
                         that signed the server's certificate",
                        path.display()
                    ),
                );
                None
            }
        }
    }

    /// A password file that exists and that only its owner can read.
    fn password_file(&mut self, raw: &str, pos: Pos) -> Option<PathBuf> {
        let path = self.config_path(raw, pos, "server.passwordFile")?;
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(&path) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                self.problem(
                    pos,
                    format!(
                        "server.passwordFile {} can be read or written by others; a password \
                         file must be yours alone: chmod 600 {}",
                        path.display(),
                        path.display()
                    ),
                );
                None
            }
            Ok(_) => Some(path),
            Err(e) => {
                self.problem(
                    pos,
                    format!("server.passwordFile {} cannot be read: {e}", path.display()),
                );
                None
            }
        }
    }

    fn ssh_host(&mut self, name: &str, node: &Node) -> Option<Gated<SshDestination>> {
        let host = self.string(node, "host")?;
        let Some(destination) = SshDestination::parse(&host) else {
            self.problem(
                node.pos,
                format!(
                    "project {name:?}: host {host:?} is not an ssh destination; write `user@host` \
                     or the name of a Host in your ssh config"
                ),
            );
            return None;
        };
        Some(self.gate(
            destination,
            node.pos,
            "host",
            "runs ssh to that host, and commands there",
        ))
    }

    /// The directory of a remote project, as written: it is on that machine, so nothing here can
    /// check it. A server someone else runs needs it absolute (nothing there would expand `~`).
    pub(super) fn remote_directory(
        &mut self,
        name: &str,
        raw: &str,
        pos: Pos,
        location: &Location,
    ) -> Option<PathBuf> {
        let ok = match location {
            Location::Url(_) => raw.starts_with('/'),
            _ => raw.starts_with('/') || raw == "~" || raw.starts_with("~/"),
        };
        if !ok {
            let form = match location {
                Location::Url(_) => "an absolute path (/srv/code/app)",
                _ => "an absolute path or one under ~ (~/code/app)",
            };
            self.problem(
                pos,
                format!(
                    "project {name:?}: path {raw:?} is on another machine, so it must be {form}"
                ),
            );
            return None;
        }
        Some(PathBuf::from(raw))
    }

    /// On a server ao does not start, the settings that would configure that server are refused:
    /// `permission` and the agent's own keys of `agentConfig`.
    pub(super) fn refuse_server_settings(
        &mut self,
        name: &str,
        agent_config: &Node,
        own_keys: &[&str],
        server: &UrlServer,
    ) {
        let Kind::Map(entries) = &agent_config.kind else {
            return;
        };
        for (k, _) in entries {
            let key = k.key_text();
            if key == "permission" || own_keys.contains(&key.as_str()) {
                self.problem(
                    k.pos,
                    format!(
                        "project {name:?}: agentConfig.{key} cannot be used with `server`: ao does \
                         not start the server at {}, so it cannot configure it; set this in that \
                         server's own config (`model` and `agent` still go with each prompt)",
                        server.url
                    ),
                );
            }
        }
    }
}
