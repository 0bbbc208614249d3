//! OpenCode's event streams (server-sent events), as typed events: the global one
//! (`GET /global/event`, every directory's), and one directory's (`GET /event?directory=`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use sse_stream::{Sse, SseByteStream};

use ao_agent::agent::Change;

use crate::client::{Client, ClientError, MAX_EVENT_BYTES};

/// How often OpenCode sends `server.heartbeat` on an idle stream (measured on 1.18.33: 10 s).
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(10);

/// How long a stream may say nothing, not even a heartbeat, before ao takes it for dead: three
/// heartbeats. A buffering proxy or a wedged server keeps a connection open without sending, and
/// a feed trusted forever would hide every change behind it (no notification, no budget stop).
pub const DEFAULT_SILENCE: Duration = Duration::from_secs(3 * HEARTBEAT_PERIOD.as_secs());

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
    /// The bytes received since the last event was parsed: the size of the event under way, give
    /// or take one chunk. Past [`MAX_EVENT_BYTES`] the body stops (the parser would buffer it all).
    unparsed: Arc<AtomicUsize>,
    /// How long the stream may say nothing before it counts as dead.
    silence: Duration,
    /// The server's URL, for errors.
    url: String,
    /// The directory whose stream this is (its events come unwrapped, as payloads); `None` for
    /// the global stream.
    directory: Option<String>,
}

impl EventStream {
    /// Connects to `/global/event`. Returns once the server has answered with its headers, which
    /// it must do within `silence`; after that, [`EventStream::next`] fails when the stream says
    /// nothing for as long.
    pub async fn connect(client: &Client, silence: Duration) -> Result<EventStream, ClientError> {
        Self::connect_to(client, None, silence).await
    }

    /// [`connect`](Self::connect), or with a `directory`, to that directory's stream
    /// (`/event?directory=`): only what happens in that directory's instance, and the server's
    /// own events, each event then said with the directory as the global stream's are. A
    /// session's follower needs no more, and the server then writes each event to the followers
    /// of its directory only, not to every follower of every project it serves.
    pub async fn connect_to(
        client: &Client,
        directory: Option<&str>,
        silence: Duration,
    ) -> Result<EventStream, ClientError> {
        let directory = directory.map(str::to_string);
        let path = if directory.is_some() {
            "/event"
        } else {
            "/global/event"
        };
        let mut request = client
            .request(Method::GET, path)
            .header("accept", "text/event-stream");
        if let Some(dir) = &directory {
            request = request.query(&[("directory", dir)]);
        }
        let resp = tokio::time::timeout(silence, request.send())
            .await
            .map_err(|_| ClientError::Silent {
                url: client.base_url().to_string(),
                after: silence,
            })?
            .map_err(|source| client.unreachable(format!("GET {path}"), source))?;
        if !resp.status().is_success() {
            return Err(ClientError::Status {
                method: "GET".into(),
                path: path.into(),
                status: resp.status(),
                body: String::new(),
            });
        }
        let mut stream = EventStream::from_bytes(resp.bytes_stream(), silence, client.base_url());
        stream.directory = directory;
        Ok(stream)
    }

