//! The actions of the API: spawn, permit, answer, send, kill, restore. Each parses its body (a
//! malformed one is a 400 that says what is wrong), calls the manager the live model currently
//! uses, and answers with the words the CLI prints, or with the CLI's error and a status from its
//! type ([`crate::reply`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use ao_core::agent::PermitDecision;
use ao_core::manager::{KillOptions, QuestionReply, SpawnOptions};
use ao_core::report;
use ao_core::session::{RuntimeKind, SessionAddress};
use ao_core::target::Target;

use crate::api::AppState;
use crate::reply::{error, failure, json, message, text};

/// `POST /api/sessions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpawnBody {
    project: String,
    prompt: Option<String>,
    runtime: Option<RuntimeKind>,
    name: Option<String>,
    model: Option<String>,
    agent: Option<String>,
}

pub(crate) async fn spawn(State(app): State<AppState>, body: Bytes) -> Response {
    let body: SpawnBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let mgr = app.hub.manager();
    let project = body.project.clone();
    let spawned = mgr
        .spawn(SpawnOptions {
            project: body.project,
            prompt: body.prompt,
            runtime: body.runtime,
            model: body.model,
            agent_mode: body.agent,
            name: body.name,
        })
        .await;
    match spawned {
        Ok(s) => {
            let rec = &s.session;
            json(
                StatusCode::CREATED,
                &serde_json::json!({
                    "id": rec.address.to_string(),
                    "agent_session_id": rec.agent_session_id,
                    "message": report::spawned(rec),
                }),
            )
        }
        Err(e) => failure(
            &e,
            format!("cannot spawn a session in project {project}: {}", text(&e)),
        ),
    }
}

/// `POST …/permit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermitBody {
    #[serde(default = "once")]
    decision: PermitDecision,
    request: Option<String>,
}

fn once() -> PermitDecision {
    PermitDecision::Once
}

pub(crate) async fn permit(
    State(app): State<AppState>,
    Path((project, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body: PermitBody = match parse_or_empty(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let decision = body.decision;
    let target = session(project, name);
    match app
        .hub
        .manager()
        .permit(&target, decision, body.request.as_deref())
        .await
    {
        Ok((rec, req)) => message(report::permitted(&rec, &req, decision)),
        Err(e) => failure(&e, text(&e)),
    }
}

/// `POST …/answer`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    answers: Option<Vec<String>>,
    #[serde(default)]
    reject: bool,
    request: Option<String>,
}

pub(crate) async fn answer(
    State(app): State<AppState>,
    Path((project, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body: AnswerBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let reply = match (body.answers, body.reject) {
        (Some(answers), false) if !answers.is_empty() => QuestionReply::Answers(answers),
        (None, true) => QuestionReply::Dismiss,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "give either \"answers\": [one answer per question] or \"reject\": true".into(),
            )
        }
    };
    let dismissed = reply == QuestionReply::Dismiss;
    let target = session(project, name);
    match app
        .hub
        .manager()
        .answer(&target, body.request.as_deref(), reply)
        .await
    {
        Ok((rec, req)) => message(report::answered(&rec, &req, dismissed)),
        Err(e) => failure(&e, text(&e)),
    }
}

/// `POST …/send`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    message: String,
}

pub(crate) async fn send(
    State(app): State<AppState>,
    Path((project, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body: SendBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    if body.message.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "the message is empty".into());
    }
    let target = session(project, name);
    match app.hub.manager().send(&target, &body.message).await {
        Ok(rec) => message(report::sent(&rec)),
        Err(e) => failure(&e, text(&e)),
    }
}

/// `POST …/kill`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KillBody {
    #[serde(default)]
    force: bool,
    #[serde(default)]
    purge: bool,
}

pub(crate) async fn kill(
    State(app): State<AppState>,
    Path((project, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body: KillBody = match parse_or_empty(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let target = session(project, name);
    let opts = KillOptions {
        purge: body.purge,
        force: body.force,
    };
    let report = match app.hub.manager().kill(&target, opts).await {
        Ok(r) => r,
        Err(e) => return failure(&e, text(&e)),
    };
    let said: String = report.sessions.iter().map(report::killed).collect();
    let problems = report::kill_problems(&report);
    if problems.is_empty() {
        message(said.trim_end().to_string())
    } else {
        // Part of it was done: the body says what, and what was not.
        json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({
                "error": format!("{}\n{}", said.trim_end(), problems.join("\n")),
                "message": said.trim_end(),
                "problems": problems,
            }),
        )
    }
}

/// `POST …/restore`.
pub(crate) async fn restore(
    State(app): State<AppState>,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    let target = session(project, name);
    match app.hub.manager().restore(&target).await {
        Ok(rec) => message(report::restored(&rec)),
        Err(e) => failure(&e, text(&e)),
    }
}

/// The session a URL's `{project}/{name}` names, as it is: no text to parse again.
pub(crate) fn session(project: String, name: String) -> Target {
    Target::Session(SessionAddress { project, name })
}

/// A body that is not the JSON a request takes: a 400 that says what is wrong with it.
#[derive(Debug)]
struct BadBody(String);

impl IntoResponse for BadBody {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0)
    }
}

/// A body as `T`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, BadBody> {
    serde_json::from_slice(body).map_err(|e| {
        BadBody(format!(
            "the request's body is not the JSON this request takes: {e}"
        ))
    })
}

/// [`parse`], with an empty body taken as `{}`.
fn parse_or_empty<T: DeserializeOwned>(body: &[u8]) -> Result<T, BadBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        parse(b"{}")
    } else {
        parse(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_the_json_asked_for_says_what_is_wrong() {
        let r = parse::<SendBody>(b"{\"message\": ").unwrap_err();
        assert!(r.0.contains("EOF while parsing"), "{r:?}");
        let r = parse::<SendBody>(b"{\"mesage\": \"hi\"}").unwrap_err();
        assert!(r.0.contains("unknown field `mesage`"), "{r:?}");
        assert_eq!(r.into_response().status(), StatusCode::BAD_REQUEST);
        let k: KillBody = parse_or_empty(b"").unwrap();
        assert!(!k.force && !k.purge);
    }
}
