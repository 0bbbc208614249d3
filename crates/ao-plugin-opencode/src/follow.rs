//! The event follower: the program a process-runtime session runs.
//!
//! `ao spawn --runtime process` sends the prompt through the API and starts this follower detached;
//! it follows the server's event stream and writes the session's conversation to its standard
//! output (the session's log) as JSON lines shaped like `opencode run --format json`: `step_start`,
//! `text`, `tool_use`, `step_finish`, `error`, plus `permission_asked`, `question_asked` and
//! `idle`. Unlike `opencode run`, it never answers a permission request: they stay pending for
//! the person (`ao status` shows waiting_input, `ao permit` answers). It keeps running between
//! turns, so the output of `ao send` lands in the same log, and exits when the session is deleted
//! or the server has been unreachable for a while.
//!
//! A server ao started gets a new password each time it starts, and the port of a dead one may be
//! bound by anyone. So the follower of such a server ([`Target::Recorded`]) sends a request only
//! to the server that the project's record names, and only while that server's process (or, on
//! an ssh host, its tunnel's master) runs: before each connection it reads the record again, and
//! after a restart it takes the new URL and password from it before it sends anything.

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use ao_agent::home::StateHome;
use ao_agent::state::OpenState;
use serde_json::{json, Value};

use crate::client::Client;
use crate::events::{EventKind, EventStream};
use crate::server_record::ServerRecord;
use crate::types::{Part, PartKind, ToolStatus};

/// How long the server may be unreachable before the follower gives up.
const SERVER_GONE_AFTER: Duration = Duration::from_secs(30);

/// The server a follower talks to.
pub enum Target {
    /// A server someone else runs, at a fixed URL with the configured password.
    Fixed(Client),
    /// A server ao started, as the project's record names it now.
    Recorded {
        /// The state home whose store holds the record, and how to open the plugin's state there.
        /// It is opened for each read and closed again: a follower lives as long as its session,
        /// and a store held open all that time would keep SQLite's WAL files in the state home
        /// after every `ao` has left it.
        store: (StateHome, OpenState),
        /// The record's key.
        key: String,
        /// The record last read, and a client of its server.
        current: Option<Box<(ServerRecord, Client)>>,
    },
}

impl Target {
    /// The server of a project's record, under `key` in the plugin's state that `store` opens.
    pub fn recorded(store: (StateHome, OpenState), key: String) -> Target {
        Target::Recorded {
            store,
            key,
            current: None,
        }
    }

    /// A client of the server to talk to now; `None` when there is none (no record, a server
    /// still starting, or one whose process is gone), so that nothing is sent to its port.
    async fn client(&mut self) -> Option<&Client> {
        match self {
            Target::Fixed(client) => Some(client),
            Target::Recorded {
                store,
                key,
                current,
            } => {
                let rec = match read_record(store, key).await {
                    Ok(rec) => rec,
                    // A store that cannot be read now (a full or read-only disk) cannot have been
                    // given a new server either: the one last read stays the one, while it runs.
                    Err(()) => current.as_ref().map(|known| known.0.clone()),
                };
                let Some(rec) =
                    rec.filter(|r| !r.is_starting() && r.identity().is_some_and(|p| p.is_alive()))
                else {
                    *current = None;
                    return None;
                };
                // Any change (a new server, a new tunnel, a new password) means a new client,
                // whose password is read from the new record's file.
                if current.as_ref().is_none_or(|known| known.0 != rec) {
                    let client = rec.client().ok()?;
                    *current = Some(Box::new((rec, client)));
                }
                current.as_ref().map(|known| &known.1)
            }
        }
    }

    /// Where the server is, for a message.
    fn describe(&self) -> String {
        match self {
            Target::Fixed(client) => format!("at {}", client.base_url()),
            Target::Recorded { current, key, .. } => match current {
                Some(known) => format!("at {}", known.0),
                None => format!("of {key}"),
            },
        }
    }
}

/// The project's server record in the plugin's state, opened for this read alone.
async fn read_record(
    (home, open): &(StateHome, OpenState),
    key: &str,
) -> Result<Option<ServerRecord>, ()> {
    let (home, open) = (home.clone(), open.clone());
    let state = ao_agent::blocking::unblock(move || open(&home))
        .await
        .map_err(|_| ())?;
    // The project's record names its shared server, whose record is read in turn.
    crate::server_record::resolve(&state, key)
        .await
        .map(|found| found.map(|(rec, _)| rec))
        .map_err(|_| ())
}

