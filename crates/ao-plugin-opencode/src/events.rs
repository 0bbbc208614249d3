//! OpenCode's global event stream (`GET /global/event`, server-sent events), as typed events.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use sse_stream::{Sse, SseByteStream};

use ao_core::agent::Change;

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
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The event's data.
    pub properties: serde_json::Value,
}

/// The types of event OpenCode sends (measured on 1.18.33: the ones it emits, not every one its
/// spec lists).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum EventKind {
    /// The first event of a stream.
    #[serde(rename = "server.connected")]
    ServerConnected,
    /// Sent about every 10 s to keep the stream open.
    #[serde(rename = "server.heartbeat")]
    ServerHeartbeat,
    /// `{sessionID, info}`.
    #[serde(rename = "session.created")]
    SessionCreated,
    /// `{sessionID, info}`: the session, its totals included, changed.
    #[serde(rename = "session.updated")]
    SessionUpdated,
    /// `{sessionID, info}`.
    #[serde(rename = "session.deleted")]
    SessionDeleted,
    /// `{sessionID, status}`: busy, retry or idle.
    #[serde(rename = "session.status")]
    SessionStatus,
    /// `{sessionID}`: the turn is over.
    #[serde(rename = "session.idle")]
    SessionIdle,
    /// `{sessionID, error}`: the turn failed.
    #[serde(rename = "session.error")]
    SessionError,
    /// `{sessionID, diff}`.
    #[serde(rename = "session.diff")]
    SessionDiff,
    /// `{sessionID, info}`: a message was stored or changed.
    #[serde(rename = "message.updated")]
    MessageUpdated,
    /// `{sessionID, part}`: a part was stored or changed.
    #[serde(rename = "message.part.updated")]
    MessagePartUpdated,
    /// `{sessionID, messageID, partID, field, delta}`: text streaming in.
    #[serde(rename = "message.part.delta")]
    MessagePartDelta,
    /// A permission request (`per_…`) is pending.
    #[serde(rename = "permission.asked")]
    PermissionAsked,
    /// `{sessionID, requestID, reply}`.
    #[serde(rename = "permission.replied")]
    PermissionReplied,
    /// A question (`que_…`) is pending.
    #[serde(rename = "question.asked")]
    QuestionAsked,
    /// `{sessionID, requestID, answers}`.
    #[serde(rename = "question.replied")]
    QuestionReplied,
    /// The question was dismissed.
    #[serde(rename = "question.rejected")]
    QuestionRejected,
    /// A project changed (directory `global`).
    #[serde(rename = "project.updated")]
    ProjectUpdated,
    /// One persisted change, on the global stream only.
    #[serde(rename = "sync")]
    Sync,
    /// A type this version of ao does not know.
    #[default]
    #[serde(other)]
    Unknown,
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

impl GlobalEvent {
    /// What the event may change of what `ao status` says, if anything: one conversation, or
    /// (for a request, which may be asked in a child conversation on its parent's behalf) any.
    /// Part updates and text deltas are left out: a turn streams hundreds of them, and what they
    /// change (a step's tokens and cost, the turn's state) comes again in `message.updated` and
    /// `session.status`.
    pub fn change(&self) -> Option<Change> {
        use EventKind as E;
        let p = &self.payload;
        match p.kind {
            E::PermissionAsked
            | E::PermissionReplied
            | E::QuestionAsked
            | E::QuestionReplied
            | E::QuestionRejected => Some(Change::Any),
            E::SessionStatus
            | E::SessionIdle
            | E::SessionError
            | E::SessionUpdated
            | E::SessionDeleted
            | E::MessageUpdated => p.session_id().map(|id| Change::Session(id.to_string())),
            E::ServerConnected
            | E::ServerHeartbeat
            | E::SessionCreated
            | E::SessionDiff
            | E::MessagePartUpdated
            | E::MessagePartDelta
            | E::ProjectUpdated
            | E::Sync
            | E::Unknown => None,
        }
    }
}

/// An open event stream.
pub struct EventStream {
    /// The body's server-sent events, parsed as the chunks arrive, each byte once: line ends may be
    /// CRLF, LF or CR (even split across chunks), `data:` may take several lines, comments are
    /// dropped.
    events: BoxStream<'static, Result<Sse, sse_stream::Error>>,
}

