//! The routes: the page, its assets, and the JSON API under `/api`, which mirrors the CLI; here
//! too the reads (the sessions, the event stream, a conversation).
//!
//! Every route but the page and its assets needs the token, and every one a `Host` that names the
//! dashboard ([`crate::auth`]); `/mcp` (the MCP server, ao-mcp's, over streamable HTTP) too. Reads come from the hub; actions ([`crate::actions`]) call the
//! manager and answer `{"message": …}` with the words the CLI prints, or `{"error": …}` with the
//! CLI's message and a status from the error's type ([`crate::reply`]): 404 for what does not
//! exist, 400 for a request that makes no sense, 409 for one the session's state refuses (nothing
//! pending, killed), 502 when the agent's server fails.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use tokio::sync::{broadcast, watch};

use crate::actions::{answer, kill, permit, restore, send, spawn};
use crate::assets;
use crate::auth::{Auth, Verdict};
use crate::browser;
use crate::reply::{error, failure, json, json_text, text};
use ao_core::live::{HubUpdate, LiveHub};

/// The largest request body: a prompt of a few megabytes, as JSON.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// What every route shares.
#[derive(Clone)]
pub struct AppState {
    /// The sessions, and the manager.
    pub hub: Arc<LiveHub>,
    /// Who may come in.
    pub auth: Arc<Auth>,
    /// Turns true when the dashboard stops: event streams end then.
    pub stop: watch::Receiver<bool>,
    /// The MCP server at `/mcp` (streamable HTTP), over the same hub.
    pub mcp: ao_mcp::HttpService,
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
        .nest_service("/mcp", state.mcp.clone())
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The checks in front of every route: the `Host` first, then the token, which every route but
/// the page and its assets needs (they hold no secret: the page's script brings the token).
async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let public = path == "/" || path.starts_with("/assets/");
    // MCP's HTTP transport wants the Origin checked on every request, its GET event stream
    // included: there every method is checked as a POST is.
    let method = if path == "/mcp" || path.starts_with("/mcp/") {
        axum::http::Method::POST
    } else {
        request.method().clone()
    };
    let mut response = match app.auth.check(&method, request.headers(), public) {
        Verdict::Allowed | Verdict::Public => next.run(request).await,
        Verdict::ForeignHost => error(
            StatusCode::FORBIDDEN,
            "this request's Host is not the dashboard's address (127.0.0.1, localhost or the \
             --listen address, with the port): a name that only points here is refused; behind \
             a proxy, name it with --allow-host"
                .into(),
        ),
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
    };
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
    json_text(StatusCode::OK, browser::sessions(&app.hub))
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
    let start = browser::start(&hub);
    let mut first = vec![Event::default().event("snapshot").data(start.sessions)];
    if let Some(config) = start.config {
        first.push(Event::default().event("config").data(config));
    }
    let changes = stream::unfold((hub, start.updates), |(hub, mut updates)| async move {
        let event = match updates.recv().await {
            Ok(update) => to_event(update),
            // Too far behind: the whole state again, then the changes after it.
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let again = browser::start(&hub);
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

fn to_event(update: HubUpdate) -> Event {
    let (name, data) = browser::event(&update.what);
    Event::default()
        .event(name)
        .id(update.at_ms.to_string())
        .data(&*data)
}

/// `GET /api/sessions/{project}/{name}/logs`: the conversation, as `ao logs --json` gives it
/// (one object per entry, in a JSON array).
async fn logs(
    State(app): State<AppState>,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    let mgr = app.hub.manager();
    let rec = match mgr
        .resolve_one(&crate::actions::session(project, name))
        .await
    {
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
