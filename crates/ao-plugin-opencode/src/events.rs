//! OpenCode's global event stream (`GET /global/event`, server-sent events), as typed events.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use reqwest::Method;
use serde::Deserialize;

use crate::client::{Client, ClientError};

/// One event of the global stream: the directory it came from and the payload.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GlobalEvent {
    /// The directory instance, absent for server-wide events.
    pub directory: Option<String>,
    /// The event itself.
    pub payload: EventPayload,
}

/// An event: `{"type", "properties"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EventPayload {
    /// e.g. `session.status`, `message.part.updated`, `permission.asked`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's data.
    pub properties: serde_json::Value,
}

impl EventPayload {
    /// The session the event is about, wherever the event type keeps it.
    pub fn session_id(&self) -> Option<&str> {
        let p = &self.properties;
        p.get("sessionID")
            .or_else(|| p.get("part").and_then(|x| x.get("sessionID")))
            .or_else(|| p.get("info").and_then(|x| x.get("sessionID")))
            .and_then(|v| v.as_str())
    }
}

/// An open event stream.
pub struct EventStream {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    buf: Vec<u8>,
}

impl EventStream {
    /// Connects to `/global/event`. Returns once the server has answered with its headers.
    pub async fn connect(client: &Client) -> Result<EventStream, ClientError> {
        let resp = client
            .request(Method::GET, "/global/event")
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|source| ClientError::Unreachable {
                url: client.base_url().to_string(),
                source,
            })?;
        if !resp.status().is_success() {
            return Err(ClientError::Status {
                method: "GET".into(),
                path: "/global/event".into(),
                status: resp.status(),
                body: String::new(),
            });
        }
        Ok(EventStream {
            body: resp.bytes_stream().boxed(),
            buf: Vec::new(),
        })
    }

    /// The next event; `None` when the stream ended or broke.
    pub async fn next(&mut self) -> Option<GlobalEvent> {
        loop {
            if let Some(event) = self.take_event() {
                match event {
                    Some(e) => return Some(e),
                    None => continue, // a comment or an event we cannot read
                }
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                _ => return None,
            }
        }
    }

    /// Takes one complete SSE event off the buffer: `Some(None)` for one without usable data.
    fn take_event(&mut self) -> Option<Option<GlobalEvent>> {
        let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
        let raw: Vec<u8> = self.buf.drain(..end + 2).collect();
        let text = String::from_utf8_lossy(&raw);
        let data: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            return Some(None);
        }
        Some(serde_json::from_str(&data.join("\n")).ok())
    }
}