impl EventStream {
    /// Connects to `/global/event`. Returns once the server has answered with its headers.
    pub async fn connect(client: &Client) -> Result<EventStream, ClientError> {
        let resp = client
            .request(Method::GET, "/global/event")
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|source| client.unreachable("GET /global/event".into(), source))?;
        if !resp.status().is_success() {
            return Err(ClientError::Status {
                method: "GET".into(),
                path: "/global/event".into(),
                status: resp.status(),
                body: String::new(),
            });
        }
        Ok(EventStream::from_bytes(resp.bytes_stream()))
    }

    /// The events of a body that arrives as these chunks.
    pub(crate) fn from_bytes(
        body: impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    ) -> EventStream {
        EventStream {
            events: SseByteStream::new(body).boxed(),
        }
    }

    /// The next event; `None` when the stream ended or broke.
    pub async fn next(&mut self) -> Option<GlobalEvent> {
        loop {
            let sse = self.events.next().await?.ok()?;
            // A block without data (a `retry:` alone) is no event, and one that is not an event of
            // OpenCode's shape is skipped rather than ending the stream.
            if let Some(event) = sse.data.and_then(|d| serde_json::from_str(&d).ok()) {
                return Some(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events read from a body that arrives in these chunks.
    async fn read(chunks: &[&str]) -> Vec<GlobalEvent> {
        let chunks: Vec<reqwest::Result<Bytes>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c.as_bytes())))
            .collect();
        let mut stream = EventStream::from_bytes(futures_util::stream::iter(chunks));
        let mut out = Vec::new();
        while let Some(e) = stream.next().await {
            out.push(e);
        }
        out
    }

    fn session_of(e: &GlobalEvent) -> &str {
        e.payload.session_id().unwrap_or_default()
    }

    const IDLE_A: &str = r#"{"directory":"/p","payload":{"type":"session.idle","properties":{"sessionID":"ses_a"}}}"#;
    const IDLE_B: &str =
        r#"{"payload":{"type":"session.idle","properties":{"sessionID":"ses_b"}}}"#;

    #[tokio::test]
    async fn crlf_and_cr_end_lines_too() {
        let body = format!("data: {IDLE_A}\r\n\r\ndata: {IDLE_B}\r\r");
        let events = read(&[&body]).await;
        assert_eq!(
            events.iter().map(session_of).collect::<Vec<_>>(),
            ["ses_a", "ses_b"]
        );
        assert_eq!(events[0].directory.as_deref(), Some("/p"));
    }

    #[tokio::test]
    async fn data_may_span_several_lines() {
        let body = "data: {\"payload\":\r\ndata: {\"type\":\"session.idle\",\rdata:\"properties\":{\"sessionID\":\"ses_m\"}}}\n\n";
        let events = read(&[body]).await;
        assert_eq!(events.iter().map(session_of).collect::<Vec<_>>(), ["ses_m"]);
    }

    #[tokio::test]
    async fn an_event_may_come_in_many_chunks_even_inside_a_line_end() {
        let body = format!("data: {IDLE_A}\r\n\r\ndata: {IDLE_B}\n\n");
        // Every split point, and one chunk per byte.
        for at in 0..body.len() {
            let (head, tail) = body.split_at(at);
            let events = read(&[head, tail]).await;
            assert_eq!(
                events.iter().map(session_of).collect::<Vec<_>>(),
                ["ses_a", "ses_b"],
                "split at {at}"
            );
        }
        let bytes: Vec<String> = body.chars().map(String::from).collect();
        let bytes: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(read(&bytes).await.len(), 2);
    }

    #[tokio::test]
    async fn an_event_of_an_unknown_type_still_reads() {
        let body = format!(
            "data: {}\n\ndata: {IDLE_A}\n\n",
            r#"{"payload":{"type":"session.hologram","properties":{"sessionID":"ses_h"}}}"#
        );
        let events = read(&[&body]).await;
        let kinds: Vec<EventKind> = events.iter().map(|e| e.payload.kind).collect();
        assert_eq!(kinds, [EventKind::Unknown, EventKind::SessionIdle]);
        assert_eq!(session_of(&events[0]), "ses_h");
    }

    #[tokio::test]
    async fn comments_keep_alives_and_other_fields_are_not_events() {
        let body = format!(
            ": keep-alive\n\n:\r\n\r\nretry: 1000\n\nevent: message\nid: 7\n: note\ndata: {IDLE_A}\n\ndata: not json\n\n"
        );
        let events = read(&[&body]).await;
        assert_eq!(events.iter().map(session_of).collect::<Vec<_>>(), ["ses_a"]);
    }
}
