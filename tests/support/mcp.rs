//! A scripted MCP client: JSON-RPC lines over the standard input and output of a real `ao mcp`,
//! answers matched to their requests by id, notifications kept in the order they came; and the
//! dashboard's `/mcp` over streamable HTTP, one POST at a time.

use std::collections::VecDeque;
use std::io::Write;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{Dashboard, World};

/// The protocol version the client asks for.
pub const PROTOCOL: &str = "2025-06-18";
/// How long one answer may take: a tool that spawns a session or looks at every one.
const ANSWER: Duration = Duration::from_secs(120);

/// `ao mcp` running in a world. Dropping it kills it (by pid) if it still runs, and reaps it.
pub struct McpClient {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Each line, with when it arrived.
    lines: mpsc::Receiver<(Instant, String)>,
    next_id: u64,
    /// Answers read while looking for another, by the order they came.
    answers: VecDeque<Value>,
    /// Notifications read and not yet taken, in the order they came.
    notifications: VecDeque<Value>,
    /// When each of `notifications` arrived.
    arrived: VecDeque<Instant>,
    /// Every line read, for failure messages.
    pub seen: Vec<String>,
}

impl World {
    /// Starts `ao mcp <args>` (not initialized yet).
    pub fn mcp(&self, args: &[&str]) -> McpClient {
        let mut all = vec!["mcp"];
        all.extend_from_slice(args);
        let mut child = self
            .ao_command(&all)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start ao mcp");
        let lines = crate::timed_lines(&mut child);
        let stdin = child.stdin.take();
        McpClient {
            child,
            stdin,
            lines,
            next_id: 1,
            answers: VecDeque::new(),
            notifications: VecDeque::new(),
            arrived: VecDeque::new(),
            seen: Vec::new(),
        }
    }
}

impl McpClient {
    /// Writes one message.
    pub fn write(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{message}").expect("write to ao mcp");
        stdin.flush().expect("flush");
    }

