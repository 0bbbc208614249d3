//! The `wait` tool: the manager's wait (the agent's events, polling besides), with progress from
//! the live hub while it runs, and an end as soon as the client cancels.
//!
//! A timeout is a normal answer (`timed_out`), as is a session that exits first (its error);
//! only a person's mistake (a session that is not there, a bad state word, a bad timeout) is a
//! tool error.

use std::time::Duration;

use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::ErrorData;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use ao_core::live::{HubChange, HubUpdate};
use ao_core::manager::{parse_until, UNTIL_NOT_ACTIVE, WAIT_POLL_INTERVAL};
use ao_core::session::Activity;
use ao_core::target::Target;

use crate::server::AoMcp;
use crate::tools::{done, refused, said, status_json, target, WaitInput};

/// How long a wait lasts when the client names no timeout, and the longest it may name.
const DEFAULT_TIMEOUT: f64 = 600.0;
const MAX_TIMEOUT: f64 = 3600.0;
/// The longest time between two progress notifications, changes or not: a client that counts a
/// silent request as dead hears that it is alive.
const PROGRESS_PERIOD: Duration = Duration::from_secs(5);

/// The states `until` names, as `ao wait --until` reads them.
fn states(words: Option<&[String]>) -> Result<Vec<Activity>, String> {
    match words {
        None | Some([]) => Ok(UNTIL_NOT_ACTIVE.to_vec()),
        Some(words) => words.iter().map(|w| parse_until(w)).collect(),
    }
}

/// The timeout the client named, checked.
fn timeout(seconds: Option<f64>) -> Result<Duration, String> {
    let s = seconds.unwrap_or(DEFAULT_TIMEOUT);
    if s.is_finite() && (0.0..=MAX_TIMEOUT).contains(&s) {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(format!(
            "timeout {s} is not a number of seconds from 0 to {MAX_TIMEOUT}"
        ))
    }
}

/// Runs `wait`.
pub(crate) async fn run(
    server: &AoMcp,
    input: WaitInput,
    context: RequestContext<RoleServer>,
) -> Result<CallToolResult, ErrorData> {
    let until = match states(input.until.as_deref()) {
        Ok(u) => u,
        Err(e) => return Ok(refused(e)),
    };
    let limit = match timeout(input.timeout) {
        Ok(t) => t,
        Err(e) => return Ok(refused(e)),
    };
    let target = match target(&input.session, "session") {
        Ok(t) => t,
        Err(said) => return Ok(refused(said)),
    };
    let hub = server.hub();
    let mgr = hub.manager();
    let rec = match mgr.resolve_one(&target).await {
        Ok(rec) => rec,
        Err(e) => return Ok(refused(said(&e))),
    };
    let id = rec.address.to_string();
    let one = Target::Session(rec.address.clone());
    let progress_token = context.meta.get_progress_token();
    // The session's changes are followed only to be said as progress.
    let mut updates = progress_token.as_ref().map(|_| hub.subscribe().updates);
    let mut tick = tokio::time::interval(PROGRESS_PERIOD);
    let mut sent = 0u32;
    let waiting = mgr.wait(&one, &until, limit, WAIT_POLL_INTERVAL);
    let mut waiting = std::pin::pin!(waiting);
    let outcome = loop {
        // What to say as progress, if anything.
        let activity = tokio::select! {
            // A cancel comes first: no progress goes out once the client said it is done.
            biased;
            // The answer is dropped by rmcp for a cancelled request: this only ends the work.
            _ = context.ct.cancelled() => return Err(gone("the wait was cancelled")),
            outcome = &mut waiting => break outcome,
            update = next_update(&mut updates) => match update {
                Ok(update) => match update.what {
                    HubChange::Session(s) if s.id() == id => Some(s.session.status.activity),
                    _ => None,
                },
                Err(RecvError::Lagged(_)) => None,
                Err(RecvError::Closed) => {
                    updates = None;
                    None
                }
            },
            _ = tick.tick() => {
                // A client that went away without cancelling (an HTTP client that closed its
                // stream) ends the wait: nobody would read its answer.
                if context.peer.is_transport_closed() {
                    return Err(gone("the client went away"));
                }
                hub.session(&id).map(|s| s.session.status.activity)
            }
        };
        if let (Some(token), Some(activity)) = (&progress_token, activity) {
            sent += 1;
            let mut note = ProgressNotificationParam::new(token.clone(), f64::from(sent));
            note.message = Some(format!("{id}: {activity}"));
            if context.peer.notify_progress(note).await.is_err() {
                return Err(gone("the client went away"));
            }
        }
    };
    Ok(match outcome {
        Ok(seen) => {
            let activity = seen.activity;
            done(
                format!("{id}: {activity}"),
                json!({
                    "id": id,
                    "activity": activity,
                    "reached": true,
                    "timed_out": false,
                    "status": status_json(&seen, server.allow_replies()),
                }),
            )
        }
        Err(ao_core::Error::Wait(why)) => {
            let now = mgr.status(&one).await.ok().and_then(|mut s| s.pop());
            let activity = now.as_ref().map(|s| s.activity);
            // The manager's wait ends short of the state only when the session exits first or
            // the time is up.
            let timed_out = activity != Some(Activity::Exited);
            done(
                why.clone(),
                json!({
                    "id": id,
                    "activity": activity,
                    "reached": false,
                    "timed_out": timed_out,
                    "error": why,
                    "status": now.as_ref().map(|s| status_json(s, server.allow_replies())),
                }),
            )
        }
        Err(e) => refused(said(&e)),
    })
}

/// The next change the hub broadcasts, when following; never, when not.
async fn next_update(
    updates: &mut Option<tokio::sync::broadcast::Receiver<HubUpdate>>,
) -> Result<HubUpdate, RecvError> {
    match updates {
        Some(u) => u.recv().await,
        None => std::future::pending().await,
    }
}

/// The end of a wait nobody will read the answer of.
fn gone(why: &str) -> ErrorData {
    ErrorData::internal_error(why.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_timeouts_read_as_ao_wait_reads_them() {
        assert_eq!(states(None).unwrap().len(), 5);
        assert_eq!(
            states(Some(&["ready".into(), "waiting_input".into()])).unwrap(),
            vec![Activity::Ready, Activity::WaitingInput]
        );
        let e = states(Some(&["done".into()])).unwrap_err();
        assert!(e.contains("done") && e.contains("waiting_input"), "{e}");
        assert_eq!(timeout(None).unwrap(), Duration::from_secs(600));
        assert!(timeout(Some(3601.0)).is_err());
        assert!(timeout(Some(-1.0)).is_err());
        assert!(timeout(Some(f64::NAN)).is_err());
    }
}
