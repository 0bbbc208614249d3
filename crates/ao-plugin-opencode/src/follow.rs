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

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::Client;
use crate::events::EventStream;

/// How long the server may be unreachable before the follower gives up.
const SERVER_GONE_AFTER: Duration = Duration::from_secs(30);

/// Writes the session's events as JSON lines until the session is deleted or the server is gone.
pub async fn follow(
    client: &Client,
    session_id: &str,
    since_ms: i64,
    out: &mut dyn Write,
) -> Result<(), String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut unreachable_since: Option<Instant> = None;
    loop {
        match EventStream::connect(client).await {
            Ok(mut stream) => {
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
                while let Some(event) = stream.next().await {
                    let p = &event.payload;
                    if p.session_id() != Some(session_id) {
                        continue;
                    }
                    match p.kind.as_str() {
                        "message.part.updated" => {
                            if let Some(part) = p.properties.get("part") {
                                emit_part(part, session_id, &mut seen, out);
                            }
                        }
                        "permission.asked" => emit(
                            out,
                            "permission_asked",
                            session_id,
                            "request",
                            &p.properties,
                        ),
                        "question.asked" => {
                            emit(out, "question_asked", session_id, "request", &p.properties)
                        }
                        "session.error" => {
                            let err = p.properties.get("error").cloned().unwrap_or(Value::Null);
                            emit(out, "error", session_id, "error", &err);
                        }
                        "session.idle" => emit(out, "idle", session_id, "session", &Value::Null),
                        "session.deleted" => return Ok(()),
                        _ => {}
                    }
                }
            }
            Err(_) => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() > SERVER_GONE_AFTER {
                    return Err(format!(
                        "the OpenCode server at {} is gone",
                        client.base_url()
                    ));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Writes a part once it is final; each part is written once.
fn emit_part(part: &Value, session_id: &str, seen: &mut HashSet<String>, out: &mut dyn Write) {
    let id = part.get("id").and_then(Value::as_str).unwrap_or_default();
    if id.is_empty() || seen.contains(id) {
        return;
    }
    let kind = match part.get("type").and_then(Value::as_str) {
        Some("step-start") => "step_start",
        Some("step-finish") => "step_finish",
        Some("text") if part.pointer("/time/end").is_some() => "text",
        Some("tool")
            if matches!(
                part.pointer("/state/status").and_then(Value::as_str),
                Some("completed") | Some("error")
            ) =>
        {
            "tool_use"
        }
        _ => return,
    };
    seen.insert(id.to_string());
    emit(out, kind, session_id, "part", part);
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
