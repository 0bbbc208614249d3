//! A typed client for OpenCode's HTTP server API, with a timeout on every request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::types::{
    MessageWithParts, PermissionRequest, PromptModel, QuestionRequest, Session, SessionStatus, Todo,
};

/// How long an ordinary request may take. A fresh server accepts connections before it answers
/// them, and a request sent then is never answered: nothing may wait forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How many sessions one list of a project's may hold: all of them, in practice.
const SESSION_LIST_LIMIT: &str = "100000";
/// What a [`Client::patient`] one gives an ordinary request: a person's prompt should not fail
/// because a server that is busy starting ten work trees at once answers slowly, while a status
/// must stay bounded by [`REQUEST_TIMEOUT`].
const PATIENT_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// OpenCode's basic-auth user name unless its server sets another.
pub use ao_agent::remote::DEFAULT_USERNAME;
/// How long connecting to a server on another machine may take before it counts as unreachable:
/// below the status budget (2 s), so that `ao status` says `Unreachable` rather than stale.
pub const REMOTE_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Creating a session is the first request to a new work tree, for which OpenCode first starts an
/// instance (seconds; over ten with ten spawns at once on two cores). Not retried, since the first
/// try may still succeed, so it gets longer.
const CREATE_SESSION_TIMEOUT: Duration = Duration::from_secs(60);
const MIB: usize = 1024 * 1024;
/// The most of one response body ao reads. OpenCode's largest answers (every message of a long
/// conversation) are a few MiB; a server that sends more, or an endless body, would otherwise
/// take ao's memory (on loopback, gigabytes within the request's timeout).
pub const MAX_BODY_BYTES: usize = 64 * MIB;
/// The most of one server-sent event ao buffers, for the same reason: an event that never ends
/// would grow the parser's buffer forever.
pub const MAX_EVENT_BYTES: usize = 16 * MIB;

/// A request to the OpenCode server that failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect, or no answer in time.
    #[error(
        "OpenCode server at {url} is not reachable ({request}): {}",
        describe(.source, .ca_file.as_deref())
    )]
    Unreachable {
        /// The URL.
        url: String,
        /// The request, e.g. `GET /session/status`, so that a slow one can be told from another.
        request: String,
        /// The CA file its certificate was checked against, if not the system's roots.
        ca_file: Option<PathBuf>,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("OpenCode server: {method} {path} gave {status}: {body}")]
    Status {
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// The status code.
        status: StatusCode,
        /// The body (OpenCode's error object, usually).
        body: String,
    },
    /// The HTTP client itself could not be set up (unusable system roots, a broken system
    /// config). ao never falls back to a default client, which would honour proxy variables and
    /// could send the server's password to a proxy.
    #[error("cannot set up an HTTP client for the OpenCode server: {}", ao_agent::error::chain(.0))]
    Build(#[source] reqwest::Error),
    /// The CA file of an https server (`server.caFile`) cannot be used.
    #[error("the CA file {} (server.caFile) {message}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The server sent more than ao reads of one answer ([`MAX_BODY_BYTES`]) or of one event
    /// ([`MAX_EVENT_BYTES`]).
    #[error(
        "OpenCode server at {url}: {what} is larger than {} MiB, the most ao reads of one; \
         the server is broken or is not OpenCode",
        limit / MIB
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// What was too large, e.g. `the answer to GET /session`.
        what: String,
        /// The limit it passed, in bytes.
        limit: usize,
    },
    /// An event stream said nothing, not even a heartbeat, for this long: a wedged server or a
    /// proxy that holds the stream back. It is closed; the caller connects again.
    #[error(
        "OpenCode server at {url}: its event stream said nothing for {} s (OpenCode sends a \
         heartbeat every 10 s); closed, to be opened again",
        after.as_secs_f64()
    )]
    Silent {
        /// The URL.
        url: String,
        /// How long it said nothing.
        after: Duration,
    },
    /// The answer was not what the API reference says.
    #[error("OpenCode server: unexpected answer to {path}: {message}")]
    Decode {
        /// The path.
        path: String,
        /// What was wrong.
        message: String,
    },
}

/// What went wrong with a request, down to its root cause (reqwest's own message names only the
/// URL). A certificate that failed verification says so, with what it was checked against and
/// the fix.
fn describe(e: &reqwest::Error, ca_file: Option<&Path>) -> String {
    if e.is_timeout() {
        return "no answer in time (the request timed out)".into();
    }
    let text = ao_agent::error::chain(e);
    match (certificate_problem(e), ca_file) {
        (Some(why), None) => format!(
            "the server's TLS certificate was not trusted ({why}) by this machine's CAs; if a \
             private CA signed it, set server.caFile to that CA's PEM file ({text})"
        ),
        (Some(why), Some(ca)) => format!(
            "the server's TLS certificate was not trusted ({why}) by the CAs of {} \
             (server.caFile); it must hold the CA that signed the certificate, which must name \
             the URL's host ({text})",
            ca.display()
        ),
        (None, _) => text,
    }
}

