//! A running `ao dashboard`, and plain HTTP requests to it, as a script would make them.

use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::{Lines, World};

/// `ao dashboard` running in a world; dropping it kills it (by pid) if it still runs.
pub struct Dashboard {
    /// The process and what it printed.
    pub process: Lines,
    /// The URL it printed: `http://127.0.0.1:PORT/#token=TOKEN`.
    pub url: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The token in the URL.
    pub token: String,
    pub(crate) http: Client,
}

impl World {
    /// Starts `ao dashboard <args>` and reads the URL from its first line.
    pub fn dashboard(&self, args: &[&str]) -> Dashboard {
        let mut all = vec!["dashboard"];
        all.extend_from_slice(args);
        self.dashboard_from(self.ao_command(&all))
    }

    /// Starts `command` (an `ao dashboard` command, changed as the caller needs) and reads the
    /// URL from its first line.
    pub fn dashboard_from(&self, command: std::process::Command) -> Dashboard {
        let mut process = Lines::start(command);
        let url = process.next(Duration::from_secs(60));
        // `/?token=`: how ao printed it before the token moved to the fragment (a test's check
        // that it fails on the code before a change reads that too).
        let (base, token) = url
            .split_once("/#token=")
            .or_else(|| url.split_once("/?token="))
            .unwrap_or_else(|| panic!("the first line is not the dashboard's URL: {url}"));
        let (base, token) = (base.to_string(), token.to_string());
        Dashboard {
            process,
            url,
            base,
            token,
            // Loopback only: the test's environment may name a proxy that is not there.
            http: Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("an HTTP client"),
        }
    }
}

/// A response: its status and its body as JSON (`Value::Null` when it is not JSON).
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body, parsed.
    pub json: Value,
    /// The body.
    pub text: String,
}

impl Answer {
    fn of(r: Response) -> Answer {
        let status = r.status().as_u16();
        let text = r.text().expect("a body");
        Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// The `error` of a failed request.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }
}

impl Dashboard {
    pub(crate) fn bearer(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", self.token)).expect("a header"),
        );
        h
    }

    /// `GET path` with the bearer token.
    pub fn get(&self, path: &str) -> Answer {
        Answer::of(
            self.http
                .get(format!("{}{path}", self.base))
                .headers(self.bearer())
                .send()
                .expect("GET"),
        )
    }

    /// `GET path` with no token at all.
    pub fn get_anonymous(&self, path: &str) -> Answer {
        Answer::of(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .expect("GET"),
        )
    }

    /// `POST path` with the bearer token and `body` as it is, plus `extra` headers.
    pub fn post_raw(&self, path: &str, body: impl Into<String>, extra: &[(&str, &str)]) -> Answer {
        let mut headers = self.bearer();
        for (k, v) in extra {
            headers.insert(
                HeaderName::from_bytes(k.as_bytes()).expect("a header name"),
                HeaderValue::from_str(v).expect("a header value"),
            );
        }
        Answer::of(
            self.http
                .post(format!("{}{path}", self.base))
                .headers(headers)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.into())
                .send()
                .expect("POST"),
        )
    }

    /// `POST path` with the bearer token and `body` as JSON.
    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.post_raw(path, body.to_string(), &[])
    }

    /// `POST path` with no token.
    pub fn post_anonymous(&self, path: &str, body: &Value) -> Answer {
        Answer::of(
            self.http
                .post(format!("{}{path}", self.base))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
                .send()
                .expect("POST"),
        )
    }

    /// `GET /api/events` with the bearer token, read as it comes.
    pub fn events(&self) -> Events {
        let r = self
            .http
            .get(format!("{}/api/events", self.base))
            .headers(self.bearer())
            .timeout(Duration::from_secs(3600))
            .send()
            .expect("GET /api/events");
        assert_eq!(r.status().as_u16(), 200, "GET /api/events");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut name = String::new();
            let mut data = String::new();
            for line in std::io::BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if line.is_empty() {
                    if !data.is_empty()
                        && tx
                            .send((std::mem::take(&mut name), std::mem::take(&mut data)))
                            .is_err()
                    {
                        break;
                    }
                    name.clear();
                } else if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
        });
        Events { rx }
    }
}

/// The events of one `GET /api/events`. Dropping it closes the connection (once the reading
/// thread next wakes).
pub struct Events {
    rx: std::sync::mpsc::Receiver<(String, String)>,
}

impl Events {
    /// The next event: its name and its data as JSON.
    pub fn next(&self, timeout: Duration) -> (String, Value) {
        let (name, data) = self
            .rx
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("no event within {timeout:?}: {e}"));
        let value =
            serde_json::from_str(&data).unwrap_or_else(|e| panic!("not JSON ({e}): {data}"));
        (name, value)
    }

    /// Events until `pred` holds for one (within `timeout` in all); that one.
    pub fn until(
        &self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str, &Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((name, data)) => {
                    let value: Value = serde_json::from_str(&data).expect("JSON");
                    if pred(&name, &value) {
                        return value;
                    }
                    seen.push(format!("{name}: {data}"));
                }
                Err(_) => panic!(
                    "no event showed {what} within {timeout:?}; events:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }
}