    /// Sends a request; its id.
    pub fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) {
        self.write(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Reads one line (within `timeout`) and files it: an answer or a notification.
    fn read_one(&mut self, timeout: Duration) -> Result<(), String> {
        let (at, line) = self
            .lines
            .recv_timeout(timeout)
            .map_err(|e| format!("{e}; lines so far:\n{}", self.seen.join("\n")))?;
        self.seen.push(line.clone());
        let message: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("ao mcp wrote a line that is not JSON ({e}): {line}"));
        if message.get("id").is_some() && message.get("method").is_none() {
            self.answers.push_back(message);
        } else {
            self.notifications.push_back(message);
            self.arrived.push_back(at);
        }
        Ok(())
    }

    /// The answer to request `id` (the whole message: `result` or `error`).
    pub fn answer(&mut self, id: u64) -> Value {
        let deadline = Instant::now() + ANSWER;
        loop {
            if let Some(at) = self.answers.iter().position(|a| a["id"] == id) {
                return self.answers.remove(at).expect("the answer found");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(why) = self.read_one(left) {
                panic!("no answer to request {id} within {ANSWER:?}: {why}");
            }
        }
    }

    /// Whether an answer to `id` was read so far (without reading more).
    pub fn answered(&self, id: u64) -> bool {
        self.answers.iter().any(|a| a["id"] == id)
    }

    /// A request's `result`; panics on an error answer.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        let answer = self.answer(id);
        assert!(answer.get("error").is_none(), "{method} failed: {answer:#}");
        answer["result"].clone()
    }

    /// `initialize` then `notifications/initialized`; the result.
    pub fn initialize(&mut self) -> Value {
        let result = self.request(
            "initialize",
            json!({
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "ao-test", "version": "1"},
            }),
        );
        self.notify("notifications/initialized", json!({}));
        result
    }

    /// `tools/call`: the result (a tool error too: `isError` says).
    pub fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
    }

    /// `tools/call` of a tool that must succeed: its structured content.
    pub fn call_ok(&mut self, tool: &str, arguments: Value) -> Value {
        let result = self.call(tool, arguments.clone());
        assert_ne!(
            result["isError"], true,
            "{tool} {arguments} failed: {result:#}"
        );
        result["structuredContent"].clone()
    }

    /// `tools/call` of a tool that must fail as a person's mistake: its text.
    pub fn call_refused(&mut self, tool: &str, arguments: Value) -> String {
        let result = self.call(tool, arguments.clone());
        assert_eq!(
            result["isError"], true,
            "{tool} {arguments} should be a tool error: {result:#}"
        );
        result["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Takes the first notification (read already or to come, within `timeout`) for which `pred`
    /// holds; those before it stay.
    pub fn notification(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        self.notification_at(timeout, what, pred).0
    }

    /// As [`McpClient::notification`], with when it arrived.
    pub fn notification_at(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> (Value, Instant) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.notifications.iter().position(&pred) {
                let message = self
                    .notifications
                    .remove(at)
                    .expect("the notification found");
                let arrived = self.arrived.remove(at).expect("its arrival");
                return (message, arrived);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(why) = self.read_one(left) {
                panic!("no notification showed {what} within {timeout:?}: {why}");
            }
        }
    }

    /// Every notification for which `pred` holds that arrived after `since`, read already or
    /// waiting to be read now (without waiting for more); they stay to be taken.
    pub fn notifications_since(
        &mut self,
        since: Instant,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        while self.read_one(Duration::ZERO).is_ok() {}
        self.notifications
            .iter()
            .zip(&self.arrived)
            .filter(|(n, at)| **at > since && pred(n))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Forgets every notification that has arrived so far, read or not.
    pub fn drain(&mut self) {
        while self.read_one(Duration::ZERO).is_ok() {}
        self.notifications.clear();
        self.arrived.clear();
    }

    /// Closes standard input, as a client that is done does, and waits (up to 30 s) for the
    /// server to end; its exit status.
    pub fn close(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        crate::wait_until(
            Duration::from_secs(30),
            Duration::from_millis(20),
            || match self.child.try_wait().expect("wait for ao mcp") {
                Some(status) => Ok(status),
                None => Err("ao mcp did not end after its stdin closed".into()),
            },
        )
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// What the dashboard's `/mcp` answered to one POST.
#[derive(Debug)]
pub struct McpHttpAnswer {
    /// The status code.
    pub status: u16,
    /// The session the server gave (`Mcp-Session-Id`), if any.
    pub session: Option<String>,
    /// The JSON-RPC messages in the body (plain JSON, or the data of its server-sent events).
    pub messages: Vec<Value>,
    /// The body.
    pub text: String,
}

impl Dashboard {
    /// `POST /mcp` with `message`, in `session` when given, with the bearer token or without.
    pub fn mcp_post(&self, session: Option<&str>, message: &Value, token: bool) -> McpHttpAnswer {
        self.mcp_request(reqwest::Method::POST, session, Some(message), token, &[])
    }

    /// A request to `/mcp`: `method`, in `session` when given, with `message` as its body when
    /// given, with the bearer token or without, and `extra` headers (an `Origin`, a `Host`).
    /// An event stream a GET opens is not read.
    pub fn mcp_request(
        &self,
        method: reqwest::Method,
        session: Option<&str>,
        message: Option<&Value>,
        token: bool,
        extra: &[(&str, &str)],
    ) -> McpHttpAnswer {
        let get = method == reqwest::Method::GET;
        let mut request = self
            .http
            .request(method, format!("{}/mcp", self.base))
            .header(
                reqwest::header::ACCEPT,
                "application/json, text/event-stream",
            )
            .header("MCP-Protocol-Version", PROTOCOL);
        if let Some(message) = message {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(message.to_string());
        }
        if token {
            request = request.headers(self.bearer());
        }
        if let Some(s) = session {
            request = request.header("Mcp-Session-Id", s);
        }
        for (k, v) in extra {
            request = request.header(*k, *v);
        }
        let r = request.send().expect("a request to /mcp");
        let status = r.status().as_u16();
        let session = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let text = if get && status == 200 {
            String::new()
        } else {
            r.text().expect("a body")
        };
        let messages = if text.trim_start().starts_with('{') {
            serde_json::from_str(&text).into_iter().collect()
        } else {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str(d.trim()).ok())
                .collect()
        };
        McpHttpAnswer {
            status,
            session,
            messages,
            text,
        }
    }
}