/// Writes the session's events as JSON lines until the session is deleted or the server is gone.
/// With the session's `directory` (as the server names it), only that directory's stream is
/// followed; without it (a follower started by an older ao), the server's global one.
pub async fn follow(
    target: &mut Target,
    session_id: &str,
    directory: Option<&str>,
    since_ms: i64,
    out: &mut dyn Write,
) -> Result<(), String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut unreachable_since: Option<Instant> = None;
    let silence = crate::settings::feed_silence();
    loop {
        let connected = match target.client().await {
            Some(client) => EventStream::connect_to(client, directory, silence)
                .await
                .map(|stream| (client, stream))
                .map_err(|_| ()),
            None => Err(()),
        };
        match connected {
            Ok((client, mut stream)) => {
                unreachable_since = None;
                // Catch up on what happened while not connected (the prompt may have been sent
                // before the stream was open).
                match client.messages(session_id, None).await {
                    Ok(messages) => {
                        for m in messages.iter().filter(|m| m.info.time.created >= since_ms) {
                            for part in &m.parts {
                                emit_part(part, session_id, &mut seen, out);
                            }
                        }
                    }
                    Err(e) if e.is_not_found() => return Ok(()),
                    Err(_) => {}
                }
                // A stream that ends, breaks, stays silent past its bound or sends an event too
                // large is connected again, which catches up on what it missed. (Nothing is
                // written about it: standard error is the session's log of JSON lines too.)
                while let Ok(Some(event)) = stream.next().await {
                    let p = &event.payload;
                    if p.session_id() != Some(session_id) {
                        continue;
                    }
                    match p.kind {
                        EventKind::MessagePartUpdated => {
                            if let Some(part) = p.properties.get("part") {
                                emit_part(part, session_id, &mut seen, out);
                            }
                        }
                        EventKind::PermissionAsked => emit(
                            out,
                            "permission_asked",
                            session_id,
                            "request",
                            &p.properties,
                        ),
                        EventKind::QuestionAsked => {
                            emit(out, "question_asked", session_id, "request", &p.properties)
                        }
                        EventKind::SessionError => {
                            let err = p.properties.get("error").cloned().unwrap_or(Value::Null);
                            emit(out, "error", session_id, "error", &err);
                        }
                        EventKind::SessionIdle => {
                            emit(out, "idle", session_id, "session", &Value::Null)
                        }
                        EventKind::SessionDeleted => return Ok(()),
                        // The rest is in the parts, or not part of the conversation.
                        EventKind::ServerConnected
                        | EventKind::ServerHeartbeat
                        | EventKind::SessionCreated
                        | EventKind::SessionUpdated
                        | EventKind::SessionStatus
                        | EventKind::SessionDiff
                        | EventKind::MessageUpdated
                        | EventKind::MessagePartDelta
                        | EventKind::PermissionReplied
                        | EventKind::QuestionReplied
                        | EventKind::QuestionRejected
                        | EventKind::ProjectUpdated
                        | EventKind::Sync
                        | EventKind::Unknown => {}
                    }
                }
            }
            Err(_) => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() > SERVER_GONE_AFTER {
                    return Err(format!("the OpenCode server {} is gone", target.describe()));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Writes a part, whole as sent, once it is final; each part is written once.
fn emit_part(raw: &Value, session_id: &str, seen: &mut HashSet<String>, out: &mut dyn Write) {
    let part = Part::read(raw);
    if part.id.is_empty() || seen.contains(&part.id) {
        return;
    }
    let kind = match part.kind {
        PartKind::StepStart => "step_start",
        PartKind::StepFinish => "step_finish",
        PartKind::Text if part.time.end.is_some() => "text",
        PartKind::Tool
            if matches!(part.state.status, ToolStatus::Completed | ToolStatus::Error) =>
        {
            "tool_use"
        }
        // Not final yet (text still streaming, a tool call not done), or not logged.
        PartKind::Text
        | PartKind::Tool
        | PartKind::Reasoning
        | PartKind::File
        | PartKind::Patch
        | PartKind::Agent
        | PartKind::Snapshot
        | PartKind::Compaction
        | PartKind::Subtask
        | PartKind::Retry
        | PartKind::Unknown => return,
    };
    seen.insert(part.id);
    emit(out, kind, session_id, "part", raw);
}

fn emit(out: &mut dyn Write, kind: &str, session_id: &str, key: &str, value: &Value) {
    let mut line = json!({
        "type": kind,
        "timestamp": crate::now_ms(),
        "sessionID": session_id,
    });
    if !value.is_null() {
        line[key] = value.clone();
    }
    // The log is best effort: a full disk must not stop the session.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_parts_are_logged_whole_and_once() {
        let parts = [
            json!({"id": "prt_1", "type": "step-start", "snapshot": "abc"}),
            json!({"id": "prt_2", "type": "text", "text": ""}),
            json!({"id": "prt_3", "type": "hologram"}),
            json!({"id": "prt_4", "type": "tool", "state": {"status": "running"}}),
            json!({"id": "prt_4", "type": "tool",
                   "state": {"status": "completed", "output": "x", "metadata": {"exit": 0}}}),
            json!({"id": "prt_4", "type": "tool", "state": {"status": "completed"}}),
        ];
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for p in &parts {
            emit_part(p, "ses_1", &mut seen, &mut out);
        }
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let kinds: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["step_start", "tool_use"]);
        // The part as OpenCode sent it, fields ao does not read included.
        assert_eq!(lines[0]["part"], parts[0]);
        assert_eq!(lines[1]["part"], parts[4]);
    }
}