    /// The events of a body that arrives as these chunks.
    pub(crate) fn from_bytes(
        body: impl futures_util::Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
        silence: Duration,
        url: &str,
    ) -> EventStream {
        let unparsed = Arc::new(AtomicUsize::new(0));
        let counted = unparsed.clone();
        let body = body.map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            let under_way = counted.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len();
            if under_way > MAX_EVENT_BYTES {
                return Err(std::io::Error::other("event too large"));
            }
            Ok(chunk)
        });
        EventStream {
            events: SseByteStream::new(body).boxed(),
            unparsed,
            silence,
            url: url.to_string(),
            directory: None,
        }
    }

    /// The next event; `Ok(None)` when the stream ended or broke. An event larger than
    /// [`MAX_EVENT_BYTES`] is [`ClientError::TooLarge`], and a stream that says nothing (not even
    /// OpenCode's heartbeat) for its silence bound is [`ClientError::Silent`]: either way it is
    /// over, and the caller connects again.
    pub async fn next(&mut self) -> Result<Option<GlobalEvent>, ClientError> {
        loop {
            let sse = match tokio::time::timeout(self.silence, self.events.next()).await {
                Err(_) => {
                    return Err(ClientError::Silent {
                        url: self.url.clone(),
                        after: self.silence,
                    })
                }
                Ok(None) => return Ok(None),
                Ok(Some(Err(_))) if self.unparsed.load(Ordering::Relaxed) > MAX_EVENT_BYTES => {
                    return Err(ClientError::TooLarge {
                        url: self.url.clone(),
                        what: match &self.directory {
                            None => "an event of GET /global/event".into(),
                            Some(dir) => format!("an event of GET /event for {dir}"),
                        },
                        limit: MAX_EVENT_BYTES,
                    })
                }
                Ok(Some(Err(_))) => return Ok(None),
                Ok(Some(Ok(sse))) => sse,
            };
            self.unparsed.store(0, Ordering::Relaxed);
            // A block without data (a `retry:` alone) is no event, and one that is not an event of
            // OpenCode's shape is skipped rather than ending the stream.
            let Some(data) = sse.data else {
                continue;
            };
            let event = match &self.directory {
                None => serde_json::from_str(&data).ok(),
                Some(dir) => serde_json::from_str(&data).ok().map(|payload| GlobalEvent {
                    directory: Some(dir.clone()),
                    payload,
                }),
            };
            if let Some(event) = event {
                return Ok(Some(event));
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
        let mut stream = EventStream::from_bytes(
            futures_util::stream::iter(chunks),
            DEFAULT_SILENCE,
            "http://test",
        );
        let mut out = Vec::new();
        while let Some(e) = stream.next().await.unwrap() {
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
    async fn a_directory_stream_says_its_directory_with_each_event() {
        // Shaped as `GET /event?directory=` sends them (measured on 1.18.33): unwrapped.
        let body = concat!(
            "data: {\"id\":\"evt_1\",\"type\":\"server.connected\",\"properties\":{}}\n\n",
            "data: {\"id\":\"evt_2\",\"type\":\"session.idle\",",
            "\"properties\":{\"sessionID\":\"ses_a\"}}\n\n"
        );
        let chunks: Vec<reqwest::Result<Bytes>> = vec![Ok(Bytes::from_static(body.as_bytes()))];
        let mut stream = EventStream::from_bytes(
            futures_util::stream::iter(chunks),
            DEFAULT_SILENCE,
            "http://test",
        );
        stream.directory = Some("/p".into());
        let first = stream.next().await.unwrap().expect("an event");
        assert_eq!(first.payload.kind, EventKind::ServerConnected);
        let idle = stream.next().await.unwrap().expect("an event");
        assert_eq!(
            (
                idle.directory.as_deref(),
                idle.payload.kind,
                session_of(&idle)
            ),
            (Some("/p"), EventKind::SessionIdle, "ses_a")
        );
    }

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

    /// A stream from a fake server that sends `first`, then `filler` without end (or, without
    /// one, nothing more).
    async fn stream_of(first: &'static str, filler: Option<u8>, silence: Duration) -> EventStream {
        let url = crate::client::tests::endless_server(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n",
            first,
            filler,
        )
        .await;
        let client = Client::new(&url, "pw").unwrap();
        EventStream::connect(&client, silence).await.unwrap()
    }

    #[tokio::test]
    async fn an_endless_event_fails_at_the_limit_and_says_so() {
        let first = "data: {\"payload\":{\"type\":\"server.connected\"}}\n\ndata: \"";
        let mut stream = stream_of(first, Some(b'x'), DEFAULT_SILENCE).await;
        let started = std::time::Instant::now();
        let connected = stream.next().await.unwrap().unwrap();
        assert_eq!(connected.payload.kind, EventKind::ServerConnected);
        let e = stream.next().await.unwrap_err();
        assert!(
            e.to_string()
                .contains("an event of GET /global/event is larger than 16 MiB"),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_stream_that_says_nothing_for_its_bound_is_over() {
        // A heartbeat, then an open connection that says nothing more.
        let silence = Duration::from_millis(300);
        let heartbeat = "data: {\"payload\":{\"type\":\"server.heartbeat\"}}\n\n";
        let mut stream = stream_of(heartbeat, None, silence).await;
        let beat = stream.next().await.unwrap().unwrap();
        assert_eq!(beat.payload.kind, EventKind::ServerHeartbeat);
        let started = std::time::Instant::now();
        let e = stream.next().await.unwrap_err();
        assert!(matches!(e, ClientError::Silent { .. }), "{e}");
        assert!(e.to_string().contains("said nothing for 0.3 s"), "{e}");
        assert!(started.elapsed() >= silence);
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