/// rustls's verdict on the server's certificate, when that is why a connection failed. It comes
/// inside an `io::Error` inside another (measured: reqwest 0.12.28, hyper-rustls 0.27), and an
/// `io::Error`'s `source()` skips what it wraps, so each link is unwrapped as well.
fn certificate_problem(e: &reqwest::Error) -> Option<String> {
    let mut link: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = link {
        let mut inner = err;
        loop {
            if let Some(rustls::Error::InvalidCertificate(c)) = inner.downcast_ref() {
                return Some(format!("{c:?}"));
            }
            match inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(wrapped) => inner = wrapped,
                None => break,
            }
        }
        link = err.source();
    }
    None
}

impl ClientError {
    /// Whether the server said 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    /// The answer the server gave, or would give, for a session it no longer has.
    pub fn session_not_found(id: &str) -> ClientError {
        ClientError::Status {
            method: "GET".into(),
            path: format!("/session/{id}"),
            status: StatusCode::NOT_FOUND,
            body: String::new(),
        }
    }
}

/// Whether `base` is an https URL (any other, or none, is talked to in plain http).
fn is_https(base: &str) -> bool {
    reqwest::Url::parse(base).is_ok_and(|u| u.scheme() == "https")
}

/// A client of one OpenCode server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    username: String,
    password: String,
    /// How long an ordinary request may take.
    timeout: Duration,
    /// The CA file it trusts instead of the system's roots, for its errors.
    ca_file: Option<PathBuf>,
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:4096`) with its password. Its
    /// requests never go through a proxy, whatever `HTTP_PROXY` and its kin say: they carry the
    /// server's password, and the server is on this machine.
    pub fn new(base: &str, password: &str) -> Result<Client, ClientError> {
        Client::build(base, DEFAULT_USERNAME, password, CONNECT_TIMEOUT, None)
    }

    /// A client for a server on another machine, that someone else runs (`server:` of a
    /// project): its own user name, [`REMOTE_CONNECT_TIMEOUT`] to connect, and for an https URL
    /// the CAs it trusts: those of `ca_file`, else the system's roots. Blocks for an https URL
    /// (it reads those certificates): async code calls it through `unblock`.
    pub fn remote(
        base: &str,
        username: &str,
        password: &str,
        ca_file: Option<&Path>,
    ) -> Result<Client, ClientError> {
        Client::build(base, username, password, REMOTE_CONNECT_TIMEOUT, ca_file)
    }

    fn build(
        base: &str,
        username: &str,
        password: &str,
        connect_timeout: Duration,
        ca_file: Option<&Path>,
    ) -> Result<Client, ClientError> {
        // No proxy and no redirect: every request carries the server's password, and a prompt's
        // text, for that server alone (an OpenCode server never redirects).
        let builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none());
        let https = is_https(base);
        let builder = match (https, ca_file) {
            // Plain http (every server on this machine, and the ssh tunnels): nothing to trust,
            // so the system's roots are not even read.
            (false, _) => builder.tls_built_in_root_certs(false),
            // A private CA replaces the system's roots, as curl's --cacert does: the person named
            // who signs this server's certificate.
            (true, Some(path)) => ao_agent::remote::ca_certificates(path)
                .map_err(|message| ClientError::CaFile {
                    path: path.to_path_buf(),
                    message,
                })?
                .into_iter()
                .fold(builder.tls_built_in_root_certs(false), |b, c| {
                    b.add_root_certificate(c)
                }),
            (true, None) => builder,
        };
        let http = builder.build().map_err(ClientError::Build)?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            username: username.to_string(),
            password: password.to_string(),
            timeout: REQUEST_TIMEOUT,
            ca_file: ca_file.filter(|_| https).map(Path::to_path_buf),
        })
    }

    /// The same client, with a longer timeout for ordinary requests: for what a person waits on
    /// anyway (delivering a prompt), never for `ao status`.
    pub fn patient(&self) -> Client {
        Client {
            timeout: PATIENT_TIMEOUT,
            ..self.clone()
        }
    }

    /// A request of this client that failed before an answer came.
    pub fn unreachable(&self, request: String, source: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.base.clone(),
            request,
            ca_file: self.ca_file.clone(),
            source,
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A request builder with auth, for callers that need their own (event streams).
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.username, Some(&self.password))
    }

    /// A response's body, read up to [`MAX_BODY_BYTES`]: past that (as announced, or as it
    /// arrives), [`ClientError::TooLarge`].
    async fn body_of(
        &self,
        mut resp: reqwest::Response,
        request: impl Fn() -> String,
    ) -> Result<Vec<u8>, ClientError> {
        let too_large = || ClientError::TooLarge {
            url: self.base.clone(),
            what: format!("the answer to {}", request()),
            limit: MAX_BODY_BYTES,
        };
        let announced = resp.content_length().unwrap_or(0);
        if announced > MAX_BODY_BYTES as u64 {
            return Err(too_large());
        }
        let mut body = Vec::with_capacity(announced as usize);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|source| self.unreachable(request(), source))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let _timed = ao_agent::timing::phase(|| format!("request {method} {path}"));
        let mut req = self
            .request(method.clone(), path)
            .query(query)
            .timeout(timeout);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .map_err(|source| self.unreachable(format!("{method} {path}"), source))?;
        let status = resp.status();
        let bytes = self.body_of(resp, || format!("{method} {path}")).await?;
        if !status.is_success() {
            return Err(ClientError::Status {
                method: method.to_string(),
                path: path.to_string(),
                status,
                body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            });
        }
        // 204 and empty bodies decode as JSON null.
        let bytes = if bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Decode {
            path: path.to_string(),
            message: e.to_string(),
        })
    }

    /// A call whose answer (`true`, or nothing) carries no information beyond success.
    async fn call_ok(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        let _: serde_json::Value = self.call(method, path, query, body, timeout).await?;
        Ok(())
    }

    /// `GET /global/health` with a short timeout: the server's version when it answers.
    pub async fn health(&self, timeout: Duration) -> Result<String, ClientError> {
        let v: serde_json::Value = self
            .call(Method::GET, "/global/health", &[], None, timeout)
            .await?;
        Ok(v.get("version")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string())
    }

    /// `POST /experimental/worktree?directory=`: a git work tree of the repository at `directory`,
    /// made by the server (1.18.33: on branch `opencode/<name>`, under its data directory; a taken
    /// name gets a random suffix).
    pub async fn create_worktree(
        &self,
        directory: &str,
        name: &str,
    ) -> Result<crate::types::Worktree, ClientError> {
        self.call(
            Method::POST,
            "/experimental/worktree",
            &[("directory", directory)],
            Some(json!({ "name": name })),
            CREATE_SESSION_TIMEOUT,
        )
        .await
    }

    /// `DELETE /experimental/worktree?directory=`: removes the work tree `worktree` of the
    /// repository at `directory`, with its branch, whatever it holds (measured on 1.18.33).
    pub async fn remove_worktree(
        &self,
        directory: &str,
        worktree: &str,
    ) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .call(
                Method::DELETE,
                "/experimental/worktree",
                &[("directory", directory)],
                Some(json!({ "directory": worktree })),
                self.timeout,
            )
            .await?;
        Ok(())
    }

    /// `POST /session?directory=`: a new conversation in that directory.
    pub async fn create_session(&self, directory: &str) -> Result<Session, ClientError> {
        self.call(
            Method::POST,
            "/session",
            &[("directory", directory)],
            Some(json!({})),
            CREATE_SESSION_TIMEOUT,
        )
        .await
    }

    /// `GET /session/{id}`: works for a session of any directory.
    pub async fn session(&self, id: &str) -> Result<Session, ClientError> {
        self.call(
            Method::GET,
            &format!("/session/{id}"),
            &[],
            None,
            self.timeout,
        )
        .await
    }

    /// `DELETE /session/{id}`.
    pub async fn delete_session(&self, id: &str) -> Result<(), ClientError> {
        self.call_ok(
            Method::DELETE,
            &format!("/session/{id}"),
            &[],
            None,
            self.timeout,
        )
        .await
    }

    /// `GET /session/{id}/message?limit=N`: the last N messages (all when `None`).
    pub async fn messages(
        &self,
        id: &str,
        limit: Option<usize>,
    ) -> Result<Vec<MessageWithParts>, ClientError> {
        let limit = limit.map(|l| l.to_string());
        let query: Vec<(&str, &str)> = limit.iter().map(|l| ("limit", l.as_str())).collect();
        self.call(
            Method::GET,
            &format!("/session/{id}/message"),
            &query,
            None,
            self.timeout,
        )
        .await
    }

    /// `GET /session/{id}/todo`: the session's plan, in its order.
    pub async fn todos(&self, id: &str) -> Result<Vec<Todo>, ClientError> {
        self.call(
            Method::GET,
            &format!("/session/{id}/todo"),
            &[],
            None,
            self.timeout,
        )
        .await
    }

    /// `POST /session/{id}/fork`: a new session holding a copy of the messages (those before
    /// `message_id` when given), with new message ids, in the source's directory. 1.18.33 forks the
    /// whole conversation when `message_id` names no message of it, so callers check it first.
    pub async fn fork(&self, id: &str, message_id: Option<&str>) -> Result<Session, ClientError> {
        let body = match message_id {
            Some(m) => json!({ "messageID": m }),
            None => json!({}),
        };
        self.call(
            Method::POST,
            &format!("/session/{id}/fork"),
            &[],
            Some(body),
            CREATE_SESSION_TIMEOUT,
        )
        .await
    }

    /// `POST /experimental/control-plane/move-session` (no changes moved): the session works in
    /// `directory` from now on (its tools, its instance). 204 on success.
    pub async fn move_session(&self, id: &str, directory: &str) -> Result<(), ClientError> {
        self.call_ok(
            Method::POST,
            "/experimental/control-plane/move-session",
            &[],
            Some(json!({"sessionID": id, "destination": {"directory": directory}})),
            CREATE_SESSION_TIMEOUT,
        )
        .await
    }

    /// `GET /session?limit=1`: the cheapest request on the route a status takes first, to check
    /// that the server answers it with ao's password.
    pub async fn sessions_page(&self, timeout: Duration) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .call(Method::GET, "/session", &[("limit", "1")], None, timeout)
            .await?;
        Ok(())
    }

    /// `GET /session?directory=&scope=project&roots=true`: every top-level session of the
    /// OpenCode project that `directory` belongs to (all work trees of one repository share a
    /// project), with their token and cost totals; one request instead of one per session.
    ///
    /// With `since`, only those whose `time.updated` is that or later (`start=`, in the server's
    /// clock): see [`crate::session_list`].
    pub async fn project_sessions(
        &self,
        directory: &str,
        since: Option<i64>,
    ) -> Result<Vec<Session>, ClientError> {
        // The list stops at 100 unless told otherwise (measured on 1.18.33), and a session left
        // out costs requests of its own on every status; subagents' sessions (children) are never
        // tracked, so they are left out instead.
        let mut query = vec![
            ("directory", directory.to_string()),
            ("scope", "project".into()),
            ("roots", "true".into()),
            ("limit", SESSION_LIST_LIMIT.into()),
        ];
        if let Some(since) = since {
            query.push(("start", since.to_string()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.call(Method::GET, "/session", &query, None, self.timeout)
            .await
    }

    /// `GET /experimental/session?roots=true`: the top-level sessions of every directory the
    /// server's store knows (measured on 1.18.33: each with its `directory`; `start=` filters as
    /// on `/session`), for the projects that share the server, in one request.
    pub async fn all_sessions(&self, since: Option<i64>) -> Result<Vec<Session>, ClientError> {
        let mut query = vec![
            ("roots", "true".to_string()),
            ("limit", SESSION_LIST_LIMIT.into()),
        ];
        if let Some(since) = since {
            query.push(("start", since.to_string()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.call(
            Method::GET,
            "/experimental/session",
            &query,
            None,
            self.timeout,
        )
        .await
    }

    /// `GET /session/status?directory=`: busy and retrying sessions of that directory.
    pub async fn statuses(
        &self,
        directory: &str,
    ) -> Result<std::collections::HashMap<String, SessionStatus>, ClientError> {
        self.call(
            Method::GET,
            "/session/status",
            &[("directory", directory)],
            None,
            self.timeout,
        )
        .await
    }

    /// `GET /permission?directory=`: pending permission requests of that directory.
    pub async fn permissions(
        &self,
        directory: &str,
    ) -> Result<Vec<PermissionRequest>, ClientError> {
        self.call(
            Method::GET,
            "/permission",
            &[("directory", directory)],
            None,
            self.timeout,
        )
        .await
    }

    /// `GET /question?directory=`: pending questions of that directory.
    pub async fn questions(&self, directory: &str) -> Result<Vec<QuestionRequest>, ClientError> {
        self.call(
            Method::GET,
            "/question",
            &[("directory", directory)],
            None,
            self.timeout,
        )
        .await
    }

    /// `POST /session/{id}/prompt_async`: starts a turn and returns at once.
    pub async fn prompt_async(
        &self,
        id: &str,
        text: &str,
        model: Option<PromptModel>,
        agent: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut body = json!({ "parts": [{ "type": "text", "text": text }] });
        if let Some(m) = model {
            body["model"] = json!(m);
        }
        if let Some(a) = agent {
            body["agent"] = json!(a);
        }
        // A large prompt is one big body; allow it more time than a status call.
        self.call_ok(
            Method::POST,
            &format!("/session/{id}/prompt_async"),
            &[],
            Some(body),
            Duration::from_secs(60),
        )
        .await
    }

    /// `POST /session/{id}/abort`.
    pub async fn abort(&self, id: &str) -> Result<(), ClientError> {
        self.call_ok(
            Method::POST,
            &format!("/session/{id}/abort"),
            &[],
            None,
            self.timeout,
        )
        .await
    }

    /// `POST /permission/{id}/reply?directory=` with `once`, `always` or `reject`.
    pub async fn reply_permission(
        &self,
        directory: &str,
        request_id: &str,
        reply: &str,
    ) -> Result<(), ClientError> {
        let body = json!({ "reply": reply });
        self.call_ok(
            Method::POST,
            &format!("/permission/{request_id}/reply"),
            &[("directory", directory)],
            Some(body),
            self.timeout,
        )
        .await
    }

    /// `POST /question/{id}/reply?directory=`: one list of labels per question.
    pub async fn reply_question(
        &self,
        directory: &str,
        request_id: &str,
        answers: &[Vec<String>],
    ) -> Result<(), ClientError> {
        self.call_ok(
            Method::POST,
            &format!("/question/{request_id}/reply"),
            &[("directory", directory)],
            Some(json!({ "answers": answers })),
            self.timeout,
        )
        .await
    }

    /// `POST /question/{id}/reject?directory=`.
    pub async fn reject_question(
        &self,
        directory: &str,
        request_id: &str,
    ) -> Result<(), ClientError> {
        self.call_ok(
            Method::POST,
            &format!("/question/{request_id}/reject"),
            &[("directory", directory)],
            None,
            self.timeout,
        )
        .await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A fake server on 127.0.0.1 that answers every connection with `head` (status line and
    /// headers), then `first`, then `filler` (if any) again and again, without end as far as a
    /// client can tell: it stops writing after 256 MiB (so a client that reads everything cannot
    /// take the machine's memory) but keeps the connection open, silent. Its URL.
    pub(crate) async fn endless_server(
        head: &'static str,
        first: &'static str,
        filler: Option<u8>,
    ) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    // The request's head, whatever it is.
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let chunk = vec![filler.unwrap_or_default(); 64 * 1024];
                    let mut sent = 0usize;
                    let mut go = conn.write_all(head.as_bytes()).await.is_ok()
                        && conn.write_all(first.as_bytes()).await.is_ok()
                        && filler.is_some();
                    while go && sent < 256 * MIB {
                        go = conn.write_all(&chunk).await.is_ok();
                        sent += chunk.len();
                    }
                    // Open but silent until the client goes.
                    let _ = conn.read(&mut buf).await;
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn a_redirect_elsewhere_is_not_followed() {
        // Where a redirect leads: a listener that must not even be connected to.
        let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let head = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://{}/global/health\r\n\
             content-length: 0\r\n\r\n",
            elsewhere.local_addr().unwrap()
        );
        let url = endless_server(Box::leak(head.into_boxed_str()), "", None).await;
        let answer = Client::new(&url, "pw")
            .unwrap()
            .health(Duration::from_secs(5))
            .await;
        assert!(answer.is_err(), "{answer:?}");
        // The kernel completes a connection without accept(), so one made shows here at once.
        let reached = tokio::time::timeout(Duration::from_millis(500), elsewhere.accept()).await;
        assert!(reached.is_err(), "the redirect was followed");
    }

    #[tokio::test]
    async fn an_endless_body_fails_at_the_limit_and_says_so() {
        let url = endless_server(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n",
            "[",
            Some(b' '),
        )
        .await;
        let started = std::time::Instant::now();
        let e = Client::new(&url, "pw")
            .unwrap()
            .health(Duration::from_secs(10))
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("GET /global/health is larger than 64 MiB"),
            "{text}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "failed only after {:?}",
            started.elapsed()
        );

        // A body announced larger than that is refused before it is read.
        let url = endless_server(
            "HTTP/1.1 500 Oops\r\ncontent-length: 1000000000\r\n\r\n",
            "",
            Some(b'x'),
        )
        .await;
        let e = Client::new(&url, "pw")
            .unwrap()
            .health(Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("larger than 64 MiB"), "{e}");
    }
}
