//! The routes: the page, its assets, and the JSON API under `/api`, which mirrors the CLI.
//!
//! Every route but the page's first visit needs the token ([`crate::auth`]). Reads come from the
//! hub; actions call the manager and answer `{"message": …}` with the words the CLI prints, or
//! `{"error": …}` with the CLI's message and a status from the error's type: 404 for what does
//! not exist, 400 for a request that makes no sense, 409 for one the session's state refuses
//! (nothing pending, killed), 502 when the agent's server fails.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::{broadcast, watch};

use ao_core::agent::{AgentError, PermitDecision};
use ao_core::manager::{KillOptions, QuestionReply, SpawnOptions};
use ao_core::report;
use ao_core::session::RuntimeKind;

use crate::assets;
use crate::auth::{Auth, Verdict};
use crate::hub::{Change, Hub, Update};

/// The largest request body: a prompt of a few megabytes, as JSON.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// What every route shares.
#[derive(Clone)]
pub struct AppState {
    /// The sessions, and the manager.
    pub hub: Arc<Hub>,
    /// Who may come in.
    pub auth: Arc<Auth>,
    /// Turns true when the dashboard stops: event streams end then.
    pub stop: watch::Receiver<bool>,
}

/// All routes.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/sessions", get(sessions).post(spawn))
        .route("/projects", get(projects))
        .route("/events", get(events))
        .route("/sessions/{project}/{name}/logs", get(logs))
        .route("/sessions/{project}/{name}/permit", post(permit))
        .route("/sessions/{project}/{name}/answer", post(answer))
        .route("/sessions/{project}/{name}/send", post(send))
        .route("/sessions/{project}/{name}/kill", post(kill))
        .route("/sessions/{project}/{name}/restore", post(restore))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such API route".into()) });
    Router::new()
        .route("/", get(page))
        .route("/assets/{file}", get(asset))
        .nest("/api", api)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The token check in front of every route. The page's first visit (`/?token=…`) sets the
/// cookie and is sent back to `/`, so the token leaves the address bar.
async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let query = request.uri().query().unwrap_or_default();
    if request.uri().path() == "/" && !query.is_empty() && app.auth.query_grants(query) {
        let mut to = Redirect::to("/").into_response();
        if let Ok(cookie) = HeaderValue::from_str(&app.auth.set_cookie()) {
            to.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        return to;
    }
    match app.auth.check(request.method(), request.headers()) {
        Verdict::Allowed => {
            let mut response = next.run(request).await;
            let h = response.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            response
        }
        Verdict::ForeignOrigin => error(
            StatusCode::FORBIDDEN,
            "this request comes from another site's page (its Origin is not the dashboard's)"
                .into(),
        ),
        Verdict::Unauthenticated => error(
            StatusCode::UNAUTHORIZED,
            "no valid token: open the URL `ao dashboard` printed, or send `Authorization: Bearer \
             TOKEN`"
                .into(),
        ),
    }
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Nothing the page loads may come from anywhere but the dashboard itself.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
                 frame-ancestors 'none'",
            ),
        ],
        assets::INDEX,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match assets::find(&file) {
        Some((content_type, body)) => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        None => error(StatusCode::NOT_FOUND, format!("no asset {file}")),
    }
}

/// `GET /api/sessions`: every session, as `ao status --json` says it, with `activity_since`.
async fn sessions(State(app): State<AppState>) -> Response {
    json_text(StatusCode::OK, app.hub.sessions())
}

/// `GET /api/projects`: the projects of the config in use, for the spawn form: name, runtime,
/// model.
async fn projects(State(app): State<AppState>) -> Response {
    let mgr = app.hub.manager();
    let list: Vec<serde_json::Value> = mgr
        .config()
        .projects
        .iter()
        .map(|p| {
            serde_json::json!({
                "name": p.name,
                "runtime": p.runtime,
                "model": p.agent_config.model,
            })
        })
        .collect();
    json(StatusCode::OK, &list)
}

/// `GET /api/events`: a `snapshot` event (every session, a JSON array), then a `session` event
/// per changed session, `removed` per session gone, `config` when the config file changed. A
/// browser that reconnects starts again from a snapshot. Each event's id is the time the
/// dashboard learnt it, in milliseconds since the epoch.
async fn events(State(app): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let hub = app.hub.clone();
    let start = hub.subscribe();
    let mut first = vec![Event::default().event("snapshot").data(start.sessions)];
    if let Some(config) = start.config {
        first.push(Event::default().event("config").data(&*config));
    }
    let changes = stream::unfold((hub, start.updates), |(hub, mut updates)| async move {
        let event = match updates.recv().await {
            Ok(update) => to_event(update),
            // Too far behind: the whole state again, then the changes after it.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let again = hub.subscribe();
                updates = again.updates;
                Event::default().event("snapshot").data(again.sessions)
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), (hub, updates)))
    });
    let mut stop = app.stop.clone();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let all = stream::iter(first.into_iter().map(Ok))
        .chain(changes)
        .take_until(stopped);
    Sse::new(all).keep_alive(KeepAlive::default())
}

fn to_event(update: Update) -> Event {
    let (name, data) = match &update.what {
        Change::Session(json) => ("session", json),
        Change::Removed(json) => ("removed", json),
        Change::Config(json) => ("config", json),
    };
    Event::default()
        .event(name)
        .id(update.at_ms.to_string())
        .data(&**data)
}

/// `GET /api/sessions/{project}/{name}/logs`: the conversation, as `ao logs --json` gives it
/// (one object per entry, in a JSON array).
async fn logs(
    State(app): State<AppState>,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    let mgr = app.hub.manager();
    let rec = match mgr.resolve_one(&format!("{project}/{name}")).await {
        Ok(rec) => rec,
        Err(e) => return failure(&e, text(&e)),
    };
    match mgr.transcript(&rec).await {
        Ok(entries) => json(StatusCode::OK, &entries),
        Err(e) => failure(
            &e,
            format!(
                "cannot read the conversation of {}: {}",
                rec.address,
                text(&e)
            ),
        ),
    }
}

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

async fn spawn(State(app): State<AppState>, body: Bytes) -> Response {
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
    decision: Decision,
    request: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Decision {
    Once,
    Always,
    Reject,
}

fn once() -> Decision {
    Decision::Once
}

async fn permit(
    State(app): State<AppState>,
    Path((project, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body: PermitBody = match parse_or_empty(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let decision = match body.decision {
        Decision::Once => PermitDecision::Once,
        Decision::Always => PermitDecision::Always,
        Decision::Reject => PermitDecision::Reject,
    };
    let target = format!("{project}/{name}");
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

async fn answer(
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
    let target = format!("{project}/{name}");
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

async fn send(
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
    let target = format!("{project}/{name}");
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

async fn kill(
    State(app): State<AppState>,
    Path((project, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let body: KillBody = match parse_or_empty(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let target = format!("{project}/{name}");
    let opts = KillOptions {
        purge: body.purge,
        force: body.force,
    };
    let report = match app.hub.manager().kill(&target, opts).await {
        Ok(r) => r,
        Err(e) => return failure(&e, text(&e)),
    };
    let said: String = report.sessions.iter().map(report::killed).collect();
    let problems: Vec<String> = report
        .sessions
        .iter()
        .flat_map(|k| k.problems.iter().map(move |p| format!("{}: {p}", k.id)))
        .chain(report.release_problems.iter().cloned())
        .collect();
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
async fn restore(
    State(app): State<AppState>,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    let target = format!("{project}/{name}");
    match app.hub.manager().restore(&target).await {
        Ok(rec) => message(report::restored(&rec)),
        Err(e) => failure(&e, text(&e)),
    }
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

/// The status code an error of ao's earns.
pub fn status_of(e: &ao_core::Error) -> StatusCode {
    use ao_core::Error as E;
    match e {
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Conflict(_) => StatusCode::CONFLICT,
        E::Usage(_) | E::Config(_) => StatusCode::BAD_REQUEST,
        E::Agent(a) => match a {
            AgentError::NotFound(_) => StatusCode::NOT_FOUND,
            AgentError::Refused(_) => StatusCode::CONFLICT,
            AgentError::Timeout(_)
            | AgentError::Unauthorized(_)
            | AgentError::Unreachable(_)
            | AgentError::Server(_)
            | AgentError::Launch(_) => StatusCode::BAD_GATEWAY,
            AgentError::Io { .. } | AgentError::State(_) => StatusCode::INTERNAL_SERVER_ERROR,
        },
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error and its causes, each said once, as the CLI prints it.
fn text(e: &ao_core::Error) -> String {
    let mut said = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !said.contains(&c_text) {
            said = format!("{said}: {c_text}");
        }
        cause = c.source();
    }
    said
}

fn failure(e: &ao_core::Error, said: String) -> Response {
    error(status_of(e), said)
}

fn error(status: StatusCode, said: String) -> Response {
    json(status, &serde_json::json!({ "error": said }))
}

fn message(said: String) -> Response {
    json(StatusCode::OK, &serde_json::json!({ "message": said }))
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => json_text(status, text),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn json_text(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_what_the_caller_got_wrong_or_what_failed() {
        use ao_core::Error as E;
        assert_eq!(status_of(&E::NotFound("x".into())), StatusCode::NOT_FOUND);
        assert_eq!(status_of(&E::Conflict("x".into())), StatusCode::CONFLICT);
        assert_eq!(status_of(&E::Usage("x".into())), StatusCode::BAD_REQUEST);
        assert_eq!(
            status_of(&E::Agent(AgentError::Unreachable("x".into()))),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            status_of(&E::Agent(AgentError::Refused("x".into()))),
            StatusCode::CONFLICT
        );
    }

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
